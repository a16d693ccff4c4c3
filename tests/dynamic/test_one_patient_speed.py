"""Issue 17 (one-patient scoring): the design matrix read as one float block gives what
reading each predictor column gave, whatever the columns' types; person-days of one patient
are those of the same patient in the cohort; the monitor's risk step, scored from the
person-day columns without their frame, gives the frame-built risks exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crsscore.data.cohort import Cohort
from crsscore.errors import ScoreCardError
from crsscore.grading import grade_cohort
from crsscore.modeling.dynamic import DynamicModel
from crsscore.modeling.persondays import (
    PersonDays,
    _Lookup,
    build_person_days,
    person_day_columns,
)
from crsscore.monitor.risk import RISK_COLUMNS, DynamicCardRisk
from crsscore.scores.dynamic_card import DynamicScoreCard, design_matrix


def _per_column(frame: pd.DataFrame, card: object) -> np.ndarray:
    """The design matrix as each predictor's own ``values`` reads it (the reference)."""
    from crsscore.splines import rcs_basis

    day = pd.to_numeric(frame["day"], errors="coerce").to_numpy(dtype=np.float64)
    cols = [rcs_basis(day, card.spline.knots, inclx=True)]  # type: ignore[attr-defined]
    cols += [p.values(frame)[:, None] for p in card.predictors]  # type: ignore[attr-defined]
    return np.hstack(cols)


def test_design_matrix_block_equals_per_column(model: DynamicModel, pdays: PersonDays) -> None:
    card = model.to_card()
    frame = pdays.data
    np.testing.assert_array_equal(design_matrix(frame, card.spline, card.predictors),
                                  _per_column(frame, card))
    # columns of other types (nullable, text, float32) go through the per-column reading
    mixed = frame.copy()
    mixed["crs_grade"] = mixed["crs_grade"].astype("Int64")
    mixed["crp"] = mixed["crp"].astype(object).where(mixed["crp"].notna(), "n/a")
    mixed["temp"] = mixed["temp"].astype(np.float32)
    np.testing.assert_array_equal(design_matrix(mixed, card.spline, card.predictors),
                                  _per_column(mixed, card))
    assert not np.array_equal(design_matrix(mixed, card.spline, card.predictors),
                              design_matrix(frame, card.spline, card.predictors))
    pd.testing.assert_frame_equal(card.predict(frame.iloc[::-1]),
                                  card.predict(frame).iloc[::-1], check_exact=True)


def test_design_matrix_errors_keep_their_order(model: DynamicModel, pdays: PersonDays) -> None:
    card = model.to_card()
    frame = pdays.data.head(5).copy()
    frame.loc[frame.index[0], "day"] = np.nan
    with pytest.raises(ScoreCardError, match="missing days"):
        design_matrix(frame.drop(columns=["crp"]), card.spline, card.predictors)
    with pytest.raises(ScoreCardError, match="no column 'crp'"):
        design_matrix(pdays.data.drop(columns=["crp"]), card.spline, card.predictors)


@pytest.mark.parametrize("ids", [["P1"], ["P1", "P2", "P3"]])
@pytest.mark.parametrize("dtype", ["str", "string", object])
def test_lookup_is_get_indexer(ids: list[str], dtype: object) -> None:
    pids = pd.Index(pd.Series(ids).astype("str"))
    rows = pd.Series(["P1", "P2", None, "P3", "P9", "P1"], dtype=dtype)
    np.testing.assert_array_equal(_Lookup(pids).positions(rows),
                                  pids.get_indexer(pd.Index(rows.astype("str"))))


def test_lookup_refuses_duplicate_ids_as_pandas_does() -> None:
    pids = pd.Index(pd.Series(["P1", "P1"]).astype("str"))
    with pytest.raises(Exception) as exc:
        pids.get_indexer(pd.Index(pd.Series(["P1"]).astype("str")))
    with pytest.raises(type(exc.value)):
        _Lookup(pids).positions(pd.Series(["P1"], dtype="str"))


