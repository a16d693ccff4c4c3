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


AT_HELP = ("Evaluate the scores at another timepoint than the published one (e.g. day0 for a "
           "cohort whose labs start at infusion): 'day0' moves every score, 'm-easix=day0' one; "
           "repeatable.  Every output labels it a DEVIATION from the published timepoint.")


def parse_at(values: list[str] | None) -> str | dict[str, str] | None:
    """``--at day0`` (every score) or ``--at CARD=day0`` (repeatable) for compare_scores."""
    if not values:
        return None
    per_card: dict[str, str] = {}
    every: str | None = None
    for v in values:
        if "=" in v:
            card_id, _, at = v.partition("=")
            per_card[card_id.strip()] = at.strip()
        elif every is not None:
            raise CrsscoreError(f"--at {every} and --at {v}: give one timepoint for every score, "
                                "or CARD=TIMEPOINT per score")
        else:
            every = v.strip()
    if every is not None and per_card:
        raise CrsscoreError("--at: give either one timepoint for every score or CARD=TIMEPOINT "
                            "per score, not both")
    return every if every is not None else per_card


def run_comparison(cohort: Any, cards: list[Any], *, landmark: str | None, reference: str | None,
                   outcomes: Any = None, refits: bool = True,
                   at: str | dict[str, str] | None = None) -> tuple[Any, int, list[str]]:
    """Compare ``cards`` (plus Teachey-structure refits where the cytokines exist)."""
    from crsscore.modeling.teachey import STRUCTURES, teachey_refit
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
        comp = compare_scores(cards, cohort, frame, reference=reference, at=at)
    return comp, n_early, notes


def print_comparison(comp: Any, n_early: int, landmark: str | None, notes: list[str] | None = None) -> None:
    head = f"Scores compared on the same cohort: {comp.n_patients} patients, {comp.events} with severe CRS"
    if landmark is not None:
        head += f" ({n_early} with severe CRS before {landmark} excluded from every score)"
    console.print(head)
    import pandas as pd
    from rich.text import Text

    full = comp.to_frame()
    pcol = next(c for c in full.columns if c.startswith("p vs"))
    moved = {e.card_id for e in comp.evaluations if e.deviation}
    # 80 columns: short headers; the deviation and the windows are spelt out below the table
    compact = pd.DataFrame({
        "score": [f"{c} *" if c in moved else c for c in full["card_id"]],
        "at": [e.evaluated_at or e.landmark or "" for e in comp.evaluations],
        "scored": full["n scored"].astype(str) + "/" + (full["n scored"] + full["n unscored"]).astype(str),
        "ev": full["events"],
        "AUC": [f"{a:.3f}" if a == a else "n/a" for a in full["AUC"]],
        "95% CI": [f"{lo:.3f}-{hi:.3f}" if lo == lo else ""
                   for lo, hi in zip(full["AUC 2.5%"], full["AUC 97.5%"], strict=True)],
        "p": [("<0.001" if x < 0.001 else f"{x:.3f}") if x == x else "" for x in full[pcol]],
        "toci": full["after tocilizumab"],
    })
    console.print(frame_table(compact, f"Discrimination (AUC, DeLong 95% CI; p: paired DeLong vs "
                                       f"{comp.reference}; toci: inputs after tocilizumab)",
                              compact=True))
    for e in comp.evaluations:
        if e.binary and e.n_scored:
            console.print(
                f"  {e.card_id}: a yes/no rule, evaluated as one ('{e.positive_group}' = yes, "
                f"{e.n_positive} of {e.n_scored}): AUC of the yes/no call {e.auc:.3f}; sensitivity "
                f"{e.sensitivity:.2f} ({e.sensitivity_ci[0]:.2f}-{e.sensitivity_ci[1]:.2f}), "
                f"specificity {e.specificity:.2f} ({e.specificity_ci[0]:.2f}-"
                f"{e.specificity_ci[1]:.2f})", markup=False)
    moved_by: dict[tuple[str, str], list[str]] = {}
    for e in comp.evaluations:
        if e.deviation:
            key = (f"{e.evaluated_at} (day {e.evaluated_day:g})", f"{e.landmark or 'day0'}")
            moved_by.setdefault(key, []).append(e.card_id)
    for (at, published), ids in moved_by.items():
        console.print(Text.assemble(
            ("  * DEVIATION", "bold yellow"),
            f" from the published timepoint: {', '.join(ids)} evaluated at {at}, not at "
            f"{published} as published; their published performance does not apply."))
    windows = [(e.card_id, e.window) for e in comp.evaluations if e.window]
    if windows:
        console.print("  Windows read (days since infusion):")
        for card_id, window in windows:
            console.print(f"    {card_id}: {window}", markup=False)
    for e in comp.evaluations:
        if e.note:
            console.print(f"  - {e.name}: {e.note}", style="dim", markup=False)
    for note in notes or []:
        console.print(f"  - {note}", style="dim", markup=False)


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
    at: Annotated[list[str] | None, typer.Option("--at", help=AT_HELP)] = None,
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
    at_spec = parse_at(at)
    cohort = load_data(data, mapping, implausible)
    if cohort.synthetic:
        console.print(SYNTHETIC_BANNER)
    comp, n_early, notes = run_comparison(cohort, cards, landmark=landmark, reference=reference,
                                          at=at_spec)
    print_comparison(comp, n_early, landmark, notes)
    write_json(json_out, {"landmark": landmark, "n_excluded_prior_outcome": n_early, "notes": notes,
                          "at": at_spec, "synthetic": cohort.synthetic, **comp.to_dict()},
               command="compare")
