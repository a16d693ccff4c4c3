"""Tests of the Binarizer (crsscore.modeling.binarize)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.pandas import column, data_frames
from sklearn.exceptions import NotFittedError

from crsscore.errors import DataError
from crsscore.modeling.binarize import Binarizer, nice_number


def _frame(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"crp": rng.lognormal(3, 1, n), "age": rng.uniform(1, 25, n),
                         "sex": rng.choice(["F", "M"], n), "prior": rng.integers(0, 2, n)})


@pytest.mark.parametrize(("x", "want"), [(47.3, 50.0), (0.137, 0.15), (12.0, 10.0), (0.0, 0.0),
                                         (-3.3, -3.0), (230.0, 250.0), (7.0, 7.5), (1e-3, 1e-3)])
def test_nice_number(x: float, want: float) -> None:
    assert nice_number(x) == pytest.approx(want)


def test_feature_kinds_names_and_groups() -> None:
    b = Binarizer(n_thresholds=3).fit(_frame())
    kinds = {f.variable: f.kind for f in b.features_}
    assert kinds == {"crp": "threshold", "age": "threshold", "sex": "category", "prior": "binary"}
    assert b.categories_ == {"sex": ["F", "M"]}
    assert len(b.groups_) == len(b.features_)
    assert b.get_feature_names_out().tolist() == [f.name for f in b.features_]
    for var, ths in b.thresholds_.items():
        assert ths == sorted(ths)
        assert all(nice_number(t) == t for t in ths)
        assert all(f"{var}>={t:g}" in b.get_feature_names_out() for t in ths)


def test_thresholds_learned_on_training_data_only() -> None:
    train = _frame(seed=1)
    test = _frame(seed=2).assign(crp=lambda d: d["crp"] * 10)  # shifted test distribution
    b = Binarizer(n_thresholds=3, rounding="none").fit(train)
    before = dict(b.thresholds_)
    Z = b.transform(test)
    assert b.thresholds_ == before
    want = np.quantile(train["crp"], [0.25, 0.5, 0.75])
    np.testing.assert_allclose(b.thresholds_["crp"], want)
    for t in want:
        np.testing.assert_array_equal(Z[f"crp>={t:g}"], (test["crp"] >= t).astype(float))
    refit = Binarizer(n_thresholds=3, rounding="none").fit(test)
    assert refit.thresholds_["crp"] != before["crp"]


def test_missing_zero_gives_all_zero_features() -> None:
    X = _frame()
    X.loc[[3, 7], "crp"] = np.nan
    X.loc[5, "sex"] = None
    b = Binarizer().fit(X)
    Z = b.transform(X)
    assert not Z.isna().any().any()
    crp_cols = [f.name for f in b.features_ if f.variable == "crp"]
    assert (Z.loc[[3, 7], crp_cols] == 0).all().all()
    assert (Z.loc[5, ["sex=F", "sex=M"]] == 0).all()


def test_missing_indicator() -> None:
    X = _frame()
    X.loc[[3, 7], "crp"] = np.nan
    b = Binarizer(missing="indicator").fit(X)
    Z = b.transform(X)
    assert Z["crp:missing"].tolist() == [1.0 if i in (3, 7) else 0.0 for i in range(len(X))]
    assert "age:missing" not in Z.columns  # no missing age in training
    feat = next(f for f in b.features_ if f.name == "crp:missing")
    assert feat.kind == "missing" and feat.group == "crp:missing"


def test_missing_error() -> None:
    X = _frame()
    X.loc[4, "age"] = np.nan
    with pytest.raises(DataError, match="row 4, column 'age': missing value"):
        Binarizer(missing="error").fit(X)
    b = Binarizer(missing="error").fit(_frame())
    with pytest.raises(DataError, match="row 4, column 'age'"):
        b.transform(X)


def test_unseen_category_scores_zero() -> None:
    b = Binarizer().fit(_frame())
    new = _frame(n=3).assign(sex=["X", "F", "M"])
    Z = b.transform(new)
    assert Z[["sex=F", "sex=M"]].to_numpy().tolist() == [[0, 0], [1, 0], [0, 1]]


def test_user_thresholds_and_min_count() -> None:
    X = _frame()
    b = Binarizer(thresholds={"crp": [100, 10, 10]}).fit(X)
    assert b.thresholds_["crp"] == [10.0, 100.0]
    b2 = Binarizer(n_thresholds=9, min_count=60, rounding="none").fit(X)
    for var, ths in b2.thresholds_.items():
        for t in ths:
            above = int((X[var] >= t).sum())
            assert above >= 60 and len(X) - above >= 60


def test_categorical_numeric_column_and_passthrough() -> None:
    X = pd.DataFrame({"grade": [1, 2, 3, 2, 1, 3] * 5, "flag": [True, False] * 15})
    b = Binarizer(categorical=["grade"], min_count=1).fit(X)
    assert b.categories_ == {"grade": ["1", "2", "3"]}
    Z = b.transform(X)
    assert Z["flag"].tolist() == [1.0, 0.0] * 15
    assert Z["grade=2"].tolist() == [float(v == 2) for v in X["grade"]]


def test_error_paths() -> None:
    X = _frame()
    with pytest.raises(NotFittedError, match="not fitted"):
        Binarizer().transform(X)
    with pytest.raises(ValueError, match="'n_thresholds' parameter of Binarizer"):
        Binarizer(n_thresholds=0).fit(X)
    with pytest.raises(ValueError, match="'missing' parameter of Binarizer"):
        Binarizer(missing="drop").fit(X)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'rounding' parameter"):
        Binarizer(rounding="up").fit(X)  # type: ignore[arg-type]
    with pytest.raises(DataError, match="column 'zz'"):
        Binarizer(thresholds={"zz": [1]}).fit(X)
    b = Binarizer().fit(X)
    with pytest.raises(DataError, match="column 'age': column missing"):
        b.transform(X.drop(columns="age"))
    bad = X.astype({"crp": object})
    bad.loc[2, "crp"] = "high"
    with pytest.raises(DataError, match="row 2, column 'crp': not a number"):
        b.transform(bad)


@settings(max_examples=40, deadline=None)
@given(data_frames([column("a", dtype=float), column("b", elements=st.sampled_from(["x", "y", None])),
                    column("c", elements=st.sampled_from([0.0, 1.0, np.nan]))]),
       st.integers(0, 50))
def test_fuzz_output_is_finite_binary(df: pd.DataFrame, seed: int) -> None:
    df = df.replace([np.inf, -np.inf], np.nan)
    b = Binarizer(min_count=1).fit(df)
    rng = np.random.default_rng(seed)
    new = df.sample(frac=1.0, replace=True, random_state=int(rng.integers(1 << 31))) if len(df) else df
    Z = b.transform(new)
    assert Z.shape == (len(new), len(b.features_))
    assert np.isin(Z.to_numpy(), (0.0, 1.0)).all()
