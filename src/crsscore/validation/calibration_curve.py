"""Bias-corrected calibration curve by the bootstrap of a whole pipeline (``rms::calibrate``).

For the original fit, a lowess smoother (``iter = 0``, as rms) of the outcome on the predicted
probability gives ``calibrated.orig`` at a grid ``predy`` of predicted probabilities.  In each
bootstrap resample the *whole* pipeline is refitted (the caller's ``fit_fn``, the same
convention as :func:`crsscore.validation.internal.optimism_bootstrap` and
``crsscore.workflow.validate_pipeline``); the smoother is computed on the resample's own
predictions (``training``) and on the original patients' predictions from the resample's
model (``test``).  The optimism at each ``predy`` is ``training - test`` averaged over the
resamples whose fit succeeded, and ``calibrated.corrected = calibrated.orig - optimism``
(clipped to [0, 1]).  As rms's print, the result gives the mean and the 0.9 quantile of
``|predicted - calibrated.corrected|`` over the original predictions.

Resamples are drawn by :func:`crsscore.validation.internal.bootstrap_indices`, so resample
``i`` is the same as resample ``i`` of ``optimism_bootstrap`` with the same seed and
stratification.

References
----------
Harrell FE. Regression Modeling Strategies, 2nd ed. Springer 2015, section 10.11.
Harrell FE. rms: ``calibrate.default`` (R package).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from crsscore._numeric import expit
from crsscore._types import FloatArray
from crsscore.errors import ModelError
from crsscore.validation.calibration import LOWESS_FRAC
from crsscore.validation.internal import (
    FitFn,
    _check_common,
    _check_y,
    _chunks,
    _fit_predict,
    _single_thread_blas,
    _version,
    bootstrap_indices,
)

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes


__all__ = ["BootstrapCalibration", "calibrate_bootstrap", "calibration_from_optimism",
           "calibration_grid", "calibration_optimism", "smooth_at"]


def smooth_at(prob: FloatArray, y: FloatArray, grid: FloatArray, *, frac: float = LOWESS_FRAC) -> FloatArray:
    """Lowess (``iter = 0``, ``delta = 0.01 * range``) of ``y`` on ``prob`` evaluated at
    ``grid`` by linear interpolation; tied predictions are averaged first and grid points
    outside the range of ``prob`` are NaN (R ``approx(..., ties = mean)``, rule 1)."""
    from statsmodels.nonparametric.smoothers_lowess import lowess

    p = np.asarray(prob, dtype=np.float64)
    if np.ptp(p) == 0:
        return np.full(grid.shape, np.nan)
    sm = np.asarray(lowess(y, p, frac=frac, it=0, delta=0.01 * float(np.ptp(p)),
                           return_sorted=False), dtype=np.float64)
    ux, inv = np.unique(p, return_inverse=True)
    uy = np.bincount(inv, weights=sm) / np.bincount(inv)
    out = np.interp(grid, ux, uy)
    out[(grid < ux[0]) | (grid > ux[-1])] = np.nan
    return out


@dataclass(frozen=True)
class BootstrapCalibration:
    """Apparent and bias-corrected calibration curves, laid out as ``rms::calibrate``.

    Attributes
    ----------
    predy : grid of predicted probabilities (50 points between the 1st and 99th percentiles
        of the original predictions, as rms).
    calibrated_orig, calibrated_corrected : smoothed observed risk at ``predy`` (apparent,
        and minus the bootstrap optimism).
    optimism : mean ``training - test`` at each ``predy``; ``n_used`` resamples per point.
    predicted : the original predictions (for the error summary and a rug).
    mean_abs_error, q90_error : mean and 0.9 quantile of ``|predicted - corrected|``.
    B, seed, n_failed, stratified, frac, n, events, version : how it was computed.
    """

    predy: FloatArray
    calibrated_orig: FloatArray
    calibrated_corrected: FloatArray
    optimism: FloatArray
    n_used: NDArray[np.int_]
    predicted: FloatArray = field(repr=False)
    mean_abs_error: float
    q90_error: float
    B: int
    seed: int | None
    n_failed: int
    stratified: bool
    frac: float
    n: int
    events: int
    version: str
    failures: tuple[str, ...] = ()

    def to_frame(self) -> pd.DataFrame:
        """rms columns: ``predy, calibrated.orig, calibrated.corrected`` plus optimism and n."""
        return pd.DataFrame({
            "predy": self.predy, "calibrated.orig": self.calibrated_orig,
            "calibrated.corrected": self.calibrated_corrected, "optimism": self.optimism,
            "n": self.n_used,
        })

    def summary(self) -> str:
        return (
            f"Bias-corrected calibration (bootstrap of the whole pipeline): B = {self.B}, "
            f"seed = {self.seed}, failed fits = {self.n_failed}; n = {self.n}, "
            f"events = {self.events}. Mean absolute error {self.mean_abs_error:.3f}, "
            f"0.9 quantile of absolute error {self.q90_error:.3f}."
        )

    def plot(self, ax: Axes | None = None, *, corrected_only: bool = False) -> Axes:
        """Ideal line, apparent and bias-corrected curves (line styles differ); returns the Axes.

        ``corrected_only`` draws the bias-corrected curve alone onto an existing plot (the
        report's calibration figure draws its own apparent curve over every patient)."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(4.5, 4.5))
        if corrected_only:
            ax.plot(self.predy, self.calibrated_corrected, color="0.0", lw=1.9,
                    label=f"Bias-corrected (bootstrap, B={self.B})")
            return ax
        hi = float(min(1.0, np.nanmax([self.predy.max(), *self.calibrated_orig]) * 1.1 + 0.02))
        ax.plot([0, 1], [0, 1], color="0.6", lw=1, ls=":", label="Ideal")
        ax.plot(self.predy, self.calibrated_orig, color="0.45", lw=1.5, ls="--", label="Apparent")
        ax.plot(self.predy, self.calibrated_corrected, color="0.0", lw=1.8, label="Bias-corrected")
        ax.set_xlim(0, hi)
        ax.set_ylim(0, hi)
        ax.set_xlabel("Predicted probability")
        ax.set_ylabel("Observed proportion")
        ax.legend(loc="upper left", frameon=False)
        return ax


def _calib_chunk(fit_fn: FitFn, X: Any, y: FloatArray, ids: Sequence[int], *, seed: int | None,
                 stratified: bool, predy: FloatArray, frac: float) -> tuple[FloatArray, list[str]]:
    """Optimism (len(ids), len(predy)) of resamples ``ids``; NaN rows for failed fits."""
    with _single_thread_blas():
        out = np.full((len(ids), predy.size), np.nan)
        fails: list[str] = []
        boot = bootstrap_indices(y, seed, ids, stratified)
        for r in range(len(ids)):
            train = boot[r]
            lp_train, lp_test, err = _fit_predict(fit_fn, X, y, train, None, "rows")
            if err is not None:
                fails.append(err)
                continue
            out[r] = calibration_optimism(lp_train, y[train], lp_test, y, predy, frac)
        return out, fails


def calibrate_bootstrap(
    fit_fn: FitFn,
    X: Any,
    y: ArrayLike,
    *,
    B: int = 200,
    seed: int | None,
    stratified: bool = True,
    n_grid: int = 50,
    frac: float = LOWESS_FRAC,
    n_jobs: int = 1,
    lp: ArrayLike | None = None,
) -> BootstrapCalibration:
    """Bootstrap bias-corrected calibration curve of a whole pipeline (``rms::calibrate``).

    Parameters
    ----------
    fit_fn : ``fit_fn(X_train, y_train, weights) -> predictor``; ``predictor(X)`` returns the
        linear predictor (log-odds); probabilities are ``expit(lp)``.
    X, y : the original data (rows are resampled) and the 0/1 outcome.
    B, seed, stratified : resamples, seed and whether events and non-events are resampled
        separately (the same draws as ``optimism_bootstrap``).
    n_grid : points of the ``predy`` grid.
    frac : lowess span.
    n_jobs : local worker processes (joblib).
    lp : the linear predictor of the model being reported on the original data (as rms
        calibrates the fit it is given); default: ``fit_fn`` refitted on all rows.  Use it when
        the reported model differs in an inessential way from a bootstrap refit (for example
        more imputations).
    """
    _check_common(B, n_jobs)
    if not isinstance(n_grid, int) or n_grid < 2:
        raise ModelError(f"n_grid must be an int >= 2; got {n_grid!r}")
    if not 0.0 < frac <= 1.0:
        raise ModelError(f"frac must be in (0, 1]; got {frac!r}")
    ya = _check_y(y, len(X))
    if lp is None:
        all_rows = np.arange(ya.shape[0])
        lp_orig, _, err = _fit_predict(fit_fn, X, ya, all_rows, None, "rows")
        if err is not None:
            raise ModelError(f"the pipeline cannot be fitted on the original data: {err}")
    else:
        lp_orig = np.asarray(lp, dtype=np.float64).reshape(-1)
        if lp_orig.shape[0] != ya.shape[0] or not np.all(np.isfinite(lp_orig)):
            raise ModelError(f"lp must hold {ya.shape[0]} finite values, one per patient")
    pred, predy = calibration_grid(lp_orig, n_grid)
    orig = smooth_at(pred, ya, predy, frac=frac)

    chunks = _chunks(B, max(1, math.ceil(B / (4 * max(1, n_jobs if n_jobs > 0 else 8)))))
    kw = {"seed": seed, "stratified": stratified, "predy": predy, "frac": frac}
    if n_jobs == 1:
        results = [_calib_chunk(fit_fn, X, ya, c, **kw) for c in chunks]  # type: ignore[arg-type]
    else:
        from joblib import Parallel, delayed

        results = list(Parallel(n_jobs=n_jobs)(
            delayed(_calib_chunk)(fit_fn, X, ya, c, **kw) for c in chunks))
    opt_all = np.vstack([r[0] for r in results])
    failures = [f for r in results for f in r[1]]
    return calibration_from_optimism(pred, ya, predy, orig, opt_all, failures, B=B, seed=seed,
                                     stratified=stratified, frac=frac)


def calibration_grid(lp: FloatArray, n_grid: int = 50) -> tuple[FloatArray, FloatArray]:
    """The original predictions ``expit(lp)`` and rms's ``predy`` grid: ``n_grid`` points
    between their 1st and 99th percentiles."""
    pred = expit(np.asarray(lp, dtype=np.float64))
    lo, hi = np.quantile(pred, [0.01, 0.99])
    if not hi > lo:
        raise ModelError("the predictions are (nearly) constant: no calibration curve can be drawn")
    return pred, np.linspace(lo, hi, n_grid)


def calibration_optimism(lp_train: FloatArray, y_train: FloatArray, lp_test: FloatArray,
                         y: FloatArray, predy: FloatArray, frac: float = LOWESS_FRAC) -> FloatArray:
    """One resample's optimism at ``predy``: the smoother on the resample's own predictions
    minus the smoother on the original patients' predictions from the resample's model."""
    out: FloatArray = (smooth_at(expit(lp_train), y_train, predy, frac=frac)
                       - smooth_at(expit(lp_test), y, predy, frac=frac))
    return out


def calibration_from_optimism(pred: FloatArray, ya: FloatArray, predy: FloatArray,
                              orig: FloatArray, opt_all: FloatArray, failures: Sequence[str], *,
                              B: int, seed: int | None, stratified: bool, frac: float,
                              n_failed: int | None = None) -> BootstrapCalibration:
    """The rms ``calibrate`` result from per-resample optimism rows (NaN rows: failed fits;
    ``n_failed`` defaults to the number of ``failures``)."""
    ok = ~np.all(np.isnan(opt_all), axis=1)
    n_failed = len(failures) if n_failed is None else n_failed
    if not ok.any():
        raise ModelError(f"all {B} resample fits failed; first failure: "
                         f"{failures[0] if failures else 'no calibration curve could be computed'}")
    n_used = np.sum(~np.isnan(opt_all[ok]), axis=0).astype(np.int_)
    with np.errstate(invalid="ignore"):
        optimism = np.where(n_used > 0, np.nansum(opt_all[ok], axis=0) / np.maximum(n_used, 1), np.nan)
    corrected = np.clip(orig - optimism, 0.0, 1.0)
    good = ~np.isnan(corrected)
    if good.sum() >= 2:
        at_pred = np.interp(pred, predy[good], corrected[good], left=np.nan, right=np.nan)
        errs = np.abs(pred - at_pred)
        errs = errs[~np.isnan(errs)]
    else:
        errs = np.empty(0)
    mae = float(np.mean(errs)) if errs.size else math.nan
    q90 = float(np.quantile(errs, 0.9)) if errs.size else math.nan
    return BootstrapCalibration(
        predy=predy, calibrated_orig=orig, calibrated_corrected=corrected, optimism=optimism,
        n_used=n_used, predicted=pred, mean_abs_error=mae, q90_error=q90, B=B, seed=seed,
        n_failed=n_failed, stratified=stratified, frac=float(frac), n=int(ya.size),
        events=int(ya.sum()), version=_version(), failures=tuple(failures[:20]),
    )
