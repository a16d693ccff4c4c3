"""check_cohort: every problem located, counts and missingness computed exactly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crsscore.data.check import CheckReport, check_cohort
from crsscore.data.cohort import Cohort
from crsscore.errors import DataError, MappingError


def _cohort() -> Cohort:
    patients = pd.DataFrame({
        "patient_id": ["A", "B", "C", "C"],          # C twice (rows 4 and 5)
        "age_years": [30.0, 150.0, 12.0, 13.0],      # 150: implausible (row 3)
        "mrd_baseline_pct": [1.0, np.nan, 0.0, 2.0],
    })
    observations = pd.DataFrame({
        "patient_id": ["A", "A", "A", "B", "B", "Z", "A", "A"],
        "day": [7.0, 7.0, 0.0, 7.2, 4000.0, 1.0, 0.0, 3.0],
        "analyte": ["crp", "crp", "crp", "crp", "ferritin", "crp", "crp", "il6"],
        "value": [10.0, 12.0, 5.0, 1500.0, 300.0, 3.0, 5.0, 20.0],
        "unit": ["mg/L"] * 4 + ["ng/mL", "mg/L", "mg/L", "pg/mL"],
    })
    events = pd.DataFrame({
        "patient_id": ["A", "A", "B", "B", "C"],
        "day": [5.0, 5.0, 6.0, 6.0, 2.0],
        "event": ["oxygen", "fever", "vasopressor", "ice", "oxygen"],
        "value": [2.0, 1.0, -0.1, 12.0, 1.0],
        "unit": ["L/min", "", "ug/min", "", "L/min"],
        "detail": ["nasal_cannula", "", "noradrenalin", "", ""],
    })
    return Cohort(patients=patients, observations=observations, events=events, source="test")


@pytest.fixture(scope="module")
def report() -> CheckReport:
    return check_cohort(_cohort(), days=(0, 7))


def _where(report: CheckReport, code: str) -> set[tuple[str, int | None, str | None]]:
    return {(p.table, p.row, p.column) for p in report.problems if p.code == code}


def test_every_problem_is_located(report: CheckReport) -> None:
    assert report.has_errors
    assert _where(report, "duplicate_id") == {("patients", 4, "patient_id"),
                                              ("patients", 5, "patient_id")}
    assert _where(report, "out_of_range") == {
        ("patients", 3, "age_years"), ("observations", 5, "value"), ("events", 5, "value")}
    assert _where(report, "day_out_of_range") == {("observations", 6, "day")}
    assert _where(report, "unknown_patient") == {("observations", 7, "patient_id")}
    assert _where(report, "conflicting_duplicate") == {("observations", 2, "value"),
                                                       ("observations", 3, "value")}
    assert _where(report, "identical_duplicate") == {("observations", 4, "value"),
                                                     ("observations", 8, "value")}
    assert _where(report, "unknown_event") == {("events", 3, "event")}
    assert _where(report, "unknown_detail") == {("events", 4, "detail")}
    assert _where(report, "negative_value") == {("events", 4, "value")}
    assert _where(report, "missing_detail") == {("events", 6, "detail")}


def test_problem_texts_name_value_and_expectation(report: CheckReport) -> None:
    texts = {p.code + ":" + str(p) for p in report.problems}
    assert ("out_of_range:observations row 5, column 'value': crp outside the physiological "
            "range (a typo or a unit mix-up?) (got '1500'; "
            "expected 0 to 1000 mg/L)") in texts
    assert any("unknown_event:events row 3, column 'event'" in t and "'fever'" in t
               for t in texts)
    severities = {p.code: p.severity for p in report.problems}
    assert severities["conflicting_duplicate"] == "warning"
    assert severities["identical_duplicate"] == "info"
    assert severities["missing_detail"] == "warning"
    assert severities["duplicate_id"] == "error"


def test_counts_and_analyte_table(report: CheckReport) -> None:
    assert report.counts == {"patients": 4, "distinct patient ids": 3, "observations": 8,
                             "analytes": 3, "events": 5, "event types": 4}
    a = report.analytes.set_index("analyte")
    assert a.loc["crp", "n_rows"] == 6 and a.loc["crp", "n_patients"] == 3  # A, B, Z
    assert a.loc["crp", "n_out_of_range"] == 1
    assert a.loc["crp", "median"] == pytest.approx(np.median([10, 12, 5, 1500, 3, 5]))
    assert a.loc["ferritin", "unit"] == "ng/mL"


def test_missingness_per_variable_and_day(report: CheckReport) -> None:
    mv = report.missing_by_variable.set_index(["table", "variable"])
    assert mv.loc[("patients", "mrd_baseline_pct"), "n_missing"] == 1
    assert mv.loc[("patients", "mrd_baseline_pct"), "pct_missing"] == pytest.approx(25.0)
    # 4 patient rows; crp measured in listed patients A and B (Z is not a patient)
    assert mv.loc[("observations", "crp"), "n_missing"] == 2
    day = report.missing_by_day
    assert list(day.columns) == list(range(0, 8))
    assert day.loc["crp", 7] == pytest.approx(100 * (1 - 2 / 4))  # A (day 7), B (day 7.2)
    assert day.loc["crp", 0] == pytest.approx(75.0)
    assert day.loc["crp", 1] == pytest.approx(100.0)  # only Z, who is not listed
    assert day.loc["il6", 3] == pytest.approx(75.0)


def test_report_exports(report: CheckReport, tmp_path: Path) -> None:
    frame = report.to_frame()
    assert list(frame.columns) == ["severity", "table", "row", "column", "code", "message",
                                   "value", "expected"]
    assert len(frame) == len(report.problems)
    data = report.to_dict()
    text = json.dumps(data, allow_nan=False, default=str)
    assert json.loads(text)["n_errors"] == len(report.errors)
    summary = report.summary().set_index("item")["value"]
    assert summary["errors"] == len(report.errors)
    assert "CheckReport(source='test'" in repr(report)
    tally = report.problem_counts()
    assert tally.loc[tally["code"] == "duplicate_id", "n"].item() == 2


def test_clean_cohort_has_no_errors() -> None:
    from crsscore.data.simulate import simulate_cohort

    rep = check_cohort(simulate_cohort(30, 5))
    assert not rep.has_errors, [str(p) for p in rep.errors][:5]
    assert rep.synthetic is True
    assert rep.counts["patients"] == 30


def test_bad_values_in_files_are_reported_and_excluded_not_raised(tmp_path: Path) -> None:
    (tmp_path / "patients.csv").write_text("patient_id,age_years\nA,30\n,40\nB,x\n",
                                           encoding="utf-8")
    (tmp_path / "observations.csv").write_text(
        "patient_id,day,analyte,value,unit\nA,1,crp,3,mg/L\nA,1,crp,n/a,mg/L\nA,2,crp,abc,mg/L\n"
        "A,2,crp,4,furlongs\nA,,crp,4,mg/L\n", encoding="utf-8")
    rep = check_cohort(tmp_path)
    assert rep.has_errors
    excl = rep.exclusions
    assert list(zip(excl["row"], excl["reason"], strict=True)) == [
        (3, "missing_value"), (4, "not_a_number"), (5, "unknown_unit"), (6, "missing_day"),
        (3, "missing_id")]
    assert set(excl["table"]) == {"observations (observations.csv)", "patients (patients.csv)"}
    assert rep.counts["observations"] == 1 and rep.counts["patients"] == 2
    assert _where(rep, "not_a_number") == {("patients (patients.csv)", 4, "age_years"),
                                           ("observations (observations.csv)", 4, "value")}


def test_many_identical_problems_are_capped_but_counted(tmp_path: Path) -> None:
    from crsscore import problems

    n = problems.MAX_LISTED + 50
    rows = "".join(f"A,{i % 20},crp,{-1 - i},mg/L\n" for i in range(n))
    (tmp_path / "patients.csv").write_text("patient_id\nA\n", encoding="utf-8")
    (tmp_path / "observations.csv").write_text("patient_id,day,analyte,value,unit\n" + rows,
                                               encoding="utf-8")
    rep = check_cohort(tmp_path)
    oor = [p for p in rep.problems if p.code == "out_of_range"]
    assert len(oor) == problems.MAX_LISTED + 1
    assert f"{n} rows in total" in oor[-1].message


def test_check_json_lists_every_problem(tmp_path: Path) -> None:
    """Issue 14.6: ``check --json`` gives every problem of a kind; the terminal says it is capped."""
    from typer.testing import CliRunner

    from crsscore import problems
    from crsscore.cli import _register, app

    _register()
    n = problems.MAX_LISTED + 50
    rows = "".join(f"A,{i % 20},crp,{-1 - i},mg/L\n" for i in range(n))
    (tmp_path / "patients.csv").write_text("patient_id\nA\n", encoding="utf-8")
    (tmp_path / "observations.csv").write_text("patient_id,day,analyte,value,unit\n" + rows,
                                               encoding="utf-8")
    rep = check_cohort(tmp_path, max_listed=None)
    oor = [p for p in rep.problems if p.code == "out_of_range"]
    assert len(oor) == n and not rep.truncated
    out = tmp_path / "check.json"
    res = CliRunner().invoke(app, ["check", str(tmp_path), "--json", str(out)])
    assert res.exit_code == 1, res.output
    report = json.loads(out.read_text(encoding="utf-8"))
    listed = [p for p in report["problems"] if p["code"] == "out_of_range"]
    assert len(listed) == n
    assert {p["row"] for p in listed} == set(range(2, n + 2))
    assert report["problems_complete"] is True and report["truncated"] == []
    res = CliRunner().invoke(app, ["check", str(tmp_path)])
    assert f"{n} in total, the first {problems.MAX_LISTED} listed here" in " ".join(res.output.split())
    assert "--json FILE lists every one" in " ".join(res.output.split())


def test_unreadable_input_still_raises(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        check_cohort(tmp_path / "missing")
    with pytest.raises(MappingError, match="not valid TOML"):
        bad = tmp_path / "m.toml"
        bad.write_text("[[", encoding="utf-8")
        check_cohort(tmp_path, mapping=bad)


def test_arguments_are_validated() -> None:
    with pytest.raises(ValueError, match="first <= last"):
        check_cohort(_cohort(), days=(5, 1))
    with pytest.raises(ValueError, match="not to an in-memory Cohort"):
        check_cohort(_cohort(), mapping={"patients": {}})


@settings(max_examples=100, deadline=None)
@given(rows=st.lists(st.tuples(st.integers(0, 3), st.sampled_from([0.0, -0.0, 1.5, 7.0, 1e-300]),
                               st.sampled_from([1.0, 2.0, np.nan])), max_size=30))
def test_fast_duplicate_detection_matches_pandas(rows: list[tuple[int, float, float]]) -> None:
    from crsscore.data.check import _duplicates

    frame = pd.DataFrame(rows, columns=["k", "d", "v"]).astype(
        {"k": np.int64, "d": np.float64, "v": np.float64})
    dup, conflict = _duplicates(frame["k"].to_numpy(), frame["d"].to_numpy(),
                                frame["v"].to_numpy())
    expected_dup = frame.duplicated(["k", "d"], keep=False).to_numpy()
    n_values = frame.groupby(["k", "d"])["v"].transform(
        lambda s: s.fillna(np.inf).nunique()).to_numpy() if len(frame) else np.zeros(0)
    np.testing.assert_array_equal(dup, expected_dup)
    np.testing.assert_array_equal(conflict, expected_dup & (n_values > 1))
