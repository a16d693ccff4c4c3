"""Helpers of the ward-monitor tests (a unique module name: tests/service has a conftest too).

A throwaway PostgreSQL cluster (initdb/pg_ctl in a temp dir), an app with a client and a
token (:class:`Ward`), a live uvicorn server, and posting a cohort day by day.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Any

import live_server as live
from live_server import free_port

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("CRSSCORE_TEST_ARTIFACTS", REPO / "out" / "test-artifacts"))


def artifacts_dir() -> Path:
    out = ARTIFACTS / "monitor"
    out.mkdir(parents=True, exist_ok=True)
    return out


def _pg_bin() -> Path | None:
    for pattern in ("/usr/lib/postgresql/*/bin",):
        for d in sorted(glob.glob(pattern), reverse=True):
            if os.path.exists(os.path.join(d, "initdb")):
                return Path(d)
    found = shutil.which("initdb")
    return Path(found).resolve().parent if found else None


class PgCluster:
    """initdb + pg_ctl in a temp dir, as a non-root user when run as root."""

    def __init__(self) -> None:
        bindir = _pg_bin()
        if bindir is None:
            raise RuntimeError("PostgreSQL is not installed (no initdb; .ci/run installs "
                               "Debian's postgresql)")
        self.bin = bindir
        self.dir = Path(tempfile.mkdtemp(prefix="crsmon-pg-"))
        self.port = free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            import pwd

            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError("running as root and there is no 'postgres' user to run "
                                   "initdb as") from None
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            runuser = shutil.which("runuser") or shutil.which("su")
            if runuser is None:
                raise RuntimeError("running as root without runuser/su to drop privileges")
            self.as_user = [runuser, "-u", "postgres", "--"] if runuser.endswith(
                "runuser") else [runuser, "postgres", "-c"]
        self.data = self.dir / "data"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [*self.as_user, *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)

    def start(self) -> None:
        r = self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
                      "-A", "trust", "-E", "UTF8", "--no-sync")
        if r.returncode != 0:
            raise RuntimeError(f"initdb failed: {r.stderr.strip()[-300:]}")
        opts = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        r = self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l",
                      str(self.dir / "log.txt"), "-o", opts, "-w", "-t", "60", "start")
        if r.returncode != 0:
            log = (self.dir / "log.txt").read_text(errors="replace")[-300:] if (
                self.dir / "log.txt").exists() else r.stderr[-300:]
            raise RuntimeError(f"pg_ctl start failed: {log.strip()}")

    def stop(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w",
                  "stop")
        shutil.rmtree(self.dir, ignore_errors=True)

    def new_database(self) -> str:
        import psycopg

        name = "crsmon_" + uuid.uuid4().hex[:10]
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"


class Ward:
    """An app over a database, a client and an API token."""

    def __init__(self, url: str, risk: Any = None) -> None:
        from fastapi.testclient import TestClient

        from crsscore.monitor.app import create_monitor_app
        from crsscore.monitor.auth import create_token
        from crsscore.monitor.db import Database

        self.db = Database(url)
        self.app = create_monitor_app(self.db, risk)
        self.monitor = self.app.state.monitor
        self.token = create_token(self.db, "tests")
        self.headers = {"Authorization": f"Bearer {self.token}"}
        self.client = TestClient(self.app, raise_server_exceptions=False)

    def post(self, path: str, body: Any) -> Any:
        return self.client.post(path, json=body, headers=self.headers)

    def counts(self) -> dict[str, int]:
        from sqlalchemy import func, select

        from crsscore.monitor import db as m

        with self.db.read() as s:
            return {t.__tablename__: int(s.scalar(select(func.count()).select_from(t)) or 0)
                    for t in (m.Patient, m.Observation, m.Event, m.DailyGrade, m.Risk,
                              m.Alert)}

    def close(self) -> None:
        self.client.close()
        self.db.dispose()


class LiveServer(live.LiveServer):
    """uvicorn in a thread on a free loopback port, configured as ``monitor serve`` does."""

    def config(self, fastapi_app: Any, port: int) -> Any:
        from crsscore.monitor.logconfig import monitor_uvicorn_config

        return monitor_uvicorn_config(fastapi_app, port=port, log_level="warning")


def restored_logging() -> contextlib.AbstractContextManager[None]:
    """uvicorn applies the monitor's logging config; undo it for the other tests."""
    return live.restored_logging(("uvicorn", "uvicorn.error", "uvicorn.access",
                                         "crsscore.service", "crsscore.monitor"))


def ward_day_by_day(w: Ward, cohort: Any, pids: list[str],
                    skip: tuple[str, int] | None = None) -> int:
    """Post each patient's rows day by day (observations, then events); returns requests."""
    import math

    import pandas as pd

    from crsscore.monitor.ingest import _jsonable

    pats = cohort.patients[cohort.patients["patient_id"].isin(pids)]
    rows = []
    for rec in pats.to_dict(orient="records"):
        rows.append({k: _jsonable(v) for k, v in rec.items() if _jsonable(v) is not None})
    r = w.post("/api/v1/patients", {"patients": rows})
    assert r.status_code == 200, r.text
    n = 1
    obs, ev = cohort.observations, cohort.events
    for pid in pids:
        o = obs[obs["patient_id"] == pid].assign(d=lambda f: f["day"].map(math.floor))
        e = ev[ev["patient_id"] == pid].assign(d=lambda f: f["day"].map(math.floor))
        for day in sorted(set(o["d"]) | set(e["d"])):
            oo = o[o["d"] == day]
            if skip is not None and day == skip[1]:
                oo = oo[oo["analyte"] != skip[0]]
            if len(oo):
                body = [{"day": float(x.day), "analyte": str(x.analyte), "value": float(x.value),
                         "unit": str(x.unit)} for x in oo.itertuples()]
                r = w.post(f"/api/v1/patients/{pid}/observations", {"observations": body})
                assert r.status_code == 200, r.text
                n += 1
            ee = e[e["d"] == day]
            if len(ee):
                body = []
                for x in ee.itertuples():
                    row: dict[str, Any] = {"day": float(x.day), "event": str(x.event)}
                    if not pd.isna(x.value):
                        row["value"] = float(x.value)
                    for c in ("unit", "detail"):
                        v = getattr(x, c)
                        if isinstance(v, str) and v and v != "nan":
                            row[c] = v
                    body.append(row)
                r = w.post(f"/api/v1/patients/{pid}/events", {"events": body})
                assert r.status_code == 200, r.text
                n += 1
    return n
