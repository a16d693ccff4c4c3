"""External validation of a frozen model, and updating it to a new setting.

:func:`validate_predictions` takes the outcomes of a new cohort and the risks the frozen model
(e.g. a score card's probability map) predicts for them, and returns every performance measure
with a confidence interval: AUC (DeLong), calibration intercept and slope (Wald), O/E
(Debray), and Brier, scaled Brier, Nagelkerke R2, ICI, E50, E90, Emax (bootstrap percentile
intervals, resampling patients with a seed), plus the calibration curve with a pointwise
bootstrap band, Hosmer-Lemeshow (with its caveat) and optionally a decision curve.

:func:`update_model` and :func:`compare_updates` implement the updating methods of Steyerberg
(Clinical Prediction Models, 2nd ed., chapter 20) on the linear predictor ``lp`` of the frozen
model:

* ``"original"``: no change;
* ``"intercept"``: recalibration in the large, ``lp + a`` (1 parameter);
* ``"logistic"``: logistic recalibration, ``a + b lp`` (2 parameters);
* ``"refit"``: re-estimation of all coefficients by a caller-supplied function.

:func:`compare_updates` shows them side by side (log-likelihood, AIC, likelihood-ratio tests,
apparent AUC and calibration) and picks one by a closed testing procedure (Vergouwe et al.
2017): each simpler method is tested against the most extensive method available, and the
simplest one not significantly worse is chosen.

References
----------
Steyerberg EW. Clinical Prediction Models, 2nd ed. Springer 2019, chapters 19-20.
Vergouwe Y, Nieboer D, Oostenbrink R, et al. A closed testing procedure to select an
appropriate method for updating prediction models. Stat Med 2017;36:4529-39.
Riley RD et al. External validation of clinical prediction models using big datasets from
e-health records or IPD meta-analysis. BMJ 2016;353:i3140.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

from crsscore._numeric import expit
from crsscore._types import FloatArray, IntArray
from crsscore.errors import DataError, Problem
from crsscore.validation.calibration import (
    CalibrationCurve,
    CalibrationResult,
    brier,
    calibration,
    calibration_curve,
    nagelkerke_r2,
    recalibration_fit,
)
from crsscore.validation.decision import DecisionCurve, decision_curve
from crsscore.validation.discrimination import AUCResult, as_outcome, as_scores, auc, check_level

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes


__all__ = [
    "ExternalValidation",
    "MetricCI",
    "UpdateComparison",
    "UpdatedModel",
    "compare_updates",
    "update_model",
    "validate_predictions",
]

UpdateMethod = Literal["original", "intercept", "logistic", "refit"]
_METHODS: tuple[str, ...] = ("original", "intercept", "logistic", "refit")


@dataclass(frozen=True)
class MetricCI:
    """One performance measure with its interval and how the interval was obtained."""

    metric: str
    estimate: float
    ci_low: float
    ci_high: float
    ci_method: str
    ideal: float | None


# --------------------------------------------------------------------------------------------
# external validation
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExternalValidation:
    """Performance of frozen predictions on a validation cohort.

    Attributes
    ----------
    metrics : every measure with estimate, interval and interval method (``to_frame()``).
    auc : :class:`AUCResult` (DeLong).
    calibration : :class:`CalibrationResult` (intercept, slope, curve, O/E, HL, Brier, R2).
    curve_band : calibration curve at a grid of risks with a pointwise bootstrap band
        (columns predicted, observed, lower, upper).
    decision : decision curve of the predictions (if thresholds were given).
    n, events, level, B, seed, failed : sample, level, resamples, seed and the number of
        resamples skipped (one outcome class only).
    """

    metrics: tuple[MetricCI, ...]
    auc: AUCResult
    calibration: CalibrationResult
    curve_band: pd.DataFrame = field(repr=False)
    decision: DecisionCurve | None
    n: int
    events: int
    level: float
    B: int
    seed: int | None
    failed: int

    @property
    def curve(self) -> CalibrationCurve:
        return self.calibration.curve

    def metric(self, name: str) -> MetricCI:
        for m in self.metrics:
            if m.metric == name:
                return m
        raise KeyError(f"unknown metric {name!r}; expected one of {[m.metric for m in self.metrics]}")

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON (metrics, calibration-curve band, Hosmer-Lemeshow, settings)."""
        hl = self.calibration.hosmer_lemeshow
        return {
            "n": self.n, "events": self.events, "level": self.level, "B": self.B,
            "seed": self.seed, "failed_resamples": self.failed,
            "metrics": [asdict(m) for m in self.metrics],
            "calibration_curve": self.curve_band.to_dict(orient="records"),
            "hosmer_lemeshow": None if hl is None else {
                "statistic": hl.statistic, "df": hl.df, "p": hl.p, "groups": hl.groups,
                "caveat": hl.caveat},
            "decision_curve": None if self.decision is None
            else self.decision.to_frame().to_dict(orient="records"),
        }

    def to_frame(self) -> pd.DataFrame:
        pct = f"{100 * self.level:g}%"
        frame = pd.DataFrame(
            {
                "estimate": [m.estimate for m in self.metrics],
                f"lower {pct}": [m.ci_low for m in self.metrics],
                f"upper {pct}": [m.ci_high for m in self.metrics],
                "ci_method": [m.ci_method for m in self.metrics],
                "ideal": [m.ideal for m in self.metrics],
            },
            index=pd.Index([m.metric for m in self.metrics], name="metric"),
        )
        frame["n"] = self.n
        frame["events"] = self.events
        return frame

    def summary(self) -> str:
        pct = f"{100 * self.level:g}%"
        lines = [f"External validation: n={self.n}, events={self.events} "
                 f"(bootstrap B={self.B}, seed={self.seed}, {self.failed} resample(s) skipped)"]
        for m in self.metrics:
            lines.append(f"  {m.metric:<22} {m.estimate:8.3f}  ({pct} CI {m.ci_low:.3f} to "
                         f"{m.ci_high:.3f}, {m.ci_method})")
        if self.calibration.hosmer_lemeshow is not None:
            hl = self.calibration.hosmer_lemeshow
            lines.append(f"  Hosmer-Lemeshow chi2 {hl.statistic:.2f}, df {hl.df}, p={hl.p:.3g} "
                         "(supplementary only: see its caveat)")
        return "\n".join(lines)

    def plot(self, ax: Axes | None = None) -> Axes:
        """Calibration plot with the bootstrap band of the flexible curve."""
        ax = self.calibration.plot(ax)
        band = self.curve_band
        ax.fill_between(band["predicted"], band["lower"], band["upper"], color="C0", alpha=0.15,
                        lw=0, label=f"{100 * self.level:g}% bootstrap band")
        ax.legend(loc="upper left", frameon=False)
        return ax


