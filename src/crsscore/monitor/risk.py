"""The risk step of the monitor: a thin adapter over the dynamic score card (issue 16).

The monitor never computes a risk itself.  :class:`DynamicCardRisk` lays the affected
patients out as person-days with :func:`crsscore.modeling.persondays.build_person_days` (the
same table the model was fitted on, from the grades the monitor just computed) and scores
them with :meth:`crsscore.scores.dynamic_card.DynamicScoreCard.predict`, the card's one
vectorised code path.  Any other model only has to satisfy :class:`RiskModel`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from crsscore.data.cohort import Cohort

RISK_COLUMNS = ("patient_id", "day", "horizon", "risk", "outside_day_range")

#: The ward's alert threshold when neither the card nor the command line sets one.
DEFAULT_THRESHOLD = 0.2


class RiskModel(Protocol):
    """What the monitor needs from a daily risk model."""

    card_id: str
    horizons: tuple[int, ...]

    def threshold(self, horizon: int) -> float: ...

    def score(self, cohort: Cohort, daily: pd.DataFrame) -> pd.DataFrame:
        """Risks (:data:`RISK_COLUMNS`, one row per patient, day and horizon) of the patients
        of ``cohort`` given their daily grades ``daily`` (``grade_cohort(...).daily``)."""
        ...


class DynamicCardRisk:
    """Risk from a dynamic score card (issue 16), scored by the card's own function."""

    def __init__(self, card: Any, thresholds: Mapping[int, float] | float | None = None) -> None:
        self.card = card
        self.card_id = str(card.id)
        self.horizons = tuple(int(h) for h in card.horizons)
        card_thr = getattr(card, "thresholds", None) or card.validation.get("thresholds") or {}
        base: dict[int, float] = {h: DEFAULT_THRESHOLD for h in self.horizons}
        if isinstance(card_thr, dict):
            for h in self.horizons:
                v = card_thr.get(str(h), card_thr.get(h))
                if isinstance(v, int | float):
                    base[h] = float(v)
        if isinstance(thresholds, int | float):
            base = {h: float(thresholds) for h in self.horizons}
        elif thresholds is not None:
            base.update({int(h): float(v) for h, v in thresholds.items()})
        self._thresholds = base

    @classmethod
    def from_file(cls, path: str | Path,
                  thresholds: Mapping[int, float] | float | None = None) -> DynamicCardRisk:
        from crsscore.scores.dynamic_card import load_dynamic_card

        return cls(load_dynamic_card(path), thresholds)

    def threshold(self, horizon: int) -> float:
        return self._thresholds.get(int(horizon), DEFAULT_THRESHOLD)

    def score(self, cohort: Cohort, daily: pd.DataFrame) -> pd.DataFrame:
        from crsscore.modeling.persondays import build_person_days

        card = self.card
        lo, hi = card.day_range
        pdays = build_person_days(cohort, daily, horizons=self.horizons,
                                  analytes=card.analytes, window=card.window_days,
                                  first_day=int(lo), last_day=int(hi))
        frame = pdays.data
        if len(frame) == 0:
            return pd.DataFrame({c: [] for c in RISK_COLUMNS})
        pred = card.predict(frame, self.horizons)
        # one frame, horizon by horizon (no per-horizon frames and concat)
        k = len(self.horizons)
        pid = frame["patient_id"]
        rows = np.tile(np.arange(len(frame)), k)
        return pd.DataFrame({
            # the person-days' str ids taken as they are (no conversion and re-inference)
            "patient_id": (pid.array.take(rows) if pid.dtype == "str"
                           else np.tile(pid.astype(str).to_numpy(), k)),
            "day": np.tile(frame["day"].to_numpy().astype(int), k),
            "horizon": np.repeat(np.asarray(self.horizons, dtype=np.int64), len(frame)),
            "risk": np.concatenate([pred[f"risk_h{h}"].to_numpy(dtype=float)
                                    for h in self.horizons]),
            "outside_day_range": np.tile(pred["outside_day_range"].to_numpy(dtype=bool), k)})

__all__ = ["DEFAULT_THRESHOLD", "RISK_COLUMNS", "DynamicCardRisk", "RiskModel"]
