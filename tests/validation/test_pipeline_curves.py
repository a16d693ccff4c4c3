"""One bootstrap records the calibration optimism and the ROC band beside the rms indexes
(``optimism_bootstrap(per_resample=...)``): equal to rms calibrate run on its own with the
same seed and B, and independent of ``n_jobs``."""

from __future__ import annotations

from typing import Any

import numpy as np

from crsscore.modeling.logistic import fit_logistic
from crsscore.validation.calibration_curve import calibrate_bootstrap
from crsscore.validation.internal import bootstrap_indices, optimism_bootstrap
from crsscore.validation.pipeline_curves import (
    PipelineCurves,
    curves_from_validation,
    roc_sensitivity,
)


def logistic_fit_fn(X: Any, y: Any, weights: Any = None) -> Any:
    return fit_logistic(np.asarray(X), np.asarray(y), names=[f"x{j}" for j in range(X.shape[1])]).predict_lp


def _data(n: int = 150, seed: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(1.2 - 1.1 * X[:, 0]))).astype(float)
    return X, y


def test_curves_equal_the_separate_bootstraps_and_do_not_depend_on_jobs() -> None:
    X, y = _data()
    lp = logistic_fit_fn(X, y)(X)
    curves = PipelineCurves.for_reported(y, lp, lp)
    res = optimism_bootstrap(logistic_fit_fn, X, y, B=30, seed=7, per_resample=curves)
    assert res.per_resample is not None and res.per_resample.shape == (30, 50 + 101)
    cal, band = curves_from_validation(res, curves, lp)
    alone = calibrate_bootstrap(logistic_fit_fn, X, y, B=30, seed=7, lp=lp)
    np.testing.assert_allclose(cal.calibrated_corrected, alone.calibrated_corrected,
                               rtol=1e-10, equal_nan=True)
    assert (cal.B, cal.seed, cal.n_failed) == (alone.B, alone.seed, alone.n_failed)
    rows = bootstrap_indices(y, 7, range(30), True)
    sens = np.stack([roc_sensitivity(y[r], lp[r]) for r in rows])
    np.testing.assert_allclose(band.lower, np.quantile(sens, 0.025, axis=0))
    np.testing.assert_allclose(band.upper, np.quantile(sens, 0.975, axis=0))
    two = optimism_bootstrap(logistic_fit_fn, X, y, B=30, seed=7, per_resample=curves,
                             n_jobs=2, chunk_size=7)
    np.testing.assert_array_equal(two.per_resample, res.per_resample)
    plain = optimism_bootstrap(logistic_fit_fn, X, y, B=30, seed=7)
    assert plain.per_resample is None
    np.testing.assert_array_equal(plain.table.to_numpy(), res.table.to_numpy())
