"""A centre's real export, unedited, from check to report (issue 14 acceptance).

The tests write an export as a centre's database gives it: one row per patient and day, the
patient's constants (age, sex, costimulation, MRD) repeated on every row, the centre's own
column names, laboratory values in the centre's units, the recorded CRS and ICANS grade, the
tocilizumab given (ja/nein) and the oxygen device as per-day columns, columns that happen to
be named like analyte codes (``albumin``, ``fibrinogen``) but are not mapped, and a handful of
impossible values (haemoglobin of a few g/L, APTT of 2 to 4.5 s).  A second variant writes
the same data with decimal commas and semicolons.  Everything runs through the command line
with the mapping file and options only: ``check``, ``grade``, ``derive``, ``compare`` and
``report``.  The same example is shown in docs/mapping.md.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from crsscore.cli import _register, app
from crsscore.data.check import check_cohort
from crsscore.data.io import load_cohort

_register()
runner = CliRunner()

#: The impossible cells: (patient index, day, column, value as written with a decimal point).
IMPOSSIBLE = [(3, 0, "Hb", "5"), (17, 2, "Hb", "6.5"), (40, -1, "Hb", "4"),
              (8, 1, "APTT", "2"), (25, 0, "APTT", "4.5"), (61, 3, "APTT", "3")]

MAPPING = """\
file = "{file}"
decimal = "{decimal}"
missing = ["", "n.b."]

[patients]
layout = "patient_day"             # one row per patient and day: constants taken per patient
take = "constant"                  # ... and they must agree on every row of a patient
[patients.columns]
patient_id = "PatID"
day = "Tag"
age_years = "Alter"
sex = "Geschlecht"
costim = "Kostimulation"
mrd_baseline_pct = "MRD vor LD"
[patients.values.sex]
w = "F"
m = "M"

[observations]
layout = "patient_day"
[observations.columns]
patient_id = "PatID"
day = "Tag"
[observations.analytes]            # only these columns are read ('albumin' is not)
CRP = "crp"
LDH = "ldh"
IL6 = "il6"
Ferritin = "ferritin"
Thrombozyten = "plt"
Kreatinin = "creatinine"
Hb = "hb"
APTT = "aptt"
[observations.units]
crp = "mg/L"
ldh = "U/L"
il6 = "pg/mL"
ferritin = "ng/mL"
plt = "10^9/L"
creatinine = "umol/L"
hb = "g/L"
aptt = "s"

[events]
layout = "patient_day"
[events.columns]
patient_id = "PatID"
day = "Tag"
[events.wide]                      # your column = canonical event, on that row's day
CRS = "crs_grade_recorded"
ICANS = "icans_grade_recorded"
Tocilizumab = "tocilizumab"
O2 = "oxygen"
[events.details]
Nasenbrille = "nasal_cannula"
"""


def _export_frame(n: int = 90, seed: int = 14) -> pd.DataFrame:
    """One row per patient and day (days -5 to 14), as a centre's database exports it."""
    rng = np.random.default_rng(seed)
    rows = []
    days = list(range(-5, 15))
    for i in range(n):
        z = rng.normal()
        severe = z + 0.6 * rng.normal() > 0.55
        onset = int(rng.integers(2, 6))
        peak = 3 if severe else int(rng.integers(0, 3))
        const = {"PatID": f"K-{i + 1:03d}", "Alter": int(rng.integers(4, 70)),
                 "Geschlecht": "w" if rng.random() < 0.45 else "m",
                 "Kostimulation": "CD28" if rng.random() < 0.5 else "4-1BB",
                 "MRD vor LD": round(float(10 ** rng.normal(-0.5, 1.0)), 3)}
        for d in days:
            act = max(0.0, 1.0 - abs(d - onset - 1) / 4.0) if d >= onset else 0.0
            row = dict(const, Tag=d)
            row["CRP"] = round(float(np.exp(1.2 + 0.7 * z + 2.0 * act + 0.3 * rng.normal())), 1)
            row["LDH"] = int(np.exp(5.6 + 0.3 * z + 0.2 * rng.normal()))
            row["IL6"] = round(float(np.exp(2.0 + 0.8 * z + 2.5 * act + 0.4 * rng.normal())), 1)
            row["Ferritin"] = int(np.exp(6.5 + 0.5 * z + 0.3 * rng.normal()))
            row["Thrombozyten"] = int(np.exp(4.3 - 0.2 * z + 0.3 * rng.normal()))
            row["Kreatinin"] = round(float(np.exp(3.9 + 0.3 * rng.normal())), 2)
            row["Hb"] = int(rng.normal(105, 12))
            row["APTT"] = round(float(rng.normal(34, 4)), 1)
            row["albumin"] = round(float(rng.normal(3.4, 0.4)), 1)  # g/dL; not mapped
            row["fibrinogen"] = int(rng.normal(320, 60))  # mg/dL; not mapped
            if rng.random() < 0.08:
                row["CRP"] = "n.b."
            grade = (0 if d < onset else min(peak, 1 + (d - onset))) if peak else 0
            row["CRS"] = grade if d >= 0 else None
            row["ICANS"] = (1 if severe and d == onset + 2 and rng.random() < 0.5 else 0) \
                if d >= 0 else None
            row["Tocilizumab"] = "ja" if grade >= 2 and d == onset + 1 else "nein"
            row["O2"] = "Nasenbrille" if grade >= 2 else ""
            rows.append(row)
    frame = pd.DataFrame(rows).astype(object)
    for pi, day, column, value in IMPOSSIBLE:
        frame.loc[(frame["PatID"] == f"K-{pi + 1:03d}") & (frame["Tag"] == day), column] = value
    return frame