def validate_predictions(
    y: ArrayLike,
    prob: ArrayLike,
    *,
    level: float = 0.95,
    B: int = 500,
    seed: int | None = None,
    thresholds: ArrayLike | None = None,
    hl_groups: int | None = 10,
    grid_size: int = 50,
) -> ExternalValidation:
    """Validate frozen predicted probabilities ``prob`` against outcomes ``y``.

    Parameters
    ----------
    y : 0/1 outcome in the validation cohort.
    prob : risks predicted by the frozen model, in (0, 1).
    level : confidence level of every interval.
    B, seed : bootstrap resamples (patients drawn with replacement; resamples with one
        outcome class are skipped and counted) for the measures without an analytic interval.
    thresholds : if given, also a decision curve over these thresholds.
    hl_groups : groups for Hosmer-Lemeshow (``None`` to leave it out).
    grid_size : points of the calibration-curve band (between the 1st and 99th percentile
        of the predictions).
    """
    level = check_level(level, "validate_predictions")
    if not isinstance(B, int) or B < 20:
        raise ValueError(
            f"The 'B' parameter of validate_predictions must be an int >= 20. Got {B!r} instead."
        )
    yy = as_outcome(y)
    p = as_scores(prob, yy.size, name="prob", probability=True, open_interval=True)
    a = auc(yy, p, level=level)
    cal = calibration(yy, p, level=level, hl_groups=hl_groups)

    grid = np.quantile(p, np.linspace(0.01, 0.99, grid_size))
    rng = np.random.default_rng(seed)
    names = ["Brier", "scaled Brier", "Nagelkerke R2", "ICI", "E50", "E90", "Emax"]
    boot = np.empty((B, len(names)))
    band = np.empty((B, grid.size))
    failed = 0
    b = 0
    attempts = 0
    while b < B and attempts < 3 * B:
        attempts += 1
        idx = rng.integers(0, yy.size, yy.size)
        yb, pb = yy[idx], p[idx]
        if yb.min() == yb.max():
            failed += 1
            continue
        bs = brier(yb, pb)
        cc = calibration_curve(yb, pb)
        boot[b] = [bs.brier, bs.scaled, nagelkerke_r2(yb, pb), cc.ici, cc.e50, cc.e90, cc.emax]
        band[b] = np.interp(grid, cc.prob, cc.observed)
        b += 1
    boot, band = boot[:b], band[:b]
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(boot, [alpha, 1.0 - alpha], axis=0)
    est = {
        "Brier": cal.brier.brier, "scaled Brier": cal.brier.scaled, "Nagelkerke R2": cal.r2,
        "ICI": cal.curve.ici, "E50": cal.curve.e50, "E90": cal.curve.e90, "Emax": cal.curve.emax,
    }
    ideal = {"Brier": 0.0, "scaled Brier": 1.0, "Nagelkerke R2": 1.0, "ICI": 0.0, "E50": 0.0,
             "E90": 0.0, "Emax": 0.0}
    metrics = [
        MetricCI("AUC", a.auc, a.ci_low, a.ci_high, "DeLong", 1.0),
        MetricCI("calibration intercept", cal.intercept.estimate, cal.intercept.ci_low,
                 cal.intercept.ci_high, "Wald", 0.0),
        MetricCI("calibration slope", cal.slope.estimate, cal.slope.ci_low, cal.slope.ci_high,
                 "Wald", 1.0),
        MetricCI("O/E", cal.oe.ratio, cal.oe.ci_low, cal.oe.ci_high, "Debray 2017", 1.0),
    ]
    for j, name in enumerate(names):
        metrics.append(MetricCI(name, float(est[name]), float(lo[j]), float(hi[j]),
                                "bootstrap percentile", ideal[name]))
    smooth = np.interp(grid, cal.curve.prob, cal.curve.observed)
    curve_band = pd.DataFrame({
        "predicted": grid, "observed": smooth,
        "lower": np.quantile(band, alpha, axis=0), "upper": np.quantile(band, 1.0 - alpha, axis=0),
    })
    dc = decision_curve(yy, {"model": p}, thresholds) if thresholds is not None else None
    return ExternalValidation(
        tuple(metrics), a, cal, curve_band, dc, int(yy.size), int(yy.sum()), level, B, seed,
        failed,
    )


