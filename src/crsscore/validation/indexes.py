"""Predictive accuracy indexes of ``rms::validate.lrm`` for a linear predictor and an outcome.

For a linear predictor ``x`` (log-odds) and 0/1 outcome ``y`` on ``n`` patients, following the
``discrim`` function of ``validate.lrm`` (rms 6.5.0) with a recalibration fit
``logit P(y = 1) = a + b x``:

* ``Dxy`` Somers' rank correlation ``2 (C - 1/2)``; ``C`` (= AUC) is reported too.
* ``R2`` Nagelkerke's R2 of the recalibration fit.
* ``Intercept`` ``a`` and ``Slope`` ``b`` (calibration intercept and slope).
* ``Emax`` maximum absolute difference between ``p`` and ``expit(a + b logit p)`` over
  ``p`` in [0, 1] (step 0.0005).
* ``D`` discrimination index ``(LR - 1) / n`` (LR: recalibration fit's likelihood-ratio chi2).
* ``U`` unreliability ``(L(x) - L(a + b x) - 2) / n`` with ``L`` the deviance (-2 log-lik)
  of the predictor used as is and after recalibration.
* ``Q = D - U`` quality index; ``B`` Brier score of ``expit(x)`` (uncalibrated).
* ``g`` Gini's mean difference of ``b x`` and ``gp`` of ``expit(a + b x)``.

When the predictor is constant (an intercept-only model) rms fits an intercept-only
recalibration model: ``Intercept = logit(mean y)``, ``Slope = 1``, ``R2 = 0``.
For the apparent (training) performance of a maximum likelihood fit the recalibration is the
identity (``a = 0``, ``b = 1``, ``U = -2/n``), which is what rms reports for ``index.orig`` and
``training``.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special, stats

from crsscore.errors import ModelError

FloatArray = NDArray[np.float64]

INDEX_NAMES: tuple[str, ...] = ("Dxy", "R2", "Intercept", "Slope", "Emax", "D", "U", "Q", "B", "g", "gp")
_GRID = np.arange(0.0, 1.0 + 1e-12, 0.0005)


def _expit(x: FloatArray) -> FloatArray:
    out: FloatArray = special.expit(x)
    return out


def gini_md(x: ArrayLike, axis: int = -1) -> FloatArray:
    """Gini's mean difference (Hmisc ``GiniMd``): mean |x_i - x_j| over pairs i != j."""
    xa = np.asarray(x, dtype=np.float64)
    n = xa.shape[axis]
    if n < 2:
        return np.full(np.delete(xa.shape, axis), np.nan)
    s = np.sort(xa - xa.mean(axis=axis, keepdims=True), axis=axis)
    w = 4.0 * (np.arange(1, n + 1) - (n - 1) / 2.0) / n / (n - 1)
    shape = [1] * xa.ndim
    shape[axis] = n
    out: FloatArray = np.sum(s * w.reshape(shape), axis=axis)
    return out


def c_index(x: FloatArray, y: FloatArray) -> FloatArray:
    """Row-wise concordance (AUC) of ``x`` (B, m) with ``y`` (B, m); ties count 1/2."""
    ranks = stats.rankdata(x, axis=1)
    n1 = y.sum(axis=1)
    n0 = y.shape[1] - n1
    with np.errstate(invalid="ignore", divide="ignore"):
        out: FloatArray = (np.sum(ranks * y, axis=1) - n1 * (n1 + 1) / 2.0) / (n1 * n0)
    return out


def emax(intercept: ArrayLike, slope: ArrayLike) -> FloatArray:
    """rms Emax: max over p in [0, 1] of |p - expit(intercept + slope logit p)|."""
    a = np.atleast_1d(np.asarray(intercept, dtype=np.float64))
    b = np.atleast_1d(np.asarray(slope, dtype=np.float64))
    with np.errstate(divide="ignore"):
        L = np.log(_GRID / (1.0 - _GRID))
    with np.errstate(invalid="ignore"):
        P = _expit(a[:, None] + b[:, None] * L[None, :])
        out: FloatArray = np.nanmax(np.abs(_GRID[None, :] - P), axis=1)
    return out


