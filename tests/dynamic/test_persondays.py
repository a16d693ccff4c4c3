"""Person-day table: no look-ahead, and censoring handled explicitly (issue 16.1, 16.2)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crsscore.data.cohort import Cohort
from crsscore.modeling.dynamic import DynamicModel
from crsscore.modeling.persondays import CENSORING_METHOD, PersonDays, build_person_days


def _truncate(cohort: Cohort, t: int) -> Cohort:
    """The cohort as it stood at the end of day t: nothing observed on day t + 1 or later."""
    obs = cohort.observations
    ev = cohort.events
    return Cohort(patients=cohort.patients.copy(),
                  observations=obs[pd.to_numeric(obs["day"]) < t + 1].reset_index(drop=True),
                  events=ev[pd.to_numeric(ev["day"]) < t + 1].reset_index(drop=True),
                  synthetic=cohort.synthetic)


@pytest.mark.parametrize("t", [0, 2, 4, 6, 9])
def test_no_look_ahead_truncating_the_cohort_at_t_leaves_row_t_unchanged(
        cohort: Cohort, pdays: PersonDays, model: DynamicModel, t: int) -> None:
    cut = build_person_days(_truncate(cohort, t))
    cols = pdays.predictor_columns
    full = pdays.data[pdays.data["day"] == t].set_index("patient_id")[cols]
    trunc = cut.data[cut.data["day"] == t].set_index("patient_id")[cols]
    common = full.index.intersection(trunc.index)
    # a patient followed on day t keeps a row at t in the truncated data (only a day-t
    # without any gradable grade can make it disappear: follow-up is then unknown)
    assert len(common) >= 0.95 * len(full)
    assert set(trunc.index) <= set(full.index)
    pd.testing.assert_frame_equal(full.loc[common], trunc.loc[common], check_exact=True)
    # and the truncated data have no row after t
    assert cut.data["day"].max() <= t
    # so a replay fed day by day gives the risks of the one-pass scoring
    full_rows = pdays.data[pdays.data["day"] == t].set_index("patient_id").loc[common]
    trunc_rows = cut.data[cut.data["day"] == t].set_index("patient_id").loc[common]
    np.testing.assert_array_equal(model.predict(full_rows, 2), model.predict(trunc_rows, 2))


def test_rows_stop_at_severe_onset_and_analytes_use_the_window(pdays: PersonDays) -> None:
    d = pdays.data
    onset = d["severe_onset_day"]
    assert ((onset.isna()) | (d["day"] < onset)).all()
    assert d["crs_grade"].max() <= 2  # at risk: never already at grade >= 3
    # log10 changes are on the model scale
    assert np.nanmax(np.abs(d["crp_chg1"])) < 4


def _daily(rows: list[tuple[str, int, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["patient_id", "day", "crs_grade"]).assign(
        icans_grade=0)


def test_censored_days_are_removed_never_counted_as_non_events() -> None:
    """5 patients followed 10 days without CRS, 5 whose follow-up ends on day 2, 2 with
    severe onset on day 3.  At t = 1, h = 2 the risk is 2 / 7, not 2 / 12."""
    rows = []
    for i in range(5):
        rows += [(f"L{i}", d, 0) for d in range(11)]
    for i in range(5):
        rows += [(f"C{i}", d, 1) for d in range(3)]
    for i in range(2):
        rows += [(f"S{i}", d, g) for d, g in enumerate([0, 1, 2, 3])]
    daily = _daily(rows)
    patients = pd.DataFrame({"patient_id": sorted(daily["patient_id"].unique())})
    pdays = build_person_days(Cohort(patients=patients), daily, horizons=(1, 2, 3),
                              analytes=["crp"], last_day=5)
    at1 = pdays.data[pdays.data["day"] == 1].set_index("patient_id")
    y2 = at1["y_h2"]
    assert y2.notna().sum() == 7 and y2.isna().sum() == 5
    assert y2.isna()[[f"C{i}" for i in range(5)]].all()
    estimate = float(y2.dropna().mean())
    naive = float(y2.fillna(0).mean())  # censored counted as non-events: what must not happen
    assert estimate == pytest.approx(2 / 7)
    assert naive == pytest.approx(2 / 12) and naive != pytest.approx(estimate)
    known, y = pdays.outcome(2)
    assert int(y.sum()) == int(pdays.data.loc[known, "y_h2"].sum())
    counts = pdays.counts().set_index("horizon")
    assert counts.loc[2, "censored_removed"] > 0
    # a row at t = 1 for the censored patients exists (they were at risk) and horizon 1
    # still knows their outcome (followed to day 2)
    assert at1.loc["C0", "y_h1"] == 0
    assert pdays.censoring == CENSORING_METHOD
    assert "never counted as non-events" in pdays.to_dict()["censoring"]


def test_recorded_grades_only_cohort_gives_person_days() -> None:
    """A registry that records only daily grades, stopping at severe onset."""
    ev = pd.DataFrame({"patient_id": ["A"] * 4 + ["B"] * 6,
                       "day": [0, 1, 2, 3, 0, 1, 2, 3, 4, 5],
                       "event": "crs_grade_recorded",
                       "value": [0, 1, 2, 3, 0, 0, 1, 1, 0, 0], "unit": "", "detail": "astct"})
    c = Cohort(patients=pd.DataFrame({"patient_id": ["A", "B"]}), events=ev)
    pdays = build_person_days(c, analytes=["crp"], last_day=5)
    assert "recorded" in pdays.grade_source
    a = pdays.data[pdays.data["patient_id"] == "A"]
    assert list(a["day"]) == [0.0, 1.0, 2.0]
    assert list(a["y_h1"]) == [0, 0, 1]
    b = pdays.data[pdays.data["patient_id"] == "B"]
    assert b["y_h3"].isna().sum() == 3  # days 3, 4, 5: follow-up ends on day 5
