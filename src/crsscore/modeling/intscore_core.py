"""Numerical core of the learned integer point scores (see :mod:`crsscore.modeling.intscore`).

Everything here works on a weighted logistic loss

    L(z) = sum_i  n1_i * log(1 + exp(-z_i)) + n0_i * log(1 + exp(z_i))

over *patterns*: the distinct rows of the few columns a candidate score uses, with the
(weighted) number of events ``n1`` and non-events ``n0`` of each pattern.  A score with five
binary features has at most 32 patterns whatever the number of patients, which makes exact
refits, exhaustive integer enumeration and local search cheap.

The search follows FasterRisk (Liu et al., NeurIPS 2022) and improves its steps:

1. beam search over supports, screening candidates by the score (Rao) statistic
   ``g_j^2 / h_j`` and fitting each child exactly by projected Newton under the box bounds;
2. a diverse pool of near-optimal supports by one-feature swaps;
3. for each support, integer points found by exhaustive enumeration of sign-consistent integer
   vectors ranked by a quadratic model of the loss (or star-ray floor/ceil candidates when the
   enumeration would be too large), exact refit of intercept and multiplier for the best ones,
   then local search (+-1 point on one or two features) on the exact loss.

All functions are pure and deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from crsscore._numeric import expit
from crsscore._types import BoolArray, FloatArray, IntArray

_S_MIN = 1e-8  # smallest multiplier reciprocal (slope) allowed
_RAW_LIMIT = 4_000_000  # batch sizes (elements) for batched fits
_RAW_ROWS = 400  # up to this many rows, batched fits use the rows themselves (no compression)


# --------------------------------------------------------------------------------------------
# Data and patterns
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    """Training data and constraints, preprocessed once per fit."""

    X: FloatArray  # (n, p)
    X2: FloatArray  # X ** 2
    y: FloatArray  # (n,) 0/1
    w: FloatArray  # (n,) sample weights
    wy: FloatArray  # w * y
    wny: FloatArray  # w * (1 - y)
    lev: IntArray  # (n, p) level index of each value in its column
    levels: tuple[FloatArray, ...]  # distinct values of each column
    lb: IntArray  # (p,) lower integer bound of each feature's points
    ub: IntArray  # (p,) upper integer bound
    allowed: BoolArray  # (p,) not forbidden
    required: tuple[int, ...]
    groups: IntArray  # (p,) group index of each feature
    max_features: int
    max_groups: int | None
    max_per_group: int | None
    intercept_bound: float | None
    s_max: float = 2.0  # 1 / smallest multiplier: one point is worth at most s_max log-odds
    together: bool = False  # a group's features enter (and leave) the score together

    @property
    def n(self) -> int:
        return int(self.X.shape[0])

    @property
    def p(self) -> int:
        return int(self.X.shape[1])


def make_problem(X: FloatArray, y: FloatArray, w: FloatArray, *, lb: IntArray, ub: IntArray,
                 allowed: BoolArray, required: Sequence[int], groups: IntArray,
                 max_features: int, max_groups: int | None, max_per_group: int | None,
                 intercept_bound: float | None, min_multiplier: float = 0.5,
                 together: bool = False) -> Problem:
    n0_rows, p = X.shape
    lev0 = np.empty((n0_rows, p), dtype=np.int64)
    levels = []
    for j in range(p):
        vals, inv_j = np.unique(X[:, j], return_inverse=True)
        lev0[:, j] = inv_j.reshape(-1)
        levels.append(vals.astype(np.float64))
    # identical rows are merged into one row carrying their event and non-event weights
    if n0_rows > 1 and p > 0:
        order = np.lexsort(lev0.T[::-1])
        srt = lev0[order]
        new_group = np.empty(n0_rows, dtype=bool)
        new_group[0] = True
        new_group[1:] = (srt[1:] != srt[:-1]).any(axis=1)
        gid = np.cumsum(new_group) - 1
        inv = np.empty(n0_rows, dtype=np.int64)
        inv[order] = gid
        first = order[new_group]
    else:
        inv = np.arange(n0_rows, dtype=np.int64)
        first = inv
    wy_u: FloatArray = np.bincount(inv, weights=w * y, minlength=len(first)).astype(np.float64)
    wny_u: FloatArray = np.bincount(inv, weights=w * (1.0 - y),
                                    minlength=len(first)).astype(np.float64)
    keep = (wy_u + wny_u) > 0
    rows = first[keep]
    X, wy_u, wny_u = X[rows], wy_u[keep], wny_u[keep]
    lev = np.asfortranarray(lev0[rows])  # column access is the hot path
    w = wy_u + wny_u
    y = np.divide(wy_u, w, out=np.zeros_like(w), where=w > 0)
    X = np.asfortranarray(X)
    return Problem(X=X, X2=np.asfortranarray(X * X), y=y, w=w, wy=wy_u, wny=wny_u, lev=lev,
                   levels=tuple(levels), lb=lb, ub=ub, allowed=allowed,
                   required=tuple(sorted(required)), groups=groups,
                   max_features=max_features, max_groups=max_groups,
                   max_per_group=max_per_group, intercept_bound=intercept_bound,
                   s_max=1.0 / min_multiplier, together=together)


@dataclass(frozen=True)
class Patterns:
    P: FloatArray  # (m, s) distinct rows of the support columns
    n1: FloatArray  # (m,) weighted events
    n0: FloatArray  # (m,) weighted non-events

    @property
    def N(self) -> FloatArray:
        out: FloatArray = self.n1 + self.n0
        return out


def patterns(prob: Problem, cols: Sequence[int]) -> Patterns:
    """Distinct rows of ``X[:, cols]`` with their weighted event and non-event counts."""
    cols = list(cols)
    if not cols:
        return Patterns(np.zeros((1, 0)), np.array([prob.wy.sum()]), np.array([prob.wny.sum()]))
    sizes = [len(prob.levels[j]) for j in cols]
    total = 1
    for s in sizes:
        total *= s
    n = prob.n
    if total >= 2 ** 62:  # no compact code: keep the rows as they are
        keep = prob.w > 0
        return Patterns(prob.X[keep][:, cols], prob.wy[keep], prob.wny[keep])
    code = prob.lev[:, cols[0]].copy()
    for j, s in zip(cols[1:], sizes[1:], strict=True):
        code *= s
        code += prob.lev[:, j]
    if total <= max(4 * n, 1 << 16):
        c1 = np.bincount(code, weights=prob.wy, minlength=total)
        c0 = np.bincount(code, weights=prob.wny, minlength=total)
        codes = np.flatnonzero((c1 + c0) > 0)
        n1, n0 = c1[codes], c0[codes]
    else:
        codes, inv = np.unique(code, return_inverse=True)
        n1 = np.bincount(inv, weights=prob.wy, minlength=len(codes))
        n0 = np.bincount(inv, weights=prob.wny, minlength=len(codes))
    P = np.empty((len(codes), len(cols)))
    rest = codes.copy()
    for pos in range(len(cols) - 1, -1, -1):
        s = sizes[pos]
        P[:, pos] = prob.levels[cols[pos]][rest % s]
        rest //= s
    return Patterns(P, n1.astype(np.float64), n0.astype(np.float64))


def stack_patterns(prob: Problem, supports: Sequence[Sequence[int]]
                   ) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Patterns of several supports of one size stacked for batched fits: ``P`` (B, m, s),
    ``n1``/``n0`` (B, m), shorter pattern lists padded with zero weights."""
    pats = [patterns(prob, sup) for sup in supports]
    B, s = len(pats), len(supports[0]) if len(supports) else 0
    m = max((len(pt.n1) for pt in pats), default=0)
    P = np.zeros((B, m, s))
    n1 = np.zeros((B, m))
    n0 = np.zeros((B, m))
    for b, pt in enumerate(pats):
        k = len(pt.n1)
        P[b, :k], n1[b, :k], n0[b, :k] = pt.P, pt.n1, pt.n0
    return P, n1, n0


