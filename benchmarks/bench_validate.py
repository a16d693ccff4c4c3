"""Benchmark: bootstrap validation (B = 1000) in crsscore vs R rms, side by side in one run.

    .venv/bin/python benchmarks/bench_validate.py            # n = 125 and n = 10,000
    .venv/bin/python benchmarks/bench_validate.py --no-large # n = 125 only
    .venv/bin/python benchmarks/bench_validate.py --only-command [--jobs 2]  # the user's command
    .venv/bin/python benchmarks/bench_validate.py --scaling  # pipeline bootstrap as n grows

Data: tests/fixtures/r/cohort125.csv (n = 125, x1..x7 standard normal, 24 events), and a
simulated n = 10,000 cohort with the same design (written to a temporary CSV for R).
R side: ``Rscript`` with rms, ``validate(lrm(y ~ ., x = TRUE, y = TRUE), B = 1000)`` without
and with ``bw = TRUE, rule = "aic"``; skipped with a note if Rscript or rms is missing.
Python side: :func:`crsscore.validation.internal.validate_lrm` (vectorised IRLS + fastbw) and
the generic whole-pipeline engine :func:`optimism_bootstrap` refitting fit_logistic + fastbw
in every resample.  Prints Markdown tables (times and estimates with Monte Carlo SE).
"""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crsscore.modeling.logistic import fit_logistic
from crsscore.modeling.selection import fastbw
from crsscore.validation.internal import ValidationResult, optimism_bootstrap, validate_lrm

ROOT = Path(__file__).resolve().parents[1]
XCOLS = [f"x{i}" for i in range(1, 8)]
INDEXES = ["Dxy", "R2", "Intercept", "Slope", "Emax", "D", "U", "Q", "B", "g", "gp"]

R_SCRIPT = r"""
suppressMessages(library(rms))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1]); B <- as.integer(args[2]); dobw <- args[3] == "bw"; seed <- as.integer(args[4])
f <- lrm(y ~ x1 + x2 + x3 + x4 + x5 + x6 + x7, data = d, x = TRUE, y = TRUE)
if (length(args) > 4) {  # the resamples validate() will draw after set.seed(seed), 0-based
  set.seed(seed)
  write.csv(sapply(1:B, function(i) sample(nrow(d), replace = TRUE)) - 1L, args[5], row.names = FALSE)
}
set.seed(seed)
st <- system.time(v <- if (dobw) validate(f, B = B, bw = TRUE, rule = "aic", pr = FALSE)
                       else validate(f, B = B))
sink(stderr()); sink()
cat("SECONDS", st[["elapsed"]], st[["user.self"]] + st[["sys.self"]], "\n")
write.csv(data.frame(index = rownames(v), unclass(v)[, 1:6], check.names = FALSE), stdout(), row.names = FALSE)
"""


def run_r(csv: Path, B: int, bw: bool, seed: int, idx_file: Path | None = None) -> tuple[float, pd.DataFrame] | None:
    if shutil.which("Rscript") is None:
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as fh:
        fh.write(R_SCRIPT)
    cmd = ["Rscript", fh.name, str(csv), str(B), "bw" if bw else "nobw", str(seed)]
    if idx_file is not None:
        cmd.append(str(idx_file))
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    Path(fh.name).unlink()
    if proc.returncode != 0:
        print(f"(R failed: {proc.stderr.strip()[-300:]})", file=sys.stderr)
        return None
    out = proc.stdout
    secs_line = next(line for line in out.splitlines() if line.startswith("SECONDS"))
    table = pd.read_csv(io.StringIO(out[out.index("\n", out.index("SECONDS")) + 1 :])).set_index("index")
    table.attrs["cpu_seconds"] = float(secs_line.split()[2])  # R's user + system CPU
    return float(secs_line.split()[1]), table


class LrmPipeline:
    """Whole pipeline for the generic engine: full fit, fastbw (AIC), refit of kept columns."""

    def __init__(self, bw: bool) -> None:
        self.bw = bw

    def __call__(self, X: np.ndarray, y: np.ndarray, weights: np.ndarray | None) -> Any:
        fit = fit_logistic(X, y, weights=weights, names=XCOLS)
        cols = list(range(X.shape[1]))
        if self.bw:
            cols = [XCOLS.index(c) for c in fastbw(fit).names_kept]
            if not cols:
                b0 = float(np.log(y.mean() / (1 - y.mean())))
                return lambda Z: np.full(len(Z), b0)
            fit = fit_logistic(X[:, cols], y, weights=weights)
        return lambda Z, f=fit, c=cols: f.predict_lp(np.asarray(Z)[:, c])


