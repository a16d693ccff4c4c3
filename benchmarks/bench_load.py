"""Benchmark: load and check a large canonical cohort, against plain pandas with per-row units.

    .venv/bin/python benchmarks/bench_load.py --n 100000 --seed 1

Writes a simulated cohort (``crsscore.data.simulate.simulate_cohort``; ``--simple`` for a
small built-in generator) as CSV and Parquet into a temporary folder, then times, in the same
run and on the same files:

* ``load_cohort(folder)``: read, unit conversion and all checks (it refuses bad data);
* ``check_cohort(folder)``: read, checks and the full report (counts, missingness pivots);
* naive: ``pd.read_csv`` of the three tables plus per-row unit conversion
  (``units.convert`` called once per observation row, the obvious loop); the loop runs on the
  first ``--naive-rows`` rows and is extrapolated linearly to the whole table (running it on
  tens of millions of rows would take most of an hour).

Prints a Markdown table (paste into BENCHMARKS.md) and, with ``--json``, the raw numbers.
Peak memory is the process's maximum resident set size after each step.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crsscore.data.check import check_cohort
from crsscore.data.cohort import Cohort
from crsscore.data.io import load_cohort
from crsscore.units import convert


def _simple_cohort(n: int, seed: int) -> Cohort:
    """A plain random cohort in canonical units: 12 labs on 5 days, ~60 rows per patient."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"P{i:06d}" for i in range(n)], dtype=object)
    patients = pd.DataFrame({
        "patient_id": pd.Series(ids, dtype="str"),
        "age_years": rng.uniform(3, 75, n).round(1),
        "sex": pd.Series(rng.choice(["F", "M"], n), dtype="str"),
        "mrd_baseline_pct": np.exp(rng.normal(0, 2, n)).clip(0, 100).round(3),
        "synthetic": np.ones(n, dtype=np.int64),
    })
    labs = {"anc": ("10^9/L", 1.0), "hb": ("g/dL", 9.0), "plt": ("10^9/L", 60.0),
            "crp": ("mg/L", 20.0), "ferritin": ("ng/mL", 900.0), "il6": ("pg/mL", 15.0),
            "ldh": ("U/L", 300.0), "creatinine": ("mg/dL", 0.7), "aptt": ("s", 33.0),
            "fibrinogen": ("g/L", 3.0), "albumin": ("g/L", 37.0), "temp": ("C", 37.0)}
    days = np.array([-5.0, 0.0, 3.0, 7.0, 14.0])
    pid = np.repeat(np.arange(n), len(labs) * len(days))
    lab_idx = np.tile(np.repeat(np.arange(len(labs)), len(days)), n)
    day = np.tile(days, n * len(labs)) + rng.normal(0, 0.1, len(pid)).round(3)
    names = np.array(list(labs))
    median = np.array([m for _, m in labs.values()])
    value = (median[lab_idx] * np.exp(rng.normal(0, 0.05, len(pid)))).round(2)
    observations = pd.DataFrame({
        "patient_id": pd.Series(ids[pid], dtype="str"), "day": day,
        "analyte": pd.Series(names[lab_idx], dtype="str"), "value": value,
        "unit": pd.Series(np.array([u for u, _ in labs.values()])[lab_idx], dtype="str")})
    events = pd.DataFrame({"patient_id": pd.Series(ids, dtype="str"), "day": 28.0,
                           "event": "crs_grade_recorded", "value": 0.0, "unit": "",
                           "detail": "astct"})
    return Cohort(patients=patients, observations=observations, events=events,
                  source=f"bench_load simple(n={n}, seed={seed})", synthetic=True)


def _write(cohort: Cohort, folder: Path, fmt: str) -> None:
    try:
        from crsscore.data.simulate import write_cohort
    except ImportError:  # pragma: no cover - simulator not installed
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("patients", "observations", "events"):
            frame = getattr(cohort, name)
            if fmt == "csv":
                frame.to_csv(folder / f"{name}.csv", index=False)
            else:
                frame.to_parquet(folder / f"{name}.parquet", index=False)
        return
    write_cohort(cohort, folder, format=fmt)  # type: ignore[arg-type]


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


