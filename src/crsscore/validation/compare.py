"""Head-to-head comparison of scores on the same patients.

Every score is computed at its own timepoint from the cohort (through its score card), then
evaluated against the same outcome: n scored, events, AUC with DeLong CI, a paired DeLong
test against a chosen reference on the patients both scores could score, and, for scores that
give probabilities, calibration and net benefit.  Patients lacking a score's inputs are
counted per score and per reason, never dropped silently.

Direction: every score is taken as "higher means more risk" (as the published scores are
defined); the AUC is not flipped after looking at the data, which would be optimistic.

A yes/no rule (``card.binary_rule``: a published cut-off such as EASIX > 4.67, or Hay's
decision tree) is evaluated as the classification it is: its AUC is that of the yes/no call
(= (sensitivity + specificity) / 2), reported with sensitivity and specificity, never the AUC
of the continuous total behind the cut-off.

Timepoints: each score is evaluated at its own (published) timepoint unless ``at=`` names
another; such an evaluation is labelled as a deviation from the published timepoint in
:attr:`ScoreEvaluation.deviation` and in every table.  Every evaluation states the day window
(days since infusion) its inputs are read from, and a score that cannot be computed says which
window it needs and where the cohort's values are.
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
from crsscore.modeling.points import wilson_ci
from crsscore.scores.cohort_inputs import card_inputs, score_cohort
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
    scores: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)  # patient_id, total, probability, y, marker
    #: Timepoint evaluated (landmark name or "day<n>") and its day since infusion.
    evaluated_at: str | None = None
    evaluated_day: float | None = None
    #: Non-empty when the score was evaluated at another timepoint than its published one.
    deviation: str = ""
    #: Where the inputs are read: "ldh, plt: day -12.5 to day -4.5 (last)"; per variable in
    #: ``windows`` (variable, analyte, from_day, to_day, aggregate).
    window: str = ""
    windows: list[dict[str, Any]] = field(default_factory=list)
    #: Yes/no rules: evaluated as a binary classification (``marker`` = 1 for "yes").
    binary: bool = False
    positive_group: str | None = None
    n_positive: int = 0
    sensitivity: float = math.nan
    sensitivity_ci: tuple[float, float] = (math.nan, math.nan)
    specificity: float = math.nan
    specificity_ci: tuple[float, float] = (math.nan, math.nan)


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
                "evaluated at": timepoint_label(e),
                "window": e.window,
                "verification": e.verification, "n scored": e.n_scored,
                "n unscored": e.n_unscored, "events": e.events,
                "evaluated as": "yes/no rule" if e.binary else "score",
                "AUC": e.auc, "AUC 2.5%": e.auc_ci[0], "AUC 97.5%": e.auc_ci[1],
                "sensitivity": e.sensitivity, "specificity": e.specificity,
                f"p vs {self.reference}" if self.reference else "p vs reference": pr.get("p", math.nan),
                "after tocilizumab": e.n_tocilizumab_flagged,
                "note": "; ".join(x for x in (e.deviation, e.note) if x),
            })
        return pd.DataFrame(rows)

    @property
    def deviations(self) -> list[ScoreEvaluation]:
        """Scores evaluated at another timepoint than the published one."""
        return [e for e in self.evaluations if e.deviation]

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome, "n_patients": self.n_patients, "events": self.events,
            "reference": self.reference,
            "scores": [{k: v for k, v in e.__dict__.items() if k != "scores"} for e in self.evaluations],
            "paired": self.paired.to_dict(orient="records"),
            "deviations": [{"card_id": e.card_id, "published_timepoint": e.landmark,
                            "evaluated_at": e.evaluated_at, "deviation": e.deviation}
                           for e in self.deviations],
        }


def timepoint_label(e: ScoreEvaluation) -> str:
    """``"pre-ld"``, or ``"day0 (DEVIATION: published pre-ld)"`` for a moved score."""
    at = e.evaluated_at or e.landmark or ""
    if e.deviation:
        return f"{at} (DEVIATION: published {e.landmark or 'day0'})"
    return at


def _day_text(day: float) -> str:
    return f"day {day:g}"


def _card_windows(card: ScoreCard, day: float) -> list[dict[str, Any]]:
    out = []
    for v in card.variables:
        if v.source != "observation" or v.day_window is None:
            continue
        out.append({"variable": v.name, "analyte": v.analyte_code,
                    "from_day": day + v.day_window[0], "to_day": day + v.day_window[1],
                    "aggregate": v.aggregate})
    return out


def _window_summary(windows: list[dict[str, Any]]) -> str:
    groups: dict[tuple[float, float, str], list[str]] = {}
    for w in windows:
        groups.setdefault((w["from_day"], w["to_day"], w["aggregate"]), []).append(w["variable"])
    return "; ".join(f"{', '.join(names)}: {_day_text(lo)} to {_day_text(hi)} ({agg})"
                     for (lo, hi, agg), names in groups.items())


def _observed_days(cohort: Cohort, analyte: str) -> tuple[float, float] | None:
    obs = cohort.observations
    if obs.empty or not {"analyte", "day"} <= set(obs.columns):
        return None
    hit = obs["analyte"].astype(str).str.strip().str.lower() == analyte
    days = pd.to_numeric(obs.loc[hit, "day"], errors="coerce").dropna()
    if days.empty:
        return None
    return float(days.min()), float(days.max())


def _missing_note(card: ScoreCard, cohort: Cohort, inputs: Any, windows: list[dict[str, Any]],
                  n_unscored: int, n_total: int, at_label: str) -> str:
    """Why patients were not scored: the window each missing input needs, and the cohort's days."""
    if not n_unscored:
        return ""
    wmap = {w["variable"]: w for w in windows}
    counts = inputs.missing_counts()
    groups: dict[tuple[str, str], list[str]] = {}
    analytes: dict[tuple[str, str], list[str]] = {}
    for var, reason, n in zip(counts["variable"], counts["reason"], counts["n"], strict=True):
        w = wmap.get(str(var))
        where = (f"{_day_text(w['from_day'])} to {_day_text(w['to_day'])}" if w is not None else "")
        what = {"no_observations": "never measured", "none_in_window": "no value from",
                "value_missing": "only blank values from"}.get(str(reason), str(reason).replace("_", " "))
        key = (what, where)
        groups.setdefault(key, []).append(f"{var} {int(n)}")
        if w is not None:
            analytes.setdefault(key, []).append(str(w["analyte"]))
    parts = []
    for (what, where), names in groups.items():
        text = f"{what} {where}".strip() if what != "never measured" else what
        seen = [d for d in (_observed_days(cohort, a) for a in analytes.get((what, where), [])) if d]
        if what == "no value from" and seen:
            text += (f" (this cohort's values: day {min(d[0] for d in seen):.3g} to "
                     f"{max(d[1] for d in seen):.3g})")
        parts.append(f"{text}: {', '.join(names)}")
    text = f"{n_unscored} of {n_total} not scored at {at_label}; " + "; ".join(parts)
    if n_unscored == n_total and windows:
        text += ("; --at evaluates it at another timepoint (e.g. --at day0), a deviation from "
                 "the published score")
    return text


