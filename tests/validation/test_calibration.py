"""Tests of crsscore.validation.calibration.

R reference: tests/fixtures/proc/reference.csv made by tests/fixtures/proc/make_fixtures.R
(`cd tests/fixtures/proc && Rscript make_fixtures.R`; R 4.2.2, rms 6.5.0) on the stored
validation_data.csv: `rms::val.prob(p_new, y)` (R2, Brier, Intercept, Slope, Emax, E90, Eavg),
`glm(y ~ 1 + offset(lp))` and `glm(y ~ lp)` with `confint.default`, and the Hosmer-Lemeshow
grouping of ResourceSelection::hoslem.test written out in base R.
"""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from hypothesis import given, settings
from hypothesis import strategies as st

from crsscore.errors import DataError, ModelError
from crsscore.modeling.logistic import fit_logistic
from crsscore.validation.calibration import (
    HL_CAVEAT,
    brier,
    calibration,
    calibration_curve,
    calibration_in_the_large,
    calibration_slope,
    hosmer_lemeshow,
    logit,
    nagelkerke_r2,
    observed_expected,
)

matplotlib.use("Agg")


def test_intercept_and_slope_equal_r_glm(data: pd.DataFrame, ref: dict[tuple[str, str], float]) -> None:
    a = calibration_in_the_large(data["y"], data["p_new"])
    assert a.estimate == pytest.approx(ref[("citl", "estimate")], abs=1e-8)
    assert a.se == pytest.approx(ref[("citl", "se")], rel=1e-7)
    assert a.ci == pytest.approx((ref[("citl", "ci_low")], ref[("citl", "ci_high")]), abs=1e-7)
    b = calibration_slope(data["y"], data["p_new"])
    assert b.estimate == pytest.approx(ref[("slope", "estimate")], abs=1e-8)
    assert b.intercept == pytest.approx(ref[("slope", "intercept")], abs=1e-8)
    assert b.se == pytest.approx(ref[("slope", "se")], rel=1e-7)
    assert b.ci == pytest.approx((ref[("slope", "ci_low")], ref[("slope", "ci_high")]), abs=1e-7)
    # rms val.prob's Intercept and Slope are the same logistic recalibration
    assert b.intercept == pytest.approx(ref[("val_prob", "Intercept")], abs=1e-7)
    assert b.estimate == pytest.approx(ref[("val_prob", "Slope")], abs=1e-7)


def test_overall_measures_equal_val_prob(data: pd.DataFrame, ref: dict[tuple[str, str], float]) -> None:
    y, p = data["y"], data["p_new"]
    assert brier(y, p).brier == pytest.approx(ref[("val_prob", "Brier")], rel=1e-12)
    assert nagelkerke_r2(y, p) == pytest.approx(ref[("val_prob", "R2")], rel=1e-10)
    curve = calibration_curve(y, p)
    assert curve.ici == pytest.approx(ref[("val_prob", "Eavg")], rel=1e-8)
    assert curve.e90 == pytest.approx(ref[("val_prob", "E90")], rel=1e-8)
    assert curve.emax == pytest.approx(ref[("val_prob", "Emax")], rel=1e-8)
    err = np.abs(curve.prob - curve.observed)
    assert curve.e50 == pytest.approx(float(np.median(err)))
    assert np.all(np.diff(curve.prob) >= 0)


def test_hosmer_lemeshow_equals_r(data: pd.DataFrame, ref: dict[tuple[str, str], float]) -> None:
    hl = hosmer_lemeshow(data["y"], data["p_new"])
    assert hl.statistic == pytest.approx(ref[("hosmer_lemeshow", "statistic")], rel=1e-10)
    assert hl.df == ref[("hosmer_lemeshow", "df")]
    assert hl.p == pytest.approx(ref[("hosmer_lemeshow", "p")], rel=1e-8)
    assert hl.table["n"].sum() == len(data)
    assert hl.table["observed"].sum() == data["y"].sum()
    assert "number of groups" in hl.caveat and hl.caveat == HL_CAVEAT
    assert HL_CAVEAT in hl.summary()


def test_hosmer_lemeshow_merges_tied_groups() -> None:
    # a point score has few distinct risks: repeated quantiles are merged
    rng = np.random.default_rng(3)
    p = rng.choice([0.05, 0.1, 0.2, 0.4, 0.6], size=300)
    y = rng.binomial(1, p)
    hl = hosmer_lemeshow(y, p)
    assert hl.groups == 4 and hl.df == 2  # 5 distinct values -> breaks merge to 4 groups
    assert hl.table["n"].sum() == 300


def test_fit_logistic_equals_statsmodels() -> None:
    rng = np.random.default_rng(11)
    X = np.column_stack([np.ones(200), rng.normal(size=(200, 3))])
    off = rng.normal(scale=0.3, size=200)
    y = rng.binomial(1, 1 / (1 + np.exp(-(X @ [-1, 0.5, -0.5, 1.0] + off))))
    mine = fit_logistic(X[:, 1:], y, offset=off)
    ref = sm.GLM(y, X, family=sm.families.Binomial(), offset=off).fit(tol=1e-12)
    np.testing.assert_allclose(mine.coef, ref.params, atol=1e-8)
    np.testing.assert_allclose(mine.se, ref.bse, rtol=1e-6)
    assert mine.loglik == pytest.approx(ref.llf, rel=1e-10)
    assert mine.converged


