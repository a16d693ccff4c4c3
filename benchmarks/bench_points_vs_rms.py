"""Benchmark: the default derivation pipeline against R rms on the same patients.

    .venv/bin/python benchmarks/bench_points_vs_rms.py            # B = 1000 (the issue's check)
    .venv/bin/python benchmarks/bench_points_vs_rms.py --B 200    # quicker

Two data sets:

* **simulated default**: ``simulate_cohort(125, seed=1)`` at day 7 with patients already
  severe kept (what ``make demo`` derives), the study's seven candidates, multiple
  imputation (m = 5), Firth, backward selection by AIC with pooled tests, Sullivan points.
* **R parity cohort**: ``tests/fixtures/r/cohort125.csv`` (n = 125, 24 events, x1..x7
  standard normal, no missing values), x1..x7 entered as seven untransformed candidates
  (canonical names of analytes modelled on their own scale).

For each: the crsscore pipeline (every step refitted in each of B resamples, as reported)
and R ``validate(lrm(y ~ the same candidates, pre-specified), B)`` in the same run.  R gets
the candidates on the model scale (log10 where crsscore takes logs); for the simulated
cohort, missing values completed by the reported model's prediction imputer (a single
imputation, which flatters R).  Prints a Markdown table: apparent AUC of the continuous model
and of the points, the AUC lost to the points, monotonicity, the largest total, and the
optimism-corrected AUC of both.
"""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]

R_SCRIPT = r"""
suppressMessages(library(rms))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1]); B <- as.integer(args[2]); seed <- as.integer(args[3])
f <- lrm(y ~ ., data = d, x = TRUE, y = TRUE)
set.seed(seed)
t <- system.time(v <- validate(f, B = B))["elapsed"]
cat("SECONDS", t, "\n")
cat("DXY", v["Dxy", "index.orig"], v["Dxy", "index.corrected"], "\n")
"""

# x1..x7 of the parity cohort as canonical candidates modelled untransformed
PARITY_NAMES = ("anc", "wbc", "alc", "hb", "plt", "aptt", "pt")


def run_r(frame: pd.DataFrame, B: int, seed: int) -> tuple[float, float, float] | None:
    """(seconds, apparent AUC, corrected AUC) of rms validate, or None without R/rms."""
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        csv, script = Path(tmp) / "d.csv", Path(tmp) / "v.R"
        frame.to_csv(csv, index=False)
        script.write_text(R_SCRIPT)
        res = subprocess.run(["Rscript", str(script), str(csv), str(B), str(seed)],
                             capture_output=True, text=True, check=False)
    if res.returncode != 0:
        print(f"R failed: {res.stderr[-500:]}")
        return None
    secs = orig = corr = float("nan")
    for line in io.StringIO(res.stdout):
        parts = line.split()
        if parts and parts[0] == "SECONDS":
            secs = float(parts[1])
        if parts and parts[0] == "DXY":
            orig, corr = (float(parts[1]) + 1) / 2, (float(parts[2]) + 1) / 2
    return secs, orig, corr


def crsscore_side(data: pd.DataFrame, y: np.ndarray, settings: Any, B: int, seed: int,
                  n_jobs: int) -> tuple[Any, Any, float]:
    from crsscore.modeling.derivation import PointScoreModel
    from crsscore.workflow import validate_pipeline

    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = PointScoreModel(settings).fit(data, y)
        val = validate_pipeline(data, y, settings, B=B, seed=seed, n_jobs=n_jobs, reported=model)
    return model, val, time.perf_counter() - t0


def r_frame(model: Any, data: pd.DataFrame, y: np.ndarray) -> pd.DataFrame:
    """The candidates on the model scale, completed by the model's prediction imputer."""
    X = model.imputer_.transform(model._design(data, False))
    frame = pd.DataFrame(X, columns=[c.name for c in model.candidates_])
    frame.insert(0, "y", y)
    return frame


def row(label: str, model: Any, val: Any, secs: float, r: tuple[float, float, float] | None) -> str:
    tab = val.to_frame()
    corr = float(tab.loc["AUC", "index.corrected"])
    se = float(val.mc_se()["AUC"])
    mono = all(model.monotone_.values())
    r_txt = "n/a (no R)" if r is None else f"{r[2]:.3f} (apparent {r[1]:.3f}; {r[0]:.1f} s)"
    return (f"| {label} | {model.auc_continuous_apparent_:.3f} | {model.auc_points_apparent_:.3f} | "
            f"{model.auc_loss_:+.4f} | {'yes' if mono else 'NO'} | {model.scale_.max_total} | "
            f"{', '.join(model.scored_)} | {corr:.3f} (MC SE {se:.3f}; {secs:.0f} s) | {r_txt} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--B", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--select", default="backward", help="backward|none|lasso (default: the default)")
    args = ap.parse_args()

    from crsscore.data.landmark import build_landmark_table
    from crsscore.data.simulate import simulate_cohort
    from crsscore.modeling.derivation import DerivationSettings
    from crsscore.workflow import cohort_outcomes

    lines = ["| data | AUC continuous (apparent) | AUC points (apparent) | points - continuous "
             "loss | monotone | largest total | scored | crsscore pipeline, optimism-corrected AUC "
             "| rms lrm pre-specified, optimism-corrected AUC |",
             "|---|---|---|---|---|---|---|---|---|"]

    cohort = simulate_cohort(125, seed=1)
    oc = cohort_outcomes(cohort)
    lt = build_landmark_table(cohort, "day7", outcomes=oc.frame, prior_outcome="keep")
    data = lt.data[lt.data["severe_crs"].notna()].reset_index(drop=True)
    y = data["severe_crs"].to_numpy(dtype=np.int_)
    settings = DerivationSettings(seed=args.seed, select=args.select)
    model, val, secs = crsscore_side(data, y, settings, args.B, args.seed, args.jobs)
    r = run_r(r_frame(model, data, y), args.B, args.seed)
    lines.append(row("simulated default (n = 125, day 7, kept; m = 5)", model, val, secs, r))

    par = pd.read_csv(ROOT / "tests" / "fixtures" / "r" / "cohort125.csv")
    pdata = par[[f"x{i}" for i in range(1, 8)]].set_axis(list(PARITY_NAMES), axis=1)
    py = par["y"].to_numpy(dtype=np.int_)
    psettings = DerivationSettings(candidates=PARITY_NAMES, seed=args.seed, select=args.select)
    pmodel, pval, psecs = crsscore_side(pdata, py, psettings, args.B, args.seed, args.jobs)
    pr = run_r(r_frame(pmodel, pdata, py), args.B, args.seed)
    lines.append(row("R parity cohort (n = 125, 24 events, x1..x7)", pmodel, pval, psecs, pr))

    print(f"B = {args.B}, seed {args.seed}, n_jobs {args.jobs}, selection {args.select}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
