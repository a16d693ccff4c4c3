"""The risk step of the monitor: a thin adapter over the dynamic score card (issue 16).

The monitor never computes a risk itself.  :class:`DynamicCardRisk` lays the affected
patients out as person-days with :func:`crsscore.modeling.persondays.person_day_columns`
(the columns of ``build_person_days``, the same table the model was fitted on, from the
grades the monitor just computed) and scores them with
:meth:`crsscore.scores.dynamic_card.DynamicScoreCard.predict_arrays`, the card's one
vectorised code path (``predict``'s columns).  Any other model only has to satisfy
:class:`RiskModel`.
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
        from crsscore.columnar import frame_of
        from crsscore.modeling.persondays import person_day_columns

        card = self.card
        lo, hi = card.day_range
        # the person-day table's columns (build_person_days without its frame) scored by the
        # card's own function over them, and one risk frame for all horizons
        pdays = person_day_columns(cohort, daily, horizons=self.horizons,
                                   analytes=card.analytes, window=card.window_days,
                                   first_day=int(lo), last_day=int(hi))
        if len(pdays) == 0:
            return pd.DataFrame({c: [] for c in RISK_COLUMNS})
        pred = card.predict_arrays(pdays.columns, self.horizons)
        k = len(self.horizons)
        return frame_of({
            "patient_id": pdays.patient_ids.take(np.tile(pdays.patient, k)),
            "day": np.tile(pdays.columns["day"].astype(int), k),
            "horizon": np.repeat(np.asarray(self.horizons, dtype=np.int64), len(pdays)),
            "risk": np.concatenate([pred[f"risk_h{h}"] for h in self.horizons]),
            "outside_day_range": np.tile(pred["outside_day_range"], k)})


__all__ = ["DEFAULT_THRESHOLD", "RISK_COLUMNS", "DynamicCardRisk", "RiskModel"]
