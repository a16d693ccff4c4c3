"""``crsscore report``: derive, validate, compare and write the TRIPOD+AI report.

The report takes every derivation option ``crsscore derive`` takes (one definition in
:mod:`crsscore.cli._derive_options`), or a score card made by ``derive`` (``--scorecard``),
whose recorded options are used again on the same data.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated

import typer

from crsscore.cli import _derive_options as O
from crsscore.cli._common import (
    SYNTHETIC_BANNER,
    Implausible,
    app,
    console,
    friendly_errors,
    load_data,
    write_json,
)
from crsscore.errors import CrsscoreError, CrsscoreWarning


@app.command()
@friendly_errors
@O.derive_options
def report(
    data: Annotated[Path, typer.Argument(help="Cohort folder or file.")],
    out: Annotated[Path, typer.Option("--out", help="HTML report to write (tables go to report_tables/ beside it).")],
    mapping: Annotated[Path | None, typer.Option("--mapping", help="TOML mapping file for a centre's own export.")] = None,
    implausible: Implausible = "refuse",
    scorecard: Annotated[Path | None, typer.Option("--scorecard", help="A score card made by 'crsscore derive' on these data: the report derives it again with the options it records (other derivation options are then not allowed).")] = None,
    opts: O.DeriveOptions = O.DeriveOptions(),
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples of the whole pipeline (validation and calibration; 0: none).")] = 200,
    jobs: O.Jobs = 1,
    pdf: Annotated[bool, typer.Option("--pdf", help="Also print the report to PDF with headless Chromium.")] = False,
    builtin: Annotated[bool, typer.Option(help="Compare with the built-in published scores.")] = True,
    dynamic: Annotated[bool, typer.Option("--dynamic/--no-dynamic", help="Also derive the daily model of severe CRS within the next 1-3 days and add its section (validation with --bootstrap patient resamples, and a replay).")] = False,
    dynamic_threshold: Annotated[float, typer.Option("--dynamic-threshold", min=0.0, max=1.0, help="Risk (h = 2 days) at which the replay raises an alert.")] = 0.1,
    at: Annotated[list[str] | None, typer.Option("--at", help="Evaluate the published scores at another timepoint than theirs (e.g. day0; 'm-easix=day0' for one); the report labels it a DEVIATION.")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Machine-readable summary ('-' for stdout).")] = None,
) -> None:
    """Write a self-contained TRIPOD+AI report (HTML, optionally PDF) of a derived score."""
    from crsscore.cli.compare_cmd import parse_at, run_comparison
    from crsscore.report import build_report
    from crsscore.scores.builtin import builtin_scorecards
    from crsscore.workflow import cohort_outcomes, derive

    if bootstrap < 0:
        raise CrsscoreError(f"--bootstrap must be 0 or a positive number of resamples; got {bootstrap}")
    if out.suffix.lower() not in (".html", ".htm"):
        raise CrsscoreError(f"--out must name an .html file; got {out}")
    seed = opts.seed
    given = None
    if scorecard is not None:
        from crsscore.cli.derive_cmds import _load_card

        given = _load_card(scorecard)
        if opts != O.DeriveOptions(seed=seed):
            raise CrsscoreError("--scorecard brings its own derivation options: leave out "
                                "--candidates, --landmark and the other derivation options, "
                                "or leave out --scorecard")
        opts = O.options_from_card(given)
    opts.check()
    at_spec = parse_at(at)
    cohort = load_data(data, mapping, implausible)
    if given is not None and given.provenance.data_hash not in (None, cohort.data_hash()):
        raise CrsscoreError(f"score card {given.id!r} was derived on other data (data hash "
                            "differs; check --mapping and --implausible are as in derive): "
                            "'crsscore validate DATA --scorecard' validates a card on new data")
    if cohort.synthetic:
        console.print(SYNTHETIC_BANNER)
    oc = cohort_outcomes(cohort)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CrsscoreWarning)
        run = derive(cohort, bootstrap=bootstrap, n_jobs=jobs, progress=bootstrap > 0,
                     outcomes=oc, **opts.derive_kwargs())
    run.scorecard = O.record_options(run.scorecard, opts)
    if given is not None and [v.model_dump() for v in given.variables] != [
            v.model_dump() for v in run.scorecard.variables]:
        raise CrsscoreError(f"score card {given.id!r} is not what its recorded options give on "
                            "these data (edited, or made by another crsscore version): derive "
                            "it again with 'crsscore derive', or report without --scorecard")
    published = list(builtin_scorecards().values()) if builtin else []
    if isinstance(at_spec, str):  # the derived score stays at its own landmark
        at_spec = {c.id: at_spec for c in published}
    cards = [run.scorecard, *published]
    comp, _n_early, _notes = run_comparison(cohort, cards, landmark=None, reference=run.scorecard.id,
                                            outcomes=oc, at=at_spec)
    dyn = _dynamic_report(cohort, oc.daily, bootstrap=bootstrap, seed=seed, jobs=jobs,
                          threshold=dynamic_threshold) if dynamic else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CrsscoreWarning)
        path = build_report(cohort, out, run=run, comparison=comp, pdf=pdf,
                            dynamic=dyn)
    console.print(f"Report -> [bold]{path}[/] (tables in {path.parent / 'report_tables'})")
    if pdf:
        console.print(f"PDF -> [bold]{path.with_suffix('.pdf')}[/]")
    write_json(json_out, {"report": str(path), "pdf": str(path.with_suffix(".pdf")) if pdf else None,
                          "tables": str(path.parent / "report_tables"), **run.to_dict()},
               command="report")


def _dynamic_report(cohort: object, daily: object, *, bootstrap: int, seed: int, jobs: int,
                    threshold: float) -> object:
    """The daily model, its patient-clustered validation and a replay, for the report.

    ``daily`` are the grades the report already has (graded once, not again here).
    """
    from crsscore.modeling.dynamic import fit_dynamic
    from crsscore.modeling.persondays import build_person_days
    from crsscore.validation.dynamic import DynamicReport, replay, validate_dynamic

    console.print("Daily model (severe CRS within 1-3 days) ...")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CrsscoreWarning)
        pdays = build_person_days(cohort, daily)  # type: ignore[arg-type]
        model = fit_dynamic(pdays, horizons=(1, 2, 3), seed=seed)
        val = validate_dynamic(model, pdays, B=bootstrap, seed=seed, jobs=jobs)
        card = model.to_card(validation=val.to_dict())
        return DynamicReport(card=card, validation=val,
                             replay=replay(card, pdays, threshold=threshold, horizon=2))
