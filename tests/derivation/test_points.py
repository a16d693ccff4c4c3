"""Tests of crsscore.modeling.points (cut-points, Sullivan points, risk groups)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from statsmodels.stats.proportion import proportion_confint

from crsscore.errors import ModelError
from crsscore.modeling.points import (
    categorise,
    choose_cutpoints,
    clinical_round,
    probability_table,
    risk_groups,
    sullivan_points,
    wilson_ci,
    youden_threshold,
)


@pytest.mark.parametrize(("value", "expected"), [
    (137.0, 150.0), (0.0234, 0.025), (41.7, 40.0), (9.2, 10.0), (1.0, 1.0), (-137.0, -150.0),
    (0.0, 0.0), (7.3, 7.5), (2.2, 2.0),
])
def test_clinical_round_examples(value: float, expected: float) -> None:
    assert clinical_round(value) == pytest.approx(expected)


@given(st.floats(min_value=1e-6, max_value=1e6))
def test_clinical_round_is_close(value: float) -> None:
    r = clinical_round(value)
    assert abs(r / value - 1) <= 0.2 + 1e-12


def _brute_youden(x: np.ndarray, y: np.ndarray) -> float:
    best, best_c = -1.0, math.nan
    u = np.unique(x)
    for c in (u[:-1] + u[1:]) / 2:
        pred = x >= c
        sens = (pred & (y == 1)).sum() / (y == 1).sum()
        spec = (~pred & (y == 0)).sum() / (y == 0).sum()
        j = abs(sens + spec - 1)
        if j > best:
            best, best_c = j, c
    return float(best_c)


@given(st.integers(min_value=0, max_value=10_000))
def test_youden_equals_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=40).round(1)
    y = (x + rng.normal(size=40) > 0.3).astype(int)
    if y.sum() in (0, len(y)) or np.unique(x).size < 2:
        return
    assert youden_threshold(x, y) == pytest.approx(_brute_youden(x, y))


def test_youden_direction_free() -> None:
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    y = np.array([1, 1, 1, 0, 0, 0])  # low values are events
    assert youden_threshold(x, y) == 3.5


def test_choose_cutpoints_quantile_and_clinical() -> None:
    x = np.arange(1.0, 101.0)
    assert choose_cutpoints(x, method="quantile", n_bands=2) == [50.5]
    assert choose_cutpoints(x, method="clinical", n_bands=2) == [50.0]
    assert choose_cutpoints(x, method="clinical", n_bands=3) == [30.0, 60.0]
    assert choose_cutpoints(x, given=[70, 10]) == [10.0, 70.0]


def test_choose_cutpoints_never_empty_band() -> None:
    x = np.array([0.0] * 50 + [1.0] * 5)  # quantiles at 0 would give an empty lower band
    cuts = choose_cutpoints(x, method="quantile", n_bands=3)
    bands = categorise(x, cuts)
    assert all((bands == b).any() for b in range(len(cuts) + 1))


def test_choose_cutpoints_errors() -> None:
    with pytest.raises(ModelError, match="single value"):
        choose_cutpoints(np.ones(10))
    with pytest.raises(ModelError, match="no observed"):
        choose_cutpoints(np.array([np.nan, np.nan]))
    with pytest.raises(ModelError, match="distinct"):
        choose_cutpoints(np.arange(5.0), given=[1, 1])
    with pytest.raises(ModelError, match="need the outcome"):
        choose_cutpoints(np.arange(5.0), method="youden")


def test_categorise_boundary_goes_up() -> None:
    b = categorise([0.9, 1.0, 1.1, 2.0, np.nan], [1.0, 2.0])
    assert b[:4].tolist() == [0.0, 1.0, 1.0, 2.0]
    assert np.isnan(b[4])


def test_sullivan_points_reference_is_lowest_risk() -> None:
    pts, constant = sullivan_points({"a": [0.0, 0.5, 1.0], "b": [0.0, -1.5]})
    assert constant == pytest.approx(0.5)
    assert pts == {"a": (0, 1, 2), "b": (3, 0)}


def test_sullivan_points_max_points_rescales() -> None:
    pts, constant = sullivan_points({"a": [0.0, 0.1], "b": [0.0, 2.0]}, max_points=4)
    assert constant == pytest.approx(0.5)
    assert pts == {"a": (0, 0), "b": (0, 4)}


def test_sullivan_points_errors() -> None:
    with pytest.raises(ModelError, match="finite"):
        sullivan_points({"a": [0.0, math.inf]})
    with pytest.raises(ModelError, match="changes the risk"):
        sullivan_points({"a": [0.0, 0.0]})


@pytest.mark.parametrize(("events", "n"), [(0, 10), (3, 17), (17, 125), (10, 10)])
def test_wilson_matches_statsmodels(events: int, n: int) -> None:
    lo, hi = proportion_confint(events, n, method="wilson")
    assert wilson_ci(events, n) == pytest.approx((lo, hi), abs=1e-12)


def test_risk_groups_given_boundaries() -> None:
    total = np.array([0, 0, 1, 2, 2, 3, 4, 5, 5, 6], dtype=float)
    y = np.array([0, 0, 0, 0, 1, 0, 1, 1, 1, 1])
    groups = risk_groups(total, y, boundaries=[2, 4])
    assert [g.name for g in groups] == ["low", "intermediate", "high"]
    assert [g.n for g in groups] == [3, 3, 4]
    assert [g.events for g in groups] == [0, 1, 4]
    assert (groups[0].min_total, groups[0].max_total) == (0.0, 1.0)
    assert (groups[1].min_total, groups[1].max_total) == (2.0, 3.0)
    assert groups[2].rate == 1.0


def test_risk_groups_data_driven_cover_everyone() -> None:
    rng = np.random.default_rng(3)
    total = rng.integers(0, 8, 200).astype(float)
    y = rng.integers(0, 2, 200)
    groups = risk_groups(total, y)
    assert sum(g.n for g in groups) == 200
    assert sum(g.events for g in groups) == int(y.sum())


def test_probability_table_is_logistic() -> None:
    tab = probability_table([0, 3, 5], -3.0, 0.5)
    assert [t for t, _ in tab] == [0, 1, 2, 3, 4, 5]
    assert tab[2][1] == pytest.approx(1 / (1 + math.exp(2.0)))
