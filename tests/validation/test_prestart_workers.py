"""Bootstrap workers started ahead (crsscore.validation.prestart_workers): the bootstrap waits
for that start, reuses the workers and gives the serial result."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import crsscore.validation as validation
from crsscore.modeling.logistic import fit_logistic
from crsscore.validation.internal import optimism_bootstrap

R_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "r"
XCOLS = [f"x{i}" for i in range(1, 8)]


class _Full:
    """Pipeline: the full ML logistic model; predictor = its linear predictor."""

    def __call__(self, X: np.ndarray, y: np.ndarray, weights: np.ndarray | None) -> Any:
        fit = fit_logistic(X, y, weights=weights, names=XCOLS)
        return fit.predict_lp


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    started: list[Any] = []
    monkeypatch.setattr(validation, "_STARTED", started)
    monkeypatch.setattr(validation, "_STOPPED", [])
    return started


def test_prestarted_workers_give_the_serial_result(fresh: list[Any]) -> None:
    cohort = pd.read_csv(R_DIR / "cohort125.csv")
    X, y = cohort[XCOLS].to_numpy(), cohort["y"].to_numpy()
    validation.prestart_workers(2, ("crsscore.validation.internal",))
    assert len(fresh) == 1
    validation.prestart_workers(2, ("crsscore.validation.internal",))  # started once only
    assert len(fresh) == 1
    b = optimism_bootstrap(_Full(), X, y, B=12, seed=4, n_jobs=2, chunk_size=5)
    assert not fresh[0].is_alive()  # the bootstrap waited for the start before using them
    a = optimism_bootstrap(_Full(), X, y, B=12, seed=4, chunk_size=6)
    np.testing.assert_allclose(a.table.to_numpy(), b.table.to_numpy(), atol=1e-12)


def test_no_workers_without_parallel_jobs(fresh: list[Any]) -> None:
    validation.prestart_workers(1, ("crsscore.validation.internal",))
    validation.wait_for_workers()
    assert fresh == []


def test_a_worker_imports_the_modules_named() -> None:
    assert validation._import_modules(("json", "crsscore.validation.internal")) == 2


def test_stopped_workers_do_not_hold_the_exit(fresh: list[Any]) -> None:
    """A command failing before its bootstrap stops the workers it started: the start thread
    ends without waiting for their imports."""
    validation.prestart_workers(2, ("crsscore.workflow",))
    validation.stop_prestarted_workers()
    fresh[0].join(timeout=60)
    assert not fresh[0].is_alive()
    validation.wait_for_workers()
