"""The shared numeric kernels (crsscore._numeric): the logistic function and the one AUC,
against scipy, sklearn ``roc_auc_score`` and a brute-force pairwise count."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from crsscore._numeric import auc_tallies, dense_codes, expit, rank_auc, weighted_auc


def test_expit_is_exact_at_the_extremes() -> None:
    x = np.array([-800.0, -40.0, 0.0, 1.5, 40.0, 800.0])
    got = expit(x)
    assert np.all(np.isfinite(got)) and got[0] == 0.0 and got[-1] == 1.0 and got[2] == 0.5
    np.testing.assert_allclose(got[1:5], 1.0 / (1.0 + np.exp(-x[1:5])), rtol=1e-15)


def test_auc_matches_pairwise_count() -> None:
    rng = np.random.default_rng(4)
    s = rng.integers(0, 5, 60).astype(float)  # many ties
    y = (rng.random(60) < 0.4).astype(float)
    w = rng.integers(1, 4, 60).astype(float)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    num = sum(w[i] * w[j] * ((s[i] > s[j]) + 0.5 * (s[i] == s[j])) for i in pos for j in neg)
    assert rank_auc(y, s, w) == pytest.approx(num / (w[pos].sum() * w[neg].sum()))
    assert np.isnan(rank_auc(np.zeros(60), s))


def test_weighted_auc_matches_sklearn_with_ties() -> None:
    rng = np.random.default_rng(0)
    score = rng.integers(0, 5, 400).astype(float)
    y = rng.random(400) < 0.3 + 0.1 * score
    got = weighted_auc(dense_codes(score), y.astype(float), (~y).astype(float))
    assert got == pytest.approx(roc_auc_score(y, score), abs=1e-12)


def test_rank_auc_equals_sklearn_and_the_midrank_formula() -> None:
    rng = np.random.default_rng(7)
    for n in (5, 40, 500):
        s = np.round(rng.normal(size=n), 1)
        y = (rng.random(n) < 0.35).astype(float)
        y[:2] = [0.0, 1.0]
        assert rank_auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-13)
        m = int(y.sum())
        ranks = stats.rankdata(np.r_[s[y == 1], s[y == 0]])
        mw = (ranks[:m].sum() - m * (m + 1) / 2) / (m * (n - m))
        assert rank_auc(y, s) == pytest.approx(mw, abs=1e-13)


def test_auc_tallies_rows_are_independent_resamples() -> None:
    rng = np.random.default_rng(3)
    s = rng.integers(0, 6, 80).astype(float)
    y = (rng.random(80) < 0.4).astype(float)
    codes = dense_codes(s)
    k = int(codes.max()) + 1
    idx = rng.integers(0, 80, size=(4, 80))
    ev = np.stack([np.bincount(codes[r], weights=y[r], minlength=k) for r in idx])
    ne = np.stack([np.bincount(codes[r], weights=1.0 - y[r], minlength=k) for r in idx])
    got = auc_tallies(ev, ne)
    want = [roc_auc_score(y[r], s[r]) for r in idx]
    np.testing.assert_allclose(got, want, atol=1e-13)
    assert np.isnan(auc_tallies(np.zeros(3), np.ones(3)))


def test_row_dot_does_not_depend_on_the_other_rows() -> None:
    """Each row's linear predictor is the same bits alone, in a block, in any row order and
    in either memory order (BLAS's x @ b is not: its last digit follows the row's place)."""
    from crsscore._numeric import row_dot

    rng = np.random.default_rng(7)
    for _ in range(50):
        n, k = int(rng.integers(1, 400)), int(rng.integers(1, 30))
        x = rng.normal(size=(n, k)) * 10.0 ** rng.integers(-3, 4, size=k)
        b = rng.normal(size=k)
        out = row_dot(x, b)
        np.testing.assert_allclose(out, x @ b, rtol=1e-12, atol=1e-12 * np.abs(x).max())
        perm = rng.permutation(n)
        np.testing.assert_array_equal(row_dot(x[perm], b), out[perm])
        np.testing.assert_array_equal(row_dot(np.asfortranarray(x), b), out)
        i = int(rng.integers(0, n))
        assert row_dot(x[i:i + 1], b)[0] == out[i]
