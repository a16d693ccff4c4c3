"""A point score learned directly as sparse integers (``crsscore derive --points learned``).

:class:`LearnedPointScoreModel` has the interface of
:class:`~crsscore.modeling.derivation.PointScoreModel` (``fit(frame, y)``, ``total``,
``decision_function``, ``predict_proba``, ``score_sheet``, ``to_scorecard``) so that the
workflow, the bootstrap of the whole pipeline and the report treat both alike.  Candidate
thresholds come from :class:`~crsscore.modeling.binarize.Binarizer` (clinically rounded
training quantiles, learned on the training data only; a missing value scores 0 points) and
the points from :class:`~crsscore.modeling.intscore.IntegerScoreClassifier` (at most
``max_features`` thresholds, integer points, the thresholds of one variable as one group).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pandas as pd

from crsscore._numeric import expit
from crsscore._types import FloatArray
from crsscore.errors import ModelError
from crsscore.modeling.binarize import Binarizer
from crsscore.modeling.candidates import candidates
from crsscore.modeling.derivation import DerivationSettings, ScoreResults, _auc
from crsscore.modeling.intscore import IntegerScoreClassifier
from crsscore.modeling.points import RiskGroupSummary, probability_table, risk_groups
from crsscore.scores.build import card_risk_groups, derived_notes, uses_cytokines, variable_fields
from crsscore.scores.scorecard import Performance, SampleSizeVerdict, ScoreCard


class LearnedPointScoreModel(ScoreResults):
    """Integer points learned directly from binary threshold features."""

    def __init__(self, settings: DerivationSettings | None = None, max_features: int = 5,
                 coef_bound: int = 5, n_thresholds: int = 4, pool_size: int = 10,
                 certify: float = 0.0) -> None:
        self.settings = settings or DerivationSettings()
        self.max_features = max_features
        self.coef_bound = coef_bound
        self.n_thresholds = n_thresholds
        self.pool_size = pool_size
        self.certify = certify  # seconds for the exact MIP check of the score (0: no check)

    def _raw(self, frame: pd.DataFrame) -> pd.DataFrame:
        missing = [c.name for c in self.candidates_ if c.name not in frame.columns]
        if missing:
            raise ModelError(f"candidate column(s) not in the data: {', '.join(missing)}")
        return pd.DataFrame({c.name: pd.to_numeric(frame[c.name], errors="coerce").astype(float)
                             for c in self.candidates_}, index=frame.index)

    def fit(self, frame: pd.DataFrame, y: npt.ArrayLike) -> LearnedPointScoreModel:
        s = self.settings
        seed = s.seed
        yv = np.asarray(y, dtype=np.float64)
        if len(yv) != len(frame) or np.isnan(yv).any() or not np.isin(yv, (0.0, 1.0)).all():
            raise ModelError("the outcome must be 0/1 for every patient")
        events = int(yv.sum())
        if events == 0 or events == len(yv):
            raise ModelError(f"outcome has {events} events among {len(yv)} patients")
        self.candidates_ = candidates(list(s.candidates))
        raw = self._raw(frame)
        empty = [c for c in raw.columns if raw[c].isna().all()]
        if empty:
            raise ModelError(f"candidate(s) with no observed value: {', '.join(empty)}")
        self.binarizer_ = Binarizer(n_thresholds=self.n_thresholds, missing="zero").fit(raw)
        Xb = self.binarizer_.transform(raw)
        self.classifier_ = IntegerScoreClassifier(
            max_features=self.max_features, coef_bound=self.coef_bound,
            groups=list(self.binarizer_.groups_), pool_size=self.pool_size,
            certify=self.certify > 0, certify_time_limit=self.certify or 60.0).fit(Xb, yv)
        self.score_ = self.classifier_.pool_[0] if hasattr(self.classifier_, "pool_") else None
        total = self.total(frame)
        yi = yv.astype(np.int_)
        self.n_used_, self.events_, self.m_ = len(yi), events, 1
        self.method_ = "learned"
        self.method_reason_ = (f"integer points learned directly (at most {self.max_features} "
                               f"thresholds, points within +-{self.coef_bound})")
        self.notes_ = [self.method_reason_,
                       "missing values score 0 points (the binarizer's documented policy)"]
        self.certificate_ = self.classifier_.certificate_
        if self.certificate_ is not None:
            self.notes_.append(self.certificate_.summary())
        card = self.classifier_.to_scorecard(self.binarizer_)
        self.selected_ = [v.name for v in card.variables]
        if not self.selected_:
            raise ModelError("the learned score uses no variable")
        self.auc_points_apparent_ = _auc(yi, total)
        self.auc_continuous_apparent_ = math.nan
        self.risk_groups_: list[RiskGroupSummary] = risk_groups(
            total, yi, boundaries=list(s.risk_group_boundaries) if s.risk_group_boundaries else None)
        self.risk_group_n_ = len(yi)
        intercept = float(card.probability.intercept or 0.0)
        slope = float(card.probability.slope or 1.0)
        self.prob_intercept_, self.prob_slope_ = intercept, slope
        self.probability_table_ = probability_table(total, intercept, slope)
        self.training_ranges_ = {c: (float(raw[c].min()), float(raw[c].max())) for c in self.selected_}
        self.seed_ = seed
        self.scored_ = list(self.selected_)
        self.auc_loss_ = math.nan  # learned directly: there is no continuous model to lose from
        return self

    def limitations(self) -> list[str]:
        return ["The points were learned directly as integers on thresholded predictors; there "
                "is no continuous model, so no AUC loss from rounding is defined."]

    def total(self, frame: pd.DataFrame, *, impute: bool = False) -> FloatArray:
        Xb = self.binarizer_.transform(self._raw(frame))
        return np.asarray(self.classifier_.total_points(Xb), dtype=np.float64)

    def decision_function(self, frame: pd.DataFrame, *, impute: bool = False) -> FloatArray:
        return self.prob_intercept_ + self.prob_slope_ * self.total(frame)

    def predict_proba(self, frame: pd.DataFrame, *, impute: bool = False) -> FloatArray:
        return expit(self.decision_function(frame))

    def risk_table(self) -> pd.DataFrame:
        return pd.DataFrame([{"total": t, "probability": p} for t, p in self.probability_table_])

    def score_sheet(self) -> pd.DataFrame:
        card = self.classifier_.to_scorecard(self.binarizer_)
        by = {c.name: c for c in self.candidates_}
        rows = []
        for v in card.variables:
            c = by[v.name]
            if v.kind == "binary":
                bands = [(f"< {v.threshold:g}", 0.0), (f">= {v.threshold:g}", v.threshold_points)]
            else:
                bands = [(b.label or f"{b.lower}-{b.upper}", b.points) for b in v.bands]
            for rng, pts in bands:
                rows.append({"variable": c.label, "name": v.name, "unit": c.unit or "",
                             "range": rng, "points": int(pts), "log_odds_vs_reference": math.nan})
        return pd.DataFrame(rows)

    def to_scorecard(self, *, id: str = "learned-score", name: str = "Learned integer score",
                     landmark: str | None = None, data_hash: str | None = None,
                     synthetic: bool = False, description: str = "",
                     performance: Performance | None = None,
                     day_window: tuple[float, float] = (-1.0, 1.0),
                     sample_size: SampleSizeVerdict | None = None) -> ScoreCard:
        card = self.classifier_.to_scorecard(self.binarizer_, id=id, name=name,
                                             description=description, landmark=landmark,
                                             seed=self.seed_, data_hash=data_hash)
        by = {c.name: c for c in self.candidates_}
        variables = []
        for v in card.variables:
            c = by[v.name]
            variables.append(v.model_copy(update={
                **variable_fields(c, day_window), "training_range": self.training_ranges_.get(v.name)}))
        notes = derived_notes(card.provenance.notes, synthetic=synthetic)
        prov = card.provenance.model_copy(update={"synthetic_data": synthetic, "notes": notes,
                                                  "verification": "derived_locally"})
        perf = performance or Performance(n=self.n_used_, events=self.events_,
                                          auc_apparent=self.auc_points_apparent_)
        return card.model_copy(update={"variables": variables,
                                       "risk_groups": card_risk_groups(self.risk_groups_),
                                       "provenance": prov, "performance": perf,
                                       "sample_size": sample_size,
                                       "uses_cytokines_after_tocilizumab_warning":
                                       uses_cytokines(self.selected_)})

