"""The ward monitor (issue 17): latency of one patient-day update at a fixed request rate, and
bulk import rate, on SQLite and PostgreSQL over loopback, beside plain batch scoring.

1. Simulate the cohort (n = 125, seed 1) and fit a dynamic card on it.
2. Batch path: load the files, grade (ASTCT), build the person-days and score them with the
   card (``crsscore score-dynamic``'s steps) -> patient-days per second.
3. For each database: bulk import of the whole cohort through ``Monitor.ingest_loaded``
   (``crsscore monitor import``'s path: read, check, store, re-grade, re-score, alerts) into an
   empty database -> patient-days per second.
4. For each database: a fresh database gets days < 7 of every patient by import; then
   ``crsscore monitor serve`` (a separate process, loopback) receives one request per
   patient-day (that day's observations, patients round-robin, days 7, 8, ...) at a fixed
   rate (open loop, ``--rate`` requests/s for ``--seconds``). Each request is ingest +
   re-grade + re-score + alert check in one transaction. Latency is measured from the
   request's scheduled time (so a queue behind a slow request counts) and from its send time.
5. Before 4, the same kind of update called in-process (``Monitor.ingest_rows``, no HTTP):
   its CPU time (``time.process_time``, not disturbed by other processes' load as wall
   time is), and that of the loaders' check of its rows alone.

PostgreSQL: a throwaway cluster started with Debian's initdb/pg_ctl in a temp dir (as the
tests do), or ``--pg-url``; skipped with the reason when neither works.

    .venv/bin/python benchmarks/bench_monitor.py [--rates 5,50] [--seconds 10] [--no-pg]
        [--workers 1,2]

The server's CPU per update (its processes' user + system time over a phase, from /proc) is
printed beside the wall-clock figures: it does not depend on the other processes' load.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "monitor"))  # the tests' throwaway cluster helper
sys.path.insert(0, str(ROOT / "tests"))  # ... and the live-server helper it uses


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    if not s:
        return math.nan
    k = min(len(s) - 1, max(0, math.ceil(q / 100 * len(s)) - 1))
    return s[k]


def load_average() -> str:
    try:
        return os.getloadavg().__repr__()
    except OSError:
        return "?"


def batch_rate(cohort_dir: Path, card: Any) -> tuple[float, int]:
    from crsscore.data.io import load_cohort
    from crsscore.grading import grade_cohort
    from crsscore.modeling.persondays import build_person_days

    t0 = time.perf_counter()
    cohort = load_cohort(cohort_dir)
    grading = grade_cohort(cohort)
    lo, hi = card.day_range
    pdays = build_person_days(cohort, grading, horizons=card.horizons, analytes=card.analytes,
                              window=card.window_days, first_day=lo, last_day=hi)
    card.predict(pdays.data)
    dt = time.perf_counter() - t0
    # patient-days as the import counts them: distinct (patient, day) with any row
    import numpy as np
    import pandas as pd

    keys = pd.concat([cohort.observations[["patient_id", "day"]],
                      cohort.events[["patient_id", "day"]]])
    keys = keys.assign(day=np.floor(pd.to_numeric(keys["day"])))
    return dt, len(keys.drop_duplicates())


def bulk_import(url: str, cohort_dir: Path, card: Any) -> tuple[float, int, int]:
    from crsscore.data.check import validate_tables
    from crsscore.data.tables import read_cohort_tables
    from crsscore.monitor.db import Database
    from crsscore.monitor.ingest import Monitor
    from crsscore.monitor.risk import DynamicCardRisk

    db = Database(url)
    mon = Monitor(db, DynamicCardRisk(card, 0.2))
    t0 = time.perf_counter()
    loaded = read_cohort_tables(cohort_dir)
    validate_tables(loaded)
    res = mon.ingest_loaded(loaded, actor="bench", action="import")
    dt = time.perf_counter() - t0
    db.dispose()
    return dt, res.patient_days, res.inserted


def split_cohort(cohort_dir: Path, out: Path, day: int) -> None:
    """The same cohort with only rows before ``day`` (the ward's history)."""
    import pandas as pd

    out.mkdir(parents=True, exist_ok=True)
    for name in ("patients", "observations", "events"):
        frame = pd.read_csv(cohort_dir / f"{name}.csv", dtype=str, keep_default_na=False)
        if name != "patients":
            frame = frame[pd.to_numeric(frame["day"]) < day]
        frame.to_csv(out / f"{name}.csv", index=False)


def updates(cohort_dir: Path, start_day: int, n: int) -> list[tuple[str, dict[str, Any]]]:
    """``n`` patient-day requests: that day's observations, patients round-robin."""
    import pandas as pd

    obs = pd.read_csv(cohort_dir / "observations.csv", keep_default_na=False)
    obs = obs[obs["value"].astype(str) != ""]
    obs["d"] = pd.to_numeric(obs["day"]).map(math.floor)
    groups = {k: g for k, g in obs[obs["d"] >= start_day].groupby(["d", "patient_id"])}
    order = sorted(groups, key=lambda k: (k[0], k[1]))
    out = []
    for k in order[:n]:
        g = groups[k]
        rows = [{"day": float(r.day), "analyte": str(r.analyte), "value": float(r.value),
                 "unit": str(r.unit)} for r in g.itertuples()]
        out.append((str(k[1]), {"observations": rows}))
    return out


def serve(url: str, card_file: Path, port: int, workers: int) -> subprocess.Popen[bytes]:
    exe = Path(sys.executable).parent / "crsscore"
    proc = subprocess.Popen([str(exe), "monitor", "serve", "--db", url, "--card",
                             str(card_file), "--port", str(port), "--threshold", "0.2",
                             "--workers", str(workers)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the monitor did not start")


def open_loop(port: int, token: str, reqs: list[tuple[str, dict[str, Any]]], rate: float,
              clients: int = 16) -> dict[str, Any]:
    """Send ``reqs`` on a fixed schedule (``rate`` per second) whatever the answers, from
    ``clients`` threads; each request takes a kept-alive connection from a pool. The
    connections are opened (one ``GET /api/v1/health`` each) before the schedule starts, so
    the client's own start-up (an ``httpx.Client`` builds an SSL context, ~10 ms of CPU on
    the same two cores) is not counted as the server's latency."""
    import queue

    import httpx

    lock = threading.Lock()
    from_sched: list[float] = []
    from_send: list[float] = []
    errors: list[int] = []
    pool: queue.SimpleQueue[httpx.Client] = queue.SimpleQueue()
    made = []
    for _ in range(clients):
        c = httpx.Client(base_url=f"http://127.0.0.1:{port}",
                         headers={"Authorization": f"Bearer {token}"}, timeout=30)
        c.get("/api/v1/health")
        made.append(c)
        pool.put(c)

    t0 = time.perf_counter() + 0.2

    def one(i: int, pid: str, body: dict[str, Any]) -> None:
        sched = t0 + i / rate
        wait = sched - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        c = pool.get()
        sent = time.perf_counter()
        r = c.post(f"/api/v1/patients/{pid}/observations", json=body)
        done = time.perf_counter()
        pool.put(c)
        with lock:
            from_sched.append(done - sched)
            from_send.append(done - sent)
            if r.status_code != 200:
                errors.append(r.status_code)

    try:
        with ThreadPoolExecutor(max_workers=clients) as ex:
            for f in [ex.submit(one, i, pid, body) for i, (pid, body) in enumerate(reqs)]:
                f.result()
    finally:
        for c in made:
            c.close()
    wall = time.perf_counter() - t0
    return {"n": len(reqs), "wall": wall, "errors": errors,
            "sched": from_sched, "send": from_send}


def cpu_delta(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else after - before


def server_cpu(proc: subprocess.Popen[bytes]) -> float | None:
    """CPU seconds (user + system) used so far by the server and its worker processes, from
    Linux's /proc (None elsewhere)."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total = 0.0
    todo = [proc.pid]
    try:
        while todo:
            pid = todo.pop()
            stat = Path(f"/proc/{pid}/stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
            for task in Path(f"/proc/{pid}/task").iterdir():
                kids = (task / "children").read_text().split()
                todo.extend(int(k) for k in kids)
    except (OSError, ValueError):
        return None
    return total


def latency(url: str, label: str, cohort_dir: Path, card: Any, card_file: Path,
            rates: list[float], seconds: float, workers: int, tmp: Path
            ) -> list[tuple[str, dict[str, Any]]]:
    from crsscore.monitor.auth import create_token
    from crsscore.monitor.db import Database

    hist = tmp / f"hist-{label}"
    split_cohort(cohort_dir, hist, 7)
    bulk_import(url, hist, card)
    db = Database(url)
    token = create_token(db, "bench")
    db.dispose()
    pool = updates(cohort_dir, 7, 100000)
    from live_server import free_port

    port = free_port()
    proc = serve(url, card_file, port, workers)
    out = []
    try:
        # warm-up: a few requests outside the measurement (first-call imports)
        warm = updates(cohort_dir, 6, 2 * workers + 3)
        open_loop(port, token, warm, 2)
        # The client's heap (cohorts, card, pandas) frozen: a full collection in this process
        # stops all 16 client threads for ~100-300 ms, which showed as bursts of server
        # "latency" (the server's processes freeze theirs: crsscore.monitor.serving).
        gc.collect()
        gc.freeze()
        # closed loop: one client, one request at a time (the update's own latency)
        c0 = server_cpu(proc)
        res = closed_loop(port, token, pool[:100])
        out.append(("sequential", {**res, "cpu": cpu_delta(c0, server_cpu(proc))}))
        used = 100
        for rate in rates:
            n = int(rate * seconds)
            c0 = server_cpu(proc)
            res = open_loop(port, token, pool[used:used + n], rate)
            out.append((f"{rate:g}/s open loop", {**res,
                                                  "cpu": cpu_delta(c0, server_cpu(proc))}))
            used += n
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    return out


def inprocess_cpu(url: str, label: str, cohort_dir: Path, card: Any, tmp: Path,
                  n: int = 200) -> dict[str, float]:
    """CPU (``time.process_time``) of one patient-day update called in-process
    (``Monitor.ingest_rows``: check, store, re-grade, re-score, alerts; no HTTP), and of the
    loaders' check of the same request rows alone (``check_rows``), per update."""
    from crsscore.monitor.db import Database
    from crsscore.monitor.ingest import Monitor, check_rows
    from crsscore.monitor.risk import DynamicCardRisk

    hist = tmp / f"hist-cpu-{label}"
    split_cohort(cohort_dir, hist, 7)
    bulk_import(url, hist, card)
    db = Database(url)
    mon = Monitor(db, DynamicCardRisk(card, 0.2))
    reqs = [[{**r, "patient_id": pid} for r in body["observations"]]
            for pid, body in updates(cohort_dir, 7, n + 10)]
    for rows in reqs[:10]:  # warm-up (first-call imports)
        mon.ingest_rows(observations=rows, actor="bench", action="bench")
    upd: list[float] = []
    chk: list[float] = []
    for rows in reqs[10:]:
        c0 = time.process_time()
        check_rows((), rows, (), {rows[0]["patient_id"]})
        c1 = time.process_time()
        mon.ingest_rows(observations=rows, actor="bench", action="bench")
        c2 = time.process_time()
        chk.append(c1 - c0)
        upd.append(c2 - c1)
    db.dispose()
    return {"n": len(upd), "mean": statistics.mean(upd), "p50": statistics.median(upd),
            "p99": pct(upd, 99), "check_mean": statistics.mean(chk)}


def closed_loop(port: int, token: str, reqs: list[tuple[str, dict[str, Any]]]
                ) -> dict[str, Any]:
    import httpx

    lat: list[float] = []
    errors: list[int] = []
    t0 = time.perf_counter()
    with httpx.Client(base_url=f"http://127.0.0.1:{port}",
                      headers={"Authorization": f"Bearer {token}"}, timeout=30) as c:
        for pid, body in reqs:
            s = time.perf_counter()
            r = c.post(f"/api/v1/patients/{pid}/observations", json=body)
            lat.append(time.perf_counter() - s)
            if r.status_code != 200:
                errors.append(r.status_code)
    return {"n": len(reqs), "wall": time.perf_counter() - t0, "errors": errors,
            "sched": lat, "send": lat}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rates", default="5,50", help="open-loop request rates (per second)")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--workers", default="1,2",
                    help="monitor serve --workers, one run each (comma-separated)")
    ap.add_argument("--no-pg", action="store_true")
    ap.add_argument("--pg-url", default=None)
    args = ap.parse_args()

    from crsscore.data.io import load_cohort
    from crsscore.data.simulate import simulate_cohort, write_cohort
    from crsscore.modeling.dynamic import fit_dynamic
    from crsscore.modeling.persondays import build_person_days

    tmp = Path(tempfile.mkdtemp(prefix="bench-monitor-"))
    cluster = None
    try:
        cohort_dir = tmp / "cohort"
        write_cohort(simulate_cohort(n=125, seed=1), cohort_dir)
        card = fit_dynamic(build_person_days(load_cohort(cohort_dir)), seed=1).to_card()
        card_file = tmp / "card.json"
        card_file.write_text(card.model_dump_json(), encoding="utf-8")
        print(f"load average at start {load_average()}, {os.cpu_count()} cores")

        dt, n_days = batch_rate(cohort_dir, card)
        dt2, _ = batch_rate(cohort_dir, card)
        best = min(dt, dt2)
        print(f"batch (load + grade + person-days + score): {n_days} patient-days in "
              f"{best:.2f} s -> {n_days / best:,.0f} patient-days/s")

        dbs: list[tuple[str, Any]] = [("sqlite", lambda k: f"sqlite:///{tmp / f'{k}.db'}")]
        if not args.no_pg:
            if args.pg_url:
                dbs.append(("postgresql", lambda k: args.pg_url))
            else:
                try:
                    from monitor_support import PgCluster

                    cluster = PgCluster()
                    cluster.start()
                    c = cluster
                    dbs.append(("postgresql", lambda k: c.new_database()))
                except Exception as exc:
                    print(f"PostgreSQL skipped: {exc}")
        for label, make in dbs:
            times = []
            for k in range(2):
                dt, pdays, rows = bulk_import(make(f"bulk{k}"), cohort_dir, card)
                times.append(dt)
            best = min(times)
            print(f"{label}: bulk import {pdays} patient-days ({rows} rows) in {best:.2f} s -> "
                  f"{pdays / best:,.0f} patient-days/s (runs: "
                  + ", ".join(f"{t:.2f}" for t in times) + ")")
            cpu = inprocess_cpu(make("cpu"), label, cohort_dir, card, tmp)
            print(f"{label}: one update in-process ({cpu['n']:.0f} updates): CPU mean "
                  f"{1000 * cpu['mean']:.1f} ms, p50 {1000 * cpu['p50']:.1f} ms, p99 "
                  f"{1000 * cpu['p99']:.1f} ms; of which the loaders' check of the request "
                  f"rows (check_rows) {1000 * cpu['check_mean']:.1f} ms; load average "
                  f"{load_average()}")
            rates = [float(r) for r in args.rates.split(",") if r.strip()]
            for workers in [int(w) for w in args.workers.split(",") if w.strip()]:
                for mode, res in latency(make(f"lat{workers}"), label, cohort_dir, card,
                                         card_file, rates, args.seconds, workers, tmp):
                    s, d = res["sched"], res["send"]
                    cpu_per = ("?" if res["cpu"] is None
                               else f"{1000 * res['cpu'] / res['n']:.0f} ms")
                    print(f"{label} ({workers} worker(s)), {mode}: {res['n']} patient-day "
                          f"updates in {res['wall']:.1f} s ({res['n'] / res['wall']:.1f}/s, "
                          f"errors {len(res['errors'])}): from schedule p50 "
                          f"{1000 * statistics.median(s):.0f} ms, p99 "
                          f"{1000 * pct(s, 99):.0f} ms; from send p50 "
                          f"{1000 * statistics.median(d):.0f} ms, p99 "
                          f"{1000 * pct(d, 99):.0f} ms; server CPU per update {cpu_per}; "
                          f"load average {load_average()}")
    finally:
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
