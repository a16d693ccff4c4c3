"""univariable_table: ORs, Wald and profile-likelihood CIs against R glm / confint (MASS)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from crsscore.errors import ModelError
from crsscore.modeling.univariable import univariable_table


def test_matches_r_confint(cohort: pd.DataFrame, read_r: Callable[[str], pd.DataFrame]) -> None:
    ref = read_r("glm_univariable_confint.csv").set_index("variable")
    tab = univariable_table(cohort, "y", ["x1", "x2", "x5", "crp"], {"crp": "log10"}).set_index("variable")
    ref.index = ["x1", "x2", "x5", "crp"]
    np.testing.assert_allclose(tab["coef"], ref["coef"], atol=1e-6)
    np.testing.assert_allclose(tab["se"], ref["se"], atol=1e-6)
    # R's profile() interpolates the signed root deviance with a spline: agree to ~1e-4.
    np.testing.assert_allclose(np.log(tab["OR lower 95% (profile)"]), ref["lower"], atol=2e-4)
    np.testing.assert_allclose(np.log(tab["OR upper 95% (profile)"]), ref["upper"], atol=2e-4)
    assert list(tab["transform"]) == ["none", "none", "none", "log10"]
    assert (tab["n"] == 125).all() and (tab["events"] == 24).all()
    for v in ["x1", "x2", "x5"]:
        assert tab.loc[v, "AUC"] == pytest.approx(roc_auc_score(cohort["y"], cohort[v]))


def test_missing_values_counted_and_skewed_default(cohort: pd.DataFrame) -> None:
    frame = cohort.copy()
    frame.loc[:9, "crp"] = np.nan
    frame["x1_scaled"] = frame["x1"] * 10
    tab = univariable_table(frame, "y", ["crp", "x1_scaled"], {"x1_scaled": 10}).set_index("variable")
    assert tab.loc["crp", "transform"] == "log10"  # crp is a skewed analyte: log10 by default
    assert tab.loc["crp", "n"] == 115 and tab.loc["crp", "n_missing"] == 10
    assert tab.loc["x1_scaled", "transform"] == "per 10 units"
    x1 = univariable_table(cohort, "y", ["x1"]).iloc[0]
    assert tab.loc["x1_scaled", "OR"] == pytest.approx(x1["OR"])


def test_separated_candidate_is_flagged(read_r: Callable[[str], pd.DataFrame]) -> None:
    sep = read_r("separated.csv")
    tab = univariable_table(sep, "y", ["a", "b"], {})
    assert tab.loc[0, "note"].startswith("separation")
    assert np.isnan(tab.loc[0, "OR lower 95% (profile)"])
    assert tab.loc[1, "note"] == ""


@pytest.mark.parametrize(
    ("frame", "transforms", "match"),
    [
        (pd.DataFrame({"y": [0, 1, 0, 1], "v": [0.0, 1, 2, 3]}), {"v": "log10"}, "'v': log10 transform needs positive"),
        (pd.DataFrame({"y": [0, 1, 0, 1], "v": [1.0, 1, 2, 3]}), {"v": "sqrt"}, "unknown transform 'sqrt'"),
        (pd.DataFrame({"y": [0, 1, 0, 1], "v": [1.0, 1, 2, 3]}), {"v": 0}, "scaling unit must be a non-zero"),
        (pd.DataFrame({"y": [0, 1, 0, 1], "v": ["a", "b", "a", "b"]}), {}, "'v': 4 value.*not numbers"),
        (pd.DataFrame({"y": [0, 1, 0, 1]}), {}, r"not in the data: v"),
    ],
)
def test_errors(frame: pd.DataFrame, transforms: dict[str, object], match: str) -> None:
    with pytest.raises(ModelError, match=match):
        univariable_table(frame, "y", ["v"], transforms)  # type: ignore[arg-type]
