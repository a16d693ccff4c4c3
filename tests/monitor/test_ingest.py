"""Ingestion through the API on SQLite and PostgreSQL: the loaders' units and ranges, one
transaction per request, natural keys, late results, grades and alerts."""

from __future__ import annotations

from typing import Any

import pytest
from monitor_support import Ward, ward_day_by_day

PAT = {"patient_id": "W001", "infusion_date": "2024-03-01", "costim": "CD28",
       "mrd_baseline_pct": 5.0, "age_years": 30}


def _obs(day: float, analyte: str, value: float, unit: str | None) -> dict[str, Any]:
    row: dict[str, Any] = {"day": day, "analyte": analyte, "value": value}
    if unit is not None:
        row["unit"] = unit
    return row


def test_migrations_create_every_table(ward: Ward) -> None:
    from sqlalchemy import inspect

    from crsscore.monitor.db import Base, upgrade

    names = set(inspect(ward.db.engine).get_table_names())
    assert set(Base.metadata.tables) <= names
    assert "alembic_version" in names
    upgrade(ward.db.engine)  # again: nothing to do, no error


def test_units_converted_original_kept_and_idempotent(ward: Ward) -> None:
    from sqlalchemy import select

    from crsscore.monitor.db import Observation

    assert ward.post("/api/v1/patients", {"patients": [PAT]}).status_code == 200
    body = {"observations": [_obs(1.25, "crp", 4.5, "mg/dL"), _obs(1.25, "temp", 101.3, "F"),
                             _obs(1.25, "plt", 60000, "cells/uL")]}
    r = ward.post("/api/v1/patients/W001/observations", body)
    assert r.status_code == 200, r.text
    assert r.json()["inserted"] == 3
    with ward.db.read() as s:
        rows = {o.analyte: o for o in s.scalars(select(Observation))}
    assert rows["crp"].value == pytest.approx(45.0) and rows["crp"].unit == "mg/L"
    assert rows["crp"].orig_value == 4.5 and rows["crp"].orig_unit == "mg/dL"
    assert rows["temp"].value == pytest.approx(38.5, abs=0.01) and rows["temp"].unit == "C"
    assert rows["plt"].value == pytest.approx(60.0)
    before = ward.counts()
    again = ward.post("/api/v1/patients/W001/observations", body).json()
    assert again["inserted"] == 0 and again["unchanged"] == 3 and again["updated"] == 0
    assert ward.counts() == before
    # the same key with another value is a correction, not a second row
    fixed = ward.post("/api/v1/patients/W001/observations",
                      {"observations": [_obs(1.25, "crp", 5.0, "mg/dL")]}).json()
    assert fixed["updated"] == 1 and ward.counts()["mon_observations"] == 3


@pytest.mark.parametrize(("row", "code", "column"), [
    (_obs(1.0, "crp", 2000.0, "mg/dL"), "out_of_range", "value"),
    (_obs(1.0, "crp", 20.0, "furlongs"), "unknown_unit", "unit"),
    (_obs(1.0, "ddimer", 2.0, "mg/L"), "ambiguous_unit", "unit"),
    (_obs(1.0, "crp", 20.0, None), "missing_unit", "unit"),
    (_obs(1.0, "unobtainium", 20.0, "mg/L"), "unknown_analyte", "analyte"),
    (_obs(99999.0, "crp", 20.0, "mg/L"), "day_out_of_range", "day"),
])
def test_bad_row_refuses_the_whole_request(ward: Ward, row: dict[str, Any], code: str,
                                           column: str) -> None:
    """The loaders' own located messages; nothing of the request is stored."""
    from crsscore.data.canonical import tables_from_cohort
    from crsscore.data.check import validate_tables
    from crsscore.data.cohort import Cohort

    ward.post("/api/v1/patients", {"patients": [PAT]})
    before = ward.counts()
    good = _obs(1.0, "il6", 50.0, "pg/mL")
    r = ward.post("/api/v1/patients/W001/observations", {"observations": [good, row]})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert ward.counts() == before
    # the same message as the loader gives for the same row in a file
    import pandas as pd

    frame = pd.DataFrame([{"patient_id": "W001", **good}, {"patient_id": "W001", **row}])
    if "unit" not in frame.columns:
        frame["unit"] = None
    loaded = tables_from_cohort(Cohort(patients=pd.DataFrame({"patient_id": ["W001"]}),
                                       observations=frame))
    validate_tables(loaded)
    expected = [p for p in loaded.collector.errors]
    assert expected, "the loader refuses the row too"
    assert {d["type"] for d in detail} == {p.code for p in expected}
    assert {d["msg"] for d in detail} == {p.message for p in expected}
    hit = [d for d in detail if d["type"] == code] or detail
    assert hit[0]["loc"][:3] == ["body", "observations", 1]
    assert code in {d["type"] for d in detail}
    assert hit[0]["loc"][-1] == column or column in str(hit[0]["loc"])


