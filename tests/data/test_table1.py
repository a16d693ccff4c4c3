"""Tests of crsscore.data.table1."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from crsscore.data.table1 import table_one
from crsscore.errors import ModelError


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 80
    y = rng.integers(0, 2, n)
    return pd.DataFrame({"age": rng.normal(30, 10, n) + 5 * y, "crp": rng.lognormal(3, 1, n),
                         "sex": rng.choice(["F", "M"], n), "y": y})


def test_table_one_counts_medians_and_tests() -> None:
    df = _frame()
    df.loc[:4, "crp"] = np.nan
    t = table_one(df, "y", columns=["age", "crp", "sex"], categorical=["sex"])
    tab = t.to_frame()
    assert t.n == 80
    assert sum(t.groups.values()) == 80
    crp = tab[tab["variable"].str.startswith("crp")].iloc[0]
    assert int(crp["missing"]) == 5
    age = tab[tab["variable"].str.startswith("age")].iloc[0]
    med = df["age"].median()
    assert f"{med:.1f}" in age["overall"]
    # two-group Kruskal-Wallis p equals scipy's
    p = stats.kruskal(df.loc[df.y == 0, "age"], df.loc[df.y == 1, "age"]).pvalue
    assert float(age["p"].lstrip("<")) == pytest.approx(p, abs=0.0006)


def test_table_one_errors() -> None:
    df = _frame()
    with pytest.raises(ModelError, match="not in the data"):
        table_one(df, "y", columns=["nope"])
    df.loc[0, "y"] = np.nan
    with pytest.raises(ModelError, match="missing"):
        table_one(df, "y", columns=["age"])
