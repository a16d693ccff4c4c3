"""Exact checks of a learned integer score: support enumeration, and MIP (HiGHS via scipy).

Two proofs that no integer score under the same constraints has a lower training loss.

**Support enumeration** (:func:`certify_supports`, global over the multiplier).  Every
feasible score uses a subset of some *maximal* feasible set of features (support).  For each
such support, the real coefficients ``points / multiplier`` of every score on it lie in the
box ``[lb, ub] / min_multiplier``, so the convex relaxation over that box bounds the loss of
all of them, whatever the multiplier.  The relaxation is solved by projected Newton and made
rigorous with the Frank-Wolfe gap (``L* >= L(x) + min over the box of grad L(x) . (y - x)``).
Supports whose bound is below the incumbent's loss are solved exactly by scoring every
integer point vector on them (intercept and multiplier refitted, again with a Frank-Wolfe
bound).  With binary features the bounds are tight: on 125 patients and 25 threshold
features (53,130 supports of five) one or two supports need enumerating.

**Outer approximation** (:func:`certify`, at a fixed multiplier).  The search in :mod:`crsscore.modeling.intscore_core` is a heuristic.  For a given multiplier
(points-to-log-odds slope ``s``) the remaining problem,

    min over integer points lambda and real intercept b0 of  L(b0 + s * X @ lambda)

subject to the bounds, the number of features and the other constraints of the fit, is a
convex mixed-integer nonlinear program: ``L`` (the weighted logistic loss) is convex in
``(b0, lambda)``.  :func:`certify` solves it by outer approximation (the cutting-plane method
behind RiskSLIM; Ustun and Rudin, JMLR 2019; Duran and Grossmann 1986): a mixed-integer
linear master problem minimises ``theta`` subject to tangent planes ``theta >= L(v) +
grad L(v) . (x - v)`` collected at the points ``v`` visited, which are under-estimators of
the convex loss, so the master's optimum is a proven lower bound.  Each master solution
``lambda`` (and its +-1 neighbours) is evaluated exactly at its best intercept, which gives
an upper bound, and cut off: the tangent plane at the best intercept is flat in ``b0``, so
the same ``lambda`` can never come back below the incumbent.  The master carries the cutoff
``theta <= incumbent * (1 - rel_tol)``; when it becomes infeasible, no integer score beats
the incumbent by more than ``rel_tol`` at this multiplier, and the check is complete.

The master problems are solved by HiGHS through :func:`scipy.optimize.milp` (no extra
dependency).  They grow by a few cuts per iteration and the relaxation of "at most k
features" is weak, so this check suits few features (it proves the RiskSLIM mammo and
breastcancer scores in seconds, but leaves a gap on 25 features); it stops at ``time_limit``
with the bounds it has proven.  Its statement is "optimal among all integer scores at this
multiplier".  It covers the case the enumeration cannot: an intercept bound, or ordinal
features whose point grids are slow to enumerate.  Refitting intercept and multiplier of a better score found here
can only lower its loss further.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_matrix, csr_matrix, vstack

from crsscore._numeric import expit
from crsscore._types import FloatArray, IntArray
from crsscore.modeling.intscore_core import (
    _S_MIN,
    Problem,
    _grid,
    _loss_cols,
    fit_box_batch,
    refit_scale,
    stack_patterns,
)
from crsscore.modeling.intscore_core import patterns as core_patterns

Status = Literal["optimal", "time limit", "iteration limit", "solver stopped"]


@dataclass(frozen=True)
class Certificate:
    """Result of :func:`certify` at one multiplier.

    ``upper`` is the training loss of the best integer score known (``points``, with its best
    intercept at this multiplier), ``lower`` a proven lower bound on the loss of every integer
    score that satisfies the constraints, at this multiplier.  ``status == "optimal"`` means
    ``upper - lower <= rel_tol * upper``.  ``improved`` is true when the check found a score
    with a lower loss than every incumbent it was given.
    """

    multiplier: float
    upper: float
    lower: float
    status: Status
    iterations: int
    seconds: float
    improved: bool
    points: tuple[int, ...]
    intercept: float  # in points: probability = expit((intercept + total) / multiplier)
    incumbent_loss: float  # best loss among the incumbents, at this multiplier
    scope: str = "at this multiplier"  # or "all multipliers"
    method: str = "outer approximation"  # or "support enumeration"

    @property
    def gap(self) -> float:
        """Relative optimality gap ``(upper - lower) / max(1, upper)``."""
        return float(max(self.upper - self.lower, 0.0) / max(1.0, abs(self.upper)))

    @property
    def optimal(self) -> bool:
        return self.status == "optimal"

    def summary(self) -> str:
        verdict = ("proven optimal" if self.optimal
                   else f"not proven ({self.status}; gap {self.gap:.2%})")
        better = " (the check found a better score)" if self.improved else ""
        if self.scope == "all multipliers":
            head = "Exact check over all multipliers (support enumeration)"
            work = f"{self.iterations} support(s)"
        else:
            head = f"MIP check at multiplier {self.multiplier:.4f}"
            work = f"{self.iterations} master problem(s)"
        return (f"{head}: {verdict}{better}; loss {self.upper:.6f} >= lower bound "
                f"{self.lower:.6f}; {work}, {self.seconds:.1f} s")

    def to_dict(self) -> dict[str, object]:
        return {"multiplier": self.multiplier, "upper": self.upper, "lower": self.lower,
                "gap": self.gap, "status": self.status, "iterations": self.iterations,
                "seconds": self.seconds, "improved": self.improved,
                "points": list(self.points), "intercept": self.intercept,
                "incumbent_loss": self.incumbent_loss, "scope": self.scope,
                "method": self.method}


# --------------------------------------------------------------------------------------------
# Exact evaluation at a fixed slope
# --------------------------------------------------------------------------------------------
def _logit_mean(n1: FloatArray, n0: FloatArray) -> float:
    """Logit of the weighted event rate (clamped): the centre of every optimal intercept."""
    ybar = float(n1.sum() / (n1.sum() + n0.sum()))
    ybar = min(max(ybar, 1e-12), 1 - 1e-12)
    return float(np.log(ybar / (1 - ybar)))


def _polish_intercept(R: FloatArray, n1: FloatArray, n0: FloatArray, a: FloatArray,
                      axis: int, lo: float = -math.inf, hi: float = math.inf) -> FloatArray:
    """Exact intercept of each problem for a fixed rest ``R`` of the linear predictor
    (``z = a + R``; ``axis`` is the pattern axis of ``R``, ``n1`` and ``n0`` broadcast to
    it), by safeguarded 1-D Newton.  The loss is convex in the intercept, so clipping to
    ``[lo, hi]`` gives the constrained optimum."""
    N = n1 + n0
    a = np.clip(a, lo, hi)
    for _ in range(100):
        z = (a[None, :] + R) if axis == 0 else (a[:, None] + R)
        pr = expit(z)
        g = (N * pr - n1).sum(axis=axis)
        h = (N * pr * (1 - pr)).sum(axis=axis) + 1e-300
        a_new = np.clip(a - np.clip(g / h, -5.0, 5.0), lo, hi)
        done = np.abs(a_new - a).max(initial=0.0) < 1e-13
        a = a_new
        if done:
            break
    return a


def _intercept_range(prob: Problem, slope: float) -> tuple[float, float]:
    """Interval that holds the best intercept (log-odds) of every feasible score.

    At the optimum the mean predicted risk equals the observed one, so ``logit(ybar)`` lies
    between the smallest and the largest linear predictor; totals are bounded by
    ``tmax = sum_j max(|lb_j|, |ub_j|) * max_i |x_ij|``.  ``intercept_bound`` narrows it.
    """
    centre = _logit_mean(prob.wy, prob.wny)
    scale = np.maximum(np.abs(prob.lb), np.abs(prob.ub)) * np.abs(prob.X).max(axis=0, initial=0.0)
    tmax = float(scale[prob.allowed].sum())
    lo, hi = centre - slope * tmax - 1.0, centre + slope * tmax + 1.0
    if prob.intercept_bound is not None:
        lo = max(lo, -prob.intercept_bound * slope)
        hi = min(hi, prob.intercept_bound * slope)
    return lo, hi


def _best_intercepts(prob: Problem, Lam: FloatArray, slope: float, b_lo: float, b_hi: float
                     ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """For each column of ``Lam`` (p, K): best intercept, loss, and gradient in (lambda, b0).

    One-dimensional Newton on the intercept, vectorised over columns; the loss is convex in
    the intercept, so clipping to ``[b_lo, b_hi]`` gives the constrained optimum.
    """
    n1, n0 = prob.wy[:, None], prob.wny[:, None]
    N = n1 + n0
    T = slope * (prob.X @ Lam)  # (n, K)
    b = _logit_mean(prob.wy, prob.wny) - (T * N).sum(0) / N.sum()
    b = _polish_intercept(T, n1, n0, b, axis=0, lo=b_lo, hi=b_hi)
    z = b + T
    loss = _loss_cols(z, n1, n0)
    r = N * expit(z) - n1
    g_lam = slope * (prob.X.T @ r)  # (p, K)
    g_b = r.sum(0)
    return b, loss, g_lam, g_b


# --------------------------------------------------------------------------------------------
# Feasibility of an integer point vector (for the +-1 neighbours)
# --------------------------------------------------------------------------------------------
def _support_ok(prob: Problem, feats: list[int]) -> bool:
    """The selected features respect max_features, max_groups and max_per_group."""
    if len(feats) > prob.max_features:
        return False
    gids, counts = np.unique(prob.groups[feats], return_counts=True)
    if prob.max_groups is not None and len(gids) > prob.max_groups:
        return False
    return prob.max_per_group is None or not (counts > prob.max_per_group).any()


def _feasible(prob: Problem, lam: FloatArray) -> bool:
    nz = lam != 0
    if (lam < prob.lb).any() or (lam > prob.ub).any() or (nz & ~prob.allowed).any():
        return False
    if any(lam[j] == 0 for j in prob.required):
        return False
    if prob.together:
        # the selected units are whole groups (the zero points of a selected group count)
        sel_groups = np.unique(prob.groups[nz | np.isin(np.arange(prob.p), prob.required)])
        selected = np.isin(prob.groups, sel_groups) & prob.allowed
    else:
        selected = nz.copy()
        selected[list(prob.required)] = True
    return _support_ok(prob, np.flatnonzero(selected).tolist())


# --------------------------------------------------------------------------------------------
# The master problem
# --------------------------------------------------------------------------------------------
@dataclass
class _Layout:
    p: int
    req_idx: list[int]  # required features that need a sign indicator
    group_ids: list[int]

    @property
    def lam(self) -> slice:
        return slice(0, self.p)

    @property
    def u(self) -> slice:
        return slice(self.p, 2 * self.p)

    def d(self, k: int) -> int:
        return 2 * self.p + k

    def v(self, k: int) -> int:
        return 2 * self.p + len(self.req_idx) + k

    @property
    def b0(self) -> int:
        return 2 * self.p + len(self.req_idx) + len(self.group_ids)

    @property
    def theta(self) -> int:
        return self.b0 + 1

    @property
    def n(self) -> int:
        return self.b0 + 2


def _structure(prob: Problem, b_lo: float, b_hi: float
               ) -> tuple[_Layout, csr_matrix, FloatArray, FloatArray, FloatArray, FloatArray,
                          IntArray]:
    """Fixed part of the master: variables, bounds, integrality and constraint rows."""
    p = prob.p
    req_idx = [j for j in prob.required if prob.lb[j] < 1 and prob.ub[j] > -1]
    group_ids = sorted(set(prob.groups[prob.allowed].tolist()))
    use_v = prob.max_groups is not None
    lay = _Layout(p, req_idx, group_ids if use_v else [])
    nv = lay.n
    lo = np.zeros(nv)
    hi = np.ones(nv)
    lo[lay.lam], hi[lay.lam] = prob.lb, prob.ub
    hi[lay.u] = prob.allowed.astype(np.float64)
    for j in prob.required:
        lo[p + j] = 1.0
    lo[lay.b0], hi[lay.b0] = b_lo, b_hi
    lo[lay.theta], hi[lay.theta] = 0.0, np.inf
    integrality = np.ones(nv, dtype=np.int64)
    integrality[lay.b0] = integrality[lay.theta] = 0
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    rlo: list[float] = []
    rhi: list[float] = []

    def add(terms: list[tuple[int, float]], low: float, high: float) -> None:
        r = len(rlo)
        for c, v in terms:
            rows.append(r)
            cols.append(c)
            vals.append(v)
        rlo.append(low)
        rhi.append(high)

    for j in range(p):  # lambda_j = 0 unless u_j = 1
        add([(j, 1.0), (p + j, -float(prob.ub[j]))], -np.inf, 0.0)
        add([(j, 1.0), (p + j, -float(prob.lb[j]))], 0.0, np.inf)
    add([(p + j, 1.0) for j in range(p)], 0.0, float(prob.max_features))
    for k, j in enumerate(req_idx):  # required: lambda_j >= 1 (d = 1) or <= -1 (d = 0)
        lb_j, ub_j = float(prob.lb[j]), float(prob.ub[j])
        add([(j, 1.0), (lay.d(k), -(1.0 - lb_j))], lb_j, np.inf)
        add([(j, 1.0), (lay.d(k), -(ub_j + 1.0))], -np.inf, -1.0)
    members = {g: [j for j in range(p) if prob.groups[j] == g and prob.allowed[j]]
               for g in group_ids}
    if prob.max_per_group is not None:
        for g in group_ids:
            add([(p + j, 1.0) for j in members[g]], 0.0, float(prob.max_per_group))
    if prob.max_groups is not None:
        for k, g in enumerate(group_ids):
            for j in members[g]:
                add([(lay.v(k), 1.0), (p + j, -1.0)], 0.0, np.inf)
        add([(lay.v(k), 1.0) for k in range(len(group_ids))], 0.0, float(prob.max_groups))
    if prob.together:
        for g in group_ids:
            ms = members[g]
            for a, b in itertools.pairwise(ms):
                add([(p + a, 1.0), (p + b, -1.0)], 0.0, 0.0)
    A = coo_matrix((np.asarray(vals), (np.asarray(rows, dtype=np.int64),
                                       np.asarray(cols, dtype=np.int64))),
                   shape=(len(rlo), nv)).tocsr()
    return lay, A, np.asarray(rlo), np.asarray(rhi), lo, hi, integrality


def certify(prob: Problem, incumbents: FloatArray, multiplier: float, *,
            warm_points: FloatArray | None = None, rel_tol: float = 1e-6,
            time_limit: float = 60.0, max_iter: int = 2000) -> Certificate:
    """Prove (or disprove) that the best of ``incumbents`` is the optimal integer score at
    ``multiplier``.

    ``incumbents`` is (K, p): integer point vectors, for instance the pool of the heuristic
    search.  Returns a :class:`Certificate` with the best score found, its loss and a proven
    lower bound.  ``warm_points`` (K2, p), optional: real-valued coefficient vectors (in
    points) at which to add tangent planes before the first master problem, e.g. the
    continuous fits of the supports the search visited; they tighten the first relaxations.
    """
    t0 = time.perf_counter()
    slope = 1.0 / float(multiplier)
    b_lo, b_hi = _intercept_range(prob, slope)
    lay, A0, l0, u0, lo, hi, integrality = _structure(prob, b_lo, b_hi)
    Inc = np.atleast_2d(np.asarray(incumbents, dtype=np.float64))
    if Inc.shape[1] != prob.p:
        raise ValueError(f"incumbents must have {prob.p} columns; got {Inc.shape[1]}")
    Inc = Inc[[_feasible(prob, row) for row in Inc]]
    if len(Inc) == 0:
        raise ValueError("no incumbent satisfies the constraints")

    cut_rows: list[FloatArray] = []
    cut_rhs: list[float] = []
    seen: set[tuple[int, ...]] = set()

    def evaluate(L: FloatArray, integer: bool = True) -> tuple[FloatArray, FloatArray]:
        """Exact loss at the best intercept of each column of L (p, K), plus a cut each."""
        b, loss, g_lam, g_b = _best_intercepts(prob, L, slope, b_lo, b_hi)
        for k in range(L.shape[1]):
            row = np.zeros(lay.n)
            row[lay.lam] = g_lam[:, k]
            row[lay.b0] = g_b[k]
            row[lay.theta] = -1.0
            cut_rows.append(row)
            cut_rhs.append(float(g_lam[:, k] @ L[:, k] + g_b[k] * b[k] - loss[k]))
            if integer:
                seen.add(tuple(int(v) for v in L[:, k]))
        return b, loss

    if warm_points is not None and len(warm_points):
        evaluate(np.atleast_2d(np.asarray(warm_points, dtype=np.float64)).T, integer=False)

    b, loss = evaluate(Inc.T)
    i = int(np.argmin(loss))
    best_lam, best_b, upper = Inc[i].copy(), float(b[i]), float(loss[i])
    incumbent_loss = upper
    lower = -np.inf
    c = np.zeros(lay.n)
    c[lay.theta] = 1.0
    status: Status = "iteration limit"
    it = 0
    while it < max_iter:
        remaining = time_limit - (time.perf_counter() - t0)
        if remaining <= 0:
            status = "time limit"
            break
        it += 1
        cutoff = upper - rel_tol * max(1.0, abs(upper))
        hi_t = hi.copy()
        hi_t[lay.theta] = cutoff
        A = vstack([A0, csr_matrix(np.asarray(cut_rows))]).tocsr()
        res = milp(c, integrality=integrality, bounds=Bounds(lo, hi_t),
                   constraints=LinearConstraint(A, np.r_[l0, np.full(len(cut_rhs), -np.inf)],
                                                np.r_[u0, np.asarray(cut_rhs)]),
                   options={"time_limit": remaining, "mip_rel_gap": 1e-4})
        if res.status == 2:  # infeasible: nothing beats the incumbent by more than rel_tol
            lower = max(lower, cutoff)
            status = "optimal"
            break
        if res.x is None:  # time limit (or a solver failure) before any feasible point
            status = "time limit" if res.status == 1 else "solver stopped"
            break
        bound = getattr(res, "mip_dual_bound", None)
        if bound is not None and np.isfinite(bound):
            lower = max(lower, min(float(bound), cutoff))
        lam = np.round(res.x[lay.lam])
        key = tuple(int(v) for v in lam)
        cands = [] if key in seen else [lam]
        for j in range(prob.p):
            for step in (-1.0, 1.0):
                nb = lam.copy()
                nb[j] += step
                if tuple(int(v) for v in nb) not in seen and _feasible(prob, nb):
                    cands.append(nb)
        if not cands:  # the master returned a point already cut off: numerical trouble
            status = "iteration limit"
            break
        L = np.column_stack(cands)
        b, loss = evaluate(L)
        i = int(np.argmin(loss))
        if loss[i] < upper - rel_tol * max(1.0, abs(upper)):
            best_lam, best_b, upper = L[:, i].copy(), float(b[i]), float(loss[i])
        if res.status != 0:
            status = "time limit" if res.status == 1 else "solver stopped"
            break
    lower = min(lower, upper)
    return Certificate(multiplier=float(multiplier), upper=upper, lower=float(lower),
                       status=status, iterations=it, seconds=time.perf_counter() - t0,
                       improved=upper < incumbent_loss - rel_tol * max(1.0, incumbent_loss),
                       points=tuple(int(v) for v in best_lam),
                       intercept=best_b / slope, incumbent_loss=incumbent_loss)


# --------------------------------------------------------------------------------------------
# Exact check by enumerating supports (global over the multiplier)
# --------------------------------------------------------------------------------------------
def maximal_supports(prob: Problem, limit: int) -> list[tuple[int, ...]] | None:
    """Every support that satisfies the constraints and cannot take one more feature (or
    group, when groups enter together); None when there are more than ``limit``.

    Every feasible support is a subset of one of these, and the points of the features a
    score does not use are zero, so checking these supports checks every score.
    """
    allowed = [j for j in range(prob.p) if prob.allowed[j]]
    if prob.together:
        units = [tuple(j for j in allowed if prob.groups[j] == g)
                 for g in dict.fromkeys(prob.groups[allowed].tolist())]
    else:
        units = [(j,) for j in allowed]
    req = set(prob.required)
    fixed = [u for u in units if req & set(u)]
    free = [u for u in units if not req & set(u)]

    def ok(sel: list[tuple[int, ...]]) -> bool:
        return _support_ok(prob, [j for u in sel for j in u])

    if not ok(fixed):
        return []
    plain = prob.max_groups is None and prob.max_per_group is None
    if plain and all(len(u) == 1 for u in free):
        room = prob.max_features - sum(len(u) for u in fixed)
        r = min(room, len(free))
        if math.comb(len(free), r) > limit:
            return None
        base = [j for u in fixed for j in u]
        return [tuple(sorted(base + [u[0] for u in c])) for c in itertools.combinations(free, r)]
    out: list[tuple[int, ...]] = []

    def grow(sel: list[tuple[int, ...]], start: int) -> bool:
        extended = False
        for i in range(start, len(free)):
            sel.append(free[i])
            if ok(sel):
                extended = True
                if not grow(sel, i + 1):
                    return False
            sel.pop()
        if not extended and not any(ok([*sel, u]) for u in free if u not in sel):
            out.append(tuple(sorted(j for u in sel for j in u)))
            if len(out) > limit:
                return False
        return True

    if not grow(list(fixed), 0):
        return None
    return out


def _relaxation_bounds(prob: Problem, sups: list[tuple[int, ...]], scale: float
                       ) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Proven lower bound on the loss of every score on each support, at any multiplier.

    The real coefficients ``beta = points / multiplier`` of such a score lie in
    ``scale * [lb, ub]`` (``scale = 1 / min_multiplier``); the convex relaxation over that box
    is solved by projected Newton and turned into a rigorous bound with the Frank-Wolfe gap:
    ``L* >= L(x) + min over the box of grad L(x) . (y - x)`` (the intercept's box is the range
    that holds every optimal intercept, see :func:`_intercept_range`).  Returns the bounds, the
    intercepts and the coefficients (in log-odds) of the relaxed fits.
    """
    K = len(sups)
    s = len(sups[0]) if K else 0
    if s == 0:
        pat = core_patterns(prob, ())
        z0 = _logit_mean(pat.n1, pat.n0)
        null = float(_loss_cols(np.array([z0]), pat.n1, pat.n0))
        return np.full(K, null), np.full(K, z0), np.zeros((K, 0))
    S = np.asarray(sups, dtype=np.int64).reshape(K, s)
    lo = scale * prob.lb[S].astype(np.float64)
    hi = scale * prob.ub[S].astype(np.float64)
    P, n1, n0 = stack_patterns(prob, sups)
    centre = _logit_mean(prob.wy, prob.wny)
    b0, beta, _ = fit_box_batch(P, n1, n0, lo, hi, np.full(K, centre), np.zeros((K, s)))
    R = np.einsum("bms,bs->bm", P, beta)
    b0 = _polish_intercept(R, n1, n0, b0, axis=1)  # the intercept term of the gap then vanishes
    z = b0[:, None] + R
    loss = _loss_cols(z.T, n1.T, n0.T)
    r = (n1 + n0) * expit(z) - n1
    g = np.einsum("bms,bm->bs", P, r)
    g0 = r.sum(axis=1)
    # range of every optimal intercept on these supports (cf. _intercept_range)
    tmax = (np.maximum(np.abs(lo), np.abs(hi)) * np.abs(P).max(axis=1)).sum(axis=1)
    b_lo, b_hi = centre - tmax - 1.0, centre + tmax + 1.0
    gap = np.minimum(g * (lo - beta), g * (hi - beta)).sum(axis=1)
    gap += np.minimum(g0 * (b_lo - b0), g0 * (b_hi - b0))
    return loss + np.minimum(gap, 0.0), b0, beta


