"""Simulator options for the dynamic model (issue 16.7)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from crsscore.data.simulate import DAILY_LAB_DAYS, DAILY_LABS, simulate, simulate_cohort
from crsscore.grading import grade_cohort


def test_daily_labs_only_add_rows_to_the_default_tables() -> None:
    a = simulate_cohort(60, seed=4)
    b = simulate_cohort(60, seed=4, daily_labs=True)
    pd.testing.assert_frame_equal(a.patients, b.patients)
    pd.testing.assert_frame_equal(a.events, b.events)
    m = b.observations.merge(a.observations, how="left", indicator=True)
    assert int((m["_merge"] == "both").sum()) == len(a.observations)
    extra = m[m["_merge"] == "left_only"]
    assert set(extra["analyte"]) == set(DAILY_LABS)
    assert set(np.round(extra["day"] - 0.3).astype(int)) <= set(DAILY_LAB_DAYS)  # ~day + 0.3


def test_daily_labs_rise_in_the_days_before_severe_onset() -> None:
    sim = simulate(1500, seed=7, daily_labs=True)
    obs = sim.cohort.observations
    truth = sim.truth.set_index("patient_id")
    il6 = obs[obs["analyte"] == "il6"].copy()
    il6["onset"] = il6["patient_id"].map(truth["crs_severe_onset_day"])
    il6["rel"] = np.floor(il6["day"]) - il6["onset"]
    il6["log"] = np.log10(il6["value"])
    before = il6[il6["rel"].isin([-3, -1])].pivot_table(index="patient_id", columns="rel",
                                                       values="log")
    rise = (before[-1] - before[-3]).dropna()
    assert len(rise) > 30 and rise.median() > 0.3
    # patients without severe CRS: no such rise over the same 2 days since infusion
    il6["d"] = np.floor(il6["day"])
    calm = il6[il6["onset"].isna() & il6["d"].isin([2, 4])].pivot_table(
        index="patient_id", columns="d", values="log")
    calm_rise = (calm[4] - calm[2]).dropna()
    assert rise.median() > calm_rise.median() + 0.2


def test_recorded_series_can_stop_at_severe_onset() -> None:
    c = simulate_cohort(400, seed=2, recorded_series_rate=1.0, recorded_stop_at_severe=0.5,
                        record_grades=False)
    ev = c.events[c.events["event"] == "crs_grade_recorded"]
    last = ev.groupby("patient_id")["day"].max()
    g = grade_cohort(c).outcomes.set_index("patient_id")
    severe = g[g["severe_crs"] == 1]
    stopped = np.floor(last.reindex(severe.index)) == severe["crs_severe_onset_day"]
    assert 0.2 < stopped.mean() < 0.8
    # recorded daily grades agree with the derived ones
    rec_max = ev.groupby("patient_id")["value"].max()
    assert (rec_max.reindex(severe.index) >= 3).all()
