"""Dynamic (daily) model commands: ``derive-dynamic``, ``score-dynamic``, ``monitor replay``.

``monitor`` is a typer sub-app (:data:`monitor_app`) so that other monitoring commands
(``monitor serve``, ``monitor import``) can register on it::

    from crsscore.cli.dynamic_cmds import monitor_app

    @monitor_app.command("serve")
    def serve(...): ...
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

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
from crsscore.errors import CrsscoreError

Mapping = Annotated[Path | None, typer.Option("--mapping", help="TOML mapping file for a centre's own export.")]
JsonOut = Annotated[Path | None, typer.Option("--json", help="Write machine-readable output here ('-' for stdout).")]

monitor_app = typer.Typer(
    name="monitor", help="The ward monitor: serve it, import data, manage tokens, or replay a cohort (a silent trial).",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
app.add_typer(monitor_app, name="monitor")


def parse_horizons(text: str) -> list[int]:
    try:
        hs = sorted({int(p) for p in text.replace(" ", "").split(",") if p})
    except ValueError:
        raise CrsscoreError(f"--horizons must be whole days separated by commas (1,2,3); "
                            f"got {text!r}") from None
    if not hs or hs[0] < 1 or hs[-1] > 14:
        raise CrsscoreError(f"--horizons must be whole days from 1 to 14; got {text!r}")
    return hs


def _shown(inputs: Any) -> Any:
    """The person-day table of ``inputs`` (:class:`crsscore.workflow.DynamicInputs`), after
    printing the grading warnings met while building it."""
    for w in inputs.warnings:
        console.print(f"[yellow]Warning:[/] {w}")
    return inputs.pdays


def _load_dynamic_card(path: Path) -> Any:
    from crsscore.scores.dynamic_card import DynamicScoreCard

    if not path.exists():
        raise CrsscoreError(f"dynamic card not found: {path}")
    return DynamicScoreCard.from_json(path)


def print_validation(val: Any, horizons: list[int]) -> None:
    """Per horizon: the AUC table, the AUC gain and the calibration of the dynamic model."""
    shown = {"dynamic": "dynamic", "comparator": "grade alone", "baseline": "baseline"}
    for h in horizons:
        rows = val.auc_table(h).drop(columns=["horizon"])
        rows["model"] = rows["model"].map(shown)
        console.print(frame_table(rows, f"Horizon {h} day(s): AUC (patient-clustered "
                                        f"optimism correction, B = {val.B})"))
        console.print(frame_table(val.gain_table(h).drop(columns=["horizon"]),
                                  f"Horizon {h}: AUC gain of the dynamic model"))
        console.print(frame_table(val.calibration_table(h).drop(columns=["horizon"]),
                                  f"Horizon {h}: calibration and Brier (dynamic model)"))


def print_points(pm: Any) -> None:
    import pandas as pd

    rows = [{"variable": v.label + (f" ({v.unit})" if v.unit else ""), "band": lab,
             "points": pt}
            for v in pm.variables for lab, pt in zip(v.band_labels, v.points, strict=False)]
    console.print(frame_table(pd.DataFrame(rows), f"Integer points, horizon {pm.horizon} "
                                                  "day(s) (missing value: 0 points)",
                              max_rows=80))
    console.print(f"Points version, horizon {pm.horizon}: apparent AUC {pm.auc_points:.3f} vs "
                  f"{pm.auc_continuous:.3f} for the continuous model (same person-days); "
                  f"risk = expit({pm.intercept:.3f} + {pm.slope:.3f} x total)")


@app.command("derive-dynamic")
@friendly_errors
def derive_dynamic(
    data: Annotated[Path, typer.Argument(help="Cohort folder or file.")],
    out: Annotated[Path, typer.Option("--out", help="Dynamic score card JSON to write.")],
    horizons: Annotated[str, typer.Option("--horizons", help="Horizons in days, e.g. 1,2,3.")] = "1,2,3",
    bootstrap: Annotated[int, typer.Option("--bootstrap", min=0, help="Patient-clustered bootstrap resamples (0: apparent only).")] = 200,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the folds and resamples.")] = 1,
    analytes: Annotated[str, typer.Option("--analytes", help="Analytes (latest value and 1-2 day change).")] = "crp,ferritin,il6,temp",
    window: Annotated[float, typer.Option("--window", help="Days a measurement stays the latest value.")] = 2.0,
    last_day: Annotated[int, typer.Option("--last-day", help="Last day since infusion with person-days.")] = 14,
    jobs: Annotated[int, typer.Option("--jobs", min=1, help="Threads for the bootstrap.")] = 1,
    points: Annotated[bool, typer.Option("--points/--no-points", help="Also write an integer-points version per horizon (apparent AUC shown beside the continuous model's).")] = False,
    mapping: Mapping = None,
    implausible: Implausible = "refuse",
    json_out: JsonOut = None,
) -> None:
    """Derive the daily model of severe CRS within the next h days and write its card."""
    from crsscore.modeling.dynamic import fit_dynamic, fit_points
    from crsscore.validation.dynamic import validate_dynamic
    from crsscore.workflow import dynamic_person_days

    hs = parse_horizons(horizons)
    codes = [a.strip() for a in analytes.split(",") if a.strip()]
    cohort = load_data(data, mapping, implausible)
    pdays = _shown(dynamic_person_days(cohort, horizons=hs, analytes=codes, window=window,
                                       first_day=0, last_day=last_day))
    if cohort.synthetic:
        console.print(SYNTHETIC_BANNER)
    console.print(f"Person-days: {len(pdays.data)} rows, {pdays.data['patient_id'].nunique()} "
                  f"patients, days 0-{last_day}; grades: {pdays.grade_source}")
    console.print(f"Censoring: {pdays.censoring}")
    console.print(frame_table(pdays.counts(), "Person-days per horizon"))
    model = fit_dynamic(pdays, horizons=hs, seed=seed)
    val = validate_dynamic(model, pdays, B=bootstrap, seed=seed, jobs=jobs)
    pts = [fit_points(pdays, h, continuous=model) for h in hs] if points else []
    card = model.to_card(validation=val.to_dict(), points=pts)
    card.to_json(out)
    print_validation(val, hs)
    if pts:
        print_points(pts[len(pts) // 2])
    for note in [*pdays.notes, *model.notes, *val.notes]:
        console.print(f"  [dim]- {note}[/]")
    console.print(f"Dynamic card written to [bold]{out}[/]")
    write_json(json_out, {"card": str(out), "person_days": pdays.to_dict(),
                          "penalty": {str(h): lam for h, lam in model.penalties().items()},
                          "validation": val.to_dict(), "synthetic": cohort.synthetic},
               command="derive-dynamic")


@app.command("score-dynamic")
@friendly_errors
def score_dynamic(
    data: Annotated[Path, typer.Argument(help="Cohort folder or file.")],
    card: Annotated[Path, typer.Option("--card", help="Dynamic score card JSON.")],
    out: Annotated[Path, typer.Option("--out", help="CSV of daily risks to write.")],
    mapping: Mapping = None,
    implausible: Implausible = "refuse",
    json_out: JsonOut = None,
) -> None:
    """Daily risks for every patient-day at risk (one row per patient and day)."""
    from crsscore.atomicio import write_csv
    from crsscore.workflow import card_person_days

    dyn = _load_dynamic_card(card)
    cohort = load_data(data, mapping, implausible)
    # scoring needs no outcome; the grading warnings are not shown (as before)
    pdays = card_person_days(cohort, dyn, require_outcomes=False).pdays
    risks = dyn.predict(pdays.data)
    table = pdays.data[["patient_id", "day", "crs_grade"]].join(risks)
    if dyn.points:
        table = table.join(dyn.predict_points(pdays.data))
    write_csv(out, table)
    if cohort.synthetic:
        console.print(SYNTHETIC_BANNER)
    console.print(f"Scored {len(table)} patient-days of {table['patient_id'].nunique()} "
                  f"patients with '{dyn.name}' (horizons {dyn.horizons}) -> {out}")
    for note in pdays.notes:
        console.print(f"  [dim]- {note}[/]")
    write_json(json_out, {"card": dyn.id, "rows": len(table),
                          "patients": int(table["patient_id"].nunique()),
                          "horizons": dyn.horizons, "censoring": dyn.censoring_method,
                          "out": str(out)}, command="score-dynamic")


@monitor_app.command("replay")
@friendly_errors
def monitor_replay(
    data: Annotated[Path, typer.Argument(help="Cohort folder or file.")],
    card: Annotated[Path, typer.Option("--card", help="Dynamic score card JSON.")],
    threshold: Annotated[float, typer.Option("--threshold", help="Alert when risk >= this.")],
    horizon: Annotated[int, typer.Option("--horizon", help="Horizon of the risk that alerts.")] = 2,
    plot: Annotated[Path | None, typer.Option("--plot", help="PNG of risk trajectories by outcome.")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="CSV of the daily risks and alerts.")] = None,
    mapping: Mapping = None,
    implausible: Implausible = "refuse",
    json_out: JsonOut = None,
) -> None:
    """Silent trial: feed the cohort day by day to a card and count what it would have said."""
    from crsscore.validation.dynamic import replay
    from crsscore.workflow import card_person_days

    dyn = _load_dynamic_card(card)
    cohort = load_data(data, mapping, implausible)
    pdays = _shown(card_person_days(cohort, dyn))
    res = replay(dyn, pdays, threshold=threshold, horizon=horizon)
    if cohort.synthetic:
        console.print(SYNTHETIC_BANNER)
    console.print(frame_table(res.table(), f"Replay (silent trial), horizon {horizon} day(s), "
                                           f"threshold {threshold:g}"))
    if len(res.decision):
        console.print(frame_table(res.decision, "Decision curve over the person-days (net "
                                                "benefit, apparent): choose the threshold",
                                  digits=4))
    console.print(f"Censoring: {res.censoring}")
    for note in [*pdays.notes, res.summary["note"]]:
        console.print(f"  [dim]- {note}[/]")
    if plot is not None:
        res.plot(plot)
        console.print(f"Risk trajectories -> {plot}")
    if out is not None:
        from crsscore.atomicio import write_csv

        write_csv(out, res.trajectories)
    write_json(json_out, {"card": dyn.id, "horizon": horizon, "threshold": threshold,
                          **res.summary, "decision_curve": res.decision,
                          "synthetic": cohort.synthetic},
               command="monitor replay")


__all__ = ["monitor_app", "parse_horizons"]