def logistic_loss(z: FloatArray, n1: FloatArray, n0: FloatArray) -> FloatArray:
    """Weighted logistic loss; ``z`` is (m,) or (m, K); returns a scalar array or (K,)."""
    if z.ndim == 2:
        out: FloatArray = n1 @ np.logaddexp(0.0, -z) + n0 @ np.logaddexp(0.0, z)
        return out
    return np.asarray(n1 @ np.logaddexp(0.0, -z) + n0 @ np.logaddexp(0.0, z), dtype=np.float64)


# --------------------------------------------------------------------------------------------
# Continuous fits on a support (projected Newton, box bounds on the coefficients)
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ContinuousFit:
    support: tuple[int, ...]
    beta0: float
    beta: FloatArray  # (s,)
    loss: float


def fit_box(pat: Patterns, lo: FloatArray, hi: FloatArray, beta0: float,
            beta: FloatArray, *, max_iter: int = 60) -> tuple[float, FloatArray, float]:
    """Minimise the loss over (intercept, beta) with ``lo <= beta <= hi`` (intercept free)."""
    m, s = pat.P.shape
    D = np.empty((m, s + 1))
    D[:, 0] = 1.0
    D[:, 1:] = pat.P
    n1, N = pat.n1, pat.N
    theta = np.concatenate(([beta0], np.clip(beta, lo, hi)))
    lo_t = np.concatenate(([-np.inf], lo))
    hi_t = np.concatenate(([np.inf], hi))
    ridge = np.full(s + 1, 1e-8)
    ridge[0] = 1e-12
    z = D @ theta
    loss = float(logistic_loss(z, pat.n1, pat.n0))
    for _ in range(max_iter):
        p = expit(z)
        g = D.T @ (N * p - n1) + 2 * ridge * theta
        v = N * p * (1.0 - p)
        H = (D.T * v) @ D + np.diag(2 * ridge + 1e-10 * (1.0 + v.sum()))
        active = ((theta <= lo_t) & (g > 0)) | ((theta >= hi_t) & (g < 0))
        free = ~active
        if not free.any():
            break
        pg = np.abs(g[free]).max()
        if pg < 1e-9 * (1.0 + N.sum()):
            break
        d = np.zeros(s + 1)
        Hf = H[np.ix_(free, free)]
        try:
            d[free] = -np.linalg.solve(Hf, g[free])
        except np.linalg.LinAlgError:
            d[free] = -g[free] / np.maximum(np.diag(Hf), 1e-12)
        t = 1.0
        new_loss = loss
        new_theta = theta
        for _bt in range(40):
            cand = np.clip(theta + t * d, lo_t, hi_t)
            zc = D @ cand
            lc = float(logistic_loss(zc, pat.n1, pat.n0))
            if lc <= loss + 1e-4 * float(g @ (cand - theta)) + 1e-12 * abs(loss):
                new_theta, new_loss, z = cand, lc, zc
                break
            t *= 0.5
        else:
            break
        done = loss - new_loss <= 1e-11 * max(1.0, loss)
        theta, loss = new_theta, new_loss
        if done:
            break
    return float(theta[0]), theta[1:].copy(), loss