def recalibrate(x: FloatArray, y: FloatArray, max_iter: int = 60) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Row-wise logistic fit of ``y`` on ``x``: returns intercept, slope, log-likelihood.

    Rows whose fit does not converge (e.g. ``x`` separates ``y``) get NaN.
    """
    Bn = x.shape[0]
    a = np.zeros(Bn)
    b = np.ones(Bn)

    def ll(a: FloatArray, b: FloatArray, rows: NDArray[np.intp]) -> FloatArray:
        eta = a[:, None] + b[:, None] * x[rows]
        out: FloatArray = np.sum(y[rows] * eta - np.logaddexp(0.0, eta), axis=1)
        return out

    cur = ll(a, b, np.arange(Bn))
    active = np.ones(Bn, dtype=bool)
    conv = np.zeros(Bn, dtype=bool)
    for _ in range(max_iter):
        r = np.flatnonzero(active)
        if r.size == 0:
            break
        xr, yr = x[r], y[r]
        p = _expit(a[r, None] + b[r, None] * xr)
        v = p * (1.0 - p)
        g0 = np.sum(yr - p, axis=1)
        g1 = np.sum((yr - p) * xr, axis=1)
        h00 = np.sum(v, axis=1)
        h01 = np.sum(v * xr, axis=1)
        h11 = np.sum(v * xr * xr, axis=1)
        det = h00 * h11 - h01 * h01
        with np.errstate(invalid="ignore", divide="ignore"):
            da = (h11 * g0 - h01 * g1) / det
            db = (h00 * g1 - h01 * g0) / det
        bad = ~np.isfinite(da) | ~np.isfinite(db)
        da[bad] = 0.0
        db[bad] = 0.0
        f = np.ones(r.size)
        new_ll = ll(a[r] + da, b[r] + db, r)
        for _ in range(30):
            worse = new_ll < cur[r] - 1e-12 * (np.abs(cur[r]) + 1.0)
            if not worse.any():
                break
            f[worse] /= 2.0
            new_ll[worse] = ll(a[r[worse]] + f[worse] * da[worse], b[r[worse]] + f[worse] * db[worse], r[worse])
        a[r] += f * da
        b[r] += f * db
        step = np.maximum(np.abs(f * da), np.abs(f * db))
        change = np.abs(new_ll - cur[r])
        cur[r] = new_ll
        done = (step < 1e-10) | (change < 1e-13 * (np.abs(new_ll) + 1.0)) | bad
        conv[r[done & ~bad]] = True
        active[r[done]] = False
    diverged = ~conv | (np.abs(b) > 1e3)
    a[diverged] = np.nan
    b[diverged] = np.nan
    cur[diverged] = np.nan
    return a, b, cur


def lrm_indexes_batch(
    lp: ArrayLike,
    y: ArrayLike,
    *,
    apparent: bool = False,
    null: str = "offset",
    loglik: ArrayLike | None = None,
) -> dict[str, FloatArray]:
    """rms validate indexes for each row of ``lp`` (B, m) with outcomes ``y`` (B, m) or (m,).

    Returns a dict of (B,) arrays with keys ``Dxy, C, R2, Intercept, Slope, D, U, Q, B, g, gp,
    n`` (Emax, which needs only intercept and slope, is left to :func:`emax`).

    ``apparent=True`` applies rms's convention for a model evaluated on the data it was fitted
    on (``validate.lrm``'s ``evalfit``): ``Intercept = 0``, ``Slope = 1``, ``U = -2/n``, ``g`` and
    ``gp`` of the predictor as is; ``D`` and ``R2`` come from the recalibration fit, which for
    a maximum likelihood fit is the model's own likelihood ratio.

    ``null`` sets the calibration of a constant predictor (intercept-only model): ``"offset"``
    reports ``Intercept = logit(mean y) - x`` (the shift that calibrates it); ``"rms"`` reports
    ``logit(mean y)`` as ``validate.lrm`` does (its intercept-only refit ignores ``x``).

    ``loglik`` (with ``apparent=True``): the fitted models' log-likelihoods on these data, used
    for ``D`` and ``R2`` instead of a recalibration fit (they are equal for ML fits).
    """
    if null not in ("offset", "rms"):
        raise ModelError(f"null must be 'offset' or 'rms'; got {null!r}")
    x = np.atleast_2d(np.asarray(lp, dtype=np.float64))
    Y = np.asarray(y, dtype=np.float64)
    Y = np.broadcast_to(Y, x.shape).astype(np.float64) if Y.ndim == 1 else np.atleast_2d(Y)
    if Y.shape != x.shape:
        raise ModelError(f"lp has shape {x.shape} but y has shape {Y.shape}")
    if not np.all(np.isfinite(x)):
        raise ModelError("linear predictor has missing or infinite values")
    m = x.shape[1]
    n1 = Y.sum(axis=1)
    ybar = n1 / m
    with np.errstate(divide="ignore", invalid="ignore"):
        ll0 = np.where((n1 > 0) & (n1 < m), n1 * np.log(ybar) + (m - n1) * np.log1p(-ybar), 0.0)
        logit_ybar = np.log(ybar / (1.0 - ybar))
    const = np.ptp(x, axis=1) == 0
    if apparent and loglik is not None:
        llr = np.asarray(loglik, dtype=np.float64).reshape(-1).copy()
        a, b = np.zeros(x.shape[0]), np.ones(x.shape[0])
    else:
        a, b, llr = recalibrate(x, Y)
    # constant predictor: intercept-only recalibration (rms null.model branch)
    a = np.where(const, logit_ybar - (x[:, 0] if null == "offset" else 0.0), a)
    b = np.where(const, 1.0, b)
    llr = np.where(const, ll0, llr)
    LR = np.maximum(2.0 * (llr - ll0), 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        R2 = (1.0 - np.exp(-LR / m)) / (1.0 - np.exp(2.0 * ll0 / m))
    C = c_index(x, Y)
    D = (LR - 1.0) / m
    L01 = -2.0 * np.sum(Y * x - np.logaddexp(0.0, x), axis=1)
    U = (L01 + 2.0 * llr - 2.0) / m
    if apparent:
        a = np.zeros_like(a)
        b = np.ones_like(b)
        U = np.full_like(U, -2.0 / m)
    Q = D - U
    Bs = np.mean((Y - _expit(x)) ** 2, axis=1)
    g = gini_md(np.where(np.isfinite(b)[:, None], b[:, None] * x, np.nan), axis=1)
    gp = gini_md(_expit(a[:, None] + b[:, None] * x), axis=1)
    return {
        "Dxy": 2.0 * (C - 0.5), "C": C, "R2": R2, "Intercept": a, "Slope": b,
        "D": D, "U": U, "Q": Q, "B": Bs, "g": g, "gp": gp, "n": np.full(x.shape[0], float(m)),
    }


def lrm_indexes(lp: ArrayLike, y: ArrayLike) -> dict[str, float]:
    """rms ``validate.lrm`` indexes of one linear predictor ``lp`` against outcomes ``y``.

    Keys: ``Dxy, C, R2, Intercept, Slope, Emax, D, U, Q, B, g, gp, n`` (see module docs).
    """
    x = np.asarray(lp, dtype=np.float64).reshape(1, -1)
    ya = np.asarray(y, dtype=np.float64).reshape(1, -1)
    if x.shape != ya.shape:
        raise ModelError(f"lp has {x.shape[1]} values but y has {ya.shape[1]}")
    if not np.all(np.isin(ya, (0.0, 1.0))):
        raise ModelError("outcome must be coded 0/1 without missing values")
    if x.shape[1] < 2:
        raise ModelError("need at least 2 patients to compute indexes")
    out = lrm_indexes_batch(x, ya)
    res = {k: float(v[0]) if math.isfinite(float(v[0])) else math.nan for k, v in out.items()}
    res["Emax"] = float(emax(res["Intercept"], res["Slope"])[0])
    return res
