"""Discrimination: the area under the ROC curve (C statistic) with DeLong or bootstrap CIs.

The point estimate is the project's one AUC, :func:`crsscore._numeric.rank_auc` (the bootstrap
here uses the same tallies); ties in an integer point score count one half, as in R's pROC.
The DeLong variance uses the fast algorithm of Sun & Xu (2014), built on midranks.  A higher
score means a higher risk (pROC's ``direction = "<"``): the AUC is *not* flipped when it is below 0.5.

This module also holds the input checks shared by the other validation modules
(:func:`as_outcome`, :func:`as_scores`): every metric takes plain arrays, refuses missing
values, and names the argument and the first offending position.

References
----------
DeLong ER, DeLong DM, Clarke-Pearson DL. Comparing the areas under two or more correlated
receiver operating characteristic curves. Biometrics 1988;44:837-45.
Sun X, Xu W. Fast implementation of DeLong's algorithm for comparing the areas under correlated
receiver operating characteristic curves. IEEE Signal Process Lett 2014;21:1389-93.
Robin X et al. pROC: an open-source package for R and S+. BMC Bioinformatics 2011;12:77.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from crsscore._numeric import auc_tallies, dense_codes, rank_auc
from crsscore._types import FloatArray, IntArray
from crsscore.errors import DataError, Problem

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes


__all__ = [
    "AUCResult",
    "PairedTest",
    "ROCCurve",
    "as_outcome",
    "as_scores",
    "auc",
    "bootstrap_auc",
    "check_level",
    "delong_covariance",
    "delong_test",
    "roc_curve",
]


# --------------------------------------------------------------------------------------------
# shared input checks
# --------------------------------------------------------------------------------------------
def check_level(level: float, func: str) -> float:
    """Check a confidence level in (0, 1) with scikit-learn's message shape."""
    if not isinstance(level, int | float) or not 0.0 < float(level) < 1.0:
        raise ValueError(
            f"The 'level' parameter of {func} must be a float in the range (0, 1). "
            f"Got {level!r} instead."
        )
    return float(level)


def _refuse_rows(bad: NDArray[np.bool_], name: str, message: str, expected: str,
                 code: str, values: NDArray[Any] | None = None) -> None:
    """Raise :class:`DataError` naming the first flagged row, its value and how many rows are
    flagged (``{n}`` in ``message``), when any row is flagged."""
    if not bad.any():
        return
    i = int(np.flatnonzero(bad)[0])
    raise DataError([Problem(table=name, row=i, message=message.format(n=int(bad.sum())),
                             value=None if values is None else str(values[i]),
                             expected=expected, code=code)])


def as_outcome(y: ArrayLike, *, name: str = "y", need_both: bool = True) -> IntArray:
    """Return ``y`` as a 1-D 0/1 integer array, or raise :class:`DataError` naming the problem.

    Booleans and the strings "0"/"1"/"true"/"false" are not guessed at: give 0/1 or booleans.
    """
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise DataError(
            [Problem(table=name, message=f"must be one-dimensional, got shape {arr.shape}")]
        )
    if arr.size == 0:
        raise DataError([Problem(table=name, message="is empty", expected="at least 2 patients")])
    if arr.dtype == bool:
        out = arr.astype(np.int_)
    else:
        try:
            num = arr.astype(np.float64)
        except (TypeError, ValueError):
            missing = np.asarray(pd.isna(arr), dtype=bool)
            if not missing.any():
                raise DataError(
                    [
                        Problem(
                            table=name,
                            message="outcome is not numeric",
                            value=str(arr.dtype),
                            expected="0/1 or booleans",
                        )
                    ]
                ) from None
            num = np.where(missing, np.nan, 0.0)
        _refuse_rows(np.isnan(num), name, "missing outcome ({n} in all); drop or impute these "
                     "patients first", "0 or 1", "missing")
        _refuse_rows(~np.isin(num, (0.0, 1.0)), name, "outcome must be 0/1 ({n} value(s) are not)",
                     "0 or 1", "outcome_not_binary", num)
        out = num.astype(np.int_)
    if need_both:
        events = int(out.sum())
        if events == 0 or events == out.size:
            raise DataError(
                [
                    Problem(
                        table=name,
                        message=(
                            "needs at least one event and one non-event "
                            f"(got {events} event(s) in {out.size} patients)"
                        ),
                        code="one_class",
                    )
                ]
            )
    return out


