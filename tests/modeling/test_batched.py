"""The batched kernels (crsscore.modeling._batched) against their one-at-a-time references."""

from __future__ import annotations

import numpy as np
import pytest

from crsscore.errors import ModelError
from crsscore.modeling._batched import check_stacked, logistic_parts, spd_inverse
from crsscore.modeling.logistic import check_inputs
from crsscore.modeling.selection import _pooled_wald_1df, pooled_wald


def test_spd_inverse_equals_inv_and_slogdet() -> None:
    rng = np.random.default_rng(1)
    X = rng.standard_normal((40, 60, 6)) * rng.uniform(0.01, 100, size=(40, 1, 6))
    A = np.matmul(np.swapaxes(X, 1, 2), X)
    inv, logdet = spd_inverse(A)
    ref = np.linalg.inv(A)
    assert np.max(np.abs(inv - ref) / np.max(np.abs(ref), axis=(1, 2))[:, None, None]) < 1e-12
    np.testing.assert_allclose(logdet, np.linalg.slogdet(A)[1], rtol=0, atol=1e-10)
    with pytest.raises(np.linalg.LinAlgError):
        spd_inverse(-A)


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