def timed(fn: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def compare(py: ValidationResult, r: pd.DataFrame | None) -> str:
    tab = py.summary()
    lines = ["| index | crsscore index.corrected | optimism (MC se) | R rms index.corrected | R optimism | diff / (sqrt2 * MC se) |",
             "|---|---|---|---|---|---|"]
    for name in INDEXES:
        row = tab.loc[name]
        if r is None:
            lines.append(f"| {name} | {row['index.corrected']:.4f} | {row['optimism']:.4f} ({row['MC se']:.4f}) | - | - | - |")
            continue
        rr = r.loc[name]
        z = (row["optimism"] - rr["optimism"]) / (np.sqrt(2) * row["MC se"]) if np.isfinite(row["MC se"]) else np.nan
        lines.append(
            f"| {name} | {row['index.corrected']:.4f} | {row['optimism']:.4f} ({row['MC se']:.4f}) | "
            f"{rr['index.corrected']:.4f} | {rr['optimism']:.4f} | {z:+.2f} |"
        )
    return "\n".join(lines)


def simulate(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 7))
    lp = -1.9 + 0.9 * X[:, 0] + 0.6 * X[:, 1] + 0.4 * X[:, 2]
    y = (rng.random(n) < 1 / (1 + np.exp(-lp))).astype(int)
    return pd.DataFrame({"y": y, **{c: X[:, i] for i, c in enumerate(XCOLS)}})


def bench(data: pd.DataFrame, label: str, B: int, with_generic: bool, with_r: bool) -> None:
    X, y = data[XCOLS].to_numpy(), data["y"].to_numpy()
    print(f"\n### {label}: n = {len(y)}, events = {int(y.sum())}, B = {B}\n")
    rows = ["| analysis | crsscore validate_lrm (s) | crsscore generic engine (s) | R rms validate (s) | speed-up (R / validate_lrm) | max abs difference, crsscore on R's resamples vs R |",
            "|---|---|---|---|---|---|"]
    tables = []
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "data.csv"
        data.to_csv(csv, index=False)
        for bw in (False, True):
            name = "bw = TRUE, rule = aic" if bw else "no selection"
            t_fast, res = timed(lambda bw=bw: validate_lrm(X, y, B=B, bw=bw, rule="aic", seed=2026))
            t_gen = float("nan")
            if with_generic:
                t_gen, _ = timed(lambda bw=bw: optimism_bootstrap(LrmPipeline(bw), X, y, B=B, seed=2026, stratified=False))
            idx_file = Path(tmp) / "idx.csv"
            r = run_r(csv, B, bw, 2026, idx_file) if with_r else None
            t_r = r[0] if r else float("nan")
            ratio = f"{t_r / t_fast:.0f}x" if r else "R not run"
            exact = "-"
            if r:
                idx = pd.read_csv(idx_file).to_numpy().T
                same = validate_lrm(X, y, bw=bw, rule="aic", seed=2026, indices=idx).table
                cols = ["index.orig", "training", "test", "optimism", "index.corrected"]
                exact = f"{np.max(np.abs(same.loc[r[1].index, cols].to_numpy() - r[1][cols].to_numpy())):.1e}"
            rows.append(f"| {name} | {t_fast:.2f} | {t_gen:.2f} | {t_r:.2f} | {ratio} | {exact} |")
            tables.append((name, res, r[1] if r else None))
    print("\n".join(rows))
    for name, res, rt in tables:
        print(f"\n{label}, {name}, independent random resamples (failed fits: crsscore {res.n_failed}):\n")
        print(compare(res, rt))


def agreement(data: pd.DataFrame, B: int, runs_r: int, runs_py: int) -> None:
    """Repeat both sides with different seeds: mean and SD of index.corrected per index."""
    X, y = data[XCOLS].to_numpy(), data["y"].to_numpy()
    print(f"\n### Agreement over repeated runs (B = {B}; R: {runs_r} seeds, crsscore: {runs_py} seeds)\n")
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "data.csv"
        data.to_csv(csv, index=False)
        for bw in (False, True):
            py = pd.DataFrame([validate_lrm(X, y, B=B, bw=bw, seed=100 + s).table["index.corrected"]
                               for s in range(runs_py)])
            rr = [run_r(csv, B, bw, 100 + s) for s in range(runs_r)]
            if any(r is None for r in rr):
                print("R not available: skipped")
                return
            r = pd.DataFrame([res[1]["index.corrected"] for res in rr if res is not None])
            print(f"\n{'bw = TRUE, rule = aic' if bw else 'no selection'}:\n")
            print("| index | crsscore mean (SD) | R rms mean (SD) | difference / SE |")
            print("|---|---|---|---|")
            for name in INDEXES:
                a, b = py[name], r[name]
                se = np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
                print(f"| {name} | {a.mean():.4f} ({a.std(ddof=1):.4f}) | {b.mean():.4f} ({b.std(ddof=1):.4f}) | "
                      f"{(a.mean() - b.mean()) / se:+.2f} |")