def _parse_at(at: str) -> float:
    from crsscore.data.landmark import landmark_day

    try:
        return float(landmark_day(at))
    except (ValueError, CrsscoreError) as exc:
        raise ModelError(f"timepoint {at!r} is not a landmark (pre-ld, day0, day7, day-1, ...): "
                         f"{exc}") from None


def evaluate_card(card: ScoreCard, cohort: Cohort, outcome: pd.DataFrame, *,
                  outcome_col: str = "severe_crs", landmark_day: float | None = None,
                  at: str | None = None) -> ScoreEvaluation:
    """Score ``cohort`` with ``card`` and evaluate it against ``outcome`` (patient_id + 0/1).

    ``at`` (a landmark such as ``"day0"``) evaluates the card at another timepoint than its
    published one; the evaluation then carries a ``deviation`` saying so.
    """
    from crsscore.scores.cohort_inputs import resolve_landmark_day

    own_day = resolve_landmark_day(card)
    if at is not None and landmark_day is None:
        landmark_day = _parse_at(at)
    day = own_day if landmark_day is None else float(landmark_day)
    own_label = card.landmark or "day0"
    at_label = own_label if abs(day - own_day) < 1e-9 else (at or f"day{day:g}")
    deviation = ""
    if abs(day - own_day) >= 1e-9:
        deviation = (f"DEVIATION: evaluated at {at_label} ({_day_text(day)}), not at its published "
                     f"timepoint {own_label} ({_day_text(own_day)}); the published performance "
                     "does not apply")
    windows = _card_windows(card, day)
    note = ""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        inputs = card_inputs(card, cohort, landmark_day=day)
        scored = score_cohort(card, cohort, inputs=inputs)
    others = [w for w in caught if issubclass(w.category, CrsscoreWarning)
              and not issubclass(w.category, TocilizumabWarning)
              and "not scored (missing inputs" not in str(w.message)]
    if others:
        note = "; ".join(str(w.message) for w in others[:2])
    merged = scored.merge(outcome[["patient_id", outcome_col]], on="patient_id", how="inner")
    merged = merged.rename(columns={outcome_col: "y"})
    positive = card.risk_groups[-1].name if card.binary_rule else None
    if card.binary_rule:
        yes = (merged["risk_group"] == positive).astype(float)
        merged["marker"] = yes.where(merged["total"].notna())
    else:
        merged["marker"] = merged["total"]
    has_y = merged["y"].notna()
    ok = merged["marker"].notna() & has_y
    n_unscored = int((~merged["marker"].notna() & has_y).sum())
    missing_text = _missing_note(card, cohort, inputs, windows, n_unscored, int(has_y.sum()), at_label)
    if missing_text:
        note = missing_text + ("; " + note if note else "")
    y = merged.loc[ok, "y"].to_numpy(dtype=np.int_)
    s = merged.loc[ok, "marker"].to_numpy(dtype=np.float64)
    a, ci = math.nan, (math.nan, math.nan)
    if len(y) and 0 < y.sum() < len(y):
        r = auc(y, s)
        a, ci = r.auc, (r.ci_low, r.ci_high)
    elif len(y):
        note = (note + "; " if note else "") + "AUC undefined: one outcome class among scored patients"
    binary: dict[str, Any] = {}
    if card.binary_rule and len(y):
        pos = s > 0.5
        ev, ne = int(y.sum()), int(len(y) - y.sum())
        tp, tn = int((pos & (y == 1)).sum()), int((~pos & (y == 0)).sum())
        binary = {"n_positive": int(pos.sum()),
                  "sensitivity": tp / ev if ev else math.nan, "sensitivity_ci": wilson_ci(tp, ev),
                  "specificity": tn / ne if ne else math.nan, "specificity_ci": wilson_ci(tn, ne)}
    flagged = int(scored["warnings"].str.contains("tocilizumab", regex=False).sum())
    return ScoreEvaluation(
        card_id=card.id, name=card.name, landmark=card.landmark,
        verification=card.provenance.verification, n_patients=len(merged),
        n_scored=int(ok.sum()), n_unscored=n_unscored,
        events=int(y.sum()) if len(y) else 0, auc=a, auc_ci=ci,
        n_tocilizumab_flagged=flagged,
        missing_by_reason=[{str(k): v for k, v in r.items()} for r in inputs.missing_counts().to_dict(orient="records")],
        gives_probability=card.probability.kind != "none", note=note,
        scores=merged[["patient_id", "total", "probability", "y", "marker"]].copy(),
        evaluated_at=at_label, evaluated_day=day, deviation=deviation,
        window=_window_summary(windows), windows=windows,
        binary=card.binary_rule, positive_group=positive, **binary)