def test_one_patient_person_days_as_in_the_cohort(cohort: Cohort) -> None:
    whole = build_person_days(cohort).data
    for pid in cohort.patients["patient_id"].astype(str).tolist()[::20]:
        def rows(frame: pd.DataFrame, pid: str = pid) -> pd.DataFrame:
            return frame[frame["patient_id"].astype(str) == pid].reset_index(drop=True)
        one = Cohort(patients=rows(cohort.patients), observations=rows(cohort.observations),
                     events=rows(cohort.events), synthetic=True)
        alone = build_person_days(one, grade_cohort(one)).data
        part = whole[whole["patient_id"] == pid].reset_index(drop=True)
        pd.testing.assert_frame_equal(alone, part, check_exact=True)


def _risk_of_frames(card: DynamicScoreCard, cohort: Cohort, daily: pd.DataFrame) -> pd.DataFrame:
    """The risk frame as build_person_days' frame and ``card.predict`` give it (the
    reference), one frame per horizon, concatenated."""
    lo, hi = card.day_range
    frame = build_person_days(cohort, daily, horizons=card.horizons, analytes=card.analytes,
                              window=card.window_days, first_day=int(lo),
                              last_day=int(hi)).data
    if len(frame) == 0:
        return pd.DataFrame({c: [] for c in RISK_COLUMNS})
    pred = card.predict(frame)
    parts = [pd.DataFrame({"patient_id": frame["patient_id"],
                           "day": frame["day"].astype(np.int64), "horizon": np.int64(h),
                           "risk": pred[f"risk_h{h}"],
                           "outside_day_range": pred["outside_day_range"]})
             for h in card.horizons]
    return pd.concat(parts, ignore_index=True)[list(RISK_COLUMNS)]


def test_risk_step_equals_the_person_day_frame_and_predict(cohort: Cohort,
                                                           model: DynamicModel) -> None:
    card = model.to_card()
    risk = DynamicCardRisk(card, 0.2)
    daily = grade_cohort(cohort).daily
    ids = cohort.patients["patient_id"].astype(str).tolist()
    for pid in [None, *ids[::25]]:
        if pid is None:
            one = cohort
        else:
            def rows(frame: pd.DataFrame, pid: str = pid) -> pd.DataFrame:
                return frame[frame["patient_id"].astype(str) == pid].reset_index(drop=True)
            one = Cohort(patients=rows(cohort.patients), observations=rows(cohort.observations),
                         events=rows(cohort.events), synthetic=True)
        g = daily if pid is None else grade_cohort(one).daily
        got = risk.score(one, g)
        pd.testing.assert_frame_equal(got, _risk_of_frames(card, one, g), check_exact=True)
        assert got.columns.tolist() == list(RISK_COLUMNS)
    # no gradable day: no person-days, an empty risk frame of the same columns
    empty = risk.score(cohort, daily.iloc[:0])
    assert empty.columns.tolist() == list(RISK_COLUMNS) and len(empty) == 0


def test_predict_arrays_of_columns_is_predict_of_the_frame(cohort: Cohort,
                                                           model: DynamicModel) -> None:
    card = model.to_card()
    cols = person_day_columns(cohort, horizons=card.horizons, analytes=card.analytes,
                              window=card.window_days)
    frame = cols.frame()
    pd.testing.assert_frame_equal(frame, build_person_days(cohort).data, check_exact=True)
    arrays = card.predict_arrays(cols.columns, [2, 1])
    pred = card.predict(frame, [2, 1])
    assert list(arrays) == pred.columns.tolist() == ["risk_h2", "risk_h1", "outside_day_range"]
    for name, values in arrays.items():
        np.testing.assert_array_equal(values, pred[name].to_numpy())
    with pytest.raises(ScoreCardError, match="no column 'crp'"):
        card.predict_arrays({k: v for k, v in cols.columns.items() if k != "crp"})
    with pytest.raises(ScoreCardError, match="missing days"):
        card.predict_arrays({**cols.columns, "day": np.full(len(cols), np.nan)})
