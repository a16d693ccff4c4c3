"""Issue 17 (grading / person-days / dynamic card for one patient): identity and CPU harness.

The same script runs under two source trees (``PYTHONPATH=<tree>/src``):

    python benchmarks/grade_identity.py card OUT.json          # fit the card once (any tree)
    python benchmarks/grade_identity.py dump CARD.json DIR     # pickle every output to compare
    python benchmarks/grade_identity.py compare DIR_A DIR_B    # assert_frame_equal(check_exact)
    python benchmarks/grade_identity.py time CARD.json [--n 200]   # CPU per call, one patient

``dump`` writes, for the simulated cohorts n = 125 seeds 1..3, for 25 single patients (cut
from seed 1, as the monitor re-grades one patient: ``Cohort`` of that patient's rows) and
for a cohort whose recorded grades disagree with the derived ones (shifted grades, named
systems known and unknown, patients with recorded grades only): ``grade_cohort``'s daily,
outcomes and disagreements frames (ASTCT and, on the cohorts, the other systems), the notes,
``build_person_days`` (defaults, and the card's analytes/window/day range on the grades) and
the card's risk frame (``DynamicScoreCard.predict``, ``DynamicCardRisk.score``).

``time`` measures ``time.process_time`` over ``--n`` calls of each function on one patient
of seed 1 (``--patient``), the way ``Monitor._regrade`` calls them.
"""

from __future__ import annotations

import argparse
import pickle
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

SYSTEMS = ("astct", "lee2014", "penn", "mskcc", "cartox", "ctcae5")


def cohort_dir(seed: int, tmp: Path) -> Path:
    from crsscore.data.simulate import simulate_cohort, write_cohort

    d = tmp / f"seed{seed}"
    if not d.exists():
        write_cohort(simulate_cohort(n=125, seed=seed), d)
    return d


def one_patient(cohort: Any, pid: str) -> Any:
    """The cohort of one patient, built as the monitor's ``cohort_of`` does (plain frames,
    a ``WardCohort``: no data hash)."""
    from crsscore.monitor.ingest import WardCohort

    pat = cohort.patients[cohort.patients["patient_id"].astype(str) == pid].reset_index(drop=True)
    obs = cohort.observations[cohort.observations["patient_id"].astype(str) == pid]
    ev = cohort.events[cohort.events["patient_id"].astype(str) == pid]
    o = pd.DataFrame({
        "patient_id": [pid] * len(obs),
        "day": obs["day"].to_numpy(dtype=float),
        "analyte": obs["analyte"].astype(str).tolist(),
        "value": obs["value"].to_numpy(dtype=float),
        "unit": obs["unit"].astype(str).tolist()})
    e = pd.DataFrame({
        "patient_id": [pid] * len(ev),
        "day": ev["day"].to_numpy(dtype=float),
        "event": ev["event"].astype(str).tolist(),
        "value": ev["value"].to_numpy(dtype=float),
        "unit": [None if pd.isna(u) or u == "" else str(u) for u in ev["unit"]],
        "detail": [None if pd.isna(u) or u == "" else str(u) for u in ev["detail"]]})
    return WardCohort(patients=pat, observations=o, events=e)


