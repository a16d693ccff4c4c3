"""Benchmark: single-patient scoring over HTTP on loopback, beside comparators in the same run.

    .venv/bin/python benchmarks/bench_service.py [--requests 2000] [--concurrency 4]

The server runs in a separate process (uvicorn, configured exactly as ``crsscore serve``,
access log on, written to /dev/null).  This process is the client: one keep-alive
``httpx.Client`` per thread, a warm-up, then a fixed number of requests.  Reported side by side:

* ``score_frame`` in process (the library's arithmetic alone, one-row frame);
* ``score_patient`` in process (the service core: unit and range checks, warnings, score_frame);
* ``POST /echo`` on a minimal FastAPI app (same server settings, a pydantic body of the same
  size echoed back): the floor that HTTP + JSON + FastAPI cost on this machine;
* ``POST /api/v1/scorecards/{card}/score`` for m-EASIX and CAR-HEMATOTOX.

Latency p50/p99 comes from the sequential run (one request in flight); requests per second
from both the sequential run and a run with ``--concurrency`` client threads.
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


def run_http(url: str, path: str, body: dict[str, Any], n: int, concurrency: int
             ) -> tuple[list[float], float]:
    """Latencies (ms) of ``n`` requests split over ``concurrency`` threads, and wall time (s)."""
    per = n // concurrency
    lat: list[list[float]] = [[] for _ in range(concurrency)]
    barrier = threading.Barrier(concurrency + 1, timeout=120)

    def worker(k: int) -> None:
        with httpx.Client(base_url=url, timeout=10.0) as c:
            try:
                for _ in range(50):  # warm-up, not timed
                    c.post(path, json=body).raise_for_status()
            except httpx.HTTPError:
                barrier.abort()
                raise
            barrier.wait()
            out = lat[k]
            for _ in range(per):
                t = time.perf_counter_ns()
                r = c.post(path, json=body)
                out.append((time.perf_counter_ns() - t) / 1e6)
                r.raise_for_status()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(concurrency)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    return [x for part in lat for x in part], time.perf_counter() - t0


def run_inprocess(fn: Callable[[], object], n: int) -> tuple[list[float], float]:
    for _ in range(50):
        fn()
    lat = []
    t0 = time.perf_counter()
    for _ in range(n):
        t = time.perf_counter_ns()
        fn()
        lat.append((time.perf_counter_ns() - t) / 1e6)
    return lat, time.perf_counter() - t0


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--serve", choices=["crsscore", "echo"])
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return

    from crsscore.scores.builtin import get_builtin
    from crsscore.scores.scorecard import score_frame
    from crsscore.service.scoring import score_patient

    meas = get_builtin("m-easix")
    frame = pd.DataFrame({"ldh": [250.0], "crp": [50.0], "plt": [100.0]})
    values: dict[str, tuple[object, str | None]] = {
        "ldh": (250.0, "U/L"), "crp": (50.0, "mg/L"), "plt": (100.0, "10^9/L")}
    n = args.requests
    rows: list[tuple[str, str, list[float], float, int]] = []
    lat, wall = run_inprocess(lambda: score_frame(meas, frame), n)
    rows.append(("score_frame (in process, m-EASIX)", "1", lat, wall, n))
    lat, wall = run_inprocess(lambda: score_patient(meas, values), n)
    rows.append(("score_patient (in process, m-EASIX)", "1", lat, wall, n))

    servers = {name: start(name) for name in ("echo", "crsscore")}
    try:
        cases = [("POST /echo (minimal FastAPI)", "echo", "/echo", EASIX_BODY),
                 ("POST /api/v1/scorecards/m-easix/score", "crsscore",
                  "/api/v1/scorecards/m-easix/score", EASIX_BODY),
                 ("POST /api/v1/scorecards/car-hematotox/score", "crsscore",
                  "/api/v1/scorecards/car-hematotox/score", HEMATOTOX_BODY)]
        for label, which, path, body in cases:
            url = servers[which][1]
            for conc in (1, args.concurrency):
                lat, wall = run_http(url, path, body, n, conc)
                rows.append((label, str(conc), lat, wall, len(lat)))
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait(timeout=10)

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {n} requests per row")
    print("| what | client threads | p50 ms | p99 ms | mean ms | requests/s |")
    print("|---|---|---|---|---|---|")
    for label, conc, lat, wall, count in rows:
        print(f"| {label} | {conc} | {pct(lat, 50):.3f} | {pct(lat, 99):.3f} | "
              f"{statistics.fmean(lat):.3f} | {count / wall:,.0f} |")


if __name__ == "__main__":
    main()