_CPU: dict[int, float] = {}


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Wall time of ``fn()``; its CPU time (all threads) is kept in ``_CPU`` by result id."""
    cpu, start = time.process_time(), time.perf_counter()
    out = fn()
    wall = time.perf_counter() - start
    _CPU[id(out)] = time.process_time() - cpu
    return wall, out


def _naive(folder: Path, rows: int) -> dict[str, float]:
    """pandas read_csv of the three tables, then units.convert once per observation row."""
    t_read, frames = _timed(lambda: {name: pd.read_csv(folder / f"{name}.csv")
                                     for name in ("patients", "observations", "events")})
    cpu_read = _CPU.pop(id(frames))
    obs = frames["observations"]
    sample = obs.iloc[:rows]

    def loop() -> list[float]:
        out = []
        for rec in sample.itertuples(index=False):
            out.append(float(convert(rec.value, rec.analyte, rec.unit)[()]))
        return out

    t_loop, converted = _timed(loop)
    cpu_loop = _CPU.pop(id(converted))
    per_row = t_loop / max(len(sample), 1)
    return {"read_csv_s": t_read, "read_csv_cpu_s": cpu_read,
            "loop_cpu_extrapolated_s": cpu_loop / max(len(sample), 1) * len(obs),
            "loop_rows": float(len(sample)), "loop_s": t_loop,
            "loop_extrapolated_s": per_row * len(obs),
            "total_extrapolated_s": t_read + per_row * len(obs)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="patients")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--simple", action="store_true",
                        help="use the built-in generator instead of the simulator")
    parser.add_argument("--naive-rows", type=int, default=200_000,
                        help="rows run through the naive per-row loop (then extrapolated)")
    parser.add_argument("--out", type=Path, default=None, help="keep the files here")
    parser.add_argument("--json", type=Path, default=None, help="write the numbers as JSON")
    args = parser.parse_args(argv)

    work = args.out or Path(tempfile.mkdtemp(prefix="crsscore-bench-"))
    results: dict[str, Any] = {"n_patients": args.n, "seed": args.seed,
                               "load_average_at_start": os.getloadavg()[0],
                               "python": platform.python_version(),
                               "machine": f"{platform.machine()}, {_cpu_count()} CPU(s)"}
    try:
        if args.simple:
            generator = "bench_load simple generator"
            t_sim, cohort = _timed(lambda: _simple_cohort(args.n, args.seed))
        else:
            from crsscore.data.simulate import simulate_cohort

            generator = "crsscore.data.simulate.simulate_cohort"
            t_sim, cohort = _timed(lambda: simulate_cohort(args.n, args.seed))
        results |= {"generator": generator, "simulate_s": t_sim,
                    "n_observations": len(cohort.observations), "n_events": len(cohort.events)}
        for fmt in ("csv", "parquet"):
            _write(cohort, work / fmt, fmt)
        results["csv_mb"] = sum(p.stat().st_size for p in (work / "csv").glob("*.csv")) / 1e6
        del cohort

        for fmt in ("parquet", "csv"):
            t_load, loaded = _timed(lambda f=fmt: load_cohort(work / f))
            cpu_load = _CPU.pop(id(loaded))
            n_obs = len(loaded.observations)
            del loaded
            t_check, report = _timed(lambda f=fmt: check_cohort(work / f))
            cpu_check = _CPU.pop(id(report))
            results[fmt] = {"load_cohort_s": t_load, "check_cohort_s": t_check,
                            "load_cohort_cpu_s": cpu_load, "check_cohort_cpu_s": cpu_check,
                            "rows_per_s_load": n_obs / t_load, "errors": len(report.errors),
                            "peak_rss_mb": _peak_mb()}
            del report
        results["naive_pandas"] = _naive(work / "csv", args.naive_rows)
        results["load_average_at_end"] = os.getloadavg()[0]
    finally:
        if args.out is None:
            shutil.rmtree(work, ignore_errors=True)
    _print(results)
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return results


def _cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _print(r: dict[str, Any]) -> None:
    naive = r["naive_pandas"]
    print(f"{r['n_patients']:,} patients, {r['n_observations']:,} observation rows, "
          f"{r['n_events']:,} event rows ({r['generator']}, seed {r['seed']}; CSV "
          f"{r['csv_mb']:.0f} MB; simulated in {r['simulate_s']:.1f} s; Python {r['python']}, "
          f"{r['machine']})\n")
    c, p = r["csv"], r["parquet"]
    print("| step | CSV wall (CPU) | Parquet wall (CPU) |")
    print("|---|---|---|")
    print(f"| `load_cohort` (read + units + all checks) | {c['load_cohort_s']:.1f} s "
          f"({c['load_cohort_cpu_s']:.1f} s) | {p['load_cohort_s']:.1f} s "
          f"({p['load_cohort_cpu_s']:.1f} s) |")
    print(f"| `check_cohort` (read + checks + report) | {c['check_cohort_s']:.1f} s "
          f"({c['check_cohort_cpu_s']:.1f} s) | {p['check_cohort_s']:.1f} s "
          f"({p['check_cohort_cpu_s']:.1f} s) |")
    print(f"| observation rows per second (load) | {r['csv']['rows_per_s_load']:,.0f} | "
          f"{r['parquet']['rows_per_s_load']:,.0f} |")
    print(f"| naive: `pd.read_csv` of the three tables | {naive['read_csv_s']:.1f} s "
          f"({naive['read_csv_cpu_s']:.1f} s) | |")
    print(f"| naive: per-row `units.convert` ({naive['loop_rows']:,.0f} rows measured, "
          f"{naive['loop_s']:.1f} s), extrapolated | {naive['loop_extrapolated_s']:.0f} s "
          f"({naive['loop_cpu_extrapolated_s']:.0f} s) | |")
    print(f"| naive total (extrapolated) | {naive['total_extrapolated_s']:.0f} s | |")
    print(f"\nerrors found: CSV {r['csv']['errors']}, Parquet {r['parquet']['errors']}; "
          f"peak RSS {r['csv']['peak_rss_mb']:.0f} MB")
    speed = naive["total_extrapolated_s"] / r["csv"]["load_cohort_s"]
    print(f"load_cohort on CSV is {speed:.0f}x faster than the naive pandas path")
    print(f"1-minute load average {r['load_average_at_start']:.1f} at start, "
          f"{r['load_average_at_end']:.1f} at end ({r['machine']}): timings above 1 per CPU "
          "include waiting for other processes")


if __name__ == "__main__":
    main()
