"""Concordance between grading systems: cross-tabulation, agreement, weighted kappa."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from crsscore.data.cohort import Cohort
from crsscore.grading import compare_systems, concordance


def _pairwise_weighted_kappa(a: list[int], b: list[int], power: int) -> float:
    """Textbook weighted kappa from observed and expected disagreement (slow, obvious)."""
    k = 6
    n = len(a)
    obs = np.zeros((k, k))
    for x, y in zip(a, b, strict=True):
        obs[x, y] += 1
    obs /= n
    exp = np.outer(obs.sum(axis=1), obs.sum(axis=0))
    w = np.array([[abs(i - j) ** power for j in range(k)] for i in range(k)], dtype=float)
    return float(1 - (w * obs).sum() / (w * exp).sum())


def test_table_agreement_and_kappa_against_references() -> None:
    a = [0, 1, 1, 2, 3, 3, 4, 5, 2, 1]
    b = [0, 1, 2, 2, 3, 4, 4, 5, 1, 1]
    c = concordance(a, b, system_a="astct", system_b="lee2014")
    assert c.n == 10 and c.n_excluded == 0
    assert c.exact_agreement == pytest.approx(0.7)
    assert c.presence_agreement == pytest.approx(1.0)
    assert c.severe_agreement == pytest.approx(1.0)
    assert c.kappa_linear == pytest.approx(cohen_kappa_score(a, b, labels=list(range(6)),
                                                             weights="linear"))
    assert c.kappa_linear == pytest.approx(_pairwise_weighted_kappa(a, b, 1))
    assert c.kappa_quadratic == pytest.approx(_pairwise_weighted_kappa(a, b, 2))
    assert c.table.loc[1, 2] == 1 and c.table.loc[2, 1] == 1 and int(c.table.to_numpy().sum()) == 10
    assert c.table.index.name == "astct" and c.table.columns.name == "lee2014"
    d = c.to_dict()
    assert d["n"] == 10 and d["table"]["3"]["4"] == 1


def test_missing_grades_drop_the_pair() -> None:
    c = concordance([0, 1, None, 3, pd.NA], [0, 2, 2, np.nan, 1])
    assert c.n == 2 and c.n_excluded == 3
    assert c.exact_agreement == pytest.approx(0.5)


def test_empty_gives_nan_not_an_error() -> None:
    c = concordance([], [])
    assert c.n == 0 and np.isnan(c.exact_agreement) and np.isnan(c.kappa_linear)


@pytest.mark.parametrize(("a", "b", "match"), [
    ([0, 1], [0], "paired grades"),
    ([0, 7], [0, 1], "integers 0-5"),
    ([0, 1.5], [0, 1], "integers 0-5"),
    (["x", 1], [0, 1], "integers 0-5 or missing"),
])
def test_bad_grades_are_refused(a: list[object], b: list[object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        concordance(a, b)


def _raw_cohort() -> Cohort:
    pats = pd.DataFrame({"patient_id": ["A", "B", "C"]})
    obs = pd.DataFrame({"patient_id": ["A", "B", "C", "A"], "day": [1.0, 1.0, 1.0, 2.0],
                        "analyte": "temp", "value": [38.5, 38.5, 37.0, 38.6], "unit": "C"})
    ev = pd.DataFrame({"patient_id": ["A", "B"], "day": [1.0, 2.0],
                       "event": ["oxygen", "oxygen"], "value": [2.0, None],
                       "unit": ["L/min", ""], "detail": ["nasal_cannula", "mechanical_ventilation"]})
    return Cohort(pats, obs, ev)


def test_compare_systems_regrades_the_same_raw_data() -> None:
    c = compare_systems(_raw_cohort(), "astct", "penn")
    # A: ASTCT 2 (low-flow O2) vs Penn 3 (any oxygen); B: day 2 no temperature -> ASTCT
    # not gradable, Penn 4 (ventilation, established CRS); C: 0 and 0.
    assert c.table.loc[2, 3] == 1 and c.table.loc[0, 0] == 1
    assert c.table.loc[1, 4] == 1  # B's max: ASTCT 1 (day 1), Penn 4 (day 2)
    assert c.n == 3 and c.exact_agreement == pytest.approx(1 / 3)
    days = compare_systems(_raw_cohort(), "astct", "penn", level="day")
    assert days.level == "day" and days.n_excluded == 1


def test_compare_systems_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="'level' parameter must be 'patient' or 'day'"):
        compare_systems(_raw_cohort(), "astct", "penn", level="week")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'system' parameter must be one of"):
        compare_systems(_raw_cohort(), "astct", "who")
