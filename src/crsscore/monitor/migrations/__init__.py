"""Alembic migration scripts of the ward monitor (shipped inside the package)."""