def fit_box_batch(P: FloatArray, n1: FloatArray, n0: FloatArray, lo: FloatArray, hi: FloatArray,
                  beta0: FloatArray, beta: FloatArray, *,
                  max_iter: int = 60) -> tuple[FloatArray, FloatArray, FloatArray]:
    """:func:`fit_box` for B problems at once: ``P`` (B, m, s), ``n1``/``n0`` (B, m) (zero
    weights pad shorter pattern lists), bounds and starts (B, s) / (B,)."""
    B, m, s = P.shape
    D = np.empty((B, m, s + 1))
    D[:, :, 0] = 1.0
    D[:, :, 1:] = P
    N = n1 + n0
    theta = np.concatenate((beta0[:, None], np.clip(beta, lo, hi)), axis=1)
    lo_t = np.concatenate((np.full((B, 1), -np.inf), lo), axis=1)
    hi_t = np.concatenate((np.full((B, 1), np.inf), hi), axis=1)
    ridge = np.full(s + 1, 1e-8)
    ridge[0] = 1e-12
    eye = np.eye(s + 1)

    def lossf(zz: FloatArray, a1: FloatArray, a0: FloatArray) -> FloatArray:
        out: FloatArray = ((a1 + a0) * np.logaddexp(0.0, zz) - a1 * zz).sum(axis=1)
        return out

    z = (D @ theta[:, :, None])[:, :, 0]
    loss = lossf(z, n1, n0)
    run = np.ones(B, dtype=bool)
    for _ in range(max_iter):
        idx = np.flatnonzero(run)
        if len(idx) == 0:
            break
        Di, th, Ni, n1i, n0i = D[idx], theta[idx], N[idx], n1[idx], n0[idx]
        pr = expit(z[idx])
        g = (np.transpose(Di, (0, 2, 1)) @ (Ni * pr - n1i)[:, :, None])[:, :, 0] + 2 * ridge * th
        v = Ni * pr * (1.0 - pr)
        H = np.transpose(Di * v[:, :, None], (0, 2, 1)) @ Di
        H += (2 * ridge + 1e-10 * (1.0 + v.sum(axis=1))[:, None])[:, :, None] * eye
        act = ((th <= lo_t[idx]) & (g > 0)) | ((th >= hi_t[idx]) & (g < 0))
        gf = np.where(act, 0.0, g)
        mask = (~act)[:, :, None] & (~act)[:, None, :]
        Hf = np.where(mask, H, 0.0) + act[:, :, None] * eye
        d = -np.linalg.solve(Hf, gf[:, :, None])[:, :, 0]
        li = loss[idx]
        step = np.ones(len(idx))
        new_th, new_l, new_z = th, li, z[idx]
        pending = np.ones(len(idx), dtype=bool)
        for _bt in range(40):
            cand = np.clip(th + step[:, None] * d, lo_t[idx], hi_t[idx])
            zc = (Di @ cand[:, :, None])[:, :, 0]
            lc = lossf(zc, n1i, n0i)
            dec = np.einsum("bk,bk->b", g, cand - th)
            ok = pending & (lc <= li + 1e-4 * dec + 1e-12 * np.abs(li))
            new_th = np.where(ok[:, None], cand, new_th)
            new_l = np.where(ok, lc, new_l)
            new_z = np.where(ok[:, None], zc, new_z)
            pending &= ~ok
            if not pending.any():
                break
            step = np.where(pending, 0.5 * step, step)
        theta[idx], loss[idx], z[idx] = new_th, new_l, new_z
        run[idx] = ~pending & (li - new_l > 1e-11 * np.maximum(1.0, li))
    return theta[:, 0].copy(), theta[:, 1:].copy(), loss


# --------------------------------------------------------------------------------------------
# Exact refit of intercept and multiplier for many integer point vectors at once
# --------------------------------------------------------------------------------------------
def _loss_cols(z: FloatArray, n1: FloatArray, n0: FloatArray) -> FloatArray:
    # log(1 + e^-z) = log(1 + e^z) - z: one transcendental per entry
    out: FloatArray = ((n1 + n0) * np.logaddexp(0.0, z) - n1 * z).sum(axis=0)
    return out


