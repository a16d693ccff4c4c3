"""crsscore.scores."""
