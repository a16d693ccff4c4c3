"""Dynamic score cards: a daily severe-CRS risk model as versioned, schema-validated data.

A dynamic card (issue 16) holds everything needed to turn a row of the person-day table
(:mod:`crsscore.modeling.persondays`) into the risk of severe CRS (ASTCT grade >= 3) within the
next ``h`` days: the predictors (column, transform, floor, value used when missing, the
analyte window), the restricted cubic spline of day since infusion (knots), one logistic
model per horizon (intercept and coefficients on the stated scale), the day range it was
fitted on, the censoring method, the validation figures and provenance (synthetic flag,
data hash, seed, software version).

:func:`design_matrix` and :meth:`DynamicScoreCard.predict` are the one vectorised code path
used for a single patient-day and for a million (:meth:`DynamicScoreCard.predict_arrays` is
``predict`` without the frame, also over the person-day columns as arrays, as the monitor
scores one patient); the fitter (:mod:`crsscore.modeling.dynamic`) uses the same design
function, so model and card give the same risks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from crsscore._numeric import expit, row_dot
from crsscore._types import FloatArray
from crsscore.columnar import as_float
from crsscore.errors import ScoreCardError
from crsscore.scores.scorecard import CardFile
from crsscore.splines import rcs_basis

DYNAMIC_SCHEMA_VERSION = "1.0"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DynPredictor(_Model):
    """One predictor: a person-day column, its transform and the value used when missing.

    ``transform``: ``none``, ``log10`` (values below ``floor`` raised to it first) or
    ``indicator`` (1 when the value equals ``level``, else 0).  ``impute`` is on the
    transformed scale (the training median).
    """

    name: str
    column: str
    label: str = ""
    kind: Literal["state", "latest", "change", "baseline"] = "state"
    unit: str | None = None
    transform: Literal["none", "log10", "indicator"] = "none"
    floor: float | None = None
    level: float | None = None
    impute: float = 0.0
    window_days: float | None = None

    @model_validator(mode="after")
    def _check(self) -> DynPredictor:
        if self.transform == "indicator" and self.level is None:
            raise ValueError(f"predictor {self.name}: an indicator needs 'level'")
        if self.transform == "log10" and (self.floor is None or self.floor <= 0):
            raise ValueError(f"predictor {self.name}: log10 needs a floor > 0")
        return self

    def values(self, frame: pd.DataFrame) -> FloatArray:
        """Transformed values of this predictor in ``frame``, missing ones imputed."""
        if self.column not in frame.columns:
            raise ScoreCardError(f"the person-day data have no column '{self.column}' "
                                 f"(predictor {self.name})")
        return self.transformed(as_float(frame[self.column]))

    def transformed(self, raw: FloatArray) -> FloatArray:
        """The transform of the column's raw values (float, NaN when missing), missing ones
        imputed."""
        if self.transform == "log10":
            v = np.log10(np.maximum(raw, float(self.floor or 1e-3)))
        elif self.transform == "indicator":
            v = np.where(np.isnan(raw), np.nan, (raw == self.level).astype(np.float64))
        else:
            v = raw
        out: FloatArray = np.where(np.isfinite(v), v, self.impute)
        return out


class DaySpline(_Model):
    """Restricted cubic spline of day since infusion (``rcs_basis``, x first)."""

    column: str = "day"
    knots: list[float]

    @model_validator(mode="after")
    def _check(self) -> DaySpline:
        if len(set(self.knots)) < 3 or sorted(self.knots) != list(self.knots):
            raise ValueError("the day spline needs >= 3 distinct increasing knots")
        return self

    @property
    def term_names(self) -> list[str]:
        return [self.column] + [f"{self.column}_rcs{j}" for j in range(1, len(self.knots) - 1)]


class HorizonModel(_Model):
    """Logistic model for one horizon: ``logit risk = intercept + sum coef * term``."""

    horizon: int = Field(ge=1)
    intercept: float
    coefficients: dict[str, float]
    penalty: float = Field(ge=0.0)
    n_person_days: int = 0
    n_events: int = 0
    n_patients: int = 0
    censored_removed: int = 0


class PointsVariable(_Model):
    """A banded predictor of the bedside points version.

    Band 0 is below ``cuts[0]``, band k is ``[cuts[k-1], cuts[k])``, the last band is at or
    above the last cut; a missing value is scored as band 0 (0 points).
    """

    name: str
    column: str
    label: str = ""
    unit: str | None = None
    cuts: list[float]
    points: list[int]
    band_labels: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> PointsVariable:
        if not self.cuts or any(b <= a for a, b in zip(self.cuts, self.cuts[1:], strict=False)):
            raise ValueError(f"points variable {self.name}: cuts must increase")
        if len(self.points) != len(self.cuts) + 1:
            raise ValueError(f"points variable {self.name}: one points value per band")
        return self

    def band(self, frame: pd.DataFrame) -> npt.NDArray[np.int64]:
        if self.column not in frame.columns:
            raise ScoreCardError(f"the person-day data have no column '{self.column}' "
                                 f"(points variable {self.name})")
        x = pd.to_numeric(frame[self.column], errors="coerce").to_numpy(dtype=np.float64,
                                                                          na_value=np.nan)
        b = np.searchsorted(np.asarray(self.cuts), x, side="right").astype(np.int64)
        out: npt.NDArray[np.int64] = np.where(np.isnan(x), 0, b)
        return out

    def score(self, frame: pd.DataFrame) -> npt.NDArray[np.int64]:
        out: npt.NDArray[np.int64] = np.asarray(self.points, dtype=np.int64)[self.band(frame)]
        return out


class PointsModel(_Model):
    """Integer points for one horizon: ``risk = expit(intercept + slope * total points)``."""

    horizon: int = Field(ge=1)
    variables: list[PointsVariable]
    intercept: float
    slope: float
    logodds_per_point: float
    auc_points: float | None = None
    auc_continuous: float | None = None
    note: str = ""

    def total(self, frame: pd.DataFrame) -> npt.NDArray[np.int64]:
        tot = np.zeros(len(frame), dtype=np.int64)
        for v in self.variables:
            tot += v.score(frame)
        return tot


class DynamicScoreCard(CardFile):
    """A complete, self-describing dynamic (daily) risk model."""

    _what: ClassVar[str] = "dynamic card"

    schema_version: str = DYNAMIC_SCHEMA_VERSION
    kind: Literal["dynamic"] = "dynamic"
    id: str
    name: str
    outcome: str = "severe CRS (ASTCT grade >= 3) with onset in (t, t + h]"
    time_convention: str = ("row for day t = evaluation at the end of day t (next morning), "
                            "using observations and events with day < t + 1")
    horizons: list[int]
    censoring_method: str
    censoring_code: str
    day_range: tuple[int, int]
    window_days: float
    analytes: list[str]
    spline: DaySpline
    predictors: list[DynPredictor]
    models: list[HorizonModel]
    comparator: dict[str, Any] = Field(default_factory=dict)
    points: list[PointsModel] = Field(default_factory=list)
    validation: dict[str, Any] = Field(default_factory=dict)
    synthetic: bool = False
    data_hash: str = ""
    seed: int | None = None
    software_version: str = ""
    created: str = ""
    notes: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> DynamicScoreCard:
        names = [p.name for p in self.predictors]
        if len(set(names)) != len(names):
            raise ValueError("predictor names must be unique")
        terms = set(self.spline.term_names) | set(names)
        if sorted(m.horizon for m in self.models) != sorted(self.horizons):
            raise ValueError("one model per horizon is needed")
        for m in self.models:
            extra = set(m.coefficients) - terms
            if extra:
                raise ValueError(f"horizon {m.horizon}: coefficients for unknown terms "
                                 f"{sorted(extra)}")
        return self

    @property
    def term_names(self) -> list[str]:
        return self.spline.term_names + [p.name for p in self.predictors]

    def model(self, horizon: int) -> HorizonModel:
        for m in self.models:
            if m.horizon == horizon:
                return m
        raise ScoreCardError(f"the card has no model for horizon {horizon}; "
                             f"horizons: {self.horizons}")

    def coefficient_vector(self, horizon: int) -> tuple[float, FloatArray]:
        m = self.model(horizon)
        return m.intercept, np.array([m.coefficients.get(t, 0.0) for t in self.term_names])

    def linear_predictor(self, frame: pd.DataFrame, horizon: int) -> FloatArray:
        x = design_matrix(frame, self.spline, self.predictors)
        b0, b = self.coefficient_vector(horizon)
        out: FloatArray = b0 + row_dot(x, b)
        return out

    def predict(self, frame: pd.DataFrame,
                horizons: Sequence[int] | None = None) -> pd.DataFrame:
        """Risk per horizon (``risk_h<h>``) for every row of ``frame`` (one code path)."""
        return pd.DataFrame(self.predict_arrays(frame, horizons), index=frame.index)

    def predict_arrays(self, data: pd.DataFrame | Mapping[str, FloatArray],
                       horizons: Sequence[int] | None = None) -> dict[str, Any]:
        """:meth:`predict`'s columns as arrays, from a person-day frame or from its columns
        as float arrays (:attr:`crsscore.modeling.persondays.PersonDayColumns.columns`)."""
        x, day = _design(data, self.spline, self.predictors)
        out: dict[str, Any] = {}
        for h in (self.horizons if horizons is None else horizons):
            b0, b = self.coefficient_vector(int(h))
            out[f"risk_h{int(h)}"] = expit(b0 + row_dot(x, b))
        lo, hi = self.day_range
        out["outside_day_range"] = (day < lo) | (day > hi)
        return out

    def points_model(self, horizon: int) -> PointsModel:
        for m in self.points:
            if m.horizon == horizon:
                return m
        raise ScoreCardError(f"the card has no points version for horizon {horizon}")

    def predict_points(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Total points and their risk (``points_h<h>``, ``points_risk_h<h>``) per row."""
        out: dict[str, Any] = {}
        for m in self.points:
            tot = m.total(frame)
            out[f"points_h{m.horizon}"] = tot
            out[f"points_risk_h{m.horizon}"] = expit(m.intercept + m.slope * tot.astype(np.float64))
        return pd.DataFrame(out, index=frame.index)



