"""The one ingestion path of the ward monitor.

Every way in (the REST API in the canonical long format, FHIR R4 Observations, and
``crsscore monitor import`` from files) ends in :meth:`Monitor.store`:

1. the rows are checked by the loaders themselves (:func:`crsscore.data.io.tables_from_cohort`
   or :func:`~crsscore.data.io.read_cohort_tables`, then
   :func:`crsscore.data.check.validate_tables`): units converted and values range-checked by
   the same rules as every other command, and any error refuses the whole request with the
   loaders' located messages;
2. in one transaction the rows are stored under their natural keys (re-sent rows change
   nothing, a re-sent observation with another value is a correction);
3. every patient whose data changed is re-graded from all of its stored rows by
   :func:`crsscore.grading.grade_cohort` (ASTCT CRS and ICANS, the batch engine) and
   re-scored by the risk adapter (:mod:`crsscore.monitor.risk`); the patient's grades and
   risks are replaced, so a late result re-grades and re-scores its day and the days after
   it (and the monitor's grades and risks equal the batch path's for every patient-day);
4. alerts are raised for a risk crossing its threshold (upward, per horizon) and for the
   first day of CRS or ICANS grade >= 3; each has a natural key, so it is never raised twice;
5. one audit row says who did what with how many rows (no values, no identifiers).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, cast

import numpy as np
import pandas as pd
from sqlalchemy import Table, bindparam, delete, insert, select, update
from sqlalchemy.orm import Session

from crsscore.data.cohort import Cohort
from crsscore.data.io import Loaded, tables_from_cohort, to_cohort
from crsscore.data.schema import EVENT_COLUMNS, OBSERVATION_COLUMNS, PATIENT_COLUMNS
from crsscore.errors import DataError, Problem
from crsscore.monitor.db import (
    Alert,
    AuditLog,
    DailyGrade,
    Database,
    Event,
    Observation,
    Patient,
    Risk,
    utcnow,
)
from crsscore.monitor.risk import RiskModel

log = logging.getLogger("crsscore.monitor")

#: Days are keyed to a microday (0.09 s): the same row sent twice has the same key.
DAY_DECIMALS = 6
_ALL_DAYS = -10**6
_CHUNK = 500


@dataclass
class IngestResult:
    """What one ingestion did (counts only)."""

    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    patients_created: int = 0
    patients_updated: int = 0
    patients_regraded: int = 0
    patient_days: int = 0
    alerts: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "inserted": self.inserted, "updated": self.updated,
                "unchanged": self.unchanged, "patients_created": self.patients_created,
                "patients_updated": self.patients_updated,
                "patients_regraded": self.patients_regraded,
                "patient_days": self.patient_days, "alerts_raised": list(self.alerts)}


# ------------------------------------------------------------------------------------------
# checking: the loaders' own rules
# ------------------------------------------------------------------------------------------

def _frame(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows))
    for c in columns:
        if c not in frame.columns:
            frame[c] = pd.Series([None] * len(frame), dtype=object)
    return frame


def check_rows(patients: Sequence[dict[str, Any]], observations: Sequence[dict[str, Any]],
               events: Sequence[dict[str, Any]], known_ids: Iterable[str]) -> Loaded:
    """Check request rows with the loaders (``tables_from_cohort`` + ``validate_tables``).

    ``known_ids``: patients already stored (they need no patients row in the request).
    Raises :class:`DataError` with every error; row numbers are the loaders' (index + 2).
    """
    from crsscore.data.check import validate_tables

    given = {str(p.get("patient_id")) for p in patients}
    extra = [{"patient_id": pid} for pid in sorted(set(known_ids) - given)]
    pcols = [c for c in PATIENT_COLUMNS if c == "patient_id" or any(c in p for p in patients)]
    pf = _frame([*patients, *extra], pcols)[pcols]
    of = _frame(observations, OBSERVATION_COLUMNS)[list(OBSERVATION_COLUMNS)]
    ef = _frame(events, EVENT_COLUMNS)[list(EVENT_COLUMNS)]
    cohort = Cohort(patients=pf, observations=of, events=ef)
    loaded = tables_from_cohort(cohort)
    validate_tables(loaded)
    errors = loaded.collector.errors
    if errors:
        raise DataError(errors)
    if len(loaded.observations) != len(of) or len(loaded.events) != len(ef):
        raise DataError([Problem(table="input", code="rows_left_out",
                                 message="some rows could not be read; nothing was stored")])
    return loaded


def _jsonable(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float | np.floating):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, pd.Timestamp | datetime | date):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, np.datetime64):
        return None if np.isnat(value) else str(pd.Timestamp(value).date())
    return value if isinstance(value, str | int | bool) else str(value)


def canonical_tables(loaded: Loaded, *, n_patients: int | None = None,
                     orig_units: Sequence[object] | None = None
                     ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(patients, observations, events) of a checked :class:`Loaded` in canonical units.

    ``n_patients``: only the first rows of the patients table are patient data to store
    (the others stand for stored patients).  ``orig_units``: the unit of each request
    observation (by request index); without it the original unit is the canonical one
    where the value was not converted, else ``converted``.
    """
    if n_patients == 0:
        pats = pd.DataFrame({"patient_id": pd.Series([], dtype=object)})
    else:
        cohort = to_cohort(loaded)
        pats = cohort.patients if n_patients is None else cohort.patients.iloc[:n_patients]
    lo = loaded.observations
    canon_unit = lo["unit"].astype(str).to_numpy() if len(lo) else np.array([], dtype=object)
    value = lo["value"].to_numpy(dtype=np.float64) if len(lo) else np.array([])
    orig = (lo["_orig"].to_numpy(dtype=np.float64) if "_orig" in lo.columns and len(lo)
            else value.copy())
    if orig_units is not None and len(lo):
        idx = lo["_row"].to_numpy(dtype=np.int64) - 2
        ounit = np.array([("" if orig_units[i] is None else str(orig_units[i])) for i in idx],
                         dtype=object)
    else:
        ounit = np.where(np.isclose(orig, value, equal_nan=True), canon_unit, "converted")
    obs = pd.DataFrame({
        "patient_id": lo["patient_id"].astype(str).to_numpy() if len(lo) else [],
        "day": np.round(lo["day"].to_numpy(dtype=np.float64), DAY_DECIMALS) if len(lo) else [],
        "analyte": lo["analyte"].astype(str).to_numpy() if len(lo) else [],
        "value": value, "unit": canon_unit, "orig_value": orig, "orig_unit": ounit})
    le = loaded.events
    ev = pd.DataFrame({
        "patient_id": le["patient_id"].astype(str).to_numpy() if len(le) else [],
        "day": np.round(le["day"].to_numpy(dtype=np.float64), DAY_DECIMALS) if len(le) else [],
        "event": le["event"].astype(str).to_numpy() if len(le) else [],
        "value": le["value"].to_numpy(dtype=np.float64, na_value=np.nan) if len(le) else [],
        "unit": le["unit"].fillna("").astype(str).to_numpy() if len(le) else [],
        "detail": le["detail"].fillna("").astype(str).to_numpy() if len(le) else []})
    for frame in (ev,):
        for c in ("unit", "detail"):
            frame[c] = frame[c].replace({"nan": "", "<NA>": "", "None": ""})
    return pats.reset_index(drop=True), obs, ev


