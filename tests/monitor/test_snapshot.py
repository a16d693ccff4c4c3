"""Grading from a read snapshot outside the write transaction (issue 17's concurrency):
a request whose snapshot went stale before its write is done again, so the stored grades,
risks, alerts and rows are those of the serial path; two database handles on one SQLite file
(as two ``monitor serve`` worker processes) writing the same patients at once end where the
same requests one after the other end."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pandas as pd

PID = "SIM0002"


def _obs_rows(cohort: Any, pid: str, keep: Any) -> list[dict[str, Any]]:
    o = cohort.observations
    o = o[(o["patient_id"] == pid)]
    o = o[[bool(keep(math.floor(d), a)) for d, a in zip(o["day"], o["analyte"], strict=True)]]
    return [{"patient_id": pid, "day": float(x.day), "analyte": str(x.analyte),
             "value": float(x.value), "unit": str(x.unit)} for x in o.itertuples()]


def _patient(cohort: Any, pid: str) -> list[dict[str, Any]]:
    from crsscore.monitor.ingest import _jsonable

    rec = cohort.patients[cohort.patients["patient_id"] == pid].to_dict(orient="records")[0]
    return [{k: _jsonable(v) for k, v in rec.items() if _jsonable(v) is not None}]


def _state(db: Any) -> dict[str, pd.DataFrame]:
    """Every stored table that a request writes, without ids and time stamps."""
    from sqlalchemy import text

    out = {}
    with db.read() as s:
        for name, cols in (
                ("obs", "p.patient_id, o.day, o.analyte, o.value, o.unit, o.orig_value, "
                        "o.orig_unit FROM mon_observations o"),
                ("grades", "p.patient_id, g.day, g.crs_grade, g.icans_grade, g.crs_reason, "
                           "g.icans_reason, g.crs_source FROM mon_daily_grades g"),
                ("risks", "p.patient_id, r.day, r.horizon, r.risk, r.outside_day_range FROM "
                          "mon_risks r"),
                ("alerts", "p.patient_id, a.kind, a.day, a.value FROM mon_alerts a")):
            alias = cols.rsplit(" ", 1)[1]
            rows = s.execute(text(f"SELECT {cols} JOIN mon_patients p ON p.id = "
                                  f"{alias}.patient_pk")).all()
            frame = pd.DataFrame([tuple(r) for r in rows])
            out[name] = frame.sort_values(list(frame.columns)).reset_index(drop=True) if len(
                frame) else frame
    return out


def _assert_same_state(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> None:
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=True, obj=name)


def test_stale_snapshot_is_done_again(db_url: str, risk_model: Any, sim_cohort: Any,
                                      monkeypatch: Any) -> None:
    from crsscore.monitor.db import Database
    from crsscore.monitor.ingest import Monitor, canonical_tables, check_rows

    history = _obs_rows(sim_cohort, PID, lambda d, a: d < 5 and not (d == 3 and a == "crp"))
    late = _obs_rows(sim_cohort, PID, lambda d, a: d == 3 and a == "crp")
    day5 = _obs_rows(sim_cohort, PID, lambda d, a: d == 5)
    assert late and day5

    # the serial path: history, the late result, day 5
    serial = Database(db_url)
    try:
        m = Monitor(serial, risk_model)
        m.ingest_rows(patients=_patient(sim_cohort, PID), observations=history, actor="t",
                      action="t")
        m.ingest_rows(observations=late, actor="t", action="t")
        m.ingest_rows(observations=day5, actor="t", action="t")
        want = _state(serial)
    finally:
        serial.dispose()
    # wipe and again, with day 5 graded from a snapshot taken before the late result
    from sqlalchemy import text

    db = Database(db_url)
    try:
        with db.write() as s:
            for t in ("mon_alerts", "mon_risks", "mon_daily_grades", "mon_observations",
                      "mon_events", "mon_patients"):
                s.execute(text(f"DELETE FROM {t}"))
        m = Monitor(db, risk_model)
        m.ingest_rows(patients=_patient(sim_cohort, PID), observations=history, actor="t",
                      action="t")
        with db.read() as s:
            stale = m._read(s, (PID,), lock=False)
        m.ingest_rows(observations=late, actor="t", action="t")
        reads = []
        real_read = Monitor._read

        def counted(self: Monitor, *args: Any, **kw: Any) -> Any:
            reads.append(1)
            return real_read(self, *args, **kw)

        monkeypatch.setattr(Monitor, "_read", counted)
        loaded = check_rows((), day5, (), {PID})
        pats, obs, ev = canonical_tables(loaded, n_patients=0,
                                         orig_units=[r["unit"] for r in day5])
        res = m.store(pats, obs, ev, actor="t", action="t", source="api", n_rows=len(day5),
                      snapshot=stale)
        assert len(reads) == 1  # the stale snapshot was refused and read again
        assert res.inserted == len(day5) and res.patients_regraded == 1
        got = _state(db)
        # without the late CRP in the grading, day 3 on would be scored differently
        _assert_same_state(got, want)
        # a re-send changes nothing and raises nothing
        again = m.ingest_rows(observations=day5, actor="t", action="t")
        assert again.unchanged == len(day5) and not again.alerts
        _assert_same_state(_state(db), want)
    finally:
        db.dispose()


def test_two_handles_at_once_equal_one_after_the_other(sqlite_url: str, risk_model: Any,
                                                       sim_cohort: Any, tmp_path: Any) -> None:
    """Two Database handles on one SQLite file (two engines, as two worker processes) post
    the days of the same patients at once; grades and risks equal the serial path's."""
    from crsscore.monitor.db import Database
    from crsscore.monitor.ingest import Monitor

    pids = ["SIM0001", "SIM0002", "SIM0003"]
    reqs = [_obs_rows(sim_cohort, pid, lambda d, a, day=day: d == day)
            for day in range(0, 8) for pid in pids]
    reqs = [r for r in reqs if r]
    patients = [p for pid in pids for p in _patient(sim_cohort, pid)]

    serial = Database(f"sqlite:///{tmp_path / 'serial.db'}")
    try:
        m = Monitor(serial, risk_model)
        m.ingest_rows(patients=patients, actor="t", action="t")
        for rows in reqs:
            m.ingest_rows(observations=rows, actor="t", action="t")
        want = _state(serial)
    finally:
        serial.dispose()

    dbs = [Database(sqlite_url), Database(sqlite_url)]
    try:
        mons = [Monitor(d, risk_model) for d in dbs]
        mons[0].ingest_rows(patients=patients, actor="t", action="t")

        def post(k: int) -> int:
            return mons[k % 2].ingest_rows(observations=reqs[k], actor="t",
                                           action="t").inserted

        with ThreadPoolExecutor(max_workers=4) as pool:
            inserted = list(pool.map(post, range(len(reqs))))
        assert inserted == [len(r) for r in reqs]
        got = _state(dbs[0])
    finally:
        for d in dbs:
            d.dispose()
    for name in ("obs", "grades", "risks"):
        pd.testing.assert_frame_equal(got[name], want[name], check_exact=True, obj=name)
    # alerts depend on the order the days came in; each is raised once
    keys = got["alerts"].iloc[:, :3] if len(got["alerts"]) else got["alerts"]
    assert not keys.duplicated().any()
