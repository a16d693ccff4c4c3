"""Candidate binary features for learned point scores.

:class:`Binarizer` turns a table of predictors into 0/1 features a point score can use:

* numeric columns become cumulative threshold features ``x >= t`` (so the points of one
  variable add up to a step function, monotone when its points share a sign), with thresholds
  at training quantiles, optionally rounded to clinically readable numbers, or given by the
  user;
* 0/1 (and boolean) columns pass through;
* text or categorical columns become one indicator per category seen in training.

Everything is learned on the training data (``fit``) and applied unchanged to new data
(``transform``): a test set never moves a threshold.  Missing values never produce NaN:
with ``missing="zero"`` (default) a missing value sets every feature of its variable to 0, so
it scores 0 points (the score card says so with ``missing="zero"``); ``missing="indicator"``
adds a ``<column>:missing`` feature for columns with missing training values, which the score
may use; ``missing="error"`` refuses them.  A category not seen in training also scores 0
points.

Examples
--------
>>> import pandas as pd
>>> X = pd.DataFrame({"crp": [1.0, 12.0, 48.0, 110.0, None], "sex": ["F", "M", "M", "F", "F"]})
>>> b = Binarizer(n_thresholds=2, min_count=1).fit(X)
>>> b.get_feature_names_out().tolist()
['crp>=10', 'crp>=50', 'sex=F', 'sex=M']
>>> b.transform(X).iloc[4].tolist()
[0.0, 0.0, 1.0, 0.0]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import NotFittedError

from crsscore._types import FloatArray
from crsscore.errors import DataError, Problem

_NICE = (1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 7.5, 8.0, 10.0)


@dataclass(frozen=True)
class BinaryFeature:
    """What one output column means.

    ``kind``: ``threshold`` (1 if ``variable >= threshold``), ``category`` (1 if ``variable ==
    category``), ``binary`` (the 0/1 column itself) or ``missing`` (1 if ``variable`` is
    missing).  ``group`` is the variable for thresholds, categories and binary columns and
    ``<variable>:missing`` for missing indicators.
    """

    name: str
    variable: str
    kind: Literal["threshold", "category", "binary", "missing"]
    threshold: float | None = None
    category: str | None = None

    @property
    def group(self) -> str:
        return f"{self.variable}:missing" if self.kind == "missing" else self.variable


def nice_number(x: float) -> float:
    """Round to a clinically readable number: 1, 1.5, 2, 2.5, 3, 4, 5, 6, 7.5 or 8 x 10^k."""
    if x == 0 or not math.isfinite(x):
        return float(x)
    mag = 10.0 ** math.floor(math.log10(abs(x)))
    best = min(_NICE, key=lambda c: abs(abs(x) - c * mag))
    return float(math.copysign(round(best * mag, 12), x))


class Binarizer(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Make 0/1 candidate features from numeric, binary and categorical columns.

    Parameters
    ----------
    n_thresholds : int, default 4
        Thresholds per numeric column, at the training quantiles ``i / (n_thresholds + 1)``.
    rounding : {"nice", "none"}, default "nice"
        ``nice`` rounds each quantile with :func:`nice_number` (clinically rounded cut-points);
        ``none`` keeps the raw quantiles.
    thresholds : mapping, optional
        Column -> thresholds given by the user (used as they are, for that column).
    categorical : sequence of str, optional
        Columns to treat as categories even if numeric.  Non-numeric columns always are.
    missing : {"zero", "indicator", "error"}, default "zero"
        How missing values are handled (see the module docstring).
    min_count : int, default 5
        Thresholds (and categories) leaving fewer training rows than this on either side are
        dropped.

    Attributes
    ----------
    features_ : list of BinaryFeature
        One per output column.
    thresholds_ : dict
        Column -> thresholds used.
    categories_ : dict
        Categorical column -> categories seen in training (sorted).
    groups_ : list of str
        Group (variable) of each output column, for ``IntegerScoreClassifier(groups=...)``.
    feature_names_in_ : ndarray of str
    """

    def __init__(self, n_thresholds: int = 4, *, rounding: Literal["nice", "none"] = "nice",
                 thresholds: Mapping[str, Sequence[float]] | None = None,
                 categorical: Sequence[str] = (),
                 missing: Literal["zero", "indicator", "error"] = "zero",
                 min_count: int = 5) -> None:
        self.n_thresholds = n_thresholds
        self.rounding = rounding
        self.thresholds = thresholds
        self.categorical = categorical
        self.missing = missing
        self.min_count = min_count

    def _check_params(self) -> None:
        if not isinstance(self.n_thresholds, int) or self.n_thresholds < 1:
            raise ValueError("The 'n_thresholds' parameter of Binarizer must be an int >= 1. "
                             f"Got {self.n_thresholds!r} instead.")
        if self.rounding not in ("nice", "none"):
            raise ValueError("The 'rounding' parameter of Binarizer must be 'nice' or 'none'. "
                             f"Got {self.rounding!r} instead.")
        if self.missing not in ("zero", "indicator", "error"):
            raise ValueError("The 'missing' parameter of Binarizer must be 'zero', 'indicator' "
                             f"or 'error'. Got {self.missing!r} instead.")
        if not isinstance(self.min_count, int) or self.min_count < 0:
            raise ValueError("The 'min_count' parameter of Binarizer must be an int >= 0. "
                             f"Got {self.min_count!r} instead.")

    def fit(self, X: pd.DataFrame, y: Any = None) -> Binarizer:
        self._check_params()
        X = _frame(X)
        given = dict(self.thresholds or {})
        unknown = [c for c in [*given, *self.categorical] if c not in X.columns]
        if unknown:
            raise DataError([Problem(table="input", column=str(c),
                                     message="column named in the Binarizer options is missing")
                             for c in unknown])
        if self.missing == "error":
            _refuse_missing(X)
        features: list[BinaryFeature] = []
        thresholds: dict[str, list[float]] = {}
        categories: dict[str, list[str]] = {}
        for col in X.columns:
            name = str(col)
            s = X[col]
            if name in self.categorical or not (pd.api.types.is_numeric_dtype(s)
                                                or pd.api.types.is_bool_dtype(s)):
                obs = s.dropna().astype(str)
                counts = obs.value_counts()
                cats = sorted(str(c) for c in counts.index)
                categories[name] = cats
                for c in cats:
                    features.append(BinaryFeature(f"{name}={c}", name, "category", category=c))
            else:
                x = pd.to_numeric(s).to_numpy(dtype=np.float64, na_value=np.nan)
                obs_x = x[~np.isnan(x)]
                if name not in given and len(obs_x) and np.isin(obs_x, (0.0, 1.0)).all():
                    features.append(BinaryFeature(name, name, "binary"))
                else:
                    ths = self._thresholds(obs_x, given.get(name))
                    thresholds[name] = ths
                    for t in ths:
                        features.append(BinaryFeature(f"{name}>={t:g}", name, "threshold",
                                                      threshold=t))
            if self.missing == "indicator" and s.isna().any():
                features.append(BinaryFeature(f"{name}:missing", name, "missing"))
        names = [f.name for f in features]
        if len(set(names)) != len(names):
            dup = sorted({nm for nm in names if names.count(nm) > 1})
            raise DataError(f"binary feature names collide: {', '.join(dup[:5])}; rename columns")
        self.features_ = features
        self.thresholds_ = thresholds
        self.categories_ = categories
        self.groups_ = [f.group for f in features]
        self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        self.n_features_in_ = X.shape[1]
        return self

    def _thresholds(self, x: FloatArray, given: Sequence[float] | None) -> list[float]:
        if given is not None:
            return sorted({float(t) for t in given})
        if len(x) == 0:
            return []
        qs = np.quantile(x, np.arange(1, self.n_thresholds + 1) / (self.n_thresholds + 1))
        cands = sorted({nice_number(float(q)) if self.rounding == "nice" else float(q)
                        for q in qs})
        out = []
        for t in cands:
            above = int((x >= t).sum())
            if above >= max(self.min_count, 1) and len(x) - above >= max(self.min_count, 1):
                out.append(t)
        return out

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        if not hasattr(self, "features_"):
            raise NotFittedError("This Binarizer instance is not fitted yet. Call 'fit' first.")
        X = _frame(X)
        missing_cols = [c for c in self.feature_names_in_ if c not in X.columns]
        if missing_cols:
            raise DataError([Problem(table="input", column=str(c), message="column missing",
                                     expected="the columns the Binarizer was fitted on")
                             for c in missing_cols])
        if self.missing == "error":
            _refuse_missing(X[list(self.feature_names_in_)])
        out = np.zeros((len(X), len(self.features_)))
        cache: dict[str, FloatArray] = {}
        for k, f in enumerate(self.features_):
            s = X[f.variable]
            if f.kind == "missing":
                out[:, k] = s.isna().to_numpy()
            elif f.kind == "category":
                obs = s.astype(object).where(s.notna(), None)
                out[:, k] = np.array([v is not None and str(v) == f.category for v in obs],
                                     dtype=np.float64)
            else:
                if f.variable not in cache:
                    try:
                        cache[f.variable] = pd.to_numeric(s).to_numpy(dtype=np.float64,
                                                                      na_value=np.nan)
                    except (TypeError, ValueError):
                        bad = pd.to_numeric(s, errors="coerce").isna() & s.notna()
                        i = int(np.flatnonzero(bad.to_numpy())[0])
                        raise DataError([Problem(table="input", row=i, column=f.variable,
                                                 message="not a number", value=str(s.iloc[i]),
                                                 expected="a number, as in training")]) from None
                x = cache[f.variable]
                with np.errstate(invalid="ignore"):
                    thr = f.threshold if f.threshold is not None else 1.0
                    hit = (x >= thr) if f.kind == "threshold" else (x == 1.0)
                out[:, k] = np.where(np.isnan(x), 0.0, hit.astype(np.float64))
        return pd.DataFrame(out, index=X.index, columns=[f.name for f in self.features_])

    def get_feature_names_out(self, input_features: Any = None) -> npt.NDArray[np.object_]:
        if not hasattr(self, "features_"):
            raise NotFittedError("This Binarizer instance is not fitted yet. Call 'fit' first.")
        return np.asarray([f.name for f in self.features_], dtype=object)


def _frame(X: Any) -> pd.DataFrame:
    if isinstance(X, pd.DataFrame):
        return X
    arr = np.asarray(X)
    if arr.ndim != 2:
        raise ValueError(f"X must be 2-dimensional; got shape {arr.shape}")
    return pd.DataFrame(arr, columns=[f"x{j}" for j in range(arr.shape[1])])


def _refuse_missing(X: pd.DataFrame) -> None:
    problems = []
    for col in X.columns:
        rows = np.flatnonzero(X[col].isna().to_numpy())
        for r in rows[:20]:
            problems.append(Problem(table="input", row=int(r), column=str(col),
                                    message="missing value (Binarizer missing='error')",
                                    code="missing"))
    if problems:
        raise DataError(problems)


__all__ = ["Binarizer", "BinaryFeature", "nice_number"]
