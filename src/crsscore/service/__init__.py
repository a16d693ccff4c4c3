"""crsscore.service."""
