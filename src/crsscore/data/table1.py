"""Table 1: patient characteristics by outcome, built with the ``tableone`` package.

Continuous variables are shown as median [Q1, Q3] and compared with the Kruskal-Wallis test
(equal to the Wilcoxon rank-sum test for two groups); categorical variables as n (%) with the
chi-squared test, or Fisher's exact test when an expected count is below 5 (tableone's
rule).  The number missing is shown for every variable.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from crsscore.errors import ModelError


@dataclass(frozen=True)
class Table1:
    """A Table 1 with its source counts."""

    table: pd.DataFrame  # flat: variable, level, missing, overall, one column per group, p, test
    n: int
    groups: dict[str, int]
    outcome: str

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    def to_csv(self, path: str) -> None:
        self.table.to_csv(path, index=False)

    def _repr_html_(self) -> str:
        return str(self.table.to_html(index=False))


def table_one(frame: pd.DataFrame, outcome: str, *, columns: Sequence[str],
              categorical: Sequence[str] = (), labels: Mapping[str, str] | None = None,
              group_labels: Mapping[object, str] | None = None) -> Table1:
    """Build Table 1 of ``columns`` grouped by the 0/1 ``outcome`` column of ``frame``."""
    from tableone import TableOne

    missing = [c for c in [outcome, *columns] if c not in frame.columns]
    if missing:
        raise ModelError(f"Table 1: column(s) not in the data: {', '.join(missing)}")
    data = frame[[*columns, outcome]].copy()
    if data[outcome].isna().any():
        raise ModelError(f"Table 1: outcome '{outcome}' is missing for "
                         f"{int(data[outcome].isna().sum())} patient(s)")
    gl: dict[object, str] = dict(group_labels or {0: "no event", 1: "event"})
    data[outcome] = data[outcome].map(lambda v: gl.get(int(v), str(v)))
    cats = [c for c in categorical if c in columns]
    conts = [c for c in columns if c not in cats]
    for c in conts:
        data[c] = pd.to_numeric(data[c], errors="coerce")
    for c in cats:
        data[c] = data[c].astype("object").where(data[c].notna(), None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t1 = TableOne(data, columns=list(columns), categorical=cats, nonnormal=conts,
                      groupby=outcome, pval=True, htest_name=True,
                      rename=dict(labels or {}), missing=True, overall=True, decimals=1)
    raw = t1.tableone
    raw.columns = [c[1] if isinstance(c, tuple) else c for c in raw.columns]
    flat = raw.reset_index()
    flat.columns = ["variable", "level", *raw.columns]
    flat = flat.rename(columns={"Missing": "missing", "Overall": "overall", "P-Value": "p",
                                "Test": "test"})
    counts = {str(k): int(v) for k, v in data[outcome].value_counts().items()}
    return Table1(table=flat, n=len(data), groups=counts, outcome=outcome)
