"""fit_logistic / fit_logistic_batch against statsmodels Logit and stored R glm output."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from hypothesis import given, settings
from hypothesis import strategies as st

from crsscore.errors import ModelError, SeparationWarning
from crsscore.modeling._batched import fit_logistic_batch
from crsscore.modeling.logistic import fit_logistic

XCOLS = [f"x{i}" for i in range(1, 8)]


def test_matches_r_glm(cohort: pd.DataFrame, read_r: Callable[[str], pd.DataFrame]) -> None:
    ref = read_r("glm_full.csv")
    fit = fit_logistic(cohort[XCOLS], cohort["y"])
    np.testing.assert_allclose(fit.coef, ref["coef"], atol=1e-6)
    np.testing.assert_allclose(fit.se, ref["se"], atol=1e-6)
    assert fit.loglik == pytest.approx(ref["loglik"].iloc[0], abs=1e-6)
    assert fit.names == ("Intercept", *XCOLS)
    assert fit.converged and fit.method == "ml" and fit.n == 125 and fit.events == 24


def test_matches_statsmodels_summary(cohort: pd.DataFrame) -> None:
    X, y = cohort[XCOLS].to_numpy(), cohort["y"].to_numpy()
    sm_fit = sm.Logit(y, sm.add_constant(X)).fit(disp=0, method="newton", tol=1e-12)
    fit = fit_logistic(X, y)
    np.testing.assert_allclose(fit.coef, sm_fit.params, atol=1e-8)
    np.testing.assert_allclose(fit.se, sm_fit.bse, atol=1e-8)
    np.testing.assert_allclose(fit.cov, sm_fit.cov_params(), atol=1e-8)
    assert fit.loglik == pytest.approx(sm_fit.llf, abs=1e-8)
    assert fit.loglik_null == pytest.approx(sm_fit.llnull, abs=1e-8)
    assert fit.aic == pytest.approx(sm_fit.aic, abs=1e-8)
    s = fit.summary()
    np.testing.assert_allclose(s["p"], sm_fit.pvalues, rtol=1e-6)
    ci = np.exp(sm_fit.conf_int())
    np.testing.assert_allclose(s["OR lower 95%"], ci[:, 0], rtol=1e-7)
    np.testing.assert_allclose(s["OR upper 95%"], ci[:, 1], rtol=1e-7)
    np.testing.assert_allclose(fit.predict_proba(X), sm_fit.predict(sm.add_constant(X)), atol=1e-10)
    np.testing.assert_allclose(fit.predict_lp(X[:1]), sm_fit.fittedvalues[:1], atol=1e-10)


def test_frequency_weights_equal_expanded_rows(cohort: pd.DataFrame) -> None:
    X, y = cohort[XCOLS].to_numpy(), cohort["y"].to_numpy()
    w = np.random.default_rng(3).multinomial(125, np.full(125, 1 / 125))
    rows = np.repeat(np.arange(125), w)
    a = fit_logistic(X, y, weights=w)
    b = fit_logistic(X[rows], y[rows])
    np.testing.assert_allclose(a.coef, b.coef, atol=1e-9)
    np.testing.assert_allclose(a.se, b.se, atol=1e-9)
    assert a.loglik == pytest.approx(b.loglik, abs=1e-8)
    assert a.n == 125


def test_no_intercept_matches_statsmodels(cohort: pd.DataFrame) -> None:
    X, y = cohort[["x1", "x2"]].to_numpy(), cohort["y"].to_numpy()
    sm_fit = sm.Logit(y, X).fit(disp=0, method="newton", tol=1e-12)
    fit = fit_logistic(X, y, intercept=False)
    np.testing.assert_allclose(fit.coef, sm_fit.params, atol=1e-8)
    assert fit.names == ("x1", "x2")


def test_separation_warns_with_message(read_r: Callable[[str], pd.DataFrame]) -> None:
    sep = read_r("separated.csv")
    with pytest.warns(SeparationWarning, match="separation: .* fitted probability 0 or 1.*firth=True"):
        fit = fit_logistic(sep[["a", "b"]], sep["y"])
    assert fit.separation


def test_converged_fit_with_extreme_row_is_not_separation(read_r: Callable[[str], pd.DataFrame]) -> None:
    # issue 13.4: one row at x = -25 (y = 0) has fitted probability 2.3e-7 (R glm) and, in
    # bootstrap resamples, far below 1e-8; the data overlap, the MLE exists and R converges.
    d, ref = read_r("x25.csv"), read_r("glm_x25.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = fit_logistic(d[["x"]], d["y"])
    assert fit.converged and not fit.separation
    np.testing.assert_allclose(fit.coef, ref["coef"], atol=1e-6)
    np.testing.assert_allclose(fit.se, ref["se"], atol=1e-6)
    assert fit.loglik == pytest.approx(ref["loglik"].iloc[0], abs=1e-8)
    assert fit.predict_proba(np.array([[-25.0]]))[0] == pytest.approx(ref["min_fitted"].iloc[0], rel=1e-5)
    # a resample-like weighting (extreme row three times, no events below x = 0) makes the
    # slope steeper and p(x = -25) < 1e-8: still a converged fit, not separation
    w = np.ones(len(d))
    w[-1] = 3.0
    w[np.flatnonzero((d["y"] == 1) & (d["x"] < 0))] = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        heavy = fit_logistic(d[["x"]], d["y"], weights=w)
    assert heavy.converged and not heavy.separation and heavy.predict_proba(np.array([[-25.0]]))[0] < 1e-8
    batch = fit_logistic_batch(d[["x"]].to_numpy(), np.vstack([np.ones(len(d)), w]), d["y"].to_numpy())
    assert batch.converged.all()
    np.testing.assert_allclose(batch.coef[0], fit.coef, atol=1e-7)
    np.testing.assert_allclose(batch.coef[1], heavy.coef, atol=1e-7)


def test_quasi_complete_separation_warns_and_names_the_variable(cohort: pd.DataFrame) -> None:
    # z = 1 only among events: quasi-complete separation (the z = 0 rows overlap), the z
    # coefficient diverges while x1 stays finite; the same fit with weight 0 on z = 1 rows
    # but one non-event overlaps and is fine.
    y = cohort["y"].to_numpy().astype(float)
    z = np.zeros(125)
    z[np.flatnonzero(y == 1)[:4]] = 1.0
    X = pd.DataFrame({"x1": cohort["x1"], "z": z})
    with pytest.warns(SeparationWarning, match=r"separation: 4 row\(s\) .* estimates for z diverge"):
        fit = fit_logistic(X, y)
    assert fit.separation
    z[np.flatnonzero(y == 0)[0]] = 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not fit_logistic(X.assign(z=z), y).separation
    batch = fit_logistic_batch(X.to_numpy(), np.ones((2, 125)), y)
    assert not batch.converged.any()


def test_separation_check_ignores_unused_rows() -> None:
    x = np.linspace(-2.0, 2.0, 30)
    y = (x > 0).astype(float)
    y[[3, 25]] = 1.0 - y[[3, 25]]  # two rows make the classes overlap
    w = np.ones(30)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not fit_logistic(x, y, weights=w).separation
    w[[3, 25]] = 0.0
    with pytest.warns(SeparationWarning):
        assert fit_logistic(x, y, weights=w).separation
    with pytest.warns(SeparationWarning):
        assert fit_logistic(np.abs(x) * np.sign(y - 0.5), y, intercept=False).separation


def test_no_warning_on_regular_data(cohort: pd.DataFrame) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not fit_logistic(cohort[XCOLS], cohort["y"]).separation


@pytest.mark.parametrize(
    ("frame", "y", "match"),
    [
        (pd.DataFrame({"a": [1.0, 2, 3, 4], "c": [5.0, 5, 5, 5]}), [0, 1, 0, 1], "constant column.*: c"),
        (pd.DataFrame({"a": [1.0, 2, 3, 4, 5], "b": [2.0, 4, 6, 8, 10]}), [0, 1, 0, 1, 1], "collinear.*b"),
        (pd.DataFrame({"a": [1.0, 2, 3, 4], "b": [1.0, 0, 2, 1]}), [0, 0, 0, 0], "zero events"),
        (pd.DataFrame({"a": [1.0, 2, 3, 4]}), [1, 1, 1, 1], "zero non-events"),
        (pd.DataFrame({"a": [1.0, np.nan, 3, 4]}), [0, 1, 0, 1], "non-finite values in column.*: a"),
        (pd.DataFrame({"a": [1.0, 2, 3, 4]}), [0, 2, 0, 1], "coded 0/1"),
        (pd.DataFrame({"a": [1.0, 2, 3, 4]}), [0, 1, 0], "4 rows but y has 3"),
    ],
)
def test_input_errors(frame: pd.DataFrame, y: list[int], match: str) -> None:
    with pytest.raises(ModelError, match=match):
        fit_logistic(frame, y)


def test_collinear_with_intercept_named() -> None:
    X = pd.DataFrame({"a": [1.0, 2, 3, 4, 5, 6], "b": [0.0, 1, 0, 1, 1, 0]})
    X["c"] = 1.0 - X["b"]
    with pytest.raises(ModelError, match=r"collinear column\(s\): .*c"):
        fit_logistic(X, [0, 1, 0, 1, 1, 0])


def test_bad_weights_and_predict_shape(cohort: pd.DataFrame) -> None:
    with pytest.raises(ModelError, match="weights must be non-negative"):
        fit_logistic(cohort[["x1"]], cohort["y"], weights=-np.ones(125))
    fit = fit_logistic(cohort[["x1", "x2"]], cohort["y"])
    with pytest.raises(ModelError, match="X has 3 columns; the model has 2 predictors"):
        fit.predict_lp(np.ones((2, 3)))


def test_batch_equals_single_fits(cohort: pd.DataFrame) -> None:
    X, y = cohort[XCOLS].to_numpy(), cohort["y"].to_numpy()
    W = np.random.default_rng(5).multinomial(125, np.full(125, 1 / 125), size=20).astype(float)
    batch = fit_logistic_batch(X, W, y)
    assert batch.coef.shape == (20, 8)
    for b in range(20):
        single = fit_logistic(X, y, weights=W[b])
        np.testing.assert_allclose(batch.coef[b], single.coef, atol=1e-7)
        assert batch.loglik[b] == pytest.approx(single.loglik, abs=1e-8)
    assert batch.converged.all()
    cov = batch.cov(np.column_stack([np.ones(125), X]), W)
    np.testing.assert_allclose(cov[0], fit_logistic(X, y, weights=W[0]).cov, rtol=1e-6)


def test_batch_masks_fit_submodels(cohort: pd.DataFrame) -> None:
    X, y = cohort[XCOLS].to_numpy(), cohort["y"].to_numpy()
    W = np.ones((3, 125))
    mask = np.array([[1, 1, 0, 1, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0, 0, 1], [1] + [0] * 7], dtype=bool)
    batch = fit_logistic_batch(X, W, y, mask=mask)
    for b in range(3):
        cols = np.flatnonzero(mask[b, 1:])
        ref = sm.Logit(y, sm.add_constant(X[:, cols], has_constant="add")).fit(disp=0, tol=1e-12)
        np.testing.assert_allclose(batch.coef[b, mask[b]], ref.params, atol=1e-7)
        assert np.all(batch.coef[b, ~mask[b]] == 0)


def test_batch_flags_separated_resamples(read_r: Callable[[str], pd.DataFrame]) -> None:
    sep = read_r("separated.csv")
    batch = fit_logistic_batch(sep[["a", "b"]].to_numpy(), np.ones((2, len(sep))), sep["y"].to_numpy())
    assert not batch.converged.any()


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(30, 80), p=st.integers(1, 4))
def test_random_data_matches_statsmodels(seed: int, n: int, p: int) -> None:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    y = (rng.random(n) < 0.4).astype(float)
    if y.sum() < 5 or y.sum() > n - 5:
        return
    fit = fit_logistic(X, y)
    if fit.separation:
        return
    ref = sm.Logit(y, sm.add_constant(X)).fit(disp=0, method="newton", tol=1e-12, maxiter=100)
    np.testing.assert_allclose(fit.coef, ref.params, atol=1e-6)
    np.testing.assert_allclose(fit.se, ref.bse, atol=1e-6)


def test_offset_matches_statsmodels_glm(cohort: pd.DataFrame) -> None:
    """An offset (a frozen model's linear predictor) as R glm(offset = ): coefficients, SEs,
    log-likelihood and the null log-likelihood of the intercept and the offset."""
    X, y = cohort[XCOLS[:3]].to_numpy(), cohort["y"].to_numpy()
    off = 0.4 * cohort["x4"].to_numpy() - 0.2
    ref = sm.GLM(y, sm.add_constant(X), family=sm.families.Binomial(), offset=off).fit(tol=1e-14)
    fit = fit_logistic(X, y, offset=off, tol=1e-14)
    np.testing.assert_allclose(fit.coef, ref.params, atol=1e-10)
    np.testing.assert_allclose(fit.se, ref.bse, rtol=1e-6)
    assert fit.loglik == pytest.approx(ref.llf, rel=1e-12)
    assert fit.loglik_null == pytest.approx(ref.llnull, rel=1e-10)
    only = fit_logistic(np.empty((y.size, 0)), y, offset=off, tol=1e-14)
    ref0 = sm.GLM(y, np.ones((y.size, 1)), family=sm.families.Binomial(), offset=off).fit(tol=1e-14)
    np.testing.assert_allclose(only.coef, ref0.params, atol=1e-10)
    assert only.loglik_null == only.loglik == pytest.approx(ref0.llnull, rel=1e-12)
    with pytest.raises(ModelError, match="maximum likelihood"):
        fit_logistic(X, y, offset=off, firth=True)
    with pytest.raises(ModelError, match="offset"):
        fit_logistic(X, y, offset=off[:-1])


def test_strict_raises_where_the_estimates_do_not_exist() -> None:
    x = np.arange(10.0)
    y = (x > 4.5).astype(int)
    with pytest.warns(SeparationWarning):
        assert fit_logistic(x, y).separation
    with pytest.raises(ModelError, match="separation"):
        fit_logistic(x, y, strict=True)
