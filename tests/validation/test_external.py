"""Tests of crsscore.validation.external.

R reference: tests/fixtures/proc/reference.csv made by tests/fixtures/proc/make_fixtures.R
(`cd tests/fixtures/proc && Rscript make_fixtures.R`; R 4.2.2, pROC 1.18.0, rms 6.5.0):
DeLong CI, `glm` recalibration fits and `val.prob` measures of p_new in validation_data.csv.
Updating fits are also compared with statsmodels, and the closed test with simulated cohorts
whose miscalibration is known.
"""

from __future__ import annotations

import json

import matplotlib
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from sklearn.metrics import roc_auc_score

from crsscore.errors import DataError
from crsscore.modeling.logistic import fit_logistic
from crsscore.validation.calibration import brier
from crsscore.validation.discrimination import delong_covariance
from crsscore.validation.external import compare_updates, update_model, validate_predictions

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def ev(data: pd.DataFrame):  # type: ignore[no-untyped-def]
    return validate_predictions(data["y"], data["p_new"], B=100, seed=11,
                                thresholds=np.arange(0, 0.6, 0.05))


def test_estimates_equal_r(ev, data: pd.DataFrame, ref: dict[tuple[str, str], float]) -> None:  # type: ignore[no-untyped-def]
    f = ev.to_frame()
    # (rms's "C (ROC)" bins the risks, so the exact AUC is checked against scikit-learn)
    assert f.loc["AUC", "estimate"] == pytest.approx(roc_auc_score(data["y"], data["p_new"]), abs=1e-12)
    assert f.loc["AUC", "estimate"] == pytest.approx(ref[("val_prob", "C (ROC)")], abs=1e-3)
    se = np.sqrt(delong_covariance(data["y"], data["p_new"])[1][0, 0])
    assert f.loc["AUC", "lower 95%"] == pytest.approx(f.loc["AUC", "estimate"] - 1.959963984540054 * se)
    assert f.loc["calibration intercept", "estimate"] == pytest.approx(ref[("citl", "estimate")], abs=1e-8)
    assert f.loc["calibration intercept", "lower 95%"] == pytest.approx(ref[("citl", "ci_low")], abs=1e-7)
    assert f.loc["calibration slope", "upper 95%"] == pytest.approx(ref[("slope", "ci_high")], abs=1e-7)
    for ours, theirs in [("Brier", "Brier"), ("Nagelkerke R2", "R2"), ("ICI", "Eavg"),
                         ("E90", "E90"), ("Emax", "Emax")]:
        assert f.loc[ours, "estimate"] == pytest.approx(ref[("val_prob", theirs)], rel=1e-8), ours
    assert (f["n"] == 240).all() and (f["events"] == data["y"].sum()).all()
    assert set(f["ci_method"]) == {"DeLong", "Wald", "Debray 2017", "bootstrap percentile"}


def test_bootstrap_intervals_brute_force(ev, data: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
    """Same seed, same resamples: recompute the Brier interval by hand."""
    y, p = data["y"].to_numpy(), data["p_new"].to_numpy()
    rng = np.random.default_rng(11)
    vals = []
    for _ in range(100):
        idx = rng.integers(0, y.size, y.size)
        vals.append(brier(y[idx], p[idx]).brier)
    m = ev.metric("Brier")
    assert (m.ci_low, m.ci_high) == pytest.approx(tuple(np.quantile(vals, [0.025, 0.975])))
    assert ev.failed == 0 and ev.B == 100 and ev.seed == 11
    for m in ev.metrics:
        assert m.ci_low <= m.estimate <= m.ci_high or m.metric == "E50", m.metric
    again = validate_predictions(data["y"], data["p_new"], B=100, seed=11)
    assert again.metrics == ev.metrics


def test_curve_band_decision_and_plot(ev) -> None:  # type: ignore[no-untyped-def]
    band = ev.curve_band
    assert list(band.columns) == ["predicted", "observed", "lower", "upper"]
    assert len(band) == 50 and (band["lower"] <= band["upper"]).all()
    assert band["predicted"].is_monotonic_increasing
    assert ev.decision is not None and set(ev.decision.to_frame()["variable"]) == {"all", "none", "model"}
    assert ev.curve.ici == ev.calibration.curve.ici
    text = ev.summary()
    assert "calibration slope" in text and "Hosmer-Lemeshow" in text and "B=100" in text
    ax = ev.plot()
    assert ax.get_ylabel() == "Observed proportion"
    d = ev.to_dict()
    assert [m["metric"] for m in d["metrics"]][:2] == ["AUC", "calibration intercept"]
    assert len(d["calibration_curve"]) == 50 and d["hosmer_lemeshow"]["df"] == 8
    assert len(d["decision_curve"]) == 3 * 12
    json.dumps(d)  # plain data
    with pytest.raises(KeyError, match="unknown metric"):
        ev.metric("accuracy")


def test_update_methods_equal_r_glm(data: pd.DataFrame, ref: dict[tuple[str, str], float]) -> None:
    y = data["y"].to_numpy()
    lp = np.log(data["p_new"] / (1 - data["p_new"])).to_numpy()
    orig = update_model(y, lp, "original")
    assert orig.loglik == pytest.approx(float(np.sum(y * lp - np.log1p(np.exp(lp)))))
    assert (orig.intercept, orig.slope, orig.n_estimated) == (0.0, 1.0, 0)
    inter = update_model(y, lp, "intercept")
    assert inter.intercept == pytest.approx(ref[("citl", "estimate")], abs=1e-8)
    assert inter.intercept_se == pytest.approx(ref[("citl", "se")], rel=1e-7)
    logi = update_model(y, lp, "logistic")
    assert logi.intercept == pytest.approx(ref[("slope", "intercept")], abs=1e-8)
    assert logi.slope == pytest.approx(ref[("slope", "estimate")], abs=1e-8)
    sm_fit = sm.GLM(y, sm.add_constant(lp), family=sm.families.Binomial()).fit(tol=1e-12)
    assert logi.loglik == pytest.approx(sm_fit.llf, rel=1e-10)
    assert logi.aic == pytest.approx(sm_fit.aic, rel=1e-10)
    np.testing.assert_allclose(logi.predict_proba(lp), logi.prob)
    np.testing.assert_allclose(logi.transform([0.0, 1.0]), [logi.intercept, logi.intercept + logi.slope])
    assert "updated lp" in logi.summary() and logi.to_frame().loc["logistic", "slope"] == logi.slope


def _cohort(seed: int, a: float, b: float, extra: float, n: int = 3000):  # type: ignore[no-untyped-def]
    """Original model lp = -1 + x1 + 0.5 x2; the new cohort's truth is a + b lp + extra x2."""
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.normal(size=n), rng.normal(size=n)])
    lp = X @ np.array([-1.0, 1.0, 0.5])
    y = rng.binomial(1, 1 / (1 + np.exp(-(a + b * lp + extra * X[:, 2]))))

    def refit(yy: np.ndarray) -> np.ndarray:
        return np.asarray(X @ fit_logistic(X[:, 1:], yy).coef)

    return y, lp, refit


