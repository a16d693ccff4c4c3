"""Tests of crsscore.validation.decision.

Parity: /work/shared/data/dcurves/r_simple_binary_dca_result.csv is R dcurves' output for
outcome `cancer` with `age` turned into a probability by a logistic fit (`as_probability`),
thresholds 0 to 0.99 by 0.01 (see shared/specs/benchmarks.md).  The data are read in place
(never copied into the repository); the test is skipped only when that folder is missing.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from crsscore.errors import DataError
from crsscore.validation.decision import DEFAULT_THRESHOLDS, as_probability, decision_curve

matplotlib.use("Agg")

DCURVES = Path(__file__).resolve().parents[3] / "shared" / "data" / "dcurves"
if not DCURVES.is_dir():  # the shared folder sits beside the repository
    DCURVES = Path("/work/shared/data/dcurves")


@pytest.fixture(scope="module")
def df_binary() -> pd.DataFrame:
    path = DCURVES / "df_binary.csv"
    if not path.exists():
        pytest.skip(f"dcurves benchmark data not found at {path}")
    return pd.read_csv(path)


def _outcome(df: pd.DataFrame) -> np.ndarray:
    col = df["cancer"]
    if col.dtype == bool:
        return col.astype(int).to_numpy()
    return col.astype(str).str.upper().eq("TRUE").astype(int).to_numpy()


def test_equals_r_dcurves_row_for_row(df_binary: pd.DataFrame) -> None:
    y = _outcome(df_binary)
    dc = decision_curve(y, {"age": as_probability(y, df_binary["age"])})
    ours = dc.to_frame()
    ref = pd.read_csv(DCURVES / "r_simple_binary_dca_result.csv")
    assert list(ours.columns) == list(ref.columns)
    assert len(ours) == len(ref) == 300
    assert ours["variable"].tolist() == ref["variable"].tolist()
    assert ours["label"].tolist() == ref["label"].tolist()
    assert ours["n"].tolist() == ref["n"].tolist()
    for col in ["threshold", "pos_rate", "tp_rate", "fp_rate", "harm", "net_benefit"]:
        np.testing.assert_allclose(ours[col].to_numpy(float), ref[col].to_numpy(float),
                                   rtol=1e-12, atol=1e-14, err_msg=col)


def test_as_probability_equals_statsmodels(df_binary: pd.DataFrame) -> None:
    y = _outcome(df_binary)
    x = df_binary["age"].to_numpy()
    ref = sm.GLM(y, sm.add_constant(x), family=sm.families.Binomial()).fit(tol=1e-12).fittedvalues
    np.testing.assert_allclose(as_probability(y, x), ref, rtol=1e-9)


def test_brute_force_net_benefit_with_harm() -> None:
    rng = np.random.default_rng(5)
    y = rng.binomial(1, 0.2, 120)
    p1 = np.clip(0.2 + 0.3 * (y - 0.2) + rng.normal(0, 0.15, 120), 0, 1)
    p2 = rng.uniform(size=120)
    t = np.array([0.0, 0.05, 0.1, 0.2, 0.5, 0.9])
    dc = decision_curve(y, {"m1": p1, "m2": p2}, t, harm={"m2": 0.01}, labels={"m1": "Model 1"})
    f = dc.to_frame()
    for name, p, h in [("m1", p1, 0.0), ("m2", p2, 0.01)]:
        sub = f[f["variable"] == name]
        for thr, nb, tp, fp in zip(t, sub["net_benefit"], sub["tp_rate"], sub["fp_rate"], strict=True):
            treated = p >= thr
            tp_b = np.sum(treated & (y == 1)) / 120
            fp_b = np.sum(treated & (y == 0)) / 120
            assert (tp, fp) == pytest.approx((tp_b, fp_b))
            assert nb == pytest.approx(tp_b - fp_b * thr / (1 - thr) - h)
    assert f.loc[f["variable"] == "m1", "label"].iloc[0] == "Model 1"
    both = decision_curve(y, {"m1": p1, "m2": p2}, t, harm=0.02).to_frame()
    assert (both.loc[both["variable"].isin(["m1", "m2"]), "harm"] == 0.02).all()
    assert (both.loc[both["variable"].isin(["all", "none"]), "harm"] == 0.0).all()
    np.testing.assert_allclose(dc.net_benefit("none"), 0.0)
    prev = y.mean()
    np.testing.assert_allclose(dc.net_benefit("all"), prev - (1 - prev) * t / (1 - t))
    av = dc.interventions_avoided()
    m1 = av[av["variable"] == "m1"]
    assert np.isnan(m1["net_intervention_avoided"].iloc[0])  # t = 0
    k = 3
    expected = (dc.net_benefit("m1")[k] - dc.net_benefit("all")[k]) / (t[k] / (1 - t[k])) * 100
    assert m1["net_intervention_avoided"].iloc[k] == pytest.approx(expected)
    assert "m1" in dc.summary() and "n=120" in dc.summary()
    ax = dc.plot()
    assert ax.get_ylabel() == "Net benefit"
    assert {ln.get_label() for ln in ax.get_lines()} == {"Treat All", "Treat None", "Model 1", "m2"}


def test_default_thresholds() -> None:
    assert DEFAULT_THRESHOLDS.size == 100
    assert DEFAULT_THRESHOLDS[0] == 0.0 and DEFAULT_THRESHOLDS[-1] == pytest.approx(0.99)


def test_errors() -> None:
    y = np.array([0, 1, 0, 1])
    p = np.array([0.1, 0.8, 0.3, 0.6])
    with pytest.raises(ValueError, match="'predictions' parameter of decision_curve"):
        decision_curve(y, {})
    with pytest.raises(ValueError, match="reserved"):
        decision_curve(y, {"all": p})
    with pytest.raises(ValueError, match="'thresholds' parameter of decision_curve"):
        decision_curve(y, {"m": p}, thresholds=[0.1, 1.0])
    with pytest.raises(ValueError, match="harm given for unknown model"):
        decision_curve(y, {"m": p}, harm={"x": 0.1})
    with pytest.raises(DataError, match="harm is not finite"):
        decision_curve(y, {"m": p}, harm={"m": float("nan")})
    with pytest.raises(DataError, match=r"outside \[0, 1\]"):
        decision_curve(y, {"m": p * 2})
    dc = decision_curve(y, {"m": p})
    with pytest.raises(KeyError, match="unknown strategy"):
        dc.net_benefit("x")