# --------------------------------------------------------------------------------------------
# updating
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class UpdatedModel:
    """A frozen model updated on new data.

    ``lp`` and ``prob`` are the updated linear predictor and risk of the patients it was
    updated on; ``intercept`` and ``slope`` map the original ``lp`` to the updated one
    (``a + b lp``; 0 and 1 for "original"; NaN for "refit", whose coefficients live in the
    caller's model).  ``n_estimated`` counts the parameters estimated on the new data.
    """

    method: str
    intercept: float
    slope: float
    intercept_se: float
    slope_se: float
    lp: FloatArray = field(repr=False)
    prob: FloatArray = field(repr=False)
    loglik: float
    n_estimated: int
    n: int
    events: int

    @property
    def aic(self) -> float:
        return -2.0 * self.loglik + 2.0 * self.n_estimated

    def transform(self, lp: ArrayLike) -> FloatArray:
        """Updated linear predictor for new patients' original ``lp`` (not for "refit")."""
        if self.method == "refit":
            raise ValueError(
                "a refitted model has new coefficients: predict with the refitted model itself"
            )
        x = np.asarray(lp, dtype=np.float64)
        return np.asarray(self.intercept + self.slope * x, dtype=np.float64)

    def predict_proba(self, lp: ArrayLike) -> FloatArray:
        """Updated risk for new patients' original ``lp``."""
        return expit(self.transform(lp))

    def summary(self) -> str:
        if self.method == "refit":
            core = f"all {self.n_estimated} coefficients re-estimated"
        else:
            core = f"updated lp = {self.intercept:.3f} + {self.slope:.3f} x lp"
        return (f"Update '{self.method}': {core}; log-likelihood {self.loglik:.2f}, "
                f"AIC {self.aic:.2f}; n={self.n}, events={self.events}")

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {"intercept": [self.intercept], "intercept_se": [self.intercept_se],
             "slope": [self.slope], "slope_se": [self.slope_se], "loglik": [self.loglik],
             "parameters estimated": [self.n_estimated], "AIC": [self.aic], "n": [self.n],
             "events": [self.events]},
            index=pd.Index([self.method], name="method"),
        )


