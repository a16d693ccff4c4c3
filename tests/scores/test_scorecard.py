"""The score-card format: validation, JSON I/O and score_frame's arithmetic and errors."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crsscore.errors import ScoreCardError
from crsscore.scores.evaluate import round_half_up, score_frame, to_card_units, variable_points
from crsscore.scores.scorecard import (
    Band,
    ScoreCard,
    Variable,
    load_scorecard,
    scorecard_json_schema,
)


def card(variables: list[dict[str, Any]], **kw: Any) -> ScoreCard:
    return ScoreCard.model_validate({"id": "c", "name": "c", "variables": variables, **kw})


def lin(name: str, coef: float = 1.0, **kw: Any) -> dict[str, Any]:
    return {"name": name, "label": name, "kind": "linear", "coefficient": coef, **kw}


# --- bands and points -------------------------------------------------------------------

@pytest.mark.parametrize(("band", "inside", "outside"), [
    (Band(lower=1, upper=2, points=1), [1.0, 1.5], [0.99, 2.0]),
    (Band(lower=1, upper=2, lower_inclusive=False, upper_inclusive=True, points=1), [1.01, 2.0], [1.0, 2.01]),
    (Band(upper=5, points=1), [-1e9, 4.99], [5.0]),
    (Band(lower=5, points=1), [5.0, 1e9], [4.99]),
])
def test_band_contains(band: Band, inside: list[float], outside: list[float]) -> None:
    assert band.contains(np.array(inside)).all()
    assert not band.contains(np.array(outside)).any()


def test_variable_points_kinds() -> None:
    bands = Variable(name="x", label="x", bands=[Band(upper=1, points=0), Band(lower=1, points=3)])
    np.testing.assert_array_equal(variable_points(bands, np.array([0.5, 1.0, np.nan])), [0, 3, np.nan])
    binary = Variable(name="x", label="x", kind="binary", threshold=2.0, threshold_points=4)
    np.testing.assert_array_equal(variable_points(binary, np.array([1.9, 2.0, np.nan])), [0, 4, np.nan])
    cat = Variable.model_validate({"name": "x", "label": "x", "kind": "categorical", "categories": [
        {"value": "CD28", "points": 2}, {"value": "4-1BB", "points": 0}]})
    np.testing.assert_array_equal(variable_points(cat, np.array(["CD28", "4-1BB", None], dtype=object)),
                                  [2, 0, np.nan])
    linear = Variable(name="x", label="x", kind="linear", coefficient=0.5, transform="log10")
    np.testing.assert_allclose(variable_points(linear, np.array([100.0])), [1.0])


def test_gap_between_bands_is_missing_not_zero() -> None:
    v = Variable(name="x", label="x", bands=[Band(upper=1, points=0), Band(lower=2, points=1)])
    assert math.isnan(variable_points(v, np.array([1.5]))[0])


@pytest.mark.parametrize(("x", "decimals", "expected"), [
    (38.85, 1, 38.9), (38.84, 1, 38.8), (38.8888, 1, 38.9), (0.125, 2, 0.13), (2.5, 0, 3.0),
    (float("nan"), 1, float("nan")),
])
def test_round_half_up(x: float, decimals: int, expected: float) -> None:
    got = round_half_up(np.array([x]), decimals)[0]
    assert (math.isnan(got) and math.isnan(expected)) or got == pytest.approx(expected, abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 10**6), st.integers(0, 3))
def test_round_half_up_is_exact_on_decimal_grid(k: int, decimals: int) -> None:
    x = k / 10**decimals
    assert round_half_up(np.array([x]), decimals)[0] == pytest.approx(x, abs=1e-12)


def test_to_card_units() -> None:
    crp = Variable(name="crp", label="CRP", unit="mg/dL", unit_kind="crp", bands=[Band(points=0)])
    np.testing.assert_allclose(to_card_units(crp, [50.0]), [5.0])
    np.testing.assert_allclose(to_card_units(crp, [5.0], "mg/dL"), [5.0])
    temp = Variable(name="temp", label="T", unit="F", unit_kind="temp", bands=[Band(points=0)])
    np.testing.assert_allclose(to_card_units(temp, [38.9]), [102.02])
    plain = Variable(name="age", label="age", bands=[Band(points=0)])
    np.testing.assert_array_equal(to_card_units(plain, [3.0]), [3.0])


# --- validation -------------------------------------------------------------------------

@pytest.mark.parametrize(("fields", "match"), [
    ({"unit_kind": "nope", "unit": "x"}, r"variable v: unknown unit_kind 'nope'"),
    ({"unit_kind": "crp"}, r"variable v: unit_kind given without unit"),
    ({"unit_kind": "crp", "unit": "g/L"}, r"variable v: unit 'g/L' not valid for crp"),
    ({"kind": "bands"}, r"variable v: kind 'bands' needs bands"),
    ({"kind": "categorical"}, r"variable v: kind 'categorical' needs categories"),
    ({"kind": "linear"}, r"variable v: kind 'linear' needs a coefficient or exponent"),
    ({"kind": "binary"}, r"variable v: kind 'binary' needs a threshold"),
    ({"kind": "binary", "threshold": 1, "day_window": (2, 1)}, r"variable v: day_window \(2.0, 1.0\) is reversed"),
    ({"kind": "binary", "threshold": 1, "round_to": -1}, r"greater than or equal to 0"),
    ({"kind": "binary", "threshold": 1, "colour": "red"}, r"Extra inputs are not permitted"),
])
def test_variable_validation(fields: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Variable.model_validate({"name": "v", "label": "v", **fields})


@pytest.mark.parametrize(("variables", "kw", "match"), [
    ([lin("a"), lin("a")], {}, r"variable names must be unique"),
    ([], {}, r"a score card needs at least one variable"),
    ([lin("a")], {"kind": "product"}, r"kind 'product' needs an exponent for every variable"),
    ([lin("a", requires="b"), lin("b")], {}, r"variable a: requires 'b', which must be an earlier variable"),
    ([lin("a", requires="a")], {}, r"variable a: requires 'a', which must be an earlier"),
    ([{**lin("a"), "exponent": 1}, {**lin("b"), "exponent": 1, "requires": "a"}], {"kind": "product"},
     r"variable b: 'requires' is not allowed in a product score"),
])
def test_card_validation(variables: list[dict[str, Any]], kw: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        card(variables, **kw)


def test_analyte_code_defaults_to_name() -> None:
    assert Variable.model_validate(lin("crp")).analyte_code == "crp"
    assert Variable.model_validate(lin("crp_d1", analyte="crp")).analyte_code == "crp"


def test_json_round_trip_and_files(tmp_path: Path) -> None:
    c = card([lin("a", unit="mg/dL", unit_kind="crp", day_window=(0, 1), round_to=1),
              {"name": "b", "label": "b", "kind": "binary", "threshold": 2, "requires": "a"}],
             timepoint="day 1", landmark="day1",
             probability={"kind": "logistic", "intercept": -1, "slope": 0.5},
             risk_groups=[{"name": "low", "max_total": 1}])
    path = tmp_path / "c.json"
    c.to_json(path)
    assert load_scorecard(path) == c == ScoreCard.from_json(c.to_json())
    assert path.read_text(encoding="utf-8").endswith("}\n")


@pytest.mark.parametrize(("source", "match"), [
    ("/no/such/card.json", r"cannot read score card /no/such/card.json"),
    ('{"id": "x"}', r"invalid score card \(name\): Field required"),
    ('{"id": "x", "name": "x", "variables": [{"name": "a", "label": "a"}]}',
     r"invalid score card \(variables.0\): Value error, variable a: kind 'bands' needs bands"),
])
def test_from_json_errors(source: str, match: str) -> None:
    with pytest.raises(ScoreCardError, match=match):
        ScoreCard.from_json(source)


def test_json_schema_lists_the_fields() -> None:
    schema = scorecard_json_schema()
    assert {"variables", "timepoint", "landmark", "provenance"} <= set(schema["properties"])
    assert {"round_to", "requires", "analyte"} <= set(schema["$defs"]["Variable"]["properties"])


# --- score_frame ------------------------------------------------------------------------

def test_logistic_probability_matches_expit() -> None:
    c = card([lin("a", 0.5), lin("b", -2.0, transform="ln")], intercept=1.0,
             probability={"kind": "logistic", "intercept": -0.3, "slope": 1.2},
             risk_groups=[{"name": "low", "max_total": 0.5}, {"name": "high", "min_total": 0.5}])
    data = pd.DataFrame({"a": [0.0, 2.0, 0.0], "b": [1.0, 1.0, math.e]})  # lp 1, 2, -1
    out = score_frame(c, data)
    lp = 1.0 + 0.5 * data["a"] - 2.0 * np.log(data["b"])
    np.testing.assert_allclose(out["total"], lp)
    np.testing.assert_allclose(out["probability"], 1 / (1 + np.exp(-(-0.3 + 1.2 * lp))))
    assert list(out["risk_group"]) == ["high", "high", "low"]


def test_table_probability_and_points_total() -> None:
    c = card([{"name": "a", "label": "a", "bands": [{"upper": 1, "points": 0}, {"lower": 1, "points": 2}]}],
             probability={"kind": "table", "table": [(0, 0.1), (2, 0.4)]})
    out = score_frame(c, pd.DataFrame({"a": [0.5, 3.0, None]}))
    assert out["total"].iloc[:2].tolist() == [0.0, 2.0] and math.isnan(out["total"].iloc[2])
    assert out["probability"].iloc[:2].tolist() == [0.1, 0.4]
    assert out["probability"].isna().iloc[2]


def test_requires_gates_a_variable() -> None:
    c = card([{"name": "a", "label": "a", "kind": "binary", "threshold": 1},
              {"name": "b", "label": "b", "kind": "binary", "threshold": 1, "requires": "a"}])
    out = score_frame(c, pd.DataFrame({"a": [0, 0, 2, 2, None], "b": [5, None, 5, None, 5]}))
    np.testing.assert_array_equal(out["pts_b"], [0, 0, 1, np.nan, np.nan])
    np.testing.assert_array_equal(out["total"], [0, 0, 2, np.nan, np.nan])


def test_missing_policies() -> None:
    zero = card([lin("a"), lin("b", missing="zero")])
    np.testing.assert_array_equal(score_frame(zero, pd.DataFrame({"a": [1.0], "b": [None]}))["total"], [1.0])
    strict = card([lin("a")])
    with pytest.raises(ScoreCardError, match=r"input row 1, column 'a': missing value, or no band covers it"):
        score_frame(strict, pd.DataFrame({"a": [1.0, None]}), on_missing="error")


def test_categorical_input() -> None:
    c = card([{"name": "costim", "label": "costim", "source": "patient", "kind": "categorical",
               "categories": [{"value": "CD28", "points": 2}, {"value": "4-1BB", "points": 0}]}])
    out = score_frame(c, pd.DataFrame({"costim": ["CD28", "4-1BB", None]}))
    np.testing.assert_array_equal(out["total"], [2, 0, np.nan])


@pytest.mark.parametrize(("c", "data", "kw", "match"), [
    (card([lin("a"), lin("b")]), {"a": [1.0]}, {}, r"score card 'c' needs column\(s\) b; got a"),
    (card([lin("a")]), {"a": [1.0, "x"]}, {}, r"row 1, column 'a': not a number \('x'\)"),
    (card([lin("a", transform="log10")]), {"a": [1.0, 0.0]}, {},
     r"input row 1, column 'a': log10 needs a positive value"),
    (card([lin("a", plausible_range=(0, 10))]), {"a": [11.0]}, {},
     r"input row 0, column 'a': value outside the plausible range \(got '11'; expected 0 to 10\)"),
    (card([lin("crp", unit="mg/L", unit_kind="crp")]), {"crp": [1.0]}, {"units": {"crp": "mmol/L"}},
     r"unit not convertible to mg/L for crp"),
])
def test_score_frame_errors(c: ScoreCard, data: dict[str, list[Any]], kw: dict[str, Any], match: str) -> None:
    with pytest.raises(ScoreCardError, match=match):
        score_frame(c, pd.DataFrame(data), **kw)


def test_product_card_with_positive_exponent_allows_zero() -> None:
    c = card([{**lin("a"), "exponent": 1.0}, {**lin("b"), "exponent": 2.0}], kind="product")
    np.testing.assert_allclose(score_frame(c, pd.DataFrame({"a": [0.0, 2.0], "b": [3.0, 3.0]}))["total"], [0, 18])


def _product(transform: str = "none") -> ScoreCard:
    return card([{**lin("a"), "exponent": 1.0}, {**lin("b"), "exponent": 1.0},
                 {**lin("c"), "exponent": -1.0}], kind="product", product_transform=transform)


def test_product_survives_underflow_and_refuses_overflow() -> None:
    tiny = pd.DataFrame({"a": [1e-200, 0.0], "b": [1e-200, 5.0], "c": [1e-300, 1e-320]})
    np.testing.assert_allclose(score_frame(_product("log2"), tiny.iloc[:1])["total"],
                               [2 * np.log2(1e-200) - np.log2(1e-300)])
    np.testing.assert_allclose(score_frame(_product("log10"), tiny.iloc[:1])["total"], [-100.0])
    np.testing.assert_allclose(score_frame(_product("ln"), tiny.iloc[:1])["total"], [-100 * np.log(10)])
    raw = score_frame(_product(), tiny)["total"]
    np.testing.assert_allclose(raw, [1e-100, 0.0])  # 0 x 5 / 1e-320 is 0, not NaN
    huge = pd.DataFrame({"a": [1e200, 2.0], "b": [1e200, 3.0], "c": [1e-10, 1.0]})
    with pytest.raises(ScoreCardError, match=r"^input row 0: score 'c' is too large to represent"):
        score_frame(_product(), huge)
    np.testing.assert_allclose(score_frame(_product("log2"), huge)["total"],
                               [2 * np.log2(1e200) + np.log2(1e10), np.log2(6.0)])


def test_product_refuses_negative_factors() -> None:
    with pytest.raises(ScoreCardError, match=r"input row 0, column 'b': a product score needs values >= 0"):
        score_frame(_product(), pd.DataFrame({"a": [1.0], "b": [-2.0], "c": [1.0]}))


def test_product_cut_off_stays_exact() -> None:
    # 467 x 1 / 100 must equal the literal 4.67 so that a '> 4.67' cut-off is decided correctly
    out = score_frame(_product(), pd.DataFrame({"a": [467.0], "b": [1.0], "c": [100.0]}))
    assert out["total"].iloc[0] == 4.67