def test_unknown_patient_and_auth(ward: Ward) -> None:
    r = ward.post("/api/v1/patients/NOPE/observations",
                  {"observations": [_obs(1.0, "crp", 2.0, "mg/L")]})
    assert r.status_code == 404
    r = ward.client.post("/api/v1/patients", json={"patients": [PAT]})
    assert r.status_code == 401 and ward.counts()["mon_patients"] == 0
    r = ward.client.post("/api/v1/patients", json={"patients": [PAT]},
                         headers={"Authorization": "Bearer crsmon_not-a-token"})
    assert r.status_code == 401
    from crsscore.monitor.auth import revoke_token

    assert revoke_token(ward.db, "tests")
    assert ward.post("/api/v1/patients", {"patients": [PAT]}).status_code == 401
    assert ward.client.get("/api/v1/alerts", headers=ward.headers).status_code == 401


def test_tokens_are_stored_hashed(ward: Ward) -> None:
    from sqlalchemy import select

    from crsscore.monitor.db import ApiToken

    with ward.db.read() as s:
        stored = s.scalars(select(ApiToken.token_hash)).all()
    assert ward.token not in stored and len(stored[0]) == 64


def test_grades_match_the_batch_engine_and_grade3_alerts_once(ward: Ward) -> None:
    """A day with fever and vasopressors (grade 3 by ASTCT) raises one alert, kept once."""
    from crsscore.data.cohort import Cohort
    from crsscore.grading import grade_cohort

    ward.post("/api/v1/patients", {"patients": [PAT]})
    obs = [_obs(2.2, "temp", 39.4, "C"), _obs(3.1, "temp", 39.0, "C")]
    ev = [{"day": 3.2, "event": "hypotension"},
          {"day": 3.3, "event": "vasopressor", "value": 0.1, "unit": "ug/kg/min",
           "detail": "norepinephrine"}]
    assert ward.post("/api/v1/patients/W001/observations", {"observations": obs}).status_code == 200
    r = ward.post("/api/v1/patients/W001/events", {"events": ev})
    assert r.status_code == 200, r.text
    assert len(r.json()["alerts_raised"]) == 1
    grades = ward.client.get("/api/v1/patients/W001", headers=ward.headers).json()["grades"]
    import pandas as pd

    batch = grade_cohort(Cohort(
        patients=pd.DataFrame([PAT]),
        observations=pd.DataFrame([{"patient_id": "W001", **o} for o in obs]),
        events=pd.DataFrame([{"patient_id": "W001", **e} for e in ev]))).daily
    got = {g["day"]: g["crs_grade"] for g in grades}
    want = {int(d): (None if pd.isna(c) else int(c)) for d, c in zip(
        batch["day"], batch["crs_grade"], strict=True)}
    assert got == want and got[3] == 3
    # re-sent rows: no second alert
    r2 = ward.post("/api/v1/patients/W001/events", {"events": ev}).json()
    assert r2["alerts_raised"] == [] and ward.counts()["mon_alerts"] == 1
    # a later day at grade 3 again is the same crossing: no new alert
    r3 = ward.post("/api/v1/patients/W001/events", {"events": [
        {"day": 4.3, "event": "vasopressor", "value": 0.1, "unit": "ug/kg/min",
         "detail": "norepinephrine"}]}).json()
    assert r3["alerts_raised"] == []
    alerts = ward.client.get("/api/v1/alerts", headers=ward.headers).json()
    assert len(alerts) == 1 and alerts[0]["kind"] == "crs_grade3"
    aid = alerts[0]["id"]
    ack = ward.client.post(f"/api/v1/alerts/{aid}/ack", headers=ward.headers)
    assert ack.status_code == 200 and ack.json()["already"] is False
    assert ward.client.get("/api/v1/alerts", headers=ward.headers).json() == []
    assert ward.client.post(f"/api/v1/alerts/{aid}/ack",
                            headers=ward.headers).json()["already"] is True
    assert ward.client.post("/api/v1/alerts/999999/ack", headers=ward.headers).status_code == 404