def refit_scale(T: FloatArray, n1: FloatArray, n0: FloatArray, s_hi: FloatArray,
                a: FloatArray, s: FloatArray, *, fit_intercept: bool = True,
                max_iter: int = 50) -> tuple[FloatArray, FloatArray, FloatArray]:
    """For each column k of totals ``T`` (m, K) minimise the loss of ``a_k + s_k * T[:, k]``.

    ``n1``/``n0`` are the pattern weights, (m,) shared by all columns or (m, K) per column
    (zero weights pad columns with fewer patterns).  ``s_k`` is kept in
    ``[_S_MIN, s_hi_k]``.  Damped Newton, vectorised over columns.  Returns ``(a, s, loss)``,
    each of shape (K,).
    """
    K = T.shape[1]
    W1 = np.broadcast_to(n1[:, None], T.shape) if n1.ndim == 1 else n1
    W0 = np.broadcast_to(n0[:, None], T.shape) if n0.ndim == 1 else n0
    N = W1 + W0
    s = np.clip(s, _S_MIN, s_hi)
    a = a.copy() if fit_intercept else np.zeros_like(s)
    loss = _loss_cols(a + s * T, W1, W0)
    active = np.ones(K, dtype=bool)
    for _ in range(max_iter):
        idx = np.flatnonzero(active)
        if len(idx) == 0:
            break
        every = len(idx) == K
        Ti = T if every else T[:, idx]
        Ni = N if every else N[:, idx]
        W1i = W1 if every else W1[:, idx]
        W0i = W0 if every else W0[:, idx]
        ai, si, shi = a[idx], s[idx], s_hi[idx]
        p = expit(ai + si * Ti)
        r = Ni * p - W1i
        v = Ni * p * (1.0 - p)
        gs = (r * Ti).sum(0)
        vT = v * Ti
        hss = (vT * Ti).sum(0) + 1e-12
        if fit_intercept:
            ga = r.sum(0)
            haa = v.sum(0) + 1e-12
            has = vT.sum(0)
            det = np.maximum(haa * hss - has * has, 1e-300)
            da = -(hss * ga - has * gs) / det
            ds = -(haa * gs - has * ga) / det
            blocked = ((si >= shi) & (ds > 0)) | ((si <= _S_MIN) & (ds < 0))
            da = np.where(blocked, -ga / haa, da)
            ds = np.where(blocked, 0.0, ds)
        else:
            da = np.zeros_like(si)
            ds = -gs / hss
        step = np.ones(len(idx))
        li = loss[idx]
        new_a, new_s, new_l = ai, si, li
        pending = np.ones(len(idx), dtype=bool)
        for _bt in range(30):
            ca = ai + step * da
            cs = np.clip(si + step * ds, _S_MIN, shi)
            cl = _loss_cols(ca + cs * Ti, W1i, W0i)
            ok = pending & (cl <= li + 1e-12 * np.abs(li))
            new_a = np.where(ok, ca, new_a)
            new_s = np.where(ok, cs, new_s)
            new_l = np.where(ok, cl, new_l)
            pending &= ~ok
            if not pending.any():
                break
            step = np.where(pending, step * 0.5, step)
        a[idx], s[idx] = new_a, new_s
        improvement = li - new_l
        loss[idx] = new_l
        active[idx] = (improvement > 1e-10 * np.maximum(1.0, li)) & ~pending
    return a, s, loss


@dataclass(frozen=True)
class IntegerFit:
    support: tuple[int, ...]
    points: IntArray  # (s,) integer points on the support (may hold zeros)
    intercept: float  # a / s (points scale)
    multiplier: float  # 1 / s
    loss: float


