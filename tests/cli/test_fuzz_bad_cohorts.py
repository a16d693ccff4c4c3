"""Seeded bad cohorts through the commands: a clean result or a clean refusal, never a traceback.

Each case starts from a small simulated cohort and applies one to three damages drawn by a
seeded generator: structure (missing, empty, misnamed tables; dropped, repeated or reordered
columns; short rows; blank lines), encodings (latin-1, UTF-16, a BOM, random bytes, gzip),
cells (text in numbers, infinities, empty or duplicated ids, days out of range), units
(unknown observation and event units, CRP in mg/dL), ids (formulas, non-Latin text, ids
missing from patients), Excel/Parquet variants (via a mapping, repeated headers) and mapping
errors (unknown keys, columns or sheets).  Every command of :data:`COMMANDS` must then

* exit 0 with every row accounted for (rows kept plus rows listed as left out equal the rows
  of the file; one outcome per patient), or
* exit 2 (``check``: 1 or 2) with a message naming the table (and the row, for a damage to
  one row), and never show a traceback.

``CRSSCORE_FUZZ_CASES`` sets the number of cases (default 24, about 30 s on two cores);
``CRSSCORE_FUZZ_SEED`` the seed.  To add a command, append a :class:`Command` to COMMANDS:
``check`` and ``grade`` run on every case, ``derive`` on every second and ``report`` on every
sixth (they take longer).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import random
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner, Result

from crsscore.cli import _register, app
from crsscore.data.io import load_cohort
from crsscore.data.simulate import simulate_cohort, write_cohort

_register()
runner = CliRunner()

N_CASES = int(os.environ.get("CRSSCORE_FUZZ_CASES", "24"))
SEED = int(os.environ.get("CRSSCORE_FUZZ_SEED", "15"))
TABLES = ("patients", "observations", "events")


@dataclass
class Case:
    """A damaged cohort: its folder, an optional mapping and what was done to it."""

    folder: Path
    mapping: Path | None = None
    damages: list[str] = field(default_factory=list)
    row_level: bool = False  # a refusal must then name a row
    csv_only: bool = True  # canonical CSV files whose rows can be counted

    def data_args(self) -> list[str]:
        return [str(self.folder)] + (["--mapping", str(self.mapping)] if self.mapping else [])


# --------------------------------------------------------------------------------------------
# Damages: each takes (case, rng) and edits the files in case.folder
# --------------------------------------------------------------------------------------------


def _read(case: Case, table: str) -> list[list[str]]:
    path = case.folder / f"{table}.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        return [row for row in csv.reader(fh)]


def _write(case: Case, table: str, rows: list[list[str]], *, encoding: str = "utf-8") -> None:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    (case.folder / f"{table}.csv").write_text(buf.getvalue(), encoding=encoding)


def _cell(case: Case, rng: random.Random, table: str, column: str, value: str,
          where: Callable[[list[str], list[str]], bool] | None = None) -> None:
    rows = _read(case, table)
    if column not in rows[0] or len(rows) < 2:
        return
    j = rows[0].index(column)
    candidates = [i for i in range(1, len(rows)) if where is None or where(rows[0], rows[i])]
    if not candidates:
        return
    rows[rng.choice(candidates)][j] = value
    _write(case, table, rows)
    case.row_level = True


def _is(column: str, value: str) -> Callable[[list[str], list[str]], bool]:
    return lambda header, row: column in header and row[header.index(column)] == value


def drop_table(case: Case, rng: random.Random) -> None:
    table = rng.choice(["observations", "events"])
    (case.folder / f"{table}.csv").unlink()


def header_only(case: Case, rng: random.Random) -> None:
    table = rng.choice(["observations", "events"])
    _write(case, table, _read(case, table)[:1])


def misname(case: Case, rng: random.Random) -> None:
    table = rng.choice(["observations", "events"])
    (case.folder / f"{table}.csv").rename(case.folder / f"{table[:-1]}.CSV")


def drop_column(case: Case, rng: random.Random) -> None:
    table = rng.choice(TABLES)
    rows = _read(case, table)
    j = rng.randrange(len(rows[0]))
    _write(case, table, [r[:j] + r[j + 1:] for r in rows])


def repeat_column(case: Case, rng: random.Random) -> None:
    table = rng.choice(TABLES)
    rows = _read(case, table)
    j = rng.randrange(len(rows[0]))
    _write(case, table, [[*r, r[j]] for r in rows])


def shuffle_columns(case: Case, rng: random.Random) -> None:
    table = rng.choice(TABLES)
    rows = _read(case, table)
    order = list(range(len(rows[0])))
    rng.shuffle(order)
    _write(case, table, [[r[k] for k in order] for r in rows])


def short_row(case: Case, rng: random.Random) -> None:
    table = rng.choice(TABLES)
    rows = _read(case, table)
    if len(rows) > 2:
        i = rng.randrange(1, len(rows))
        rows[i] = rows[i][:-1]
        _write(case, table, rows)
        case.row_level = True


def blank_lines(case: Case, rng: random.Random) -> None:
    table = rng.choice(TABLES)
    path = case.folder / f"{table}.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    for _ in range(3):
        lines.insert(rng.randrange(1, len(lines) + 1), "")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def latin1(case: Case, rng: random.Random) -> None:
    rows = _read(case, "observations")
    j = rows[0].index("unit")
    for r in rows[1:]:
        if r[j] == "mg/L":
            r[j] = "mg/L µ"  # not a unit, and not UTF-8 once written as latin-1
    _write(case, "observations", rows, encoding="latin-1")


def utf16(case: Case, rng: random.Random) -> None:
    table = rng.choice(TABLES)
    rows = _read(case, table)
    _write(case, table, rows, encoding="utf-16")


def bom(case: Case, rng: random.Random) -> None:
    table = rng.choice(TABLES)
    _write(case, table, _read(case, table), encoding="utf-8-sig")


def random_bytes(case: Case, rng: random.Random) -> None:
    table = rng.choice(TABLES)
    (case.folder / f"{table}.csv").write_bytes(bytes(rng.randrange(256) for _ in range(200)))


def gzipped(case: Case, rng: random.Random) -> None:
    table = rng.choice(["observations", "events"])
    src = case.folder / f"{table}.csv"
    with src.open("rb") as fh, gzip.open(case.folder / f"{table}.csv.gz", "wb") as out:
        shutil.copyfileobj(fh, out)
    src.unlink()
    case.csv_only = False


def text_in_number(case: Case, rng: random.Random) -> None:
    table, column = rng.choice([("observations", "value"), ("observations", "day"),
                                ("events", "value"), ("events", "day"),
                                ("patients", "age_years")])
    _cell(case, rng, table, column, rng.choice(["abc", "<5", "1,5", "inf", "-inf", "1e400",
                                                "5 mg", "--3"]))


def empty_id(case: Case, rng: random.Random) -> None:
    _cell(case, rng, rng.choice(TABLES), "patient_id", "")


def duplicate_id(case: Case, rng: random.Random) -> None:
    rows = _read(case, "patients")
    rows.append(list(rows[1]))
    _write(case, "patients", rows)
    case.row_level = True


def day_out_of_range(case: Case, rng: random.Random) -> None:
    _cell(case, rng, rng.choice(["observations", "events"]), "day",
          rng.choice(["-500", "99999", "nan"]))


def unknown_obs_unit(case: Case, rng: random.Random) -> None:
    _cell(case, rng, "observations", "unit", rng.choice(["furlongs", "mg/100mL", "deg", ""]))


def unknown_event_unit(case: Case, rng: random.Random) -> None:
    event, unit = rng.choice([("vasopressor", "furlongs/min"), ("vasopressor", "U/min"),
                              ("fio2", "ppm"), ("oxygen", "L/h"), ("vasopressor_hours", "min")])
    _cell(case, rng, "events", "unit", unit, _is("event", event))


def crp_in_mg_dl(case: Case, rng: random.Random) -> None:
    rows = _read(case, "observations")
    a, v = rows[0].index("analyte"), rows[0].index("value")
    for r in rows[1:]:
        if r[a] == "crp" and r[v]:
            r[v] = f"{float(r[v]) / 10:g}"
    _write(case, "observations", rows)


def formula_ids(case: Case, rng: random.Random) -> None:
    evil = rng.choice(['=HYPERLINK("http://x.example","x")', "+cmd|' /C calc'!A0", "@SUM(A1)",
                       "-1+2", "\tTAB", "患者一"])
    for table in TABLES:
        rows = _read(case, table)
        j = rows[0].index("patient_id")
        first = rows[1][j] if len(rows) > 1 else None
        for r in rows[1:]:
            if r[j] == first:
                r[j] = evil
        _write(case, table, rows)


def orphan_ids(case: Case, rng: random.Random) -> None:
    _cell(case, rng, rng.choice(["observations", "events"]), "patient_id", "NOT-LISTED")


def unknown_event(case: Case, rng: random.Random) -> None:
    _cell(case, rng, "events", "event", rng.choice(["CRS", "pressor", "death!", "sepsis"]))


def parquet_events(case: Case, rng: random.Random) -> None:
    ev = pd.read_csv(case.folder / "events.csv", dtype=str, keep_default_na=False)
    (case.folder / "events.csv").unlink()
    if rng.random() < 0.5:
        import pyarrow as pa
        import pyarrow.parquet as pq

        arrays = [pa.array(ev[c]) for c in ev.columns] + [pa.array(ev["value"])]
        pq.write_table(pa.table(arrays, names=[*ev.columns, "value"]),
                       case.folder / "events.parquet")
    else:
        ev.to_parquet(case.folder / "events.parquet", index=False)
    case.csv_only = False


def excel_events(case: Case, rng: random.Random) -> None:
    import openpyxl

    ev = pd.read_csv(case.folder / "events.csv", dtype=str, keep_default_na=False)
    (case.folder / "events.csv").unlink()
    book = openpyxl.Workbook()
    ws = book.active
    assert ws is not None
    extra = rng.random() < 0.5
    ws.append([*ev.columns, "value"] if extra else list(ev.columns))
    for row in ev.itertuples(index=False):
        ws.append([*row, "1"] if extra else list(row))
    book.save(case.folder / "events.xlsx")
    _mapping(case, events='file = "events.xlsx"')


def _mapping(case: Case, **tables: str) -> None:
    text = []
    for table in TABLES:
        if (case.folder / f"{table}.csv").exists() or table in tables:
            text.append(f"[{table}]")
            text.append(tables.get(table, f'file = "{table}.csv"'))
    case.mapping = case.folder / "map.toml"
    case.mapping.write_text("\n".join(text) + "\n", encoding="utf-8")
    case.csv_only = False


def mapping_error(case: Case, rng: random.Random) -> None:
    choice = rng.randrange(4)
    if choice == 0:
        _mapping(case, events='file = "events.csv"\nfiel = "typo"')
    elif choice == 1:
        _mapping(case, observations='file = "observations.csv"\n'
                                    '[observations.columns]\nvalue = "Wert"')
    elif choice == 2:
        _mapping(case, events='file = "events.csv"\nsheet = "Tabelle1"')
    else:
        _mapping(case, patients='file = "no_such_file.csv"')


DAMAGES: list[Callable[[Case, random.Random], None]] = [
    drop_table, header_only, misname, drop_column, repeat_column, shuffle_columns, short_row,
    blank_lines, latin1, utf16, bom, random_bytes, gzipped, text_in_number, empty_id,
    duplicate_id, day_out_of_range, unknown_obs_unit, unknown_event_unit, crp_in_mg_dl,
    formula_ids, orphan_ids, unknown_event, parquet_events, excel_events, mapping_error,
]
#: Damages after which the folder is no longer plain canonical CSV (applied last).
_LAST = {gzipped, parquet_events, excel_events, mapping_error}


def make_cases(base: Path, source: Path, n: int, seed: int) -> list[Case]:
    rng = random.Random(seed)
    cases = []
    for k in range(n):
        folder = base / f"case{k:03d}"
        shutil.copytree(source, folder)
        case = Case(folder)
        first = [d for d in DAMAGES if d not in _LAST]
        picked = rng.sample(first, rng.randint(1, 2))
        if rng.random() < 0.3:
            picked.append(rng.choice(sorted(_LAST, key=lambda d: d.__name__)))
        for damage in picked:
            try:
                damage(case, rng)
            except (UnicodeDecodeError, ValueError, IndexError, KeyError, FileNotFoundError,
                    OSError):
                continue  # an earlier damage made this one impossible: keep what we have
            case.damages.append(damage.__name__)
        cases.append(case)
    return cases


# --------------------------------------------------------------------------------------------
# Commands and what their results must satisfy
# --------------------------------------------------------------------------------------------

_TABLE_NAMES = re.compile(r"\b(patients|observations|events|input|mapping)\b|\.toml|\.csv|"
                          r"\.xlsx|\.parquet|\bsheet\b|\bfile\b")


def _flat(res: Result) -> str:
    return " ".join(res.output.split())


def _file_rows(path: Path) -> int:
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as fh:
        return sum(1 for i, r in enumerate(csv.reader(fh)) if i > 0 and r)


def _check_args(case: Case, tmp: Path) -> list[str]:
    return ["check", *case.data_args(), "--json", str(tmp / "check.json")]


def _check_ok(case: Case, res: Result, tmp: Path) -> None:
    assert res.exit_code in (0, 1), res.output
    report = json.loads((tmp / "check.json").read_text(encoding="utf-8"))
    assert (res.exit_code == 1) == report["has_errors"]
    for p in report["problems"]:
        assert p["table"], p
    if not case.csv_only:
        return
    excluded = pd.DataFrame(report["exclusions"], columns=["table", "row", "column", "reason"])
    for table in TABLES:
        path = case.folder / f"{table}.csv"
        if not path.exists():
            continue
        left_out = excluded[excluded["table"].str.startswith(table)]["row"].nunique()
        kept = report["counts"][table if table != "patients" else "patients"]
        assert kept + left_out == _file_rows(path), (table, kept, left_out, case.damages)


def _grade_args(case: Case, tmp: Path) -> list[str]:
    return ["grade", *case.data_args(), "--out", str(tmp / "graded")]


def _grade_ok(case: Case, res: Result, tmp: Path) -> None:
    assert res.exit_code == 0, res.output
    outcomes = pd.read_csv(tmp / "graded" / "outcomes.csv", dtype={"patient_id": str},
                           keep_default_na=False)
    cohort = load_cohort(case.folder, case.mapping)
    assert len(outcomes) == cohort.patients["patient_id"].nunique()
    if cohort.missing_tables:
        assert "Warning" in res.output


def _derive_args(case: Case, tmp: Path) -> list[str]:
    # a tiny cohort: keep everyone, look at day 0, and allow the small sample so that the
    # analysis itself runs as far as the data let it
    return ["derive", *case.data_args(), "--out", str(tmp / "card.json"), "--landmark", "day0",
            "--prior-outcome", "keep", "--allow-small-sample", "--imputations", "2",
            "--candidates", "crp,ferritin,mrd_baseline_pct", "--json", str(tmp / "derive.json")]


def _derive_ok(case: Case, res: Result, tmp: Path) -> None:
    assert res.exit_code == 0, res.output
    from crsscore.scores.scorecard import ScoreCard

    card = ScoreCard.from_json(tmp / "card.json")
    summary = json.loads((tmp / "derive.json").read_text(encoding="utf-8"))
    assert card.sample_size is not None and card.sample_size.n == summary["n_analysed"]


def _report_args(case: Case, tmp: Path) -> list[str]:
    return ["report", *case.data_args(), "--out", str(tmp / "report.html"), "--landmark", "day0",
            "--bootstrap", "0", "--no-builtin", "--allow-small-sample"]


def _report_ok(case: Case, res: Result, tmp: Path) -> None:
    assert res.exit_code == 0, res.output
    assert (tmp / "report.html").stat().st_size > 0


#: an analysis may also refuse for the data's statistics (too few events, nothing selected):
#: then the message says what is wrong with the data and what to do
_ANALYSIS_WORDS = re.compile(r"events?\b|candidate|landmark|selection|--[a-z-]+")


@dataclass(frozen=True)
class Command:
    """A command to fuzz: its arguments for a case, and the checks of a successful run.

    ``every`` runs the command on every k-th case only (slow commands); ``analysis`` accepts
    refusals that name the statistical problem rather than a table.
    """

    name: str
    args: Callable[[Case, Path], list[str]]
    ok: Callable[[Case, Result, Path], None]
    refusal_codes: tuple[int, ...] = (2,)
    every: int = 1
    analysis: bool = False


COMMANDS: list[Command] = [
    Command("check", _check_args, _check_ok, refusal_codes=(2,)),
    Command("grade", _grade_args, _grade_ok),
    Command("derive", _derive_args, _derive_ok, every=2, analysis=True),
    Command("report", _report_args, _report_ok, every=6, analysis=True),
]


def _assert_clean(command: Command, case: Case, res: Result, tmp: Path) -> int:
    assert "Traceback" not in res.output, (case.damages, res.output)
    if res.exception is not None:
        assert isinstance(res.exception, SystemExit), (case.damages, repr(res.exception))
    if res.exit_code in command.refusal_codes and not (command.name == "check"
                                                       and res.exit_code == 1):
        text = _flat(res)
        assert "Error" in text or "error" in text, (case.damages, text)
        assert _TABLE_NAMES.search(text) or (command.analysis and _ANALYSIS_WORDS.search(text)), (
            case.damages, text)
        return res.exit_code
    command.ok(case, res, tmp)
    return res.exit_code


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fuzz") / "source"
    write_cohort(simulate_cohort(n=20, seed=5), folder)
    return folder


def test_bad_cohorts_give_a_result_or_a_clean_refusal(source: Path, tmp_path: Path) -> None:
    cases = make_cases(tmp_path / "cases", source, N_CASES, SEED)
    seen: dict[str, dict[int, int]] = {c.name: {} for c in COMMANDS}
    for k, case in enumerate(cases):
        statuses: dict[str, int] = {}
        for command in COMMANDS:
            if k % command.every:
                continue
            out = tmp_path / f"out{k:03d}_{command.name}"
            out.mkdir()
            res = runner.invoke(app, command.args(case, out))
            status = _assert_clean(command, case, res, out)
            statuses[command.name] = status
            seen[command.name][status] = seen[command.name].get(status, 0) + 1
            if status == 2 and case.row_level and "row" not in _flat(res) and not command.analysis:
                # structural refusals (a missing column) name no row; row damages must
                assert not _only_row_damage(case), (case.damages, _flat(res))
        if "check" in statuses and "grade" in statuses:
            # the data check and the loader agree: errors in check <=> grade refuses
            assert (statuses["check"] == 0) == (statuses["grade"] == 0), (case.damages,
                                                                           statuses)
    # the sample exercised both outcomes
    assert seen["check"].get(0, 0) and seen["check"].get(1, 0) + seen["check"].get(2, 0)


def _only_row_damage(case: Case) -> bool:
    structural = {"drop_table", "header_only", "misname", "drop_column", "repeat_column",
                  "shuffle_columns", "latin1", "utf16", "random_bytes", "parquet_events",
                  "excel_events", "mapping_error", "gzipped", "bom", "blank_lines",
                  "crp_in_mg_dl", "formula_ids", "duplicate_id"}
    return not any(d in structural for d in case.damages)


def test_case_generator_is_seeded(tmp_path: Path, source: Path) -> None:
    a = make_cases(tmp_path / "a", source, 6, 7)
    b = make_cases(tmp_path / "b", source, 6, 7)
    assert [c.damages for c in a] == [c.damages for c in b]
    assert all(c.damages for c in a)

