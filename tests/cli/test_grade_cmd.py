"""``crsscore grade``: files written, JSON summary, friendly errors."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from crsscore.cli import _register, app

_register()
runner = CliRunner()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    data = tmp_path / "cohort"
    data.mkdir()
    pd.DataFrame({"patient_id": ["P1", "P2"], "age_years": [30, 19],
                  "weight_kg": [70, 30]}).to_csv(data / "patients.csv", index=False)
    pd.DataFrame({"patient_id": ["P1", "P1", "P2"], "day": [1.2, 2.2, 1.5],
                  "analyte": ["temp", "temp", "temp"], "value": [38.4, 39.0, 37.0],
                  "unit": ["C", "C", "C"]}).to_csv(data / "observations.csv", index=False)
    pd.DataFrame({"patient_id": ["P1", "P1", "P2"], "day": [2.3, 2.4, 1.5],
                  "event": ["vasopressor", "crs_grade_recorded", "ice"],
                  "value": [5.0, 2.0, 8.0], "unit": ["ug/min", "", ""],
                  "detail": ["norepinephrine", "astct", ""]}).to_csv(data / "events.csv",
                                                                     index=False)
    return data


def test_grade_writes_daily_grades_outcomes_and_json(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = runner.invoke(app, ["grade", str(folder), "--out", str(out), "--json",
                              str(tmp_path / "g.json")])
    assert res.exit_code == 0, res.output
    daily = pd.read_csv(out / "daily_grades.csv")
    assert list(daily.columns[:5]) == ["patient_id", "day", "crs_grade", "icans_grade", "reason"]
    assert daily["crs_grade"].tolist() == [1, 3, 0]
    assert daily["icans_grade"].iloc[2] == 1
    outcomes = pd.read_csv(out / "outcomes.csv")
    assert outcomes.set_index("patient_id").loc["P1", "severe_crs"] == 1
    dis = pd.read_csv(out / "disagreements.csv")
    assert set(dis["patient_id"]) == {"P1"}  # recorded 2, derived 3
    payload = json.loads((tmp_path / "g.json").read_text())
    assert payload["command"] == "grade" and payload["n_severe_crs"] == 1
    assert payload["settings"]["fever_c"] == 38.0
    assert "P1" not in res.output  # no identifiers on the console


def test_grade_other_system(folder: Path, tmp_path: Path) -> None:
    res = runner.invoke(app, ["grade", str(folder), "--system", "lee2014", "--out",
                              str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    assert "lee2014" in res.output


def test_grade_bad_system_is_a_clear_error(folder: Path, tmp_path: Path) -> None:
    res = runner.invoke(app, ["grade", str(folder), "--system", "who", "--out", str(tmp_path)])
    assert res.exit_code == 2
    assert "must be one of" in res.output and "Traceback" not in res.output


def test_grade_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    res = runner.invoke(app, ["grade", str(tmp_path / "nope"), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "Traceback" not in res.output
