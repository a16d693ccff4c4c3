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
    points_from_effects,
    probability_table,
    risk_groups,
    round_sig,
    wilson_ci,
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
    with pytest.raises(ModelError, match="'clinical' or 'quantile'"):
        choose_cutpoints(np.arange(5.0), method="youden")  # type: ignore[arg-type]


def test_categorise_boundary_goes_up() -> None:
    b = categorise([0.9, 1.0, 1.1, 2.0, np.nan], [1.0, 2.0])
    assert b[:4].tolist() == [0.0, 1.0, 1.0, 2.0]
    assert np.isnan(b[4])


def _linear(beta: float, log: bool = False):  # type: ignore[no-untyped-def]
    return lambda x: beta * (np.log10(x) if log else x)


def test_points_follow_the_continuous_model_and_stay_within_the_bound() -> None:
    rng = np.random.default_rng(0)
    values = {"crp": 10 ** rng.normal(1.5, 0.5, 400), "anc": rng.gamma(2.0, 1.0, 400),
              "aptt": rng.normal(35, 6, 400)}
    effects = {"crp": _linear(1.2, log=True), "anc": _linear(-0.4), "aptt": _linear(0.02)}
    scale = points_from_effects(effects, values, max_points=12)
    assert scale.max_total <= 12 and not scale.capped
    for name, vp in scale.variables.items():
        assert vp.monotone_effect and vp.monotone_points, name
        assert min(vp.points) == 0
        # points = round(contribution of the band's representative value / B)
        expect = [math.floor(c / scale.constant + 0.5) for c in vp.contribution]
        assert list(vp.points) == expect
    # direction follows the sign of the effect: CRP up, ANC down
    assert list(scale.variables["crp"].points) == sorted(scale.variables["crp"].points)
    assert list(scale.variables["anc"].points) == sorted(scale.variables["anc"].points, reverse=True)
    # reachable totals: every sum of one band per variable, each once
    totals = scale.reachable_totals()
    assert totals == sorted(set(totals)) and totals[0] == 0 and totals[-1] == scale.max_total


def test_non_monotone_effect_is_shown_as_such() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(0, 1, 500)
    scale = points_from_effects({"u": lambda v: 0.8 * v**2}, {"u": x}, max_points=8)
    vp = scale.variables["u"]
    assert not vp.monotone_effect and not vp.monotone_points
    assert vp.points[0] > min(vp.points) < vp.points[-1]
    assert any("not monotone" in n for n in scale.notes)


@given(st.integers(min_value=-3, max_value=3))
def test_points_do_not_depend_on_the_unit(k: int) -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(35, 6, 300)
    base = points_from_effects({"a": _linear(0.05)}, {"a": x}, max_points=10)
    c = 10.0**k
    scaled = points_from_effects({"a": _linear(0.05 / c)}, {"a": x * c}, max_points=10)
    assert scaled.variables["a"].points == base.variables["a"].points
    np.testing.assert_allclose(np.array(scaled.variables["a"].cuts) / c, base.variables["a"].cuts,
                               rtol=1e-12)


def test_a_negligible_effect_scores_nothing_and_says_so() -> None:
    rng = np.random.default_rng(3)
    values = {"big": rng.normal(0, 1, 200), "tiny": rng.normal(0, 1, 200)}
    scale = points_from_effects({"big": _linear(2.0), "tiny": _linear(0.001)}, values, max_points=10)
    assert scale.variables["tiny"].max_points == 0
    assert any("tiny" in n and "0 everywhere" in n for n in scale.notes)


def test_points_errors() -> None:
    with pytest.raises(ModelError, match="changes the risk"):
        points_from_effects({"a": _linear(0.0)}, {"a": np.arange(10.0)})
    with pytest.raises(ModelError, match="max_points"):
        points_from_effects({"a": _linear(1.0)}, {"a": np.arange(10.0)}, max_points=0)
    with pytest.raises(ModelError, match="no observed values"):
        points_from_effects({"a": _linear(1.0)}, {"a": np.full(3, np.nan)})


@pytest.mark.parametrize(("value", "expected"), [(37.43, 37.0), (0.01234, 0.012), (0.6000000000000001, 0.6),
                                                 (1234.0, 1200.0), (-0.0456, -0.046)])
def test_round_sig(value: float, expected: float) -> None:
    assert round_sig(value) == expected


@pytest.mark.parametrize(("events", "n"), [(0, 10), (3, 17), (17, 125), (10, 10)])
def test_wilson_matches_statsmodels(events: int, n: int) -> None:
    lo, hi = proportion_confint(events, n, method="wilson")
    assert wilson_ci(events, n) == pytest.approx((lo, hi), abs=1e-12)


def _wilson_closed_form(k: int, n: int, z: float) -> tuple[float, float]:
    # the formula crsscore carried by hand (three copies) before it called statsmodels
    p = k / n
    den = 1.0 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (max(0.0, mid - half), min(1.0, mid + half))


@pytest.mark.parametrize(("events", "n", "level", "z"), [
    (0, 10, 0.95, 1.959963984540054), (10, 10, 0.95, 1.959963984540054),
    (0, 1, 0.95, 1.959963984540054), (1, 1, 0.95, 1.959963984540054),
    (3, 17, 0.95, 1.959963984540054), (17, 125, 0.95, 1.959963984540054),
    (124, 125, 0.95, 1.959963984540054), (5, 40, 0.90, 1.6448536269514722),
])
def test_wilson_numbers_unchanged(events: int, n: int, level: float, z: float) -> None:
    assert wilson_ci(events, n, level) == pytest.approx(_wilson_closed_form(events, n, z),
                                                        abs=1e-12, rel=0)


def test_wilson_inside_unit_interval_and_empty_group() -> None:
    for n in (1, 2, 7, 125):
        for k in range(n + 1):
            lo, hi = wilson_ci(k, n)
            assert 0.0 <= lo < k / n + 1e-15 and k / n - 1e-15 < hi <= 1.0
    assert all(math.isnan(v) for v in wilson_ci(0, 0))


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


def test_probability_table_lists_each_reachable_total_once() -> None:
    tab = probability_table([0, 3, 5, 3, 0], -3.0, 0.5)
    assert [t for t, _ in tab] == [0, 3, 5]
    assert tab[1][1] == pytest.approx(1 / (1 + math.exp(1.5)))
