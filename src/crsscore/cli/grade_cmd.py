"""``crsscore grade``: daily CRS/ICANS grades and per-patient outcomes from raw events."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import typer

from crsscore.cli._common import (
    IMPLAUSIBLE_HELP,
    app,
    console,
    err_console,
    friendly_errors,
    load_data,
    write_json,
)

#: How a patient's grade was obtained, in words (``Outcomes.source_counts`` keys).
GRADE_SOURCES = {"derived": "derived from the raw data", "recorded": "the centre's recorded grade",
                 "none": "not gradable"}


def grade_sources_text(counts: Mapping[Any, int]) -> str:
    """``{'derived': 125}`` -> ``"derived from the raw data for 125 patients"``."""
    return ", ".join(f"{GRADE_SOURCES.get(str(k), str(k))} for {int(v)} patient(s)"
                     for k, v in sorted(counts.items()) if int(v))


def icans_assessed(cohort: Any) -> bool:
    """Whether the events hold anything ICANS is graded from (else 'any ICANS 0' would lie)."""
    from crsscore.grading._features import ICANS_EVENTS

    ev = cohort.events
    if ev is None or len(ev) == 0 or "event" not in ev.columns:
        return False
    names = set(ev["event"].astype(str).str.strip().str.lower())
    return bool(names & (set(ICANS_EVENTS) | {"icans_grade_recorded"}))


@app.command()
@friendly_errors
def grade(
    data: Path = typer.Argument(..., help="Cohort folder in the canonical format, or a centre's "
                                          "export with --mapping."),
    mapping: Path | None = typer.Option(None, "--mapping", help="Mapping file (TOML) from the "
                                                                "centre's export to the format."),
    implausible: str = typer.Option("refuse", "--implausible", help=IMPLAUSIBLE_HELP),
    system: str = typer.Option("astct", "--system",
                               help="CRS grading system: astct, lee2014, penn, mskcc, cartox, "
                                    "ctcae5 (ICANS is always ASTCT 2019)."),
    out: Path = typer.Option(..., "--out", file_okay=False, dir_okay=True,
                             help="Folder for daily_grades.csv, outcomes.csv, "
                                  "disagreements.csv and problems.csv."),
    json_path: Path | None = typer.Option(None, "--json", help="Also write a JSON summary "
                                                               "('-' for standard output)."),
) -> None:
    """Grade CRS and ICANS for every patient-day and summarise each patient."""
    from crsscore.atomicio import ensure_folder, write_csv
    from crsscore.grading import grade_cohort
    from crsscore.grading.settings import check_system

    system = check_system(system)  # refuse a bad name before reading any data
    cohort = load_data(data, mapping, implausible)
    result = grade_cohort(cohort, system=system)
    ensure_folder(out)
    daily = result.daily[["patient_id", "day", "crs_grade", "icans_grade", "crs_reason",
                          "icans_reason", "crs_source", "icans_source"]]
    daily = daily.rename(columns={"crs_reason": "reason"})
    write_csv(out / "daily_grades.csv", daily)
    write_csv(out / "outcomes.csv", result.outcomes)
    write_csv(out / "disagreements.csv", result.disagreements)
    import pandas as pd

    problems = pd.DataFrame([p.to_dict() for p in result.problems],
                            columns=["table", "row", "column", "severity", "code", "message",
                                     "value", "expected"])
    write_csv(out / "problems.csv", problems)

    o = result.outcomes
    n = len(o)
    n_graded = int(o["crs_max_grade"].notna().sum())
    n_severe = int((o["severe_crs"] == 1).sum())
    n_any = int((o["crs_max_grade"] >= 1).sum())
    n_icans = int((o["icans_max_grade"] >= 1).sum())
    n_days = len(result.daily)
    n_na = int(result.daily["crs_grade"].isna().sum())
    console.print(f"CRS graded by {system}, ICANS by ASTCT 2019: {n} patient(s), "
                  f"{n_days} patient-day(s) ({n_na} not gradable)")
    n_unknown = int(o["severe_crs"].isna().sum())
    has_icans = icans_assessed(cohort)
    console.print(f"  any CRS {n_any}/{n_graded} gradable patients, severe CRS (grade >= "
                  f"{result.settings.severe_grade}) {n_severe}"
                  + (f" (unknown for {n_unknown})" if n_unknown else "")
                  + (f", any ICANS {n_icans}" if has_icans else
                     "; ICANS not assessed (no ICE, CAPD, consciousness, seizure, motor or "
                     "cerebral-oedema events nor recorded ICANS grades)"))
    sources = o["grade_source"].value_counts().to_dict()
    console.print("  grade source: " + grade_sources_text(sources))
    if len(result.disagreements):
        console.print(f"  {len(result.disagreements)} disagreement(s) with the centre's "
                      "recorded grades: see disagreements.csv")
    if result.problems:
        err_console.print(f"[yellow]{len(result.problems)} input row(s) made a day not "
                          "gradable: see problems.csv[/]")
    for warning in result.warnings:
        err_console.print("[bold yellow]Warning:[/] ", end="")
        err_console.print(warning, markup=False)
    for note in result.notes:
        err_console.print(f"note: {note}", markup=False)
    console.print(f"Written to {out}/ (daily_grades.csv, outcomes.csv, disagreements.csv, "
                  "problems.csv)")
    write_json(json_path, {
        "system": system, "icans_system": "astct", "synthetic": cohort.synthetic,
        "data_hash": cohort.data_hash(), "settings": result.settings.to_dict(),
        "n_patients": n, "n_patient_days": n_days, "n_days_not_gradable": n_na,
        "n_any_crs": n_any, "n_severe_crs": n_severe, "n_severe_crs_unknown": n_unknown,
        "n_any_icans": n_icans if has_icans else None, "icans_assessed": has_icans,
        "warnings": result.warnings,
        "missing_tables": list(cohort.missing_tables),
        "grade_source": sources, "n_disagreements": len(result.disagreements),
        "problems": [p.to_dict() for p in result.problems], "notes": result.notes,
        "summary": result.summary(),
        "outputs": {k: str(out / f"{k}.csv") for k in ("daily_grades", "outcomes",
                                                     "disagreements", "problems")},
    }, command="grade")