def _enumerate_support(prob: Problem, sup: tuple[int, ...], b0: float, beta: FloatArray,
                       cutoff: float, deadline: float = math.inf, chunk: int = 8192
                       ) -> tuple[float, float, IntArray, float, float, bool]:
    """Exact best integer score on one support, at its best intercept and multiplier.

    Every integer point vector within the bounds is scored (intercept and multiplier refitted
    by Newton, convex in both).  Returns (proven lower bound, loss, points, intercept a,
    slope s, complete); the lower bound subtracts each candidate's Frank-Wolfe gap in (a, s).
    Past ``deadline`` (a ``time.perf_counter`` value) it stops with ``complete`` False.
    """
    pat = core_patterns(prob, sup)
    # every non-zero point vector in the bounds (the zero score is the limit of any of them
    # as the multiplier grows, so it never has the lower loss)
    grid = _grid(tuple((int(prob.lb[j]), int(prob.ub[j]), j in prob.required) for j in sup))
    tmax = float(np.abs(pat.P).sum(axis=1).max(initial=0.0)) * float(
        np.abs(grid).max(initial=0.0))
    centre = _logit_mean(pat.n1, pat.n0)
    a_lo, a_hi = centre - prob.s_max * tmax - 1.0, centre + prob.s_max * tmax + 1.0
    best_loss, best_i, best_a, best_s = np.inf, 0, 0.0, 1.0
    lower = np.inf
    for c0 in range(0, len(grid), chunk):
        if time.perf_counter() > deadline:
            return lower, best_loss, grid[best_i].astype(np.int64), best_a, best_s, False
        C = grid[c0:c0 + chunk]
        T = pat.P @ C.T
        cc = np.maximum((C * C).sum(axis=1), 1e-12)
        s0 = np.clip((C @ beta) / cc, 1e-3, prob.s_max)
        s_hi = np.full(len(C), prob.s_max)
        a, s, loss = refit_scale(T, pat.n1, pat.n0, s_hi, np.full(len(C), b0), s0)
        lb_c = _scale_bound(T, pat.n1, pat.n0, a, s, loss, a_lo, a_hi, prob.s_max)
        for _ in range(3):  # refit harder where the bound is not yet conclusive
            weak = np.flatnonzero(lb_c < cutoff)
            if len(weak) == 0:
                break
            a2, s2, l2 = refit_scale(T[:, weak], pat.n1, pat.n0, s_hi[weak], a[weak], s[weak],
                                     max_iter=200)
            a2 = _polish_intercept(s2 * T[:, weak], pat.n1[:, None], pat.n0[:, None], a2, axis=0)
            l2 = _loss_cols(a2 + s2 * T[:, weak], pat.n1[:, None], pat.n0[:, None])
            better = l2 <= loss[weak]
            a[weak] = np.where(better, a2, a[weak])
            s[weak] = np.where(better, s2, s[weak])
            loss[weak] = np.where(better, l2, loss[weak])
            new_lb = _scale_bound(T[:, weak], pat.n1, pat.n0, a[weak], s[weak], loss[weak],
                                  a_lo, a_hi, prob.s_max)
            if np.allclose(new_lb, lb_c[weak]):
                lb_c[weak] = new_lb
                break
            lb_c[weak] = new_lb
        lower = min(lower, float(lb_c.min()))
        i = int(np.argmin(loss))
        if loss[i] < best_loss:
            best_loss, best_i, best_a, best_s = float(loss[i]), c0 + i, float(a[i]), float(s[i])
    return lower, best_loss, grid[best_i].astype(np.int64), best_a, best_s, True


