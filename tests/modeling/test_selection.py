"""Backward elimination (refits, checked with a statsmodels loop), rms fastbw (R), LASSO."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from hypothesis import given, settings
from hypothesis import strategies as st

from crsscore.errors import ModelError
from crsscore.modeling._batched import fit_logistic_batch
from crsscore.modeling.logistic import fit_logistic
from crsscore.modeling.selection import backward_select, fastbw, fastbw_batch, lasso_cv

XCOLS = [f"x{i}" for i in range(1, 8)]


def _statsmodels_backward_aic(X: pd.DataFrame, y: pd.Series) -> list[str]:
    cols = list(X.columns)
    while cols:
        base = sm.Logit(y, sm.add_constant(X[cols])).fit(disp=0).aic
        trials = {c: sm.Logit(y, sm.add_constant(X[[k for k in cols if k != c]], has_constant="add")).fit(disp=0).aic for c in cols}
        best = min(trials, key=trials.__getitem__)
        if trials[best] > base:
            break
        cols.remove(best)
    return cols


def test_backward_aic_matches_statsmodels_loop(cohort: pd.DataFrame) -> None:
    res = backward_select(cohort[XCOLS], cohort["y"], rule="aic")
    assert list(res.kept) == _statsmodels_backward_aic(cohort[XCOLS], cohort["y"])
    ref = sm.Logit(cohort["y"], sm.add_constant(cohort[list(res.kept)])).fit(disp=0, tol=1e-12)
    np.testing.assert_allclose(res.fit.coef, ref.params, atol=1e-6)
    assert list(res.steps["removed"]) == list(res.dropped)
    assert (res.steps["AIC change"] <= 0).all()


def test_backward_p_rule_and_force(cohort: pd.DataFrame) -> None:
    res = backward_select(cohort[XCOLS].to_numpy(), cohort["y"], XCOLS, rule="p", alpha=0.05, force=("x7",))
    assert "x7" in res.kept
    assert (res.steps["p"] > 0.05).all()
    last = res.fit
    for name in res.kept:
        if name == "x7":
            continue
        idx = [k for k in res.kept if k != name]
        sub = fit_logistic(cohort[idx], cohort["y"])
        assert 2 * (last.loglik - sub.loglik) > 3.841  # every kept variable is significant by LR


def test_backward_firth_runs(cohort: pd.DataFrame) -> None:
    res = backward_select(cohort[XCOLS], cohort["y"], rule="aic", firth=True)
    assert res.fit.method == "firth" and len(res.kept) >= 1


@settings(max_examples=14, deadline=None)
@given(k=st.integers(min_value=-3, max_value=3), rule=st.sampled_from(["aic", "p"]))
def test_firth_backward_does_not_depend_on_units(k: int, rule: str) -> None:
    """The issue's reproducer: pure-noise 'age' rescaled by 10^k keeps the same kept set."""
    rng = np.random.default_rng(1)
    n = 125
    X = rng.normal(size=(n, 3))
    X[:, 2] = rng.normal(50, 15, n)
    y = rng.binomial(1, 1 / (1 + np.exp(-(-1.5 + X[:, 0] + 0.5 * X[:, 1]))))
    base = backward_select(X, y, ["a", "b", "age"], firth=True, rule=rule)
    Xc = X.copy()
    Xc[:, 2] *= 10.0**k
    res = backward_select(Xc, y, ["a", "b", "age"], firth=True, rule=rule)
    assert res.kept == base.kept
    assert rule == "p" or res.kept == ("a", "b")
    np.testing.assert_allclose(res.steps["Chi-Sq"], base.steps["Chi-Sq"], rtol=1e-6, atol=1e-8)


