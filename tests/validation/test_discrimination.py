"""Tests of crsscore.validation.discrimination.

R reference: tests/fixtures/proc/reference.csv, made by tests/fixtures/proc/make_fixtures.R
(`cd tests/fixtures/proc && Rscript make_fixtures.R`, R 4.2.2, pROC 1.18.0) on the stored
validation_data.csv: `ci.auc(roc, method = "delong")`, `var(roc)`, `cov(r1, r2)` and
`roc.test(r1, r2, method = "delong", paired = TRUE)`, all with `direction = "<"`.
"""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score
from sklearn.metrics import roc_curve as sk_roc_curve

from crsscore.errors import DataError
from crsscore.validation.discrimination import (
    AUCResult,
    as_outcome,
    auc,
    delong_covariance,
    delong_test,
    roc_curve,
)

matplotlib.use("Agg")


def _brute_auc(y: np.ndarray, s: np.ndarray) -> float:
    pos, neg = s[y == 1], s[y == 0]
    diff = pos[:, None] - neg[None, :]
    return float(((diff > 0) + 0.5 * (diff == 0)).mean())


def _brute_delong_cov(y: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """DeLong et al. (1988) structural components computed pairwise, O(m n)."""
    k = scores.shape[0]
    m, n = int(y.sum()), int((1 - y).sum())
    v10 = np.empty((k, m))
    v01 = np.empty((k, n))
    for j in range(k):
        pos, neg = scores[j, y == 1], scores[j, y == 0]
        psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
        v10[j] = psi.mean(axis=1)
        v01[j] = psi.mean(axis=0)
    return np.atleast_2d(np.cov(v10)) / m + np.atleast_2d(np.cov(v01)) / n


@pytest.mark.parametrize("col", ["score1", "score2"])
def test_delong_ci_equals_proc(data: pd.DataFrame, ref: dict[tuple[str, str], float], col: str) -> None:
    r = auc(data["y"], data[col])
    assert r.auc == pytest.approx(ref[(col, "auc")], abs=1e-12)
    assert r.ci_low == pytest.approx(ref[(col, "ci_low")], abs=1e-12)
    assert r.ci_high == pytest.approx(ref[(col, "ci_high")], abs=1e-12)
    assert r.se**2 == pytest.approx(ref[(col, "var")], rel=1e-10)
    r90 = auc(data["y"], data[col], level=0.90)
    assert r90.ci == pytest.approx((ref[(col, "ci90_low")], ref[(col, "ci90_high")]), abs=1e-12)
    assert (r.n, r.events, r.method) == (240, int(data["y"].sum()), "delong")


def test_paired_delong_equals_proc(data: pd.DataFrame, ref: dict[tuple[str, str], float]) -> None:
    t = delong_test(data["y"], data["score1"], data["score2"])
    assert t.z == pytest.approx(ref[("roc_test", "z")], rel=1e-10)
    assert t.p == pytest.approx(ref[("roc_test", "p")], rel=1e-10)
    assert t.auc1 == pytest.approx(ref[("roc_test", "auc1")], abs=1e-12)
    assert t.auc2 == pytest.approx(ref[("roc_test", "auc2")], abs=1e-12)
    assert t.ci == pytest.approx((ref[("roc_test", "ci_low")], ref[("roc_test", "ci_high")]), abs=1e-12)
    _, cov = delong_covariance(data["y"], np.vstack([data["score1"], data["score2"]]))
    assert cov[0, 1] == pytest.approx(ref[("roc_test", "cov")], rel=1e-10)
    assert t.diff == pytest.approx(t.auc1 - t.auc2)
    # swapping the scores flips the sign and keeps p
    t2 = delong_test(data["y"], data["score2"], data["score1"])
    assert t2.z == pytest.approx(-t.z) and t2.p == pytest.approx(t.p)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(min_value=0, max_value=10_000),
    st.integers(min_value=4, max_value=60),
    st.integers(min_value=2, max_value=12),
)
def test_auc_and_delong_against_brute_force_and_sklearn(seed: int, n: int, levels: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    y[:4] = [0, 1, 0, 1]  # DeLong needs two of each class for a variance
    scores = rng.integers(0, levels, size=(2, n)).astype(float)  # many ties
    scores[1] += rng.normal(scale=0.5, size=n) * (seed % 2)
    aucs, cov = delong_covariance(y, scores)
    for j in range(2):
        assert aucs[j] == pytest.approx(_brute_auc(y, scores[j]), abs=1e-12)
        assert aucs[j] == pytest.approx(roc_auc_score(y, scores[j]), abs=1e-12)
        assert auc(y, scores[j]).auc == pytest.approx(aucs[j], abs=1e-12)
    np.testing.assert_allclose(cov, _brute_delong_cov(y, scores), atol=1e-14)


def test_roc_curve_points_equal_sklearn(data: pd.DataFrame) -> None:
    rc = roc_curve(data["y"], data["score2"])
    fpr, tpr, _ = sk_roc_curve(data["y"], data["score2"], drop_intermediate=False)
    np.testing.assert_allclose(rc.fpr, fpr)
    np.testing.assert_allclose(rc.tpr, tpr)
    assert rc.auc == pytest.approx(auc(data["y"], data["score2"]).auc)
    assert list(rc.to_frame().columns)[:3] == ["threshold", "fpr", "tpr"]
    ax = rc.plot()
    assert ax.get_xlabel() == "1 - specificity"


def test_bootstrap_ci_is_seeded_stratified_and_close_to_delong(data: pd.DataFrame) -> None:
    a = auc(data["y"], data["score1"], ci="bootstrap", B=400, seed=7)
    b = auc(data["y"], data["score1"], ci="bootstrap", B=400, seed=7)
    c = auc(data["y"], data["score1"], ci="bootstrap", B=400, seed=8)
    d = auc(data["y"], data["score1"])
    assert a == b and a.ci != c.ci
    assert (a.method, a.B, a.seed) == ("bootstrap", 400, 7)
    assert a.ci_low < a.auc < a.ci_high
    assert a.se == pytest.approx(d.se, rel=0.2)
    assert a.ci_low == pytest.approx(d.ci_low, abs=0.02)
    assert a.ci_high == pytest.approx(d.ci_high, abs=0.02)


def test_perfect_and_inverted_scores() -> None:
    y = np.array([0, 0, 0, 1, 1])
    r = auc(y, [1, 2, 3, 4, 5])
    assert (r.auc, r.se, r.ci_high) == (1.0, 0.0, 1.0)
    assert auc(y, [5, 4, 3, 2, 1]).auc == 0.0  # not flipped: higher score = higher risk
    t = delong_test(y, [1, 2, 3, 4, 5], [1, 2, 3, 4, 5])
    assert (t.diff, t.z, t.p) == (0.0, 0.0, 1.0)


def test_results_render(data: pd.DataFrame) -> None:
    r = auc(data["y"], data["score1"])
    assert isinstance(r, AUCResult)
    frame = r.to_frame()
    assert list(frame.columns) == ["estimate", "se", "lower 95%", "upper 95%", "n", "events", "method"]
    assert "n=240" in r.summary() and "delong" in r.summary()
    assert r.to_dict()["auc"] == r.auc
    t = delong_test(data["y"], data["score1"], data["score2"])
    assert "paired DeLong" in t.summary()
    assert t.to_frame().loc["paired DeLong", "p"] == t.p
    with pytest.raises(AttributeError):
        r.auc = 0.5  # type: ignore[misc]


def test_errors() -> None:
    y = np.array([0, 1, 0, 1])
    with pytest.raises(DataError, match="outcome must be 0/1"):
        auc([0, 2, 1, 0], [1, 2, 3, 4])
    with pytest.raises(DataError, match="at least one event and one non-event"):
        auc([0, 0, 0], [1, 2, 3])
    with pytest.raises(DataError, match="has 3 value"):
        auc(y, [1, 2, 3])
    with pytest.raises(DataError, match="missing or infinite"):
        auc(y, [1, np.nan, 3, 4])
    with pytest.raises(DataError, match="not numeric"):
        auc(y, ["a", "b", "c", "d"])
    with pytest.raises(DataError, match="outcome is not numeric"):
        as_outcome(np.array(["x", "y"]))
    with pytest.raises(DataError, match="one-dimensional"):
        as_outcome(np.zeros((2, 2)))
    with pytest.raises(DataError, match="is empty"):
        as_outcome([])
    with pytest.raises(ValueError, match="'level' parameter of auc"):
        auc(y, [1, 2, 3, 4], level=1.5)
    with pytest.raises(ValueError, match="'ci' parameter of auc"):
        auc(y, [1, 2, 3, 4], ci="wald")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'B' parameter of auc"):
        auc(y, [1, 2, 3, 4], ci="bootstrap", B=5)
    with pytest.raises(DataError, match="score2"):
        delong_test(y, [1, 2, 3, 4], [1, 2, 3])
    assert as_outcome(np.array([True, False])).tolist() == [1, 0]


def test_single_event_gives_nan_variance() -> None:
    r = auc([0, 0, 0, 1], [1, 2, 3, 4])
    assert r.auc == 1.0 and np.isnan(r.se) and np.isnan(r.ci_low) and np.isnan(r.ci_high)
    t = delong_test([0, 0, 0, 1], [1, 2, 3, 4], [4, 3, 2, 1])
    assert t.diff == 1.0 and np.isnan(t.p)


def test_missing_outcomes_are_named() -> None:
    with pytest.raises(DataError, match=r"y row 1: missing outcome \(1 in all\)"):
        auc([0, np.nan, 1, 1], [1, 2, 3, 4])
    with pytest.raises(DataError, match="missing outcome"):
        auc(pd.Series([True, pd.NA, False, True], dtype="boolean"), [1, 2, 3, 4])
    assert auc(pd.Series([True, False, False, True], dtype="boolean"), [4, 1, 2, 3]).auc == 1.0


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000))
def test_auc_and_ci_invariant_to_monotone_transform(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 40)
    y[:4] = [0, 1, 0, 1]
    s = rng.normal(size=40).round(1)
    a, b = auc(y, s), auc(y, np.exp(2 * s) + 3)
    assert (a.auc, a.ci_low, a.ci_high) == pytest.approx((b.auc, b.ci_low, b.ci_high), abs=1e-12)
    flipped = auc(y, -s)
    assert flipped.auc == pytest.approx(1 - a.auc) and flipped.se == pytest.approx(a.se)


def test_docstring_examples() -> None:
    import doctest

    from crsscore.validation import discrimination

    assert doctest.testmod(discrimination).failed == 0
