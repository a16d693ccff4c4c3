"""Newton iterations of single logistic fits (maximum likelihood and Firth).

Shared by :mod:`crsscore.modeling.logistic` and :mod:`crsscore.modeling.firth`, which import
this module and not each other.

``_newton_ml`` is Newton-Raphson (= IRLS for the canonical logit link) with step-halving on the
log-likelihood; ``firth_newton`` solves Firth's modified score equations ``X' (w (y - p) +
h (1/2 - p)) = 0`` with the step capped at ``MAX_STEP`` and halved while the penalised
log-likelihood ``l(b) + 0.5 log det I(b)`` goes down, as R ``logistf``.  Both take the design
with its intercept column, the 0/1 outcome and frequency weights, and may hold some
coefficients fixed (profile likelihood, restricted fits).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import linalg

from crsscore._numeric import expit
from crsscore._types import BoolArray, FloatArray, IntArray
from crsscore.errors import ModelError

#: Largest Newton step (in any coefficient, on unit-RMS columns) of a Firth iteration.
MAX_STEP = 5.0


def _loglik(eta: FloatArray, y: FloatArray, w: FloatArray) -> float:
    """Bernoulli log-likelihood sum(w * (y * eta - log(1 + exp(eta))))."""
    return float(np.sum(w * (y * eta - np.logaddexp(0.0, eta))))


def intercept_given_offset(y: FloatArray | IntArray, offset: FloatArray, *, max_iter: int = 100,
                           tol: float = 1e-12) -> float:
    """The intercept ``a`` of ``logit P(y) = a + offset`` by maximum likelihood: the root of
    ``sum(expit(a + offset)) = sum(y)`` (calibration in the large), by Newton steps capped at 5.
    """
    return float(intercepts_given_offsets(y, np.asarray(offset, dtype=np.float64)[None, :],
                                          max_iter=max_iter, tol=tol)[0])


def intercepts_given_offsets(y: FloatArray | IntArray, offsets: FloatArray, *,
                             max_iter: int = 100, tol: float = 1e-12) -> FloatArray:
    """:func:`intercept_given_offset` for each row of ``offsets`` (k, n) at once: each row runs
    its own Newton iteration and stops on its own test, so row ``i`` is exactly the single
    solve with ``offsets[i]``."""
    off = np.asarray(offsets, dtype=np.float64)
    a = np.zeros(off.shape[0])
    target = float(np.sum(y))
    active = np.arange(off.shape[0])
    for _ in range(max_iter):
        if active.size == 0:
            break
        p = expit(a[active, None] + off[active])
        h = np.sum(p * (1.0 - p), axis=1)
        ok = ~(h <= 0)  # a row whose curvature vanished stops where it is
        step = (target - p[ok].sum(axis=1)) / h[ok]
        rows = active[ok]
        a[rows] += np.clip(step, -5.0, 5.0)
        go = np.zeros(active.size, dtype=bool)
        go[ok] = ~(np.abs(step) < tol)  # NaN goes on, as the single solve (it stays NaN)
        active = active[go]
    return a


def _newton_ml(
    D: FloatArray, y: FloatArray, w: FloatArray, beta0: FloatArray, max_iter: int, tol: float,
    offset: FloatArray | None = None, fixed: BoolArray | None = None,
) -> tuple[FloatArray, bool, int]:
    """Newton-Raphson with step-halving on the log-likelihood; ``fixed`` entries are held."""
    beta = beta0.copy()
    off = np.zeros(D.shape[0]) if offset is None else offset
    free = np.ones(D.shape[1], dtype=bool) if fixed is None else ~fixed
    eta = D @ beta + off
    ll = _loglik(eta, y, w)
    converged = False
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 - it is returned
        p = expit(eta)
        score = D[:, free].T @ (w * (y - p))
        Df = D[:, free]
        info = Df.T @ (Df * (w * p * (1.0 - p))[:, None])
        try:
            step = np.linalg.solve(info, score)
        except np.linalg.LinAlgError:
            step = np.asarray(np.linalg.lstsq(info, score, rcond=None)[0], dtype=np.float64)
        full = np.zeros_like(beta)
        full[free] = step
        factor = 1.0
        for _ in range(30):
            cand = beta + factor * full
            eta_c = D @ cand + off
            ll_c = _loglik(eta_c, y, w)
            if ll_c >= ll - 1e-12 * (abs(ll) + 1.0):
                break
            factor /= 2.0
        beta, eta = cand, eta_c
        change = abs(ll_c - ll) / (abs(ll_c) + 0.1)
        ll = ll_c
        if np.max(np.abs(factor * full)) < max(tol, 1e-12) * 1e2 or change < tol:
            converged = True
            break
    return beta, converged, it


def _information(D: FloatArray, w: FloatArray, beta: FloatArray,
                 offset: FloatArray | None = None) -> FloatArray:
    eta = D @ beta if offset is None else D @ beta + offset
    p = expit(eta)
    out: FloatArray = D.T @ (D * (w * p * (1.0 - p))[:, None])
    return out


def penalised_loglik(D: FloatArray, y: FloatArray, w: FloatArray, beta: FloatArray) -> float:
    """Firth's penalised log-likelihood ``l(b) + 0.5 log det I(b)``."""
    eta = D @ beta
    p = expit(eta)
    info = D.T @ (D * (w * p * (1.0 - p))[:, None])
    sign, logdet = np.linalg.slogdet(info)
    if sign <= 0:
        return -math.inf
    return _loglik(eta, y, w) + 0.5 * float(logdet)


