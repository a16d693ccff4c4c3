"""Shared fixtures for the modeling tests: R reference outputs in tests/fixtures/r.

The CSV files were written by ``Rscript tests/fixtures/r/make_fixtures.R`` (R 4.2.2, rms 6.5.0,
brglm2 0.9, MASS 7.3); CI has no R, so the outputs are stored.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

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