def update_model(
    y: ArrayLike,
    lp: ArrayLike,
    method: UpdateMethod,
    *,
    refit: Callable[[IntArray], ArrayLike] | None = None,
    refit_parameters: int | None = None,
) -> UpdatedModel:
    """Update a frozen model with linear predictor ``lp`` on outcomes ``y``.

    ``method`` is "original", "intercept" (``logit P = a + lp``), "logistic"
    (``logit P = a + b lp``) or "refit": ``refit(y)`` must return the refitted model's linear
    predictor for the same patients (the caller closes over the predictors), and
    ``refit_parameters`` gives how many parameters it estimated (intercept included).
    """
    if method not in _METHODS:
        raise ValueError(
            f"The 'method' parameter of update_model must be a str among {set(_METHODS)}. "
            f"Got {method!r} instead."
        )
    yy = as_outcome(y)
    x = as_scores(lp, yy.size, name="lp")
    n, events = int(yy.size), int(yy.sum())
    nan = float("nan")
    if method == "original":
        ll = float(np.sum(yy * x - np.logaddexp(0.0, x)))
        return UpdatedModel(method, 0.0, 1.0, 0.0, 0.0, x, expit(x), ll, 0, n, events)
    if method == "intercept":
        fit = recalibration_fit(yy, x, slope=False)
        new = fit.coef[0] + x
        return UpdatedModel(method, float(fit.coef[0]), 1.0, float(fit.se[0]), 0.0, new,
                            expit(new), fit.loglik, 1, n, events)
    if method == "logistic":
        if np.ptp(x) == 0:
            raise DataError([Problem(table="lp", message="all linear predictors are equal: "
                                     "no slope can be fitted")])
        fit = recalibration_fit(yy, x, slope=True)
        new = fit.coef[0] + fit.coef[1] * x
        return UpdatedModel(method, float(fit.coef[0]), float(fit.coef[1]), float(fit.se[0]),
                            float(fit.se[1]), new, expit(new), fit.loglik, 2, n, events)
    # refit
    if refit is None or not callable(refit):
        raise ValueError("method 'refit' needs a 'refit' function: y -> refitted linear predictor")
    if isinstance(refit_parameters, bool) or not isinstance(refit_parameters, int) or refit_parameters < 1:
        raise ValueError(
            "The 'refit_parameters' parameter of update_model must be an int >= 1 (parameters "
            f"estimated by the refit, intercept included). Got {refit_parameters!r} instead."
        )
    new = as_scores(refit(yy.copy()), n, name="refit(y)")
    ll = float(np.sum(yy * new - np.logaddexp(0.0, new)))
    return UpdatedModel(method, nan, nan, nan, nan, new, expit(new), ll, refit_parameters,
                        n, events)


