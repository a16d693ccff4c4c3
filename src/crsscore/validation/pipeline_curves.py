"""Curves read from the one pipeline bootstrap: bias-corrected calibration and the ROC band.

The derivation's internal validation (:func:`crsscore.workflow.validate_pipeline`) refits the
whole pipeline in each resample once.  :class:`PipelineCurves` is the per-resample statistic
it hands to :func:`~crsscore.validation.internal.optimism_bootstrap`: from the same fit that
gives the rms indexes it records the resample's calibration optimism on rms's ``predy`` grid
(``rms::calibrate``) and the sensitivity of the reported score at fixed 1 - specificity on
the resampled patients (a pointwise ROC band).  :func:`curves_from_validation` turns those
rows into a :class:`~crsscore.validation.calibration_curve.BootstrapCalibration` and a
:class:`RocBand`, so the report shows the procedure reported (same B, seed and resamples)
and never runs a second bootstrap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from crsscore._types import FloatArray
from crsscore.validation.calibration import LOWESS_FRAC
from crsscore.validation.calibration_curve import (
    BootstrapCalibration,
    calibration_from_optimism,
    calibration_grid,
    calibration_optimism,
    smooth_at,
)

if TYPE_CHECKING:  # pragma: no cover
    from crsscore.validation.internal import ValidationResult


__all__ = ["PipelineCurves", "RocBand", "curves_from_validation", "roc_sensitivity"]

#: 1 - specificity grid of the ROC band.
FPR_GRID: FloatArray = np.linspace(0.0, 1.0, 101)


def roc_sensitivity(y: FloatArray, score: FloatArray, grid: FloatArray = FPR_GRID) -> FloatArray:
    """Sensitivity of ``score`` at each 1 - specificity of ``grid`` (the empirical ROC step
    function: the highest sensitivity reached at a false-positive rate <= the grid point)."""
    from crsscore.validation.discrimination import as_outcome, as_scores, roc_points

    yy = as_outcome(y)
    fpr, tpr, _ = roc_points(yy, as_scores(score, yy.size))  # the curve of roc_curve, no AUC
    idx = np.searchsorted(fpr, grid, side="right") - 1
    out: FloatArray = tpr[np.clip(idx, 0, tpr.size - 1)]
    return out


@dataclass(frozen=True)
class RocBand:
    """Pointwise 95% band of sensitivity at fixed 1 - specificity over bootstrap resamples of
    the patients (the reported score, not refitted), with the resamples it came from."""

    fpr: FloatArray
    lower: FloatArray
    upper: FloatArray
    B: int
    n_used: int
    seed: int | None

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """The band as a grey step area on ``ax`` (a new Axes when None); returns the Axes."""
        if ax is None:
            import matplotlib.pyplot as plt

            _, ax = plt.subplots(figsize=(4.5, 4.5))
        style = {"step": "post", "color": "0.85", "lw": 0,
                 "label": f"95% band (bootstrap, B={self.B})", **kwargs}
        ax.fill_between(self.fpr, self.lower, self.upper, **style)
        return ax


@dataclass(frozen=True)
class PipelineCurves:
    """The per-resample statistic: calibration optimism at ``predy``, then the sensitivity of
    ``score`` (the reported score on the validated rows) at :data:`FPR_GRID`."""

    y: FloatArray
    predy: FloatArray
    score: FloatArray
    frac: float = LOWESS_FRAC

    @classmethod
    def for_reported(cls, y: Any, lp: Any, score: Any, *, n_grid: int = 50,
                     frac: float = LOWESS_FRAC) -> PipelineCurves:
        """The statistic for a reported model's linear predictor ``lp`` and score ``score``
        on the validated rows (``ModelError`` when the predictions are constant)."""
        _, predy = calibration_grid(np.asarray(lp, dtype=np.float64), n_grid)
        return cls(np.asarray(y, dtype=np.float64), predy, np.asarray(score, dtype=np.float64),
                   frac)

    def __call__(self, rows: NDArray[np.intp], lp_train: FloatArray,
                 lp_test: FloatArray) -> FloatArray:
        cal = calibration_optimism(lp_train, self.y[rows], lp_test, self.y, self.predy, self.frac)
        return np.concatenate([cal, roc_sensitivity(self.y[rows], self.score[rows])])


def curves_from_validation(validation: ValidationResult, curves: PipelineCurves,
                           lp: Any) -> tuple[BootstrapCalibration, RocBand]:
    """The bias-corrected calibration and the ROC band recorded by ``validation`` (run with
    ``per_resample=curves``); ``lp`` is the reported model's linear predictor on its rows."""
    per = validation.per_resample
    if per is None:
        raise ValueError("this validation recorded no per-resample curves")
    k = curves.predy.size
    pred, _ = calibration_grid(np.asarray(lp, dtype=np.float64), k)
    orig = smooth_at(pred, curves.y, curves.predy, frac=curves.frac)
    cal = calibration_from_optimism(pred, curves.y, curves.predy, orig, per[:, :k],
                                    list(validation.failures), B=validation.B,
                                    seed=validation.seed, stratified=validation.stratified,
                                    frac=curves.frac, n_failed=validation.n_failed)
    sens = per[:, k:]
    ok = ~np.isnan(sens).any(axis=1)
    lo, hi = np.quantile(sens[ok], [0.025, 0.975], axis=0)
    band = RocBand(fpr=FPR_GRID.copy(), lower=lo, upper=hi, B=validation.B,
                   n_used=int(ok.sum()), seed=validation.seed)
    return cal, band
