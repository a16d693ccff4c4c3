"""Issue 15 (reliability and security), data and command-line items: one regression test per
item, each with the reproducer from the issue."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from typer.testing import CliRunner

from crsscore.atomicio import OutputError, write_csv, write_text
from crsscore.cli import _register, app
from crsscore.csvsafe import neutralise_cell, neutralise_frame
from crsscore.data.check import check_cohort
from crsscore.data.io import load_cohort
from crsscore.data.simulate import simulate_cohort, write_cohort
from crsscore.errors import DataError
from crsscore.grading import grade_cohort, require_crs_outcomes

_register()
runner = CliRunner()


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The issue's cohort: ``crsscore simulate --n 200 --seed 3``."""
    out = tmp_path_factory.mktemp("sim") / "cohort"
    write_cohort(simulate_cohort(n=200, seed=3), out)
    return out


def _flat(res: object) -> str:
    """The command's output with rich's line wrapping undone."""
    return " ".join(str(getattr(res, "output", "")).split())


def _copy(sim: Path, tmp_path: Path, name: str = "cohort") -> Path:
    dest = tmp_path / name
    shutil.copytree(sim, dest)
    return dest


def _events(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / "events.csv", dtype=str, keep_default_na=False)


# -- item 1: a missing, misnamed or empty events table ---------------------------------------