def test_late_result_regrades_an_earlier_day(ward: Ward) -> None:
    ward.post("/api/v1/patients", {"patients": [PAT]})
    ward.post("/api/v1/patients/W001/observations", {"observations": [
        _obs(d + 0.3, "temp", 37.0, "C") for d in range(5)]})
    ward.post("/api/v1/patients/W001/events", {"events": [
        {"day": d + 0.4, "event": "oxygen", "detail": "room_air"} for d in range(5)]})
    before = {g["day"]: g["crs_grade"] for g in ward.client.get(
        "/api/v1/patients/W001", headers=ward.headers).json()["grades"]}
    assert before[2] == 0
    # day 2's fever and hypotension arrive late, after day 4
    ward.post("/api/v1/patients/W001/observations", {"observations": [
        _obs(2.6, "temp", 39.2, "C")]})
    ward.post("/api/v1/patients/W001/events", {"events": [
        {"day": 2.7, "event": "hypotension", "detail": "fluids"}]})
    after = {g["day"]: g["crs_grade"] for g in ward.client.get(
        "/api/v1/patients/W001", headers=ward.headers).json()["grades"]}
    assert after[2] == 2 and after[1] == before[1] and after[4] == before[4]


def test_late_result_rescores(db_url: str, risk_model: Any, sim_cohort: Any) -> None:
    """A late CRP for day 3 changes the risk of day 3 and later, not of the days before."""
    w = Ward(db_url, risk_model)
    try:
        ward_day_by_day(w, sim_cohort, ["SIM0002"], skip=("crp", 3))
        r0 = {(r["day"], r["horizon"]): r["risk"] for r in w.client.get(
            "/api/v1/patients/SIM0002", headers=w.headers).json()["risks"]}
        obs = sim_cohort.observations
        late = obs[(obs["patient_id"] == "SIM0002") & (obs["analyte"] == "crp")
                   & (obs["day"] >= 3) & (obs["day"] < 4)]
        assert len(late)
        r = w.post("/api/v1/patients/SIM0002/observations", {"observations": [
            {"day": float(x.day), "analyte": "crp", "value": float(x.value), "unit": x.unit}
            for x in late.itertuples()]})
        assert r.status_code == 200, r.text
        r1 = {(r["day"], r["horizon"]): r["risk"] for r in w.client.get(
            "/api/v1/patients/SIM0002", headers=w.headers).json()["risks"]}
        assert {k: v for k, v in r1.items() if k[0] < 3} == {
            k: v for k, v in r0.items() if k[0] < 3}
        assert any(r1[k] != pytest.approx(r0[k]) for k in r1 if k[0] == 3 and k in r0)
    finally:
        w.close()


def test_audit_log_counts_without_values(ward: Ward) -> None:
    from sqlalchemy import select

    from crsscore.monitor.db import AuditLog

    ward.post("/api/v1/patients", {"patients": [PAT]})
    ward.post("/api/v1/patients/W001/observations",
              {"observations": [_obs(1.0, "crp", 12.5, "mg/L"), _obs(1.0, "il6", 77.0, "pg/mL")]})
    ward.post("/api/v1/patients/W001/observations",
              {"observations": [_obs(1.0, "crp", 5000.0, "mg/L")]})
    with ward.db.read() as s:
        rows = [(a.actor, a.action, a.n_rows, a.n_inserted, a.outcome)
                for a in s.scalars(select(AuditLog).order_by(AuditLog.id))]
    assert rows == [("tests", "post_patients", 1, 0, "ok"),
                    ("tests", "post_observations", 2, 2, "ok"),
                    ("tests", "post_observations", 1, 0, "refused")]
    text = repr(rows)
    assert "W001" not in text and "12.5" not in text


def test_migrations_downgrade_and_upgrade(sqlite_url: str) -> None:
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import inspect

    from crsscore.monitor.db import MIGRATIONS_DIR, make_engine, upgrade

    engine = make_engine(sqlite_url)
    upgrade(engine)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert not [t for t in inspect(engine).get_table_names() if t.startswith("mon_")]
    upgrade(engine)
    assert "mon_alerts" in inspect(engine).get_table_names()
    engine.dispose()
