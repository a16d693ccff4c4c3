"""crsscore.modeling."""
