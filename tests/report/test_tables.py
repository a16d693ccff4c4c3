"""Report tables and formatting: pure functions, checked on small hand-made inputs."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from crsscore.report import tables as T
from crsscore.report.build import HtmlTable


def _run(*, policy: str, n_prior: int, reasons: dict[str, int], n_cohort: int, n_analysed: int,
         events: int, graded: int) -> SimpleNamespace:
    frame = pd.DataFrame({"severe_crs": [1.0] * 4 + [0.0] * (graded - 4) + [np.nan] * (n_cohort - graded)})
    lt = SimpleNamespace(policy=policy, n_prior_outcome=n_prior, landmark_day=7.0,
                         reasons=lambda: dict(reasons))
    return SimpleNamespace(landmark=lt, outcomes=SimpleNamespace(frame=frame),
                           n_patients_cohort=n_cohort, n_analysed=n_analysed, events=events)


def test_flow_counts_each_exclusion_reason_and_adds_up() -> None:
    run = _run(policy="exclude", n_prior=6, n_cohort=50, n_analysed=40, events=3, graded=48,
               reasons={"no_outcome": 2, "outcome_before_landmark": 6, "died_before_landmark": 2})
    flow = T.flow_table(run).set_index("step")
    assert flow.loc["patients in cohort", "n"] == 50
    assert flow.loc["excluded: no outcome information", "n"] == 2
    assert flow.loc["with an outcome", "n"] == 48
    assert flow.loc["excluded: severe CRS began before the landmark", "n"] == 6
    assert flow.loc["excluded: died before the landmark", "n"] == 2
    assert flow.loc["analysed", "n"] == 40 and flow.loc["analysed", "events"] == 3
    assert "excluded: other reasons" not in flow.index


def test_flow_with_kept_prior_outcomes_and_an_unexplained_gap() -> None:
    run = _run(policy="keep", n_prior=5, n_cohort=30, n_analysed=27, events=9, graded=30, reasons={})
    flow = T.flow_table(run).set_index("step")
    row = flow.loc["excluded: severe CRS began before the landmark"]
    assert row["n"] == 0 and "5 such patients kept and flagged" in row["note"]
    assert flow.loc["excluded: other reasons", "n"] == 3  # 30 - 0 - 27, never hidden


@pytest.mark.parametrize(("value", "digits", "text"), [
    (0.123456, 3, "0.123"), (2, 3, "2"), (np.int64(7), 3, "7"), (float("nan"), 3, ""),
    (None, 3, ""), (True, 3, "yes"), (math.inf, 3, "∞"), ("a<b", 3, "a<b"), (1.5, 1, "1.5"),
])
def test_fmt(value: object, digits: int, text: str) -> None:
    assert T.fmt(value, digits) == text


def test_fmt_p() -> None:
    assert T.fmt_p(0.0004) == "<0.001"
    assert T.fmt_p(0.0312) == "0.031"
    assert T.fmt_p(float("nan")) == ""
    assert T.fmt_p("0.03 (exact)") == "0.03 (exact)"


def test_html_table_formats_by_column_kind() -> None:
    frame = pd.DataFrame({"n": [12.0], "p": [0.00001], "missing %": [12.345], "AUC 2.5%": [0.61234],
                          "name": ["x"]})
    t = HtmlTable("t", "caption", frame, digits={"AUC 2.5%": 4})
    assert t.rows == [["12", "<0.001", "12.3", "0.6123", "x"]]
    assert t.numeric == [True, True, True, True, False]
    shown = HtmlTable("t", "c", frame, display=frame[["name"]])
    assert shown.columns == ["name"] and shown.csv_name == "t.csv"


def test_tripod_table_covers_the_checklist_and_says_what_software_cannot_fill() -> None:
    tab = T.tripod_table()
    items = set(tab["item"])
    for must in ("5a", "6b", "8a", "9b", "10", "11", "12b", "12c", "12e", "20a", "20b", "21", "22",
                 "23a", "26"):
        assert must in items and tab.loc[tab["item"] == must, "section"].iloc[0] != ""
    unfilled = tab[tab["section"] == ""]
    assert {"1", "2", "17", "19", "25"} <= set(unfilled["item"])
    assert (unfilled["filled"] == "no (software cannot)").all()


def test_tripod_subgroup_items_point_to_performance_only_when_computed() -> None:
    plain = T.tripod_table().set_index("item")
    assert plain.loc["23b", "section"] == "" and plain.loc["12d", "section"] == ""
    split = T.tripod_table(subgroups=("centre", "sex")).set_index("item")
    assert split.loc["23b", "section"] == "performance" and "centre, sex" in str(split.loc["23b", "note"])
    assert split.loc["12d", "section"] == "performance"
    only_sex = T.tripod_table(subgroups=("sex",)).set_index("item")
    assert only_sex.loc["12d", "section"] == ""


def test_subgroup_table_splits_only_columns_with_two_levels() -> None:
    data = pd.DataFrame({"centre": ["A"] * 6, "sex": ["F", "F", "F", "M", "M", "M"]})
    aset = T.AnalysisSet(data=data, y=np.array([0, 1, 0, 1, 1, 1]),
                         total=np.array([1.0, 3.0, 0.0, 2.0, np.nan, 1.0]),
                         p_points=np.zeros(6), p_continuous=np.zeros(6), prior_outcome=np.zeros(6, bool))
    tab = T.subgroup_table(aset)
    assert tab is not None and list(tab["level"]) == ["F", "M"]
    f = tab.iloc[0]
    assert (f["n"], f["events"], f["AUC"]) == (3, 1, 1.0)
    m = tab.iloc[1]
    assert (m["n"], m["events"]) == (2, 2) and math.isnan(m["AUC"]) and "one outcome class" in m["note"]
    assert T.subgroup_table(aset, by=("centre",)) is None


def test_wide_risk_table_keeps_every_total_in_order() -> None:
    from crsscore.report.build import wide_risk_table

    risk = pd.DataFrame({"total": np.arange(61.0), "probability": np.linspace(0.01, 0.9, 61)})
    wide = wide_risk_table(risk, max_rows=25)
    assert len(wide) == 21 and list(wide.columns[:2]) == ["total (1)", "risk % (1)"]
    back = pd.concat([wide.iloc[:, [j, j + 1]].set_axis(["t", "r"], axis=1)
                      for j in range(0, wide.shape[1], 2)]).dropna()
    assert back["t"].tolist() == list(range(61))
    np.testing.assert_allclose(back["r"], 100 * risk["probability"])
    short = wide_risk_table(risk.head(5))
    assert list(short.columns) == ["total", "risk %"] and len(short) == 5