def command_row(B: int, jobs: int, seed: int = 3, baseline: Path | None = None) -> None:
    """The user's command: ``crsscore derive DATA --bootstrap B`` beside R rms validate(bw).

    ``crsscore simulate --n 125 --seed 3``, then ``crsscore derive`` with the default pipeline
    (m = 5 imputations, Firth, backward selection by pooled Wald tests, Sullivan points) at
    day 7 keeping patients already severe (with ``--prior-outcome exclude`` this cohort has
    2 events and the sample-size floor refuses a card).  The bootstrap stage is timed inside
    the command (``bootstrap_seconds`` of its ``--json``), the whole command from outside.
    R: ``validate(lrm(7 candidates), B, bw = TRUE, rule = "aic")`` on the same patients, the
    candidates on the model scale completed by the reported model's prediction imputer (a
    single imputation: R does less work), in the same run.
    """
    import json
    import os
    import resource
    import warnings

    from crsscore.data.io import load_cohort
    from crsscore.modeling.derivation import DerivationSettings
    from crsscore.workflow import derive

    cli = [sys.executable, "-c", "import sys; from crsscore.cli import main; sys.argv[0] = 'crsscore'; main()"]
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    with tempfile.TemporaryDirectory() as tmp:
        cohort_dir, js = Path(tmp) / "cohort", Path(tmp) / "derive.json"
        subprocess.run([*cli, "simulate", "--n", "125", "--seed", str(seed), "--out", str(cohort_dir)],
                       check=True, stdout=subprocess.DEVNULL, env=env)
        def argv(b: int) -> list[str]:
            return [*cli, "derive", str(cohort_dir), "--landmark", "day7", "--prior-outcome",
                    "keep", "--select", "backward", "--bootstrap", str(b), "--seed", "1",
                    "--jobs", str(jobs), "--out", str(Path(tmp) / "card.json"), "--json", str(js)]

        def run(args: list[str], run_env: dict[str, str]) -> tuple[float, float]:
            """Wall and CPU seconds (user + system, the process and its workers)."""
            r0, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
            subprocess.run(args, check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, env=run_env)
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            return (time.perf_counter() - t0,
                    (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime))

        t_cmd, c_cmd = run(argv(B), env)
        t_boot = float(json.loads(js.read_text())["bootstrap_seconds"])
        t_zero, c_zero = run(argv(0), env)  # the command without the bootstrap
        t_base = c_base = float("nan")
        if baseline is not None:  # the same command from another source tree (e.g. before)
            t_base, c_base = run(argv(B), dict(env, PYTHONPATH=str(baseline.resolve())))
        # the same patients for R, as the reported model sees them
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            run = derive(load_cohort(cohort_dir), landmark="day7", prior_outcome="keep",
                         settings=DerivationSettings(seed=1))
        m = run.model
        X = m.imputer_.transform(m._design(run.analysis_data, False))
        frame = pd.DataFrame(X, columns=XCOLS)
        frame.insert(0, "y", run.analysis_y)
        csv = Path(tmp) / "r.csv"
        frame.to_csv(csv, index=False)
        r = run_r(csv, B, True, 2026)
    load = os.getloadavg()
    t_r = r[0] if r else float("nan")
    c_r = float(r[1].attrs["cpu_seconds"]) if r else float("nan")
    print(f"\n### The user's command (n = {len(run.analysis_y)}, {int(run.analysis_y.sum())} events, "
          f"B = {B}, --jobs {jobs}; load average {load[0]:.1f})\n")
    print("CPU: user + system seconds of the process and its workers (for R, of `validate`); "
          "the bootstrap stage's CPU is the command's minus that of the same command with "
          "`--bootstrap 0`.\n")
    print("| what | wall s | CPU s | wall vs R | CPU vs R |")
    print("|---|---|---|---|---|")

    def row(what: str, wall: float, cpu: float) -> None:
        print(f"| {what} | {wall:.1f} | {cpu:.1f} | {wall / t_r:.2f}x | {cpu / c_r:.2f}x |")

    row(f"`crsscore derive ... --bootstrap {B} --jobs {jobs}`: bootstrap stage (wall: its --json)",
        t_boot, c_cmd - c_zero)
    row("the same, whole command", t_cmd, c_cmd)
    row("the same command with `--bootstrap 0`", t_zero, c_zero)
    if baseline is not None:
        row(f"the same command, source tree {baseline} (whole command)", t_base, c_base)
    row(f"R rms `validate(lrm(7 candidates), B = {B}, bw = TRUE, rule = \"aic\")`", t_r, c_r)