@pytest.mark.parametrize("variant", ["removed", "header_only", "misnamed"])
def test_missing_or_empty_events_table_is_loud_and_outcomes_unknown(
        sim: Path, tmp_path: Path, variant: str) -> None:
    data = _copy(sim, tmp_path)
    events = data / "events.csv"
    if variant == "removed":
        events.unlink()
    elif variant == "header_only":
        events.write_text(events.read_text().splitlines()[0] + "\n")
    else:
        events.rename(data / "event.csv")

    res = runner.invoke(app, ["check", str(data), "--json", str(tmp_path / "c.json")])
    assert res.exit_code == 0, res.output
    assert "warning" in _flat(res) and "CRS cannot be graded" in _flat(res)
    report = json.loads((tmp_path / "c.json").read_text())
    warned = [p for p in report["problems"] if p["severity"] == "warning"
              and p["code"] in ("no_table", "empty_table")]
    assert warned and "events" in warned[0]["table"] + warned[0]["message"]
    if variant == "misnamed":
        assert "event.csv" in warned[0]["message"]
    assert report["missing_tables"] == ["events"]

    out = tmp_path / "graded"
    res = runner.invoke(app, ["grade", str(data), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "Warning" in _flat(res) and "no events table" in _flat(res)
    daily = pd.read_csv(out / "daily_grades.csv")
    outcomes = pd.read_csv(out / "outcomes.csv")
    assert daily["crs_grade"].isna().all()  # never 0 without hypotension/oxygen information
    assert daily["reason"].str.startswith("not gradable").all()
    assert outcomes["severe_crs"].isna().all()  # unknown, not 0 (the issue: 0 instead of 12)

    result = grade_cohort(load_cohort(data))
    with pytest.raises(DataError, match="severe CRS is unknown for 200 of 200"):
        require_crs_outcomes(result)


def test_recorded_grades_give_outcomes_without_raw_crs_events(sim: Path,
                                                              tmp_path: Path) -> None:
    data = _copy(sim, tmp_path)
    ev = _events(data)
    full = grade_cohort(load_cohort(sim)).outcomes.set_index("patient_id")
    ev = ev[ev["event"] == "crs_grade_recorded"]
    ev.to_csv(data / "events.csv", index=False)
    report = check_cohort(data)
    assert any(p.code == "no_crs_events" for p in report.warnings)
    result = grade_cohort(load_cohort(data))
    o = result.outcomes.set_index("patient_id")
    recorded = set(ev["patient_id"])
    assert (o.loc[sorted(recorded), "grade_source"] == "recorded").all()
    assert o.loc[sorted(recorded), "severe_crs"].notna().all()
    assert o.drop(index=sorted(recorded))["severe_crs"].isna().all()
    assert result.crs_events_missing and result.warnings
    with pytest.raises(DataError, match="severe CRS is unknown"):
        require_crs_outcomes(result)  # not every patient has a recorded grade
    assert len(full) == len(o)


def test_complete_cohort_passes_require_crs_outcomes(sim: Path) -> None:
    result = grade_cohort(load_cohort(sim))
    assert not result.crs_events_missing and not result.warnings
    require_crs_outcomes(result)
    assert int((result.outcomes["severe_crs"] == 1).sum()) > 0


# -- item 5: output paths ----------------------------------------------------------------------


def test_score_out_into_a_missing_folder_or_onto_a_folder(sim: Path, tmp_path: Path) -> None:
    for out, said in ((tmp_path / "nope" / "scores.csv", "does not exist"),
                      (tmp_path, "it is a folder")):
        res = runner.invoke(app, ["score", str(sim), "--scorecard", "hay2017", "--out",
                                  str(out)])
        assert res.exit_code == 2, res.output
        assert said in _flat(res) and "Traceback" not in _flat(res)
        assert res.exception is None or isinstance(res.exception, SystemExit)


@pytest.mark.parametrize("command", ["score", "grade", "check_json", "landmark"])
def test_permission_denied_is_a_message_not_a_traceback(
        sim: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str) -> None:
    # Tests may run as root (which ignores permissions): deny at the system call instead.
    import tempfile

    def deny(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", deny)
    args = {"score": ["score", str(sim), "--scorecard", "hay2017", "--out",
                      str(tmp_path / "s.csv")],
            "grade": ["grade", str(sim), "--out", str(tmp_path / "g")],
            "check_json": ["check", str(sim), "--json", str(tmp_path / "c.json")],
            "landmark": ["landmark", str(sim), "--out", str(tmp_path / "l.csv")]}[command]
    res = runner.invoke(app, args)
    assert res.exit_code == 2, res.output
    assert "permission denied" in _flat(res) and "Traceback" not in _flat(res)


def test_permission_denied_on_an_output_folder(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from crsscore.atomicio import ensure_folder

    def deny(self: Path, *args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", deny)
    with pytest.raises(OutputError, match="permission denied"):
        ensure_folder(tmp_path / "new")


def test_atomic_writes_replace_whole_files_and_leave_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_text("old\n")
    write_csv(target, pd.DataFrame({"a": [1, 2]}))
    assert target.read_text() == "a\n1\n2\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]

    class Boom(Exception):
        pass

    frame = pd.DataFrame({"a": [1]})

    def explode(*args: object, **kwargs: object) -> None:
        raise Boom

    original = pd.DataFrame.to_csv
    try:
        pd.DataFrame.to_csv = explode  # type: ignore[method-assign,assignment]
        with pytest.raises(Boom):
            write_csv(target, frame)
    finally:
        pd.DataFrame.to_csv = original  # type: ignore[method-assign]
    assert target.read_text() == "a\n1\n2\n"  # untouched by the failed run
    with pytest.raises(OutputError, match="is a folder"):
        write_text(tmp_path, "x")


def test_concurrent_writers_never_interleave(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    target = tmp_path / "same.csv"
    frames = [pd.DataFrame({"k": [k] * 20000}) for k in range(4)]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda f: write_csv(target, f), frames * 3))
    text = target.read_text().splitlines()
    assert text[0] == "k" and len(text) == 20001 and len(set(text[1:])) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["same.csv"]


def test_derive_writes_its_card_through_the_atomic_helper(tmp_path: Path) -> None:
    from crsscore.scores.builtin import get_builtin

    card = get_builtin("hay2017")
    with pytest.raises(OutputError, match="does not exist"):
        card.to_json(tmp_path / "missing" / "card.json")
    card.to_json(tmp_path / "card.json")
    assert json.loads((tmp_path / "card.json").read_text())["id"] == card.id


# -- item 6: Excel duplicate headers -----------------------------------------------------------


def test_excel_duplicate_header_is_refused_like_csv(sim: Path, tmp_path: Path) -> None:
    ev = pd.read_csv(sim / "events.csv").head(30)
    book = openpyxl.Workbook()
    ws = book.active
    assert ws is not None
    ws.append([*ev.columns, "value"])
    for row in ev.itertuples(index=False):
        ws.append([None if pd.isna(v) else v for v in row] + [99])
    book.save(tmp_path / "events.xlsx")
    mapping = tmp_path / "map.toml"
    mapping.write_text(f'[patients]\nfile = "{sim / "patients.csv"}"\n'
                       f'[observations]\nfile = "{sim / "observations.csv"}"\n'
                       f'[events]\nfile = "{tmp_path / "events.xlsx"}"\n')
    for cmd in (["check"], ["grade", "--out", str(tmp_path / "g")]):
        res = runner.invoke(app, [cmd[0], str(tmp_path), "--mapping", str(mapping), *cmd[1:]])
        assert res.exit_code == 2, res.output
        assert "events (events.xlsx)" in _flat(res) and "more than once" in _flat(res)
        assert "value" in _flat(res)


def test_parquet_duplicate_header_is_refused(sim: Path, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = _copy(sim, tmp_path)
    ev = pd.read_csv(data / "events.csv")
    (data / "events.csv").unlink()
    table = pa.table([pa.array(ev[c].astype(str)) for c in ev.columns] + [pa.array(
        ["1"] * len(ev))], names=[*ev.columns, "value"])
    pq.write_table(table, data / "events.parquet")
    with pytest.raises(DataError, match="more than once in the header: value"):
        load_cohort(data)


# -- item 7: event units at load; file rows everywhere ----------------------------------------


def test_unknown_vasopressor_unit_is_refused_at_load_with_the_file_row(
        sim: Path, tmp_path: Path) -> None:
    data = _copy(sim, tmp_path)
    ev = _events(data)
    i = int(np.flatnonzero(ev["event"] == "vasopressor")[0])
    ev.loc[i, "unit"] = "furlongs/min"
    ev.to_csv(data / "events.csv", index=False)
    report = check_cohort(data)
    bad = [p for p in report.errors if p.code == "unknown_unit"]
    assert len(bad) == 1 and bad[0].row == i + 2 and bad[0].value == "furlongs/min"
    res = runner.invoke(app, ["grade", str(data), "--out", str(tmp_path / "g")])
    assert res.exit_code == 2 and f"row {i + 2}" in _flat(res), res.output


def test_a_unit_that_does_not_fit_the_agent_is_refused(sim: Path, tmp_path: Path) -> None:
    data = _copy(sim, tmp_path)
    ev = _events(data)
    i = int(np.flatnonzero((ev["event"] == "vasopressor")
                           & (ev["detail"] == "norepinephrine"))[0])
    ev.loc[i, "unit"] = "U/min"
    j = int(np.flatnonzero(ev["event"] == "fio2")[0])
    ev.loc[j, "unit"] = "ppm"
    ev.to_csv(data / "events.csv", index=False)
    errors = {(p.row, p.code) for p in check_cohort(data).errors}
    assert (i + 2, "unknown_unit") in errors and (j + 2, "unknown_unit") in errors


def test_grade_problems_give_the_file_row(sim: Path, tmp_path: Path) -> None:
    data = _copy(sim, tmp_path)
    ev = _events(data)
    # a blank line and a row left out before the target shift the index away from the row
    i = int(np.flatnonzero(ev["event"] == "oxygen")[0])
    ev.loc[i, "detail"] = ""  # oxygen without a device: the day is not gradable
    ev.to_csv(data / "events.csv", index=False)
    out = tmp_path / "g"
    res = runner.invoke(app, ["grade", str(data), "--out", str(out)])
    assert res.exit_code == 0, res.output
    problems = pd.read_csv(out / "problems.csv")
    hit = problems[problems["message"].str.startswith("oxygen without a device")]
    assert hit["row"].tolist() == [i + 2]  # the issue: 0-based index (events,9) for row 11
    assert hit["table"].tolist() == ["events (events.csv)"]


# -- item 8: a whole column in the wrong unit --------------------------------------------------


def test_crp_in_mg_dl_labelled_mg_l_is_warned(sim: Path, tmp_path: Path) -> None:
    data = _copy(sim, tmp_path)
    obs = pd.read_csv(data / "observations.csv", dtype=str, keep_default_na=False)
    crp = obs["analyte"] == "crp"
    obs.loc[crp, "value"] = (pd.to_numeric(obs.loc[crp, "value"]) / 10).map(str)
    obs.to_csv(data / "observations.csv", index=False)
    warned = [p for p in check_cohort(data).warnings if p.code == "implausible_median"]
    assert len(warned) == 1 and "crp" in warned[0].message
    assert "mg/dL labelled mg/L" in warned[0].message
    res = runner.invoke(app, ["check", str(data)])
    assert res.exit_code == 0 and "implausible_median" in _flat(res)


def test_simulated_cohorts_sit_inside_the_expected_medians() -> None:
    for seed in (1, 2):
        report = check_cohort(simulate_cohort(n=60, seed=seed))
        assert not [p for p in report.problems if p.code == "implausible_median"]


# -- item 10: spreadsheet-formula injection ----------------------------------------------------


def test_formula_cells_are_neutralised_in_score_and_outcome_csvs(sim: Path,
                                                                 tmp_path: Path) -> None:
    data = _copy(sim, tmp_path)
    evil = {"SIM0001": '=HYPERLINK("http://x.example","click")', "SIM0002": "+cmd|' /C calc'!A0",
            "SIM0003": "@SUM(1+1)", "SIM0004": "-2+3"}
    for name in ("patients.csv", "observations.csv", "events.csv"):
        frame = pd.read_csv(data / name, dtype=str, keep_default_na=False)
        frame["patient_id"] = frame["patient_id"].replace(evil)
        frame.to_csv(data / name, index=False)
    res = runner.invoke(app, ["score", str(data), "--scorecard", "hay2017", "--out",
                              str(tmp_path / "score.csv")])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["grade", str(data), "--out", str(tmp_path / "g")])
    assert res.exit_code == 0, res.output
    for path in (tmp_path / "score.csv", tmp_path / "g" / "outcomes.csv",
                 tmp_path / "g" / "daily_grades.csv"):
        ids = set(pd.read_csv(path, dtype=str, keep_default_na=False)["patient_id"])
        assert {"'" + v for v in evil.values()} <= ids, path
        assert not any(v in ids for v in evil.values())


def test_neutralise_cell_and_frame() -> None:
    for bad in ("=1+1", "+1+1", "-1+1", "@x", "\tx", "\rx"):
        assert neutralise_cell(bad) == "'" + bad
    for fine in ("SIM0001", "-1.5", "+3", "1e-3", "", "a=b"):
        assert neutralise_cell(fine) == fine
    frame = pd.DataFrame({"id": ["=A1", "ok", None], "x": [-1.0, 2.0, np.nan]})
    out = neutralise_frame(frame)
    assert out["id"].tolist()[:2] == ["'=A1", "ok"] and pd.isna(out["id"].iloc[2])
    assert out["x"].tolist()[:2] == [-1.0, 2.0]
    assert frame["id"].iloc[0] == "=A1"  # input not modified


# -- item 11: .csv.gz and negative bootstrap counts --------------------------------------------


def test_gzipped_csv_tables_are_read(sim: Path, tmp_path: Path) -> None:
    data = _copy(sim, tmp_path)
    for name in ("observations.csv", "events.csv"):
        with (data / name).open("rb") as src, gzip.open(data / f"{name}.gz", "wb") as dst:
            shutil.copyfileobj(src, dst)
        (data / name).unlink()
    plain, zipped = load_cohort(sim), load_cohort(data)
    assert zipped.data_hash() == plain.data_hash()
    res = runner.invoke(app, ["check", str(data)])
    assert res.exit_code == 0 and "0 error(s)" in _flat(res), res.output
    # a broken .gz names the table, never a traceback
    (data / "events.csv.gz").write_bytes(b"not gzip at all")
    res = runner.invoke(app, ["check", str(data)])
    assert res.exit_code == 2 and "events (events.csv.gz)" in _flat(res), res.output


def test_gzipped_rows_are_file_rows(sim: Path, tmp_path: Path) -> None:
    data = _copy(sim, tmp_path)
    lines = (data / "events.csv").read_text().splitlines()
    lines.insert(3, "")  # a blank line: later rows sit one further down
    bad = lines[10].split(",")
    bad[1] = "soon"
    lines[10] = ",".join(bad)
    with gzip.open(data / "events.csv.gz", "wt") as fh:
        fh.write("\n".join(lines) + "\n")
    (data / "events.csv").unlink()
    report = check_cohort(data)
    assert [p.row for p in report.errors if p.code == "not_a_day"] == [11]


@pytest.mark.parametrize("args", [["derive", "--bootstrap", "-5", "--out", "card.json"],
                                  ["validate", "--scorecard", "hay2017", "--bootstrap", "-1"]])
def test_negative_bootstrap_counts_are_refused(sim: Path, args: list[str]) -> None:
    res = runner.invoke(app, [args[0], str(sim), *args[1:]])
    assert res.exit_code == 2, res.output
    assert "bootstrap" in _flat(res).lower()