def as_scores(
    score: ArrayLike,
    n: int,
    *,
    name: str = "score",
    probability: bool = False,
    open_interval: bool = False,
) -> FloatArray:
    """Return a finite 1-D float array of length ``n`` (probabilities in [0, 1] if asked)."""
    try:
        arr = np.asarray(score, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(
            [Problem(table=name, message="is not numeric", expected="numbers")]
        ) from None
    if arr.ndim != 1 or arr.size != n:
        raise DataError(
            [
                Problem(
                    table=name,
                    message=f"has {arr.size} value(s) (shape {arr.shape}) but the outcome has {n}",
                    expected=f"{n} values, one per patient",
                    code="length_mismatch",
                )
            ]
        )
    _refuse_rows(~np.isfinite(arr), name, "missing or infinite value ({n} in all)",
                 "a finite number", "missing", arr)
    if probability:
        lo_ok = arr > 0.0 if open_interval else arr >= 0.0
        hi_ok = arr < 1.0 if open_interval else arr <= 1.0
        rng = "(0, 1)" if open_interval else "[0, 1]"
        _refuse_rows(~(lo_ok & hi_ok), name, f"predicted probability outside {rng} ({{n}} in all)",
                     f"a probability in {rng}", "not_probability", arr)
    return arr


# --------------------------------------------------------------------------------------------
# DeLong (Sun & Xu 2014)
# --------------------------------------------------------------------------------------------
def _midranks(x: FloatArray) -> FloatArray:
    """Midranks along the last axis (ties get the mean of their ranks), 1-based."""
    return np.asarray(stats.rankdata(x, method="average", axis=-1), dtype=np.float64)


def delong_covariance(y: ArrayLike, scores: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """AUCs and their DeLong covariance matrix for ``k`` scores on the same patients.

    ``scores`` has shape ``(k, n)`` (or ``(n,)`` for one score).  Returns ``(aucs, cov)`` with
    shapes ``(k,)`` and ``(k, k)``.
    """
    yy = as_outcome(y)
    s = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    for j in range(s.shape[0]):
        as_scores(s[j], yy.size, name=f"score {j + 1}")
    pos = s[:, yy == 1]
    neg = s[:, yy == 0]
    m, n_ = pos.shape[1], neg.shape[1]
    tx = _midranks(pos)
    ty = _midranks(neg)
    tz = _midranks(np.concatenate([pos, neg], axis=1))
    aucs = np.array([rank_auc(yy, s[j]) for j in range(s.shape[0])])
    v01 = (tz[:, :m] - tx) / n_  # structural components of the events
    v10 = 1.0 - (tz[:, m:] - ty) / m  # ... and of the non-events
    if m < 2 or n_ < 2:  # a variance needs two events and two non-events (pROC gives NA)
        return np.asarray(aucs, dtype=np.float64), np.full((s.shape[0], s.shape[0]), np.nan)
    cov = np.atleast_2d(np.cov(v01)) / m + np.atleast_2d(np.cov(v10)) / n_
    return np.asarray(aucs, dtype=np.float64), np.asarray(cov, dtype=np.float64)


# --------------------------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------------------------
class IntervalEstimate:
    """What the result dataclasses carrying ``ci_low``, ``ci_high`` and ``level`` share."""

    ci_low: float
    ci_high: float
    level: float

    @property
    def ci(self) -> tuple[float, float]:
        return (self.ci_low, self.ci_high)

    def ci_labels(self) -> tuple[str, str]:
        """Column names of the interval, e.g. ``("lower 95%", "upper 95%")``."""
        pct = f"{100 * self.level:g}%"
        return f"lower {pct}", f"upper {pct}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload, no-any-return]


@dataclass(frozen=True)
class AUCResult(IntervalEstimate):
    """AUC (C statistic) with its confidence interval.

    Attributes
    ----------
    auc, ci_low, ci_high, se : the estimate, the interval at ``level`` and the standard error
        (DeLong, or the SD of the bootstrap AUCs).
    n, events : patients and events used.
    method : ``"delong"`` or ``"bootstrap"`` (stratified by outcome, percentile interval).
    B, seed : resamples and seed (bootstrap only; ``None`` for DeLong).
    """

    auc: float
    ci_low: float
    ci_high: float
    se: float
    n: int
    events: int
    method: str
    level: float = 0.95
    B: int | None = None
    seed: int | None = None

    def to_frame(self) -> pd.DataFrame:
        lower, upper = self.ci_labels()
        return pd.DataFrame(
            {
                "estimate": [self.auc],
                "se": [self.se],
                lower: [self.ci_low],
                upper: [self.ci_high],
                "n": [self.n],
                "events": [self.events],
                "method": [self.method],
            },
            index=pd.Index(["AUC"], name="metric"),
        )

    def summary(self) -> str:
        extra = f", B={self.B}, seed={self.seed}" if self.method == "bootstrap" else ""
        return (
            f"AUC {self.auc:.3f} ({100 * self.level:g}% CI {self.ci_low:.3f}-{self.ci_high:.3f}, "
            f"{self.method}{extra}); n={self.n}, events={self.events}"
        )


@dataclass(frozen=True)
class PairedTest(IntervalEstimate):
    """Paired DeLong comparison of two AUCs on the same patients (score 1 minus score 2)."""

    diff: float
    ci_low: float
    ci_high: float
    se: float
    z: float
    p: float
    auc1: float
    auc2: float
    n: int
    events: int
    level: float = 0.95
    method: str = "delong"

    def to_frame(self) -> pd.DataFrame:
        lower, upper = self.ci_labels()
        return pd.DataFrame(
            {
                "auc1": [self.auc1],
                "auc2": [self.auc2],
                "diff": [self.diff],
                "se": [self.se],
                lower: [self.ci_low],
                upper: [self.ci_high],
                "z": [self.z],
                "p": [self.p],
                "n": [self.n],
                "events": [self.events],
            },
            index=pd.Index(["paired DeLong"], name="test"),
        )

    def summary(self) -> str:
        return (
            f"AUC {self.auc1:.3f} vs {self.auc2:.3f}: difference {self.diff:+.3f} "
            f"({100 * self.level:g}% CI {self.ci_low:+.3f} to {self.ci_high:+.3f}), "
            f"z={self.z:.2f}, p={self.p:.3g} (paired DeLong); n={self.n}, events={self.events}"
        )


@dataclass(frozen=True)
class ROCCurve:
    """Points of the empirical ROC curve (false/true positive rate at each distinct cut-off)."""

    fpr: FloatArray
    tpr: FloatArray
    thresholds: FloatArray
    auc: float
    n: int
    events: int

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {"threshold": self.thresholds, "fpr": self.fpr, "tpr": self.tpr,
             "sensitivity": self.tpr, "specificity": 1.0 - self.fpr}
        )

    def summary(self) -> str:
        return (
            f"ROC curve with {self.thresholds.size} cut-offs, AUC {self.auc:.3f}; "
            f"n={self.n}, events={self.events}"
        )

    def plot(self, ax: Axes | None = None, *, label: str | None = None) -> Axes:
        """Draw the curve (1 - specificity on x) with the chance diagonal; returns the Axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(4.5, 4.5))
        ax.plot([0, 1], [0, 1], color="0.8", lw=1, ls="--")
        # straight segments between distinct cut-offs (ties give diagonal steps; trapezoid AUC)
        ax.plot(self.fpr, self.tpr, label=label or f"AUC {self.auc:.3f}")
        ax.set_xlabel("1 - specificity")
        ax.set_ylabel("Sensitivity")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_aspect("equal")
        ax.legend(loc="lower right", frameon=False)
        return ax


# --------------------------------------------------------------------------------------------
# public functions
# --------------------------------------------------------------------------------------------
def auc(
    y: ArrayLike,
    score: ArrayLike,
    *,
    ci: Literal["delong", "bootstrap"] = "delong",
    level: float = 0.95,
    B: int = 2000,
    seed: int | None = None,
) -> AUCResult:
    """Area under the ROC curve with a DeLong or a stratified bootstrap confidence interval.

    Parameters
    ----------
    y : array of shape (n,), 0/1 outcome (1 = event).
    score : array of shape (n,), higher = higher risk (points, linear predictor or probability).
    ci : ``"delong"`` (default; equal to pROC's ``ci.auc(method = "delong")``, clipped to
        [0, 1]; NaN standard error and CI with fewer than two events or non-events) or ``"bootstrap"`` (events and non-events resampled separately, as pROC's
        stratified bootstrap; percentile interval).
    level : confidence level.
    B, seed : number of resamples and seed (bootstrap only).

    Examples
    --------
    >>> r = auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> round(r.auc, 2), r.n, r.events
    (0.75, 4, 2)
    """
    level = check_level(level, "auc")
    if ci not in ("delong", "bootstrap"):
        raise ValueError(
            f"The 'ci' parameter of auc must be a str among {{'delong', 'bootstrap'}}. "
            f"Got {ci!r} instead."
        )
    yy = as_outcome(y)
    s = as_scores(score, yy.size)
    events = int(yy.sum())
    z = float(stats.norm.ppf(0.5 + level / 2.0))
    if ci == "delong":
        aucs, cov = delong_covariance(yy, s)
        a = float(aucs[0])
        se = float(np.sqrt(max(cov[0, 0], 0.0))) if np.isfinite(cov[0, 0]) else float("nan")
        lo, hi = (max(a - z * se, 0.0), min(a + z * se, 1.0)) if se == se else (se, se)
        return AUCResult(a, lo, hi, se, int(yy.size), events, "delong", level)
    if not isinstance(B, int) or B < 10:
        raise ValueError(f"The 'B' parameter of auc must be an int >= 10. Got {B!r} instead.")
    rng = np.random.default_rng(seed)
    pos, neg = s[yy == 1], s[yy == 0]
    a = rank_auc(yy, s)
    boot = bootstrap_auc(pos, neg, B=B, rng=rng)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(boot, [alpha, 1.0 - alpha])
    return AUCResult(
        a, float(lo), float(hi), float(np.std(boot, ddof=1)), int(yy.size), events,
        "bootstrap", level, B, seed,
    )


def bootstrap_auc(
    pos: FloatArray, neg: FloatArray, *, B: int, rng: np.random.Generator, chunk: int = 500
) -> FloatArray:
    """AUCs of ``B`` stratified resamples (events and non-events drawn separately).

    Each resample is tallied as counts of events and non-events at each distinct score and
    its AUC taken by :func:`crsscore._numeric.auc_tallies` (the AUC of the point estimate,
    without sorting each resample).
    """
    out = np.empty(B, dtype=np.float64)
    m, n_ = pos.size, neg.size
    codes = dense_codes(np.concatenate([pos, neg]))
    k = int(codes.max()) + 1
    cp, cn = codes[:m], codes[m:]
    for start in range(0, B, chunk):
        b = min(chunk, B - start)
        ip = rng.integers(0, m, size=(b, m))
        ineg = rng.integers(0, n_, size=(b, n_))
        rows = np.arange(b)[:, None] * k
        ev = np.bincount((rows + cp[ip]).ravel(), minlength=b * k).reshape(b, k)
        ne = np.bincount((rows + cn[ineg]).ravel(), minlength=b * k).reshape(b, k)
        out[start : start + b] = auc_tallies(ev.astype(np.float64), ne.astype(np.float64))
    return out


def delong_test(
    y: ArrayLike, score1: ArrayLike, score2: ArrayLike, *, level: float = 0.95
) -> PairedTest:
    """Paired DeLong test of AUC(score1) - AUC(score2) on the same patients.

    Equal to pROC's ``roc.test(r1, r2, method = "delong", paired = TRUE)`` (z, p and the
    confidence interval of the difference).
    """
    level = check_level(level, "delong_test")
    yy = as_outcome(y)
    s1 = as_scores(score1, yy.size, name="score1")
    s2 = as_scores(score2, yy.size, name="score2")
    aucs, cov = delong_covariance(yy, np.vstack([s1, s2]))
    diff = float(aucs[0] - aucs[1])
    var = float(cov[0, 0] + cov[1, 1] - 2.0 * cov[0, 1])
    se = float(np.sqrt(max(var, 0.0))) if np.isfinite(var) else float("nan")
    zc = float(stats.norm.ppf(0.5 + level / 2.0))
    if not np.isfinite(se) or se > 0:
        zs = diff / se
        p = float(2.0 * stats.norm.sf(abs(zs)))
    else:  # identical rankings: no evidence of a difference
        zs, p = 0.0 if diff == 0 else float(np.sign(diff) * np.inf), 1.0 if diff == 0 else 0.0
    return PairedTest(
        diff, diff - zc * se, diff + zc * se, se, float(zs), p, float(aucs[0]), float(aucs[1]),
        int(yy.size), int(yy.sum()), level,
    )


def roc_curve(y: ArrayLike, score: ArrayLike) -> ROCCurve:
    """Empirical ROC curve: one point per distinct score (plus the (0, 0) corner)."""
    yy = as_outcome(y)
    s = as_scores(score, yy.size)
    fpr, tpr, thr = roc_points(yy, s)
    a = rank_auc(yy, s)
    return ROCCurve(fpr, tpr, thr, a, int(yy.size), int(yy.sum()))


def roc_points(yy: IntArray, s: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """False and true positive rates and thresholds of :func:`roc_curve`, for an outcome and
    scores already checked (:func:`as_outcome`, :func:`as_scores`); no AUC."""
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], yy[order]
    last = np.concatenate((np.flatnonzero(np.diff(s_sorted)), [s_sorted.size - 1]))
    tps = np.cumsum(y_sorted)[last]
    fps = (last + 1) - tps
    events, nonevents = int(yy.sum()), int(yy.size - yy.sum())
    tpr: FloatArray = np.concatenate(([0.0], tps / events))
    fpr: FloatArray = np.concatenate(([0.0], fps / nonevents))
    thr: FloatArray = np.concatenate(([np.inf], s_sorted[last]))
    return fpr, tpr, thr