def disagreeing(bad_units: bool) -> Any:
    """Recorded grades that disagree with the derived ones, under several named systems,
    plus patients whose raw CRS events are dropped (recorded grades only)."""
    from crsscore.data.cohort import Cohort
    from crsscore.data.simulate import simulate_cohort

    c = simulate_cohort(n=60, seed=7, recorded_series_rate=0.6)
    ev = c.events.copy()
    rec = np.flatnonzero(ev["event"].astype(str).str.endswith("_grade_recorded").to_numpy())
    vals = ev["value"].to_numpy(dtype=float).copy()
    det = ev["detail"].astype(object).to_numpy().copy()
    names = ["astct", "lee2014", "penn", "acme-2031", None, "mskcc", "cartox", "ctcae5"]
    for k, i in enumerate(rec):
        if k % 3 == 0:
            vals[i] = float((int(vals[i]) + 1) % 5)
        det[i] = names[k % len(names)]
    ev["value"] = vals
    ev["detail"] = det
    pids = c.patients["patient_id"].astype(str).tolist()
    drop = set(pids[::5])
    raw = ~ev["event"].astype(str).str.endswith("_recorded")
    keep = ~(ev["patient_id"].astype(str).isin(drop) & raw)
    ev = ev[keep.to_numpy()].reset_index(drop=True)
    # rows the grading flags as problems (located in the problems list)
    bad_ev = pd.DataFrame({
        "patient_id": ["SIM0002", "SIM0002", "SIM0003", "SIM0003", "SIM0004", "SIM0004",
                       "SIM0007", "SIM0008", "SIM0009"],
        "day": [3.2, np.nan, 4.1, 4.5, 2.0, 9.0, 5.5, 6.5, 2.25],
        "event": ["oxygen", "hypotension", "vasopressor", "ice", "crs_grade_recorded", "death",
                  "oxygen", "fio2", "seizure"],
        "value": [2.0, 1.0, 5.0, 11.0, 7.0, np.nan, 3.0, 15.0, np.nan],
        "unit": [None, None, "mg/min", None, None, None, "L/min", None, None],
        "detail": [None, None, "norepinephrine", None, "astct", "alien", "warp_drive", None,
                   "sparkly"]})
    ev = pd.concat([ev, bad_ev], ignore_index=True)
    obs = c.observations[~c.observations["patient_id"].astype(str).isin(drop).to_numpy()]
    bad_obs = pd.DataFrame({
        "patient_id": ["SIM0002", "SIM0002", "SIM0003", "SIM0006"],
        "day": [2.5, 2.6, 1.0, 3.3], "analyte": ["temp", "temp", "sbp", "temp"],
        "value": [55.0, 101.0, np.nan, 38.5],
        "unit": ["C", "furlong", "mmHg", None] if bad_units else ["C", "F", "mmHg", "C"]})
    obs = pd.concat([obs, bad_obs], ignore_index=True)
    return Cohort(patients=c.patients, observations=obs.reset_index(drop=True), events=ev,
                  synthetic=True)


def outputs(tag: str, cohort: Any, card: Any, systems: tuple[str, ...]) -> dict[str, Any]:
    from crsscore.grading import grade_cohort
    from crsscore.modeling.persondays import build_person_days
    from crsscore.monitor.risk import DynamicCardRisk

    out: dict[str, Any] = {}
    for system in systems:
        g = grade_cohort(cohort, system=system)
        out[f"{tag}/{system}/daily"] = g.daily
        out[f"{tag}/{system}/outcomes"] = g.outcomes
        out[f"{tag}/{system}/disagreements"] = g.disagreements
        out[f"{tag}/{system}/notes"] = list(g.notes)
        out[f"{tag}/{system}/warnings"] = list(g.warnings)
        out[f"{tag}/{system}/problems"] = [repr(p) for p in g.problems]
    g = grade_cohort(cohort)
    try:
        p = build_person_days(cohort)
        out[f"{tag}/pdays_default"] = p.data
        out[f"{tag}/pdays_default/meta"] = repr(p.to_dict())
    except Exception as exc:
        out[f"{tag}/pdays_default"] = f"error: {exc!r}"
    lo, hi = card.day_range
    try:
        p = build_person_days(cohort, g.daily, horizons=card.horizons, analytes=card.analytes,
                              window=card.window_days, first_day=int(lo), last_day=int(hi))
        out[f"{tag}/pdays_card"] = p.data
        if len(p.data):
            out[f"{tag}/predict"] = card.predict(p.data, card.horizons)
        out[f"{tag}/risk"] = DynamicCardRisk(card, 0.2).score(cohort, g.daily)
    except Exception as exc:
        out[f"{tag}/pdays_card"] = f"error: {exc!r}"
    return out


def cmd_card(path: Path) -> None:
    from crsscore.data.io import load_cohort
    from crsscore.modeling.dynamic import fit_dynamic
    from crsscore.modeling.persondays import build_person_days

    with tempfile.TemporaryDirectory() as tmp:
        c = load_cohort(cohort_dir(1, Path(tmp)))
        card = fit_dynamic(build_person_days(c), seed=1).to_card()
    path.write_text(card.model_dump_json(), encoding="utf-8")


def cmd_dump(card_path: Path, out: Path) -> None:
    from crsscore.data.io import load_cohort
    from crsscore.scores.dynamic_card import load_dynamic_card

    card = load_dynamic_card(card_path)
    out.mkdir(parents=True, exist_ok=True)
    res: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in (1, 2, 3):
            c = load_cohort(cohort_dir(seed, Path(tmp)))
            res.update(outputs(f"seed{seed}", c, card, SYSTEMS))
            if seed == 1:
                pids = c.patients["patient_id"].astype(str).tolist()
                for pid in pids[::5][:25]:
                    res.update(outputs(f"one/{pid}", one_patient(c, pid), card, ("astct",)))
        res.update(outputs("disagree", disagreeing(True), card, SYSTEMS))
        res.update(outputs("disagree_f", disagreeing(False), card, SYSTEMS))
    with open(out / "outputs.pkl", "wb") as fh:
        pickle.dump(res, fh)
    print(f"{len(res)} outputs -> {out / 'outputs.pkl'}")


