"""``crsscore validate``: external validation of a frozen score card, and updating it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

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


@app.command()
@friendly_errors
def validate(
    data: Annotated[Path, typer.Argument(help="Validation cohort folder or file.")],
    scorecard: Annotated[Path, typer.Option("--scorecard", help="Frozen score card JSON (or a built-in id).")],
    mapping: Annotated[Path | None, typer.Option("--mapping", help="TOML mapping file.")] = None,
    implausible: Implausible = "refuse",
    recalibrate: Annotated[str | None, typer.Option(help="intercept|logistic|refit")] = None,
    bootstrap: Annotated[int, typer.Option(min=0, help="Bootstrap resamples for metrics without an analytic CI.")] = 500,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
    json_out: Annotated[Path | None, typer.Option("--json", help="Machine-readable output.")] = None,
) -> None:
    """Validate a frozen score card on another cohort and compare ways of updating it."""
    from crsscore.cli.derive_cmds import _load_card
    from crsscore.workflow import external_validation

    card = _load_card(scorecard)
    cohort = load_data(data, mapping, implausible)
    if cohort.synthetic:
        console.print(SYNTHETIC_BANNER)
    run = external_validation(cohort, card, recalibrate=recalibrate, B=bootstrap, seed=seed)
    console.print(f"'{card.name}' on {run.n_patients} patients: {run.n_scored} scored, "
                  f"{run.events} events; {run.n_unscored} lacked inputs, "
                  f"{run.n_no_outcome} lacked an outcome.")
    console.print(run.auc.summary())
    if run.validation is not None:
        console.print(frame_table(run.validation.to_frame().reset_index(), "External validation (95% CI)"))
    console.print(frame_table(run.updates.to_frame().reset_index(), "Updating the model (closed test)"))
    console.print(f"Closed testing selects: [bold]{run.updates.selected}[/]")
    if run.recalibrated is not None:
        r = run.recalibrated
        console.print(f"Recalibrated ({r.method}): intercept {r.intercept:.3f}, slope {r.slope:.3f}")
    for note in run.notes:
        console.print(f"  [dim]- {note}[/]")
    payload = {"scorecard": card.id, "n": run.n_patients, "n_scored": run.n_scored,
               "events": run.events, "auc": run.auc.to_dict(), "notes": run.notes,
               "updates": run.updates.to_frame().reset_index(), "selected_update": run.updates.selected,
               "synthetic": run.synthetic, "data_hash": run.data_hash, "seed": seed}
    if run.validation is not None:
        payload["validation"] = run.validation.to_frame().reset_index()
    if run.recalibrated is not None:
        payload["recalibrated"] = {"method": run.recalibrated.method,
                                   "intercept": run.recalibrated.intercept,
                                   "slope": run.recalibrated.slope}
    write_json(json_out, payload, command="validate")


