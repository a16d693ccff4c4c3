"""``crsscore simulate`` and ``crsscore landmark``: the synthetic cohort and landmark tables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from crsscore.cli._common import (
    SYNTHETIC_BANNER,
    Implausible,
    app,
    console,
    err_console,
    frame_table,
    friendly_errors,
    load_data,
    write_json,
)


@app.command()
@friendly_errors
def simulate(
    out: Annotated[Path, typer.Option("--out", file_okay=False, dir_okay=True,
                                      help="Folder for patients, observations, events and "
                                           "SYNTHETIC.txt.")],
    n: Annotated[int, typer.Option("--n", min=1, help="Number of simulated patients.")] = 125,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of every random step.")] = 1,
    fmt: Annotated[str, typer.Option("--format", help="csv or parquet.")] = "csv",
    json_path: Annotated[Path | None, typer.Option("--json", help="Also write a JSON summary "
                                                                  "('-' for standard output).")
                         ] = None,
) -> None:
    """Write a SYNTHETIC cohort (raw daily events and labs) in the canonical format."""
    from crsscore.data.simulate import simulate as run_simulation
    from crsscore.data.simulate import write_cohort

    if fmt not in ("csv", "parquet"):
        raise typer.BadParameter(f"--format must be csv or parquet, not {fmt!r}")
    sim = run_simulation(n, seed)
    cohort = sim.cohort
    paths = write_cohort(cohort, out, format=fmt)  # type: ignore[arg-type]
    console.print(SYNTHETIC_BANNER)
    t = sim.truth
    n_any = int((t["crs_max_grade"] >= 1).sum())
    n_severe = int(t["severe_crs"].sum())
    console.print(f"Simulated {cohort.n_patients} patients (seed {seed}): "
                  f"{len(cohort.observations)} observations, {len(cohort.events)} events")
    console.print(f"  generator's intended CRS: any {n_any} ({100 * n_any / max(n, 1):.1f}%, "
                  f"study 67.2%), severe {n_severe} ({100 * n_severe / max(n, 1):.1f}%, "
                  "study 13.6%)")
    console.print("  the grade is not stored: derive it with `crsscore grade` (ASTCT 2019)")
    console.print(f"Written to {out}/ ({', '.join(p.name for p in paths)})")
    write_json(json_path, {
        "synthetic": True, "n_patients": cohort.n_patients, "seed": seed, "format": fmt,
        "n_observations": len(cohort.observations), "n_events": len(cohort.events),
        "intended_any_crs": n_any, "intended_severe_crs": n_severe,
        "data_hash": cohort.data_hash(), "outputs": [str(p) for p in paths],
    }, command="simulate")


@app.command()
@friendly_errors
def landmark(
    data: Annotated[Path, typer.Argument(help="Cohort folder in the canonical format, or a "
                                              "centre's export with --mapping.")],
    out: Annotated[Path, typer.Option("--out", dir_okay=False,
                                      help="CSV file for the landmark table.")],
    mapping: Annotated[Path | None, typer.Option("--mapping", help="Mapping file from the "
                                                                   "centre's export.")] = None,
    implausible: Implausible = "refuse",
    landmark: Annotated[str, typer.Option("--landmark", help="pre-ld, day0, day3, day7, any "
                                                             "dayN (day-1) or a number of "
                                                             "days.")] = "day7",
    window: Annotated[float, typer.Option("--window", min=0.0,
                                          help="Days either side of the landmark.")] = 1.0,
    prior_outcome: Annotated[str, typer.Option("--prior-outcome",
                                               help="exclude or keep patients whose severe "
                                                    "CRS began before the landmark.")
                             ] = "exclude",
    analytes: Annotated[str | None, typer.Option("--analytes", help="Comma-separated analyte "
                                                                    "codes (default: all).")
                        ] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="Also write a JSON summary "
                                                                  "('-' for standard output).")
                         ] = None,
) -> None:
    """One row per patient with the value of each analyte nearest the landmark."""
    from crsscore.atomicio import ensure_folder, write_csv
    from crsscore.data.landmark import build_landmark_table, parse_landmark

    if prior_outcome not in ("exclude", "keep"):
        raise typer.BadParameter(f"--prior-outcome must be exclude or keep, not "
                                 f"{prior_outcome!r}")
    try:
        parse_landmark(landmark, window=window)  # refuse a bad landmark before reading data
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    codes = [a.strip() for a in analytes.split(",") if a.strip()] if analytes else None
    cohort = load_data(data, mapping, implausible)
    outcomes, source = _outcomes(cohort)
    try:
        table = build_landmark_table(cohort, landmark, window=window, analytes=codes,
                                     outcomes=outcomes,
                                     prior_outcome="keep" if prior_outcome == "keep"
                                     else "exclude")
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    ensure_folder(out.parent)
    write_csv(out, table.data)
    if cohort.synthetic:
        console.print(SYNTHETIC_BANNER)
    for line in str(table).splitlines():
        if not line.startswith("SYNTHETIC"):
            console.print(line, markup=False)
    console.print(f"  outcomes: {source}")
    summary = table.summary()
    console.print(frame_table(summary, f"Values at {table.landmark} (canonical units)",
                              digits=2))
    for note in table.notes:
        if not note.startswith("SYNTHETIC"):
            err_console.print(f"note: {note}", markup=False)
    excluded_path = out.with_name(out.stem + "_excluded.csv")
    if len(table.excluded) or len(table.flagged):
        listed = table.excluded.assign(status="excluded")
        if len(table.flagged):
            import pandas as pd

            listed = pd.concat([listed, table.flagged.assign(status="kept, flagged")],
                               ignore_index=True)
        write_csv(excluded_path, listed)
        console.print(f"Patients left out or flagged, with reasons: {excluded_path}")
    console.print(f"Written to {out}")
    payload: dict[str, Any] = {**table.to_dict(), "outcome_source": source,
                               "data_hash": cohort.data_hash(), "output": str(out)}
    write_json(json_path, payload, command="landmark")


def _outcomes(cohort: Any) -> tuple[Any, str]:
    """Outcomes from the grading engine (ASTCT 2019) when it is available."""
    try:
        from crsscore.grading import grade_cohort
    except ImportError:  # pragma: no cover - the grading package ships with crsscore
        return None, "none (grading engine not available): no patient excluded"
    result = grade_cohort(cohort, system="astct")
    counts = result.outcomes["grade_source"].value_counts().to_dict()
    text = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    return result.outcomes, f"ASTCT 2019 grades ({text})"
