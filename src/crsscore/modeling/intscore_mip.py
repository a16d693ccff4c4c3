"""Exact check of a learned integer score by mixed-integer programming (HiGHS via scipy).

The search in :mod:`crsscore.modeling.intscore_core` is a heuristic.  For a given multiplier
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
dependency).  They grow by a few cuts per iteration; the check is meant for small problems
(tens of features) and stops at ``time_limit`` with the bounds it has proven.

The multiplier itself is not part of the proof: the statement is "optimal among all integer
scores at this multiplier".  Refitting intercept and multiplier of a better score found here
can only lower its loss further.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_matrix, csr_matrix, vstack
from scipy.special import expit

from crsscore.modeling.intscore_core import Problem

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

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
        return (f"MIP check at multiplier {self.multiplier:.4f}: {verdict}{better}; "
                f"loss {self.upper:.6f} >= lower bound {self.lower:.6f}; "
                f"{self.iterations} master problem(s), {self.seconds:.1f} s")

    def to_dict(self) -> dict[str, object]:
        return {"multiplier": self.multiplier, "upper": self.upper, "lower": self.lower,
                "gap": self.gap, "status": self.status, "iterations": self.iterations,
                "seconds": self.seconds, "improved": self.improved,
                "points": list(self.points), "intercept": self.intercept,
                "incumbent_loss": self.incumbent_loss}


# --------------------------------------------------------------------------------------------
# Exact evaluation at a fixed slope
# --------------------------------------------------------------------------------------------
def _intercept_range(prob: Problem, slope: float) -> tuple[float, float]:
    """Interval that holds the best intercept (log-odds) of every feasible score.

    At the optimum the mean predicted risk equals the observed one, so ``logit(ybar)`` lies
    between the smallest and the largest linear predictor; totals are bounded by
    ``tmax = sum_j max(|lb_j|, |ub_j|) * max_i |x_ij|``.  ``intercept_bound`` narrows it.
    """
    ybar = float(prob.wy.sum() / prob.w.sum())
    ybar = min(max(ybar, 1e-12), 1 - 1e-12)
    centre = float(np.log(ybar / (1 - ybar)))
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
    ybar = float(prob.wy.sum() / prob.w.sum())
    ybar = min(max(ybar, 1e-12), 1 - 1e-12)
    b = np.full(Lam.shape[1], np.log(ybar / (1 - ybar))) - (T * N).sum(0) / N.sum()
    b = np.clip(b, b_lo, b_hi)
    for _ in range(100):
        pr = expit(b + T)
        g = (N * pr - n1).sum(0)
        h = (N * pr * (1 - pr)).sum(0) + 1e-300
        step = np.clip(g / h, -5.0, 5.0)
        b_new = np.clip(b - step, b_lo, b_hi)
        done = np.abs(b_new - b).max(initial=0.0) < 1e-13
        b = b_new
        if done:
            break
    z = b + T
    loss = (N * np.logaddexp(0.0, z) - n1 * z).sum(0)
    r = N * expit(z) - n1
    g_lam = slope * (prob.X.T @ r)  # (p, K)
    g_b = r.sum(0)
    return b, loss, g_lam, g_b


# --------------------------------------------------------------------------------------------
# Feasibility of an integer point vector (for the +-1 neighbours)
# --------------------------------------------------------------------------------------------
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
    if selected.sum() > prob.max_features:
        return False
    gids, counts = np.unique(prob.groups[selected], return_counts=True)
    if prob.max_groups is not None and len(gids) > prob.max_groups:
        return False
    return not (prob.max_per_group is not None and (counts > prob.max_per_group).any())


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
    if prob.max_per_group is not None and not prob.together:
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
        if loss[i] < upper:
            best_lam, best_b, upper = L[:, i].copy(), float(b[i]), float(loss[i])
        if res.status != 0:
            status = "time limit" if res.status == 1 else "solver stopped"
            break
    lower = min(lower, upper)
    return Certificate(multiplier=float(multiplier), upper=upper, lower=float(lower),
                       status=status, iterations=it, seconds=time.perf_counter() - t0,
                       improved=upper < incumbent_loss - 1e-9 * max(1.0, incumbent_loss),
                       points=tuple(int(v) for v in best_lam),
                       intercept=best_b / slope, incumbent_loss=incumbent_loss)