def _modified_score(
    D: FloatArray, y: FloatArray, w: FloatArray, beta: FloatArray
) -> tuple[FloatArray, FloatArray]:
    p = expit(D @ beta)
    wt = w * p * (1.0 - p)
    info = D.T @ (D * wt[:, None])
    cov = linalg.inv(info)
    h = wt * np.einsum("ij,jk,ik->i", D, cov, D)
    score: FloatArray = D.T @ (w * (y - p) + h * (0.5 - p))
    return score, cov


def firth_newton(
    D: FloatArray,
    y: FloatArray,
    w: FloatArray,
    beta0: FloatArray,
    *,
    max_iter: int = 50,
    tol: float = 1e-10,
    fixed: BoolArray | None = None,
    max_halving: int = 25,
) -> tuple[FloatArray, bool, int]:
    """Solve the Firth modified score equations; entries where ``fixed`` is True are held.

    The iteration runs on columns scaled to unit root-mean-square and the result is scaled
    back: Firth's estimate is equivariant under rescaling a column (the Jeffreys prior is
    invariant), and the step cap ``MAX_STEP`` then means the same in every unit, so a
    predictor in kiloseconds converges as in seconds.
    """
    scale = np.sqrt(np.average(D * D, axis=0, weights=w)) if np.any(w > 0) else np.ones(D.shape[1])
    scale = np.where((scale > 0) & np.isfinite(scale), scale, 1.0)
    beta_s, converged, it = _firth_newton_scaled(D / scale, y, w, beta0 * scale, max_iter=max_iter,
                                                 tol=tol, fixed=fixed, max_halving=max_halving)
    return beta_s / scale, converged, it


def _firth_newton_scaled(
    D: FloatArray, y: FloatArray, w: FloatArray, beta0: FloatArray, *, max_iter: int,
    tol: float, fixed: BoolArray | None, max_halving: int,
) -> tuple[FloatArray, bool, int]:
    beta = beta0.copy()
    free = np.ones(D.shape[1], dtype=bool) if fixed is None else ~fixed
    lp_old = penalised_loglik(D, y, w, beta)
    converged = False
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 - returned
        try:
            score, cov = _modified_score(D, y, w, beta)
        except linalg.LinAlgError as exc:
            raise ModelError("singular information matrix in the Firth fit") from exc
        if fixed is not None:
            # maximise over the free coefficients only: Newton on the free block
            info = linalg.inv(cov)
            step_f = linalg.solve(info[np.ix_(free, free)], score[free], assume_a="pos")
            step = np.zeros_like(beta)
            step[free] = step_f
        else:
            step = cov @ score
        mx = float(np.max(np.abs(step))) if step.size else 0.0
        if mx > MAX_STEP:
            step *= MAX_STEP / mx
        factor = 1.0
        for _ in range(max_halving):
            cand = beta + factor * step
            lp_new = penalised_loglik(D, y, w, cand)
            if lp_new >= lp_old - 1e-12 * (abs(lp_old) + 1.0):
                break
            factor /= 2.0
        beta = cand
        small_step = float(np.max(np.abs(factor * step))) if step.size else 0.0
        small_score = float(np.max(np.abs(score[free]))) if free.any() else 0.0
        lp_old = lp_new
        if small_step < tol * 10.0 or small_score < tol:
            converged = True
            break
    return beta, converged, it
