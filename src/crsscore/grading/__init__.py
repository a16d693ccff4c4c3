"""crsscore.grading."""
