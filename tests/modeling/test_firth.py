"""Firth logistic regression against R brglm2 (AS_mean), stored in tests/fixtures/r.

Reference made by tests/fixtures/r/make_fixtures.R:
glm(y ~ ., family = binomial, method = "brglmFit", type = "AS_mean") (brglm2 0.9).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from crsscore.modeling._batched import fit_logistic_batch
from crsscore.modeling._newton import penalised_loglik
from crsscore.modeling.firth import profile_ci
from crsscore.modeling.logistic import fit_logistic

XCOLS = [f"x{i}" for i in range(1, 8)]


def test_matches_brglm2_on_cohort(cohort: pd.DataFrame, read_r: Callable[[str], pd.DataFrame]) -> None:
    ref = read_r("firth_full.csv")
    fit = fit_logistic(cohort[XCOLS], cohort["y"], firth=True)
    np.testing.assert_allclose(fit.coef, ref["coef"], atol=1e-6)
    np.testing.assert_allclose(fit.se, ref["se"], atol=1e-6)
    assert fit.method == "firth" and fit.converged
    ml = fit_logistic(cohort[XCOLS], cohort["y"])
    assert np.linalg.norm(fit.slopes) < np.linalg.norm(ml.slopes)  # shrinks towards zero overall
    assert fit.loglik < ml.loglik and fit.loglik_penalised > fit.loglik


def test_finite_under_separation_matches_brglm2(read_r: Callable[[str], pd.DataFrame]) -> None:
    sep = read_r("separated.csv")
    ref = read_r("firth_separated.csv")
    fit = fit_logistic(sep[["a", "b"]], sep["y"], firth=True)
    np.testing.assert_allclose(fit.coef, ref["coef"], atol=1e-6)
    np.testing.assert_allclose(fit.se, ref["se"], atol=1e-6)
    assert not fit.separation


def test_penalised_loglik_is_maximised(cohort: pd.DataFrame) -> None:
    X, y = cohort[XCOLS].to_numpy(), cohort["y"].to_numpy().astype(float)
    fit = fit_logistic(X, y, firth=True)
    D = np.column_stack([np.ones(125), X])
    w = np.ones(125)
    best = penalised_loglik(D, y, w, fit.coef)
    assert best == pytest.approx(fit.loglik_penalised)
    rng = np.random.default_rng(0)
    for _ in range(20):
        assert penalised_loglik(D, y, w, fit.coef + rng.normal(scale=1e-3, size=8)) < best


def test_batch_firth_equals_single(read_r: Callable[[str], pd.DataFrame]) -> None:
    sep = read_r("separated.csv")
    X, y = sep[["a", "b"]].to_numpy(), sep["y"].to_numpy().astype(float)
    W = np.random.default_rng(2).multinomial(len(y), np.full(len(y), 1 / len(y)), size=8).astype(float)
    W = W[(W @ y > 0) & (W @ (1 - y) > 0)]
    batch = fit_logistic_batch(X, W, y, firth=True)
    assert batch.converged.all()
    for b in range(W.shape[0]):
        np.testing.assert_allclose(batch.coef[b], fit_logistic(X, y, weights=W[b], firth=True).coef, atol=1e-6)


def test_profile_ci_ml_is_a_likelihood_drop(cohort: pd.DataFrame) -> None:
    X, y = cohort[["x1", "x2"]].to_numpy(), cohort["y"].to_numpy().astype(float)
    fit = fit_logistic(X, y)
    ci = profile_ci(fit, X, y, which=[1])[0]
    for bound in ci:
        Xo = X[:, [1]]
        sub = fit_logistic(Xo, y, weights=None)
        assert sub.loglik < fit.loglik
        # refit with x1 held at the bound via an offset-free check: profile drop = chi2/2
        from scipy import stats

        from crsscore.modeling.logistic import _newton_ml

        D = np.column_stack([np.ones(125), X])
        start = fit.coef.copy()
        start[1] = bound
        beta, _, _ = _newton_ml(D, y, np.ones(125), start, 100, 1e-13, fixed=np.array([False, True, False]))
        ll = float(np.sum(y * (D @ beta) - np.logaddexp(0, D @ beta)))
        assert fit.loglik - ll == pytest.approx(stats.chi2.ppf(0.95, 1) / 2, abs=1e-7)


def test_firth_profile_ci_finite_under_separation(read_r: Callable[[str], pd.DataFrame]) -> None:
    sep = read_r("separated.csv")
    X, y = sep[["a", "b"]].to_numpy(), sep["y"].to_numpy().astype(float)
    fit = fit_logistic(X, y, firth=True)
    ci = profile_ci(fit, X, y, which=[1])[0]
    assert np.isfinite(ci[0]) and ci[0] < fit.coef[1] < ci[1]


def test_firth_profile_bound_is_a_penalised_likelihood_drop(cohort: pd.DataFrame) -> None:
    from scipy import stats

    from crsscore.modeling._newton import firth_newton

    X, y = cohort[["x1", "x2"]].to_numpy(), cohort["y"].to_numpy().astype(float)
    fit = fit_logistic(X, y, firth=True)
    lo, hi = profile_ci(fit, X, y, which=[2])[0]
    D = np.column_stack([np.ones(125), X])
    for bound in (lo, hi):
        start = fit.coef.copy()
        start[2] = bound
        beta, conv, _ = firth_newton(D, y, np.ones(125), start, fixed=np.array([False, False, True]))
        assert conv
        drop = fit.loglik_penalised - penalised_loglik(D, y, np.ones(125), beta)
        assert drop == pytest.approx(stats.chi2.ppf(0.95, 1) / 2, abs=1e-6)
    assert lo < fit.coef[2] < hi