def _at_for(card: ScoreCard, at: str | dict[str, str] | None) -> str | None:
    if at is None or isinstance(at, str):
        return at
    return at.get(card.id)


def compare_scores(cards: Sequence[ScoreCard], cohort: Cohort, outcome: pd.DataFrame, *,
                   reference: str | None = None, outcome_col: str = "severe_crs",
                   at: str | dict[str, str] | None = None) -> Comparison:
    """Evaluate every card on the same cohort; paired DeLong tests against ``reference``.

    ``at`` evaluates every card (a landmark such as ``"day0"``) or the named ones (a dict
    card id -> landmark) at another timepoint than the published one: a labelled deviation.
    """
    if isinstance(at, dict):
        unknown = sorted(set(at) - {c.id for c in cards})
        if unknown:
            raise ModelError(f"--at names score(s) not compared: {', '.join(unknown)}; compared: "
                             f"{', '.join(c.id for c in cards)}")
    for value in ([at] if isinstance(at, str) else list(at.values()) if at else []):
        _parse_at(value)
    if not cards:
        raise ModelError("no score cards to compare")
    if outcome_col not in outcome.columns or "patient_id" not in outcome.columns:
        raise ModelError(f"the outcome table needs patient_id and {outcome_col}")
    evals: list[ScoreEvaluation] = []
    for card in cards:
        try:
            evals.append(evaluate_card(card, cohort, outcome, outcome_col=outcome_col,
                                       at=_at_for(card, at)))
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
        both = e.scores.merge(ref_eval.scores[["patient_id", "marker"]], on="patient_id",
                              suffixes=("", "_ref")).dropna(subset=["marker", "marker_ref", "y"])
        yb = both["y"].to_numpy(dtype=np.int_)
        if len(yb) < 3 or not 0 < yb.sum() < len(yb):
            continue
        t = delong_test(yb, both["marker"].to_numpy(dtype=np.float64),
                        both["marker_ref"].to_numpy(dtype=np.float64))
        rows.append({"card_id": e.card_id, "reference": ref, "n": len(yb), "events": int(yb.sum()),
                     "diff": t.diff, "ci_low": t.ci_low, "ci_high": t.ci_high, "p": t.p})
    paired = pd.DataFrame(rows, columns=["card_id", "reference", "n", "events", "diff", "ci_low",
                                         "ci_high", "p"])
    yall = outcome[outcome_col].dropna()
    return Comparison(evaluations=evals, reference=ref, paired=paired, outcome=outcome_col,
                      n_patients=len(yall), events=int(yall.sum()))