def test_penalised_lr_keeps_the_full_penalty(cohort: pd.DataFrame) -> None:
    """Firth LR statistic = 2 (l*(full) - l*(full design, beta_j = 0)), as logistf's drop1."""
    from crsscore.modeling._newton import penalised_loglik
    from crsscore.modeling.selection import restricted_loglik

    X = cohort[XCOLS[:3]].to_numpy()
    y = cohort["y"].to_numpy(dtype=float)
    full = fit_logistic(X, y, firth=True)
    D = np.column_stack([np.ones(len(y)), X])
    w = np.ones_like(y)
    lr = 2 * (full.loglik_penalised - restricted_loglik(D, y, w, full.coef, [3], firth=True))
    # brute force: maximise the full-design penalised likelihood over (b0, b1, b2) with b3 = 0
    from scipy import optimize

    def neg(b: np.ndarray) -> float:
        return -penalised_loglik(D, y, w, np.array([*b, 0.0]))

    best = optimize.minimize(neg, full.coef[:3], method="BFGS", options={"gtol": 1e-10})
    assert lr == pytest.approx(2 * (full.loglik_penalised + best.fun), abs=1e-6)


def test_pooled_wald_reduces_to_wald_with_one_imputation() -> None:
    from scipy import stats

    from crsscore.modeling.selection import pooled_wald

    _, p, chi2 = pooled_wald(np.array([[0.8]]), np.array([[[0.16]]]))
    assert chi2 == pytest.approx(4.0) and p == pytest.approx(stats.chi2.sf(4.0, 1))
    # identical imputations: no between variance, the plain Wald test
    _d1, p, chi2 = pooled_wald(np.tile([[0.8, 0.1]], (5, 1)), np.tile(np.diag([0.16, 0.04]), (5, 1, 1)))
    assert chi2 == pytest.approx(4.0 + 0.25)
    # between-imputation variance makes the test more conservative
    _, p2, _ = pooled_wald(np.array([[0.6], [1.0], [0.8]]), np.full((3, 1, 1), 0.16))
    assert p2 > stats.chi2.sf(4.0, 1)


def test_backward_errors(cohort: pd.DataFrame) -> None:
    with pytest.raises(ModelError, match="rule must be 'aic' or 'p'; got 'bic'"):
        backward_select(cohort[XCOLS], cohort["y"], rule="bic")
    with pytest.raises(ModelError, match=r"forced variable.*: zz"):
        backward_select(cohort[XCOLS], cohort["y"], force=("zz",))


@pytest.mark.parametrize(("rule", "sls"), [("aic", 0.05), ("p", 0.05), ("p", 0.2)])
def test_fastbw_matches_rms(cohort: pd.DataFrame, read_r: Callable[[str], pd.DataFrame], rule: str, sls: float) -> None:
    ref = read_r("fastbw.csv")
    ref = ref[(ref["rule"] == rule) & (ref["sls"] == sls)]
    fb = fastbw(fit_logistic(cohort[XCOLS], cohort["y"]), rule=rule, sls=sls)
    assert " ".join(fb.names_kept) == ref["kept"].iloc[0]
    assert " ".join(fb.result.index) == ref["deleted"].iloc[0]
    np.testing.assert_allclose(fb.coefficients.to_numpy(), ref["coef"], atol=1e-5)
    assert list(fb.coefficients.index) == [t.replace("(Intercept)", "Intercept") for t in ref["term"]]


def test_fastbw_table_matches_rms(cohort: pd.DataFrame, read_r: Callable[[str], pd.DataFrame]) -> None:
    ref = read_r("fastbw_aic_table.csv")
    fb = fastbw(fit_logistic(cohort[XCOLS], cohort["y"]))
    np.testing.assert_allclose(fb.result["Chi-Sq"], ref["Chi-Sq"], rtol=1e-5)
    np.testing.assert_allclose(fb.result["Residual"], ref["Residual"], rtol=1e-5)
    np.testing.assert_allclose(fb.result["AIC"], ref["AIC"], rtol=1e-5)
    pd.testing.assert_frame_equal(fb.summary(), fb.result)
    assert list(fb.result.columns) == ["Chi-Sq", "d.f.", "P", "Residual", "d.f. (residual)", "P (residual)", "AIC"]


