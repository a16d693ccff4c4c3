"""Landmark tables: nearest value, ties, windows, pre-LD, prior outcomes, units, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crsscore.data.cohort import Cohort
from crsscore.data.landmark import build_landmark_table, landmark_day, parse_landmark
from crsscore.data.simulate import simulate
from crsscore.errors import DataError, UnitError


def _cohort(rows: list[tuple[str, float, str, float, str]], patients: tuple[str, ...] = ("A",),
            events: list[tuple[str, float, str]] | None = None) -> Cohort:
    obs = pd.DataFrame(rows, columns=["patient_id", "day", "analyte", "value", "unit"])
    ev = pd.DataFrame(events or [], columns=["patient_id", "day", "event"]).assign(
        value=1.0, unit="", detail="")
    return Cohort(patients=pd.DataFrame({"patient_id": list(patients), "age_years": 40.0}),
                  observations=obs, events=ev)


def _outcomes(rows: list[tuple[str, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["patient_id", "severe_crs", "crs_severe_onset_day"])


# ---------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(("text", "day", "label"), [
    ("day7", 7.0, "day7"), ("Day 3", 3.0, "day3"), ("day0", 0.0, "day0"), ("d5", 5.0, "day5"),
    ("day-1", -1.0, "day-1"), ("7.5", 7.5, "day7.5"), (14, 14.0, "day14"), (2.5, 2.5, "day2.5"),
    ("pre-ld", -5.0, "pre-ld"), ("PRE_LD", -5.0, "pre-ld"),
])
def test_parse_landmark(text: str | float, day: float, label: str) -> None:
    lm = parse_landmark(text)
    assert (lm.day, lm.label) == (day, label)
    assert landmark_day(text) == day


def test_parse_landmark_windows() -> None:
    assert parse_landmark("day7", window=(2, 0)).earliest == 5.0
    assert parse_landmark("day7", window=(2, 0)).latest == 7.0
    pre = parse_landmark("pre-ld", window=3, pre_ld_latest=-2)
    assert (pre.earliest, pre.latest, pre.prediction_day) == (-8.0, -2.0, -2.0)
    with pytest.raises(ValueError, match="'landmark' parameter must be pre-ld"):
        parse_landmark("week1")
    with pytest.raises(ValueError, match="'landmark' parameter"):
        parse_landmark(True)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'window' parameter must be finite and >= 0"):
        parse_landmark("day7", window=-1)
    with pytest.raises(ValueError, match="'window' parameter must be a number of days or a pair"):
        parse_landmark("day7", window=(1, 2, 3))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"pre_ld_day .* must be on or before pre_ld_latest"):
        parse_landmark("pre-ld", pre_ld_day=-1)


# ---------------------------------------------------------------------------- nearest value


def test_nearest_value_in_window_and_its_day() -> None:
    c = _cohort([("A", 5.2, "crp", 10.0, "mg/L"), ("A", 6.6, "crp", 20.0, "mg/L"),
                 ("A", 7.3, "crp", 30.0, "mg/L"), ("A", 8.9, "crp", 40.0, "mg/L")])
    t = build_landmark_table(c, "day7")
    row = t.data.iloc[0]
    assert row["crp"] == 30.0 and row["crp_day"] == 7.3
    assert list(t.analytes) == ["crp"] and t.units == {"crp": "mg/L"}


def test_ties_go_to_the_earlier_value() -> None:
    c = _cohort([("A", 7.5, "crp", 1.0, "mg/L"), ("A", 6.5, "crp", 2.0, "mg/L")])
    assert build_landmark_table(c, "day7").data.loc[0, "crp"] == 2.0


def test_window_bounds_are_inclusive_and_nothing_outside() -> None:
    c = _cohort([("A", 8.0, "crp", 1.0, "mg/L"), ("A", 5.5, "anc", 0.2, "10^9/L")])
    t = build_landmark_table(c, "day7", analytes=["crp", "anc", "il6"])
    assert t.data.loc[0, "crp"] == 1.0
    assert np.isnan(t.data.loc[0, "anc"]) and np.isnan(t.data.loc[0, "anc_day"])
    assert np.isnan(t.data.loc[0, "il6"])  # never measured: column present, NaN
    wide = build_landmark_table(c, "day7", window=2.0)
    assert wide.data.loc[0, "anc"] == 0.2
    back = build_landmark_table(c, "day7", window=(1.0, 0.0))  # look back only
    assert np.isnan(back.data.loc[0, "crp"])
    assert back.prediction_day == 7.0 and t.prediction_day == 8.0


def test_pre_ld_uses_values_before_lymphodepletion_nearest_day_minus_5() -> None:
    c = _cohort([("A", -5.6, "crp", 1.0, "mg/L"), ("A", -2.5, "crp", 2.0, "mg/L"),
                 ("A", -4.8, "ferritin", 500.0, "ng/mL"), ("A", -3.0, "il6", 7.0, "pg/mL"),
                 ("A", -7.0, "aptt", 30.0, "s")])
    t = build_landmark_table(c, "pre-ld")
    row = t.data.iloc[0]
    assert row["crp"] == 1.0  # -2.5 is after the last day of lymphodepletion
    assert row["ferritin"] == 500.0
    assert row["il6"] == 7.0  # day -3 still counts (inclusive)
    assert np.isnan(row["aptt"])  # day -7 is more than 1 day before day -5
    assert build_landmark_table(c, "pre-ld", window=(2, 0)).data.loc[0, "aptt"] == 30.0
    assert np.isnan(build_landmark_table(c, "pre-ld", pre_ld_latest=-4).data.loc[0, "il6"])


def test_negative_and_fractional_landmarks() -> None:
    c = _cohort([("A", -1.2, "crp", 3.0, "mg/L"), ("A", 2.4, "crp", 9.0, "mg/L")])
    assert build_landmark_table(c, "day-1").data.loc[0, "crp"] == 3.0
    assert build_landmark_table(c, 2.5, window=0.2).data.loc[0, "crp"] == 9.0


def test_units_are_converted_to_canonical_and_bad_units_refused() -> None:
    c = _cohort([("A", 7.0, "crp", 5.0, "mg/dL"), ("A", 7.0, "hb", 95.0, "g/L")])
    t = build_landmark_table(c, "day7")
    assert t.data.loc[0, "crp"] == pytest.approx(50.0)
    assert t.data.loc[0, "hb"] == pytest.approx(9.5)
    bad = _cohort([("A", 7.0, "crp", 5.0, "furlongs")])
    with pytest.raises(UnitError, match="crp"):
        build_landmark_table(bad, "day7")


def test_every_patient_gets_one_row_even_without_values() -> None:
    c = _cohort([("A", 7.0, "crp", 5.0, "mg/L")], patients=("A", "B", "C"))
    t = build_landmark_table(c, "day7")
    assert list(t.data["patient_id"]) == ["A", "B", "C"]
    assert t.data["crp"].isna().sum() == 2
    assert t.summary().set_index("analyte").loc["crp", "missing_pct"] == pytest.approx(66.7)


def test_categorical_columns_and_rows_of_unknown_patients() -> None:
    c = _cohort([("A", 7.1, "crp", 5.0, "mg/L"), ("Z", 7.0, "crp", 9.0, "mg/L"),
                 ("B", 6.8, "anc", 0.3, "10^9/L")], patients=("A", "B"))
    obs = c.observations.astype({"patient_id": "category", "analyte": "category",
                                 "unit": "category"})
    t = build_landmark_table(Cohort(patients=c.patients, observations=obs), "day7")
    assert t.data.loc[0, "crp"] == 5.0 and np.isnan(t.data.loc[1, "crp"])
    assert t.data.loc[1, "anc"] == 0.3
    assert any("1 observation row(s)" in n and "not in the patients table" in n
               for n in t.notes)


def test_analyte_errors() -> None:
    c = _cohort([("A", 7.0, "crp", 5.0, "mg/L")])
    with pytest.raises(ValueError, match=r"unknown analyte code.*'crpp'"):
        build_landmark_table(c, "day7", analytes=["crpp"])
    with pytest.raises(ValueError, match="analytes repeated"):
        build_landmark_table(c, "day7", analytes=["crp", "crp"])
    with pytest.raises(ValueError, match="'prior_outcome' parameter must be 'exclude' or 'keep'"):
        build_landmark_table(c, "day7", prior_outcome="drop")  # type: ignore[arg-type]
    dup = Cohort(patients=pd.DataFrame({"patient_id": ["A", "A"]}), observations=c.observations)
    with pytest.raises(DataError, match="unique"):
        build_landmark_table(dup, "day7")


# ---------------------------------------------------------------------------- outcomes


def _four() -> Cohort:
    rows = [(p, 7.2, "crp", v, "mg/L") for p, v in zip("ABCDE", [1.0, 2.0, 3.0, 4.0, 5.0],
                                                        strict=True)]
    return _cohort(rows, patients=("A", "B", "C", "D", "E", "F"), events=[("E", 4.5, "death")])


def test_prior_outcome_exclude_vs_keep_counts() -> None:
    out = _outcomes([("A", 1, 5.0), ("B", 1, 7.0), ("C", 0, np.nan), ("D", 1, np.nan),
                     ("E", 0, np.nan)])  # F has no outcome row
    ex = build_landmark_table(_four(), "day7", outcomes=out, prior_outcome="exclude")
    keep = build_landmark_table(_four(), "day7", outcomes=out, prior_outcome="keep")
    assert ex.n_prior_outcome == keep.n_prior_outcome == 1
    assert ex.reasons() == {"outcome_before_landmark": 1, "onset_unknown": 1,
                            "died_before_landmark": 1, "no_outcome": 1}
    assert list(ex.data["patient_id"]) == ["B", "C"]  # onset on day 7 itself is not "before"
    assert ex.n_events == 1 and ex.policy == "exclude"
    assert list(keep.data["patient_id"]) == ["A", "B", "C", "D", "E"]
    assert keep.reasons() == {"no_outcome": 1}
    assert set(keep.flagged["reason"]) == {"outcome_before_landmark", "onset_unknown",
                                           "died_before_landmark"}
    assert keep.data.set_index("patient_id")["outcome_before_landmark"].to_dict() == {
        "A": True, "B": False, "C": False, "D": False, "E": False}
    assert ex.excluded.set_index("patient_id").loc["A", "detail"].startswith(
        "severe CRS onset day 5")
    assert ex.excluded.set_index("patient_id").loc["F", "reason"] == "no_outcome"
    d = ex.to_dict()
    assert d["n_excluded"] == 4 and d["n_rows"] == 2 and d["policy"] == "exclude"
    assert "patient_id" not in str(d)  # no identifiers in the machine-readable summary
    assert "excluded" in str(ex) and "kept and flagged" in str(keep)


def test_earlier_landmark_excludes_fewer() -> None:
    out = _outcomes([("A", 1, 5.0), ("B", 1, 7.0), ("C", 0, np.nan), ("D", 1, 2.0),
                     ("E", 0, np.nan), ("F", 0, np.nan)])
    d3 = build_landmark_table(_four(), "day3", outcomes=out)
    d7 = build_landmark_table(_four(), "day7", outcomes=out)
    assert d3.n_prior_outcome == 1 and d7.n_prior_outcome == 2
    assert "died_before_landmark" not in d3.reasons()


def test_outcome_errors() -> None:
    with pytest.raises(DataError, match="outcomes need column 'crs_severe_onset_day'"):
        build_landmark_table(_four(), "day7",
                             outcomes=pd.DataFrame({"patient_id": ["A"], "severe_crs": [1]}))
    with pytest.raises(DataError, match="severe_crs must be 0 or 1"):
        build_landmark_table(_four(), "day7", outcomes=_outcomes([("A", 3, 1.0)]))
    with pytest.raises(DataError, match="more than one row"):
        build_landmark_table(_four(), "day7",
                             outcomes=_outcomes([("A", 1, 1.0), ("A", 0, np.nan)]))
    t = build_landmark_table(_four(), "day7", outcomes=_outcomes([("Z", 1, 1.0)]))
    assert any("not in the cohort" in n for n in t.notes)


# ---------------------------------------------------------------------------- simulated cohort


@pytest.fixture(scope="module")
def graded() -> tuple[Cohort, pd.DataFrame]:
    from crsscore.grading import grade_cohort

    s = simulate(400, seed=21)
    return s.cohort, grade_cohort(s.cohort).outcomes


def test_simulated_day7_table_counts(graded: tuple[Cohort, pd.DataFrame]) -> None:
    cohort, outcomes = graded
    ex = build_landmark_table(cohort, "day7", outcomes=outcomes)
    keep = build_landmark_table(cohort, "day7", outcomes=outcomes, prior_outcome="keep")
    onset = outcomes["crs_severe_onset_day"]
    expected_prior = int(((outcomes["severe_crs"] == 1) & (onset < 7)).sum())
    assert ex.n_prior_outcome == keep.n_prior_outcome == expected_prior > 0
    assert ex.n + len(ex.excluded) == 400 == keep.n + len(keep.excluded)
    # most severe CRS starts before day 7: the day-7 model sees few events
    assert ex.n_events is not None and keep.n_events is not None
    assert ex.n_events < keep.n_events / 2
    assert ex.synthetic and "SYNTHETIC" in str(ex)
    s = ex.summary().set_index("analyte")
    assert s.loc["crp", "unit"] == "mg/L" and 5 < s.loc["crp", "missing_pct"] < 30
    assert abs(s.loc["crp", "median_offset_days"]) < 1
    days = ex.data["crp_day"].dropna()
    assert days.between(6.0, 8.0).all()


def test_grading_result_accepted_as_outcomes(graded: tuple[Cohort, pd.DataFrame]) -> None:
    from crsscore.grading import grade_cohort

    cohort, outcomes = graded
    a = build_landmark_table(cohort, "day3", outcomes=grade_cohort(cohort))
    b = build_landmark_table(cohort, "day3", outcomes=outcomes)
    pd.testing.assert_frame_equal(a.data, b.data)
    with pytest.raises(TypeError, match="'outcomes' parameter must be a DataFrame"):
        build_landmark_table(cohort, "day3", outcomes=[1, 2])


def test_simulated_pre_ld_table(graded: tuple[Cohort, pd.DataFrame]) -> None:
    cohort, outcomes = graded
    t = build_landmark_table(cohort, "pre-ld", outcomes=outcomes)
    assert t.n_prior_outcome == 0 and t.landmark_day == -5.0
    assert t.data["ferritin_day"].dropna().le(-3.0).all()
    assert t.data["ferritin"].notna().mean() > 0.8


@settings(max_examples=40, deadline=None)
@given(days=st.lists(st.floats(-10, 20, allow_nan=False), min_size=1, max_size=8),
       landmark=st.integers(-5, 14), window=st.floats(0, 3))
def test_nearest_matches_a_brute_force_rule(days: list[float], landmark: int,
                                            window: float) -> None:
    rows = [("A", d, "crp", float(i), "mg/L") for i, d in enumerate(days)]
    t = build_landmark_table(_cohort(rows), landmark, window=window)
    inside = [(abs(d - landmark), d, i) for i, d in enumerate(days)
              if landmark - window - 1e-9 <= d <= landmark + window + 1e-9]
    got = t.data.loc[0, "crp"]
    if not inside:
        assert np.isnan(got)
    else:
        best = min(inside, key=lambda x: (round(x[0], 9), x[1]))
        assert got == float(best[2])


# ---------------------------------------------------------------------------- command line


def test_cli_landmark(tmp_path) -> None:
    import json

    from typer.testing import CliRunner

    from crsscore.cli import _register, app
    from crsscore.data.simulate import simulate_cohort, write_cohort

    _register()
    write_cohort(simulate_cohort(80, seed=4), tmp_path / "c")
    runner = CliRunner()
    args = ["landmark", str(tmp_path / "c"), "--landmark", "day7", "--analytes", "crp,anc"]
    res = runner.invoke(app, [*args, "--out", str(tmp_path / "ex.csv"),
                              "--json", str(tmp_path / "ex.json")])
    assert res.exit_code == 0, res.output
    assert "SYNTHETIC" in res.output and "excluded" in res.output
    ex = pd.read_csv(tmp_path / "ex.csv")
    info = json.loads((tmp_path / "ex.json").read_text())
    assert info["policy"] == "exclude" and info["n_rows"] == len(ex)
    assert {"crp", "crp_day", "anc", "anc_day", "severe_crs"} <= set(ex.columns)
    listed = pd.read_csv(tmp_path / "ex_excluded.csv")
    assert len(listed) == info["n_excluded"] == 80 - len(ex)
    res = runner.invoke(app, [*args, "--prior-outcome", "keep", "--window", "2",
                              "--out", str(tmp_path / "keep.csv"), "--json", "-"])
    assert res.exit_code == 0, res.output
    keep = pd.read_csv(tmp_path / "keep.csv")
    assert len(keep) == 80 and keep["outcome_before_landmark"].sum() == info["n_prior_outcome"]
    for bad, text in ((["--landmark", "week1"], "landmark"),
                      (["--prior-outcome", "drop"], "exclude or keep")):
        res = runner.invoke(app, ["landmark", str(tmp_path / "c"), *bad,
                                  "--out", str(tmp_path / "x.csv")])
        assert res.exit_code != 0 and text in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["landmark", str(tmp_path / "nowhere"),
                              "--out", str(tmp_path / "x.csv")])
    assert res.exit_code == 2 and "Traceback" not in res.output
