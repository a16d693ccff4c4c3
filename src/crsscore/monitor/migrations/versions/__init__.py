"""Alembic revision scripts of the ward monitor's database, one per schema change."""
