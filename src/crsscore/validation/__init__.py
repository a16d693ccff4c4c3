"""crsscore.validation."""
