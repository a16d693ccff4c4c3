"""Fixtures of the ward-monitor tests: a simulated cohort, a dynamic card fitted on it, a
throwaway PostgreSQL cluster (initdb/pg_ctl in a temp dir), databases on SQLite and
PostgreSQL, the app, and a live uvicorn server.

Tests that need the dynamic model (issue 16) or PostgreSQL are skipped with the reason
printed (``-ra``) when it is not there, never silently.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from monitor_support import PgCluster, Ward, dynamic_reason

# ------------------------------------------------------------------------------------------
# data and the dynamic card
# ------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def sim_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from crsscore.data.simulate import simulate_cohort, write_cohort

    out = tmp_path_factory.mktemp("sim") / "cohort"
    write_cohort(simulate_cohort(n=125, seed=1), out)
    return out


@pytest.fixture(scope="session")
def sim_cohort(sim_dir: Path) -> Any:
    from crsscore.data.io import load_cohort

    return load_cohort(sim_dir)


@pytest.fixture(scope="session")
def dyn_card(sim_cohort: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A dynamic card fitted on the simulated cohort (skips when issue 16 is absent)."""
    reason = dynamic_reason()
    if reason is not None:
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    from crsscore.modeling.dynamic import fit_dynamic
    from crsscore.modeling.persondays import build_person_days

    pdays = build_person_days(sim_cohort)
    return fit_dynamic(pdays, seed=1).to_card(card_id="test-dynamic")


@pytest.fixture(scope="session")
def card_file(dyn_card: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("card") / "dynamic.json"
    path.write_text(dyn_card.model_dump_json(indent=2), encoding="utf-8")
    return path


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


