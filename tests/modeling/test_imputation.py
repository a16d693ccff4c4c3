"""Tests of crsscore.modeling.imputation (MICE and Rubin's rules)."""

from __future__ import annotations

import numpy as np
import pytest

from crsscore.errors import ModelError
from crsscore.modeling.imputation import fit_prediction_imputer, impute_chained, rubin_pool


def test_rubin_pool_matches_formulas() -> None:
    rng = np.random.default_rng(0)
    m, p = 7, 3
    Q = rng.normal(size=(m, p))
    A = rng.normal(size=(m, p, p))
    U = np.einsum("mij,mkj->mik", A, A) + np.eye(p)
    r = rubin_pool(Q, U)
    W = U.mean(axis=0)
    B = np.cov(Q.T, ddof=1)
    T = W + (1 + 1 / m) * B
    np.testing.assert_allclose(r.coef, Q.mean(axis=0))
    np.testing.assert_allclose(r.cov, T)
    riv = (1 + 1 / m) * np.diag(B) / np.diag(W)
    np.testing.assert_allclose(r.df, (m - 1) * (1 + 1 / riv) ** 2)
    assert np.all((r.fmi > 0) & (r.fmi < 1))


def test_impute_chained_fills_only_missing_and_is_seeded() -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 3))
    X[:, 1] += X[:, 0]
    Xm = X.copy()
    Xm[rng.random(60) < 0.2, 1] = np.nan
    a = impute_chained(Xm, m=3, seed=5)
    b = impute_chained(Xm, m=3, seed=5)
    assert len(a) == 3
    miss = np.isnan(Xm)
    for Xa, Xb in zip(a, b, strict=True):
        assert not np.isnan(Xa).any()
        np.testing.assert_array_equal(Xa[~miss], Xm[~miss])
        np.testing.assert_array_equal(Xa, Xb)
    assert not np.array_equal(a[0][miss], a[1][miss])  # draws differ between imputations


def test_impute_chained_no_missing_returns_one_copy() -> None:
    X = np.arange(12.0).reshape(4, 3)
    out = impute_chained(X, m=5)
    assert len(out) == 1
    np.testing.assert_array_equal(out[0], X)


def test_impute_chained_all_missing_column_is_refused() -> None:
    X = np.ones((5, 2))
    X[:, 1] = np.nan
    X[0, 0] = np.nan
    with pytest.raises(ModelError, match="no observed value"):
        impute_chained(X)


def test_prediction_imputer_completes_new_rows() -> None:
    rng = np.random.default_rng(2)
    X = rng.normal(size=(50, 2))
    X[::7, 0] = np.nan
    imp = fit_prediction_imputer(X, seed=0)
    new = np.array([[np.nan, 0.5], [1.0, 2.0]])
    out = imp.transform(new)
    assert not np.isnan(out).any()
    np.testing.assert_array_equal(out[1], new[1])


def test_norm_engine_recovers_the_regression_and_keeps_uncertainty() -> None:
    rng = np.random.default_rng(4)
    n = 2000
    x1 = rng.normal(size=n)
    x2 = 1.0 + 2.0 * x1 + rng.normal(scale=0.5, size=n)
    X = np.column_stack([x1, x2])
    Xm = X.copy()
    miss = rng.random(n) < 0.3  # MCAR
    Xm[miss, 1] = np.nan
    draws = impute_chained(Xm, m=5, seed=1)
    for D in draws:
        b = np.polyfit(D[:, 0], D[:, 1], 1)
        assert b[0] == pytest.approx(2.0, abs=0.1)
        assert b[1] == pytest.approx(1.0, abs=0.1)
        resid = D[miss, 1] - (1.0 + 2.0 * D[miss, 0])
        assert np.std(resid) == pytest.approx(0.5, rel=0.15)  # draws, not conditional means
    spread = np.std([D[miss, 1].mean() for D in draws])
    assert spread > 0


