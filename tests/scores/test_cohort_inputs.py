"""card_inputs / score_cohort / tocilizumab_flags on small hand-built cohorts."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crsscore.data.cohort import Cohort
from crsscore.errors import (
    CrsscoreWarning,
    DataError,
    ScoreCardError,
    TocilizumabWarning,
    UnitError,
)
from crsscore.scores.builtin import get_builtin
from crsscore.scores.cohort_inputs import (
    card_inputs,
    resolve_landmark_day,
    score_cohort,
    tocilizumab_flags,
)
from crsscore.scores.scorecard import ScoreCard

OBS_COLS = ["patient_id", "day", "analyte", "value", "unit"]
EV_COLS = ["patient_id", "day", "event", "value", "unit", "detail"]


def cohort(ids: list[str], obs: list[tuple[Any, ...]], events: list[tuple[Any, ...]] | None = None,
           **patient_cols: list[Any]) -> Cohort:
    pts = pd.DataFrame({"patient_id": ids, **patient_cols})
    ev = pd.DataFrame(events or [], columns=EV_COLS)
    return Cohort(pts, pd.DataFrame(obs, columns=OBS_COLS), ev)


def one_var_card(aggregate: str = "nearest", window: tuple[float, float] = (-2.0, 2.0),
                 landmark: str | None = "day0", analyte: str = "crp", **extra: Any) -> ScoreCard:
    var = {"name": analyte, "label": analyte, "kind": "linear", "coefficient": 1.0,
           "day_window": window, "aggregate": aggregate, **extra}
    return ScoreCard.model_validate({"id": "t", "name": "t", "landmark": landmark, "variables": [var]})


def pre_ld_labs(pid: str, day: float = -6.0, ldh: float = 250.0, crea: float = 0.8,
                crp_mg_l: float = 50.0, plt: float = 100.0) -> list[tuple[Any, ...]]:
    return [(pid, day, "ldh", ldh, "U/L"), (pid, day, "creatinine", crea, "mg/dL"),
            (pid, day, "crp", crp_mg_l, "mg/L"), (pid, day, "plt", plt, "10^9/L")]


# --- landmarks --------------------------------------------------------------------------

@pytest.mark.parametrize(("landmark", "day"), [(None, 0.0), ("pre-ld", -5.0), ("day0", 0.0),
                                               ("day-1", -1.0), ("day+1", 1.0), ("Day 7", 7.0),
                                               ("d1.5", 1.5)])
def test_resolve_landmark(landmark: str | None, day: float) -> None:
    assert resolve_landmark_day(one_var_card(landmark=landmark)) == day


def test_resolve_landmark_errors() -> None:
    with pytest.raises(ScoreCardError, match=r"landmark 'week one' is not a named landmark"):
        resolve_landmark_day(one_var_card(landmark="week one"))
    with pytest.raises(ScoreCardError, match=r"landmark_day must be a finite number"):
        resolve_landmark_day(one_var_card(), float("nan"))
    assert resolve_landmark_day(one_var_card(landmark="pre-ld"), 3) == 3.0


# --- aggregates and windows -------------------------------------------------------------

AGG_OBS = [("P", -3.0, "crp", 1.0, "mg/L"), ("P", -2.0, "crp", 2.0, "mg/L"),
           ("P", -0.5, "crp", 9.0, "mg/L"), ("P", 0.5, "crp", 3.0, "mg/L"),
           ("P", 2.0, "crp", 4.0, "mg/L"), ("P", 2.5, "crp", 99.0, "mg/L")]


@pytest.mark.parametrize(("aggregate", "value", "day"), [
    ("max", 9.0, -0.5), ("min", 2.0, -2.0), ("first", 2.0, -2.0), ("last", 4.0, 2.0),
    ("nearest", 9.0, -0.5),  # -0.5 and +0.5 tie: the earlier measurement wins
])
def test_aggregates_and_inclusive_window(aggregate: str, value: float, day: float) -> None:
    ci = card_inputs(one_var_card(aggregate), cohort(["P"], AGG_OBS))
    assert ci.values.loc["P", "crp"] == value
    assert ci.days.loc["P", "crp"] == day


def test_max_looks_at_every_window_day_for_last_days() -> None:
    ci = card_inputs(one_var_card("max"), cohort(["P"], AGG_OBS))
    assert ci.last_days.loc["P", "crp"] == 2.0
    ci = card_inputs(one_var_card("nearest"), cohort(["P"], AGG_OBS))
    assert ci.last_days.loc["P", "crp"] == -0.5


def test_landmark_day_shifts_the_window() -> None:
    card = one_var_card("nearest", window=(-0.5, 0.5))
    c = cohort(["P"], AGG_OBS)
    assert card_inputs(card, c, landmark_day=2.2).values.loc["P", "crp"] == 4.0
    assert card_inputs(card, c, landmark_day=2.3).values.loc["P", "crp"] == 99.0
    assert card_inputs(card, c, landmark_day=2.3).landmark_day == 2.3


def _brute_force(obs: pd.DataFrame, pid: str, lo: float, hi: float, aggregate: str,
                 landmark: float) -> float:
    rows = [(float(d), float(v), i) for i, (p, d, v) in enumerate(
        zip(obs["patient_id"], obs["day"], obs["value"], strict=True))
        if p == pid and lo - 1e-9 <= d <= hi + 1e-9 and not math.isnan(v)]
    if not rows:
        return math.nan
    if aggregate == "max":
        return max(v for _, v, _ in rows)
    if aggregate == "min":
        return min(v for _, v, _ in rows)
    if aggregate == "first":
        return min(rows, key=lambda r: (r[0], r[2]))[1]
    if aggregate == "last":
        return max(rows, key=lambda r: (r[0], r[2]))[1]
    return min(rows, key=lambda r: (round(abs(r[0] - landmark), 9), r[0], r[2]))[1]


@settings(max_examples=60, deadline=None)
@given(
    data=st.lists(st.tuples(st.sampled_from(["a", "b", "c"]),
                            st.integers(-12, 12).map(lambda k: k / 4),
                            st.one_of(st.floats(0, 500, allow_nan=False), st.just(math.nan))),
                  max_size=25),
    aggregate=st.sampled_from(["max", "min", "first", "last", "nearest"]),
    lo=st.integers(-8, 0).map(lambda k: k / 4), width=st.integers(0, 12).map(lambda k: k / 4),
    landmark=st.sampled_from([-1.0, 0.0, 0.5]),
)
def test_card_inputs_matches_a_brute_force_loop(data: list[tuple[str, float, float]], aggregate: str,
                                                lo: float, width: float, landmark: float) -> None:
    obs = pd.DataFrame([(p, d, "crp", v, "mg/L") for p, d, v in data], columns=OBS_COLS)
    card = one_var_card(aggregate, window=(lo, lo + width))
    ci = card_inputs(card, Cohort(pd.DataFrame({"patient_id": ["a", "b", "c", "d"]}), obs),
                     landmark_day=landmark)
    assert list(ci.values.index) == ["a", "b", "c", "d"]
    for pid in "abcd":
        ref = _brute_force(obs, pid, landmark + lo, landmark + lo + width, aggregate, landmark)
        got = float(ci.values["crp"].to_dict()[pid])
        assert (math.isnan(ref) and math.isnan(got)) or got == ref
        assert math.isnan(got) == ((ci.missing["patient_id"] == pid).sum() == 1)


# --- units ------------------------------------------------------------------------------

def test_each_row_unit_is_honoured() -> None:
    obs = [("A", -6, "creatinine", 70.736, "umol/L"), ("B", -6, "creatinine", 0.8, "mg/dL"),
           ("A", -6, "plt", 100000, "cells/uL"), ("B", -6, "plt", 100, "G/L"),
           ("A", -6, "crp", 5.0, "mg/dL"), ("B", -6, "crp", 50.0, "mg/L")]
    ci = card_inputs(get_builtin("m-easix"), cohort(["A", "B"], obs))
    assert ci.values.loc["A", "crp"] == pytest.approx(50.0) == ci.values.loc["B", "crp"]
    assert ci.units == {"ldh": "U/L", "crp": "mg/L", "plt": "10^9/L"}
    ce = card_inputs(get_builtin("easix"), cohort(["A", "B"], obs))
    np.testing.assert_allclose(ce.values["creatinine"], [0.8, 0.8], rtol=1e-6)
    np.testing.assert_allclose(ce.values["plt"], [100.0, 100.0])


def test_tenfold_trap_through_a_cohort() -> None:
    """50 mg/L and 5.0 mg/dL in the cohort give the same m-EASIX (12.5)."""
    obs = [*pre_ld_labs("A"), *[r for r in pre_ld_labs("B") if r[2] != "crp"], ("B", -6, "crp", 5.0, "mg/dL")]
    out = score_cohort(get_builtin("m-easix"), cohort(["A", "B"], obs))
    np.testing.assert_allclose(out["total"], [12.5, 12.5])


@pytest.mark.parametrize(("unit", "match"), [
    ("mg", r"observations row 3, column 'unit': unit not convertible to mg/L for crp \(got 'mg'"),
    ("", r"observations row 3, column 'unit': no unit given for crp"),
    (None, r"observations row 3, column 'unit': no unit given for crp"),
])
def test_bad_units_are_refused(unit: str | None, match: str) -> None:
    obs = [*pre_ld_labs("A")]
    obs[2] = ("A", -6, "crp", 50.0, unit)
    c = cohort(["A"], [("A", -6, "temp", 37, "C"), *obs])
    with pytest.raises(UnitError, match=match):
        card_inputs(get_builtin("m-easix"), c)
    card_inputs(get_builtin("easix"), c)  # a card not reading CRP is unaffected


def test_bad_values_and_days_are_reported_together() -> None:
    obs = [("A", "x", "ldh", 250, "U/L"), ("A", -6, "plt", "lots", "10^9/L")]
    with pytest.raises(DataError, match=r"(?s)row 0, column 'day': day missing.*row 1, column 'value': value is not a number"):
        card_inputs(get_builtin("s-easix"), cohort(["A"], obs))


def test_missing_observation_columns_and_duplicate_ids() -> None:
    c = Cohort(pd.DataFrame({"patient_id": ["A"]}),
               pd.DataFrame({"patient_id": ["A"], "day": [0], "analyte": ["crp"], "value": [1]}))
    with pytest.raises(DataError, match=r"observations, column 'unit': column missing"):
        card_inputs(one_var_card(), c)
    with pytest.raises(DataError, match=r"patients row 1, column 'patient_id': 1 duplicated"):
        card_inputs(one_var_card(), cohort(["A", "A"], []))


# --- missing inputs ---------------------------------------------------------------------

def test_missing_reasons_and_counts() -> None:
    obs = [*pre_ld_labs("full"),
           *[r for r in pre_ld_labs("late") if r[2] != "plt"], ("late", 2.0, "plt", 90, "10^9/L"),
           *[r for r in pre_ld_labs("blank") if r[2] != "plt"], ("blank", -6, "plt", None, "10^9/L")]
    ids = ["full", "late", "blank", "nothing"]
    ci = card_inputs(get_builtin("s-easix"), cohort(ids, obs))
    assert list(ci.values.index) == ids and ci.n_patients == 4 and ci.n_complete == 1
    reasons = {(r.patient_id, r.variable): r.reason for r in ci.missing.itertuples()}
    assert reasons == {("late", "plt"): "none_in_window", ("blank", "plt"): "value_missing",
                       ("nothing", "ldh"): "no_observations", ("nothing", "plt"): "no_observations"}
    counts = ci.missing_counts()
    assert counts.set_index(["variable", "reason"])["n"].to_dict() == {
        ("ldh", "no_observations"): 1, ("plt", "no_observations"): 1,
        ("plt", "none_in_window"): 1, ("plt", "value_missing"): 1}
    s = ci.summary()
    assert s["n_missing_by_variable"] == {"ldh": 1, "plt": 3} and s["landmark_day"] == -5.0
    assert "full" not in str(s)  # counts only, no identifiers
    assert list(ci.to_frame().columns) == ["patient_id", "ldh", "plt"]


def test_unscored_patients_are_kept_counted_and_explained() -> None:
    obs = [*pre_ld_labs("A"), ("B", -6, "ldh", 300, "U/L")]
    with pytest.warns(CrsscoreWarning, match=r"score 's-easix': 1 of 2 patient\(s\) not scored \(missing inputs: plt 1\)"):
        out = score_cohort(get_builtin("s-easix"), cohort(["A", "B"], obs))
    assert list(out.columns) == ["patient_id", "total", "probability", "risk_group", "warnings"]
    assert list(out["patient_id"]) == ["A", "B"]
    assert out["total"].iloc[0] == 2.5 and math.isnan(out["total"].iloc[1])
    assert out["warnings"].iloc[0] == ""
    assert out["warnings"].iloc[1] == "not scored: plt missing (no plt observation at all)"


def test_no_warning_when_everyone_is_scored() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = score_cohort(get_builtin("car-hematotox"), cohort(["A"], [
            ("A", -5, "plt", 100, "10^9/L"), ("A", -5, "anc", 900, "cells/uL"), ("A", -5, "hb", 100, "g/L"),
            ("A", -5, "crp", 4.5, "mg/dL"), ("A", -5, "ferritin", 500, "ug/L")]))
    assert out["total"].iloc[0] == 3 and out["risk_group"].iloc[0] == "high"


def test_impossible_input_names_the_cohort_row() -> None:
    obs = [*pre_ld_labs("A"), *pre_ld_labs("B", plt=0.0)]
    with pytest.raises(ScoreCardError, match=r"observations row 7, column 'plt': cannot compute score 'easix' \(plt\)"):
        score_cohort(get_builtin("easix"), cohort(["A", "B"], obs))
    obs = [*pre_ld_labs("A", ldh=-1.0)]
    with pytest.raises(ScoreCardError, match=r"observations row 0, column 'ldh'.*got '-1 U/L'; expected 0 to 100000 U/L"):
        score_cohort(get_builtin("s-easix"), cohort(["A"], obs))


def test_pre_ld_window_is_calendar_days_minus_12_to_minus_5() -> None:
    obs = [*pre_ld_labs("A", day=-12.5, ldh=300.0), *pre_ld_labs("A", day=-6, plt=100.0),
           ("A", -4.7, "plt", 80.0, "10^9/L"),   # morning draw on day -5: still before LD
           ("A", -4.4, "plt", 10.0, "10^9/L"),   # day -4: after the first LD dose
           ("A", -12.6, "creatinine", 9.0, "mg/dL")]
    ci = card_inputs(get_builtin("easix"), cohort(["A"], obs))
    assert ci.values.loc["A"].to_dict() == {"ldh": 250.0, "creatinine": 0.8, "plt": 80.0}
    assert ci.days.loc["A", "plt"] == -4.7
    only_early = [*pre_ld_labs("B", day=-12.5), ("B", -12.6, "ldh", 9.0, "U/L")]
    assert card_inputs(get_builtin("easix"), cohort(["B"], only_early)).values.loc["B", "ldh"] == 250.0


# --- Hay 2017 through a cohort ----------------------------------------------------------

@pytest.mark.parametrize(("temps", "mcp1", "group"), [
    ([(1.0, 102.0, "F")], [(1.0, 2000.0)], "high"),          # 102.0 F = 38.9 C at 0.1 C
    ([(1.0, 101.9, "F")], [(1.0, 2000.0)], "low"),
    ([(1.5, 38.9, "C")], [(1.5, 1343.5)], "high"),           # 36 h exactly still counts
    ([(1.6, 40.0, "C"), (0.2, 37.0, "C")], [(1.0, 5000.0)], "low"),   # fever after 36 h
    ([(0.5, 39.5, "C")], [(1.6, 5000.0), (1.0, 100.0)], "low"),       # MCP-1 after 36 h
    ([(-0.5, 39.5, "C"), (0.5, 37.0, "C")], [(0.5, 5000.0)], "low"),  # before infusion
    ([(0.5, 37.2, "C")], [], "low"),                                  # no fever, no MCP-1
])
def test_hay_through_cohort(temps: list[tuple[float, float, str]], mcp1: list[tuple[float, float]],
                            group: str) -> None:
    obs = [("P", d, "temp", v, u) for d, v, u in temps] + [("P", d, "mcp1", v, "pg/mL") for d, v in mcp1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = score_cohort(get_builtin("hay2017"), cohort(["P"], obs))
    assert out["risk_group"].iloc[0] == group


def test_hay_fever_without_mcp1_is_not_scored() -> None:
    obs = [("P", 0.5, "temp", 39.5, "C"), ("P", 3.0, "mcp1", 5000.0, "pg/mL")]
    with pytest.warns(CrsscoreWarning, match=r"1 of 1 patient\(s\) not scored \(missing inputs: mcp1 1\)"):
        out = score_cohort(get_builtin("hay2017"), cohort(["P"], obs))
    assert out["risk_group"].iloc[0] is None
    assert "mcp1 missing (no mcp1 observation from day 0 to day 1.5)" in out["warnings"].iloc[0]


# --- tocilizumab ------------------------------------------------------------------------

def _toci(pid: str, day: float | None) -> tuple[Any, ...]:
    return (pid, day, "tocilizumab", 600, "mg", "")


def test_tocilizumab_flags_crp_on_or_after_the_first_dose() -> None:
    card = one_var_card("nearest", window=(-0.5, 0.5), landmark="day1")
    obs = [(p, 1.0, "crp", 80.0, "mg/L") for p in "ABCDE"]
    events = [_toci("A", 0.5), _toci("A", 3.0), _toci("B", 1.0), _toci("C", 2.0), _toci("D", None)]
    c = cohort(list("ABCDE"), obs, events)
    flags = tocilizumab_flags(c, card_inputs(card, c)).set_index("patient_id")
    assert flags["flagged"].to_dict() == {"A": True, "B": True, "C": False, "D": True, "E": False}
    assert flags["tocilizumab_given"].to_dict() == {"A": True, "B": True, "C": True, "D": True, "E": False}
    assert flags.loc["A", "first_tocilizumab_day"] == 0.5
    assert math.isnan(flags["first_tocilizumab_day"].to_dict()["D"])  # timing unknown
    assert flags.loc["A", "variables"] == "crp" and flags.loc["E", "variables"] == ""


def test_score_cohort_warns_about_crp_after_tocilizumab() -> None:
    obs = [*pre_ld_labs("A", day=1.0), *pre_ld_labs("B", day=1.0)]
    c = cohort(["A", "B"], obs, [_toci("A", 0.5)])
    with pytest.warns(TocilizumabWarning, match=r"score 'm-easix': 1 of 2 patient\(s\) scored with CRP/IL-6"):
        out = score_cohort(get_builtin("m-easix"), c, landmark_day=1.0)
    assert list(out["warnings"]) == ["crp measured on or after tocilizumab", ""]
    with warnings.catch_warnings():  # EASIX has no CRP: no tocilizumab warning
        warnings.simplefilter("error")
        score_cohort(get_builtin("easix"), c, landmark_day=1.0)
    with warnings.catch_warnings():  # pre-LD values precede any tocilizumab
        warnings.simplefilter("error")
        score_cohort(get_builtin("m-easix"), cohort(["A"], pre_ld_labs("A"), [_toci("A", 0.5)]))


def test_il6_always_checked_other_cytokines_only_when_the_card_asks() -> None:
    obs = [("A", 1.0, "il6", 500.0, "pg/mL"), ("A", 1.0, "ifng", 50.0, "pg/mL")]
    c = cohort(["A"], obs, [_toci("A", 0.5)])
    for analyte, flag_card, expected in [("il6", False, True), ("ifng", False, False), ("ifng", True, True)]:
        card = one_var_card("max", window=(0, 2), analyte=analyte)
        card = card.model_copy(update={"uses_cytokines_after_tocilizumab_warning": flag_card})
        assert bool(tocilizumab_flags(c, card_inputs(card, c))["flagged"].iloc[0]) is expected


# --- patient-level and unusual variables ------------------------------------------------

def _mrd_card() -> ScoreCard:
    return ScoreCard.model_validate({"id": "mrd", "name": "mrd", "variables": [{
        "name": "mrd_baseline_pct", "label": "MRD", "source": "patient", "unit": "%", "unit_kind": "mrd",
        "bands": [{"upper": 5.0, "points": 0}, {"lower": 5.0, "points": 2}]}],
        "risk_groups": [{"name": "low", "max_total": 0}, {"name": "high", "min_total": 1}]})


def test_patient_level_variable() -> None:
    c = cohort(["A", "B", "C"], [], mrd_baseline_pct=[1.0, 20.0, None])
    ci = card_inputs(_mrd_card(), c)
    assert ci.units == {"mrd_baseline_pct": "%"} and ci.analytes == {"mrd_baseline_pct": None}
    assert ci.missing[["patient_id", "reason"]].values.tolist() == [["C", "value_missing"]]
    with pytest.warns(CrsscoreWarning, match="1 of 3"):
        out = score_cohort(_mrd_card(), c)
    assert list(out["risk_group"]) == ["low", "high", None]


def test_patient_level_variable_errors() -> None:
    ci = card_inputs(_mrd_card(), cohort(["A"], []))
    assert ci.missing["reason"].tolist() == ["column_absent"]
    with pytest.raises(DataError, match=r"patients row 1, column 'mrd_baseline_pct': value is not a number"):
        card_inputs(_mrd_card(), cohort(["A", "B"], [], mrd_baseline_pct=[1.0, "high"]))


def test_analyte_field_allows_two_windows_on_one_analyte() -> None:
    card = ScoreCard.model_validate({"id": "two", "name": "two", "variables": [
        {"name": "crp_d0", "analyte": "crp", "label": "CRP d0", "kind": "linear", "coefficient": 1,
         "day_window": (0, 0)},
        {"name": "crp_d1", "analyte": "crp", "label": "CRP d1", "kind": "linear", "coefficient": 1,
         "day_window": (1, 1)}]})
    ci = card_inputs(card, cohort(["A"], [("A", 0, "crp", 5, "mg/L"), ("A", 1, "crp", 7, "mg/L")]))
    assert ci.values.to_numpy().tolist() == [[5.0, 7.0]]


@pytest.mark.parametrize(("var", "match"), [
    ({"name": "x", "label": "x", "source": "derived", "kind": "linear", "coefficient": 1},
     r"variable 'x': derived variables are not read from a cohort"),
    ({"name": "crp", "label": "x", "kind": "linear", "coefficient": 1},
     r"variable 'crp': an observation variable needs a day_window"),
    ({"name": "lactate", "label": "x", "kind": "linear", "coefficient": 1, "day_window": (0, 1)},
     r"variable 'lactate': 'lactate' is not an analyte code"),
])
def test_unextractable_variables(var: dict[str, Any], match: str) -> None:
    card = ScoreCard.model_validate({"id": "bad", "name": "bad", "variables": [var]})
    with pytest.raises(ScoreCardError, match=match):
        card_inputs(card, cohort(["A"], []))


def test_inputs_for_another_card_are_refused() -> None:
    c = cohort(["A"], pre_ld_labs("A"))
    with pytest.raises(ScoreCardError, match=r"inputs were built for score card 'easix', not 's-easix'"):
        score_cohort(get_builtin("s-easix"), c, inputs=card_inputs(get_builtin("easix"), c))


def test_training_range_is_a_per_patient_warning() -> None:
    card = one_var_card("nearest", training_range=(0.0, 100.0), unit="mg/L", unit_kind="crp")
    out = score_cohort(card, cohort(["A", "B"], [("A", 0, "crp", 50, "mg/L"), ("B", 0, "crp", 20, "mg/dL")]))
    assert list(out["warnings"]) == ["", "crp outside the derivation range 0-100 mg/L"]
    assert list(out["total"]) == [50.0, 200.0]


def test_empty_cohort_tables() -> None:
    ci = card_inputs(get_builtin("hay2017"), Cohort(pd.DataFrame({"patient_id": ["A"]})))
    assert ci.n_complete == 0 and set(ci.missing["reason"]) == {"no_observations"}


def test_docstring_examples_run() -> None:
    import doctest

    from crsscore.scores import builtin, cohort_inputs

    for module in (cohort_inputs, builtin):
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.failed == 0 and result.attempted > 0


def test_negative_factor_in_a_custom_product_card_names_the_row() -> None:
    card = ScoreCard.model_validate({"id": "prod", "name": "prod", "kind": "product", "variables": [
        {"name": "ldh", "label": "LDH", "kind": "linear", "exponent": 1.0, "day_window": (-1, 1)}]})
    with pytest.raises(ScoreCardError, match=r"observations row 1, column 'ldh'.*expected >= 0"):
        score_cohort(card, cohort(["A", "B"], [("A", 0, "ldh", 5.0, "U/L"), ("B", 0, "ldh", -5.0, "U/L")]))
