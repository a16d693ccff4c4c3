"""``crsscore compare``: published and local scores head to head on the same patients."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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
from crsscore.errors import CrsscoreError, CrsscoreWarning

if TYPE_CHECKING:
    import pandas as pd


def outcome_for_comparison(outcomes: pd.DataFrame, landmark: str | None) -> tuple[pd.DataFrame, int]:
    """Outcome table restricted to patients without severe CRS before ``landmark``."""
    out = outcomes[["patient_id", "severe_crs", "crs_severe_onset_day"]].copy()
    if landmark is None:
        return out, 0
    from crsscore.data.landmark import landmark_day

    day = float(landmark_day(landmark))
    early = out["crs_severe_onset_day"].notna() & (out["crs_severe_onset_day"] < day)
    return out[~early].reset_index(drop=True), int(early.sum())


def run_comparison(cohort: Any, cards: list[Any], *, landmark: str | None, reference: str | None,
                   outcomes: Any = None, refits: bool = True) -> tuple[Any, int, list[str]]:
    """Compare ``cards`` (plus Teachey-structure refits where the cytokines exist)."""
    from crsscore.scores.teachey import STRUCTURES, teachey_refit
    from crsscore.validation.compare import compare_scores
    from crsscore.workflow import cohort_outcomes

    oc = outcomes or cohort_outcomes(cohort)
    frame, n_early = outcome_for_comparison(oc.frame, landmark)
    notes: list[str] = []
    cards = list(cards)
    if refits:
        for structure in STRUCTURES:
            try:
                card, _ = teachey_refit(cohort, frame, structure=structure)  # type: ignore[arg-type]
                cards.append(card)
            except CrsscoreError as exc:
                notes.append(f"Teachey-structure refit ({structure}) not computed: {exc}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CrsscoreWarning)
        comp = compare_scores(cards, cohort, frame, reference=reference)
    return comp, n_early, notes


def print_comparison(comp: Any, n_early: int, landmark: str | None, notes: list[str] | None = None) -> None:
    head = f"Scores compared on the same cohort: {comp.n_patients} patients, {comp.events} with severe CRS"
    if landmark is not None:
        head += f" ({n_early} with severe CRS before {landmark} excluded from every score)"
    console.print(head)
    import pandas as pd

    full = comp.to_frame()
    pcol = next(c for c in full.columns if c.startswith("p vs"))
    compact = pd.DataFrame({
        "score": full["card_id"],
        "time": full["timepoint"],
        "scored": full["n scored"].astype(str) + "/" + (full["n scored"] + full["n unscored"]).astype(str),
        "events": full["events"],
        "AUC (95% CI)": [f"{a:.3f} ({lo:.3f}-{hi:.3f})" if a == a else "n/a"
                         for a, lo, hi in zip(full["AUC"], full["AUC 2.5%"], full["AUC 97.5%"], strict=True)],
        pcol.replace("p vs ", "p vs\n"): full[pcol],
        "after toci": full["after tocilizumab"],
    })
    console.print(frame_table(compact, "Discrimination (AUC, DeLong 95% CI; paired DeLong p)"))
    for e in comp.evaluations:
        if e.note:
            console.print(f"  [dim]- {e.name}: {e.note}[/]")
    for note in notes or []:
        console.print(f"  [dim]- {note}[/]")


@app.command()
@friendly_errors
def compare(
    data: Annotated[Path, typer.Argument(help="Cohort folder or file.")],
    mapping: Annotated[Path | None, typer.Option("--mapping", help="TOML mapping file.")] = None,
    implausible: Implausible = "refuse",
    landmark: Annotated[str | None, typer.Option(help="Exclude patients with severe CRS before this landmark from every score.")] = None,
    scorecard: Annotated[list[Path] | None, typer.Option("--scorecard", help="Extra score card(s); repeatable.")] = None,
    reference: Annotated[str | None, typer.Option(help="Card id for paired DeLong tests (default: the first).")] = None,
    builtin: Annotated[bool, typer.Option(help="Include the built-in published scores.")] = True,
    json_out: Annotated[Path | None, typer.Option("--json", help="Machine-readable output.")] = None,
) -> None:
    """Compare every applicable score, each at its own timepoint, on the same patients."""
    from crsscore.scores.builtin import builtin_scorecards
    from crsscore.scores.scorecard import ScoreCard

    cards: list[Any] = []
    for p in scorecard or []:
        cards.append(ScoreCard.from_json(p))
    if builtin:
        cards.extend(builtin_scorecards().values())
    if not cards:
        raise CrsscoreError("nothing to compare: give --scorecard files or keep --builtin")
    cohort = load_data(data, mapping, implausible)
    if cohort.synthetic:
        console.print(SYNTHETIC_BANNER)
    comp, n_early, notes = run_comparison(cohort, cards, landmark=landmark, reference=reference)
    print_comparison(comp, n_early, landmark, notes)
    write_json(json_out, {"landmark": landmark, "n_excluded_prior_outcome": n_early, "notes": notes,
                          "synthetic": cohort.synthetic, **comp.to_dict()}, command="compare")