def write_export(folder: Path, *, decimal_comma: bool = False) -> tuple[Path, Path]:
    """Write the export and its mapping file; returns (export, mapping)."""
    folder.mkdir(parents=True, exist_ok=True)
    frame = _export_frame().astype(object)
    name = "export_komma.csv" if decimal_comma else "export.csv"
    export = folder / name
    if decimal_comma:
        def comma(v: object) -> str:
            if v is None or v != v:
                return ""
            text = str(v)
            numeric = isinstance(v, float) or text.replace(".", "", 1).isdigit()
            return text.replace(".", ",") if numeric else text

        text = frame.map(comma)
        text.to_csv(export, sep=";", index=False)
    else:
        frame.to_csv(export, index=False)
    mapping = folder / ("mapping_komma.toml" if decimal_comma else "mapping.toml")
    mapping.write_text(MAPPING.format(file=name, decimal="," if decimal_comma else "."),
                       encoding="utf-8")
    return export, mapping


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_export(tmp_path_factory.mktemp("centre"))


@pytest.fixture(scope="module", params=[False, True], ids=["point", "comma"])
def both_exports(request: pytest.FixtureRequest,
                 tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_export(tmp_path_factory.mktemp("centre"), decimal_comma=request.param)


# ------------------------------------------------------------------------------------------
# The loader: patients derived from patient-day rows, per-day events, only mapped columns
# ------------------------------------------------------------------------------------------


def test_export_loads_one_patient_per_id_with_events_per_day(
        both_exports: tuple[Path, Path]) -> None:
    export, mapping = both_exports
    cohort = load_cohort(export, mapping, implausible="exclude")
    assert len(cohort.patients) == 90
    assert cohort.patients["patient_id"].is_unique
    assert set(cohort.patients["sex"].dropna()) == {"F", "M"}
    counts = cohort.events["event"].value_counts()
    assert counts["crs_grade_recorded"] == 90 * 15  # days 0 to 14
    assert "tocilizumab" in counts and "oxygen" in counts
    assert set(cohort.events.loc[cohort.events["event"] == "oxygen", "detail"]) == {"nasal_cannula"}
    # columns named like analytes but not mapped are not read
    assert not {"albumin", "fibrinogen"} & set(cohort.observations["analyte"])
    # every impossible cell is excluded and listed, quoted as written
    excl = cohort.exclusions
    assert excl is not None
    implausible = excl[excl["reason"] == "out_of_range"]
    assert len(implausible) == len(IMPOSSIBLE)
    sep = "," if "komma" in export.name else "."
    assert sorted(implausible["value"]) == sorted(v.replace(".", sep) for *_, v in IMPOSSIBLE)
    assert set(implausible["analyte"]) == {"hb", "aptt"}


def test_impossible_values_refuse_by_default_and_name_the_flag(
        export: tuple[Path, Path]) -> None:
    from crsscore.errors import DataError

    with pytest.raises(DataError) as info:
        load_cohort(*export)
    assert "--implausible exclude" in str(info.value)
    # quoted as typed (6.5 g/L), never as the converted float (0.65000000000001 g/dL)
    assert "'6.5'" in str(info.value) and "0.65" not in str(info.value)
    assert "converted to g/dL" in str(info.value)


def test_constants_that_disagree_are_reported_per_patient(tmp_path: Path) -> None:
    export, mapping = write_export(tmp_path)
    frame = pd.read_csv(export, dtype=str, keep_default_na=False)
    frame.loc[(frame["PatID"] == "K-002") & (frame["Tag"] == "7"), "Geschlecht"] = "m" \
        if frame.loc[frame["PatID"] == "K-002", "Geschlecht"].iloc[0] == "w" else "w"
    frame.to_csv(export, index=False)
    report = check_cohort(export, mapping, implausible="exclude")
    conflicts = [p for p in report.problems if p.code == "patient_value_conflict"]
    assert len(conflicts) == 1 and conflicts[0].severity == "error"
    assert conflicts[0].column == "Geschlecht" and conflicts[0].row == 2 + 20 + 12
    assert "take =" in conflicts[0].message
    mapping.write_text(mapping.read_text().replace('take = "constant"', 'take = "day 0"'))
    report = check_cohort(export, mapping, implausible="exclude")
    conflicts = [p for p in report.problems if p.code == "patient_value_conflict"]
    assert [p.severity for p in conflicts] == ["warning"]
    assert not report.has_errors


# ------------------------------------------------------------------------------------------
# The command line: check, grade, derive, compare and report with the mapping and options only
# ------------------------------------------------------------------------------------------

CANDIDATES = "crp,ldh,il6,ferritin"


def _run(*args: str) -> object:
    return runner.invoke(app, [str(a) for a in args])


def test_check_names_the_flag_then_passes_with_it(export: tuple[Path, Path],
                                                  tmp_path: Path) -> None:
    data, mapping = export
    res = _run("check", data, "--mapping", mapping)
    assert res.exit_code == 1  # type: ignore[attr-defined]
    out = " ".join(res.output.split())  # type: ignore[attr-defined]
    assert "NOT USABLE" in out and "--implausible exclude" in out
    assert "6 implausible value(s)" in out
    js = tmp_path / "check.json"
    res = _run("check", data, "--mapping", mapping, "--implausible", "exclude", "--json", js)
    assert res.exit_code == 0, res.output  # type: ignore[attr-defined]
    report = json.loads(js.read_text())
    implausible = [e for e in report["exclusions"] if e["reason"] == "out_of_range"]
    assert len(implausible) == len(IMPOSSIBLE)
    assert {(e["column"], e["value"]) for e in implausible} == {(c, v) for _, _, c, v in IMPOSSIBLE}
    assert report["problems_complete"] is True and report["truncated"] == []


def test_export_from_grade_to_report(both_exports: tuple[Path, Path], tmp_path: Path) -> None:
    data, mapping = both_exports
    common = ("--mapping", mapping, "--implausible", "exclude")
    res = _run("grade", data, *common, "--out", tmp_path / "grades")
    assert res.exit_code == 0, res.output  # type: ignore[attr-defined]
    outcomes = pd.read_csv(tmp_path / "grades" / "outcomes.csv")
    assert len(outcomes) == 90 and outcomes["severe_crs"].notna().all()
    card = tmp_path / "card.json"
    res = _run("derive", data, *common, "--landmark", "day0", "--candidates", CANDIDATES,
               "--out", card)
    assert res.exit_code == 0, res.output  # type: ignore[attr-defined]
    assert "the study reported" not in res.output  # type: ignore[attr-defined]
    res = _run("compare", data, *common, "--scorecard", card)
    assert res.exit_code == 0, res.output  # type: ignore[attr-defined]
    html = tmp_path / "report" / "report.html"
    res = _run("report", data, *common, "--scorecard", card, "--bootstrap", "5", "--out", html)
    assert res.exit_code == 0, res.output  # type: ignore[attr-defined]
    page = html.read_text(encoding="utf-8")
    assert 'id="tbl-excluded"' in page
    listed = pd.read_csv(html.parent / "report_tables" / "excluded.csv", dtype=str)
    implausible = listed[listed["reason"] == "out_of_range"]
    sep = "," if "komma" in data.name else "."
    assert sorted(implausible["value"]) == sorted(v.replace(".", sep) for *_, v in IMPOSSIBLE)
    for _, row in implausible.iterrows():
        assert f">{row['row']}<" in page


def test_report_takes_every_derive_option() -> None:
    """One definition: whatever derive accepts, report accepts, with the same help."""
    import typer.main

    cmd = typer.main.get_command(app)
    commands = cmd.commands  # type: ignore[attr-defined]

    def options(name: str) -> dict[str, str | None]:
        sub = commands[name]
        return {o: getattr(p, "help", None) for p in sub.params
                if p.param_type_name == "option" for o in p.opts}

    derive, report = options("derive"), options("report")
    only_derive = {"--certify", "--scheduler"}  # an exact MIP check; a Dask cluster
    for opt, help_text in derive.items():
        if opt in only_derive or opt in ("--out", "--bootstrap", "--json", "--jobs"):
            continue
        assert opt in report, opt
        assert report[opt] == help_text, opt
    assert "--scorecard" in report


def test_report_advice_names_options_report_accepts(export: tuple[Path, Path],
                                                     tmp_path: Path) -> None:
    data, mapping = export
    # no post-lymphodepletion MRD in this export: the default candidates cannot be used
    res = _run("report", data, "--mapping", mapping, "--implausible", "exclude",
               "--bootstrap", "0", "--landmark", "day0", "--out", tmp_path / "r.html")
    assert res.exit_code == 2
    out = " ".join(res.output.split())  # type: ignore[attr-defined]
    assert "mrd_post_ld_pct" in out and "--candidates" in out
    # at day 7 most severe CRS has begun: the advice names options report takes
    res = _run("report", data, "--mapping", mapping, "--implausible", "exclude",
               "--bootstrap", "0", "--candidates", CANDIDATES, "--out", tmp_path / "r.html")
    assert res.exit_code == 2
    out = " ".join(res.output.split())  # type: ignore[attr-defined]
    assert "--prior-outcome keep" in out and "--allow-small-sample" in out
    assert "--landmark day3" in out
    res = _run("report", data, "--mapping", mapping, "--out", tmp_path / "r.html",
               "--bootstrap", "0", "--landmark", "day0", "--candidates", CANDIDATES)
    assert res.exit_code == 2
    assert "--implausible exclude" in " ".join(res.output.split())  # type: ignore[attr-defined]
