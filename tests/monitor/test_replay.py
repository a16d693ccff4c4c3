"""Acceptance: the simulated cohort replayed through the monitor gives the same grades and
risks as the batch path (``grade_cohort`` and ``crsscore monitor replay``'s
:func:`crsscore.validation.dynamic.replay`) for every patient-day.

Over HTTP, day by day (observations, then events, each day a request) for a few patients
with and without severe CRS on SQLite and PostgreSQL; all 125 patients through
``crsscore monitor import``'s path (the same :meth:`Monitor.store`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from monitor_support import Ward, ward_day_by_day

THRESHOLD = 0.2


def batch(cohort: Any, card: Any, pids: list[str] | None = None
          ) -> tuple[pd.DataFrame, dict[int, pd.DataFrame]]:
    """The batch path: daily ASTCT grades, and the replay trajectories per horizon."""
    from crsscore.data.cohort import Cohort
    from crsscore.grading import grade_cohort
    from crsscore.modeling.persondays import build_person_days
    from crsscore.validation.dynamic import replay

    if pids is not None:
        keep = cohort.patients["patient_id"].isin(pids)
        cohort = Cohort(patients=cohort.patients[keep].reset_index(drop=True),
                        observations=cohort.observations[
                            cohort.observations["patient_id"].isin(pids)],
                        events=cohort.events[cohort.events["patient_id"].isin(pids)],
                        synthetic=cohort.synthetic)
    grading = grade_cohort(cohort)
    lo, hi = card.day_range
    pdays = build_person_days(cohort, grading, horizons=card.horizons, analytes=card.analytes,
                              window=card.window_days, first_day=lo, last_day=hi)
    traj = {h: replay(card, pdays, threshold=THRESHOLD, horizon=h).trajectories
            for h in card.horizons}
    return grading.daily, traj


def monitor_state(w: Ward) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    from sqlalchemy import select

    from crsscore.monitor.db import Alert, DailyGrade, Patient, Risk

    with w.db.read() as s:
        g = pd.DataFrame(s.execute(select(Patient.patient_id, DailyGrade.day,
                                          DailyGrade.crs_grade, DailyGrade.icans_grade)
                                   .join(Patient, Patient.id == DailyGrade.patient_pk)).all(),
                         columns=["patient_id", "day", "crs_grade", "icans_grade"])
        r = pd.DataFrame(s.execute(select(Patient.patient_id, Risk.day, Risk.horizon, Risk.risk)
                                   .join(Patient, Patient.id == Risk.patient_pk)).all(),
                         columns=["patient_id", "day", "horizon", "risk"])
        a = pd.DataFrame(s.execute(select(Patient.patient_id, Alert.kind, Alert.day)
                                   .join(Patient, Patient.id == Alert.patient_pk)).all(),
                         columns=["patient_id", "kind", "day"])
    return g, r, a


def assert_same(w: Ward, daily: pd.DataFrame, traj: dict[int, pd.DataFrame], *,
                alerts: bool = True) -> int:
    """Grades and risks equal; with ``alerts``, the first risk alert on the batch replay's
    first alert day (only for a whole import: a day posted in parts may cross the threshold
    with part of its results, and that alert, raised at the time, stays)."""
    g, r, a = monitor_state(w)

    def key(frame: pd.DataFrame) -> pd.DataFrame:
        out = pd.DataFrame({"patient_id": frame["patient_id"].astype(str),
                            "day": frame["day"].astype(int),
                            "crs": frame["crs_grade"].astype("Int64").astype(object),
                            "icans": frame["icans_grade"].astype("Int64").astype(object)})
        out = out.where(out.notna(), None)
        return out.sort_values(["patient_id", "day"]).reset_index(drop=True)

    got, want = key(g), key(daily)
    assert len(got) == len(want)
    assert got.equals(want)
    n = 0
    for h, t in traj.items():
        mine = r[r["horizon"] == h].assign(day=lambda f: f["day"].astype(float))
        both = t.merge(mine, on=["patient_id", "day"], how="outer", indicator=True,
                       suffixes=("_batch", "_monitor"))
        assert (both["_merge"] == "both").all(), both[both["_merge"] != "both"].head()
        np.testing.assert_allclose(both["risk_monitor"], both["risk_batch"], rtol=1e-10,
                                   atol=1e-12)
        n += len(both)
        if not alerts:
            continue
        first = t[t["alert"]].groupby("patient_id")["day"].min()
        mine_a = a[a["kind"] == f"risk_h{h}"].groupby("patient_id")["day"].min()
        assert set(mine_a.index) == set(first.index)
        assert (mine_a.reindex(first.index).to_numpy() == first.to_numpy()).all()
    return n


@pytest.mark.slow
def test_http_replay_equals_batch(db_url: str, sim_cohort: Any, dyn_card: Any) -> None:
    from crsscore.grading import grade_cohort
    from crsscore.monitor.risk import DynamicCardRisk

    out = grade_cohort(sim_cohort).outcomes
    severe = out.loc[out["severe_crs"] == 1, "patient_id"].astype(str).tolist()[:2]
    mild = out.loc[out["severe_crs"] == 0, "patient_id"].astype(str).tolist()[:2]
    pids = severe + mild
    w = Ward(db_url, DynamicCardRisk(dyn_card, THRESHOLD))
    try:
        n_requests = ward_day_by_day(w, sim_cohort, pids)
        daily, traj = batch(sim_cohort, dyn_card, pids)
        n = assert_same(w, daily, traj, alerts=False)
    finally:
        w.close()
    print(f"{len(pids)} patients, {n_requests} requests, {n} patient-day risks equal")
    assert n > 50


def test_import_of_the_whole_cohort_equals_batch(sqlite_url: str, sim_dir: Any,
                                                 sim_cohort: Any, dyn_card: Any) -> None:
    from crsscore.data.check import validate_tables
    from crsscore.data.tables import read_cohort_tables
    from crsscore.monitor.risk import DynamicCardRisk

    w = Ward(sqlite_url, DynamicCardRisk(dyn_card, THRESHOLD))
    try:
        loaded = read_cohort_tables(sim_dir)
        validate_tables(loaded)
        res = w.monitor.ingest_loaded(loaded, actor="test", action="import")
        assert res.patients_created == 125
        daily, traj = batch(sim_cohort, dyn_card)
        n = assert_same(w, daily, traj)
        # importing the same files again changes nothing
        again = w.monitor.ingest_loaded(loaded, actor="test", action="import")
        assert again.inserted == again.updated == 0 and again.alerts == []
    finally:
        w.close()
    assert n > 3000
