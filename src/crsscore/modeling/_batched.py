"""Batched logistic fits: many maximum-likelihood or Firth fits advanced together in numpy.

The home of every *batched* fitting kernel (the single fits live in
:mod:`crsscore.modeling.logistic` and :mod:`crsscore.modeling.firth`):

* :func:`newton_ml` is the one batched maximum-likelihood Newton iteration, over a *design*
  that knows its own algebra: :class:`SharedDesign` (one design ``D`` (n, p), frequency
  weights per fit: bootstrap resamples as counts), :class:`StackedDesign` (a design per fit,
  (K, n, p): the imputations of many resamples) and :class:`InterceptSlope` (``a + b x`` per
  row of ``x``: the recalibration of the bootstrap indexes).  Its callers are
  :func:`fit_logistic_batch` (the engine of :func:`~crsscore.validation.internal.validate_lrm`),
  :func:`ml_fit_stacked` (the points-to-risk maps of the derivation bootstrap) and
  :func:`crsscore.validation.indexes.recalibrate`.
* :func:`firth_fit_stacked` runs :func:`~crsscore.modeling.firth.firth_newton` on K designs
  at once (the selection steps of the derivation bootstrap); :func:`firth_newton_batch` the
  Firth fits of :func:`fit_logistic_batch`.

Each batched fit runs the iteration of its single-fit reference, so the results agree to
rounding (``tests/modeling/test_batched.py``, ``tests/modeling/test_stacked.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import ArrayLike

from crsscore._numeric import expit_exp, logistic_parts
from crsscore._types import BoolArray, FloatArray, IntArray
from crsscore.errors import ModelError
from crsscore.modeling._newton import MAX_STEP
from crsscore.modeling.logistic import _needs_separation_check, separation_direction

# ----------------------------------------------------------------------------------------------
# designs: the algebra a Newton step needs, for rows ``rows`` of a batch of fits


class Design(Protocol):
    """``eta = lin(beta)``, ``X' v`` and ``X' diag(v) X`` for the fits ``rows`` (increasing
    indices) of a batch."""

    def lin(self, beta: FloatArray, rows: IntArray) -> FloatArray: ...

    def xtv(self, v: FloatArray, rows: IntArray) -> FloatArray: ...

    def xtwx(self, v: FloatArray, rows: IntArray) -> FloatArray: ...


def _batch_info(D: FloatArray, Wt: FloatArray) -> FloatArray:
    """sum_i Wt[b, i] D[i]^T D[i] for every b, as one BLAS matrix product."""
    p = D.shape[1]
    DD = (D[:, :, None] * D[:, None, :]).reshape(D.shape[0], p * p)
    out: FloatArray = (Wt @ DD).reshape(Wt.shape[0], p, p)
    return out


@dataclass(frozen=True)
class SharedDesign:
    """One design ``D`` (n, p) for every fit of the batch."""

    D: FloatArray

    def lin(self, beta: FloatArray, rows: IntArray) -> FloatArray:
        out: FloatArray = beta @ self.D.T
        return out

    def xtv(self, v: FloatArray, rows: IntArray) -> FloatArray:
        out: FloatArray = v @ self.D
        return out

    def xtwx(self, v: FloatArray, rows: IntArray) -> FloatArray:
        return _batch_info(self.D, v)


@dataclass(frozen=True)
class StackedDesign:
    """A design per fit, ``D`` (K, n, p)."""

    D: FloatArray

    def _take(self, rows: IntArray) -> FloatArray:
        # rows are increasing indices: as many as fits means all of them (no copy)
        return self.D if rows.size == self.D.shape[0] else self.D[rows]

    def lin(self, beta: FloatArray, rows: IntArray) -> FloatArray:
        out: FloatArray = np.matmul(self._take(rows), beta[:, :, None])[:, :, 0]
        return out

    def xtv(self, v: FloatArray, rows: IntArray) -> FloatArray:
        out: FloatArray = np.matmul(v[:, None, :], self._take(rows))[:, 0]
        return out

    def xtwx(self, v: FloatArray, rows: IntArray) -> FloatArray:
        Dk = self._take(rows)
        out: FloatArray = np.matmul(np.swapaxes(Dk, 1, 2), Dk * v[:, :, None])
        return out


@dataclass(frozen=True)
class InterceptSlope:
    """The design ``[1, x[k]]`` of every row ``k`` of ``x`` (K, n), never built."""

    x: FloatArray

    def lin(self, beta: FloatArray, rows: IntArray) -> FloatArray:
        out: FloatArray = beta[:, :1] + beta[:, 1:2] * self.x[rows]
        return out

    def xtv(self, v: FloatArray, rows: IntArray) -> FloatArray:
        return np.column_stack([np.sum(v, axis=1), np.sum(v * self.x[rows], axis=1)])

    def xtwx(self, v: FloatArray, rows: IntArray) -> FloatArray:
        xr = self.x[rows]
        vx = v * xr
        h00, h01, h11 = np.sum(v, axis=1), np.sum(vx, axis=1), np.sum(vx * xr, axis=1)
        return np.stack([np.column_stack([h00, h01]), np.column_stack([h01, h11])], axis=1)


def _batched_solve(A: FloatArray, b: FloatArray) -> tuple[FloatArray, BoolArray]:
    """Solve A[k] x[k] = b[k] for all k; rows whose matrix is singular return 0 and False."""
    ok = np.ones(A.shape[0], dtype=bool)
    try:
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            x: FloatArray = np.asarray(np.linalg.solve(A, b[..., None])[..., 0], dtype=np.float64)
    except np.linalg.LinAlgError:
        x = np.zeros_like(b)
        for k in range(A.shape[0]):
            try:
                x[k] = np.linalg.solve(A[k], b[k])
            except np.linalg.LinAlgError:
                ok[k] = False
    bad = ~np.all(np.isfinite(x), axis=1)
    x[bad] = 0.0
    ok &= ~bad
    return x, ok


def _masked(info: FloatArray, score: FloatArray, mask: BoolArray) -> tuple[FloatArray, FloatArray]:
    """Restrict each system to its active columns: identity rows/cols and zero score elsewhere."""
    m = mask.astype(np.float64)
    A = info * (m[:, :, None] * m[:, None, :])
    idx = np.arange(info.shape[1])
    A[:, idx, idx] += 1.0 - m
    return A, score * m


# ----------------------------------------------------------------------------------------------
# the batched maximum-likelihood Newton iteration


@dataclass(frozen=True)
class NewtonResult:
    """Estimates of :func:`newton_ml` (one row per fit) and how each iteration ended."""

    coef: FloatArray  # (K, p)
    converged: BoolArray  # the stopping rule was met
    singular: BoolArray  # a step's system was singular (or gave non-finite values): stopped
    loglik: FloatArray  # log-likelihood at the estimates
    n_iter: int  # iterations of the batch


def newton_ml(design: Design, y: FloatArray, w: FloatArray, beta0: FloatArray, *,
              mask: BoolArray | None = None, max_iter: int, step_tol: float,
              ll_tol: float | None = None, guard: float = 0.0, ll_rel: float = 1e-12,
              max_halving: int = 30) -> NewtonResult:
    """Maximum-likelihood Newton-Raphson for K logistic fits at once.

    ``y`` and ``w`` are (K, n) (outcome and frequency weights of every fit), ``beta0`` (K, p).
    Each fit steps by ``I^-1 U``; a step longer than ``guard`` (0: every step) is halved
    while the log-likelihood goes down by more than ``ll_rel`` relative (at most
    ``max_halving`` evaluations; after the last the step is kept and its factor halved, as
    :func:`~crsscore.modeling.logistic.fit_logistic`'s Newton iteration does).  A fit stops
    when its largest (halved) step is below ``step_tol`` or, with ``ll_tol``, its relative
    log-likelihood change ``|l1 - l0| / (|l1| + 0.1)`` is below ``ll_tol``.  ``mask`` (K, p)
    fits only the active columns of each fit (the others stay at ``beta0``).
    """
    K = beta0.shape[0]
    beta = np.array(beta0, dtype=np.float64, copy=True)
    allr = np.arange(K)
    with np.errstate(over="ignore", invalid="ignore"):
        eta = design.lin(beta, allr)
        pr, sp = logistic_parts(eta)  # fitted p at the current estimates, kept with eta
        ll = np.sum(w * (y * eta - sp), axis=1)
    converged = np.zeros(K, dtype=bool)
    singular = np.zeros(K, dtype=bool)
    active = np.ones(K, dtype=bool)
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 - returned
        a = np.flatnonzero(active)
        if a.size == 0:
            break
        w_a, y_a = w[a], y[a]
        p = pr[a]
        score = design.xtv(w_a * (y_a - p), a)
        info = design.xtwx(w_a * p * (1.0 - p), a)
        if mask is not None:
            info, score = _masked(info, score, mask[a])
        step, good = _batched_solve(info, score)
        singular[a[~good]] = True
        b_a, ll_a = beta[a], ll[a]
        factor = np.ones(a.size)
        cand = b_a + step
        eta_c = eta[a].copy()
        p_c = p.copy()
        ll_c = ll_a.copy()
        check = good & (np.max(np.abs(step), axis=1) > guard)
        g = np.flatnonzero(check)
        ok = np.flatnonzero(good & ~check)
        if ok.size:  # short steps on the concave log-likelihood: taken without a check
            eta_c[ok] = design.lin(cand[ok], a[ok])
        worse = np.zeros(a.size, dtype=bool)
        if g.size:
            with np.errstate(over="ignore", invalid="ignore"):
                eta_c[g] = design.lin(cand[g], a[g])
                p_c[g], sp = logistic_parts(eta_c[g])
                ll_c[g] = np.sum(w_a[g] * (y_a[g] * eta_c[g] - sp), axis=1)
            worse[g] = ll_c[g] < ll_a[g] - ll_rel * (np.abs(ll_a[g]) + 1.0)
            for _ in range(max_halving - 1):
                if not worse.any():
                    break
                r = np.flatnonzero(worse)
                factor[r] /= 2.0
                cand[r] = b_a[r] + factor[r, None] * step[r]
                with np.errstate(over="ignore", invalid="ignore"):
                    eta_c[r] = design.lin(cand[r], a[r])
                    p_c[r], sp = logistic_parts(eta_c[r])
                    ll_c[r] = np.sum(w_a[r] * (y_a[r] * eta_c[r] - sp), axis=1)
                worse[r] = ll_c[r] < ll_a[r] - ll_rel * (np.abs(ll_a[r]) + 1.0)
            factor[worse] /= 2.0  # the last halving's step is kept
        if ok.size:
            with np.errstate(over="ignore", invalid="ignore"):
                p_c[ok], sp = logistic_parts(eta_c[ok])
                ll_c[ok] = np.sum(w_a[ok] * (y_a[ok] * eta_c[ok] - sp), axis=1)
        beta[a], eta[a], pr[a] = cand, eta_c, p_c
        ll[a] = ll_c
        done = np.max(np.abs(factor[:, None] * step), axis=1) < step_tol
        if ll_tol is not None:
            with np.errstate(invalid="ignore"):
                done |= np.abs(ll_c - ll_a) / (np.abs(ll_c) + 0.1) < ll_tol
        converged[a[done & good]] = True
        active[a[done | ~good]] = False
    return NewtonResult(coef=beta, converged=converged, singular=singular, loglik=ll, n_iter=it)


# ----------------------------------------------------------------------------------------------
# many fits sharing X and y, with frequency weights (validate_lrm)


@dataclass(frozen=True)
class BatchFit:
    """Result of :func:`fit_logistic_batch`: one row per weight vector."""

    coef: FloatArray  # (B, p') intercept first when intercept=True; inactive columns are 0
    converged: BoolArray  # (B,)
    loglik: FloatArray  # (B,)
    n_iter: int

    def cov(self, D: FloatArray, W: FloatArray, mask: BoolArray | None = None) -> FloatArray:
        """Inverse information (B, p', p') at the estimates (inactive rows/cols are 0)."""
        p, _ = logistic_parts(self.coef @ D.T)
        info = _batch_info(D, W * p * (1.0 - p))
        if mask is None:
            mask = np.ones(self.coef.shape, dtype=bool)
        A, _ = _masked(info, np.zeros_like(self.coef), mask)
        inv: FloatArray = np.asarray(np.linalg.inv(A), dtype=np.float64)
        m = mask.astype(np.float64)
        out: FloatArray = inv * (m[:, :, None] * m[:, None, :])
        return out


def fit_logistic_batch(
    X: ArrayLike,
    W: ArrayLike,
    y: ArrayLike,
    *,
    intercept: bool = True,
    mask: ArrayLike | None = None,
    firth: bool = False,
    max_iter: int | None = None,
    tol: float = 1e-10,
    start: ArrayLike | None = None,
) -> BatchFit:
    """Fit ``B`` logistic regressions sharing ``X`` and ``y`` with frequency weights ``W``.

    Parameters
    ----------
    X : (n, p) predictors (no intercept column; one is added when ``intercept``).
    W : (B, n) frequency weights, e.g. bootstrap counts from a multinomial draw.
    y : (n,) 0/1 outcome.
    mask : optional (B, p') boolean matrix of active parameters (intercept included): each row
        fits only its active columns (a sub-model after variable selection); others stay 0.
    firth : Firth-penalised fits (modified score with step-halving on the penalised likelihood).
    max_iter : iteration limit (default 30 for ML, 100 for Firth, whose modified-score
        iteration converges linearly under separation).
    tol : ML fits stop when the largest Newton step is below ``100 * tol`` (quadratic
        convergence makes the remaining error negligible); separated fits never get there.

    Returns
    -------
    BatchFit with ``coef`` (B, p') and ``converged`` (B,).  A fit that does not converge in
    ``max_iter`` steps (separated data: the Newton step on a diverging coefficient never
    shrinks), has a singular information matrix or non-finite estimates is flagged
    ``converged = False``: callers count it as failed, as rms ``lrm.fit`` sets ``fail``.  Extreme
    fitted probabilities of a converged fit are not a failure.
    """
    Xa = np.asarray(X, dtype=np.float64)
    if Xa.ndim == 1:
        Xa = Xa.reshape(-1, 1)
    D = np.column_stack([np.ones(Xa.shape[0]), Xa]) if intercept else Xa
    Wa = np.atleast_2d(np.asarray(W, dtype=np.float64))
    ya = np.asarray(y, dtype=np.float64).reshape(-1)
    Bn, pp = Wa.shape[0], D.shape[1]
    M = np.ones((Bn, pp), dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    if firth:
        return firth_newton_batch(D, ya, Wa, M, max_iter=max_iter or 100, tol=tol)
    beta = np.zeros((Bn, pp))
    if start is not None:
        beta = np.asarray(start, dtype=np.float64).copy() * M
    elif intercept:
        ybar = (Wa @ ya) / Wa.sum(axis=1)
        ybar = np.clip(ybar, 1e-6, 1 - 1e-6)
        beta[:, 0] = np.log(ybar / (1.0 - ybar))
    # short Newton steps on the concave log-likelihood are safe: only steps longer than 0.5
    # are guarded by step-halving
    res = newton_ml(SharedDesign(D), np.broadcast_to(ya, Wa.shape), Wa, beta,
                    mask=None if mask is None else M, max_iter=max_iter or 30,
                    step_tol=max(tol, 1e-14) * 1e2, guard=0.5, ll_rel=1e-10)
    conv = (res.converged & ~res.singular & np.all(np.isfinite(res.coef), axis=1)
            & np.isfinite(res.loglik))
    return BatchFit(coef=res.coef, converged=conv, loglik=res.loglik, n_iter=res.n_iter)


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
        p, _ = logistic_parts(b_a @ D.T)
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
    p, sp = logistic_parts(eta)
    info = _batch_info(D, W * p * (1.0 - p))
    A, _ = _masked(info, np.zeros_like(beta), M)
    sign, logdet = np.linalg.slogdet(A)
    ll = np.sum(W * (y * eta - sp), axis=1)
    out: FloatArray = np.where(sign > 0, ll + 0.5 * logdet, -np.inf)
    return out


# ----------------------------------------------------------------------------------------------
# a design per fit (the imputations of the derivation bootstrap)


def ml_fit_stacked(D: FloatArray, y: FloatArray, *, max_iter: int = 50,
                   tol: float = 1e-10) -> tuple[FloatArray, BoolArray]:
    """Maximum-likelihood fits of every design ``D[k]`` ((K, n, p), intercept first, unit weights).

    Each fit runs exactly :func:`~crsscore.modeling.logistic.fit_logistic`'s Newton iteration
    from its start, so ``coef[k]`` equals ``fit_logistic(D[k][:, 1:], y).coef`` to rounding.
    Returns the coefficients and ``exact`` (K,): False where :func:`fit_logistic` would go on
    to its separation check (not converged, a large linear predictor, or a last step that
    still moves) and finds separation, or where a step's system is singular; the caller
    refits those one by one (``fit_logistic`` then warns, and the pipeline refits by Firth).
    """
    Da = np.asarray(D, dtype=np.float64)
    K, n, pp = Da.shape
    ya = np.broadcast_to(np.asarray(y, dtype=np.float64), (K, n))
    beta = np.zeros((K, pp))
    ybar = ya.sum(axis=1) / n
    beta[:, 0] = np.log(ybar / (1.0 - ybar))
    res = newton_ml(StackedDesign(Da), ya, np.ones((K, n)), beta, max_iter=max_iter,
                    step_tol=max(tol, 1e-12) * 1e2, ll_tol=tol, guard=0.0, ll_rel=1e-12)
    beta = res.coef
    exact = ~res.singular
    # fit_logistic's separation check, where it would run
    for k in range(K):
        if not exact[k]:
            continue
        w = np.ones(n)
        if not res.converged[k] or _needs_separation_check(Da[k], ya[k], w, beta[k]):
            if separation_direction(Da[k], ya[k], w) is not None:
                exact[k] = False
    return beta, exact


@dataclass(frozen=True)
class StackedFit:
    """Firth fits of ``K`` designs at once (:func:`firth_fit_stacked`); arrays lead with ``K``."""

    coef: FloatArray  # (K, p)
    cov: FloatArray  # (K, p, p), inverse information at the estimate
    loglik: FloatArray  # (K,) unpenalised
    loglik_penalised: FloatArray  # (K,)
    converged: BoolArray  # (K,)
    n_iter: IntArray  # (K,)

    def part(self, sl: slice) -> StackedFit:
        """The fits ``sl`` of the batch."""
        return StackedFit(coef=self.coef[sl], cov=self.cov[sl], loglik=self.loglik[sl],
                          loglik_penalised=self.loglik_penalised[sl],
                          converged=self.converged[sl], n_iter=self.n_iter[sl])


def _sum_softplus(eta: FloatArray, e: FloatArray, w: FloatArray | None) -> FloatArray:
    """``sum_i w_i log(1 + exp(eta_i))`` of each row, from ``e = exp(-|eta|)``.

    With unit weights (``w`` None) the ``log1p`` terms are summed as the log of one product
    per row (each factor ``1 + e`` lies in [1, 2], so blocks of 512 cannot overflow): a
    logarithm per row instead of per element, with an absolute error of about ``n`` units in
    the last place.
    """
    if w is not None:
        out: FloatArray = np.sum(w * (np.maximum(eta, 0.0) + np.log1p(e)), axis=-1)
        return out
    u = e + 1.0
    n = u.shape[-1]
    if n <= 512:
        logs = np.log(np.prod(u, axis=-1))
    else:  # pad with ones to whole blocks of 512
        nb = -(-n // 512)
        u = np.concatenate([u, np.ones((*u.shape[:-1], nb * 512 - n))], axis=-1)
        logs = np.sum(np.log(np.prod(u.reshape(*u.shape[:-1], nb, 512), axis=-1)), axis=-1)
    out = np.sum(np.maximum(eta, 0.0), axis=-1) + logs
    return out


@dataclass
class _FirthState:
    """The penalised log-likelihood of stacked Firth fits at ``beta`` and what the next Newton
    step needs there (fitted p, working weights, information, its inverse)."""

    lp: FloatArray  # (K,) penalised log-likelihood, -inf where the information is not PD
    ll: FloatArray  # (K,) log-likelihood
    logdet: FloatArray  # (K,) log det of the information (NaN where it is not PD)
    p: FloatArray  # (K, n)
    wt: FloatArray  # (K, n)
    info: FloatArray  # (K, p, p)
    cov: FloatArray  # (K, p, p) its inverse (NaN where the sweep could not invert it)
    all_pd: bool  # every information matrix was inverted (no NaN in cov)

    def take(self, rows: IntArray) -> _FirthState:
        return _FirthState(self.lp[rows], self.ll[rows], self.logdet[rows], self.p[rows],
                           self.wt[rows], self.info[rows], self.cov[rows], self.all_pd)

    def put(self, rows: IntArray, other: _FirthState) -> None:
        self.lp[rows], self.ll[rows], self.logdet[rows] = other.lp, other.ll, other.logdet
        self.p[rows], self.wt[rows] = other.p, other.wt
        self.info[rows], self.cov[rows] = other.info, other.cov
        self.all_pd = self.all_pd and other.all_pd

    def inverse(self) -> FloatArray:
        """The inverse information of every fit (by LU where the sweep could not invert it);
        :class:`ModelError` if one is singular, as a single fit raises."""
        if not self.all_pd:
            bad = np.flatnonzero(~np.isfinite(self.cov[:, 0, 0]))
            if bad.size:
                try:
                    self.cov[bad] = np.linalg.inv(self.info[bad])
                except np.linalg.LinAlgError as exc:
                    raise ModelError("singular information matrix in the Firth fit") from exc
            self.all_pd = True
        return self.cov


def _firth_state(DT: FloatArray, Dty: FloatArray, w: FloatArray | None,
                 beta: FloatArray) -> _FirthState:
    """:class:`_FirthState` of the designs ``DT`` (K, p, n), transposed, at ``beta`` (K, p);
    ``Dty`` is ``D' (w y)`` (K, p) and ``w`` None for unit weights."""
    eta = np.matmul(beta[:, None, :], DT)[:, 0]
    p, e = expit_exp(eta)
    wt = p * (1.0 - p)
    if w is not None:
        wt *= w
    info = np.matmul(DT * wt[:, None, :], np.swapaxes(DT, 1, 2))
    # sum w y eta = beta' D' (w y)
    ll = np.einsum("kp,kp->k", Dty, beta) - _sum_softplus(eta, e, w)
    cov, logdet, pd = _spd_sweep(info)
    lp: FloatArray = ll + 0.5 * logdet
    all_pd = bool(pd.all())
    if not all_pd:  # as penalised_loglik: the sign and log det by LU
        bad = np.flatnonzero(~pd)
        sign, ld = np.linalg.slogdet(info[bad])
        logdet[bad] = np.where(sign > 0, ld, np.nan)
        lp[bad] = np.where(sign > 0, ll[bad] + 0.5 * ld, -np.inf)
        cov[bad] = np.nan
    return _FirthState(lp, ll, logdet, p, wt, info, cov, all_pd)


def firth_fit_stacked(D: FloatArray, y: FloatArray, w: FloatArray | None = None, *,
                      max_iter: int = 50, tol: float = 1e-10,
                      max_halving: int = 25) -> StackedFit:
    """Firth fits of every design ``D[k]`` ((K, n, p), intercept column included) at once.

    Each fit runs exactly the iteration of :func:`~crsscore.modeling.firth.firth_newton`
    (unit-RMS column scaling, the step cap, step halving on the penalised log-likelihood, the
    same stopping rule), so ``coef[k]`` equals ``fit_logistic(D[k][:, 1:], y, firth=True).coef``
    to rounding (``tests/modeling/test_firth.py``).  ``y`` and ``w`` are (n,) or (K, n).  A
    design whose information matrix becomes singular raises :class:`ModelError`, as a single
    fit does.

    The information, its inverse and log-determinant are computed once per evaluated step
    (:func:`_firth_state`) and the accepted step's serve the next iteration; a fit leaves the
    working arrays when it stops.  The covariance and log-likelihoods returned are those of
    the last accepted step, mapped back to the original columns.
    """
    Da = np.asarray(D, dtype=np.float64)
    K, n, pp = Da.shape
    ya = np.broadcast_to(np.asarray(y, dtype=np.float64), (K, n))
    wa = None if w is None else np.broadcast_to(np.asarray(w, dtype=np.float64), (K, n))
    if wa is None:
        wsum = np.full(K, float(n))
        ms = np.einsum("knp,knp->kp", Da, Da) / max(n, 1)
    else:
        wsum = wa.sum(axis=1)
        ms = np.einsum("knp,kn->kp", Da * Da, wa) / np.where(wsum > 0, wsum, 1.0)[:, None]
    scale = np.sqrt(ms)
    scale = np.where((scale > 0) & np.isfinite(scale) & (wsum > 0)[:, None], scale, 1.0)
    # the scaled designs, transposed (K, p, n): every product below runs along n
    DT = np.swapaxes(Da, 1, 2) / scale[:, :, None]
    wy = ya if wa is None else wa * ya
    Dty = np.matmul(DT, wy[:, :, None])[:, :, 0]

    # working arrays of the fits still iterating (row j is the fit idx[j])
    idx = np.arange(K)
    DTw, Dtyw, wyw, ww = DT, Dty, wy, wa
    beta_w = np.zeros((K, pp))
    st = _firth_state(DTw, Dtyw, ww, beta_w)
    beta = np.zeros((K, pp))
    final = st.take(idx)  # the state at each fit's last step, filled in as the fits stop
    converged = np.zeros(K, dtype=bool)
    n_iter = np.zeros(K, dtype=np.int_)
    stop_step, stop_score = tol * 10.0, tol
    for it in range(1, max_iter + 1):
        cov = st.inverse()
        # the modified score D' (w (y - p) + h (1/2 - p)), h = wt * diag(D cov D')
        h = np.einsum("kpn,kpn,kn->kn", np.matmul(cov, DTw), DTw, st.wt)
        v = (0.5 - st.p) * h + (wyw - (st.p if ww is None else ww * st.p))
        score = np.matmul(DTw, v[:, :, None])[:, :, 0]
        step = np.matmul(cov, score[:, :, None])[:, :, 0]
        mx = np.max(np.abs(step), axis=1)
        big = mx > MAX_STEP
        if big.any():
            step[big] *= (MAX_STEP / mx[big])[:, None]
            mx[big] = MAX_STEP
        cand = beta_w + step
        new = _firth_state(DTw, Dtyw, ww, cand)
        floor = st.lp - 1e-12 * (np.abs(st.lp) + 1.0)
        worse = new.lp < floor
        factor = None
        if worse.any():
            factor = np.ones(idx.size)
            for _ in range(max_halving - 1):
                r = np.flatnonzero(worse)
                factor[r] /= 2.0
                cand[r] = beta_w[r] + factor[r, None] * step[r]
                sub = _firth_state(DTw[r], Dtyw[r], None if ww is None else ww[r], cand[r])
                new.put(r, sub)
                worse[r] = sub.lp < floor[r]
                if not worse.any():
                    break
            # as firth_newton: after the last failed halving the step is kept, factor halved
            factor[worse] /= 2.0
            mx *= factor  # the largest |factor * step| (factor is a power of 2: exact)
        beta_w, st = cand, new
        done = (mx < stop_step) | (np.max(np.abs(score), axis=1) < stop_score)
        last = it == max_iter
        if last or done.any():
            stop = np.arange(idx.size) if last else np.flatnonzero(done)
            beta[idx[stop]] = beta_w[stop]
            n_iter[idx[stop]] = it
            final.put(idx[stop], st.take(stop))
            converged[idx[done]] = True
            keep = np.flatnonzero(~done)
            if last or keep.size == 0:
                break
            idx = idx[keep]
            DTw, Dtyw, wyw = DTw[keep], Dtyw[keep], wyw[keep]
            ww = None if ww is None else ww[keep]
            beta_w, st = beta_w[keep], st.take(keep)
    cov_s = final.inverse()
    coef = beta / scale
    cov_out = cov_s / (scale[:, :, None] * scale[:, None, :])
    logdet = final.logdet + 2.0 * np.sum(np.log(scale), axis=1)
    llp = np.where(np.isfinite(final.lp), final.ll + 0.5 * logdet, -np.inf)
    return StackedFit(coef=coef, cov=cov_out, loglik=final.ll, loglik_penalised=llp,
                      converged=converged, n_iter=n_iter)


# ----------------------------------------------------------------------------------------------
# input checks of many designs at once


def check_stacked(X: FloatArray, y: FloatArray, names: list[str]) -> FloatArray:
    """The designs (K, n, p + 1), intercept first, of the predictors ``X`` (K, n, p), each
    checked as :func:`~crsscore.modeling.logistic.check_inputs` checks it (same errors).

    A cheap sufficient screen clears the designs that surely pass: finite values, no constant
    column, and a smallest eigenvalue of the column-scaled Gram matrix far above the
    rank tolerance of ``check_inputs`` (its pivoted QR's diagonal is at least the smallest
    singular value; one batched Cholesky shows it for all designs, ``eigvalsh`` decides
    design by design when one fails).  Any other design goes through ``check_inputs`` itself, which raises
    the same error a single fit would.  ``y`` must already be a 0/1 outcome with both classes.
    """
    from crsscore.modeling.logistic import check_inputs

    K, n, p = X.shape
    D = np.empty((K, n, p + 1))
    D[:, :, 0] = 1.0
    D[:, :, 1:] = X
    finite = np.isfinite(X).all(axis=(1, 2))
    with np.errstate(invalid="ignore", over="ignore"):
        # (a reduction along the middle axis of (K, n, p) is slow: transpose first)
        varies = (np.ptp(np.ascontiguousarray(np.swapaxes(X, 1, 2)), axis=2) > 0).all(axis=1)
        G = np.matmul(np.swapaxes(D, 1, 2), D)
        norm = np.sqrt(np.diagonal(G, axis1=1, axis2=2))
        norm = np.where(norm > 0, norm, 1.0)
        gram = G / (norm[:, :, None] * norm[:, None, :])
    clear = finite & varies & np.isfinite(gram).all(axis=(1, 2))
    if clear.any():
        rows = np.flatnonzero(clear)
        g = gram[rows]
        try:  # every eigenvalue above 2e-12 (less rounding), so above 1e-12: all clear
            np.linalg.cholesky(g - 2e-12 * np.eye(p + 1))
        except np.linalg.LinAlgError:
            clear[rows] = np.linalg.eigvalsh(g)[:, 0] > 1e-12
    for k in np.flatnonzero(~clear):
        D[k] = check_inputs(X[k], y, names=names)[0]
    return D


# ----------------------------------------------------------------------------------------------
# small symmetric positive definite systems, many at once


def _spd_sweep(A: FloatArray) -> tuple[FloatArray, FloatArray, BoolArray]:
    """Inverses and log-determinants of the symmetric matrices ``A`` (K, p, p), and whether
    each is positive definite, by Gauss-Jordan elimination without pivoting.

    For a positive definite matrix the pivots are the squared diagonal of its Cholesky factor
    (all positive, no pivoting needed, backward stable); their logs sum to the log-determinant.
    A matrix with a pivot that is not positive (or not finite) is flagged False and its
    inverse and log-determinant are meaningless.  The batch is put last so that each step
    is a few operations over contiguous arrays of all K matrices.  Below 128 matrices the
    per-call cost of those operations dominates: LAPACK's Cholesky (log-determinant) and
    ``inv`` then cost less, and the sweep runs only to flag a matrix that is not positive
    definite.
    """
    K, p, _ = A.shape
    if K < 128:  # few matrices: LAPACK's per-matrix factorisations cost less than the sweep
        try:
            L = np.linalg.cholesky(A)
        except np.linalg.LinAlgError:
            pass
        else:
            ld: FloatArray = 2.0 * np.sum(np.log(np.diagonal(L, axis1=1, axis2=2)), axis=1)
            iv: FloatArray = np.asarray(np.linalg.inv(A), dtype=np.float64)
            return iv, ld, np.ones(K, dtype=bool)
    S = np.ascontiguousarray(np.moveaxis(A, 0, -1))  # (p, p, K)
    piv = np.empty((p, K))
    tmp = np.empty_like(S)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for j in range(p):
            d = S[j, j].copy()
            piv[j] = d
            r = S[j] / d
            c = S[:, j].copy()
            np.multiply(c[:, None, :], r[None, :, :], out=tmp)
            S -= tmp
            S[j] = r
            np.divide(c, d, out=c)
            np.negative(c, out=c)
            S[:, j] = c
            S[j, j] = 1.0 / d
        pd: BoolArray = np.all(piv > 0.0, axis=0) & np.all(np.isfinite(piv), axis=0)
        logdet: FloatArray = np.sum(np.log(np.where(pd, piv, 1.0)), axis=0)
    logdet[~pd] = np.nan
    inv: FloatArray = np.ascontiguousarray(np.moveaxis(S, -1, 0))
    return inv, logdet, pd
