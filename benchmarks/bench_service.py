"""Benchmark: single-patient scoring over HTTP on loopback, beside comparators in the same run.

    .venv/bin/python benchmarks/bench_service.py [--requests 1000] [--concurrency 4] [--rounds 10]

The server runs in a separate process (uvicorn, configured exactly as ``crsscore serve``,
access log on, written to /dev/null).  This process is the client: one keep-alive
``httpx.Client`` per thread, a warm-up, then a fixed number of requests per case, run in
interleaved rounds (every case gets a slice of every period: on a shared machine the load
drifts, and a case measured alone in a quiet minute would look faster).  Reported side by side:

* ``score_frame`` in process (the library's arithmetic alone, one-row frame);
* ``score_patient`` in process (the service core: unit and range checks, warnings, score_frame);
* ``POST /echo`` on a minimal FastAPI app (same server settings, a pydantic body of the same
  size echoed back): the floor that HTTP + JSON + FastAPI cost on this machine;
* ``POST /api/v1/scorecards/{card}/score`` for m-EASIX and CAR-HEMATOTOX.

Latency p50/p99 comes from the sequential run (one request in flight); requests per second
from both the sequential run and a run with ``--concurrency`` client threads.

``--health-under-batch`` measures something else: how long ``GET /api/v1/health`` takes while
``POST /api/v1/scorecards/m-easix/batch`` uploads of about ``--batch-mb`` MB are being scored
(``--batch-threads`` uploads in flight at a time), against the same probe on an idle server.
The probe runs every 20 ms from its own client; a service that scores on its event loop makes
every other request wait for the whole batch.

    .venv/bin/python benchmarks/bench_service.py --health-under-batch [--batch-mb 8] [--batches 6]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import pandas as pd
from pydantic import BaseModel

EASIX_BODY = {"values": {"ldh": {"value": 250, "unit": "U/L"},
                         "crp": {"value": 50, "unit": "mg/L"},
                         "plt": {"value": 100, "unit": "10^9/L"}}}
HEMATOTOX_BODY = {"values": {"plt": {"value": 100, "unit": "10^9/L"},
                             "anc": {"value": 900, "unit": "cells/uL"},
                             "hb": {"value": 100, "unit": "g/L"},
                             "crp": {"value": 45, "unit": "mg/L"},
                             "ferritin": {"value": 500, "unit": "ng/mL"}}}


# --- server side ------------------------------------------------------------------------------
class EchoMeasurement(BaseModel):
    value: float | str | None = None
    unit: str | None = None


class EchoBody(BaseModel):
    values: dict[str, EchoMeasurement]
    after_tocilizumab: bool = False


def echo_app() -> Any:
    """A minimal FastAPI app with one JSON endpoint of the same shape (the comparator)."""
    from fastapi import FastAPI

    app = FastAPI()

    @app.post("/echo", response_model=EchoBody)
    def echo(body: EchoBody) -> EchoBody:
        return body

    return app


def serve(which: str, port: int) -> None:
    import uvicorn

    from crsscore.cli.serve_cmd import uvicorn_config
    from crsscore.service.main import create_app

    app = create_app() if which == "crsscore" else echo_app()
    uvicorn.Server(uvicorn_config(app, port=port, log_level="info")).run()


# --- client side ------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(which: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--serve", which, "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/openapi.json", timeout=1.0)
            return proc, url
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{which} server did not start")


class HttpCase:
    """Requests to one endpoint from ``concurrency`` keep-alive clients (one per thread)."""

    def __init__(self, url: str, path: str, body: dict[str, Any], concurrency: int) -> None:
        self.path, self.body, self.concurrency = path, body, concurrency
        self.clients = [httpx.Client(base_url=url, timeout=30.0) for _ in range(concurrency)]
        for c in self.clients:  # warm-up, not timed
            for _ in range(30):
                c.post(path, json=body).raise_for_status()

    def run(self, n: int) -> tuple[list[float], float]:
        per = max(1, n // self.concurrency)
        lat: list[list[float]] = [[] for _ in self.clients]
        errors: list[BaseException] = []

        def worker(k: int) -> None:
            c, out = self.clients[k], lat[k]
            try:
                for _ in range(per):
                    t = time.perf_counter_ns()
                    r = c.post(self.path, json=self.body)
                    out.append((time.perf_counter_ns() - t) / 1e6)
                    r.raise_for_status()
            except BaseException as exc:  # reported below, not swallowed
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(self.concurrency)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        if errors:
            raise errors[0]
        return [x for part in lat for x in part], wall

    def close(self) -> None:
        for c in self.clients:
            c.close()


class InProcessCase:
    def __init__(self, fn: Callable[[], object]) -> None:
        self.fn = fn
        for _ in range(30):
            fn()

    def run(self, n: int) -> tuple[list[float], float]:
        lat = []
        t0 = time.perf_counter()
        for _ in range(n):
            t = time.perf_counter_ns()
            self.fn()
            lat.append((time.perf_counter_ns() - t) / 1e6)
        return lat, time.perf_counter() - t0

    def close(self) -> None:
        pass


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q))


def batch_csv(megabytes: float) -> bytes:
    """An m-EASIX batch file of about ``megabytes`` MB (ids, LDH, CRP, platelets)."""
    rng = np.random.default_rng(1)
    n = int(megabytes * 1e6 / 23.4)
    frame = pd.DataFrame({"id": [f"P{i:07d}" for i in range(n)],
                          "ldh [U/L]": rng.integers(120, 900, n),
                          "crp [mg/L]": np.round(rng.uniform(1, 300, n), 2),
                          "plt [10^9/L]": rng.integers(5, 400, n)})
    return frame.to_csv(index=False).encode()


def health_probe(url: str, stop: threading.Event, min_probes: int,
                 interval: float = 0.02) -> list[float]:
    """GET /api/v1/health every ``interval`` seconds until ``stop`` (and ``min_probes`` done)."""
    lat: list[float] = []
    with httpx.Client(base_url=url, timeout=60.0) as c:
        for _ in range(20):  # warm-up
            c.get("/api/v1/health").raise_for_status()
        while not stop.is_set() or len(lat) < min_probes:
            t = time.perf_counter_ns()
            c.get("/api/v1/health").raise_for_status()
            lat.append((time.perf_counter_ns() - t) / 1e6)
            time.sleep(interval)
    return lat


def health_under_batch(megabytes: float, batches: int, threads: int) -> None:
    data = batch_csv(megabytes)
    proc, url = start("crsscore")
    try:
        idle_stop = threading.Event()
        timer = threading.Timer(5.0, idle_stop.set)
        timer.start()
        idle = health_probe(url, idle_stop, 50)
        batch_ms: list[float] = []
        errors: list[BaseException] = []
        per = max(1, batches // threads)

        def upload() -> None:
            try:
                with httpx.Client(base_url=url, timeout=300.0) as c:
                    for _ in range(per):
                        t = time.perf_counter_ns()
                        r = c.post("/api/v1/scorecards/m-easix/batch",
                                   files={"file": ("batch.csv", data, "text/csv")})
                        batch_ms.append((time.perf_counter_ns() - t) / 1e6)
                        r.raise_for_status()
            except BaseException as exc:  # reported below
                errors.append(exc)

        busy_stop = threading.Event()
        busy: list[float] = []
        probe = threading.Thread(target=lambda: busy.extend(health_probe(url, busy_stop, 1)))
        probe.start()
        workers = [threading.Thread(target=upload) for _ in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        busy_stop.set()
        probe.join()
        if errors:
            raise errors[0]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    load = os.getloadavg()[0]
    rows = data.count(b"\n") - 1
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, batch file "
          f"{len(data) / 1e6:.1f} MB ({rows} rows), {len(batch_ms)} uploads "
          f"({threads} at a time), median upload {statistics.median(batch_ms):,.0f} ms, "
          f"1-min load average at the end {load:.1f}")
    print("| GET /api/v1/health | probes | p50 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|")
    for label, lat in (("idle server", idle), ("while batches are scored", busy)):
        print(f"| {label} | {len(lat)} | {pct(lat, 50):.1f} | {pct(lat, 99):.1f} | "
              f"{max(lat):.1f} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--serve", choices=["crsscore", "echo"])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--health-under-batch", action="store_true",
                    help="health latency while batch uploads are scored (see the docstring)")
    ap.add_argument("--batch-mb", type=float, default=8.0)
    ap.add_argument("--batches", type=int, default=6)
    ap.add_argument("--batch-threads", type=int, default=1)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return
    if args.health_under_batch:
        health_under_batch(args.batch_mb, args.batches, args.batch_threads)
        return

    from crsscore.scores.builtin import get_builtin
    from crsscore.scores.evaluate import score_frame
    from crsscore.service.inputs import score_patient

    meas = get_builtin("m-easix")
    frame = pd.DataFrame({"ldh": [250.0], "crp": [50.0], "plt": [100.0]})
    values: dict[str, tuple[object, str | None]] = {
        "ldh": (250.0, "U/L"), "crp": (50.0, "mg/L"), "plt": (100.0, "10^9/L")}
    n, rounds = args.requests, args.rounds
    servers = {name: start(name) for name in ("echo", "crsscore")}
    cases: list[tuple[str, str, Any]] = []
    try:
        cases = [
            ("score_frame (in process, m-EASIX)", "1",
             InProcessCase(lambda: score_frame(meas, frame))),
            ("score_patient (in process, m-EASIX)", "1",
             InProcessCase(lambda: score_patient(meas, values)))]
        for label, which, path, body in [
                ("POST /echo (minimal FastAPI)", "echo", "/echo", EASIX_BODY),
                ("POST /api/v1/scorecards/m-easix/score", "crsscore",
                 "/api/v1/scorecards/m-easix/score", EASIX_BODY),
                ("POST /api/v1/scorecards/car-hematotox/score", "crsscore",
                 "/api/v1/scorecards/car-hematotox/score", HEMATOTOX_BODY)]:
            for conc in (1, args.concurrency):
                cases.append((label, str(conc), HttpCase(servers[which][1], path, body, conc)))
        # Interleaved rounds: on a shared machine the load drifts, so every case gets a slice
        # of every period instead of one case getting the quiet minute.
        lat_all: list[list[float]] = [[] for _ in cases]
        wall_all = [0.0 for _ in cases]
        for _ in range(rounds):
            for k, (_, _, case) in enumerate(cases):
                lat, wall = case.run(n // rounds)
                lat_all[k].extend(lat)
                wall_all[k] += wall
    finally:
        for _, _, case in cases:
            case.close()
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait(timeout=10)
    rows = [(label, conc, lat_all[k], wall_all[k], len(lat_all[k]))
            for k, (label, conc, _) in enumerate(cases)]
    load = os.getloadavg()[0]

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {n} requests per row in "
          f"{rounds} interleaved rounds, 1-min load average at the end {load:.1f}")
    print("| what | client threads | p50 ms | p99 ms | mean ms | requests/s |")
    print("|---|---|---|---|---|---|")
    for label, conc, lat, wall, count in rows:
        print(f"| {label} | {conc} | {pct(lat, 50):.3f} | {pct(lat, 99):.3f} | "
              f"{statistics.fmean(lat):.3f} | {count / wall:,.0f} |")


if __name__ == "__main__":
    main()
