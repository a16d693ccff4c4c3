"""``crsscore derive`` and ``crsscore score``: build a score card, and use it on a cohort."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from crsscore.cli import _derive_options as O
from crsscore.cli._common import (
    SYNTHETIC_BANNER,
    Implausible,
    app,
    console,
    frame_table,
    friendly_errors,
    load_data,
    write_json,
)
from crsscore.errors import CrsscoreError, CrsscoreWarning

STUDY_AUC = 0.875

Mapping = Annotated[Path | None, typer.Option("--mapping", help="TOML mapping file for a centre's own export.")]
JsonOut = Annotated[Path | None, typer.Option("--json", help="Write machine-readable output here ('-' for stdout).")]

if TYPE_CHECKING:
    import pandas as pd


def risk_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The score-to-risk table as printed: each reachable total once, risk as a readable %."""
    import pandas as pd

    def pct(p: float) -> str:
        if p < 0.001:
            return "< 0.1 %"
        if p > 0.999:
            return "> 99.9 %"
        return f"{100 * p:.1f} %"

    return pd.DataFrame({"total": [str(int(t)) for t in table["total"]],
                         "risk": [pct(float(p)) for p in table["probability"]]})


def print_derivation(run: Any, *, show_table1: bool = True) -> None:
    """Print a derivation run (shared by ``derive`` and ``demo``)."""
    import pandas as pd

    m = run.model
    if run.synthetic:
        console.print(SYNTHETIC_BANNER)
    lt = run.landmark
    console.print(
        f"Landmark [bold]{lt.landmark_day:g}[/] (day since infusion): {run.n_analysed} patients "
        f"analysed, {run.events} with severe CRS; {lt.n_prior_outcome} had severe CRS before the "
        f"landmark and were {'excluded' if lt.policy == 'exclude' else 'kept (flagged)'}.")
    if show_table1:
        t1 = run.table1.to_frame()
        console.print(frame_table(t1.fillna(""), "Table 1 by outcome"))
    uni = run.univariable
    cols = [c for c in uni.columns if c in ("variable", "transform", "n", "n_missing", "events", "OR")
            or c.startswith("OR lower") or c.startswith("OR upper") or c in ("p", "AUC")]
    console.print(frame_table(uni[cols], "Univariable logistic regression"))
    if getattr(m, "continuous_", None) is not None:
        console.print(frame_table(m.continuous_.summary(),
                                  f"Multivariable model ({'Firth' if m.method_ == 'firth' else 'ML'}, "
                                  f"continuous reference, m={m.continuous_.m} imputation(s))"))
    for note in m.notes_:
        console.print(f"  [dim]- {note}[/]")
    sheet = m.score_sheet()
    console.print(frame_table(sheet[[c for c in ("variable", "unit", "range", "points") if c in sheet]],
                              "Score sheet (points)"))
    rg = pd.DataFrame([g.__dict__ for g in m.risk_groups_])
    console.print(frame_table(rg, f"Risk groups (observed, n={m.risk_group_n_} with every input measured)"))
    console.print(frame_table(risk_rows(m.risk_table()),
                              "Total points -> risk of severe CRS (each reachable total)"))
    cont = m.auc_continuous_apparent_
    console.print(
        f"Apparent AUC: point score [bold]{m.auc_points_apparent_:.3f}[/]"
        + (f", continuous model {cont:.3f} (points lose {m.auc_loss_:.3f})" if cont == cont else "")
        # the study's figure belongs beside its simulated replica, never a centre's own results
        + (f"; the study reported {STUDY_AUC} (apparent)." if run.synthetic else "."))
    if run.validation is not None:
        v = run.validation
        tab = v.to_frame()
        console.print(frame_table(tab.reset_index().rename(columns={"index": "index"}),
                                  f"Bootstrap validation of the whole pipeline (B={v.B}, seed={v.seed}, "
                                  f"failed fits {v.n_failed})", digits=4))
        console.print(
            f"Optimism-corrected AUC [bold]{tab.loc['AUC', 'index.corrected']:.3f}[/] "
            f"(apparent {tab.loc['AUC', 'index.orig']:.3f}); calibration slope "
            f"[bold]{tab.loc['Slope', 'index.corrected']:.3f}[/].")
    verdict = run.scorecard.sample_size
    if verdict is not None and not verdict.ok:
        console.print(f"[yellow]Sample size:[/] {verdict.message}")
    for w in dict.fromkeys(run.warnings):
        if verdict is not None and w == verdict.message:
            continue
        console.print(f"[yellow]Warning:[/] {w}")


