"""``crsscore report``: derive, validate, compare and write the TRIPOD+AI report."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated

import typer

from crsscore.cli._common import SYNTHETIC_BANNER, app, console, friendly_errors, write_json
from crsscore.errors import CrsscoreError, CrsscoreWarning


@app.command()
@friendly_errors
def report(
    data: Annotated[Path, typer.Argument(help="Cohort folder or file.")],
    out: Annotated[Path, typer.Option("--out", help="HTML report to write (tables go to report_tables/ beside it).")],
    mapping: Annotated[Path | None, typer.Option("--mapping", help="TOML mapping file for a centre's own export.")] = None,
    landmark: Annotated[str, typer.Option(help="pre-ld, day0, day3, day7 or dayN.")] = "day7",
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples of the whole pipeline (validation and calibration; 0: none).")] = 200,
    seed: Annotated[int, typer.Option(help="Seed of every random step.")] = 0,
    jobs: Annotated[int, typer.Option(help="Local worker processes for the bootstraps.")] = 1,
    pdf: Annotated[bool, typer.Option("--pdf", help="Also print the report to PDF with headless Chromium.")] = False,
    builtin: Annotated[bool, typer.Option(help="Compare with the built-in published scores.")] = True,
    allow_small_sample: Annotated[bool, typer.Option("--allow-small-sample", help="Derive even below the sample-size floor (fewer than 10 events, or 10x below Riley's minimum); the report says so.")] = False,
    json_out: Annotated[Path | None, typer.Option("--json", help="Machine-readable summary ('-' for stdout).")] = None,
) -> None:
    """Write a self-contained TRIPOD+AI report (HTML, optionally PDF) of a derived score."""
    from crsscore.cli.compare_cmd import run_comparison
    from crsscore.data.io import load_cohort
    from crsscore.modeling.derivation import DerivationSettings
    from crsscore.report import build_report
    from crsscore.scores.builtin import builtin_scorecards
    from crsscore.workflow import cohort_outcomes, derive

    if bootstrap < 0:
        raise CrsscoreError(f"--bootstrap must be 0 or a positive number of resamples; got {bootstrap}")
    if out.suffix.lower() not in (".html", ".htm"):
        raise CrsscoreError(f"--out must name an .html file; got {out}")
    cohort = load_cohort(data, mapping)
    if cohort.synthetic:
        console.print(SYNTHETIC_BANNER)
    oc = cohort_outcomes(cohort)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CrsscoreWarning)
        run = derive(cohort, landmark=landmark, settings=DerivationSettings(seed=seed),
                     bootstrap=bootstrap, seed=seed, n_jobs=jobs, progress=bootstrap > 0,
                     outcomes=oc, allow_small_sample=allow_small_sample)
    cards = [run.scorecard, *(builtin_scorecards().values() if builtin else [])]
    comp, _n_early, _notes = run_comparison(cohort, cards, landmark=None, reference=run.scorecard.id,
                                            outcomes=oc)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CrsscoreWarning)
        path = build_report(cohort, out, run=run, comparison=comp, pdf=pdf, n_jobs=jobs)
    console.print(f"Report -> [bold]{path}[/] (tables in {path.parent / 'report_tables'})")
    if pdf:
        console.print(f"PDF -> [bold]{path.with_suffix('.pdf')}[/]")
    write_json(json_out, {"report": str(path), "pdf": str(path.with_suffix(".pdf")) if pdf else None,
                          "tables": str(path.parent / "report_tables"), **run.summary()},
               command="report")
