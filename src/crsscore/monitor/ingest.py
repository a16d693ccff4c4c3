"""The one ingestion path of the ward monitor.

Every way in (the REST API in the canonical long format, FHIR R4 Observations, and
``crsscore monitor import`` from files) ends in :meth:`Monitor.store`:

1. the rows are checked by the loaders themselves
   (:func:`crsscore.data.canonical.tables_from_cohort` or
   :func:`~crsscore.data.tables.read_cohort_tables`, then
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

from crsscore.data.canonical import Loaded, tables_from_cohort, to_cohort
from crsscore.data.cohort import Cohort
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
    """The rows as a frame of ``columns`` (a key missing from a row is NaN, as in a frame
    built from the records; a column no row has is an object column of None)."""
    present = {k for r in rows for k in r}
    return pd.DataFrame({c: ([r.get(c, np.nan) for r in rows] if c in present
                             else pd.Series([None] * len(rows), dtype=object))
                         for c in columns})


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
    pf = _frame([*patients, *extra], pcols)
    of = _frame(observations, list(OBSERVATION_COLUMNS))
    ef = _frame(events, list(EVENT_COLUMNS))
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
    if len(ev):
        for c in ("unit", "detail"):
            ev[c] = ev[c].replace({"nan": "", "<NA>": "", "None": ""})
    return pats.reset_index(drop=True), obs, ev


# ------------------------------------------------------------------------------------------
# the monitor
# ------------------------------------------------------------------------------------------

def _table(model: Any) -> Table:
    return cast(Table, model.__table__)


def _fast_insert(session: Session, model: Any, cols: Sequence[str],
                 rows: list[tuple[Any, ...]]) -> None:
    """Insert many rows (tuples in the order of ``cols``) through the driver's own
    executemany (the ORM's bulk path costs more than the database here).  Every column is
    given; none is generated.  DateTime values must be bound with :func:`_stamp`."""
    if not rows:
        return
    table = _table(model)
    conn = session.connection()
    dialect = conn.dialect
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    q = dialect.identifier_preparer
    sql = (f"INSERT INTO {q.quote(table.name)} ({', '.join(q.quote(c) for c in cols)}) "
           f"VALUES ({', '.join([mark] * len(cols))})")
    conn.exec_driver_sql(sql, rows)


def _items(column: pd.Series) -> list[Any]:
    """A column's values as a Python list (iterating a pandas string column element by
    element costs more than the rest of a bulk import's loop)."""
    values: list[Any] = column.to_numpy(dtype=object).tolist()
    return values


def _floats(column: pd.Series) -> list[float]:
    return cast(list[float], column.to_numpy(dtype=float).tolist())


def _stamp(session: Session, when: datetime) -> Any:
    """``when`` as :func:`_fast_insert` binds a DateTime: SQLAlchemy's own storage format on
    SQLite (a string), the datetime itself elsewhere."""
    if session.connection().dialect.name == "sqlite":
        return when.strftime("%Y-%m-%d %H:%M:%S.%f")
    return when


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
        from sqlalchemy.exc import IntegrityError

        for attempt in (1, 2):
            res = IngestResult(rows=n_rows)
            try:
                with self.db.write() as session:
                    self._store(session, pats, obs, ev, source, res)
                    session.execute(insert(AuditLog), [{
                        "at": utcnow(), "actor": actor[:100], "action": action[:60],
                        "n_rows": n_rows, "n_inserted": res.inserted,
                        "n_updated": res.updated, "n_patients": res.patients_regraded,
                        "outcome": "ok"}])
                break
            except IntegrityError:
                # a concurrent request stored the same key first: once more, as an update
                if attempt == 2:
                    self.audit(actor, action, n_rows, "failed")
                    raise
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
        stamp = _stamp(session, now)
        changed_from: dict[int, int] = {}  # patient pk -> earliest changed day

        def touch(pk: int, day: int) -> None:
            changed_from[pk] = min(changed_from.get(pk, day), day)

        # patients ---------------------------------------------------------------------
        ids = sorted(set(pats["patient_id"].astype(str)) | set(obs["patient_id"])
                     | set(ev["patient_id"]))
        existing: dict[str, tuple[int, dict[str, Any], str | None]] = {}
        for k in range(0, len(ids), _CHUNK):
            q = select(Patient.id, Patient.patient_id, Patient.baseline, Patient.infusion_date
                       ).where(Patient.patient_id.in_(ids[k:k + _CHUNK])).order_by(Patient.id)
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
        # plain dicts keyed by the natural keys: cheap for one patient-day, fine for a cohort
        ot, et = _table(Observation), _table(Event)
        old_obs: dict[tuple[int, str, float], list[Any]] = {}
        old_ev: dict[tuple[int, str, float, str], list[Any]] = {}
        for k in range(0, len(pks), _CHUNK):
            chunk = pks[k:k + _CHUNK]
            for oid, pk, day, analyte, value, unit, ov, ou in session.execute(select(
                    ot.c.id, ot.c.patient_pk, ot.c.day, ot.c.analyte, ot.c.value, ot.c.unit,
                    ot.c.orig_value, ot.c.orig_unit).where(ot.c.patient_pk.in_(chunk))):
                old_obs[(pk, analyte, day)] = [oid, value, unit, ov, ou]
            for eid, pk, day, ev_name, value, unit, detail in session.execute(select(
                    et.c.id, et.c.patient_pk, et.c.day, et.c.event, et.c.value, et.c.unit,
                    et.c.detail).where(et.c.patient_pk.in_(chunk))):
                old_ev[(pk, ev_name, day, detail)] = [eid, value, unit]

        def same(a: float | None, b: float | None) -> bool:
            if a is None or b is None or not math.isfinite(a) or not math.isfinite(b):
                return (a is None or not math.isfinite(a)) == (b is None or not math.isfinite(b))
            return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)

        # observations -------------------------------------------------------------------
        ins_o: list[tuple[Any, ...]] = []
        upd_o: list[dict[str, Any]] = []
        if len(obs):
            last: dict[tuple[int, str, float], tuple[Any, ...]] = {}
            for pid, day, analyte, value, unit, ov, ou in zip(
                    _items(obs["patient_id"]), _floats(obs["day"]), _items(obs["analyte"]),
                    _floats(obs["value"]), _items(obs["unit"]), _floats(obs["orig_value"]),
                    _items(obs["orig_unit"]), strict=True):
                last[(pk_of[pid], str(analyte), float(day))] = (
                    float(value), str(unit), float(ov), str(ou)[:40])
            for key, (value, unit, ov, ou) in last.items():
                old = old_obs.get(key)
                if old is None:
                    ins_o.append((key[0], key[2], key[1], value, unit, ov, ou, source, stamp))
                    old_obs[key] = [0, value, unit, ov, ou]
                elif same(old[1], value) and same(old[3], ov) and old[4] == ou:
                    res.unchanged += 1
                    continue
                else:
                    upd_o.append({"b_id": old[0], "value": value, "unit": unit,
                                  "orig_value": ov, "orig_unit": ou, "source": source,
                                  "received_at": now})
                    old_obs[key] = [old[0], value, unit, ov, ou]
                touch(key[0], math.floor(key[2]))
            if ins_o:
                _fast_insert(session, Observation, ("patient_pk", "day", "analyte", "value",
                                                    "unit", "orig_value", "orig_unit", "source",
                                                    "received_at"), ins_o)
            if upd_o:
                session.execute(update(ot).where(ot.c.id == bindparam("b_id")).values(
                    value=bindparam("value"), unit=bindparam("unit"),
                    orig_value=bindparam("orig_value"), orig_unit=bindparam("orig_unit"),
                    source=bindparam("source"), received_at=bindparam("received_at")), upd_o)
            res.inserted += len(ins_o)
            res.updated += len(upd_o)

        # events -------------------------------------------------------------------------
        ins_e: list[tuple[Any, ...]] = []
        upd_e: list[dict[str, Any]] = []
        if len(ev):
            last_e: dict[tuple[int, str, float, str], tuple[Any, ...]] = {}
            for pid, day, ev_name, value, unit, detail in zip(
                    _items(ev["patient_id"]), _floats(ev["day"]), _items(ev["event"]),
                    _floats(ev["value"]), _items(ev["unit"]), _items(ev["detail"]),
                    strict=True):
                v = float(value) if math.isfinite(value) else None
                last_e[(pk_of[pid], str(ev_name), float(day), str(detail)[:100])] = (
                    v, str(unit)[:40])
            for ekey, (value, unit) in last_e.items():
                old = old_ev.get(ekey)
                if old is None:
                    ins_e.append((ekey[0], ekey[2], ekey[1], value, unit, ekey[3], source,
                                  stamp))
                    old_ev[ekey] = [0, value, unit]
                elif same(old[1], value) and (old[2] or "") == unit:
                    res.unchanged += 1
                    continue
                else:
                    upd_e.append({"b_id": old[0], "value": value, "unit": unit,
                                  "source": source, "received_at": now})
                    old_ev[ekey] = [old[0], value, unit]
                touch(ekey[0], math.floor(ekey[2]))
            if ins_e:
                _fast_insert(session, Event, ("patient_pk", "day", "event", "value", "unit",
                                              "detail", "source", "received_at"), ins_e)
            if upd_e:
                session.execute(update(et).where(et.c.id == bindparam("b_id")).values(
                    value=bindparam("value"), unit=bindparam("unit"),
                    source=bindparam("source"), received_at=bindparam("received_at")), upd_e)
            res.inserted += len(ins_e)
            res.updated += len(upd_e)

        if not changed_from:
            return
        changed = set(changed_from)
        obs_rows = [(k[0], k[2], k[1], v[1], v[2]) for k, v in old_obs.items() if k[0] in changed]
        ev_rows = [(k[0], k[2], k[1], v[1], v[2], k[3]) for k, v in old_ev.items()
                   if k[0] in changed]
        res.patient_days = len({(r[0], math.floor(r[1])) for r in obs_rows}
                               | {(r[0], math.floor(r[1])) for r in ev_rows})
        self._regrade(session, changed_from, obs_rows, ev_rows, res, now)

    # -- grading, risk and alerts -------------------------------------------------------------
    def cohort_of(self, session: Session, pks: Sequence[int], obs_rows: Sequence[tuple[Any, ...]],
                  ev_rows: Sequence[tuple[Any, ...]]) -> tuple[Cohort, dict[int, str]]:
        """The canonical cohort of stored patients ``pks`` from their rows (ids as stored):
        observations ``(pk, day, analyte, value, unit)``, events ``(pk, day, event, value,
        unit, detail)``."""
        recs = []
        pid_of: dict[int, str] = {}
        t = _table(Patient)
        for k in range(0, len(pks), _CHUNK):
            for pk, pid, base in session.execute(select(t.c.id, t.c.patient_id, t.c.baseline)
                                                 .where(t.c.id.in_(pks[k:k + _CHUNK]))):
                pid_of[int(pk)] = str(pid)
                recs.append({"patient_id": str(pid), **(base or {})})
        # one frame from columns (numeric baseline columns converted before, not set after)
        names = list(dict.fromkeys(name for r in recs for name in r))
        cols: dict[str, Any] = {}
        for name in names:
            values = [r.get(name, np.nan) for r in recs]
            col = PATIENT_COLUMNS.get(name)
            cols[name] = (pd.to_numeric(pd.Series(values, dtype=object), errors="coerce")
                          if col is not None and col.kind in ("float", "int01") else values)
        patients = pd.DataFrame(cols)
        o = pd.DataFrame({
            "patient_id": [pid_of[r[0]] for r in obs_rows],
            "day": np.array([r[1] for r in obs_rows], dtype=float),
            "analyte": [r[2] for r in obs_rows],
            "value": np.array([r[3] for r in obs_rows], dtype=float),
            "unit": [r[4] for r in obs_rows]})
        e = pd.DataFrame({
            "patient_id": [pid_of[r[0]] for r in ev_rows],
            "day": np.array([r[1] for r in ev_rows], dtype=float),
            "event": [r[2] for r in ev_rows],
            "value": np.array([np.nan if r[3] is None else r[3] for r in ev_rows], dtype=float),
            "unit": [r[4] or None for r in ev_rows],
            "detail": [r[5] or None for r in ev_rows]})
        return WardCohort(patients=patients, observations=o, events=e), pid_of

    def _regrade(self, session: Session, changed_from: dict[int, int],
                 obs_rows: Sequence[tuple[Any, ...]], ev_rows: Sequence[tuple[Any, ...]],
                 res: IngestResult, now: datetime) -> None:
        from crsscore.grading import grade_cohort

        # Every day of a changed patient is recomputed and replaced, not only the days from
        # the earliest change on: a late result changes its day and the days after it, and
        # a day that only now has a gradable successor gains its risk row (the earlier days
        # come out the same by the person-day time convention; tests/monitor check it).
        # Alerts are keyed, so recomputing never raises one twice.
        pks = sorted(changed_from)
        cohort, pid_of = self.cohort_of(session, pks, obs_rows, ev_rows)
        pk_of = {pid: pk for pk, pid in pid_of.items()}
        res.patients_regraded = len(pks)
        daily = grade_cohort(cohort).daily
        g_pk = np.array([pk_of[p] for p in daily["patient_id"].astype(str)], dtype=np.int64)
        g_day = daily["day"].to_numpy(dtype=np.int64)
        g_crs = daily["crs_grade"].to_numpy(dtype=float, na_value=np.nan)
        g_icans = daily["icans_grade"].to_numpy(dtype=float, na_value=np.nan)
        g_cr = daily["crs_reason"].to_numpy(dtype=object)
        g_ir = daily["icans_reason"].to_numpy(dtype=object)
        g_src = daily["crs_source"].to_numpy(dtype=object)
        gt, rt = _table(DailyGrade), _table(Risk)
        for k in range(0, len(pks), _CHUNK):
            chunk = pks[k:k + _CHUNK]
            session.execute(delete(gt).where(gt.c.patient_pk.in_(chunk)))
            if self.risk is not None:
                session.execute(delete(rt).where(rt.c.patient_pk.in_(chunk)))

        def opt(v: float) -> int | None:
            return None if math.isnan(v) else int(v)

        if len(g_pk):
            stamp = _stamp(session, now)
            _fast_insert(session, DailyGrade, (
                "patient_pk", "day", "crs_grade", "icans_grade", "crs_reason", "icans_reason",
                "crs_source", "updated_at"), [
                (int(pk), int(d), opt(c), opt(i), str(cr)[:200], str(ir)[:200], str(src)[:20],
                 stamp)
                for pk, d, c, i, cr, ir, src in zip(g_pk.tolist(), g_day.tolist(),
                                                     g_crs.tolist(), g_icans.tolist(), g_cr,
                                                     g_ir, g_src, strict=True)])
        existing_alerts = self._alert_keys(session, pks)
        alerts: list[dict[str, Any]] = []
        for kind, grades in (("crs_grade3", g_crs), ("icans_grade3", g_icans)):
            sev = np.flatnonzero(np.nan_to_num(grades, nan=-1.0) >= 3)
            first: dict[int, int] = {}
            for j in sev[np.lexsort((g_day[sev], g_pk[sev]))]:
                first.setdefault(int(g_pk[j]), int(j))
            for pk_i, j in first.items():
                if (pk_i, kind) in existing_alerts["kinds"]:
                    continue
                grade, day_i = int(grades[j]), int(g_day[j])
                label = "CRS" if kind.startswith("crs") else "ICANS"
                alerts.append({"patient_pk": pk_i, "kind": kind, "day": day_i,
                               "value": float(grade), "threshold": 3.0,
                               "message": f"ASTCT {label} grade {grade} on day {day_i}"})
        if self.risk is not None:
            risks = self.risk.score(cohort, daily)
            r_pk = np.array([pk_of[p] for p in risks["patient_id"].astype(str)], dtype=np.int64)
            r_day = risks["day"].to_numpy(dtype=np.int64)
            r_h = risks["horizon"].to_numpy(dtype=np.int64)
            r_v = risks["risk"].to_numpy(dtype=float)
            r_out = risks["outside_day_range"].to_numpy(dtype=bool)
            card_id = self.risk.card_id[:100]
            if len(r_pk):
                stamp = _stamp(session, now)
                _fast_insert(session, Risk, (
                    "patient_pk", "day", "horizon", "risk", "card_id", "outside_day_range",
                    "updated_at"), [
                    (pk, d, h, v, card_id, o, stamp)
                    for pk, d, h, v, o in zip(r_pk.tolist(), r_day.tolist(), r_h.tolist(),
                                              r_v.tolist(), r_out.tolist(), strict=True)])
            order = np.lexsort((r_day, r_h, r_pk))
            r_pk, r_day, r_h, r_v = r_pk[order], r_day[order], r_h[order], r_v[order]
            thr = np.array([self.risk.threshold(int(h)) for h in r_h], dtype=float)
            same_run = np.zeros(len(r_pk), dtype=bool)
            same_run[1:] = (r_pk[1:] == r_pk[:-1]) & (r_h[1:] == r_h[:-1])
            prev = np.where(same_run, np.roll(r_v, 1), -np.inf)
            up = np.flatnonzero((r_v >= thr) & ~(prev >= thr))
            for j in up:
                kind = f"risk_h{int(r_h[j])}"
                key = (int(r_pk[j]), kind, int(r_day[j]))
                if key in existing_alerts["keys"]:
                    continue
                t = float(thr[j])
                alerts.append({"patient_pk": key[0], "kind": kind, "day": key[2],
                               "value": float(r_v[j]), "threshold": t,
                               "message": f"risk of severe CRS within {int(r_h[j])} day(s) "
                                          f"crossed {t:.0%} on day {key[2]}"})
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
