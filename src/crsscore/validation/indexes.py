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

from crsscore._numeric import expit as _expit
from crsscore._types import FloatArray
from crsscore.errors import ModelError

INDEX_NAMES: tuple[str, ...] = ("Dxy", "R2", "Intercept", "Slope", "Emax", "D", "U", "Q", "B", "g", "gp")
_GRID = np.arange(0.0, 1.0 + 1e-12, 0.0005)


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


def c_index(x: FloatArray, y: FloatArray, w: FloatArray | None = None) -> FloatArray:
    """Row-wise concordance (AUC) of ``x`` (B, m) with ``y`` (B, m); ties count 1/2.

    ``w`` are optional frequency weights (B, m).
    """
    W = np.ones(x.shape) if w is None else w
    order = np.argsort(x, axis=1, kind="stable")
    zeros = np.zeros(x.shape[0])
    C, _, _ = _sorted_measures(order, x, y, W, zeros, zeros)
    return C


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


def _softplus(eta: FloatArray) -> FloatArray:
    out: FloatArray = np.logaddexp(0.0, eta)
    return out


def recalibrate(
    x: FloatArray, y: FloatArray, w: FloatArray | None = None, max_iter: int = 60
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Row-wise logistic fit of ``y`` on ``x`` (frequency weights ``w``): intercept, slope, loglik.

    Newton steps from (0, 1) (:func:`crsscore.modeling._batched.newton_ml`); the likelihood
    only guards long steps (step-halving).  Rows whose fit does not converge (``x``
    separates ``y``) get NaN.
    """
    from crsscore.modeling._batched import InterceptSlope, newton_ml

    Bn = x.shape[0]
    W = np.ones_like(x) if w is None else w
    start = np.column_stack([np.zeros(Bn), np.ones(Bn)])
    res = newton_ml(InterceptSlope(x), y, W, start, max_iter=max_iter, step_tol=1e-9,
                    guard=0.5, ll_rel=1e-12)
    a, b = res.coef[:, 0].copy(), res.coef[:, 1].copy()
    diverged = ~res.converged | (np.abs(b) > 1e3)
    a[diverged] = np.nan
    b[diverged] = np.nan
    cur = np.where(diverged, np.nan, res.loglik)
    return a, b, cur


def _sorted_measures(
    order: NDArray[np.intp], x: FloatArray, y: FloatArray, w: FloatArray, a: FloatArray, b: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """C-index, Gini(b x) and Gini(expit(a + b x)) per row from one sort order (weights w).

    With frequency weights these equal the statistics of the expanded sample: ties count 1/2 in
    C; Gini's mean difference is sum_{i<j} w_i w_j |v_i - v_j| * 2 / (N (N - 1)), computed from
    cumulative weights (v monotone in x, so the same order serves for both Gini indexes).
    """
    Bn, m = x.shape
    xs = np.take_along_axis(x, order, axis=1)
    ys = np.take_along_axis(y, order, axis=1)
    ws = np.take_along_axis(w, order, axis=1)
    w1 = ws * ys
    w0 = ws - w1
    N = ws.sum(axis=1)
    N1 = w1.sum(axis=1)
    N0 = N - N1
    # tie groups (flattened over rows; a new row always starts a new group)
    new = np.ones((Bn, m), dtype=bool)
    new[:, 1:] = xs[:, 1:] != xs[:, :-1]
    gid = np.cumsum(new.ravel()) - 1
    G = int(gid[-1]) + 1 if gid.size else 0
    g0 = np.bincount(gid, weights=w0.ravel(), minlength=G)
    g1 = np.bincount(gid, weights=w1.ravel(), minlength=G)
    grow = np.repeat(np.arange(Bn), m)[new.ravel()]  # row of each group
    c0 = np.cumsum(g0)
    gfirst = gid[np.arange(Bn) * m]  # first group of each row
    row_start = c0[gfirst] - g0[gfirst]  # cumulative w0 before each row
    below0 = c0 - g0 - row_start[grow]
    conc = np.bincount(grow, weights=g1 * (below0 + 0.5 * g0), minlength=Bn)
    with np.errstate(invalid="ignore", divide="ignore"):
        C = conc / (N1 * N0)

    def gini(v: FloatArray) -> FloatArray:
        cw = np.cumsum(ws, axis=1) - ws  # weight strictly before
        S = np.sum(ws * v * (2.0 * cw + ws - N[:, None]), axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out: FloatArray = np.abs(2.0 * S / (N * (N - 1.0)))
        return out

    g = np.abs(b) * gini(xs)
    gp = gini(_expit(a[:, None] + b[:, None] * xs))
    return C, g, gp


def lrm_indexes_batch(
    lp: ArrayLike,
    y: ArrayLike,
    *,
    weights: ArrayLike | None = None,
    apparent: bool = False,
    null: str = "offset",
    loglik: ArrayLike | None = None,
    order: NDArray[np.intp] | None = None,
) -> dict[str, FloatArray]:
    """rms validate indexes for each row of ``lp`` (B, m) with outcomes ``y`` (B, m) or (m,).

    ``weights`` (B, m) are frequency weights: a bootstrap training sample can be given as the
    original rows with their counts instead of the expanded rows (same results).

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

    ``order``: ``argsort(lp, axis=1)`` if already known (the bootstrap shares it between the
    training and test evaluation of the same predictions).
    """
    if null not in ("offset", "rms"):
        raise ModelError(f"null must be 'offset' or 'rms'; got {null!r}")
    x = np.atleast_2d(np.asarray(lp, dtype=np.float64))
    Y = np.asarray(y, dtype=np.float64)
    Y = np.broadcast_to(Y, x.shape) if Y.ndim == 1 else np.atleast_2d(Y)
    if Y.shape != x.shape:
        raise ModelError(f"lp has shape {x.shape} but y has shape {Y.shape}")
    if not np.all(np.isfinite(x)):
        raise ModelError("linear predictor has missing or infinite values")
    W = np.ones(x.shape) if weights is None else np.atleast_2d(np.asarray(weights, dtype=np.float64))
    if W.shape != x.shape:
        raise ModelError(f"weights have shape {W.shape} but lp has shape {x.shape}")
    m = W.sum(axis=1)
    n1 = (W * Y).sum(axis=1)
    ybar = n1 / m
    with np.errstate(divide="ignore", invalid="ignore"):
        ll0 = np.where((n1 > 0) & (n1 < m), n1 * np.log(ybar) + (m - n1) * np.log1p(-ybar), 0.0)
        logit_ybar = np.log(ybar / (1.0 - ybar))
    const = np.ptp(np.where(W > 0, x, x[:, :1]), axis=1) == 0
    if apparent and loglik is not None:
        llr = np.asarray(loglik, dtype=np.float64).reshape(-1).copy()
        a, b = np.zeros(x.shape[0]), np.ones(x.shape[0])
    else:
        a, b, llr = recalibrate(x, Y, None if weights is None else W)
    # constant predictor: intercept-only recalibration (rms null.model branch)
    a = np.where(const, logit_ybar - (x[:, 0] if null == "offset" else 0.0), a)
    b = np.where(const, 1.0, b)
    llr = np.where(const, ll0, llr)
    LR = np.maximum(2.0 * (llr - ll0), 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        R2 = (1.0 - np.exp(-LR / m)) / (1.0 - np.exp(2.0 * ll0 / m))
    D = (LR - 1.0) / m
    L01 = -2.0 * np.sum(W * (Y * x - _softplus(x)), axis=1)
    U = (L01 + 2.0 * llr - 2.0) / m
    if apparent:
        a = np.zeros_like(a)
        b = np.ones_like(b)
        U = np.full_like(U, -2.0) / m
    Q = D - U
    Bs = np.sum(W * (Y - _expit(x)) ** 2, axis=1) / m
    if order is None:
        order = np.argsort(x, axis=1, kind="stable")
    b_ok = np.where(np.isfinite(b), b, np.nan)
    C, g, gp = _sorted_measures(order, x, np.asarray(Y, dtype=np.float64), W, np.nan_to_num(a), np.nan_to_num(b_ok))
    g = np.where(np.isfinite(b), g, np.nan)
    gp = np.where(np.isfinite(a) & np.isfinite(b), gp, np.nan)
    return {
        "Dxy": 2.0 * (C - 0.5), "C": C, "R2": R2, "Intercept": a, "Slope": b,
        "D": D, "U": U, "Q": Q, "B": Bs, "g": g, "gp": gp, "n": m,
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
