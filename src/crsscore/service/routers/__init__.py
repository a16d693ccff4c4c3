"""One router per resource: score cards, scoring, grading, health and the HTML pages."""