def test_fastbw_batch_equals_single(cohort: pd.DataFrame) -> None:
    X, y = cohort[XCOLS].to_numpy(), cohort["y"].to_numpy()
    W = np.random.default_rng(11).multinomial(125, np.full(125, 1 / 125), size=40).astype(float)
    batch = fit_logistic_batch(X, W, y)
    D = np.column_stack([np.ones(125), X])
    for rule in ("aic", "p"):
        kept = fastbw_batch(batch.coef, batch.cov(D, W), rule=rule)
        for b in range(40):
            single = fastbw(fit_logistic(X, y, weights=W[b], names=XCOLS), rule=rule)
            assert tuple(np.array(XCOLS)[kept[b, 1:]]) == tuple(sorted(single.names_kept, key=XCOLS.index))


def test_fastbw_force_and_errors(cohort: pd.DataFrame) -> None:
    fit = fit_logistic(cohort[XCOLS], cohort["y"])
    fb = fastbw(fit, type="individual", force=("x4",))
    assert "x4" in fb.names_kept
    with pytest.raises(ModelError, match="type must be 'residual' or 'individual'"):
        fastbw(fit, type="other")
    with pytest.raises(ModelError, match=r"forced variable.*: nope"):
        fastbw(fit, force=("nope",))


def test_lasso_cv_selects_true_signals(cohort: pd.DataFrame) -> None:
    res = lasso_cv(cohort[XCOLS], cohort["y"], folds=5, seed=1)
    assert set(res.kept) <= set(XCOLS) and "x1" in res.kept and res.C > 0
    assert res.coef.index[0] == "Intercept"
    assert res.summary().shape == (8, 1)
    with pytest.raises(ModelError, match="fewer events or non-events than folds"):
        lasso_cv(cohort[XCOLS].iloc[:10], cohort["y"].iloc[:10], folds=5)


@pytest.mark.parametrize(("rule", "sls"), [("aic", 0.05), ("p", 0.5)])
def test_fastbw_spline_factor_matches_rms(cohort: pd.DataFrame, read_r: Callable[[str], pd.DataFrame], rule: str, sls: float) -> None:
    # R: fastbw(lrm(y ~ rcs(x1, 4) + x2 + x3 + x4 + x5)); the 3 spline columns are one factor
    from crsscore.splines import rcs_basis

    ref = read_r("fastbw_rcs.csv")
    ref = ref[(ref["rule"] == rule) & (ref["sls"] == sls)]
    spline = ["x1", "x1'", "x1''"]
    X = np.column_stack([rcs_basis(cohort["x1"], nk=4), cohort[["x2", "x3", "x4", "x5"]]])
    fit = fit_logistic(X, cohort["y"], names=[*spline, "x2", "x3", "x4", "x5"])
    fb = fastbw(fit, rule=rule, sls=sls, factors={"x1": spline})
    assert " ".join(fb.names_kept) == ref["kept"].iloc[0]
    assert " ".join(fb.result.index) == ref["deleted"].iloc[0]
    assert " ".join(str(v) for v in fb.result["d.f."]) == ref["deleted_df"].iloc[0]
    chisq = [float(v) for v in ref["deleted_chisq"].iloc[0].split()]
    np.testing.assert_allclose(fb.result["Chi-Sq"], chisq, rtol=1e-5)
    np.testing.assert_allclose(fb.coefficients.to_numpy(), ref["coef"], atol=1e-5)


def test_fastbw_factor_errors(cohort: pd.DataFrame) -> None:
    fit = fit_logistic(cohort[["x1", "x2"]], cohort["y"])
    with pytest.raises(ModelError, match=r"factor 'f' names column.*: zz"):
        fastbw(fit, factors={"f": ["x1", "zz"]})
    with pytest.raises(ModelError, match="column 'x1' is in two factors"):
        fastbw(fit, factors={"f": ["x1"], "g": ["x1", "x2"]})
    assert fastbw(fit, factors={"both": ["x1", "x2"]}, force=("both",)).names_kept == ("both",)