@dataclass(frozen=True)
class UpdateComparison:
    """Updating methods side by side on the same patients (apparent performance).

    ``frame`` has one row per method: parameters estimated, intercept, slope, log-likelihood,
    AIC, the likelihood-ratio test against the most extensive method, apparent AUC, Brier and
    calibration-in-the-large/slope.  ``selected`` is the closed-testing choice at ``alpha``.
    """

    models: dict[str, UpdatedModel] = field(repr=False)
    frame: pd.DataFrame = field(repr=False)
    selected: str
    reference: str
    alpha: float
    n: int
    events: int

    def to_frame(self) -> pd.DataFrame:
        return self.frame.copy()

    def summary(self) -> str:
        lines = [f"Model updating (n={self.n}, events={self.events}); each method tested "
                 f"against '{self.reference}' by likelihood ratio (alpha {self.alpha:g}):"]
        for method, row in self.frame.iterrows():
            test = (f"LR {row['LR chi2']:.2f} on {int(row['df'])} df, p={row['p']:.3g}"
                    if method != self.reference else "reference")
            lines.append(f"  {method:<9} params {int(row['parameters estimated'])}, AIC "
                         f"{row['AIC']:.1f}, AUC {row['AUC']:.3f}, Brier {row['Brier']:.4f}: {test}")
        lines.append(f"Selected (closed testing, Vergouwe 2017): {self.selected}. Apparent "
                     "performance of updated models is optimistic, most for 'refit'.")
        return "\n".join(lines)


def compare_updates(
    y: ArrayLike,
    lp: ArrayLike,
    *,
    refit: Callable[[IntArray], ArrayLike] | None = None,
    refit_parameters: int | None = None,
    alpha: float = 0.05,
) -> UpdateComparison:
    """Fit every updating method (refit only if ``refit`` is given) and compare them.

    The closed test: the most extensive method ("refit", else "logistic") is the reference;
    "original", "intercept", "logistic" are tested against it in that order with likelihood
    ratio tests (df = difference in parameters estimated) and the first one not
    significantly worse at ``alpha`` is selected; if all are, the reference is.
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(
            f"The 'alpha' parameter of compare_updates must be a float in the range (0, 1). "
            f"Got {alpha!r} instead."
        )
    yy = as_outcome(y)
    methods: list[UpdateMethod] = ["original", "intercept", "logistic"]
    if refit is not None:
        methods.append("refit")
    models: dict[str, UpdatedModel] = {
        m: update_model(yy, lp, m, refit=refit, refit_parameters=refit_parameters)
        for m in methods
    }
    reference = methods[-1]
    ref = models[reference]
    rows: list[dict[str, Any]] = []
    selected = reference
    for m in methods:
        um = models[m]
        if m == reference:
            lr, df, pval = 0.0, 0, float("nan")
        else:
            lr = max(2.0 * (ref.loglik - um.loglik), 0.0)
            df = ref.n_estimated - um.n_estimated
            pval = float(stats.chi2.sf(lr, df)) if df > 0 else float("nan")
            if selected == reference and df > 0 and pval >= alpha:
                selected = m
        cal_int = recalibration_fit(yy, um.lp, slope=False).coef[0]
        slope = (recalibration_fit(yy, um.lp, slope=True).coef[1]
                 if np.ptp(um.lp) > 0 else float("nan"))
        rows.append({
            "method": m, "parameters estimated": um.n_estimated, "intercept": um.intercept,
            "slope": um.slope, "loglik": um.loglik, "AIC": um.aic, "LR chi2": lr, "df": df,
            "p": pval, "AUC": auc(yy, um.lp).auc, "Brier": float(np.mean((um.prob - yy) ** 2)),
            "calibration intercept": float(cal_int), "calibration slope": float(slope),
        })
    frame = pd.DataFrame(rows).set_index("method")
    return UpdateComparison(models, frame, selected, reference, alpha, int(yy.size), int(yy.sum()))

