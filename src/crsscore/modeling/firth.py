"""Firth-penalised logistic regression (Jeffreys-prior penalty) and profile likelihood CIs.

The estimate maximises ``l*(b) = l(b) + 0.5 log det I(b)`` by solving the modified score
``U*(b) = X' (w (y - p) + h (1/2 - p)) = 0`` (Firth 1993), with ``h`` the diagonal of the
weighted hat matrix.  Each step is ``I(b)^-1 U*(b)`` capped at ``max_step`` and halved while the
penalised log-likelihood goes down, as in R ``logistf``.  The solution equals R ``brglm2``
``glm(..., method = "brglmFit", type = "AS_mean")`` (which solves the same equations): see
``tests/modeling/test_firth.py`` and ``tests/fixtures/r/firth.R``.

``profile_ci`` gives profile (penalised) likelihood confidence intervals by root-finding
``2 (l_max - l_profile(b_j)) = chi2_1(level)`` with the other coefficients re-maximised at each
value of ``b_j``; for maximum likelihood this is what R ``confint(glm)`` computes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import optimize, stats

from crsscore._numeric import expit
from crsscore._types import BoolArray, FloatArray, IntArray
from crsscore.errors import ModelError
from crsscore.modeling._newton import MAX_STEP, _loglik, _newton_ml, firth_newton, penalised_loglik
from crsscore.modeling.logistic import BatchFit, _batch_info, _batched_solve, _masked

if TYPE_CHECKING:
    from crsscore.modeling.logistic import LogisticFit

__all__ = ["StackedFit", "firth_fit_stacked", "firth_newton", "firth_newton_batch",
           "penalised_loglik", "profile_ci"]


def firth_newton_batch(
    D: FloatArray,
    y: FloatArray,
    W: FloatArray,
    M: BoolArray,
    *,
    max_iter: int = 50,
    tol: float = 1e-10,
) -> BatchFit:
    """Vectorised Firth fits for many frequency-weight vectors ``W`` (B, n) and masks ``M``."""
    Bn, pp = W.shape[0], D.shape[1]
    beta = np.zeros((Bn, pp))
    active = np.ones(Bn, dtype=bool)
    converged = np.zeros(Bn, dtype=bool)
    ok = np.ones(Bn, dtype=bool)
    lpen = _batch_penalised(beta, D, y, W, M)
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007
        a = np.flatnonzero(active)
        if a.size == 0:
            break
        b_a, W_a, M_a = beta[a], W[a], M[a]
        p = expit(b_a @ D.T)
        wt = W_a * p * (1.0 - p)
        info = _batch_info(D, wt)
        A, _ = _masked(info, np.zeros_like(b_a), M_a)
        try:
            cov = np.linalg.inv(A)
        except np.linalg.LinAlgError:
            cov = np.linalg.pinv(A)
        m = M_a.astype(np.float64)
        cov = cov * (m[:, :, None] * m[:, None, :])
        h = wt * np.einsum("ij,bjk,ik->bi", D, cov, D)
        score = (W_a * (y - p) + h * (0.5 - p)) @ D
        A2, s2 = _masked(info, score, M_a)
        step, good = _batched_solve(A2, s2)
        ok[a[~good]] = False
        mx = np.max(np.abs(step), axis=1)
        big = mx > MAX_STEP
        step[big] *= (MAX_STEP / mx[big])[:, None]
        new = b_a + step
        l_new = _batch_penalised(new, D, y, W_a, M_a)
        worse = l_new < lpen[a] - 1e-12 * (np.abs(lpen[a]) + 1.0)
        f = 1.0
        while np.any(worse) and f > 1e-7:
            f /= 2.0
            new[worse] = b_a[worse] + f * step[worse]
            l_new[worse] = _batch_penalised(new[worse], D, y, W_a[worse], M_a[worse])
            worse = worse & (l_new < lpen[a] - 1e-12 * (np.abs(lpen[a]) + 1.0))
        moved = np.max(np.abs(new - b_a), axis=1)
        beta[a] = new
        lpen[a] = l_new
        done = (moved < tol * 10.0) | (np.max(np.abs(s2), axis=1) < tol) | ~good
        converged[a[done & good]] = True
        active[a[done]] = False
    eta = beta @ D.T
    ll: FloatArray = np.sum(W * (y * eta - np.logaddexp(0.0, eta)), axis=1)
    conv = converged & ok & np.all(np.isfinite(beta), axis=1)
    return BatchFit(coef=beta, converged=conv, loglik=ll, n_iter=it)


def _batch_penalised(
    beta: FloatArray, D: FloatArray, y: FloatArray, W: FloatArray, M: BoolArray
) -> FloatArray:
    eta = beta @ D.T
    p = expit(eta)
    info = _batch_info(D, W * p * (1.0 - p))
    A, _ = _masked(info, np.zeros_like(beta), M)
    sign, logdet = np.linalg.slogdet(A)
    ll = np.sum(W * (y * eta - np.logaddexp(0.0, eta)), axis=1)
    out: FloatArray = np.where(sign > 0, ll + 0.5 * logdet, -np.inf)
    return out


# ----------------------------------------------------------------------------------------------
# profile likelihood confidence intervals


def _profile_function(
    D: FloatArray, y: FloatArray, w: FloatArray, beta_hat: FloatArray, j: int, firth: bool
) -> Callable[[float], float]:
    fixed = np.zeros(D.shape[1], dtype=bool)
    fixed[j] = True
    state = {"beta": beta_hat.copy()}

    def profile(b: float) -> float:
        start = state["beta"].copy()
        start[j] = b
        if firth:
            beta, _, _ = firth_newton(D, y, w, start, max_iter=100, tol=1e-10, fixed=fixed)
            value = penalised_loglik(D, y, w, beta)
        else:
            beta, _, _ = _newton_ml(D, y, w, start, 100, 1e-12, fixed=fixed)
            value = _loglik(D @ beta, y, w)
        state["beta"] = beta
        return value

    return profile


def profile_ci(
    fit: LogisticFit,
    X: FloatArray,
    y: FloatArray,
    *,
    weights: FloatArray | None = None,
    level: float = 0.95,
    which: list[int] | None = None,
    max_width: float = 50.0,
) -> FloatArray:
    """Profile (penalised, for Firth fits) likelihood CIs; returns (k, 2) for ``which`` params.

    ``X`` is the predictor matrix used for ``fit`` (without intercept column).  A bound that
    does not exist (the profile never drops by the critical value, e.g. under separation) is
    returned as -inf / +inf; one that cannot be located (a profile that is not monotone
    because its fits do not converge, as with one or two events) as NaN.
    """
    Xa = np.asarray(X, dtype=np.float64)
    if Xa.ndim == 1:
        Xa = Xa.reshape(-1, 1)
    D = np.column_stack([np.ones(Xa.shape[0]), Xa]) if fit.intercept else Xa
    ya = np.asarray(y, dtype=np.float64)
    w = np.ones_like(ya) if weights is None else np.asarray(weights, dtype=np.float64)
    firth = fit.method == "firth"
    lmax = fit.loglik_penalised
    crit = float(stats.chi2.ppf(level, 1)) / 2.0
    idx = list(range(D.shape[1])) if which is None else which
    out = np.full((len(idx), 2), np.nan)
    for r, j in enumerate(idx):
        bj, se = float(fit.coef[j]), float(fit.se[j])
        for side, sgn in ((0, -1.0), (1, 1.0)):
            prof = _profile_function(D, ya, w, fit.coef, j, firth)

            def g(b: float, prof: Callable[[float], float] = prof) -> float:
                return lmax - prof(b) - crit

            step = max(se, 1e-3)
            lo_pt, hi_pt = bj, bj + sgn * step
            found = False
            while abs(hi_pt - bj) < max_width * max(1.0, se):
                if g(hi_pt) > 0:
                    found = True
                    break
                lo_pt, step = hi_pt, step * 2.0
                hi_pt = bj + sgn * step
            if not found:
                out[r, side] = sgn * math.inf
                continue
            a, b = sorted((lo_pt, hi_pt))
            prof2 = _profile_function(D, ya, w, fit.coef, j, firth)
            try:
                out[r, side] = optimize.brentq(
                    lambda t, prof2=prof2: lmax - prof2(t) - crit, a, b, xtol=1e-10, rtol=1e-12
                )
            except ValueError:
                # the profile is not monotone over the bracket (a profile fit that does not
                # converge, e.g. one or two events): no bound can be given, say so (NaN)
                out[r, side] = math.nan
    return out


# ----------------------------------------------------------------------------------------------
# stacked fits: one Firth fit per design of a stack (the imputations of a pipeline)


@dataclass(frozen=True)
class StackedFit:
    """Firth fits of ``K`` designs at once (:func:`firth_fit_stacked`); arrays lead with ``K``."""

    coef: FloatArray  # (K, p)
    cov: FloatArray  # (K, p, p), inverse information at the estimate
    loglik: FloatArray  # (K,) unpenalised
    loglik_penalised: FloatArray  # (K,)
    converged: BoolArray  # (K,)
    n_iter: IntArray  # (K,)


def _stacked_penalised(D: FloatArray, y: FloatArray, w: FloatArray,
                       beta: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Penalised log-likelihoods, with the fitted p, weights and information they used."""
    eta = np.matmul(D, beta[:, :, None])[:, :, 0]
    p = expit(eta)
    wt = w * p * (1.0 - p)
    info = np.matmul(np.swapaxes(D, 1, 2), D * wt[:, :, None])
    sign, logdet = np.linalg.slogdet(info)
    ll = np.sum(w * (y * eta - np.logaddexp(0.0, eta)), axis=1)
    out: FloatArray = np.where(sign > 0, ll + 0.5 * logdet, -np.inf)
    return out, p, wt, info


