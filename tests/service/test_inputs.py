"""Service scoring core: units, ranges and warnings around score_frame."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crsscore.scores.evaluate import score_frame
from crsscore.scores.scorecard import ScoreCard
from crsscore.service.inputs import (
    InputError,
    parse_batch_csv,
    parse_batch_json,
    score_batch,
    score_patient,
)
from crsscore.units import ANALYTE_UNITS, convert

FULL = {"crp": (45.0, "mg/L"), "ferritin": (1500.0, "ug/L"), "plt": (60000.0, "cells/uL"),
        "costim": ("CD28", None), "mrd_baseline_pct": (0.12, "fraction")}


def reference(card: ScoreCard, values: dict[str, tuple[object, str | None]]) -> pd.Series:
    """score_frame on canonical units converted independently with crsscore.units.convert."""
    row: dict[str, object] = {}
    for var in card.variables:
        v, u = values.get(var.name, (None, None))
        if var.kind == "categorical":
            row[var.name] = v
        elif v is None:
            row[var.name] = np.nan
        else:
            row[var.name] = float(convert(float(v), var.unit_kind, u)[()]) if var.unit_kind else v
    frame = pd.DataFrame([row])
    frame = frame.astype({k: "float64" for k in frame if card.variable(k).kind != "categorical"})
    return score_frame(card, frame).iloc[0]


def test_points_card_equals_score_frame(points_card: ScoreCard) -> None:
    res = score_patient(points_card, FULL)
    ref = reference(points_card, FULL)
    assert res.total == ref["total"] == 1 + 2 + 1 + 1 + 2
    assert res.probability == pytest.approx(ref["probability"])
    assert res.probability == pytest.approx(1 / (1 + math.exp(-(-3.0 + 0.6 * 7))))
    assert res.risk_group == "high"
    pts = {v.name: v.points for v in res.variables}
    assert pts == {v.name: ref[f"pts_{v.name}"] for v in points_card.variables}
    crp = next(v for v in res.variables if v.name == "crp")
    assert (crp.value, crp.unit, crp.value_card_unit, crp.card_unit, crp.band) == (
        45.0, "mg/L", pytest.approx(4.5), "mg/dL", "3-10")
    assert res.complete
    assert [w.code for w in res.warnings] == ["synthetic"]
    assert res.synthetic and "synthetic" in res.label


def test_product_card_worked_example(product_card: ScoreCard) -> None:
    # Reference-scores worked values: LDH 250, creatinine 0.8 mg/dL, platelets 100 -> EASIX 2, log2 1
    res = score_patient(product_card, {"ldh": (250, "U/L"), "creatinine": (0.8, "mg/dL"),
                                       "plt": (100, "10^9/L")})
    assert res.total == pytest.approx(1.0)
    # the same patient in SI units and cells/uL
    si = score_patient(product_card, {"ldh": (250 / 60, "ukat/L"),
                                      "creatinine": (0.8 * 88.42, "umol/L"),
                                      "plt": (100_000, "cells/uL")})
    assert si.total == pytest.approx(1.0)
    assert si.risk_group == res.risk_group == "low"


def test_crp_tenfold_trap_is_handled_by_units(points_card: ScoreCard) -> None:
    mg_l = score_patient(points_card, {**FULL, "crp": (50.0, "mg/L")})
    mg_dl = score_patient(points_card, {**FULL, "crp": (5.0, "mg/dL")})
    as_if_dl = score_patient(points_card, {**FULL, "crp": (50.0, "mg/dL")})
    assert mg_l.total == mg_dl.total
    assert as_if_dl.total == mg_l.total + 2  # 50 mg/dL is a different (higher) CRP band


def test_unknown_and_missing_units_name_field_and_expected(points_card: ScoreCard) -> None:
    with pytest.raises(InputError, match="unit not convertible") as info:
        score_patient(points_card, {**FULL, "crp": (5.0, "mmol/L")})
    (p,) = info.value.problems
    assert (p.variable, p.part, p.code) == ("crp", "unit", "unknown_unit")
    assert "mg/dL" in (p.expected or "") and "mg/L" in (p.expected or "")
    with pytest.raises(InputError, match="no unit given") as info:
        score_patient(points_card, {**FULL, "plt": (100.0, None)})
    assert info.value.problems[0].code == "missing_unit"


def test_out_of_physiology_expected_range_in_entered_unit(points_card: ScoreCard) -> None:
    with pytest.raises(InputError, match="physiologically possible") as info:
        score_patient(points_card, {**FULL, "plt": (3_000_000, "cells/uL")})
    assert info.value.problems[0].expected == "0 to 2e+06 cells/uL"


def test_outside_card_plausible_range(points_card: ScoreCard) -> None:
    with pytest.raises(InputError, match="range this score accepts") as info:
        score_patient(points_card, {**FULL, "plt": (1800, "10^9/L")})
    assert info.value.problems[0].expected == "0 to 1500 10^9/L"


def test_log_and_product_need_positive(points_card: ScoreCard, product_card: ScoreCard) -> None:
    with pytest.raises(InputError, match="greater than 0") as info:
        score_patient(points_card, {**FULL, "ferritin": (0.0, "ng/mL")})
    assert info.value.problems[0].variable == "ferritin"
    with pytest.raises(InputError, match="greater than 0") as info:
        score_patient(product_card, {"ldh": (250, "U/L"), "creatinine": (0.8, "mg/dL"),
                                     "plt": (0, "10^9/L")})
    assert info.value.problems[0].variable == "plt"


def test_not_a_number_unknown_category_unknown_variable_collected(points_card: ScoreCard) -> None:
    with pytest.raises(InputError) as info:
        score_patient(points_card, {**FULL, "crp": ("high", "mg/L"), "costim": ("CD3", None),
                                    "il6": (10.0, "pg/mL"), "plt": (True, "10^9/L")})
    got = {(p.variable, p.code) for p in info.value.problems}
    assert got == {("crp", "not_a_number"), ("costim", "unknown_category"),
                   ("il6", "unknown_variable"), ("plt", "not_a_number")}
    cat = next(p for p in info.value.problems if p.variable == "costim")
    assert cat.expected == "one of CD28, 4-1BB"


def test_missing_inputs_warn(points_card: ScoreCard) -> None:
    values = {k: v for k, v in FULL.items() if k not in ("crp", "mrd_baseline_pct")}
    res = score_patient(points_card, values)
    assert res.total is None and res.probability is None and res.risk_group is None
    assert not res.complete
    codes = {(w.code, w.variable) for w in res.warnings}
    assert ("missing", "crp") in codes and ("missing", "mrd_baseline_pct") in codes
    # MRD has missing='zero': alone it does not stop the total
    values = {k: v for k, v in FULL.items() if k != "mrd_baseline_pct"}
    res = score_patient(points_card, values)
    assert res.total == 5
    assert any("counted as 0 points" in w.message for w in res.warnings)


def test_training_range_and_tocilizumab_warnings(points_card: ScoreCard) -> None:
    res = score_patient(points_card, {**FULL, "crp": (40.0, "mg/dL")}, after_tocilizumab=True)
    codes = [(w.code, w.variable) for w in res.warnings]
    assert ("out_of_training_range", "crp") in codes
    assert ("after_tocilizumab", "crp") in codes
    assert res.total is not None  # warnings, not errors
    res = score_patient(points_card, {**FULL, "crp": (40.0, "mg/dL")}, after_tocilizumab=False)
    assert ("after_tocilizumab", "crp") not in [(w.code, w.variable) for w in res.warnings]


CSV = (
    "id,crp [mg/L],ferritin (ug/L),plt [cells/uL],costim,mrd_baseline_pct [%],after_tocilizumab\n"
    "P1,45,1500,60000,CD28,12,0\n"
    "P2,2,200,250000,4-1BB,,1\n"
    "P3,,200,250000,4-1BB,1,0\n"
)


def test_batch_csv_equals_score_frame(points_card: ScoreCard) -> None:
    out = score_batch(points_card, parse_batch_csv(CSV.encode()))
    assert list(out["id"]) == ["P1", "P2", "P3"]
    canon = pd.DataFrame({"crp": [45.0, 2.0, np.nan], "ferritin": [1500.0, 200, 200],
                          "plt": [60.0, 250, 250], "costim": ["CD28", "4-1BB", "4-1BB"],
                          "mrd_baseline_pct": [12.0, np.nan, 1.0]})
    ref = score_frame(points_card, canon)
    np.testing.assert_allclose(out["total"], ref["total"])
    np.testing.assert_allclose(out["probability"], ref["probability"])
    assert list(out["risk_group"][:2]) == list(ref["risk_group"][:2])
    assert pd.isna(out["risk_group"][2])
    assert "tocilizumab" in out["warnings"][1] and "CRP: missing" in out["warnings"][2]


def test_batch_json_equals_csv(points_card: ScoreCard) -> None:
    patients = [{"id": "P1", "values": {"crp": {"value": 4.5, "unit": "mg/dL"},
                                        "ferritin": {"value": 1500, "unit": "ng/mL"},
                                        "plt": {"value": 60, "unit": "10^9/L"},
                                        "costim": {"value": "CD28"},
                                        "mrd_baseline_pct": {"value": 0.12, "unit": "fraction"}}},
                {"id": "P2", "values": {"crp": {"value": 20, "unit": "mg/L"}},
                 "after_tocilizumab": True}]
    out = score_batch(points_card, parse_batch_json(json.dumps({"patients": patients}).encode()))
    csv_out = score_batch(points_card, parse_batch_csv(CSV.encode()))
    assert out["total"][0] == csv_out["total"][0]
    assert math.isnan(out["total"][1])
    bare_list = score_batch(points_card, parse_batch_json(json.dumps(patients).encode()))
    assert bare_list["total"][0] == out["total"][0]


def test_batch_problems_name_rows(points_card: ScoreCard) -> None:
    bad = "crp [mg/L],plt [10^9/L]\n5,100\nabc,100\n5,99999\n"
    with pytest.raises(InputError) as info:
        score_batch(points_card, parse_batch_csv(bad.encode()))
    got = {(p.row, p.variable, p.code) for p in info.value.problems}
    assert got == {(1, "crp", "not_a_number"), (2, "plt", "out_of_range")}
    with pytest.raises(InputError, match="no unit given"):
        score_batch(points_card, parse_batch_csv(b"crp\n5\n"))
    with pytest.raises(InputError, match="not a yes/no value"):
        parse_batch_csv(b"crp [mg/L],after_tocilizumab\n5,maybe\n")
    with pytest.raises(InputError, match="appears twice"):
        parse_batch_csv(b"crp [mg/L],crp [mg/dL]\n5,5\n")
    with pytest.raises(InputError, match="not UTF-8"):
        parse_batch_csv(b"\xff\xfe\x00c")
    with pytest.raises(InputError, match="cannot read the CSV"):
        parse_batch_csv(b"")
    with pytest.raises(InputError, match="not valid JSON"):
        parse_batch_json(b"{nope")
    with pytest.raises(InputError, match="invalid JSON batch at patients"):
        parse_batch_json(b'{"patients": 3}')


UNITS = st.sampled_from([None, "", "mg/L", "mg/dL", "ng/mL", "cells/uL", "10^9/L", "%",
                         "fraction", "U/L", "umol/L", "furlong"])
VALUES = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True),
                   st.integers(-10**6, 10**9), st.text(max_size=8), st.booleans())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["crp", "ferritin", "plt", "costim", "mrd_baseline_pct",
                                        "ldh", "creatinine", "zzz"]),
                       st.tuples(VALUES, UNITS), max_size=6), st.booleans(),
       st.sampled_from(["points", "product"]))
def test_fuzz_only_input_errors_and_finite_results(
        points_card: ScoreCard, product_card: ScoreCard,
        values: dict[str, tuple[object, str | None]], toci: bool, which: str) -> None:
    card = points_card if which == "points" else product_card
    try:
        res = score_patient(card, values, after_tocilizumab=toci)
    except InputError as exc:
        assert exc.problems and all(p.message for p in exc.problems)
        return
    json.loads(res.model_dump_json())  # always valid JSON (no NaN / Infinity)
    if res.total is not None:
        assert math.isfinite(res.total)
        ref = reference(card, {k: (float(v[0]) if card.variable(k).kind != "categorical"
                                   else v[0], v[1])
                               for k, v in values.items()
                               if v[0] is not None and v[0] != "" and not (
                                   isinstance(v[0], float) and math.isnan(v[0]))})
        assert res.total == pytest.approx(ref["total"])


def test_every_accepted_unit_converts(points_card: ScoreCard) -> None:
    for unit in ANALYTE_UNITS["crp"]:
        v = float(convert(45.0, "crp", "mg/L", to=unit)[()])
        assert score_patient(points_card, {**FULL, "crp": (v, unit)}).total == 7


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=300),
                 st.lists(st.lists(st.sampled_from(["crp [mg/L]", "plt [10^9/L]", "id", "5",
                                                    "", "x", "1e400", "-3", "CD28", ";", "\"",
                                                    "after_tocilizumab", "costim", "1,5"]),
                                   min_size=1, max_size=5), min_size=1, max_size=5)
                 .map(lambda rows: "\n".join(",".join(r) for r in rows).encode())))
def test_fuzz_batch_files_only_input_errors(points_card: ScoreCard, data: bytes) -> None:
    for parse in (parse_batch_csv, parse_batch_json):
        try:
            out = score_batch(points_card, parse(data))
        except InputError as exc:
            assert exc.problems
            continue
        assert len(out) >= 0 and "total" in out.columns
        assert not np.isinf(out["total"].to_numpy(dtype=np.float64)).any()


@pytest.mark.parametrize(("value", "unit", "points", "band"), [
    (102.0, "F", 1.0, ">= 38.9"),   # 38.89 C rounds to 38.9 C (round_to = 1): qualifies
    (38.85, "C", 1.0, ">= 38.9"),
    (38.84, "C", 0.0, "< 38.9"),
    (101.9, "F", 0.0, "< 38.9"),    # 38.83 C
])
def test_band_label_uses_the_rounded_value_that_sets_the_points(
        value: float, unit: str, points: float, band: str) -> None:
    # issue 13.5: hay2017's temperature is rounded to 0.1 C before the 38.9 C cut-off; the
    # label must come from the same rounded card-unit value as the points
    from crsscore.scores.builtin import get_builtin

    res = score_patient(get_builtin("hay2017"), {"temp": (value, unit), "mcp1": (500.0, "pg/mL")})
    temp = next(v for v in res.variables if v.name == "temp")
    assert (temp.points, temp.band) == (points, band)