def refit_exact(T: FloatArray, W1: FloatArray, W0: FloatArray, s_max: float, a0: FloatArray,
                s0: FloatArray, intercept_bound: float | None
                ) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Exact refit of intercept and slope for each column of totals ``T`` (weights per column)."""
    s_hi = np.full(T.shape[1], s_max)
    a, s, loss = refit_scale(T, W1, W0, s_hi, a0, s0)
    if intercept_bound is not None:
        viol = np.abs(a) > intercept_bound * s + 1e-12
        if viol.any():
            k = np.flatnonzero(viol)
            sign = np.sign(a[k])
            Tk = T[:, k] + sign * intercept_bound
            _, sk, lk = refit_scale(Tk, W1[:, k], W0[:, k], s_hi[k], np.zeros(len(k)), s[k],
                                    fit_intercept=False)
            a[k], s[k], loss[k] = sign * intercept_bound * sk, sk, lk
    return a, s, loss


@lru_cache(maxsize=64)
def _moves(s: int) -> IntArray:
    """Local-search moves on ``s`` coordinates: +-1 on one, and +-1 on each of two."""
    out = []
    for j in range(s):
        for d in (1, -1):
            e = np.zeros(s, dtype=np.int64)
            e[j] = d
            out.append(e)
    for j in range(s):
        for k in range(j + 1, s):
            for dj in (1, -1):
                for dk in (1, -1):
                    e = np.zeros(s, dtype=np.int64)
                    e[j], e[k] = dj, dk
                    out.append(e)
    return np.array(out, dtype=np.int64).reshape(-1, s)


@dataclass
class RoundingOptions:
    enum_limit: int = 20000
    n_exact: int = 24
    n_multipliers: int = 20
    max_local_steps: int = 50
    #: local search on supports with more than ``screen_rows`` distinct patterns (continuous
    #: columns) refits only the ``screen`` neighbours best at the current scale (0: all)
    screen: int = 8
    screen_rows: int = 256
    #: ... and refits exactly the best ``n_exact_large`` starting vectors (``n_exact`` below)
    n_exact_large: int = 8
    stats: dict[str, int] = field(default_factory=dict)


@dataclass
class _Rounding:
    """Per-support state of the integer search."""

    support: list[int]
    pat: Patterns
    lo: FloatArray
    hi: FloatArray
    req: BoolArray
    c: FloatArray  # current best integer vector
    a: float
    s: float
    loss: float


def _candidates(prob: Problem, fit: ContinuousFit, opts: RoundingOptions
                ) -> tuple[_Rounding, FloatArray, FloatArray, FloatArray] | None:
    """Integer candidates for one support, the best ``n_exact`` by a quadratic model of the loss,
    with starting intercepts and slopes for their exact refit."""
    S = list(fit.support)
    s = len(S)
    if s == 0:
        return None
    pat = patterns(prob, S)
    lo_i, hi_i = prob.lb[S], prob.ub[S]
    lo_f, hi_f = lo_i.astype(np.float64), hi_i.astype(np.float64)
    req = np.isin(S, prob.required)
    beta = fit.beta
    m = pat.P.shape[0]
    D = np.empty((m, s + 1))
    D[:, 0] = 1.0
    D[:, 1:] = pat.P
    p = expit(D @ np.concatenate(([fit.beta0], beta)))
    v = pat.N * p * (1.0 - p)
    g = D.T @ (pat.N * p - pat.n1)
    H = (D.T * v) @ D
    h00 = max(H[0, 0], 1e-12)
    Ht = H[1:, 1:] - np.outer(H[1:, 0], H[0, 1:]) / h00
    gt = g[1:] - H[1:, 0] * g[0] / h00
    ranges = []
    size = 1
    for j in range(s):
        lo_j, hi_j = int(lo_i[j]), int(hi_i[j])
        if beta[j] > 0:
            rng = (max(lo_j, 0), hi_j)
        elif beta[j] < 0:
            rng = (lo_j, min(hi_j, 0))
        else:
            rng = (lo_j, hi_j)
        ranges.append((rng[0], rng[1], bool(req[j])))
        size *= rng[1] - rng[0] + 1
    if size <= opts.enum_limit:
        C = _grid(tuple(ranges))
    else:
        with np.errstate(divide="ignore"):
            mult_max = float(np.min(np.where(beta > 0, hi_f / beta,
                                             np.where(beta < 0, lo_f / beta, np.inf))))
        if not np.isfinite(mult_max) or mult_max <= 0:
            mult_max = 1.0
        mults = mult_max * np.linspace(0.15, 1.0, opts.n_multipliers)
        scaled = mults[:, None] * beta[None, :]
        if s <= 10:
            corners = ((np.arange(2 ** s)[:, None] >> np.arange(s)[None, :]) & 1).astype(float)
            C = (np.floor(scaled)[:, None, :] + corners[None, :, :]).reshape(-1, s)
        else:
            C = np.vstack([np.floor(scaled), np.ceil(scaled), np.round(scaled)])
        C = np.unique(np.clip(C, lo_f, hi_f), axis=0)
        C = C[np.abs(C).sum(axis=1) > 0]
        if req.any():
            C = C[(C[:, req] != 0).all(axis=1)]
    if len(C) == 0:
        return None
    CH = C @ Ht
    A = np.maximum((CH * C).sum(axis=1), 1e-300)
    B = C @ gt - CH @ beta
    s_star = np.clip(-B / A, _S_MIN, prob.s_max)
    q = B * s_star + 0.5 * A * s_star * s_star
    k = min(opts.n_exact if m <= opts.screen_rows else opts.n_exact_large, len(C))
    top = np.argpartition(q, k - 1)[:k] if k < len(C) else np.arange(len(C))
    Ck = C[top]
    d = s_star[top, None] * Ck - beta[None, :]
    a0 = fit.beta0 - (g[0] + d @ H[0, 1:]) / h00
    state = _Rounding(S, pat, lo_f, hi_f, req, Ck[0], 0.0, 1.0, np.inf)
    return state, Ck, a0, s_star[top]


@lru_cache(maxsize=256)
def _grid(ranges: tuple[tuple[int, int, bool], ...]) -> FloatArray:
    """All integer vectors with coordinate j in ``[lo_j, hi_j]`` (non-zero when flagged), except 0."""
    values = []
    for lo, hi, nonzero in ranges:
        vals = np.arange(lo, hi + 1)
        if nonzero:
            vals = vals[vals != 0]
        values.append(vals if len(vals) else np.array([0]))
    grids = np.meshgrid(*values, indexing="ij")
    C: FloatArray = np.stack([gr.reshape(-1) for gr in grids], axis=1).astype(np.float64)
    C = C[np.abs(C).sum(axis=1) > 0]
    C.setflags(write=False)
    return C


def _stack_eval(prob: Problem, states: Sequence[_Rounding], Cs: Sequence[FloatArray],
                a0: FloatArray, s0: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Exact refit of every candidate of every support in one vectorised call."""
    m = max(len(st.pat.n1) for st in states)
    K = sum(len(C) for C in Cs)
    T = np.zeros((m, K))
    W1 = np.zeros((m, K))
    W0 = np.zeros((m, K))
    col = 0
    for st, C in zip(states, Cs, strict=True):
        k, mm = len(C), len(st.pat.n1)
        T[:mm, col:col + k] = st.pat.P @ C.T
        W1[:mm, col:col + k] = st.pat.n1[:, None]
        W0[:mm, col:col + k] = st.pat.n0[:, None]
        col += k
    return refit_exact(T, W1, W0, prob.s_max, a0, s0, prob.intercept_bound)


