"""Bias-corrected calibration (rms ``calibrate``) of a whole pipeline."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from crsscore.errors import ModelError
from crsscore.modeling.logistic import fit_logistic
from crsscore.validation.calibration import calibration_curve
from crsscore.validation.calibration_curve import calibrate_bootstrap, smooth_at
from crsscore.validation.internal import bootstrap_indices

Predictor = Callable[[Any], Any]


def _expit(x: Any) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64))))


def logistic_fit_fn(X: Any, y: Any, weights: Any = None) -> Predictor:
    fit = fit_logistic(np.asarray(X), np.asarray(y), names=[f"x{j}" for j in range(X.shape[1])])
    return fit.predict_lp


def _data(n: int, p_noise: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 1 + p_noise))
    y = (rng.random(n) < _expit(-1.0 + 1.2 * X[:, 0])).astype(float)
    return X, y


def test_smooth_at_equals_the_lowess_calibration_curve_at_the_predictions() -> None:
    rng = np.random.default_rng(1)
    p = rng.uniform(0.02, 0.9, 150)
    y = (rng.random(150) < p).astype(float)
    cc = calibration_curve(y, p)
    np.testing.assert_allclose(smooth_at(p, y, cc.prob), cc.observed, atol=1e-12)
    out = smooth_at(p, y, np.array([p.min() - 0.01, p.max() + 0.01]))
    assert np.isnan(out).all()  # outside the data: NaN, as approx(rule = 1)


def test_corrected_curve_is_orig_minus_mean_optimism_recomputed_by_hand() -> None:
    X, y = _data(120, 3, seed=2)
    B, seed = 12, 7
    res = calibrate_bootstrap(logistic_fit_fn, X, y, B=B, seed=seed)
    pred = _expit(logistic_fit_fn(X, y)(X))
    lo, hi = np.quantile(pred, [0.01, 0.99])
    predy = np.linspace(lo, hi, 50)
    np.testing.assert_allclose(res.predy, predy)
    orig = smooth_at(pred, y, predy)
    np.testing.assert_allclose(res.calibrated_orig, orig, atol=1e-12)
    idx = bootstrap_indices(y, seed, list(range(B)), True)
    opts = []
    for rows in idx:
        model = logistic_fit_fn(X[rows], y[rows])
        opts.append(smooth_at(_expit(model(X[rows])), y[rows], predy) - smooth_at(_expit(model(X)), y, predy))
    opt = np.nanmean(np.vstack(opts), axis=0)
    np.testing.assert_allclose(res.optimism, opt, atol=1e-10)
    np.testing.assert_allclose(res.calibrated_corrected, np.clip(orig - opt, 0, 1), atol=1e-10)
    assert (res.B, res.seed, res.n_failed, res.n, res.events) == (B, seed, 0, 120, int(y.sum()))
    frame = res.to_frame()
    assert list(frame.columns[:3]) == ["predy", "calibrated.orig", "calibrated.corrected"]
    assert f"B = {B}" in res.summary()


def test_overfitted_model_gets_a_flatter_corrected_curve() -> None:
    X, y = _data(90, 15, seed=3)
    res = calibrate_bootstrap(logistic_fit_fn, X, y, B=25, seed=1)
    ok = ~np.isnan(res.calibrated_corrected) & ~np.isnan(res.calibrated_orig)
    slope_orig = np.polyfit(res.predy[ok], res.calibrated_orig[ok], 1)[0]
    slope_corr = np.polyfit(res.predy[ok], res.calibrated_corrected[ok], 1)[0]
    assert slope_corr < slope_orig - 0.1
    assert res.mean_abs_error > 0


def test_well_specified_model_on_many_patients_needs_little_correction() -> None:
    X, y = _data(1500, 0, seed=4)
    res = calibrate_bootstrap(logistic_fit_fn, X, y, B=10, seed=2)
    diff = np.abs(res.calibrated_corrected - res.calibrated_orig)
    assert np.nanmax(diff) < 0.03
    assert res.mean_abs_error < 0.05


def test_failed_resamples_are_counted_not_hidden() -> None:
    X, y = _data(100, 1, seed=5)
    calls = {"n": 0}

    def flaky(Xt: Any, yt: Any, w: Any = None) -> Predictor:
        calls["n"] += 1
        if calls["n"] in (3, 5):  # the 2nd and 4th resamples fail
            raise ModelError("deliberate failure")
        return logistic_fit_fn(Xt, yt)

    res = calibrate_bootstrap(flaky, X, y, B=8, seed=0)
    assert res.n_failed == 2
    assert res.failures[0].startswith("ModelError")
    assert res.n_used.max() == 6


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"B": 0}, "B must be a positive"), ({"n_grid": 1}, "n_grid must be an int >= 2"),
     ({"frac": 0.0}, r"frac must be in \(0, 1\]")],
)
def test_bad_options_are_refused(kwargs: dict[str, float], match: str) -> None:
    X, y = _data(60, 0, seed=6)
    opts: dict[str, float] = {"B": 5, **kwargs}
    with pytest.raises(ModelError, match=match):
        calibrate_bootstrap(logistic_fit_fn, X, y, seed=0, **opts)  # type: ignore[arg-type]


def test_constant_predictions_and_unfittable_pipelines_are_refused() -> None:
    X, y = _data(60, 0, seed=7)
    def constant(Xt: Any, yt: Any, w: Any = None) -> Predictor:
        return lambda Z: np.zeros(len(Z))

    with pytest.raises(ModelError, match="nearly\\) constant"):
        calibrate_bootstrap(constant, X, y, B=3, seed=0)

    def broken(Xt: Any, yt: Any, w: Any = None) -> Predictor:
        raise ModelError("cannot fit")

    with pytest.raises(ModelError, match="cannot be fitted on the original data"):
        calibrate_bootstrap(broken, X, y, B=3, seed=0)
    calls = {"n": 0}

    def only_first(Xt: Any, yt: Any, w: Any = None) -> Predictor:
        calls["n"] += 1
        if calls["n"] > 1:
            raise ModelError("resample failure")
        return logistic_fit_fn(Xt, yt)

    with pytest.raises(ModelError, match="all 4 resample fits failed"):
        calibrate_bootstrap(only_first, X, y, B=4, seed=0)
    with pytest.raises(ModelError, match="2 events and 2 non-events"):
        calibrate_bootstrap(logistic_fit_fn, X, np.r_[1.0, np.zeros(59)], B=3, seed=0)


def test_given_lp_is_the_apparent_model_and_must_fit_the_data() -> None:
    X, y = _data(100, 1, seed=8)
    lp = logistic_fit_fn(X, y)(X)
    a = calibrate_bootstrap(logistic_fit_fn, X, y, B=5, seed=3)
    b = calibrate_bootstrap(logistic_fit_fn, X, y, B=5, seed=3, lp=lp)
    np.testing.assert_allclose(a.calibrated_corrected, b.calibrated_corrected, atol=1e-12)
    shifted = calibrate_bootstrap(logistic_fit_fn, X, y, B=5, seed=3, lp=lp + 0.5)
    assert shifted.predy[0] > a.predy[0]
    with pytest.raises(ModelError, match="lp must hold 100 finite values"):
        calibrate_bootstrap(logistic_fit_fn, X, y, B=5, seed=3, lp=lp[:-1])
