"""The batched kernels (crsscore.modeling._batched) against their one-at-a-time references."""

from __future__ import annotations

import numpy as np
import pytest

from crsscore.errors import ModelError
from crsscore.modeling._batched import _spd_sweep, check_stacked, logistic_parts
from crsscore.modeling.logistic import check_inputs
from crsscore.modeling.selection import _pooled_wald_1df, pooled_wald


@pytest.mark.parametrize("K", [40, 200])  # LAPACK per matrix below 128, the sweep above
def test_spd_sweep_equals_inv_and_slogdet(K: int) -> None:
    rng = np.random.default_rng(1)
    X = rng.standard_normal((K, 60, 6)) * rng.uniform(0.01, 100, size=(K, 1, 6))
    A = np.matmul(np.swapaxes(X, 1, 2), X)
    inv, logdet, pd_ = _spd_sweep(A)
    assert pd_.all()
    ref = np.linalg.inv(A)
    assert np.max(np.abs(inv - ref) / np.max(np.abs(ref), axis=(1, 2))[:, None, None]) < 1e-12
    np.testing.assert_allclose(logdet, np.linalg.slogdet(A)[1], rtol=0, atol=1e-10)
    assert not _spd_sweep(-A)[2].any()  # none of the negated matrices is positive definite


def test_logistic_parts_equal_expit_and_softplus() -> None:
    from scipy.special import expit

    eta = np.linspace(-800, 800, 4001)
    p, sp = logistic_parts(eta)
    np.testing.assert_allclose(p, expit(eta), rtol=1e-15, atol=1e-300)
    np.testing.assert_allclose(sp, np.logaddexp(0.0, eta), rtol=1e-15, atol=1e-300)


def test_check_stacked_gives_the_designs_and_errors_of_check_inputs() -> None:
    rng = np.random.default_rng(2)
    y = (rng.random(50) < 0.3).astype(float)
    X = rng.standard_normal((4, 50, 3))
    D = check_stacked(X, y, ["a", "b", "c"])
    for k in range(4):
        np.testing.assert_array_equal(D[k], check_inputs(X[k], y, names=["a", "b", "c"])[0])
    bad = X.copy()
    bad[2, :, 1] = 3.0  # constant in one design
    with pytest.raises(ModelError, match=r"constant column\(s\).*: b"):
        check_stacked(bad, y, ["a", "b", "c"])
    col = X.copy()
    col[1, :, 2] = 2.0 * col[1, :, 0] - 1.0  # collinear in one design
    with pytest.raises(ModelError) as got:
        check_stacked(col, y, ["a", "b", "c"])
    with pytest.raises(ModelError) as want:
        check_inputs(col[1], y, names=["a", "b", "c"])
    assert str(got.value) == str(want.value)


def test_pooled_wald_1df_equals_pooled_wald() -> None:
    rng = np.random.default_rng(3)
    for m in (2, 5, 7):
        Q = rng.standard_normal((m, 6))
        U = rng.uniform(0.1, 2.0, size=(m, 6))
        U[:, 0] = 1.0
        Q[:, 0] = 0.4  # no between-imputation variance: the chi-square branch
        chi2, p = _pooled_wald_1df(Q, U)
        for j in range(6):
            _, pj, cj = pooled_wald(Q[:, [j]], U[:, [j], None])
            assert chi2[j] == pytest.approx(cj, rel=1e-13)
            assert p[j] == pytest.approx(pj, rel=1e-12, abs=1e-300)


@pytest.mark.parametrize("K", [3, 200])  # LAPACK per matrix below 128, the sweep above
def test_spd_sweep_flags_matrices_that_are_not_positive_definite(K: int) -> None:
    rng = np.random.default_rng(4)
    X = rng.standard_normal((K, 30, 5))
    A = np.matmul(np.swapaxes(X, 1, 2), X)
    A[1] = -A[1]
    A[2, 4, :] = A[2, 3, :]
    A[2, :, 4] = A[2, :, 3]  # singular
    inv, logdet, pd = _spd_sweep(A)
    assert not pd[1] and not pd[2] and pd[0] and pd[3:].all()
    good = np.flatnonzero(pd)
    np.testing.assert_allclose(inv[good], np.linalg.inv(A[good]), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(logdet[good], np.linalg.slogdet(A[good])[1], atol=1e-10)


def test_expit_exp_and_softplus_sums() -> None:
    from scipy.special import expit

    from crsscore._numeric import expit_exp
    from crsscore.modeling._batched import _sum_softplus

    rng = np.random.default_rng(5)
    for n in (7, 512, 1300):  # one product, and blocks of 512
        eta = rng.normal(scale=8.0, size=(3, n))
        eta[0, :3] = [-800.0, 0.0, 800.0]
        p, e = expit_exp(eta)
        np.testing.assert_allclose(p, expit(eta), rtol=1e-15, atol=1e-300)
        np.testing.assert_allclose(e, np.exp(-np.abs(eta)), rtol=1e-15, atol=0)
        want = np.sum(np.logaddexp(0.0, eta), axis=1)
        np.testing.assert_allclose(_sum_softplus(eta, e, None), want, rtol=1e-13)
        w = rng.integers(0, 4, size=n).astype(float)
        np.testing.assert_allclose(_sum_softplus(eta, e, w),
                                   np.sum(w * np.logaddexp(0.0, eta), axis=1), rtol=1e-13)


def test_stacked_firth_of_a_large_batch_equals_single_fits() -> None:
    from crsscore.modeling._batched import firth_fit_stacked
    from crsscore.modeling.logistic import fit_logistic

    rng = np.random.default_rng(6)
    K, n = 140, 60  # the sweep path (K >= 128); fits converge after different iterations
    X = rng.normal(size=(K, n, 3)) * np.array([1.0, 50.0, 0.02])
    y = (rng.random(n) < 0.25).astype(np.float64)
    X[7, :, 0] = np.where(y == 1, 1.0, -1.0) + rng.normal(scale=0.01, size=n)  # near separation
    D = np.concatenate([np.ones((K, n, 1)), X], axis=2)
    st = firth_fit_stacked(D, y)
    for k in (0, 7, 70, 139):
        ref = fit_logistic(X[k], y, firth=True)
        np.testing.assert_allclose(st.coef[k], ref.coef, rtol=0, atol=1e-10)
        np.testing.assert_allclose(st.cov[k], ref.cov, rtol=1e-10,
                                   atol=1e-10 * np.abs(ref.cov).max())
        assert st.loglik_penalised[k] == pytest.approx(ref.loglik_penalised, abs=1e-10)
        assert int(st.n_iter[k]) == ref.n_iter and bool(st.converged[k]) == ref.converged
    w = rng.integers(0, 3, size=n).astype(np.float64)
    sw = firth_fit_stacked(D[:5], y, w)
    for k in range(5):
        ref = fit_logistic(X[k], y, weights=w, firth=True)
        np.testing.assert_allclose(sw.coef[k], ref.coef, rtol=0, atol=1e-10)