@app.command()
@friendly_errors
def derive(
    data: Annotated[Path, typer.Argument(help="Cohort folder or file.")],
    out: Annotated[Path, typer.Option("--out", help="Score card JSON to write.")],
    mapping: Mapping = None,
    implausible: Implausible = "refuse",
    landmark: O.Landmark = "day7",
    window: O.Window = 1.0,
    prior_outcome: O.PriorOutcome = "exclude",
    candidates: O.Candidates = None,
    method: O.Method = "auto",
    select: O.Select = "backward",
    rule: O.Rule = "aic",
    cutpoints: O.Cutpoints = "points",
    bands: O.Bands = 3,
    max_points: O.MaxPoints = 20,
    splines: O.Splines = "none",
    knots: O.Knots = 3,
    shrinkage: O.Shrinkage = "heuristic",
    missing: O.Missing = "mice",
    imputations: O.Imputations = 5,
    allow_small_sample: O.AllowSmallSample = False,
    points: O.Points = "sullivan",
    max_features: O.MaxFeatures = 5,
    certify: Annotated[float, typer.Option(help="Learned points: seconds for an exact check that no integer score fits better (support enumeration, else MIP; 0: no check).")] = 0.0,
    bootstrap: Annotated[int, typer.Option(min=0, help="Bootstrap resamples for internal validation (0: none).")] = 0,
    seed: O.Seed = 0,
    jobs: O.Jobs = 1,
    scheduler: Annotated[str | None, typer.Option(help="Dask scheduler address (tcp://host:port).")] = None,
    json_out: JsonOut = None,
) -> None:
    """Derive a point score at a landmark (the study's method, done right) and write its score card."""
    from crsscore.workflow import derive as run_derive

    opts = O.DeriveOptions(
        landmark=landmark, window=window, prior_outcome=prior_outcome, candidates=candidates,
        method=method, select=select, rule=rule, cutpoints=cutpoints, bands=bands,
        max_points=max_points, splines=splines, knots=knots, shrinkage=shrinkage,
        missing=missing, imputations=imputations, points=points, max_features=max_features,
        seed=seed, allow_small_sample=allow_small_sample)
    opts.check()
    cohort = load_data(data, mapping, implausible)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CrsscoreWarning)
        run = run_derive(cohort, bootstrap=bootstrap, n_jobs=jobs, scheduler=scheduler,
                         progress=bootstrap > 0, certify=certify, **opts.derive_kwargs())
    card = O.record_options(run.scorecard, opts)
    run.scorecard = card
    card.to_json(out)
    print_derivation(run)
    console.print(f"Score card written to [bold]{out}[/]")
    write_json(json_out, {"scorecard": str(out), **run.summary(),
                          "univariable": run.univariable, "score_sheet": run.model.score_sheet(),
                          "table1": run.table1.to_frame()}, command="derive")


def _choice(name: str, value: str, options: tuple[str, ...]) -> None:
    O.choice(name, value, options)


@app.command()
@friendly_errors
def score(
    data: Annotated[Path, typer.Argument(help="Cohort folder or file.")],
    scorecard: Annotated[Path, typer.Option("--scorecard", help="Score card JSON (or a built-in id).")],
    out: Annotated[Path, typer.Option("--out", help="CSV of scores to write.")],
    mapping: Mapping = None,
    implausible: Implausible = "refuse",
    json_out: JsonOut = None,
) -> None:
    """Score every patient of a cohort with a score card (batch scoring)."""
    from crsscore.scores.extract import card_inputs, score_cohort

    card = _load_card(scorecard)
    cohort = load_data(data, mapping, implausible)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CrsscoreWarning)
        inputs = card_inputs(card, cohort)
        scored = score_cohort(card, cohort, inputs=inputs)
    from crsscore.atomicio import write_csv

    write_csv(out, scored)  # atomic, formula cells neutralised
    n_scored = int(scored["total"].notna().sum())
    if cohort.synthetic:
        console.print(SYNTHETIC_BANNER)
    console.print(f"Scored {n_scored} of {len(scored)} patients with '{card.name}' -> {out}")
    for w in caught:
        console.print(f"[yellow]Warning:[/] {w.message}")
    groups = scored["risk_group"].value_counts(dropna=False)
    write_json(json_out, {"scorecard": card.id, "n": len(scored), "n_scored": n_scored,
                          "risk_groups": {str(k): int(v) for k, v in groups.items()},
                          "inputs": inputs.summary(), "out": str(out)}, command="score")


def _load_card(ref: Path) -> Any:
    from crsscore.scores.builtin import builtin_ids, get_builtin
    from crsscore.scores.scorecard import ScoreCard

    if not ref.exists() and str(ref) in builtin_ids():
        return get_builtin(str(ref))
    if not ref.exists():
        raise CrsscoreError(f"score card not found: {ref} (built-in ids: {', '.join(builtin_ids())})")
    return ScoreCard.from_json(ref)


