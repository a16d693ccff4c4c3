"""Storage of the ward monitor: SQLAlchemy 2 tables, the engine, and Alembic migrations.

SQLite (a file, the default) and PostgreSQL (``postgresql+psycopg://...``) are both supported;
the schema is created and upgraded only by the Alembic scripts in ``migrations/``
(:func:`upgrade`), never by ``create_all``.

Natural keys (re-sending the same rows creates no duplicates):

- observations: (patient, analyte, day) -- a re-sent row with another value is a correction;
- events: (patient, event, day, detail);
- daily grades: (patient, day); risks: (patient, day, horizon);
- alerts: (patient, kind, day) -- ``day`` is the day of the crossing.

Observation values are stored in the canonical unit (``value``, ``unit``) with the value and
unit as received (``orig_value``, ``orig_unit``).  The audit log holds who, when, what and
how many rows: never values or identifiers.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class Patient(Base):
    __tablename__ = "mon_patients"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[str] = mapped_column(String(100), unique=True)
    infusion_date: Mapped[str | None] = mapped_column(String(10), nullable=True)
    baseline: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    #: bumped by every write that changes the patient's rows (see ``monitor.ingest``)
    version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Observation(Base):
    __tablename__ = "mon_observations"
    __table_args__ = (UniqueConstraint("patient_pk", "analyte", "day", name="uq_obs_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_pk: Mapped[int] = mapped_column(ForeignKey("mon_patients.id", ondelete="CASCADE"),
                                            index=True)
    day: Mapped[float] = mapped_column(Float)
    analyte: Mapped[str] = mapped_column(String(20))
    value: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(20))
    orig_value: Mapped[float] = mapped_column(Float)
    orig_unit: Mapped[str] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(10), default="api")
    received_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Event(Base):
    __tablename__ = "mon_events"
    __table_args__ = (UniqueConstraint("patient_pk", "event", "day", "detail",
                                       name="uq_event_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_pk: Mapped[int] = mapped_column(ForeignKey("mon_patients.id", ondelete="CASCADE"),
                                            index=True)
    day: Mapped[float] = mapped_column(Float)
    event: Mapped[str] = mapped_column(String(40))
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    unit: Mapped[str] = mapped_column(String(40), default="")
    detail: Mapped[str] = mapped_column(String(100), default="")
    source: Mapped[str] = mapped_column(String(10), default="api")
    received_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class DailyGrade(Base):
    __tablename__ = "mon_daily_grades"
    patient_pk: Mapped[int] = mapped_column(ForeignKey("mon_patients.id", ondelete="CASCADE"),
                                            primary_key=True)
    day: Mapped[int] = mapped_column(Integer, primary_key=True)
    crs_grade: Mapped[int | None] = mapped_column(Integer, nullable=True)
    icans_grade: Mapped[int | None] = mapped_column(Integer, nullable=True)
    crs_reason: Mapped[str] = mapped_column(String(200), default="")
    icans_reason: Mapped[str] = mapped_column(String(200), default="")
    crs_source: Mapped[str] = mapped_column(String(20), default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Risk(Base):
    __tablename__ = "mon_risks"
    patient_pk: Mapped[int] = mapped_column(ForeignKey("mon_patients.id", ondelete="CASCADE"),
                                            primary_key=True)
    day: Mapped[int] = mapped_column(Integer, primary_key=True)
    horizon: Mapped[int] = mapped_column(Integer, primary_key=True)
    risk: Mapped[float] = mapped_column(Float)
    card_id: Mapped[str] = mapped_column(String(100))
    outside_day_range: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Alert(Base):
    __tablename__ = "mon_alerts"
    __table_args__ = (UniqueConstraint("patient_pk", "kind", "day", name="uq_alert_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_pk: Mapped[int] = mapped_column(ForeignKey("mon_patients.id", ondelete="CASCADE"),
                                            index=True)
    kind: Mapped[str] = mapped_column(String(40))
    day: Mapped[int] = mapped_column(Integer)
    value: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    message: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(100), nullable=True)


class ApiToken(Base):
    __tablename__ = "mon_api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class PageSession(Base):
    __tablename__ = "mon_sessions"
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("mon_api_tokens.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime)


class AuditLog(Base):
    __tablename__ = "mon_audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(60))
    n_rows: Mapped[int] = mapped_column(Integer, default=0)
    n_inserted: Mapped[int] = mapped_column(Integer, default=0)
    n_updated: Mapped[int] = mapped_column(Integer, default=0)
    n_patients: Mapped[int] = mapped_column(Integer, default=0)
    outcome: Mapped[str] = mapped_column(String(20), default="ok")


def default_url(path: str | Path = "crsscore-monitor.db") -> str:
    return f"sqlite:///{Path(path)}"


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and a busy timeout."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _rec: Any) -> None:
            # pysqlite's own BEGIN handling would defer the lock: take it at BEGIN instead
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            if ":memory:" not in url:
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            # writers take the lock at BEGIN (no deadlock on upgrade); readers do not
            immediate = conn.get_execution_options().get("sqlite_immediate", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def upgrade(url_or_engine: str | Engine, revision: str = "head") -> None:
    """Create or upgrade the schema with the package's Alembic scripts."""
    from alembic import command
    from alembic.config import Config

    engine = make_engine(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


class _WriterFileLock:
    """The SQLite file's writers queue on an exclusive ``flock`` of ``<file>-writer.lock``
    (several ``monitor serve`` worker processes): the kernel wakes the next writer as soon as
    the lock is free, where SQLite's busy handler would poll with sleeps of up to 100 ms."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        import fcntl

        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def release(self) -> None:
        import fcntl

        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _writer_file_lock(engine: Engine) -> _WriterFileLock | None:
    """A writers' file lock for a SQLite file where ``flock`` exists (POSIX), else None (the
    busy timeout alone serialises the processes)."""
    name = engine.url.database
    if engine.dialect.name != "sqlite" or not name or name == ":memory:" or \
            name.startswith("file:"):
        return None
    try:
        import fcntl  # noqa: F401
    except ImportError:  # pragma: no cover - not POSIX
        return None
    return _WriterFileLock(Path(f"{name}-writer.lock"))


class Database:
    """Engine, session factory and the write lock (SQLite has one writer at a time: a
    thread lock in the process, and a file lock between processes)."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        self.engine = make_engine(url)
        if migrate:
            upgrade(self.engine)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.is_sqlite = url.startswith("sqlite")
        self._write_lock = threading.Lock()
        self._file_lock = _writer_file_lock(self.engine)

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One transaction: all of it or none of it."""
        lock = self._write_lock if self.is_sqlite else None
        if lock is not None:
            lock.acquire()
        try:
            if self._file_lock is not None:
                self._file_lock.acquire()
            try:
                with self.sessions() as session, session.begin():
                    if self.is_sqlite:
                        session.connection(execution_options={"sqlite_immediate": True})
                    yield session
            finally:
                if self._file_lock is not None:
                    self._file_lock.release()
        finally:
            if lock is not None:
                lock.release()

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self.sessions() as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
        if self._file_lock is not None:
            self._file_lock.close()
