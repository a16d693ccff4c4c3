"""Cohort data: the canonical format, units, loaders, checks, the simulator and landmarks."""
