"""crsscore.report."""
