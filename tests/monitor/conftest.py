"""Fixtures of the ward-monitor tests: a throwaway PostgreSQL cluster (initdb/pg_ctl in a temp dir), databases on SQLite and
PostgreSQL, the app, and a live uvicorn server.

The simulated cohort and the dynamic card fitted on it are the root conftest's (the monitor's
command-line tests use them too).  Tests that need PostgreSQL are skipped with the reason
printed (``-ra``) when it is not there, never silently.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from monitor_support import PgCluster, Ward

# ------------------------------------------------------------------------------------------
# data and the dynamic card
# ------------------------------------------------------------------------------------------

# ------------------------------------------------------------------------------------------
# PostgreSQL: a throwaway cluster started by the tests themselves
# ------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster | str]:
    """The cluster, or the reason it could not start (a string)."""
    try:
        import psycopg  # noqa: F401
    except ImportError as exc:
        yield f"psycopg is not installed: {exc}"
        return
    try:
        cluster = PgCluster()
        cluster.start()
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        yield f"PostgreSQL could not start: {exc}"
        return
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh empty database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'monitor.db'}"
    cluster = request.getfixturevalue("pg_cluster")
    if isinstance(cluster, str):
        print(f"SKIP: {cluster}")
        pytest.skip(cluster)
    return cluster.new_database()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'monitor.db'}"


# ------------------------------------------------------------------------------------------
# the app
# ------------------------------------------------------------------------------------------

@pytest.fixture
def ward(db_url: str) -> Iterator[Ward]:
    w = Ward(db_url)
    yield w
    w.close()


@pytest.fixture
def risk_model(dyn_card: Any) -> Any:
    from crsscore.monitor.risk import DynamicCardRisk

    return DynamicCardRisk(dyn_card, 0.2)


