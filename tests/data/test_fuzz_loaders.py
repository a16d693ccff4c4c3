"""Fuzzed input: loaders raise only crsscore's own errors, and the CLI never shows a traceback.

Properties checked on generated files (wrong types, missing columns, empty files, duplicated
ids, negative values, text in numeric cells, unknown units, days out of range, random bytes):

* ``load_cohort`` returns a Cohort or raises a :class:`CrsscoreError` (never another
  exception), and what it returns is in canonical units and physiological ranges;
* ``check_cohort`` agrees with it: it finds errors exactly when ``load_cohort`` refuses;
* ``crsscore check`` exits 0, 1 or 2 with a message, never with a traceback.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from crsscore.cli import _register, app
from crsscore.data.check import check_cohort
from crsscore.data.io import load_cohort
from crsscore.data.mapping import parse_mapping
from crsscore.data.schema import ANALYTES, DAY_MAX, DAY_MIN
from crsscore.errors import CrsscoreError, DataError, MappingError
from crsscore.units import ANALYTE_UNITS, canonical_unit

# CRSSCORE_FUZZ_EXAMPLES=2000 for a longer hunt; the default keeps the suite fast.
EXAMPLES = int(os.environ.get("CRSSCORE_FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

_register()
runner = CliRunner()

ids = st.one_of(st.sampled_from(["P1", "P2", "P3", "007", ""]),
                st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=6))
numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=32).map(repr),
    st.integers(-10_000, 10_000).map(str),
    st.sampled_from(["", "abc", "<5", "1,5", "NA", "n/a", "-", "1e400", "--3", "5 mg", "TRUE"]),
)
days = st.one_of(st.integers(-100, 4000).map(str), numbers)
analytes = st.one_of(st.sampled_from(sorted(ANALYTES)),
                     st.sampled_from(["sodium", "CRP", "Hb", "", "il-6"]))
units = st.one_of(st.sampled_from(sorted({u for us in ANALYTE_UNITS.values() for u in us})),
                  st.sampled_from(["", "mg/100mL", "mg/L ", "µmol/l", "G/L", "furlongs",
                                   "mg/L", "deg"]))
patient_columns = st.lists(
    st.sampled_from(["age_years", "sex", "prior_hsct", "mrd_baseline_pct", "infusion_date",
                     "weight_kg", "costim", "synthetic", "zzz"]), unique=True, max_size=5)
cell = st.one_of(numbers, st.sampled_from(["F", "M", "weiblich", "yes", "0", "1", "4-1BB",
                                           "2021-03-04", "31.02.2021", ""]))


def _csv(rows: list[list[str]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


@st.composite
def cohort_files(draw: st.DrawFn) -> dict[str, str]:
    """A canonical folder with random damage."""
    cols = draw(patient_columns)
    with_id = draw(st.booleans()) or not cols
    header = (["patient_id"] if with_id else []) + cols
    n = draw(st.integers(0, 6))
    prows = [[draw(ids) if c == "patient_id" else draw(cell) for c in header] for _ in range(n)]
    files = {"patients.csv": _csv([header, *prows])}
    if draw(st.booleans()):
        obs_header = ["patient_id", "day", "analyte", "value", "unit"]
        if draw(st.integers(0, 5)) == 0:  # a missing or extra column
            obs_header = draw(st.permutations(obs_header))[: draw(st.integers(1, 5))]
        orows = [[draw({"patient_id": ids, "day": days, "analyte": analytes,
                        "value": numbers, "unit": units}[c]) for c in obs_header]
                 for _ in range(draw(st.integers(0, 8)))]
        files["observations.csv"] = _csv([obs_header, *orows])
    if draw(st.booleans()):
        ev_header = ["patient_id", "day", "event", "value", "unit", "detail"]
        erows = [[draw(ids), draw(days),
                  draw(st.sampled_from(["oxygen", "ice", "fever", "tocilizumab", ""])),
                  draw(numbers), "", draw(st.sampled_from(["", "nasal_cannula", "x"]))]
                 for _ in range(draw(st.integers(0, 4)))]
        files["events.csv"] = _csv([ev_header, *erows])
    return files


def _write(folder: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = folder / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


def _assert_canonical(cohort: Any) -> None:
    obs = cohort.observations
    for analyte, unit in zip(obs["analyte"], obs["unit"], strict=True):
        assert unit == canonical_unit(analyte)
    values = obs["value"].to_numpy(dtype=np.float64)
    assert np.isfinite(values).all()
    low = np.array([ANALYTES[a].low for a in obs["analyte"]])
    high = np.array([ANALYTES[a].high for a in obs["analyte"]])
    assert ((values >= low) & (values <= high)).all()
    day = obs["day"].to_numpy(dtype=np.float64)
    assert ((day >= DAY_MIN) & (day <= DAY_MAX)).all()
    assert not cohort.patients["patient_id"].duplicated().any()


@FUZZ
@given(files=cohort_files())
def test_loaders_raise_only_crsscore_errors_and_agree_with_check(files: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        _write(folder, dict(files))
        try:
            cohort = load_cohort(folder)
        except DataError as exc:
            loaded = None
            assert exc.problems, "a DataError must carry its problems"
            assert all(p.table and p.message for p in exc.problems)
        except MappingError:  # pragma: no cover - no mapping here
            raise
        else:
            loaded = cohort
            _assert_canonical(cohort)
        try:
            report = check_cohort(folder)
        except DataError:
            assert loaded is None  # unreadable for both
            return
        assert report.has_errors == (loaded is None)


@FUZZ
@given(content=st.binary(max_size=300), name=st.sampled_from(
    ["patients.csv", "patients.parquet", "p.xlsx", "p.csv", "p.xls"]))
def test_random_bytes_give_a_clear_error(content: bytes, name: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        _write(folder, {name: content})
        target = folder if name.startswith("patients") else folder / name
        mapping = None if name.startswith("patients") else {"patients": {}}
        try:
            load_cohort(target, mapping=mapping)
        except CrsscoreError as exc:
            assert str(exc)


@FUZZ
@given(decimal=st.sampled_from([".", ","]), pattern=st.sampled_from(
    ["{analyte}_d{day}", "{analyte}_T{day}", "{day}:{analyte}"]),
    cells=st.lists(numbers, min_size=6, max_size=6), unit=units,
    pid=st.lists(ids, min_size=2, max_size=2))
def test_wide_exports_through_a_mapping(decimal: str, pattern: str, cells: list[str],
                                        unit: str, pid: list[str]) -> None:
    cols = [pattern.format(analyte=a, day=d) for a in ("CRP", "Hb") for d in (-1, 7, 14)]
    text = _csv([["Pat", *cols[:3]], [pid[0], *cells[:3]], [pid[1], *cells[3:]]])
    data = {"decimal": decimal, "file": "x.csv",
            "patients": {"columns": {"patient_id": "Pat"}},
            "observations": {"layout": "wide", "pattern": pattern,
                             "columns": {"patient_id": "Pat"}, "analytes": {"CRP": "crp"},
                             "units": {"crp": unit}}}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        _write(folder, {"x.csv": text})
        try:
            cohort = load_cohort(folder, mapping=data)
        except CrsscoreError as exc:
            assert str(exc)
        else:
            _assert_canonical(cohort)
            assert set(cohort.observations["day"]) <= {-1.0, 7.0, 14.0}


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8)


@FUZZ
@given(data=st.dictionaries(
    st.sampled_from(["file", "decimal", "encoding", "patients", "observations", "events",
                     "missing", "yes", "bogus"]),
    st.one_of(json_values, st.fixed_dictionaries({}, optional={
        "columns": st.dictionaries(st.sampled_from(["patient_id", "day", "sex", "nope"]),
                                   json_values, max_size=2),
        "units": st.dictionaries(st.sampled_from(["crp", "hb", "mrd_baseline_pct", "x"]),
                                 st.one_of(units, json_values), max_size=2),
        "layout": st.sampled_from(["long", "wide", "patient_day", "round"]),
        "pattern": st.text(max_size=12)})), max_size=4))
def test_mapping_validation_raises_only_mapping_errors(data: dict[str, Any]) -> None:
    try:
        parse_mapping(data)
    except MappingError as exc:
        assert "mapping" in str(exc)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(files=cohort_files(), junk=st.binary(max_size=40), use_junk=st.booleans())
def test_cli_check_never_prints_a_traceback(files: dict[str, str], junk: bytes,
                                            use_junk: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        content: dict[str, str | bytes] = dict(files)
        if use_junk:
            content["patients.csv"] = junk
        _write(folder, content)
        result = runner.invoke(app, ["check", str(folder), "--json", str(folder / "r.json")])
        output = result.output + (result.stderr if result.stderr_bytes is not None else "")
        assert "Traceback" not in output
        assert result.exit_code in (0, 1, 2), output
        assert result.exception is None or isinstance(result.exception, SystemExit)
        if result.exit_code in (0, 1):
            assert (folder / "r.json").exists()


def test_cli_check_exit_statuses(tmp_path: Path) -> None:
    fixtures = Path(__file__).parent / "fixtures" / "de"
    ok = runner.invoke(app, ["check", str(fixtures / "export.csv"), "--mapping",
                             str(fixtures / "mapping.toml")])
    assert ok.exit_code == 0, ok.output
    assert "0 error(s)" in ok.output
    (tmp_path / "patients.csv").write_text("patient_id,age_years\nA,-3\nA,4\n", encoding="utf-8")
    bad = runner.invoke(app, ["check", str(tmp_path)])
    assert bad.exit_code == 1
    assert "duplicate_id" in bad.output and "NOT USABLE" in bad.output
    missing = runner.invoke(app, ["check", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2
    assert "no such file or folder" in missing.output + missing.stderr
    mapping = tmp_path / "m.toml"
    mapping.write_text("[patients]\ncolumns = 3\n", encoding="utf-8")
    invalid = runner.invoke(app, ["check", str(tmp_path), "--mapping", str(mapping)])
    assert invalid.exit_code == 2
    assert "patients.columns" in invalid.output + invalid.stderr


def test_cli_check_json_to_stdout_is_pure_json() -> None:
    import json

    fixtures = Path(__file__).parent / "fixtures" / "zh"
    result = runner.invoke(app, ["check", str(fixtures / "mapping.toml"), "--json", "-"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["command"] == "check" and data["counts"]["patients"] == 2
    assert sorted(p["message"].split()[0] for p in data["problems"]
                  if p["code"] == "mixed_units") == ["crp", "hb"]
    assert "0 error(s)" in result.stderr