def design_matrix(frame: pd.DataFrame, spline: DaySpline,
                  predictors: Sequence[DynPredictor]) -> FloatArray:
    """The (rows, terms) matrix: spline of day, then each predictor transformed and imputed."""
    return _design(frame, spline, predictors)[0]


def _design(data: pd.DataFrame | Mapping[str, FloatArray], spline: DaySpline,
            predictors: Sequence[DynPredictor]) -> tuple[FloatArray, FloatArray]:
    """:func:`design_matrix` and the day column, of a frame or of columns as float arrays.
    A frame's float64 columns are read in one block and every other column once (pandas'
    cost of reading a column is most of the work for one patient's rows)."""
    if isinstance(data, pd.DataFrame):
        names, column = _frame_columns(data)
    else:
        names = set(data)

        def column(name: str) -> FloatArray:
            return np.asarray(data[name], dtype=np.float64)

    if spline.column not in names:
        raise ScoreCardError(f"the person-day data have no column '{spline.column}'")
    day = column(spline.column)
    if np.isnan(day).any():
        raise ScoreCardError(f"column '{spline.column}' has missing days")
    raw: dict[str, FloatArray] = {}
    for p in predictors:
        if p.column not in names:
            raise ScoreCardError(f"the person-day data have no column '{p.column}' "
                                 f"(predictor {p.name})")
        if p.column not in raw:
            raw[p.column] = column(p.column)
    if not len(day):
        return np.empty((0, len(spline.knots) - 1 + len(predictors))), day
    basis = rcs_basis(day, spline.knots, inclx=True)
    k = basis.shape[1]
    x = np.empty((len(day), k + len(predictors)))
    x[:, :k] = basis
    for j, p in enumerate(predictors):
        x[:, k + j] = p.transformed(raw[p.column])
    return x, day


def _frame_columns(frame: pd.DataFrame) -> tuple[set[str], Callable[[str], FloatArray]]:
    """The frame's column names and a reader of one column as float64 (NaN when not a
    number), from one block of the float64 columns when the names are unique."""
    columns = frame.columns.tolist()
    names = set(columns)
    block: FloatArray | None = None
    where: dict[str, int] = {}
    if len(names) == len(columns):  # unique names: a column is one block column
        floats = frame.select_dtypes(include=[np.float64])
        where = {c: j for j, c in enumerate(floats.columns.tolist())}
        block = floats.to_numpy(dtype=np.float64)

    def column(name: str) -> FloatArray:
        if block is not None and name in where:
            out: FloatArray = block[:, where[name]]
            return out
        return as_float(frame[name])

    return names, column


def load_dynamic_card(path: str | Path) -> DynamicScoreCard:
    return DynamicScoreCard.from_json(path)


__all__ = ["DYNAMIC_SCHEMA_VERSION", "DaySpline", "DynPredictor", "DynamicScoreCard",
           "HorizonModel", "PointsModel", "PointsVariable", "design_matrix", "load_dynamic_card"]
