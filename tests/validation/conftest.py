"""Shared R reference fixtures for the validation tests.

``tests/fixtures/proc/validation_data.csv`` and ``reference.csv`` were written by
``tests/fixtures/proc/make_fixtures.R`` (R 4.2.2, pROC 1.18.0, rms 6.5.0, Hmisc 4.8.0).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "proc"


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    """The simulated validation data set the R references were computed on."""
    return pd.read_csv(FIX / "validation_data.csv")


@pytest.fixture(scope="module")
def ref() -> dict[tuple[str, str], float]:
    """R's results, keyed by (section, name); "NA" becomes NaN."""
    r = pd.read_csv(FIX / "reference.csv", keep_default_na=False)
    return {(s, n): float(v) if v != "NA" else float("nan")
            for s, n, v in zip(r["section"], r["name"], r["value"], strict=True)}
