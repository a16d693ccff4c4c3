"""Shared fixtures for the modeling tests: R reference outputs in tests/fixtures/r, and an
independent scipy fit of the loss of an integer score.

The CSV files were written by ``Rscript tests/fixtures/r/make_fixtures.R`` (R 4.2.2, rms 6.5.0,
brglm2 0.9, MASS 7.3); CI has no R, so the outputs are stored.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize

R_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "r"


@pytest.fixture(scope="session")
def read_r() -> Callable[[str], pd.DataFrame]:
    def _read(name: str) -> pd.DataFrame:
        return pd.read_csv(R_DIR / name)

    return _read


@pytest.fixture(scope="session")
def cohort(read_r: Callable[[str], pd.DataFrame]) -> pd.DataFrame:
    """Simulated n = 125 cohort (x1..x7 standard normal, 24 events, right-skewed 'crp')."""
    return read_r("cohort125.csv")


def _integer_score_loss(points: np.ndarray, X: np.ndarray, y: np.ndarray,
                        s_max: float = 2.0) -> float:
    """Best loss of one integer score over intercept and slope (1 / multiplier) in
    (0, s_max]: scipy L-BFGS-B, independent of the Newton steps in crsscore (the loss is
    convex in intercept and slope, so one start suffices)."""
    t = X @ points

    def f(th: np.ndarray) -> float:
        z = th[0] + th[1] * t
        return float(np.sum(np.logaddexp(0, z) - y * z))

    r = minimize(f, np.array([0.0, 0.5]), method="L-BFGS-B",
                 bounds=[(None, None), (1e-8, s_max)], options={"ftol": 1e-15, "gtol": 1e-10})
    return float(r.fun)


@pytest.fixture(scope="session")
def score_loss() -> Callable[..., float]:
    """Reference loss of an integer score, ``score_loss(points, X, y)``."""
    return _integer_score_loss