def _scale_bound(T: FloatArray, n1: FloatArray, n0: FloatArray, a: FloatArray, s: FloatArray,
                 loss: FloatArray, a_lo: float, a_hi: float, s_max: float) -> FloatArray:
    """Lower bound on each column's best loss over (a, s) in the box: loss + Frank-Wolfe gap."""
    z = a + s * T
    r = (n1 + n0)[:, None] * expit(z) - n1[:, None]
    ga, gs = r.sum(axis=0), (r * T).sum(axis=0)
    gap = (np.minimum(ga * (a_lo - a), ga * (a_hi - a))
           + np.minimum(gs * (_S_MIN - s), gs * (s_max - s)))
    out: FloatArray = loss + np.minimum(gap, 0.0)
    return out


def certify_supports(prob: Problem, incumbent: FloatArray, incumbent_loss: float,
                     multiplier: float, intercept: float, *,
                     rel_tol: float = 1e-6, time_limit: float = 60.0,
                     max_supports: int = 300_000, max_grid: int = 200_000) -> Certificate | None:
    """Exact check over every multiplier by enumerating supports; None when too large.

    Each maximal feasible support gets a proven lower bound from its convex relaxation (any
    multiplier, see :func:`_relaxation_bounds`); supports whose bound is below the incumbent's
    loss are solved exactly by enumerating their integer point vectors.  When every support is
    settled, the best score found is the optimum over all integer scores and all multipliers
    ``>= min_multiplier``.  Unavailable (None) with an intercept bound, with more than
    ``max_supports`` supports, or when a support to solve has more than ``max_grid`` point
    vectors.
    """
    t0 = time.perf_counter()
    if prob.intercept_bound is not None:
        return None
    sups = maximal_supports(prob, max_supports)
    if sups is None:
        return None
    width = prob.ub - prob.lb + 1
    upper, best_pts = float(incumbent_loss), np.asarray(incumbent, dtype=np.int64)
    best_s = 1.0 / float(multiplier)
    best_a = float(intercept) * best_s
    by_size: dict[int, list[tuple[int, ...]]] = {}
    for sup in sups:
        by_size.setdefault(len(sup), []).append(sup)
    bounds: list[tuple[float, tuple[int, ...], float, FloatArray]] = []
    for size, group in by_size.items():
        per = max(1, 2_000_000 // max(1, size * min(prob.n, 64)))
        for c0 in range(0, len(group), per):
            part = group[c0:c0 + per]
            lb_, b0s, betas = _relaxation_bounds(prob, part, prob.s_max)
            bounds.extend((float(lb_[i]), part[i], float(b0s[i]), betas[i])
                          for i in range(len(part)))
            if time.perf_counter() - t0 > time_limit:
                return None  # not even the relaxations fit in the time: too large
    bounds.sort(key=lambda t: t[0])
    lower = math.inf
    status: Status = "optimal"
    deadline = t0 + time_limit
    for lb_s, sup, b0, beta in bounds:
        cutoff = upper - rel_tol * max(1.0, abs(upper))
        if lb_s >= cutoff:
            lower = min(lower, lb_s)
            break
        if int(np.prod(width[list(sup)])) > max_grid:
            status, lower = "iteration limit", min(lower, lb_s)
            break
        lo_s, loss, pts, a, s, complete = _enumerate_support(prob, sup, b0, beta, cutoff,
                                                             deadline)
        if not complete:  # this support (and the ones after it) stay at their relaxation bound
            status, lower = "time limit", min(lower, lb_s)
        else:
            lower = min(lower, lo_s)
        if loss < upper - rel_tol * max(1.0, abs(upper)):
            upper = loss
            best_pts = np.zeros(prob.p, dtype=np.int64)
            best_pts[list(sup)] = pts
            best_a, best_s = a, s
        if not complete:
            break
    lower = min(lower, upper)
    improved = upper < incumbent_loss - rel_tol * max(1.0, incumbent_loss)
    return Certificate(multiplier=1.0 / best_s, upper=upper,
                       lower=float(lower), status=status, iterations=len(sups),
                       seconds=time.perf_counter() - t0, improved=improved,
                       points=tuple(int(v) for v in best_pts),
                       intercept=best_a / best_s,
                       incumbent_loss=float(incumbent_loss), scope="all multipliers",
                       method="support enumeration")
