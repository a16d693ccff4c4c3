"""``crsscore demo``: the whole pipeline on the embedded synthetic cohort.

simulate -> write the canonical folder -> load it back -> check -> grade -> landmark table
-> derive the study's score (with bootstrap validation of the whole pipeline) -> compare with
the published scores -> write the report.  Every step is the same code the other commands run.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated

import typer

from crsscore.cli._common import (
    SYNTHETIC_BANNER,
    app,
    console,
    frame_table,
    friendly_errors,
    write_json,
)
from crsscore.errors import CrsscoreWarning


@app.command()
@friendly_errors
def demo(
    out: Annotated[Path, typer.Option("--out", help="Folder for everything the demo writes.")] = Path("demo-output"),
    n: Annotated[int, typer.Option(help="Simulated patients.")] = 125,
    seed: Annotated[int, typer.Option(help="Seed of the simulation and every random step.")] = 1,
    landmark: Annotated[str, typer.Option(help="Landmark of the derived score.")] = "day7",
    prior_outcome: Annotated[str, typer.Option(
        help="keep (as the study did, flagged) or exclude patients with severe CRS before the landmark.")] = "keep",
    bootstrap: Annotated[int, typer.Option(min=0, help="Bootstrap resamples of the whole pipeline.")] = 200,
    jobs: Annotated[int, typer.Option(help="Worker processes for the bootstrap.")] = 2,
    report: Annotated[bool, typer.Option(help="Write the HTML report at the end.")] = True,
    json_out: Annotated[Path | None, typer.Option("--json", help="Machine-readable summary.")] = None,
) -> None:
    """Run the whole pipeline on a SYNTHETIC cohort calibrated to the 2025 study's figures."""
    import pandas as pd

    from crsscore.atomicio import ensure_folder
    from crsscore.cli.compare_cmd import print_comparison, run_comparison
    from crsscore.cli.derive_cmds import print_derivation
    from crsscore.data.check import check_cohort
    from crsscore.data.io import load_cohort
    from crsscore.data.simulate import simulate_cohort, write_cohort
    from crsscore.modeling.derivation import DerivationSettings
    from crsscore.scores.builtin import builtin_scorecards
    from crsscore.workflow import cohort_outcomes, derive

    ensure_folder(out)
    console.print(SYNTHETIC_BANNER)
    console.rule("1. Simulate")
    sim = simulate_cohort(n=n, seed=seed)
    cohort_dir = out / "cohort"
    write_cohort(sim, cohort_dir)
    console.print(f"Simulated {sim.n_patients} patients (seed {seed}) -> {cohort_dir}")

    console.rule("2. Load and check")
    cohort = load_cohort(cohort_dir)
    report_q = check_cohort(cohort)
    console.print(f"{report_q.counts.get('patients', cohort.n_patients)} patients, "
                  f"{len(cohort.observations)} observations, {len(cohort.events)} events; "
                  f"{len(report_q.errors)} error(s), {len(report_q.warnings)} warning(s)")

    console.rule("3. Grade CRS (ASTCT 2019) from raw observations")
    oc = cohort_outcomes(cohort)
    grades = oc.frame["crs_max_grade"].value_counts(dropna=False).sort_index()
    dist = pd.DataFrame({"max CRS grade": [str(k) for k in grades.index], "patients": grades.to_numpy(),
                         "%": 100 * grades.to_numpy() / len(oc.frame)})
    console.print(frame_table(dist, "Maximum CRS grade per patient", digits=1))
    any_crs = float((oc.frame["crs_max_grade"].fillna(0) >= 1).mean())
    severe = float(oc.frame["severe_crs"].mean())
    from crsscore.cli.grade_cmd import grade_sources_text, icans_assessed

    n_icans = int((oc.frame["icans_max_grade"] >= 1).sum()) if "icans_max_grade" in oc.frame else 0
    icans = (f"; any ICANS {n_icans}" if icans_assessed(cohort)
             else "; ICANS not assessed (no ICANS data)")
    console.print(f"Any CRS {100 * any_crs:.1f}% (study 67.2%), severe CRS {100 * severe:.1f}% "
                  f"(study 13.6%){icans}; grade source: {grade_sources_text(oc.source_counts)}")

    console.rule(f"4-5. Landmark {landmark}, derivation and bootstrap validation (B={bootstrap})")
    settings = DerivationSettings(seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CrsscoreWarning)
        run = derive(cohort, landmark=landmark, settings=settings, bootstrap=bootstrap, seed=seed,
                     n_jobs=jobs, progress=bootstrap > 0, outcomes=oc, prior_outcome=prior_outcome)
    print_derivation(run, show_table1=False, banner=False)  # the banner opened the demo
    if prior_outcome == "keep" and run.landmark.n_prior_outcome:
        console.print(
            f"[yellow]Timing:[/] {run.landmark.n_prior_outcome} of {run.events} severe-CRS patients "
            f"were already severe before {landmark}; like the study, this replica keeps them, so "
            "the day-7 labs are partly concurrent markers of the outcome, not predictors of it. "
            f"Run with --prior-outcome exclude (or an earlier --landmark) for a true prediction model.")
    card_path = out / "scorecard.json"
    run.scorecard.to_json(card_path)
    console.print(f"Score card -> {card_path}")

    console.rule("6. Published scores head to head")
    cards = [run.scorecard, *builtin_scorecards().values()]
    comp, n_early, notes = run_comparison(cohort, cards, landmark=None,
                                          reference=run.scorecard.id, outcomes=oc)
    print_comparison(comp, n_early, None, notes)

    report_path = None
    if report:
        from crsscore.report import build_report

        console.rule("7. Report")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CrsscoreWarning)
            report_path = build_report(cohort, out / "report.html", run=run, comparison=comp)
        console.print(f"Report -> [bold]{report_path}[/] (tables in {out / 'report_tables'})")
    write_json(json_out, {"synthetic": True, "n": n, "seed": seed, "any_crs": any_crs,
                          "severe_crs": severe, **run.to_dict(),
                          "comparison": comp.to_dict(), "scorecard": str(card_path),
                          "report": str(report_path) if report_path else None}, command="demo")
