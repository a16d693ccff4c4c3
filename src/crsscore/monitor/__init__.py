"""The ward monitor (issue 17): CRS grades, daily risks and alerts kept current as results arrive.

A service that takes each day's results, grades CRS, keeps the daily risk current and raises
alerts.

Modules: :mod:`.db` (SQLAlchemy 2 tables, engine, Alembic upgrade), :mod:`.ingest` (the one
ingestion path: canonical long rows, checked by the loaders, stored idempotently, re-graded,
re-scored, alert check), :mod:`.fhir` (FHIR R4 Observations to canonical rows), :mod:`.risk`
(the adapter to the dynamic score card of issue 16), :mod:`.auth` (hashed API tokens and page
sessions), :mod:`.charts` (server-side SVG), :mod:`.app` (FastAPI application).
"""
