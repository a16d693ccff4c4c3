"""Head-to-head comparison of scores on the same patients.

Every score is computed at its own timepoint from the cohort (through its score card), then
evaluated against the same outcome: n scored, events, AUC with DeLong CI, a paired DeLong
test against a chosen reference on the patients both scores could score, and, for scores that
give probabilities, calibration and net benefit.  Patients lacking a score's inputs are
counted per score and per reason, never dropped silently.

Direction: every score is taken as "higher means more risk" (as the published scores are
defined); the AUC is not flipped after looking at the data, which would be optimistic.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from crsscore.data.cohort import Cohort
from crsscore.errors import CrsscoreError, CrsscoreWarning, ModelError, TocilizumabWarning
from crsscore.scores.extract import card_inputs, score_cohort
from crsscore.scores.scorecard import ScoreCard
from crsscore.validation.discrimination import auc, delong_test


@dataclass(frozen=True)
class ScoreEvaluation:
    """One score on the cohort."""

    card_id: str
    name: str
    landmark: str | None
    verification: str
    n_patients: int
    n_scored: int
    n_unscored: int
    events: int
    auc: float
    auc_ci: tuple[float, float]
    n_tocilizumab_flagged: int
    missing_by_reason: list[dict[str, Any]]
    gives_probability: bool
    note: str = ""
    scores: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)  # patient_id, total, probability, y


@dataclass(frozen=True)
class Comparison:
    """All scores evaluated on the same cohort, with paired tests against a reference."""

    evaluations: list[ScoreEvaluation]
    reference: str | None
    paired: pd.DataFrame  # card_id, reference, n, diff, ci_low, ci_high, p
    outcome: str
    n_patients: int
    events: int

    def to_frame(self) -> pd.DataFrame:
        rows = []
        pmap = {r["card_id"]: r for r in self.paired.to_dict(orient="records")}
        for e in self.evaluations:
            pr = pmap.get(e.card_id, {})
            rows.append({
                "score": e.name, "card_id": e.card_id, "timepoint": e.landmark or "",
                "verification": e.verification, "n scored": e.n_scored,
                "n unscored": e.n_unscored, "events": e.events, "AUC": e.auc,
                "AUC 2.5%": e.auc_ci[0], "AUC 97.5%": e.auc_ci[1],
                f"p vs {self.reference}" if self.reference else "p vs reference": pr.get("p", math.nan),
                "after tocilizumab": e.n_tocilizumab_flagged, "note": e.note,
            })
        return pd.DataFrame(rows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome, "n_patients": self.n_patients, "events": self.events,
            "reference": self.reference,
            "scores": [{k: v for k, v in e.__dict__.items() if k != "scores"} for e in self.evaluations],
            "paired": self.paired.to_dict(orient="records"),
        }


def evaluate_card(card: ScoreCard, cohort: Cohort, outcome: pd.DataFrame, *,
                  outcome_col: str = "severe_crs", landmark_day: float | None = None) -> ScoreEvaluation:
    """Score ``cohort`` with ``card`` and evaluate it against ``outcome`` (patient_id + 0/1)."""
    note = ""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        inputs = card_inputs(card, cohort, landmark_day=landmark_day)
        scored = score_cohort(card, cohort, inputs=inputs)
    others = [w for w in caught if issubclass(w.category, CrsscoreWarning)
              and not issubclass(w.category, TocilizumabWarning)]
    if others:
        note = "; ".join(str(w.message) for w in others[:2])
    merged = scored.merge(outcome[["patient_id", outcome_col]], on="patient_id", how="inner")
    merged = merged.rename(columns={outcome_col: "y"})
    has_y = merged["y"].notna()
    ok = merged["total"].notna() & has_y
    y = merged.loc[ok, "y"].to_numpy(dtype=np.int_)
    s = merged.loc[ok, "total"].to_numpy(dtype=np.float64)
    a, ci = math.nan, (math.nan, math.nan)
    if len(y) and 0 < y.sum() < len(y):
        r = auc(y, s)
        a, ci = r.auc, (r.ci_low, r.ci_high)
    elif len(y):
        note = (note + "; " if note else "") + "AUC undefined: one outcome class among scored patients"
    flagged = int(scored["warnings"].str.contains("tocilizumab", regex=False).sum())
    return ScoreEvaluation(
        card_id=card.id, name=card.name, landmark=card.landmark,
        verification=card.provenance.verification, n_patients=len(merged),
        n_scored=int(ok.sum()), n_unscored=int((~merged["total"].notna() & has_y).sum()),
        events=int(y.sum()) if len(y) else 0, auc=a, auc_ci=ci,
        n_tocilizumab_flagged=flagged,
        missing_by_reason=[{str(k): v for k, v in r.items()} for r in inputs.missing_counts().to_dict(orient="records")],
        gives_probability=card.probability.kind != "none", note=note,
        scores=merged[["patient_id", "total", "probability", "y"]].copy())


def compare_scores(cards: Sequence[ScoreCard], cohort: Cohort, outcome: pd.DataFrame, *,
                   reference: str | None = None, outcome_col: str = "severe_crs") -> Comparison:
    """Evaluate every card on the same cohort; paired DeLong tests against ``reference``."""
    if not cards:
        raise ModelError("no score cards to compare")
    if outcome_col not in outcome.columns or "patient_id" not in outcome.columns:
        raise ModelError(f"the outcome table needs patient_id and {outcome_col}")
    evals: list[ScoreEvaluation] = []
    for card in cards:
        try:
            evals.append(evaluate_card(card, cohort, outcome, outcome_col=outcome_col))
        except CrsscoreError as exc:
            evals.append(ScoreEvaluation(
                card_id=card.id, name=card.name, landmark=card.landmark,
                verification=card.provenance.verification, n_patients=cohort.n_patients,
                n_scored=0, n_unscored=cohort.n_patients, events=0, auc=math.nan,
                auc_ci=(math.nan, math.nan), n_tocilizumab_flagged=0, missing_by_reason=[],
                gives_probability=False, note=f"not computable: {exc}"))
    ids = [e.card_id for e in evals]
    ref = reference if reference is not None else ids[0]
    if ref not in ids:
        raise ModelError(f"reference score '{ref}' is not among the compared scores: {', '.join(ids)}")
    ref_eval = evals[ids.index(ref)]
    rows = []
    for e in evals:
        if e.card_id == ref or e.scores.empty or ref_eval.scores.empty:
            continue
        both = e.scores.merge(ref_eval.scores[["patient_id", "total"]], on="patient_id",
                              suffixes=("", "_ref")).dropna(subset=["total", "total_ref", "y"])
        yb = both["y"].to_numpy(dtype=np.int_)
        if len(yb) < 3 or not 0 < yb.sum() < len(yb):
            continue
        t = delong_test(yb, both["total"].to_numpy(dtype=np.float64),
                        both["total_ref"].to_numpy(dtype=np.float64))
        rows.append({"card_id": e.card_id, "reference": ref, "n": len(yb), "events": int(yb.sum()),
                     "diff": t.diff, "ci_low": t.ci_low, "ci_high": t.ci_high, "p": t.p})
    paired = pd.DataFrame(rows, columns=["card_id", "reference", "n", "events", "diff", "ci_low",
                                         "ci_high", "p"])
    yall = outcome[outcome_col].dropna()
    return Comparison(evaluations=evals, reference=ref, paired=paired, outcome=outcome_col,
                      n_patients=len(yall), events=int(yall.sum()))
