"""The terminal at 80 columns: no cell cut with an ellipsis, counts as integers, no raw
Python objects, each warning once (issue 14.9)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from crsscore.cli import _common, _register, app
from crsscore.data.simulate import simulate_cohort, write_cohort

_register()
runner = CliRunner()


@pytest.fixture(autouse=True)
def _eighty_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    for con in (_common.console, _common.err_console):
        monkeypatch.setattr(con, "width", 80)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("c80") / "cohort"
    write_cohort(simulate_cohort(n=125, seed=1), out)
    return out


def _no_cut(text: str) -> None:
    assert "…" not in text and "..." not in text.replace("... ", "")
    for line in text.splitlines():
        assert len(line) <= 80, line


def test_derive_tables_fit_80_columns(folder: Path, tmp_path: Path) -> None:
    res = runner.invoke(app, ["derive", str(folder), "--landmark", "day7", "--prior-outcome",
                              "keep", "--out", str(tmp_path / "card.json")])
    assert res.exit_code == 0, res.output
    out = res.output
    _no_cut(out)
    lines = out.splitlines()
    # each univariable row whole on one line: the name, counts, OR with its CI, p, AUC
    uni = next(i for i, line in enumerate(lines) if line.startswith("Univariable"))
    header = lines[uni + 2].split()
    assert header == ["variable", "n", "miss", "ev", "OR", "(95%", "CI)", "p", "AUC"]
    row = next(line for line in lines[uni:] if line.split()[:1] == ["mrd_baseline_pct"]).split()
    assert row[1:4] == ["125", "0", "15"] and row[4][0].isdigit() and row[5].startswith("(")
    # Table 1: long variable names whole, the statistic named once below
    assert any(line.split()[:1] == ["mrd_baseline_pct"] for line in lines[:uni])
    assert "median [Q1,Q3]" in out and ", median [Q1,Q3]" not in out
    # risk groups: point ranges as integers
    rg = next(i for i, line in enumerate(lines) if line.startswith("Risk groups"))
    assert ".000" not in "\n".join(lines[rg:rg + 8])
    # the sample-size problem said once
    assert out.count("Sample size:") == 1
    assert "Warning: only" not in out


def test_demo_prints_words_not_dicts(tmp_path: Path) -> None:
    res = runner.invoke(app, ["demo", "--out", str(tmp_path / "demo"), "--bootstrap", "0",
                              "--no-report", "--jobs", "1"])
    assert res.exit_code == 0, res.output
    out = res.output
    _no_cut(out)
    assert "{'derived'" not in out and "grade source: derived from the raw data for 125" in " ".join(out.split())
    assert out.count("SYNTHETIC DATA") == 1
    assert out.count("Sample size:") == 1 and "Warning: only" not in out
    assert "any ICANS" in out  # the simulated cohort has ICANS assessments


def test_grade_without_icans_data_says_not_assessed(folder: Path, tmp_path: Path) -> None:
    src = tmp_path / "no_icans"
    src.mkdir()
    for name in ("patients.csv", "observations.csv"):
        (src / name).write_bytes((folder / name).read_bytes())
    ev = pd.read_csv(folder / "events.csv")
    ev = ev[~ev["event"].isin(["ice", "capd", "consciousness", "seizure", "motor_weakness",
                               "cerebral_edema", "icans_grade_recorded"])]
    ev.to_csv(src / "events.csv", index=False)
    res = runner.invoke(app, ["grade", str(src), "--out", str(tmp_path / "g")])
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "any ICANS" not in text and "ICANS not assessed" in text
    assert "grade source: derived from the raw data for 125 patient(s)" in text


def test_check_table_fits_80_columns(folder: Path) -> None:
    res = runner.invoke(app, ["check", str(folder)])
    assert res.exit_code == 0, res.output
    _no_cut(res.output)
    assert "e+0" not in res.output