def firth_fit_stacked(D: FloatArray, y: FloatArray, w: FloatArray | None = None, *,
                      max_iter: int = 50, tol: float = 1e-10,
                      max_halving: int = 25) -> StackedFit:
    """Firth fits of every design ``D[k]`` ((K, n, p), intercept column included) at once.

    Each fit runs exactly the iteration of :func:`firth_newton` (unit-RMS column scaling,
    the step cap, step halving on the penalised log-likelihood, the same stopping rule), so
    ``coef[k]`` equals ``fit_logistic(D[k][:, 1:], y, firth=True).coef`` to rounding
    (``tests/modeling/test_firth.py``).  ``y`` and ``w`` are (n,) or (K, n).  A design whose
    information matrix becomes singular raises :class:`ModelError`, as a single fit does.
    """
    Da = np.asarray(D, dtype=np.float64)
    K, n, pp = Da.shape
    ya = np.broadcast_to(np.asarray(y, dtype=np.float64), (K, n))
    wa = np.ones((K, n)) if w is None else np.broadcast_to(np.asarray(w, dtype=np.float64), (K, n))
    wsum = wa.sum(axis=1)
    scale = np.sqrt(np.einsum("knp,kn->kp", Da * Da, wa) / np.where(wsum > 0, wsum, 1.0)[:, None])
    scale = np.where((scale > 0) & np.isfinite(scale) & (wsum > 0)[:, None], scale, 1.0)
    Ds = Da / scale[:, None, :]
    beta = np.zeros((K, pp))
    # p, weights and information at the current estimates: computed with the penalised
    # log-likelihood of the accepted step and reused by the next iteration
    lp_old, p_cur, wt_cur, info_cur = _stacked_penalised(Ds, ya, wa, beta)
    converged = np.zeros(K, dtype=bool)
    n_iter = np.zeros(K, dtype=np.int_)
    active = np.ones(K, dtype=bool)
    for it in range(1, max_iter + 1):
        a = np.flatnonzero(active)
        if a.size == 0:
            break
        n_iter[a] = it
        Da_, ya_, wa_, b_a = Ds[a], ya[a], wa[a], beta[a]
        p, wt, info = p_cur[a], wt_cur[a], info_cur[a]
        try:
            cov = np.linalg.inv(info)
        except np.linalg.LinAlgError as exc:
            raise ModelError("singular information matrix in the Firth fit") from exc
        h = wt * np.sum(np.matmul(Da_, cov) * Da_, axis=2)
        score = np.matmul((wa_ * (ya_ - p) + h * (0.5 - p))[:, None, :], Da_)[:, 0]
        step = np.matmul(cov, score[:, :, None])[:, :, 0]
        mx = np.max(np.abs(step), axis=1)
        big = mx > MAX_STEP
        step[big] *= (MAX_STEP / mx[big])[:, None]
        factor = np.ones(a.size)
        cand = b_a + step
        lp_new, p_new, wt_new, info_new = _stacked_penalised(Da_, ya_, wa_, cand)
        worse = lp_new < lp_old[a] - 1e-12 * (np.abs(lp_old[a]) + 1.0)
        for _ in range(max_halving - 1):
            if not worse.any():
                break
            factor[worse] /= 2.0
            cand[worse] = b_a[worse] + factor[worse, None] * step[worse]
            (lp_new[worse], p_new[worse], wt_new[worse],
             info_new[worse]) = _stacked_penalised(Da_[worse], ya_[worse], wa_[worse], cand[worse])
            worse = worse & (lp_new < lp_old[a] - 1e-12 * (np.abs(lp_old[a]) + 1.0))
        # as firth_newton: after the last failed halving the step is kept and the factor halved
        factor[worse] /= 2.0
        beta[a] = cand
        lp_old[a] = lp_new
        p_cur[a], wt_cur[a], info_cur[a] = p_new, wt_new, info_new
        small_step = np.max(np.abs(factor[:, None] * step), axis=1)
        small_score = np.max(np.abs(score), axis=1)
        done = (small_step < tol * 10.0) | (small_score < tol)
        converged[a[done]] = True
        active[a[done]] = False
    beta = beta / scale
    eta = np.matmul(Da, beta[:, :, None])[:, :, 0]
    p = expit(eta)
    info = np.matmul(np.swapaxes(Da, 1, 2), Da * (wa * p * (1.0 - p))[:, :, None])
    try:
        cov = np.linalg.inv(info)
    except np.linalg.LinAlgError as exc:  # pragma: no cover - the iteration inverted it
        raise ModelError("singular information matrix in the Firth fit") from exc
    ll = np.sum(wa * (ya * eta - np.logaddexp(0.0, eta)), axis=1)
    sign, logdet = np.linalg.slogdet(info)
    llp = np.where(sign > 0, ll + 0.5 * logdet, -np.inf)
    return StackedFit(coef=beta, cov=cov, loglik=ll, loglik_penalised=llp, converged=converged,
                      n_iter=n_iter)
