"""Benchmark: the dynamic (daily) model of severe CRS within h days (issue 16).

    .venv/bin/python benchmarks/bench_dynamic.py                 # n = 125 and 1,000, B = 200
    .venv/bin/python benchmarks/bench_dynamic.py --n 1000 --jobs 2
    .venv/bin/python benchmarks/bench_dynamic.py --daily-labs    # simulator option daily_labs

For each n: simulate the default synthetic cohort (seed 1), build the person-day table
(days 0-14, horizons 1-3), fit the ridge logistic model per horizon (penalty by
patient-grouped 5-fold CV), validate with a B-resample patient-clustered bootstrap, replay
the card at the given thresholds, and print Markdown tables: optimism-corrected AUC of the
dynamic model and of "today's CRS grade alone" (overall and within grade <= 1 days) with
CIs, the AUC gain, calibration, the replay table, and the times (wall and CPU) of fitting
plus the bootstrap.  Last, scoring speed of the card on one million person-days.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd

from crsscore.data.simulate import simulate_cohort
from crsscore.modeling.dynamic import fit_dynamic
from crsscore.modeling.persondays import build_person_days
from crsscore.validation.dynamic import replay, validate_dynamic


def md(frame: pd.DataFrame, digits: int = 3) -> str:
    cols = list(frame.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in frame.itertuples(index=False):
        cells = []
        for v in row:
            if isinstance(v, float | np.floating):
                cells.append("" if not np.isfinite(v) else f"{float(v):.{digits}f}")
            else:
                cells.append(str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run(n: int, *, seed: int, B: int, jobs: int, thresholds: list[float],
        daily_labs: bool) -> None:
    cohort = simulate_cohort(n, seed=seed, daily_labs=daily_labs)
    w0 = time.perf_counter()
    pdays = build_person_days(cohort)
    w1, c1 = time.perf_counter(), time.process_time()
    model = fit_dynamic(pdays, seed=seed)
    w2, c2 = time.perf_counter(), time.process_time()
    val = validate_dynamic(model, pdays, B=B, seed=seed, jobs=jobs)
    w3, c3 = time.perf_counter(), time.process_time()
    card = model.to_card(validation=val.to_dict())
    print(f"\n### n = {n} (seed {seed}{', daily_labs' if daily_labs else ''}): "
          f"{len(pdays.data)} person-days, {pdays.data['patient_id'].nunique()} patients\n")
    print(md(pdays.counts()))
    print(f"\nCensoring: {pdays.censoring}.  Penalty (lambda) per horizon: "
          + ", ".join(f"h{h} {model.fits[h].lam:g}" for h in model.horizons))
    for h in model.horizons:
        head = val.headline(h)
        head = head[["subset", "model", "n", "events", "apparent", "optimism", "corrected",
                     "ci_low", "ci_high"]]
        print(f"\nHorizon {h}: AUC (B = {val.B_effective[h]} patient-clustered resamples; CI: "
              "patient-clustered percentile, shifted by the optimism)\n")
        print(md(head))
        d = val.auc_difference[val.auc_difference["horizon"] == h]
        print("\nAUC gain, dynamic - comparator:\n")
        print(md(d[["versus", "subset", "apparent", "optimism", "corrected", "ci_low",
                    "ci_high"]]))
        perf = val.performance
        cal = perf[(perf["horizon"] == h) & (perf["model"] == "dynamic")
                   & (perf["subset"] == "all") & (perf["metric"] != "auc")]
        print("\nCalibration and Brier (dynamic, all days):\n")
        print(md(cal[["metric", "apparent", "optimism", "corrected"]], 4))
    byday = val.auc_by_day[(val.auc_by_day["horizon"] == 2) & (val.auc_by_day["events"] > 0)]
    print("\nApparent AUC by day since infusion, h = 2 (days with an event):\n")
    print(md(byday[["day", "n", "events", "auc_dynamic", "auc_comparator", "auc_baseline"]]))
    rows = []
    for thr in thresholds:
        s = replay(card, pdays, threshold=thr, horizon=2).summary
        rows.append({"threshold": thr, "severe patients": s["severe_patients"],
                     "alerted before onset": f"{s['alerted_before_onset']} "
                                             f"({100 * s['share_alerted']:.0f} %)",
                     "median lead (IQR), days": f"{s['median_lead_days']:g} "
                                                f"({s['lead_q1']:g}-{s['lead_q3']:g})",
                     "alerts / 100 patient-days": round(s["alerts_per_100_patient_days"], 2),
                     "PPV": round(s["ppv"], 3),
                     "non-severe patients alerted": f"{s['false_alarm_patients']} of "
                                                    f"{s['non_severe_patients']}"})
    print("\nReplay (silent trial), h = 2:\n")
    print(md(pd.DataFrame(rows)))
    print(f"\nTimes (load average {os.getloadavg()[0]:.1f}): person-days {w1 - w0:.2f} s; "
          f"fit (3 horizons, 6 penalties x 5 grouped folds) {w2 - w1:.2f} s wall / "
          f"{c2 - c1:.2f} s CPU; bootstrap B = {B} x 3 horizons (jobs {jobs}) {w3 - w2:.2f} s "
          f"wall / {c3 - c2:.2f} s CPU; fit + bootstrap {w3 - w1:.2f} s wall / "
          f"{c3 - c1:.2f} s CPU")


def scoring_speed(rows: int = 1_000_000) -> None:
    cohort = simulate_cohort(200, seed=2)
    pdays = build_person_days(cohort)
    card = fit_dynamic(pdays, seed=2).to_card()
    big = pdays.data.sample(rows, replace=True, random_state=0).reset_index(drop=True)
    best = np.inf
    for _ in range(3):
        t = time.perf_counter()
        card.predict(big)
        best = min(best, time.perf_counter() - t)
    one = pdays.data.iloc[[0]]
    t = time.perf_counter()
    for _ in range(200):
        card.predict(one)
    per = (time.perf_counter() - t) / 200
    print(f"\nScoring with the card (one code path): {rows:,} person-days in {best:.2f} s "
          f"({rows / best / 1e6:.1f} million/s, 3 horizons); one person-day {1000 * per:.2f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", default="125,1000")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--B", type=int, default=200)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--thresholds", default="0.05,0.1,0.2")
    ap.add_argument("--daily-labs", action="store_true")
    ap.add_argument("--no-scoring", action="store_true")
    a = ap.parse_args()
    for n in (int(v) for v in a.n.split(",")):
        run(n, seed=a.seed, B=a.B, jobs=a.jobs,
            thresholds=[float(v) for v in a.thresholds.split(",")], daily_labs=a.daily_labs)
    if not a.no_scoring:
        scoring_speed()


if __name__ == "__main__":
    main()