def _scaling_one(n: int, B: int) -> dict[str, float]:
    """One process: derive on a simulated cohort of n, then the pipeline bootstrap with B."""
    import resource
    import warnings

    from crsscore.data.simulate import simulate_cohort
    from crsscore.modeling.derivation import DerivationSettings, reference_path
    from crsscore.workflow import derive, validate_pipeline

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = derive(simulate_cohort(n, seed=3), landmark="day7", prior_outcome="keep",
                     settings=DerivationSettings(seed=1))
        out: dict[str, float] = {"n": float(len(run.analysis_y)), "events": float(run.analysis_y.sum()),
                                 "firth": float(run.model.method_ == "firth")}
        for label, ctx in (("stacked", None), ("reference", reference_path)):
            t0, c0 = time.perf_counter(), time.process_time()
            if ctx is None:
                validate_pipeline(run.analysis_data, run.analysis_y, run.settings, B=B, seed=1,
                                  reported=run.model)
            else:
                with ctx():
                    validate_pipeline(run.analysis_data, run.analysis_y, run.settings, B=B,
                                      seed=1, reported=run.model)
            out[f"{label}_s"] = (time.perf_counter() - t0) / B
            out[f"{label}_cpu_s"] = (time.process_time() - c0) / B
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def scaling(sizes: list[tuple[int, int]]) -> None:
    """Seconds per resample of the whole-pipeline bootstrap as n grows (stacked and reference
    paths in the same process, one process per n so the peak memory is its own)."""
    import json
    import os

    print("\n### Whole-pipeline bootstrap: time per resample and memory as n grows\n")
    print("| n | events | method | B timed | s per resample (stacked) | CPU s per resample "
          "(stacked) | s per resample (reference) | projected B = 1000, serial | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|")
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    for n, B in sizes:
        code = (f"import json, sys; sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); "
                f"import bench_validate as b; print(json.dumps(b._scaling_one({n}, {B})))")
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True, env=env)
        r = json.loads(res.stdout.strip().splitlines()[-1])
        print(f"| {int(r['n'])} | {int(r['events'])} | {'Firth' if r['firth'] else 'ML'} | {B} | "
              f"{r['stacked_s']:.3f} | {r['stacked_cpu_s']:.3f} | {r['reference_s']:.3f} | "
              f"{1000 * r['stacked_s'] / 60:.1f} min | {r['peak_rss_mb']:.0f} |", flush=True)
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--B", type=int, default=1000)
    ap.add_argument("--command", action="store_true",
                    help="also time the user's command (crsscore derive --bootstrap B) beside R")
    ap.add_argument("--only-command", action="store_true")
    ap.add_argument("--jobs", type=int, default=1, help="--jobs of the user's command")
    ap.add_argument("--baseline", type=Path, default=None,
                    help="also run the user's command from this source folder (PYTHONPATH)")
    ap.add_argument("--scaling", action="store_true",
                    help="only the whole-pipeline bootstrap's time per resample at n = 125, "
                         "1,000 and 10,000 (and memory)")
    ap.add_argument("--no-large", action="store_true", help="skip n = 10,000")
    ap.add_argument("--no-r-large", action="store_true", help="skip R at n = 10,000 (slow)")
    ap.add_argument("--agreement", type=int, default=0, metavar="K",
                    help="also repeat R K times and crsscore 4K times with other seeds")
    ap.add_argument("--only-agreement", action="store_true")
    args = ap.parse_args()
    if args.scaling:
        scaling([(125, 100), (125, 400), (1000, 20), (10_000, 3)])
        return
    if args.command or args.only_command:
        command_row(args.B, args.jobs, baseline=args.baseline)
    if args.only_command:
        return
    small = pd.read_csv(ROOT / "tests" / "fixtures" / "r" / "cohort125.csv")[["y", *XCOLS]]
    # warm-up (imports, BLAS thread controller) so timings measure the work
    validate_lrm(small[XCOLS].to_numpy(), small["y"].to_numpy(), B=10, bw=True, seed=1)
    if args.agreement:
        agreement(small, args.B, args.agreement, 4 * args.agreement)
    if args.only_agreement:
        return
    bench(small, "n = 125 (tests/fixtures/r/cohort125.csv)", args.B, with_generic=True, with_r=True)
    if not args.no_large:
        bench(simulate(10_000, 7), "n = 10,000 (simulated, same design)", args.B, with_generic=False,
              with_r=not args.no_r_large)


if __name__ == "__main__":
    main()