def test_fit_logistic_refuses_separation() -> None:
    x = np.arange(10.0)
    y = (x > 4.5).astype(int)
    with pytest.raises(ModelError, match="separation"):
        fit_logistic(x, y, strict=True)
    with pytest.raises(ModelError, match="singular"):
        fit_logistic(np.ones(10), [0, 1] * 5, strict=True)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.floats(-1.0, 1.0), st.floats(0.5, 1.5))
def test_perfectly_calibrated_after_recalibration(seed: int, a: float, b: float) -> None:
    """Predictions recalibrated by their own logistic fit have intercept 0 and slope 1, and
    O/E = 1 after recalibration-in-the-large (the score equations of the fits)."""
    rng = np.random.default_rng(seed)
    lp = rng.normal(-1.0, 1.0, 300)
    y = rng.binomial(1, 1 / (1 + np.exp(-(a + b * lp))))
    if y.sum() < 5 or y.sum() > 295:
        return
    p = 1 / (1 + np.exp(-lp))
    s = calibration_slope(y, p)
    p_recal = 1 / (1 + np.exp(-(s.intercept + s.estimate * logit(p))))
    s2 = calibration_slope(y, p_recal)
    assert s2.estimate == pytest.approx(1.0, abs=1e-6)
    assert s2.intercept == pytest.approx(0.0, abs=1e-6)
    c = calibration_in_the_large(y, p)
    p_citl = 1 / (1 + np.exp(-(c.estimate + logit(p))))
    assert observed_expected(y, p_citl).ratio == pytest.approx(1.0, abs=1e-6)


def test_observed_expected_and_brier_by_hand() -> None:
    y = np.array([1, 0, 0, 1, 0, 0, 0, 1, 0, 0])
    p = np.array([0.5, 0.2, 0.1, 0.4, 0.3, 0.1, 0.2, 0.6, 0.1, 0.2])
    oe = observed_expected(y, p)
    assert oe.ratio == pytest.approx(3 / 2.7)
    se = np.sqrt((1 - 0.3) / 3)
    assert oe.ci == pytest.approx((3 / 2.7 * np.exp(-1.959963985 * se), 3 / 2.7 * np.exp(1.959963985 * se)))
    bs = brier(y, p)
    assert bs.brier == pytest.approx(np.mean((p - y) ** 2))
    assert bs.scaled == pytest.approx(1 - bs.brier / (0.3 * 0.7))
    # R2 of the event rate given to all is 0; of perfect-ish predictions close to 1
    assert nagelkerke_r2(y, np.full(10, 0.3)) == pytest.approx(0.0, abs=1e-12)
    assert nagelkerke_r2(y, np.where(y == 1, 0.999, 0.001)) > 0.98


def test_calibration_bundle(data: pd.DataFrame) -> None:
    res = calibration(data["y"], data["p_new"])
    frame = res.to_frame()
    assert list(frame.index) == [
        "calibration intercept", "calibration slope", "O/E", "ICI", "E50", "E90", "Emax",
        "Brier", "scaled Brier", "Nagelkerke R2", "Hosmer-Lemeshow p",
    ]
    assert frame.loc["calibration slope", "estimate"] == res.slope.estimate
    assert frame.loc["ICI", "estimate"] == res.curve.ici
    assert (frame["n"] == 240).all()
    text = res.summary()
    assert "calibration slope" in text and "Hosmer-Lemeshow" in text
    assert calibration(data["y"], data["p_new"], hl_groups=None).hosmer_lemeshow is None
    ax = res.plot()
    assert ax.get_xlabel() == "Predicted probability"
    assert len(ax.get_lines()) >= 3
    assert res.curve.to_frame().shape == (240, 3)
    assert "lowess" in res.curve.summary()


def test_errors(data: pd.DataFrame) -> None:
    y = np.array([0, 1, 0, 1])
    with pytest.raises(DataError, match=r"outside \(0, 1\)"):
        calibration_slope(y, [0.0, 0.5, 0.2, 0.9])
    with pytest.raises(DataError, match=r"outside \[0, 1\]"):
        brier(y, [0.1, 1.2, 0.2, 0.9])
    with pytest.raises(DataError, match="all predictions are equal"):
        calibration_slope(y, [0.3] * 4)
    with pytest.raises(DataError, match="fewer than 3 distinct risk groups"):
        hosmer_lemeshow(y, [0.3] * 4)
    with pytest.raises(DataError, match="all predicted risks are 0"):
        observed_expected(y, [0.0] * 4)
    with pytest.raises(ValueError, match="'g' parameter of hosmer_lemeshow"):
        hosmer_lemeshow(y, [0.1, 0.2, 0.3, 0.4], g=2)
    with pytest.raises(ValueError, match="'frac' parameter of calibration_curve"):
        calibration_curve(y, [0.1, 0.2, 0.3, 0.4], frac=0)
    with pytest.raises(ValueError, match="'iterations' parameter of calibration_curve"):
        calibration_curve(y, [0.1, 0.2, 0.3, 0.4], iterations=-1)
    with pytest.raises(ValueError, match="'level' parameter of calibration_slope"):
        calibration_slope(y, [0.1, 0.2, 0.3, 0.4], level=0)
    with pytest.raises(DataError, match="missing"):
        calibration(data["y"], data["p_new"].where(data.index != 5))
