"""Start-up time of the command line (issue 18, item 4): hyperfine-like repeated wall times.

Each command is run ``--runs`` times as a fresh process, alternating between the trees compared
(so both see the same load), and the median and minimum wall times and the median CPU time
(user + system, less sensitive to a loaded machine) are reported. ``--baseline
SRC`` compares with another source tree (for example ``git archive HEAD~1 src | tar -x -C /tmp/b``)
run through the same interpreter with ``PYTHONPATH=SRC``; the floor rows are the interpreter
alone and ``import pandas`` (which ``check`` and ``score`` need to read a cohort).

Modules are run from cached bytecode, as in an installed package (pip compiles at install):
each tree gets its own ``PYTHONPYCACHEPREFIX`` in a temporary folder, filled by one untimed
run of every command, and ``PYTHONDONTWRITEBYTECODE`` is unset.  ``--no-bytecode`` times
compiling every module on every start instead (a source checkout with bytecode writing off).

    .venv/bin/python benchmarks/bench_startup.py --runs 15 [--baseline /tmp/b/src]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                          check=False)
    dt = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(argv)} exited with {proc.returncode}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return dt, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--baseline", type=Path, default=None,
                    help="source folder (containing crsscore/) of the tree to compare with")
    ap.add_argument("--no-bytecode", action="store_true",
                    help="compile every module at every start (no bytecode cache)")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="crsscore-startup-"))
    py = sys.executable
    cli = "import sys; from crsscore.cli import main; sys.argv[0] = 'crsscore'; main()"
    subprocess.run([py, "-c", cli, "simulate", "--n", "125", "--seed", "3", "--out",
                    str(tmp / "cohort")], check=True, stdout=subprocess.DEVNULL)
    commands = {
        "crsscore --help": ["--help"],
        "crsscore check DATA": ["check", str(tmp / "cohort")],
        "crsscore score DATA --scorecard car-hematotox": [
            "score", str(tmp / "cohort"), "--scorecard", "car-hematotox", "--out",
            str(tmp / "scores.csv")],
    }
    trees = {"this tree": str(ROOT / "src")}
    if args.baseline is not None:
        trees["baseline"] = str(args.baseline.resolve())
    rows: list[tuple[str, str, list[tuple[float, float]]]] = []
    base_env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    envs: dict[str, dict[str, str]] = {}
    for i, (tree, src) in enumerate(trees.items()):
        env = dict(base_env, PYTHONPATH=src)
        if not args.no_bytecode:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = str(tmp / f"pycache-{i}")
            for argv in commands.values():  # untimed: fills the bytecode cache
                _run([py, "-c", cli, *argv], env)
        envs[tree] = env
    floor_env = dict(base_env)
    if not args.no_bytecode:
        floor_env.pop("PYTHONDONTWRITEBYTECODE", None)
        floor_env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache-0")
    times: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for _ in range(args.runs):
        for label, argv in commands.items():
            for tree in trees:
                times.setdefault((label, tree), []).append(
                    _run([py, "-c", cli, *argv], envs[tree]))
        times.setdefault(("python -c pass", "floor"), []).append(
            _run([py, "-c", "pass"], floor_env))
        times.setdefault(("python -c 'import pandas'", "floor"), []).append(
            _run([py, "-c", "import pandas"], floor_env))
    for (label, tree), ts in times.items():
        rows.append((label, tree, ts))
    load = os.getloadavg()
    cache = "compiled at every start" if args.no_bytecode else "cached bytecode"
    print(f"{args.runs} runs each ({cache}), load average {load[0]:.2f} {load[1]:.2f} "
          f"{load[2]:.2f}")
    print("| command | tree | median wall s | min wall s | median CPU s |")
    print("|---|---|---|---|---|")
    for label, tree, ts in rows:
        wall, cpu = [w for w, _ in ts], [c for _, c in ts]
        print(f"| `{label}` | {tree} | {statistics.median(wall):.3f} | {min(wall):.3f} "
              f"| {statistics.median(cpu):.3f} |")


if __name__ == "__main__":
    main()
