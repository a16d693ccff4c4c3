"""Tests of the exact MIP check of learned integer scores (crsscore.modeling.intscore_mip).

Reference: brute-force enumeration of every integer point vector allowed by the constraints
on small problems, each scored at its best intercept by scipy's bounded scalar minimiser (an
implementation independent of the Newton steps in the module).  The check must find the same
optimum from a poor incumbent, and its lower bound must never exceed it.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from crsscore.modeling import intscore_core as core
from crsscore.modeling import intscore_mip as mip
from crsscore.modeling.intscore import IntegerScoreClassifier, _certify


def _data(n: int = 240, p: int = 5, seed: int = 0, ordinal: bool = False
          ) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    if ordinal:
        X = rng.integers(0, 3, size=(n, p)).astype(float)
    else:
        X = (rng.random((n, p)) < 0.45).astype(float)
    lp = -1.2 + X[:, :3] @ np.array([1.3, -0.9, 0.6])
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-lp))).astype(float)
    return X, y


def _problem(X: np.ndarray, y: np.ndarray, *, bound: int = 3, k: int = 2,
             lb: np.ndarray | None = None, ub: np.ndarray | None = None,
             allowed: np.ndarray | None = None, required: tuple[int, ...] = (),
             groups: np.ndarray | None = None, max_groups: int | None = None,
             max_per_group: int | None = None, together: bool = False,
             intercept_bound: float | None = None) -> core.Problem:
    p = X.shape[1]
    lb = np.full(p, -bound, dtype=np.int64) if lb is None else lb
    ub = np.full(p, bound, dtype=np.int64) if ub is None else ub
    return core.make_problem(
        X, y, np.ones(len(y)), lb=lb, ub=ub,
        allowed=np.ones(p, dtype=bool) if allowed is None else allowed, required=required,
        groups=np.arange(p) if groups is None else groups, max_features=k,
        max_groups=max_groups, max_per_group=max_per_group, intercept_bound=intercept_bound,
        together=together)


def _exact_loss(X: np.ndarray, y: np.ndarray, lam: np.ndarray, slope: float,
                intercept_bound: float | None) -> float:
    t = slope * (X @ lam)

    def f(b: float) -> float:
        z = b + t
        return float(np.sum(np.logaddexp(0.0, z) - y * z))

    if intercept_bound is None:
        lo, hi = -30.0, 30.0
    else:
        lo, hi = -intercept_bound * slope, intercept_bound * slope
    r = minimize_scalar(f, bounds=(lo, hi), method="bounded",
                        options={"xatol": 1e-12, "maxiter": 2000})
    return float(r.fun)


def _brute_force(X: np.ndarray, y: np.ndarray, slope: float, ok, *, bound: int = 3,
                 intercept_bound: float | None = None) -> tuple[float, np.ndarray]:
    p = X.shape[1]
    best, arg = np.inf, np.zeros(p)
    for lam in itertools.product(range(-bound, bound + 1), repeat=p):
        v = np.asarray(lam, dtype=float)
        if not ok(v):
            continue
        loss = _exact_loss(X, y, v, slope, intercept_bound)
        if loss < best:
            best, arg = loss, v
    return best, arg


def test_finds_the_brute_force_optimum_from_a_poor_incumbent() -> None:
    X, y = _data(p=4)
    prob = _problem(X, y, k=2)
    slope = 0.7
    ref, arg = _brute_force(X, y, slope, lambda v: np.count_nonzero(v) <= 2)
    start = np.zeros((1, 4))
    start[0, 3] = 1.0  # a useless feature: far from optimal
    cert = mip.certify(prob, start, 1.0 / slope, time_limit=120)
    assert cert.optimal and cert.improved
    assert cert.upper == pytest.approx(ref, rel=1e-9)
    assert np.array_equal(np.asarray(cert.points), arg)
    assert cert.lower <= ref + 1e-9
    assert cert.gap <= 1e-5
    assert cert.incumbent_loss > ref + 1.0
    # the intercept reported (in points) is the optimal one at this multiplier
    z = cert.intercept * slope + slope * (X @ arg)
    assert float(np.sum(np.logaddexp(0.0, z) - y * z)) == pytest.approx(ref, rel=1e-9)


@pytest.mark.parametrize("case", ["sign_forbidden_required", "groups", "together",
                                  "intercept_bound", "ordinal"])
def test_constraints_match_brute_force(case: str) -> None:
    X, y = _data(p=5, seed=3, ordinal=case == "ordinal")
    p = 5
    kw: dict = {"k": 3 if case != "together" else 4}
    ib = None
    groups = np.array([0, 0, 1, 1, 2])
    if case == "sign_forbidden_required":
        lb = np.full(p, -3, dtype=np.int64)
        ub = np.full(p, 3, dtype=np.int64)
        lb[0] = 0  # points of x0 >= 0
        ub[1] = 0  # points of x1 <= 0
        allowed = np.ones(p, dtype=bool)
        allowed[2] = False  # x2 forbidden
        lb[2] = ub[2] = 0
        kw.update(lb=lb, ub=ub, allowed=allowed, required=(4,))

        def ok(v: np.ndarray) -> bool:
            return (np.count_nonzero(v) <= 3 and v[0] >= 0 and v[1] <= 0 and v[2] == 0
                    and v[4] != 0)
    elif case == "groups":
        kw.update(groups=groups, max_groups=2, max_per_group=1)

        def ok(v: np.ndarray) -> bool:
            used = groups[v != 0]
            return (np.count_nonzero(v) <= 3 and len(set(used.tolist())) <= 2
                    and all(np.sum(used == g) <= 1 for g in range(3)))
    elif case == "together":
        kw.update(groups=groups, together=True)

        def ok(v: np.ndarray) -> bool:
            sel = np.isin(groups, groups[v != 0])
            return int(sel.sum()) <= 4
    elif case == "intercept_bound":
        ib = 0.5
        kw.update(intercept_bound=ib)

        def ok(v: np.ndarray) -> bool:
            return np.count_nonzero(v) <= 3
    else:
        def ok(v: np.ndarray) -> bool:
            return np.count_nonzero(v) <= 3
    prob = _problem(X, y, **kw)
    slope = 0.6
    ref, _ = _brute_force(X, y, slope, ok, intercept_bound=ib)
    start = np.zeros((1, p))
    if case == "sign_forbidden_required":
        start[0, 4] = 1.0
    assert mip._feasible(prob, start[0])
    cert = mip.certify(prob, start, 1.0 / slope, time_limit=120)
    assert cert.optimal
    assert cert.upper == pytest.approx(ref, rel=1e-8)
    assert ok(np.asarray(cert.points, dtype=float))
    assert cert.lower <= ref + 1e-8


def test_incumbents_are_checked() -> None:
    X, y = _data(p=4)
    prob = _problem(X, y, k=2)
    with pytest.raises(ValueError, match="columns"):
        mip.certify(prob, np.zeros((1, 3)), 1.0)
    with pytest.raises(ValueError, match="no incumbent"):
        mip.certify(prob, np.ones((1, 4)), 1.0)  # four features, k = 2


def test_time_limit_reports_what_is_proven() -> None:
    X, y = _data(n=300, p=8, seed=1)
    prob = _problem(X, y, bound=5, k=4)
    start = np.zeros((1, 8))
    start[0, 0] = 1.0
    cert = mip.certify(prob, start, 1.5, time_limit=1e-6)
    assert cert.status == "time limit" and not cert.optimal
    assert cert.lower <= cert.upper
    assert "not proven" in cert.summary()
    d = cert.to_dict()
    assert d["status"] == "time limit" and len(d["points"]) == 8


def test_estimator_certifies_its_best_score() -> None:
    X, y = _data(n=300, p=6, seed=2)
    plain = IntegerScoreClassifier(max_features=3, coef_bound=4).fit(X, y)
    assert plain.certificate_ is None
    clf = IntegerScoreClassifier(max_features=3, coef_bound=4, certify=True,
                                 certify_time_limit=120).fit(X, y)
    cert = clf.certificate_
    assert cert is not None and cert.optimal
    assert cert.multiplier == pytest.approx(plain.multiplier_)
    assert clf.best_.loss <= plain.best_.loss + 1e-9
    # the proven optimum at this multiplier is the heuristic's score (or a better one found)
    assert cert.upper <= plain.best_.loss + 1e-6
    assert "proven optimal" in cert.summary()


def _brute_force_global(X: np.ndarray, y: np.ndarray, ok, score_loss, bound: int = 3
                        ) -> tuple[float, np.ndarray]:
    best, arg = np.inf, np.zeros(X.shape[1])
    for lam in itertools.product(range(-bound, bound + 1), repeat=X.shape[1]):
        v = np.asarray(lam, dtype=float)
        if ok(v):
            loss = score_loss(v, X, y)
            if loss < best - 1e-9:
                best, arg = loss, v
    return best, arg


def test_maximal_supports_cover_every_feasible_support() -> None:
    p = 6
    groups = np.array([0, 0, 1, 1, 2, 3])
    X, y = _data(p=p)
    for kw in ({"k": 3}, {"k": 3, "required": (5,)},
               {"k": 4, "groups": groups, "max_groups": 2, "max_per_group": 1},
               {"k": 4, "groups": groups, "together": True}):
        prob = _problem(X, y, **kw)
        sups = mip.maximal_supports(prob, 10_000)
        assert sups is not None and len(set(sups)) == len(sups)
        feasible = []
        for r in range(p + 1):
            for c in itertools.combinations(range(p), r):
                lam = np.zeros(p)
                lam[list(c)] = 1.0
                if mip._feasible(prob, lam):
                    feasible.append(set(c))
        # every feasible support lies in a listed one, and every listed one is feasible
        assert all(any(f <= set(s_) for s_ in sups) for f in feasible)
        assert all(set(s_) in feasible or kw.get("together") for s_ in sups)
        assert mip.maximal_supports(prob, 0) is None or len(sups) == 0


@pytest.mark.parametrize("kw", [{}, {"required": (4,)},
                                {"groups": np.array([0, 0, 1, 1, 2]), "max_per_group": 1}])
def test_support_enumeration_finds_the_global_optimum(kw: dict, score_loss) -> None:
    X, y = _data(p=5, seed=7)
    prob = _problem(X, y, k=2, **kw)
    start = np.zeros(5)
    start[4] = 1.0
    inc_loss = score_loss(start, X, y)

    def ok(v: np.ndarray) -> bool:
        lam = np.asarray(v, dtype=float)
        return mip._feasible(prob, lam)

    ref, _ = _brute_force_global(X, y, ok, score_loss)
    cert = mip.certify_supports(prob, start, inc_loss, 1.0, 0.0, time_limit=120)
    assert cert is not None and cert.optimal and cert.scope == "all multipliers"
    assert cert.improved
    assert cert.upper == pytest.approx(ref, rel=1e-7)
    assert cert.lower <= ref + 1e-7 and cert.gap <= 1e-5
    assert score_loss(np.asarray(cert.points, dtype=float), X, y) == pytest.approx(ref, rel=1e-7)
    assert "over all multipliers" in cert.summary()
    # from the optimum itself: proven, nothing better
    again = mip.certify_supports(prob, np.asarray(cert.points, dtype=float), cert.upper,
                                 cert.multiplier, cert.intercept, time_limit=120)
    assert again is not None and again.optimal and not again.improved


def test_support_enumeration_declines_what_it_cannot_prove() -> None:
    X, y = _data(p=5)
    start = np.zeros(5)
    start[0] = 1.0
    bounded = _problem(X, y, k=2, intercept_bound=1.0)
    assert mip.certify_supports(bounded, start, 1e9, 1.0, 0.0) is None
    prob = _problem(X, y, k=2)
    assert mip.certify_supports(prob, start, 1e9, 1.0, 0.0, max_supports=3) is None


def test_a_better_score_found_by_the_check_goes_first_with_its_scale_refitted(
        score_loss) -> None:
    # the estimator's hook, given a poor pool (one score on a useless feature): the check finds
    # the optimum (over every multiplier: support enumeration), which is put first with
    # intercept and multiplier refitted
    X, y = _data(n=300, p=4, seed=4)
    prob = _problem(X, y, k=2)
    poor = core.IntegerFit(support=(3,), points=np.array([1]), intercept=0.0, multiplier=1.0,
                           loss=_exact_loss(X, y, np.array([0, 0, 0, 1.0]), 1.0, None))
    other = core.IntegerFit(support=(2,), points=np.array([1]), intercept=0.0, multiplier=1.0,
                            loss=poor.loss + 1.0)
    fits, cert = _certify(prob, [poor, other], [], 60.0)
    ref, arg = _brute_force_global(X, y, lambda v: np.count_nonzero(v) <= 2, score_loss)
    assert cert.optimal and cert.improved and cert.method == "support enumeration"
    assert cert.upper == pytest.approx(ref, rel=1e-9)
    best = fits[0]
    assert best.support == tuple(np.flatnonzero(arg)) and list(best.points) == list(arg[arg != 0])
    assert best.loss <= cert.upper + 1e-9
    assert [f.support for f in fits[1:]] == [(3,), (2,)]
    # the refitted loss is the exact loss at the reported intercept and multiplier
    z = (best.intercept + X[:, list(best.support)] @ best.points) / best.multiplier
    assert float(np.sum(np.logaddexp(0.0, z) - y * z)) == pytest.approx(best.loss, rel=1e-9)
    # with an intercept bound the enumeration declines and the MIP at the multiplier checks
    bounded = _problem(X, y, k=2, intercept_bound=50.0)
    _, cert2 = _certify(bounded, [poor, other], [], 60.0)
    assert cert2.method == "outer approximation" and cert2.optimal and cert2.improved
    ref1, _ = _brute_force(X, y, 1.0, lambda v: np.count_nonzero(v) <= 2, intercept_bound=50.0)
    assert cert2.upper == pytest.approx(ref1, rel=1e-8)


def test_certify_parameters_are_validated() -> None:
    X, y = _data(p=4)
    with pytest.raises(ValueError, match="certify"):
        IntegerScoreClassifier(certify=1).fit(X, y)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="certify_time_limit"):
        IntegerScoreClassifier(certify=True, certify_time_limit=0).fit(X, y)