# ------------------------------------------------------------------------------------------
# the monitor
# ------------------------------------------------------------------------------------------

def _records(frame: pd.DataFrame) -> list[Any]:
    """Rows as named tuples (attribute access, typed loosely)."""
    return list(frame.itertuples(index=False))


def _items(series: pd.Series) -> list[tuple[Any, Any]]:
    return list(series.items())


def _table(model: Any) -> Table:
    return cast(Table, model.__table__)


class WardCohort(Cohort):
    """A cohort rebuilt from the database for re-grading: no data hash (the monitor does not
    record one per update, and hashing every patient's rows on each request is costly)."""

    def data_hash(self) -> str:
        return ""


class Monitor:
    """Ingestion, grading, risk and alerts over one database."""

    def __init__(self, db: Database, risk: RiskModel | None = None) -> None:
        self.db = db
        self.risk = risk

    # -- entry points ---------------------------------------------------------------------
    def known_ids(self, session: Session, ids: Iterable[str]) -> set[str]:
        wanted = sorted({str(i) for i in ids})
        out: set[str] = set()
        for k in range(0, len(wanted), _CHUNK):
            chunk = wanted[k:k + _CHUNK]
            out.update(session.scalars(select(Patient.patient_id).where(
                Patient.patient_id.in_(chunk))).all())
        return out

    def ingest_rows(self, *, patients: Sequence[dict[str, Any]] = (),
                    observations: Sequence[dict[str, Any]] = (),
                    events: Sequence[dict[str, Any]] = (), actor: str, action: str,
                    source: str = "api") -> IngestResult:
        """Check request rows with the loaders, then :meth:`store` them (one transaction)."""
        referenced = {str(r.get("patient_id")) for r in (*observations, *events)}
        with self.db.read() as session:
            known = self.known_ids(session, referenced)
        loaded = check_rows(patients, observations, events, known)
        pats, obs, ev = canonical_tables(loaded, n_patients=len(patients),
                                         orig_units=[r.get("unit") for r in observations])
        return self.store(pats, obs, ev, actor=actor, action=action, source=source,
                          n_rows=len(patients) + len(observations) + len(events))

    def ingest_loaded(self, loaded: Loaded, *, actor: str, action: str,
                      source: str = "import") -> IngestResult:
        """Store a cohort read and checked by the loaders (``crsscore monitor import``)."""
        errors = loaded.collector.errors
        if errors:
            raise DataError(errors)
        pats, obs, ev = canonical_tables(loaded)
        return self.store(pats, obs, ev, actor=actor, action=action, source=source,
                          n_rows=len(pats) + len(obs) + len(ev))

    # -- the transaction ------------------------------------------------------------------
    def store(self, pats: pd.DataFrame, obs: pd.DataFrame, ev: pd.DataFrame, *, actor: str,
              action: str, source: str, n_rows: int) -> IngestResult:
        """Store canonical rows, re-grade, re-score and check alerts: all or nothing."""
        res = IngestResult(rows=n_rows)
        try:
            with self.db.write() as session:
                self._store(session, pats, obs, ev, source, res)
                session.execute(insert(AuditLog), [{
                    "at": utcnow(), "actor": actor[:100], "action": action[:60],
                    "n_rows": n_rows, "n_inserted": res.inserted, "n_updated": res.updated,
                    "n_patients": res.patients_regraded, "outcome": "ok"}])
        except Exception:
            self.audit(actor, action, n_rows, "failed")
            raise
        log.info("ingest %s: %d rows, %d inserted, %d updated, %d patients re-graded, "
                 "%d alerts", action, n_rows, res.inserted, res.updated,
                 res.patients_regraded, len(res.alerts))
        return res

    def audit(self, actor: str, action: str, n_rows: int, outcome: str) -> None:
        """An audit row outside any data transaction (refused or failed requests)."""
        try:
            with self.db.write() as session:
                session.execute(insert(AuditLog), [{
                    "at": utcnow(), "actor": actor[:100], "action": action[:60],
                    "n_rows": n_rows, "n_inserted": 0, "n_updated": 0, "n_patients": 0,
                    "outcome": outcome[:20]}])
        except Exception:  # pragma: no cover - the audit must not hide the first error
            log.error("audit row could not be written")

    def _store(self, session: Session, pats: pd.DataFrame, obs: pd.DataFrame,
               ev: pd.DataFrame, source: str, res: IngestResult) -> None:
        now = utcnow()
        changed_from: dict[int, int] = {}  # patient pk -> earliest changed day

        def touch(pk: int, day: int) -> None:
            changed_from[pk] = min(changed_from.get(pk, day), day)

        # patients ---------------------------------------------------------------------
        ids = sorted(set(pats["patient_id"].astype(str)) | set(obs["patient_id"])
                     | set(ev["patient_id"]))
        existing: dict[str, tuple[int, dict[str, Any], str | None]] = {}
        for k in range(0, len(ids), _CHUNK):
            q = select(Patient.id, Patient.patient_id, Patient.baseline, Patient.infusion_date
                       ).where(Patient.patient_id.in_(ids[k:k + _CHUNK]))
            if not self.db.is_sqlite:
                q = q.with_for_update()
            for pk, pid, base, inf in session.execute(q):
                existing[pid] = (pk, dict(base or {}), inf)
        new_rows: list[dict[str, Any]] = []
        upd_rows: list[dict[str, Any]] = []
        for rec in pats.to_dict(orient="records"):
            pid = str(rec["patient_id"])
            base = {k: _jsonable(v) for k, v in rec.items() if k != "patient_id"}
            base = {k: v for k, v in base.items() if v is not None}
            inf = base.get("infusion_date")
            if pid not in existing:
                new_rows.append({"patient_id": pid, "baseline": base, "infusion_date": inf,
                                 "active": True, "created_at": now, "updated_at": now})
            elif existing[pid][1] != base:
                upd_rows.append({"b_pk": existing[pid][0], "baseline": base,
                                 "infusion_date": inf, "updated_at": now})
        if new_rows:
            session.execute(insert(Patient), new_rows)
            res.patients_created = len(new_rows)
            for k in range(0, len(new_rows), _CHUNK):
                chunk = [r["patient_id"] for r in new_rows[k:k + _CHUNK]]
                for pk, pid in session.execute(select(Patient.id, Patient.patient_id).where(
                        Patient.patient_id.in_(chunk))):
                    existing[pid] = (pk, {}, None)
        if upd_rows:
            t = _table(Patient)
            session.execute(update(t).where(t.c.id == bindparam("b_pk")).values(
                baseline=bindparam("baseline"), infusion_date=bindparam("infusion_date"),
                updated_at=bindparam("updated_at")), upd_rows)
            res.patients_updated = len(upd_rows)
            for r in upd_rows:
                touch(int(r["b_pk"]), _ALL_DAYS)  # baseline enters every day's risk
        pk_of = {pid: v[0] for pid, v in existing.items()}
        missing = [pid for pid in ids if pid not in pk_of]
        if missing:  # checked before, but a patient may have gone since: refuse, say no id
            raise DataError([Problem(table="patients", code="unknown_patient",
                                     message=f"{len(missing)} patient(s) not stored")])
        pks = sorted({pk_of[p] for p in ids})

        # stored rows of these patients -----------------------------------------------
        old_obs = self._read_obs(session, pks)
        old_ev = self._read_events(session, pks)

        # observations -------------------------------------------------------------------
        obs_all = old_obs
        if len(obs):
            o = obs.copy()
            o["patient_pk"] = o["patient_id"].map(pk_of).astype(np.int64)
            o = o.drop_duplicates(["patient_pk", "analyte", "day"], keep="last")
            m = o.merge(old_obs[["id", "patient_pk", "analyte", "day", "value", "orig_value",
                                 "orig_unit"]], on=["patient_pk", "analyte", "day"],
                        how="left", suffixes=("", "_old"))
            is_new = m["id"].isna().to_numpy()
            same = (~is_new & np.isclose(m["value"], m["value_old"])
                    & np.isclose(m["orig_value"], m["orig_value_old"])
                    & (m["orig_unit"] == m["orig_unit_old"]).to_numpy())
            ins = m[is_new]
            upd = m[~is_new & ~same]
            res.inserted += len(ins)
            res.updated += len(upd)
            res.unchanged += int(same.sum())
            if len(ins):
                session.execute(insert(Observation), [
                    {"patient_pk": int(r.patient_pk), "day": float(r.day), "analyte": r.analyte,
                     "value": float(r.value), "unit": r.unit, "orig_value": float(r.orig_value),
                     "orig_unit": str(r.orig_unit)[:40], "source": source, "received_at": now}
                    for r in _records(ins)])
            if len(upd):
                t = _table(Observation)
                session.execute(update(t).where(t.c.id == bindparam("b_id")).values(
                    value=bindparam("value"), unit=bindparam("unit"),
                    orig_value=bindparam("orig_value"), orig_unit=bindparam("orig_unit"),
                    source=bindparam("source"), received_at=bindparam("received_at")), [
                    {"b_id": int(r.id), "value": float(r.value), "unit": r.unit,
                     "orig_value": float(r.orig_value), "orig_unit": str(r.orig_unit)[:40],
                     "source": source, "received_at": now}
                    for r in _records(upd)])
            ch = pd.concat([ins, upd])
            for pk, d in _items(ch.groupby("patient_pk")["day"].min()):
                touch(int(pk), math.floor(float(d)))
            keep = old_obs.merge(upd[["patient_pk", "analyte", "day"]], how="left",
                                 indicator=True, on=["patient_pk", "analyte", "day"])
            keep = keep[keep["_merge"] == "left_only"].drop(columns="_merge")
            obs_all = pd.concat([keep, ch[keep.columns.drop("id")].assign(id=0)],
                                ignore_index=True) if len(ch) else old_obs

        # events -------------------------------------------------------------------------
        ev_all = old_ev
        if len(ev):
            e = ev.copy()
            e["patient_pk"] = e["patient_id"].map(pk_of).astype(np.int64)
            key = ["patient_pk", "event", "day", "detail"]
            e = e.drop_duplicates(key, keep="last")
            m = e.merge(old_ev[["id", *key, "value", "unit"]], on=key, how="left",
                        suffixes=("", "_old"))
            is_new = m["id"].isna().to_numpy()
            v, vo = m["value"].to_numpy(dtype=float), m["value_old"].to_numpy(dtype=float)
            same = (~is_new & (np.isclose(v, vo) | (np.isnan(v) & np.isnan(vo)))
                    & (m["unit"] == m["unit_old"]).to_numpy())
            ins = m[is_new]
            upd = m[~is_new & ~same]
            res.inserted += len(ins)
            res.updated += len(upd)
            res.unchanged += int(same.sum())

            def val(x: float) -> float | None:
                return None if not math.isfinite(x) else float(x)

            if len(ins):
                session.execute(insert(Event), [
                    {"patient_pk": int(r.patient_pk), "day": float(r.day), "event": r.event,
                     "value": val(r.value), "unit": str(r.unit)[:40],
                     "detail": str(r.detail)[:100], "source": source, "received_at": now}
                    for r in _records(ins)])
            if len(upd):
                t = _table(Event)
                session.execute(update(t).where(t.c.id == bindparam("b_id")).values(
                    value=bindparam("value"), unit=bindparam("unit"),
                    source=bindparam("source"), received_at=bindparam("received_at")), [
                    {"b_id": int(r.id), "value": val(r.value), "unit": str(r.unit)[:40],
                     "source": source, "received_at": now} for r in _records(upd)])
            ch = pd.concat([ins, upd])
            for pk, d in _items(ch.groupby("patient_pk")["day"].min()):
                touch(int(pk), math.floor(float(d)))
            keep = old_ev.merge(upd[key], how="left", indicator=True, on=key)
            keep = keep[keep["_merge"] == "left_only"].drop(columns="_merge")
            ev_all = pd.concat([keep, ch[keep.columns.drop("id")].assign(id=0)],
                               ignore_index=True) if len(ch) else old_ev

        # patients created with no rows yet still appear (no grades)
        if not changed_from:
            return
        self._regrade(session, changed_from, obs_all, ev_all, res, now)
        res.patient_days = int(pd.concat([
            obs_all.loc[obs_all["patient_pk"].isin(list(changed_from)), ["patient_pk", "day"]],
            ev_all.loc[ev_all["patient_pk"].isin(list(changed_from)), ["patient_pk", "day"]]
        ]).assign(day=lambda f: np.floor(f["day"])).drop_duplicates().shape[0]) if (
            len(obs_all) or len(ev_all)) else 0

    def _read_obs(self, session: Session, pks: Sequence[int]) -> pd.DataFrame:
        cols = ["id", "patient_pk", "day", "analyte", "value", "unit", "orig_value", "orig_unit"]
        rows: list[Any] = []
        t = _table(Observation)
        for k in range(0, len(pks), _CHUNK):
            rows += session.execute(select(*[t.c[c] for c in cols]).where(
                t.c.patient_pk.in_(pks[k:k + _CHUNK]))).all()
        return pd.DataFrame(rows, columns=cols).astype(
            {"id": "int64", "patient_pk": "int64", "day": "float64", "value": "float64",
             "orig_value": "float64", "analyte": object, "unit": object, "orig_unit": object})

    def _read_events(self, session: Session, pks: Sequence[int]) -> pd.DataFrame:
        cols = ["id", "patient_pk", "day", "event", "value", "unit", "detail"]
        rows: list[Any] = []
        t = _table(Event)
        for k in range(0, len(pks), _CHUNK):
            rows += session.execute(select(*[t.c[c] for c in cols]).where(
                t.c.patient_pk.in_(pks[k:k + _CHUNK]))).all()
        out = pd.DataFrame(rows, columns=cols).astype(
            {"id": "int64", "patient_pk": "int64", "day": "float64", "event": object,
             "unit": object, "detail": object})
        out["value"] = pd.to_numeric(out["value"], errors="coerce").astype("float64")
        return out

    # -- grading, risk and alerts -------------------------------------------------------------
    def cohort_of(self, session: Session, pks: Sequence[int], obs: pd.DataFrame,
                  ev: pd.DataFrame) -> Cohort:
        """The canonical cohort of stored patients ``pks`` (ids as stored)."""
        recs = []
        t = _table(Patient)
        for k in range(0, len(pks), _CHUNK):
            for pk, pid, base in session.execute(select(t.c.id, t.c.patient_id, t.c.baseline)
                                                 .where(t.c.id.in_(pks[k:k + _CHUNK]))):
                recs.append({"_pk": pk, "patient_id": pid, **(base or {})})
        patients = pd.DataFrame(recs)
        pid_of = dict(zip(patients["_pk"], patients["patient_id"], strict=True))
        patients = patients.drop(columns="_pk")
        for name, col in PATIENT_COLUMNS.items():
            if name in patients.columns and col.kind in ("float", "int01"):
                patients[name] = pd.to_numeric(patients[name], errors="coerce")
        sel_o = obs[obs["patient_pk"].isin(pks)]
        sel_e = ev[ev["patient_pk"].isin(pks)]
        o = pd.DataFrame({"patient_id": sel_o["patient_pk"].map(pid_of).astype(str).to_numpy(),
                          "day": sel_o["day"].to_numpy(dtype=float),
                          "analyte": sel_o["analyte"].to_numpy(),
                          "value": sel_o["value"].to_numpy(dtype=float),
                          "unit": sel_o["unit"].to_numpy()})
        e = pd.DataFrame({"patient_id": sel_e["patient_pk"].map(pid_of).astype(str).to_numpy(),
                          "day": sel_e["day"].to_numpy(dtype=float),
                          "event": sel_e["event"].to_numpy(),
                          "value": sel_e["value"].to_numpy(dtype=float),
                          "unit": sel_e["unit"].replace("", None).to_numpy(),
                          "detail": sel_e["detail"].replace("", None).to_numpy()})
        return WardCohort(patients=patients, observations=o, events=e)

    def _regrade(self, session: Session, changed_from: dict[int, int], obs: pd.DataFrame,
                 ev: pd.DataFrame, res: IngestResult, now: datetime) -> None:
        from crsscore.grading import grade_cohort

        # Every day of a changed patient is recomputed and replaced, not only the days from
        # the earliest change on: a late result changes its day and the days after it, and
        # a day that only now has a gradable successor gains its risk row (the earlier days
        # come out the same by the person-day time convention; tests/monitor check it).
        # Alerts are keyed, so recomputing never raises one twice.
        changed_from = {pk: _ALL_DAYS for pk in changed_from}
        pks = sorted(changed_from)
        cohort = self.cohort_of(session, pks, obs, ev)
        pk_of = {pid: pk for pk, pid in zip(
            pks, self._ids(session, pks), strict=True)}
        res.patients_regraded = len(pks)
        daily = grade_cohort(cohort).daily
        d = pd.DataFrame({
            "patient_pk": daily["patient_id"].astype(str).map(pk_of).to_numpy(dtype=np.int64),
            "day": daily["day"].to_numpy(dtype=np.int64),
            "crs_grade": daily["crs_grade"].astype("Int64"),
            "icans_grade": daily["icans_grade"].astype("Int64"),
            "crs_reason": daily["crs_reason"].astype(str).to_numpy(),
            "icans_reason": daily["icans_reason"].astype(str).to_numpy(),
            "crs_source": daily["crs_source"].astype(str).to_numpy()})
        since = d["patient_pk"].map(changed_from).to_numpy()
        d_new = d[d["day"].to_numpy() >= since]
        gt = _table(DailyGrade)
        session.execute(delete(gt).where(gt.c.patient_pk == bindparam("b_pk"),
                                          gt.c.day >= bindparam("b_day")),
                        [{"b_pk": pk, "b_day": day} for pk, day in changed_from.items()])

        def opt(v: Any) -> int | None:
            return None if v is pd.NA or v is None else int(v)

        if len(d_new):
            session.execute(insert(DailyGrade), [
                {"patient_pk": int(r.patient_pk), "day": int(r.day), "crs_grade": opt(r.crs_grade),
                 "icans_grade": opt(r.icans_grade), "crs_reason": str(r.crs_reason)[:200],
                 "icans_reason": str(r.icans_reason)[:200], "crs_source": str(r.crs_source)[:20],
                 "updated_at": now} for r in _records(d_new)])
        existing_alerts = self._alert_keys(session, pks)
        alerts: list[dict[str, Any]] = []
        for kind, col in (("crs_grade3", "crs_grade"), ("icans_grade3", "icans_grade")):
            sev = d[d[col].fillna(-1).to_numpy(dtype=np.int64) >= 3]
            first = sev.groupby("patient_pk")["day"].min()
            for pk, day in _items(first):
                pk_i, day_i = int(pk), int(day)
                if (pk_i, kind) in existing_alerts["kinds"]:
                    continue
                grade = int(sev[(sev["patient_pk"] == pk) & (sev["day"] == day)][col].iloc[0])
                label = "CRS" if kind.startswith("crs") else "ICANS"
                alerts.append({"patient_pk": pk_i, "kind": kind, "day": day_i,
                               "value": float(grade), "threshold": 3.0,
                               "message": f"ASTCT {label} grade {grade} on day {day_i}"})
        if self.risk is not None:
            risks = self.risk.score(cohort, daily)
            rk = pd.DataFrame({
                "patient_pk": risks["patient_id"].astype(str).map(pk_of).to_numpy(dtype=np.int64),
                "day": risks["day"].to_numpy(dtype=np.int64),
                "horizon": risks["horizon"].to_numpy(dtype=np.int64),
                "risk": risks["risk"].to_numpy(dtype=float),
                "outside": risks["outside_day_range"].to_numpy(dtype=bool)})
            rt = _table(Risk)
            session.execute(delete(rt).where(rt.c.patient_pk == bindparam("b_pk"),
                                              rt.c.day >= bindparam("b_day")),
                            [{"b_pk": pk, "b_day": day} for pk, day in changed_from.items()])
            since_r = rk["patient_pk"].map(changed_from).to_numpy()
            rk_new = rk[rk["day"].to_numpy() >= since_r]
            if len(rk_new):
                session.execute(insert(Risk), [
                    {"patient_pk": int(r.patient_pk), "day": int(r.day), "horizon": int(r.horizon),
                     "risk": float(r.risk), "card_id": self.risk.card_id[:100],
                     "outside_day_range": bool(r.outside), "updated_at": now}
                    for r in _records(rk_new)])
            rk = rk.sort_values(["patient_pk", "horizon", "day"])
            thr = rk["horizon"].map(lambda h: self.risk.threshold(int(h)) if self.risk else 1.0
                                    ).to_numpy(dtype=float)
            prev = rk.groupby(["patient_pk", "horizon"])["risk"].shift(1).to_numpy(dtype=float)
            up = (rk["risk"].to_numpy() >= thr) & ~(prev >= thr)
            cross = rk[up & (rk["day"].to_numpy() >= rk["patient_pk"].map(changed_from)
                             .to_numpy())]
            thr_c = thr[up & (rk["day"].to_numpy() >= rk["patient_pk"].map(changed_from)
                              .to_numpy())]
            for r, t in zip(_records(cross), thr_c, strict=True):
                kind = f"risk_h{int(r.horizon)}"
                if (int(r.patient_pk), kind, int(r.day)) in existing_alerts["keys"]:
                    continue
                alerts.append({"patient_pk": int(r.patient_pk), "kind": kind, "day": int(r.day),
                               "value": float(r.risk), "threshold": float(t),
                               "message": f"risk of severe CRS within {int(r.horizon)} day(s) "
                                          f"crossed {t:.0%} on day {int(r.day)}"})
        if alerts:
            for a in alerts:
                a["created_at"] = now
            ids = session.scalars(insert(Alert).returning(Alert.id), alerts).all()
            res.alerts.extend(int(i) for i in ids)

    def _ids(self, session: Session, pks: Sequence[int]) -> list[str]:
        t = _table(Patient)
        got: dict[int, str] = {}
        for k in range(0, len(pks), _CHUNK):
            got.update({int(pk): str(pid) for pk, pid in session.execute(
                select(t.c.id, t.c.patient_id).where(t.c.id.in_(pks[k:k + _CHUNK])))})
        return [got[int(pk)] for pk in pks]

    def _alert_keys(self, session: Session, pks: Sequence[int]) -> dict[str, set[Any]]:
        t = _table(Alert)
        keys: set[tuple[int, str, int]] = set()
        for k in range(0, len(pks), _CHUNK):
            keys.update((int(a), str(b), int(c)) for a, b, c in session.execute(
                select(t.c.patient_pk, t.c.kind, t.c.day).where(
                    t.c.patient_pk.in_(pks[k:k + _CHUNK]))))
        return {"keys": keys, "kinds": {(a, b) for a, b, _ in keys}}

    # -- alerts -------------------------------------------------------------------------------
    def acknowledge(self, alert_id: int, actor: str) -> bool | None:
        """Acknowledge an alert: True, False when it already was, None when there is none."""
        with self.db.write() as session:
            alert = session.get(Alert, alert_id)
            if alert is None:
                return None
            if alert.acknowledged_at is not None:
                return False
            alert.acknowledged_at = utcnow()
            alert.acknowledged_by = actor[:100]
            session.add(AuditLog(at=utcnow(), actor=actor[:100], action="ack_alert", n_rows=1,
                                 n_inserted=0, n_updated=1, n_patients=1, outcome="ok"))
            return True


__all__ = ["DAY_DECIMALS", "IngestResult", "Monitor", "canonical_tables", "check_rows"]