def _screen(st: _Rounding, nb: FloatArray, keep: int) -> FloatArray:
    """The ``keep`` neighbours with the lowest loss at the current intercept and multiplier.

    On continuous columns every patient is its own pattern and the exact refit of each of the
    ~50 neighbours of a support dominates the fit; the loss at the current ``(a, s)`` (one
    pass, no Newton) ranks them, and only the best few are refitted exactly.
    """
    if len(nb) <= keep:
        return nb
    z = st.a + st.s * (st.pat.P @ nb.T)
    n1, n0 = st.pat.n1[:, None], st.pat.n0[:, None]
    lf = ((n1 + n0) * np.logaddexp(0.0, z) - n1 * z).sum(axis=0)
    out: FloatArray = nb[np.argpartition(lf, keep - 1)[:keep]]
    return out


def round_supports(prob: Problem, fits: Sequence[ContinuousFit],
                   opts: RoundingOptions) -> list[IntegerFit]:
    """Best integer points on each support (exact loss, intercept and multiplier refit)."""
    states: list[_Rounding] = []
    Cs: list[FloatArray] = []
    a0s: list[FloatArray] = []
    s0s: list[FloatArray] = []
    for fit in fits:
        got = _candidates(prob, fit, opts)
        if got is not None:
            states.append(got[0])
            Cs.append(got[1])
            a0s.append(got[2])
            s0s.append(got[3])
    if not states:
        return []
    for c0 in range(0, len(states), 64):  # chunks keep the stacked arrays small
        sl = slice(c0, c0 + 64)
        a, sc, loss = _stack_eval(prob, states[sl], Cs[sl], np.concatenate(a0s[sl]),
                                  np.concatenate(s0s[sl]))
        col = 0
        for st, C in zip(states[sl], Cs[sl], strict=True):
            k = len(C)
            i = col + int(np.argmin(loss[col:col + k]))
            st.c, st.a, st.s, st.loss = C[i - col].copy(), a[i], sc[i], loss[i]
            col += k
    # local search on the exact loss, all supports still improving at once
    active = list(range(len(states)))
    for _ in range(opts.max_local_steps):
        if not active:
            break
        nbs: list[FloatArray] = []
        owners: list[int] = []
        for i in active:
            st = states[i]
            nb = st.c[None, :] + _moves(len(st.c)).astype(np.float64)
            ok = ((nb >= st.lo).all(axis=1) & (nb <= st.hi).all(axis=1)
                  & (np.abs(nb).sum(axis=1) > 0))
            if st.req.any():
                ok &= (nb[:, st.req] != 0).all(axis=1)
            nbs.append(nb[ok])
            owners.append(i)
        keep = [j for j, nb in enumerate(nbs) if len(nb)]
        nbs = [nbs[j] for j in keep]
        owners = [owners[j] for j in keep]
        if not owners:
            break
        if opts.screen > 0 and max(len(states[i].pat.n1) for i in owners) > opts.screen_rows:
            nbs = [_screen(states[i], nb, opts.screen) for nb, i in zip(nbs, owners, strict=True)]
        a0 = np.concatenate([np.full(len(nb), states[i].a) for nb, i in zip(nbs, owners, strict=True)])
        s0 = np.concatenate([np.full(len(nb), states[i].s) for nb, i in zip(nbs, owners, strict=True)])
        a, sc, loss = _stack_eval(prob, [states[i] for i in owners], nbs, a0, s0)
        col = 0
        active = []
        for nb, i in zip(nbs, owners, strict=True):
            k = len(nb)
            j = col + int(np.argmin(loss[col:col + k]))
            st = states[i]
            if loss[j] < st.loss - 1e-9 * max(1.0, st.loss):
                st.c, st.a, st.s, st.loss = nb[j - col].copy(), a[j], sc[j], loss[j]
                active.append(i)
            col += k
    out = []
    for st in states:
        nz = st.c != 0
        sup = tuple(int(j) for j, kk in zip(st.support, nz, strict=True) if kk)
        out.append(IntegerFit(support=sup, points=st.c[nz].astype(np.int64),
                              intercept=float(st.a / st.s), multiplier=float(1.0 / st.s),
                              loss=float(st.loss)))
    return out


