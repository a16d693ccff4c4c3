"""rcs_basis / rcs_knots against Hmisc::rcspline.eval (stored output of make_fixtures.R)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from crsscore.errors import ModelError
from crsscore.splines import rcs_basis, rcs_knots


def test_knots_and_basis_match_r(cohort: pd.DataFrame, read_r: Callable[[str], pd.DataFrame]) -> None:
    knots = read_r("rcs_knots.csv")
    np.testing.assert_allclose(rcs_knots(cohort["x1"], 4), knots.loc[knots["which"] == "x1_nk4", "knot"], atol=1e-12)
    np.testing.assert_allclose(rcs_knots(cohort["crp"], 5), knots.loc[knots["which"] == "crp_nk5", "knot"], atol=1e-12)
    np.testing.assert_allclose(rcs_basis(cohort["x1"], nk=4), read_r("rcs_x1_nk4.csv"), atol=1e-10)
    np.testing.assert_allclose(rcs_basis(cohort["crp"], nk=5), read_r("rcs_crp_nk5.csv"), rtol=1e-10)


def test_large_sample_quantile_knots(read_r: Callable[[str], pd.DataFrame]) -> None:
    ref = read_r("rcs_x200_nk3.csv")  # n >= 100: pure quantile knots .10 .5 .90
    np.testing.assert_allclose(rcs_basis(ref["x"], nk=3), ref.iloc[:, 1:], atol=1e-12)
    np.testing.assert_allclose(rcs_knots(ref["x"], 3), np.quantile(ref["x"], [0.1, 0.5, 0.9]))


def test_basis_is_linear_beyond_outer_knots() -> None:
    x = np.linspace(0, 10, 101)
    b = rcs_basis(x, knots=[1.0, 3.0, 5.0, 8.0])
    tail = b[x >= 8.0]
    np.testing.assert_allclose(np.diff(tail, n=2, axis=0), 0, atol=1e-9)
    assert b.shape == (101, 3)


@pytest.mark.parametrize(
    ("x", "kwargs", "match"),
    [
        (np.arange(5.0), {}, "fewer than 6"),
        (np.arange(50.0), {"nk": 2}, "nk must be >= 3"),
        (np.arange(50.0), {"knots": [1.0, 2.0]}, ">= 3 distinct knots"),
    ],
)
def test_errors(x: np.ndarray, kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ModelError, match=match):
        rcs_basis(x, **kwargs)  # type: ignore[arg-type]