def cmd_compare(a: Path, b: Path) -> None:
    with open(a / "outputs.pkl", "rb") as fh:
        ra = pickle.load(fh)
    with open(b / "outputs.pkl", "rb") as fh:
        rb = pickle.load(fh)
    assert ra.keys() == rb.keys(), sorted(set(ra) ^ set(rb))
    bad = 0
    for k in ra:
        x, y = ra[k], rb[k]
        try:
            if isinstance(x, pd.DataFrame):
                pd.testing.assert_frame_equal(x, y, check_exact=True)
            else:
                assert x == y, (x, y)
        except AssertionError as exc:
            bad += 1
            print(f"DIFFERS {k}: {str(exc)[:600]}")
    n_frames = sum(isinstance(v, pd.DataFrame) for v in ra.values())
    print(f"{len(ra)} outputs ({n_frames} frames) compared, {bad} differ")
    sys.exit(1 if bad else 0)


def cmd_time(card_path: Path, n: int, patient: int) -> None:
    from crsscore.data.io import load_cohort
    from crsscore.grading import grade_cohort
    from crsscore.modeling.persondays import build_person_days
    from crsscore.monitor.risk import DynamicCardRisk
    from crsscore.scores.dynamic_card import load_dynamic_card

    card = load_dynamic_card(card_path)
    risk = DynamicCardRisk(card, 0.2)
    lo, hi = card.day_range
    with tempfile.TemporaryDirectory() as tmp:
        full = load_cohort(cohort_dir(1, Path(tmp)))
    pid = full.patients["patient_id"].astype(str).tolist()[patient]
    c = one_patient(full, pid)
    daily = grade_cohort(c).daily

    def pdays() -> Any:
        return build_person_days(c, daily, horizons=card.horizons, analytes=card.analytes,
                                 window=card.window_days, first_day=int(lo), last_day=int(hi))

    frame = pdays().data
    calls = {
        "grade_cohort": lambda: grade_cohort(c),
        "build_person_days": pdays,
        "card.predict": lambda: card.predict(frame, card.horizons),
        "risk.score": lambda: risk.score(c, daily),
    }
    for name, fn in calls.items():
        for _ in range(5):
            fn()
        blocks = []
        for _ in range(10):  # 10 blocks of n/10 calls: mean, and the least disturbed block
            t0 = time.process_time()
            for _ in range(n // 10):
                fn()
            blocks.append((time.process_time() - t0) / (n // 10))
        print(f"{name:20s} {1000 * sum(blocks) / len(blocks):7.3f} ms/call mean, "
              f"{1000 * min(blocks):7.3f} best block (n={n}, {len(c.observations)} obs, "
              f"{len(c.events)} events rows)")
    cg, cp = [], []
    for _ in range(7):  # the whole cohort: best of 7 (it must not get slower)
        t0 = time.process_time()
        g = grade_cohort(full)
        t1 = time.process_time()
        build_person_days(full, g.daily, horizons=card.horizons, analytes=card.analytes,
                          window=card.window_days, first_day=int(lo), last_day=int(hi))
        t2 = time.process_time()
        cg.append(t1 - t0)
        cp.append(t2 - t1)
    print(f"cohort n=125 ({len(full.observations)} obs, {len(full.events)} events rows), "
          f"best of 7: grade_cohort {1000 * min(cg):.1f} ms, build_person_days "
          f"{1000 * min(cp):.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("card")
    s.add_argument("out", type=Path)
    s = sub.add_parser("dump")
    s.add_argument("card", type=Path)
    s.add_argument("out", type=Path)
    s = sub.add_parser("compare")
    s.add_argument("a", type=Path)
    s.add_argument("b", type=Path)
    s = sub.add_parser("time")
    s.add_argument("card", type=Path)
    s.add_argument("--n", type=int, default=200)
    s.add_argument("--patient", type=int, default=0)
    args = ap.parse_args()
    if args.cmd == "card":
        cmd_card(args.out)
    elif args.cmd == "dump":
        cmd_dump(args.card, args.out)
    elif args.cmd == "compare":
        cmd_compare(args.a, args.b)
    else:
        cmd_time(args.card, args.n, args.patient)


if __name__ == "__main__":
    main()