# --------------------------------------------------------------------------------------------
# Support search: beam search and diverse pool by swaps
# --------------------------------------------------------------------------------------------
@dataclass
class SearchOptions:
    beam_width: int = 10
    n_children: int = 10
    swap_attempts: int = 50
    gap_tolerance: float = 0.05
    n_round: int = 50


class SupportSearch:
    """Continuous fits on supports, memoised, with FasterRisk-style beam search and swaps."""

    def __init__(self, prob: Problem) -> None:
        self.prob = prob
        self.fits: dict[tuple[int, ...], ContinuousFit] = {}
        ybar = float(prob.wy.sum() / prob.w.sum())
        ybar = min(max(ybar, 1e-9), 1 - 1e-9)
        self.null_beta0 = float(np.log(ybar / (1 - ybar)))

    # -- constraints -----------------------------------------------------------------------
    def valid_additions(self, support: Sequence[int]) -> BoolArray:
        prob = self.prob
        ok = prob.allowed.copy()
        ok[list(support)] = False
        if len(support) >= prob.max_features:
            ok[:] = False
            return ok
        if prob.max_groups is not None or prob.max_per_group is not None:
            used = prob.groups[list(support)]
            gids, counts = np.unique(used, return_counts=True)
            in_used = np.isin(prob.groups, gids)
            if prob.max_groups is not None and len(gids) >= prob.max_groups:
                ok &= in_used
            if prob.max_per_group is not None:
                full = gids[counts >= prob.max_per_group]
                ok &= ~np.isin(prob.groups, full)
        return ok

    # -- fitting -------------------------------------------------------------------------------
    def fit(self, support: tuple[int, ...], warm: ContinuousFit | None = None) -> ContinuousFit:
        return self.fit_many([support], [warm])[0]

    def fit_many(self, supports: Sequence[tuple[int, ...]],
                 warms: Sequence[ContinuousFit | None]) -> list[ContinuousFit]:
        """Fit every support (memoised), batching supports of equal size."""
        todo: dict[int, list[tuple[tuple[int, ...], ContinuousFit | None]]] = {}
        queued: set[tuple[int, ...]] = set()
        for sup, warm in zip(supports, warms, strict=True):
            if sup not in self.fits and sup not in queued:
                queued.add(sup)
                todo.setdefault(len(sup), []).append((sup, warm))
        for size, items in todo.items():
            self._fit_batch(size, items)
        return [self.fits[sup] for sup in supports]

    def _fit_batch(self, s: int, items: list[tuple[tuple[int, ...], ContinuousFit | None]]) -> None:
        prob = self.prob
        n = prob.n
        raw = n <= _RAW_ROWS
        per_chunk = max(1, _RAW_LIMIT // (max(s, 1) * (n if raw else min(n, 64))))
        for c0 in range(0, len(items), per_chunk):
            chunk = items[c0:c0 + per_chunk]
            B = len(chunk)
            sup_arr = np.array([sup for sup, _ in chunk], dtype=np.int64).reshape(B, s)
            beta = np.zeros((B, s))
            beta0 = np.full(B, self.null_beta0)
            for b, (sup, warm) in enumerate(chunk):
                if warm is not None:
                    pos = {j: k for k, j in enumerate(warm.support)}
                    for k, j in enumerate(sup):
                        if j in pos:
                            beta[b, k] = warm.beta[pos[j]]
                    beta0[b] = warm.beta0
            lo = prob.lb[sup_arr].astype(np.float64)
            hi = prob.ub[sup_arr].astype(np.float64)
            if raw:
                P = np.transpose(prob.X[:, sup_arr], (1, 0, 2))
                n1 = np.broadcast_to(prob.wy, (B, n))
                n0 = np.broadcast_to(prob.wny, (B, n))
            else:
                P, n1, n0 = stack_patterns(prob, [sup for sup, _ in chunk])
            b0, bs, loss = fit_box_batch(P, n1, n0, lo, hi, beta0, beta)
            for b, (sup, _) in enumerate(chunk):
                self.fits[sup] = ContinuousFit(sup, float(b0[b]), bs[b].copy(), float(loss[b]))

    def extend(self, support: Sequence[int], j: int) -> tuple[int, ...] | None:
        """``support`` plus feature ``j`` (plus the rest of its group when groups enter
        together); None when that exceeds ``max_features``."""
        prob = self.prob
        if prob.together:
            block = np.flatnonzero((prob.groups == prob.groups[j]) & prob.allowed).tolist()
        else:
            block = [j]
        out = tuple(sorted(set(support) | set(block)))
        return out if len(out) <= prob.max_features else None

    def margin(self, fit: ContinuousFit) -> FloatArray:
        if not fit.support:
            return np.full(self.prob.n, fit.beta0)
        out: FloatArray = fit.beta0 + self.prob.X[:, list(fit.support)] @ fit.beta
        return out

    def scores(self, margins: FloatArray) -> FloatArray:
        """Score statistic of adding each feature, per margin column: (p, B)."""
        prob = self.prob
        pr = expit(margins)
        R = prob.wy[:, None] - prob.w[:, None] * pr
        V = prob.w[:, None] * pr * (1.0 - pr)
        G = prob.X.T @ R
        XV = prob.X.T @ V
        X2V = prob.X2.T @ V
        h = X2V - XV * XV / np.maximum(V.sum(axis=0), 1e-300)
        sc = G * G / np.maximum(h, 1e-12)
        # a feature whose points are sign-restricted only helps in its allowed direction
        sc = np.where((G > 0) & (prob.ub[:, None] <= 0), 0.0, sc)
        sc = np.where((G < 0) & (prob.lb[:, None] >= 0), 0.0, sc)
        out: FloatArray = np.where(h > 1e-12, sc, 0.0)
        return out

    def beam(self, opts: SearchOptions) -> list[ContinuousFit]:
        prob = self.prob
        start = self.fit(prob.required)
        parents = [start]
        seen = {start.support}
        last_level = [start]
        while True:
            margins = np.stack([self.margin(f) for f in parents], axis=1)
            sc = self.scores(margins)
            sups: list[tuple[int, ...]] = []
            warms: list[ContinuousFit | None] = []
            for i, par in enumerate(parents):
                ok = self.valid_additions(par.support)
                cand = np.where(ok & (sc[:, i] > 0), sc[:, i], -1.0)
                order = np.argsort(-cand, kind="stable")
                added = 0
                for j in order:
                    if cand[j] <= 0 or added >= opts.n_children:
                        break
                    sup = self.extend(par.support, int(j))
                    if not prob.together:
                        added += 1  # as FasterRisk: the top n_children features, new or not
                    if sup is None or sup in seen:
                        continue
                    seen.add(sup)
                    sups.append(sup)
                    warms.append(par)
                    if prob.together:
                        added += 1  # n_children distinct groups
            children = self.fit_many(sups, warms)
            if not children:
                break
            children.sort(key=lambda f: f.loss)
            last_level = children
            parents = children[: opts.beam_width]
        return last_level

    def swaps(self, best: ContinuousFit, opts: SearchOptions) -> list[ContinuousFit]:
        """Supports one swap away from ``best`` whose loss is within the gap tolerance."""
        prob = self.prob
        out: list[ContinuousFit] = []
        # units that can leave: single features, or whole groups when groups enter together
        units: list[list[int]] = []
        if prob.together:
            for g in dict.fromkeys(prob.groups[list(best.support)].tolist()):
                ks = [k for k, j in enumerate(best.support) if prob.groups[j] == g]
                if not any(best.support[k] in prob.required for k in ks):
                    units.append(ks)
        else:
            units = [[k] for k, j in enumerate(best.support) if j not in prob.required]
        if not units:
            return out
        base = self.margin(best)
        margins = np.stack([base - prob.X[:, [best.support[k] for k in ks]] @ best.beta[ks]
                            for ks in units], axis=1)
        sc = self.scores(margins)
        limit = best.loss * (1.0 + opts.gap_tolerance)
        sups: list[tuple[int, ...]] = []
        seen: set[tuple[int, ...]] = {best.support}
        for col, ks in enumerate(units):
            gone = {best.support[k] for k in ks}
            rest = tuple(j for j in best.support if j not in gone)
            ok = self.valid_additions(rest)
            ok[list(gone)] = False
            if prob.together:
                ok &= ~np.isin(prob.groups, prob.groups[list(gone)])
            cand = np.where(ok & (sc[:, col] > 0), sc[:, col], -1.0)
            order = np.argsort(-cand, kind="stable")
            added = 0
            for j in order:
                if cand[j] <= 0 or added >= opts.swap_attempts:
                    break
                sup = self.extend(rest, int(j))
                if sup is None or sup in seen:
                    continue
                seen.add(sup)
                sups.append(sup)
                added += 1
        fits = self.fit_many(sups, [best] * len(sups))
        return [f for f in fits if f.loss <= limit]


def search(prob: Problem, sopts: SearchOptions, ropts: RoundingOptions,
           pool_size: int, visited: list[ContinuousFit] | None = None) -> list[IntegerFit]:
    """Whole search: beam, swaps, rounding of the best supports; best integer fit per support.

    ``visited``, when given, receives the continuous fit of every support the search fitted.
    """
    ss = SupportSearch(prob)
    level = ss.beam(sopts)
    best = level[0]
    cands = {f.support: f for f in level}
    if best.support:
        for f in ss.swaps(best, sopts):
            cands.setdefault(f.support, f)
    limit = best.loss * (1.0 + sopts.gap_tolerance)
    ranked = sorted((f for f in cands.values() if f.loss <= limit or f is best),
                    key=lambda f: f.loss)[: max(sopts.n_round, 1)]
    results: dict[tuple[int, ...], IntegerFit] = {}
    for r in round_supports(prob, ranked, ropts):
        old = results.get(r.support)
        if old is None or r.loss < old.loss:
            results[r.support] = r
    pool = sorted(results.values(), key=lambda r: r.loss)
    if visited is not None:
        visited.extend(ss.fits.values())
    return pool[:pool_size]