@pytest.mark.parametrize(
    ("a", "b", "extra", "expected"),
    [(0.0, 1.0, 0.0, "original"), (0.7, 1.0, 0.0, "intercept"), (0.7, 0.5, 0.0, "logistic"),
     (0.0, 1.0, -0.8, "refit")],
)
def test_closed_testing_selects_the_needed_update(a: float, b: float, extra: float, expected: str) -> None:
    y, lp, refit = _cohort(2, a, b, extra)
    cmp_ = compare_updates(y, lp, refit=refit, refit_parameters=3)
    assert cmp_.selected == expected
    f = cmp_.to_frame()
    assert list(f.index) == ["original", "intercept", "logistic", "refit"]
    # likelihood ratio statistics are differences of log-likelihoods against the refit
    for m in ["original", "intercept", "logistic"]:
        assert f.loc[m, "LR chi2"] == pytest.approx(2 * (f.loc["refit", "loglik"] - f.loc[m, "loglik"]))
    assert f.loc["logistic", "calibration slope"] == pytest.approx(1.0, abs=1e-6)
    assert f.loc["intercept", "calibration intercept"] == pytest.approx(0.0, abs=1e-6)
    assert "Selected" in cmp_.summary()


def test_compare_without_refit(data: pd.DataFrame) -> None:
    lp = np.log(data["p_new"] / (1 - data["p_new"])).to_numpy()
    c = compare_updates(data["y"], lp)
    assert c.reference == "logistic" and list(c.to_frame().index) == ["original", "intercept", "logistic"]
    # the fixture model is miscalibrated in slope (0.72, CI excludes 1): logistic is needed
    assert c.selected == "logistic"


def test_errors(data: pd.DataFrame) -> None:
    y = np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match="'B' parameter of validate_predictions"):
        validate_predictions(y, [0.1, 0.2, 0.3, 0.4], B=5)
    with pytest.raises(DataError, match=r"outside \(0, 1\)"):
        validate_predictions(y, [0.0, 0.2, 0.3, 0.4])
    with pytest.raises(ValueError, match="'method' parameter of update_model"):
        update_model(y, [0.1, 0.2, 0.3, 0.4], "shrink")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs a 'refit' function"):
        update_model(y, [0.1, 0.2, 0.3, 0.4], "refit")
    with pytest.raises(ValueError, match="'refit_parameters' parameter of update_model"):
        update_model(y, [0.1, 0.2, 0.3, 0.4], "refit", refit=lambda yy: np.zeros(4))
    with pytest.raises(DataError, match="refit"):
        update_model(y, [0.1, 0.2, 0.3, 0.4], "refit", refit=lambda yy: np.zeros(3), refit_parameters=2)
    with pytest.raises(DataError, match="all linear predictors are equal"):
        update_model(y, [0.5] * 4, "logistic")
    with pytest.raises(ValueError, match="'alpha' parameter of compare_updates"):
        compare_updates(y, [0.1, 0.2, 0.3, 0.4], alpha=0)
    refit = update_model(y, [0.1, 0.2, 0.3, 0.4], "refit", refit=lambda yy: np.zeros(4), refit_parameters=1)
    with pytest.raises(ValueError, match="predict with the refitted model"):
        refit.transform([0.1])
