"""Calibration and overall fit of predicted probabilities.

Everything here takes the observed 0/1 outcome ``y`` and the predicted probability ``prob`` of
a frozen model (the linear predictor is ``lp = logit(prob)``):

* calibration-in-the-large: the intercept ``a`` of ``logit P(y=1) = a + lp`` (lp as offset);
  0 is ideal, ``a > 0`` means the model under-predicts.
* calibration slope: ``b`` in ``logit P(y=1) = a' + b lp``; 1 is ideal, ``b < 1`` means
  predictions too extreme (overfitting).  ``a'`` is the "Intercept" printed by rms ``val.prob``.
* flexible calibration curve: lowess of ``y`` on ``prob`` (see :func:`calibration_curve` for
  the settings) and the absolute differences summarised as ICI (mean), E50, E90 and Emax
  (Austin & Steyerberg 2019).
* observed/expected ratio with a CI, Hosmer-Lemeshow (only with its caveats), Brier and scaled
  Brier, Nagelkerke R2 of the given predictions.

The values equal those of R (rms ``val.prob``, ``glm`` with ``offset``); see
``tests/fixtures/proc/make_fixtures.R``.

References
----------
Van Calster B et al. Calibration: the Achilles heel of predictive analytics. BMC Med 2019;17:230.
Austin PC, Steyerberg EW. The Integrated Calibration Index (ICI) and related metrics for
quantifying the calibration of logistic regression models. Stat Med 2019;38:4051-65.
Steyerberg EW. Clinical Prediction Models, 2nd ed. Springer 2019, chapter 15.
Debray TPA et al. A guide to systematic review and meta-analysis of prediction model
performance. BMJ 2017;356:i6460 (the O/E confidence interval).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

from crsscore._numeric import expit
from crsscore._types import FloatArray
from crsscore.errors import DataError, Problem
from crsscore.modeling.logistic import LogisticFit, fit_logistic
from crsscore.validation.discrimination import (
    IntervalEstimate,
    as_outcome,
    as_scores,
    check_level,
)

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes


__all__ = [
    "HL_CAVEAT",
    "LOWESS_FRAC",
    "LOWESS_ITERATIONS",
    "BrierScore",
    "CalibrationCurve",
    "CalibrationResult",
    "Estimate",
    "HosmerLemeshow",
    "ObservedExpected",
    "SlopeEstimate",
    "brier",
    "calibration",
    "calibration_curve",
    "calibration_in_the_large",
    "calibration_slope",
    "hosmer_lemeshow",
    "logit",
    "nagelkerke_r2",
    "observed_expected",
    "recalibration_fit",
]

#: Fraction of the data used for each local fit: R's ``lowess`` default, used by rms ``val.prob``.
LOWESS_FRAC = 2.0 / 3.0
#: Robustifying iterations: 0, as ``val.prob`` (``lowess(p, y, iter = 0)``); robustness weights
#: would down-weight the 0/1 outcomes that disagree with the curve, which is wrong for binary y.
LOWESS_ITERATIONS = 0

#: Convergence tolerance of :func:`recalibration_fit` (relative log-likelihood change).
RECALIBRATION_TOL = 1e-14

HL_CAVEAT = (
    "Hosmer-Lemeshow: the p-value depends on the arbitrary number of groups, has low power in "
    "small cohorts and flags trivial miscalibration in large ones, and says nothing about the "
    "direction or size of miscalibration. Report the calibration intercept, slope and curve "
    "instead; give Hosmer-Lemeshow only as a supplement."
)


def logit(prob: FloatArray) -> FloatArray:
    """log(p / (1 - p)), elementwise."""
    return np.asarray(np.log(prob) - np.log1p(-prob), dtype=np.float64)


def recalibration_fit(y: ArrayLike, lp: ArrayLike, *, slope: bool) -> LogisticFit:
    """Logistic recalibration of a linear predictor: ``logit P(y=1) = a + lp`` (``lp`` as
    offset) or, with ``slope``, ``a + b lp``; coefficients ``[a]`` or ``[a, b]``.

    The project's maximum-likelihood fitter (:func:`crsscore.modeling.logistic.fit_logistic`)
    iterated to machine precision (equal to R ``glm`` and statsmodels to ~1e-15); separation
    or no convergence raises :class:`ModelError` (a recalibration without estimates is no
    recalibration).
    """
    y_a = np.asarray(y)
    if slope:
        return fit_logistic(lp, y_a, strict=True, tol=RECALIBRATION_TOL)
    return fit_logistic(np.empty((y_a.shape[0], 0)), y_a, offset=lp, strict=True,
                        tol=RECALIBRATION_TOL)


def _z(level: float) -> float:
    return float(stats.norm.ppf(0.5 + level / 2.0))


# --------------------------------------------------------------------------------------------
# small result types
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Estimate(IntervalEstimate):
    """One estimate with standard error and a Wald confidence interval."""

    name: str
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    n: int
    events: int
    level: float = 0.95
    ideal: float | None = None
    note: str = ""

    def to_frame(self) -> pd.DataFrame:
        lower, upper = self.ci_labels()
        return pd.DataFrame(
            {
                "estimate": [self.estimate],
                "se": [self.se],
                lower: [self.ci_low],
                upper: [self.ci_high],
                "ideal": [self.ideal],
                "n": [self.n],
                "events": [self.events],
            },
            index=pd.Index([self.name], name="metric"),
        )

    def summary(self) -> str:
        ideal = f" (ideal {self.ideal:g})" if self.ideal is not None else ""
        return (
            f"{self.name}: {self.estimate:.3f} ({100 * self.level:g}% CI {self.ci_low:.3f} to "
            f"{self.ci_high:.3f}){ideal}; n={self.n}, events={self.events}"
        )


def _prepare(y: ArrayLike, prob: ArrayLike, *, open_interval: bool) -> tuple[Any, FloatArray]:
    yy = as_outcome(y)
    p = as_scores(prob, yy.size, name="prob", probability=True, open_interval=open_interval)
    return yy, p


def calibration_in_the_large(y: ArrayLike, prob: ArrayLike, *, level: float = 0.95) -> Estimate:
    """Calibration intercept with the linear predictor as offset (ideal 0), Wald CI.

    Equal to R ``glm(y ~ 1 + offset(qlogis(prob)), family = binomial)`` and
    ``confint.default``.  Probabilities must lie in (0, 1).
    """
    level = check_level(level, "calibration_in_the_large")
    yy, p = _prepare(y, prob, open_interval=True)
    fit = recalibration_fit(yy, logit(p), slope=False)
    a, se = float(fit.coef[0]), float(fit.se[0])
    z = _z(level)
    return Estimate(
        "calibration intercept", a, se, a - z * se, a + z * se, int(yy.size), int(yy.sum()),
        level, 0.0, "logit P(y) = a + lp (offset); a > 0: risk under-predicted",
    )


@dataclass(frozen=True)
class SlopeEstimate(Estimate):
    """Calibration slope; ``intercept`` is the intercept of the same fit (rms 'Intercept')."""

    intercept: float = 0.0


def calibration_slope(y: ArrayLike, prob: ArrayLike, *, level: float = 0.95) -> SlopeEstimate:
    """Calibration slope ``b`` of ``logit P(y=1) = a + b lp`` (ideal 1) with Wald CI.

    ``intercept`` holds ``a`` (rms ``val.prob``'s "Intercept").  Probabilities must lie in
    (0, 1).
    """
    level = check_level(level, "calibration_slope")
    yy, p = _prepare(y, prob, open_interval=True)
    lp = logit(p)
    if np.ptp(lp) == 0:
        raise DataError(
            [Problem(table="prob", message="all predictions are equal: no slope can be fitted")]
        )
    fit = recalibration_fit(yy, lp, slope=True)
    b, se = float(fit.coef[1]), float(fit.se[1])
    z = _z(level)
    return SlopeEstimate(
        "calibration slope", b, se, b - z * se, b + z * se, int(yy.size), int(yy.sum()), level,
        1.0, "logit P(y) = a + b lp; b < 1: predictions too extreme", float(fit.coef[0]),
    )


# --------------------------------------------------------------------------------------------
# flexible calibration curve
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CalibrationCurve:
    """Lowess calibration curve and the summaries of |prob - smoothed|.

    Attributes
    ----------
    prob, observed : predicted probability of each patient (sorted) and the smoothed observed
        risk at that probability.
    ici, e50, e90, emax : mean, median, 90th percentile and maximum of the absolute difference
        (ICI is rms ``val.prob``'s "Eavg").
    frac, iterations, delta : lowess settings.
    """

    prob: FloatArray
    observed: FloatArray
    ici: float
    e50: float
    e90: float
    emax: float
    n: int
    events: int
    frac: float
    iterations: int
    delta: float

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {"predicted": self.prob, "observed": self.observed,
             "abs_error": np.abs(self.prob - self.observed)}
        )

    def summary(self) -> str:
        return (
            f"Calibration curve (lowess, frac={self.frac:.3g}, iterations={self.iterations}): "
            f"ICI {self.ici:.3f}, E50 {self.e50:.3f}, E90 {self.e90:.3f}, Emax {self.emax:.3f}; "
            f"n={self.n}, events={self.events}"
        )

    def plot(self, ax: Axes | None = None, *, label: str = "Flexible (lowess)") -> Axes:
        """Calibration plot: ideal diagonal, lowess curve and a rug of predictions."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(4.5, 4.5))
        ax.plot([0, 1], [0, 1], color="0.75", lw=3, label="Ideal")
        ax.plot(self.prob, self.observed, color="C0", lw=1.5, label=label)
        ax.plot(self.prob, np.full(self.prob.size, -0.02), "|", color="0.3", ms=6, alpha=0.5)
        hi = float(min(1.0, max(self.prob.max(), np.nanmax(self.observed)) * 1.1 + 0.02))
        ax.set_xlim(0, hi)
        ax.set_ylim(-0.04, hi)
        ax.set_xlabel("Predicted probability")
        ax.set_ylabel("Observed proportion")
        ax.legend(loc="upper left", frameon=False)
        return ax


def calibration_curve(
    y: ArrayLike,
    prob: ArrayLike,
    *,
    frac: float = LOWESS_FRAC,
    iterations: int = LOWESS_ITERATIONS,
    delta: float | None = None,
) -> CalibrationCurve:
    """Flexible calibration curve by lowess of ``y`` on ``prob``, with ICI, E50, E90, Emax.

    statsmodels ``lowess(y, prob, frac=2/3, it=0, delta=0.01 * range(prob))`` reproduces R's
    ``lowess(p, y, iter = 0)`` used by rms ``val.prob``, so Eavg (= ICI), E90 and Emax equal
    val.prob's.  Austin & Steyerberg (2019) smooth with R ``loess`` (span 0.75) instead; the
    two agree closely but not exactly.  E90 uses the linear (R type 7) quantile.
    """
    from statsmodels.nonparametric.smoothers_lowess import lowess

    if not 0.0 < frac <= 1.0:
        raise ValueError(
            f"The 'frac' parameter of calibration_curve must be a float in the range (0, 1]. "
            f"Got {frac!r} instead."
        )
    if not isinstance(iterations, int) or iterations < 0:
        raise ValueError(
            "The 'iterations' parameter of calibration_curve must be an int >= 0. "
            f"Got {iterations!r} instead."
        )
    yy, p = _prepare(y, prob, open_interval=False)
    d = 0.01 * float(np.ptp(p)) if delta is None else float(delta)
    smooth = np.asarray(
        lowess(yy.astype(np.float64), p, frac=frac, it=iterations, delta=d, return_sorted=False),
        dtype=np.float64,
    )
    err = np.abs(p - smooth)
    order = np.argsort(p, kind="mergesort")
    return CalibrationCurve(
        p[order], smooth[order], float(np.mean(err)), float(np.quantile(err, 0.5)),
        float(np.quantile(err, 0.9)), float(np.max(err)), int(yy.size), int(yy.sum()),
        float(frac), int(iterations), d,
    )


# --------------------------------------------------------------------------------------------
# O/E, Hosmer-Lemeshow, Brier, R2
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ObservedExpected(IntervalEstimate):
    """Observed / expected events with the CI of Debray et al. (2017):
    ``exp(log(O/E) +- z sqrt((1 - O/n) / O))``."""

    ratio: float
    ci_low: float
    ci_high: float
    observed: int
    expected: float
    n: int
    events: int
    level: float = 0.95

    def to_frame(self) -> pd.DataFrame:
        lower, upper = self.ci_labels()
        return pd.DataFrame(
            {"estimate": [self.ratio], lower: [self.ci_low],
             upper: [self.ci_high], "observed": [self.observed],
             "expected": [self.expected], "n": [self.n]},
            index=pd.Index(["O/E"], name="metric"),
        )

    def summary(self) -> str:
        return (
            f"O/E {self.ratio:.3f} ({100 * self.level:g}% CI {self.ci_low:.3f}-{self.ci_high:.3f}):"
            f" {self.observed} observed vs {self.expected:.1f} expected events; n={self.n}"
        )


def observed_expected(y: ArrayLike, prob: ArrayLike, *, level: float = 0.95) -> ObservedExpected:
    """Ratio of observed to expected (sum of predicted risks) events, ideal 1."""
    level = check_level(level, "observed_expected")
    yy, p = _prepare(y, prob, open_interval=False)
    o, e, n = int(yy.sum()), float(p.sum()), int(yy.size)
    if e <= 0:
        raise DataError([Problem(table="prob", message="all predicted risks are 0")])
    ratio = o / e
    se = float(np.sqrt((1.0 - o / n) / o))
    z = _z(level)
    return ObservedExpected(
        ratio, float(np.exp(np.log(ratio) - z * se)), float(np.exp(np.log(ratio) + z * se)),
        o, e, n, o, level,
    )


@dataclass(frozen=True)
class HosmerLemeshow:
    """Hosmer-Lemeshow goodness-of-fit test over groups of predicted risk (see ``caveat``)."""

    statistic: float
    df: int
    p: float
    groups: int
    table: pd.DataFrame = field(repr=False)
    n: int
    events: int
    caveat: str = HL_CAVEAT

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    def summary(self) -> str:
        return (
            f"Hosmer-Lemeshow chi2 {self.statistic:.2f} on {self.df} df, p={self.p:.3g} "
            f"({self.groups} groups); n={self.n}, events={self.events}. {self.caveat}"
        )


def hosmer_lemeshow(y: ArrayLike, prob: ArrayLike, *, g: int = 10) -> HosmerLemeshow:
    """Hosmer-Lemeshow test with ``g`` groups cut at quantiles of the predicted risk.

    Groups as ResourceSelection ``hoslem.test``: ``cut(prob, quantile(prob, 0:g / g),
    include.lowest = TRUE)`` (right-closed).  Repeated quantiles (many tied risks, as with a
    point score) are merged, which leaves fewer groups; df = groups - 2.
    """
    if not isinstance(g, int) or g < 3:
        raise ValueError(f"The 'g' parameter of hosmer_lemeshow must be an int >= 3. Got {g!r} instead.")
    yy, p = _prepare(y, prob, open_interval=False)
    breaks = np.unique(np.quantile(p, np.linspace(0.0, 1.0, g + 1)))
    if breaks.size < 4:
        raise DataError(
            [Problem(table="prob", message="fewer than 3 distinct risk groups: Hosmer-Lemeshow "
                     "is not defined", value=str(breaks.size - 1), expected="at least 3 groups")]
        )
    grp = np.clip(np.searchsorted(breaks, p, side="left"), 1, breaks.size - 1) - 1
    k = breaks.size - 1
    n_g = np.bincount(grp, minlength=k).astype(np.float64)
    o1 = np.bincount(grp, weights=yy.astype(np.float64), minlength=k)
    e1 = np.bincount(grp, weights=p, minlength=k)
    keep = n_g > 0
    n_g, o1, e1 = n_g[keep], o1[keep], e1[keep]
    o0, e0 = n_g - o1, n_g - e1
    with np.errstate(divide="ignore", invalid="ignore"):
        chi = np.where(e1 > 0, (o1 - e1) ** 2 / e1, 0.0) + np.where(e0 > 0, (o0 - e0) ** 2 / e0, 0.0)
    stat = float(chi.sum())
    groups = int(keep.sum())
    df = groups - 2
    lo = breaks[:-1][keep]
    hi = breaks[1:][keep]
    table = pd.DataFrame(
        {"lower": lo, "upper": hi, "n": n_g.astype(int), "observed": o1, "expected": e1,
         "observed_nonevents": o0, "expected_nonevents": e0}
    )
    return HosmerLemeshow(
        stat, df, float(stats.chi2.sf(stat, df)), groups, table, int(yy.size), int(yy.sum())
    )


@dataclass(frozen=True)
class BrierScore:
    """Brier score (mean squared error of the risk) and scaled Brier
    ``1 - Brier / (pbar (1 - pbar))`` (pbar = observed event rate; 1 ideal, 0 = no better than
    predicting pbar for everyone)."""

    brier: float
    scaled: float
    brier_max: float
    n: int
    events: int

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {"estimate": [self.brier, self.scaled], "n": [self.n] * 2},
            index=pd.Index(["Brier", "scaled Brier"], name="metric"),
        )

    def summary(self) -> str:
        return (
            f"Brier {self.brier:.4f} (scaled {self.scaled:.3f}; non-informative "
            f"{self.brier_max:.4f}); n={self.n}, events={self.events}"
        )


def brier(y: ArrayLike, prob: ArrayLike) -> BrierScore:
    """Brier score and scaled Brier score of predicted probabilities."""
    yy, p = _prepare(y, prob, open_interval=False)
    b = float(np.mean((p - yy) ** 2))
    pbar = float(yy.mean())
    bmax = pbar * (1.0 - pbar)
    return BrierScore(b, 1.0 - b / bmax, bmax, int(yy.size), int(yy.sum()))


def nagelkerke_r2(y: ArrayLike, prob: ArrayLike) -> float:
    """Nagelkerke R2 of the given predictions (no refit), as rms ``val.prob``'s "R2".

    ``(1 - exp(-LR / n)) / (1 - exp(-L0 / n))`` with ``L0`` the -2 log-likelihood of the
    null model (the observed event rate for all) and ``LR = L0 - L(prob)``.  Negative when
    the predictions are worse than the event rate given to everyone.
    """
    yy, p = _prepare(y, prob, open_interval=True)
    n = yy.size
    pbar = float(yy.mean())
    l0 = -2.0 * float(np.sum(yy * np.log(pbar) + (1 - yy) * np.log1p(-pbar)))
    lp = logit(p)
    l1 = -2.0 * float(np.sum(yy * lp - np.logaddexp(0.0, lp)))
    lr = l0 - l1
    return float((1.0 - np.exp(-lr / n)) / (1.0 - np.exp(-l0 / n)))


# --------------------------------------------------------------------------------------------
# everything together
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CalibrationResult:
    """All calibration and overall-fit measures of one set of predictions."""

    intercept: Estimate
    slope: SlopeEstimate
    curve: CalibrationCurve
    oe: ObservedExpected
    hosmer_lemeshow: HosmerLemeshow | None
    brier: BrierScore
    r2: float
    n: int
    events: int
    level: float = 0.95

    def to_frame(self) -> pd.DataFrame:
        """One row per measure: estimate, se, CI (where analytic) and the ideal value."""
        pct = f"{100 * self.level:g}%"
        lo, hi = f"lower {pct}", f"upper {pct}"
        nan = float("nan")
        rows: list[dict[str, Any]] = [
            {"metric": "calibration intercept", "estimate": self.intercept.estimate,
             "se": self.intercept.se, lo: self.intercept.ci_low, hi: self.intercept.ci_high,
             "ideal": 0.0},
            {"metric": "calibration slope", "estimate": self.slope.estimate, "se": self.slope.se,
             lo: self.slope.ci_low, hi: self.slope.ci_high, "ideal": 1.0},
            {"metric": "O/E", "estimate": self.oe.ratio, "se": nan, lo: self.oe.ci_low,
             hi: self.oe.ci_high, "ideal": 1.0},
            {"metric": "ICI", "estimate": self.curve.ici, "ideal": 0.0},
            {"metric": "E50", "estimate": self.curve.e50, "ideal": 0.0},
            {"metric": "E90", "estimate": self.curve.e90, "ideal": 0.0},
            {"metric": "Emax", "estimate": self.curve.emax, "ideal": 0.0},
            {"metric": "Brier", "estimate": self.brier.brier, "ideal": 0.0},
            {"metric": "scaled Brier", "estimate": self.brier.scaled, "ideal": 1.0},
            {"metric": "Nagelkerke R2", "estimate": self.r2, "ideal": 1.0},
        ]
        if self.hosmer_lemeshow is not None:
            rows.append({"metric": "Hosmer-Lemeshow p", "estimate": self.hosmer_lemeshow.p})
        frame = pd.DataFrame(rows).set_index("metric")
        frame["n"] = self.n
        frame["events"] = self.events
        return frame[["estimate", "se", lo, hi, "ideal", "n", "events"]]

    def summary(self) -> str:
        lines = [
            f"Calibration (n={self.n}, events={self.events})",
            "  " + self.intercept.summary().split(";")[0],
            "  " + self.slope.summary().split(";")[0],
            "  " + self.oe.summary().split(";")[0],
            f"  ICI {self.curve.ici:.3f}, E50 {self.curve.e50:.3f}, E90 {self.curve.e90:.3f}, "
            f"Emax {self.curve.emax:.3f}",
            f"  Brier {self.brier.brier:.4f}, scaled Brier {self.brier.scaled:.3f}, "
            f"Nagelkerke R2 {self.r2:.3f}",
        ]
        if self.hosmer_lemeshow is not None:
            lines.append("  " + self.hosmer_lemeshow.summary())
        return "\n".join(lines)

    def plot(self, ax: Axes | None = None) -> Axes:
        """Calibration plot with the logistic recalibration line and the key numbers."""
        ax = self.curve.plot(ax)
        grid = np.linspace(max(self.curve.prob.min(), 1e-4), min(self.curve.prob.max(), 1 - 1e-4), 200)
        a, b = self.slope.intercept, self.slope.estimate
        ax.plot(grid, expit(a + b * logit(grid)), color="C1", lw=1, ls="--",
                label="Logistic calibration")
        ax.text(0.98, 0.02,
                f"intercept {self.intercept.estimate:.2f}\nslope {self.slope.estimate:.2f}\n"
                f"ICI {self.curve.ici:.3f}",
                transform=ax.transAxes, ha="right", va="bottom", fontsize=8)
        ax.legend(loc="upper left", frameon=False)
        return ax


def calibration(
    y: ArrayLike,
    prob: ArrayLike,
    *,
    level: float = 0.95,
    hl_groups: int | None = 10,
    frac: float = LOWESS_FRAC,
    iterations: int = LOWESS_ITERATIONS,
) -> CalibrationResult:
    """Every calibration and overall measure of ``prob`` (see the module docstring).

    ``hl_groups=None`` leaves out Hosmer-Lemeshow.  A warning-free, pure computation.
    """
    level = check_level(level, "calibration")
    yy, p = _prepare(y, prob, open_interval=True)
    hl = hosmer_lemeshow(yy, p, g=hl_groups) if hl_groups is not None else None
    return CalibrationResult(
        calibration_in_the_large(yy, p, level=level),
        calibration_slope(yy, p, level=level),
        calibration_curve(yy, p, frac=frac, iterations=iterations),
        observed_expected(yy, p, level=level),
        hl,
        brier(yy, p),
        nagelkerke_r2(yy, p),
        int(yy.size),
        int(yy.sum()),
        level,
    )