def test_engines_agree_on_the_imputed_mean() -> None:
    rng = np.random.default_rng(5)
    n = 400
    x1 = rng.normal(size=n)
    x2 = 3.0 - x1 + rng.normal(scale=0.3, size=n)
    Xm = np.column_stack([x1, x2])
    miss = rng.random(n) < 0.25
    Xm[miss, 1] = np.nan
    a = np.mean([D[miss, 1].mean() for D in impute_chained(Xm, m=10, seed=0, engine="norm")])
    b = np.mean([D[miss, 1].mean() for D in impute_chained(Xm, m=10, seed=0, engine="sklearn")])
    truth = (3.0 - x1[miss]).mean()
    assert a == pytest.approx(truth, abs=0.05)
    assert b == pytest.approx(truth, abs=0.05)
    with pytest.raises(ModelError, match="engine"):
        impute_chained(Xm, engine="mice")


def test_prediction_imputer_uses_conditional_means() -> None:
    rng = np.random.default_rng(6)
    x1 = rng.normal(size=300)
    X = np.column_stack([x1, 5.0 + 0.5 * x1])  # exact linear relation
    X[::5, 1] = np.nan
    imp = fit_prediction_imputer(X, seed=0)
    out = imp.transform(np.array([[2.0, np.nan], [np.nan, 6.0]]))
    assert out[0, 1] == pytest.approx(6.0, abs=1e-3)
    assert out[1, 0] == pytest.approx(2.0, abs=1e-2)


def test_batched_chains_with_different_missingness_equal_single_chains() -> None:
    # the bootstrap stacks chains of different resamples: each draws from its own generator
    # only for the columns it imputes, in _norm_draw's order, whatever the other chains miss
    from crsscore.modeling.imputation import _norm_draw, _norm_draw_batch

    rng = np.random.default_rng(7)
    K, n, p = 6, 40, 4
    X = rng.normal(size=(K, n, p)) @ rng.normal(size=(p, p)) * np.array([1.0, 30.0, 0.2, 5.0])
    miss = rng.random((K, n, p)) < np.array([0.0, 0.15, 0.3, 0.1])
    miss[1, :, 1] = False  # chain 1 does not impute column 1 (the others do)
    miss[2] = False  # chain 2 imputes nothing
    miss[3, :, 3] = False
    miss[3, :5, 3] = True  # chain 3: few missing values in column 3
    seeds = [11, 12, 11, 13, 14, 11]  # chains may share a seed (resamples of one bootstrap)
    out = _norm_draw_batch(np.where(miss, np.nan, X), miss, seeds, 4)
    for k in range(K):
        ref = _norm_draw(np.where(miss[k], np.nan, X[k]), miss[k], np.random.default_rng(seeds[k]), 4)
        np.testing.assert_allclose(out[k], ref, rtol=0, atol=1e-12 * np.abs(X).max())
        np.testing.assert_array_equal(out[k][~miss[k]], X[k][~miss[k]])


def test_prediction_imputer_runs_every_cycle_over_rows_missing_several_values() -> None:
    # transform updates only the rows missing more than one value after the first cycle;
    # the result must equal max_iter plain chained cycles over every incomplete row
    rng = np.random.default_rng(8)
    X = rng.normal(size=(80, 4)) @ rng.normal(size=(4, 4)) + np.array([0.0, 5.0, -2.0, 40.0])
    X[rng.random(X.shape) < 0.25] = np.nan
    X[3, 2:] = np.nan
    imp = fit_prediction_imputer(X, seed=1, max_iter=6)
    new = rng.normal(size=(30, 4)) + np.array([0.0, 5.0, -2.0, 40.0])
    new[rng.random(new.shape) < 0.4] = np.nan
    new[0] = np.nan  # a row missing everything
    miss = np.isnan(new)
    assert (miss.sum(axis=1) == 1).any() and (miss.sum(axis=1) > 2).any()
    ref = np.where(miss, imp.means, new)
    for _ in range(6):
        for j in range(4):
            b = imp.betas[j]
            fit = b[0] + np.delete(ref, j, axis=1) @ b[1:]
            ref[:, j] = np.where(miss[:, j], fit, ref[:, j])
    out = imp.transform(new)
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(out[~miss], new[~miss])
    np.testing.assert_array_equal(imp.transform(new[:0]), new[:0])
