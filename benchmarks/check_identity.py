"""Issue 17 (the loaders' check of a request and of whole cohorts): identity and CPU harness.

The same script runs under two source trees (``PYTHONPATH=<tree>/src``):

    python benchmarks/check_identity.py dump DIR             # pickle every output to compare
    python benchmarks/check_identity.py compare DIR_A DIR_B  # frames exact, problems equal
    python benchmarks/check_identity.py time [--n 500]       # CPU per call, one patient-day

``dump`` writes one pickle per case:

* API-like requests through the monitor's ``check_rows`` (and, when accepted,
  ``canonical_tables`` as ``Monitor.ingest_rows`` calls it): patient-day requests cut from a
  simulated cohort (observations, events, new patients with baselines), then the same
  requests damaged (unknown, missing, ambiguous or converted units, values out of range,
  unknown or missing analytes and events, missing values, days and ids, text, numbers as
  text, ints and bools in numeric columns, unknown patients, duplicated rows, extra columns,
  bad baseline cells, bad event details and units...);
* in-memory cohorts through ``tables_from_cohort`` + ``validate_tables`` (simulated, sliced,
  with damaged cells);
* simulated cohort folders and damaged ones (the CLI fuzz test's seeded damages) through
  ``read_cohort_tables`` + ``validate_tables`` (refuse and exclude), and the two mapped
  fixtures (``tests/data/fixtures``).

For each: the Loaded tables (frames with dtypes), every problem (all fields, in order), the
exclusions, the truncated kinds, missing tables, or the error raised (type and problems).
``time`` measures ``time.process_time`` over ``--n`` calls of ``check_rows`` and of
``canonical_tables`` on the monitor benchmark's requests (one known patient, one day).
"""

from __future__ import annotations

import argparse
import math
import pickle
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests" / "cli"))

Rows = list[dict[str, Any]]


# ------------------------------------------------------------------------------------------
# what is compared
# ------------------------------------------------------------------------------------------

def _problems(problems: Any) -> list[tuple[Any, ...]]:
    return [(p.table, p.row, p.column, p.code, p.severity, p.message, p.value, p.expected)
            for p in problems]


def _error(exc: BaseException) -> dict[str, Any]:
    return {"type": type(exc).__name__, "text": str(exc),
            "problems": _problems(getattr(exc, "problems", []) or [])}


def _loaded(loaded: Any) -> dict[str, Any]:
    col = loaded.collector
    return {"patients": loaded.patients.copy(), "observations": loaded.observations.copy(),
            "events": loaded.events.copy(), "problems": _problems(col.problems),
            "exclusions": col.exclusions(), "truncated": list(col.truncated),
            "missing_tables": loaded.missing_tables, "source": loaded.source,
            "synthetic": loaded.synthetic, "decimal": loaded.decimal}


def _request(patients: Rows, observations: Rows, events: Rows, known: set[str]
             ) -> dict[str, Any]:
    """``check_rows`` then ``canonical_tables`` as ``Monitor.ingest_rows`` calls them; the
    tables ``validate_tables`` checked (every problem, warnings and information too) are
    kept also when the request is refused."""
    import crsscore.data.check as check
    from crsscore.errors import CrsscoreError
    from crsscore.monitor.ingest import canonical_tables, check_rows

    seen: list[Any] = []
    validate = check.validate_tables

    def spy(loaded: Any, *args: Any, **kwargs: Any) -> bool:
        seen.append(loaded)
        return validate(loaded, *args, **kwargs)

    check.validate_tables = spy  # type: ignore[assignment]
    try:
        loaded = check_rows(patients, observations, events, known)
    except CrsscoreError as exc:
        return {"error": _error(exc), "checked": [_loaded(s) for s in seen]}
    finally:
        check.validate_tables = validate  # type: ignore[assignment]
    out = {"loaded": _loaded(loaded), "checked": [_loaded(s) for s in seen]}
    pats, obs, ev = canonical_tables(loaded, n_patients=len(patients),
                                     orig_units=[r.get("unit") for r in observations])
    out["canonical"] = {"patients": pats, "obs": dict(obs), "ev": dict(ev)}
    # the import path (``ingest_loaded``): every patient, original units not given
    pats, obs, ev = canonical_tables(loaded)
    out["canonical_all"] = {"patients": pats, "obs": dict(obs), "ev": dict(ev)}
    return out


def _checked(make: Callable[[], Any], implausible: str = "refuse") -> dict[str, Any]:
    """Tables read by ``make`` (a Loaded) and checked by ``validate_tables``."""
    from crsscore.data.check import validate_tables
    from crsscore.errors import CrsscoreError

    try:
        loaded = make()
    except CrsscoreError as exc:
        return {"error": _error(exc)}
    out = {"read": _loaded(loaded)}
    try:
        dropped = validate_tables(loaded, implausible=implausible)
    except CrsscoreError as exc:
        return {**out, "error": _error(exc)}
    return {**out, "dropped": dropped, "checked": _loaded(loaded)}


# ------------------------------------------------------------------------------------------
# the cases
# ------------------------------------------------------------------------------------------

def cohort_dir(seed: int, tmp: Path, n: int = 125) -> Path:
    from crsscore.data.simulate import simulate_cohort, write_cohort

    d = tmp / f"sim-n{n}-s{seed}"
    if not d.exists():
        write_cohort(simulate_cohort(n=n, seed=seed), d)
    return d


def requests(cohort: Path, n: int, start_day: int = 7) -> list[tuple[str, Rows, Rows]]:
    """``n`` patient-day requests as the monitor benchmark sends them (observations of one
    patient and day, floats from JSON) with the events of that patient-day."""
    from bench_monitor import updates

    ev = pd.read_csv(cohort / "events.csv", keep_default_na=False)
    ev["d"] = pd.to_numeric(ev["day"]).map(math.floor)
    by_day = {k: g for k, g in ev.groupby(["d", "patient_id"])}
    out = []
    for pid, body in updates(cohort, start_day, n):
        rows = [{**r, "patient_id": pid} for r in body["observations"]]
        d = math.floor(rows[0]["day"])
        events = []
        for r in by_day.get((d, pid), pd.DataFrame()).itertuples():
            e: dict[str, Any] = {"patient_id": pid, "day": float(r.day), "event": str(r.event)}
            if str(r.value) != "":
                e["value"] = float(r.value)
            for k in ("unit", "detail"):
                if str(getattr(r, k)) != "":
                    e[k] = str(getattr(r, k))
            events.append(e)
        out.append((pid, rows, events))
    return out


def patient_rows(cohort: Path, ids: list[str]) -> Rows:
    """Baseline rows as ``POST /patients`` sends them (``exclude_none``: no key for a
    missing cell)."""
    p = pd.read_csv(cohort / "patients.csv", keep_default_na=False, dtype=str)
    numeric = {"age_years", "weight_kg", "prior_lines", "prior_hsct", "bridging",
               "dose_cells_per_kg", "mrd_baseline_pct", "mrd_post_ld_pct",
               "marrow_blasts_pct", "synthetic"}
    out = []
    for r in p[p["patient_id"].isin(ids)].to_dict(orient="records"):
        out.append({k: (float(v) if k in numeric else v) for k, v in r.items() if v != ""})
    return out


def _damaged(rows: Rows, rng: random.Random, change: Callable[[dict[str, Any]], None],
             k: int = 1) -> Rows:
    out = [dict(r) for r in rows]
    for i in rng.sample(range(len(out)), min(k, len(out))):
        change(out[i])
    return out


def _set(**kv: Any) -> Callable[[dict[str, Any]], None]:
    def f(r: dict[str, Any]) -> None:
        r.update(kv)
    return f


def _drop(key: str) -> Callable[[dict[str, Any]], None]:
    def f(r: dict[str, Any]) -> None:
        r.pop(key, None)
    return f


OBS_DAMAGES: dict[str, Callable[[dict[str, Any]], None]] = {
    "unknown_unit": _set(unit="furlongs"),
    "converted_unit": lambda r: r.update(unit={"crp": "mg/dL", "ferritin": "pmol/L"}.get(
        r["analyte"], r["unit"])),
    "unit_spelling": lambda r: r.update(unit=f" {r['unit'].upper()} "),
    "ambiguous_unit": lambda r: r.update(analyte="creatinine", unit="umol"),
    "missing_unit_none": _set(unit=None),
    "missing_unit_key": _drop("unit"),
    "out_of_range": lambda r: r.update(value=r["value"] * 1e4 + 1e5),
    "negative": lambda r: r.update(value=-abs(r["value"]) - 1),
    "unknown_analyte": _set(analyte="unobtainium"),
    "analyte_case": lambda r: r.update(analyte=r["analyte"].upper()),
    "missing_analyte": _drop("analyte"),
    "analyte_none": _set(analyte=None),
    "missing_value": _drop("value"),
    "value_none": _set(value=None),
    "value_nan": _set(value=float("nan")),
    "value_inf": _set(value=float("inf")),
    "value_text": _set(value="abc"),
    "value_censored": _set(value="<5"),
    "value_numeric_text": lambda r: r.update(value=str(r["value"])),
    "value_comma": _set(value="1,5"),
    "value_int": lambda r: r.update(value=int(r["value"])),
    "value_bool": _set(value=True),
    "day_text": _set(day="tomorrow"),
    "day_none": _set(day=None),
    "missing_day": _drop("day"),
    "day_out_of_range": _set(day=500.0),
    "day_int": lambda r: r.update(day=int(r["day"])),
    "unknown_patient": _set(patient_id="NOBODY"),
    "missing_patient": _drop("patient_id"),
    "patient_blank": _set(patient_id="  "),
    "patient_na": _set(patient_id="NA"),
    "patient_padded": lambda r: r.update(patient_id=f" {r['patient_id']} "),
    "extra_column": _set(comment="hello"),
}


def _duplicated(rows: Rows, conflict: bool) -> Rows:
    extra = dict(rows[0])
    if conflict:
        extra["value"] = float(extra["value"]) + 1.0
    return [*rows, extra]


EVENT_DAMAGES: dict[str, Callable[[dict[str, Any]], None]] = {
    "unknown_event": _set(event="levitation"),
    "missing_event": _drop("event"),
    "event_case": lambda r: r.update(event=str(r["event"]).upper()),
    "unknown_detail": _set(event="oxygen", detail="snorkel", value=2.0, unit="L/min"),
    "missing_detail": lambda r: (r.update(event="vasopressor", value=5.0, unit="ug/min"),
                                 r.pop("detail", None)),
    "vaso_bad_unit": _set(event="vasopressor", detail="norepinephrine", value=5.0,
                          unit="mg/h"),
    "vaso_no_unit": lambda r: (r.update(event="vasopressor", detail="norepinephrine",
                                        value=5.0), r.pop("unit", None)),
    "fio2_bad_unit": _set(event="fio2", value=40.0, unit="bar"),
    "ice_out_of_range": _set(event="ice", value=12.0),
    "negative_value": _set(event="ice", value=-1.0),
    "event_value_text": _set(value="lots"),
    "event_day_text": _set(day="x"),
    "event_unknown_patient": _set(patient_id="NOBODY"),
    "event_missing_patient": _drop("patient_id"),
}

PATIENT_DAMAGES: dict[str, Callable[[dict[str, Any]], None]] = {
    "sex_unknown": _set(sex="X"),
    "sex_word": _set(sex="female"),
    "age_text": _set(age_years="old"),
    "age_out_of_range": _set(age_years=250.0),
    "weight_int": _set(weight_kg=70),
    "date_bad": _set(infusion_date="31/02/2020"),
    "date_out": _set(infusion_date="1800-01-01"),
    "costim_word": _set(costim="cd137"),
    "costim_unknown": _set(costim="CD3"),
    "bridging_word": _set(bridging="yes"),
    "bridging_bad": _set(bridging="maybe"),
    "mrd_out_of_range": _set(mrd_baseline_pct=150.0),
    "no_id": _drop("patient_id"),
    "extra_column": _set(favourite_colour="blue"),
}


def api_cases(tmp: Path) -> Iterator[tuple[str, Callable[[], dict[str, Any]]]]:
    c1 = cohort_dir(1, tmp)
    reqs = requests(c1, 40)
    for i, (pid, obs, _ev) in enumerate(reqs[:30]):
        yield f"api/obs-{i:02d}", lambda o=obs, p=pid: _request([], o, [], {p})
    with_events = [(p, o, e) for p, o, e in requests(c1, 400, start_day=0) if e]
    for i, (pid, obs, ev) in enumerate(with_events[:15]):
        yield f"api/obs-ev-{i:02d}", lambda o=obs, e=ev, p=pid: _request([], o, e, {p})
        yield f"api/ev-{i:02d}", lambda e=ev, p=pid: _request([], [], e, {p})
    for i, (pid, obs, _ev) in enumerate(reqs[:5]):
        pats = patient_rows(c1, [pid])
        yield f"api/new-patient-{i}", lambda o=obs, pp=pats: _request(pp, o, [], set())
        yield f"api/patient-only-{i}", lambda pp=pats: _request(pp, [], [], set())
        other = reqs[i + 10][0]
        yield f"api/patient-plus-known-{i}", lambda o=obs, pp=pats, q=other: _request(
            pp, o, [], {q})
    pats = patient_rows(c1, [r[0] for r in reqs[:8]])
    yield "api/patients-8", lambda pp=pats: _request(pp, [], [], set())
    many = [r for _p, o, _e in reqs[:12] for r in o]
    yield "api/obs-12-patients", lambda o=many, ids={r[0] for r in reqs[:12]}: _request(
        [], o, [], ids)
    yield "api/empty", lambda: _request([], [], [], set())
    yield "api/empty-known", lambda: _request([], [], [], {"SIM-0001"})
    rng = random.Random(17)
    for name, change in OBS_DAMAGES.items():
        for k in (1, 2):
            pid, obs, ev = reqs[rng.randrange(len(reqs))]
            rows = _damaged(obs, rng, change, k)
            yield f"api/bad-obs-{name}-{k}", lambda o=rows, p=pid: _request([], o, [], {p})
    for name, change in OBS_DAMAGES.items():  # every row damaged
        pid, obs, ev = reqs[rng.randrange(len(reqs))]
        rows = _damaged(obs, rng, change, len(obs))
        yield f"api/all-obs-{name}", lambda o=rows, p=pid: _request([], o, [], {p})
    for conflict in (False, True):
        pid, obs, ev = reqs[rng.randrange(len(reqs))]
        yield f"api/duplicate-{conflict}", lambda o=_duplicated(obs, conflict), p=pid: \
            _request([], o, [], {p})
    yield "api/unknown-patient-not-known", lambda o=reqs[0][1]: _request([], o, [], set())
    for name, change in EVENT_DAMAGES.items():
        pid, obs, ev = with_events[rng.randrange(len(with_events))]
        rows = _damaged(ev, rng, change, 1)
        yield f"api/bad-ev-{name}", lambda o=obs, e=rows, p=pid: _request([], o, e, {p})
    for name, change in PATIENT_DAMAGES.items():
        pid, obs, ev = reqs[rng.randrange(len(reqs))]
        pats = _damaged(patient_rows(c1, [pid]), rng, change, 1)
        yield f"api/bad-patient-{name}", lambda o=obs, pp=pats: _request(pp, o, [], set())
    pid, obs, ev = reqs[3]
    dup = patient_rows(c1, [pid]) * 2
    yield "api/bad-patient-duplicate", lambda o=obs, pp=dup: _request(pp, o, [], set())
    mixed = _damaged(_damaged(obs, rng, OBS_DAMAGES["value_text"]), rng,
                     OBS_DAMAGES["unknown_unit"])
    mixed = _damaged(mixed, rng, OBS_DAMAGES["out_of_range"])
    yield "api/bad-mixed", lambda o=mixed, p=pid: _request([], o, [], {p})
    big = [dict(r, value=r["value"] * 1e4 + 1e5) for _p, o, _e in requests(c1, 40) for r in o]
    yield "api/bad-many-out-of-range", lambda o=big, ids={r[0] for r in reqs}: _request(
        [], o, [], ids)


def cohort_cases(tmp: Path) -> Iterator[tuple[str, Callable[[], dict[str, Any]]]]:
    from crsscore.data.canonical import tables_from_cohort
    from crsscore.data.cohort import Cohort
    from crsscore.data.simulate import simulate_cohort
    from crsscore.data.tables import read_cohort_tables

    for seed in (1, 2, 3):
        d = cohort_dir(seed, tmp)
        yield f"folder/sim-s{seed}", lambda d=d: _checked(lambda: read_cohort_tables(d))
        yield f"folder/sim-s{seed}-all", lambda d=d: _checked(
            lambda: read_cohort_tables(d, max_listed=None))
    for n, seed in ((1, 4), (5, 5), (40, 6), (300, 7)):
        d = cohort_dir(seed, tmp, n)
        yield f"folder/sim-n{n}-s{seed}", lambda d=d: _checked(lambda: read_cohort_tables(d))
    for seed in (1, 8):
        c = simulate_cohort(n=60, seed=seed)
        yield f"memory/sim-s{seed}", lambda c=c: _checked(lambda: tables_from_cohort(c))
        pid = str(c.patients["patient_id"].iloc[0])
        one = Cohort(patients=c.patients.iloc[:1].reset_index(drop=True),
                     observations=c.observations[c.observations["patient_id"] == pid]
                     .reset_index(drop=True),
                     events=c.events[c.events["patient_id"] == pid].reset_index(drop=True))
        yield f"memory/one-s{seed}", lambda c=one: _checked(lambda: tables_from_cohort(c))
        o = c.observations.copy()
        o["value"] = o["value"].astype(object)
        o.loc[::37, "value"] = "n/a?"
        o.loc[5::41, "unit"] = "furlongs"
        o.loc[7::53, "analyte"] = "unobtainium"
        o.loc[9::59, "value"] = 1e9
        o.loc[11::61, "day"] = 900.0
        e = c.events.copy()
        e.loc[3::29, "event"] = "levitation"
        p = c.patients.copy()
        p.loc[2, "sex"] = "X"
        p.loc[4, "patient_id"] = p.loc[5, "patient_id"]
        bad = Cohort(patients=p, observations=o, events=e)
        for mode in ("refuse", "exclude"):
            yield f"memory/bad-s{seed}-{mode}", lambda c=bad, m=mode: _checked(
                lambda: tables_from_cohort(c), m)
        implaus = c.observations.copy()
        implaus.loc[::23, "value"] = 1e9
        imp = Cohort(patients=c.patients, observations=implaus, events=c.events)
        yield f"memory/implausible-s{seed}-exclude", lambda c=imp: _checked(
            lambda: tables_from_cohort(c), "exclude")
    # the CLI fuzz test's seeded damages (structure, encodings, cells, units, ids, mappings)
    from test_fuzz_bad_cohorts import make_cases

    cases = make_cases(tmp / "fuzz", cohort_dir(9, tmp, 30), 36, 15)
    for i, case in enumerate(cases):
        for mode in ("refuse", "exclude"):
            yield (f"fuzz/{i:02d}-{mode}-{'+'.join(case.damages)}",
                   lambda c=case, m=mode: _checked(
                       lambda: read_cohort_tables(c.folder, c.mapping), m))
    yield from mapped_cases(tmp)
    fixtures = ROOT / "tests" / "data" / "fixtures"
    for name in ("de", "zh"):
        m = fixtures / name / "mapping.toml"
        yield f"mapped/{name}", lambda m=m: _checked(lambda: read_cohort_tables(m))


def _export(tmp: Path, name: str, files: dict[str, pd.DataFrame], mapping: str) -> Path:
    folder = tmp / "mapped" / name
    folder.mkdir(parents=True)
    for fname, frame in files.items():
        frame.to_csv(folder / fname, index=False)
    (folder / "mapping.toml").write_text(mapping)
    return folder / "mapping.toml"


def mapped_cases(tmp: Path) -> Iterator[tuple[str, Callable[[], dict[str, Any]]]]:
    """A centre's export through a mapping: observations long in several files (other column
    names, units mixed across files, bad cells), and one row per patient-day in several
    files (one of them without any value)."""
    from crsscore.data.simulate import simulate_cohort
    from crsscore.data.tables import read_cohort_tables

    c = simulate_cohort(n=30, seed=11)
    p, o, e = c.patients, c.observations.copy(), c.events
    o["unit"] = o["unit"].astype(str)
    o["value"] = o["value"].astype(object)
    half = len(o) // 2
    a, b = o.iloc[:half].copy(), o.iloc[half:].copy()
    crp = (b["analyte"] == "crp").to_numpy()
    b.loc[crp, "value"] = b.loc[crp, "value"].astype(float) / 10
    b.loc[crp, "unit"] = "mg/dL"
    bad_a, bad_b = a.copy(), b.copy()
    bad_a.iloc[3, bad_a.columns.get_loc("unit")] = "furlongs"
    bad_a.iloc[5, bad_a.columns.get_loc("value")] = "<5"
    bad_b.iloc[7, bad_b.columns.get_loc("analyte")] = "unobtainium"
    bad_b.iloc[9, bad_b.columns.get_loc("patient_id")] = ""
    names = {"patient_id": "Patient", "analyte": "Test", "value": "Result", "unit": "Units",
             "day": "Day"}
    long_map = """[patients]
file = "patients.csv"
[observations]
file = "labs_*.csv"
[observations.columns]
patient_id = "Patient"
analyte = "Test"
value = "Result"
unit = "Units"
day = "Day"
[events]
file = "events.csv"
"""
    for label, (x, y) in {"clean": (a, b), "bad": (bad_a, bad_b)}.items():
        m = _export(tmp, f"long-{label}", {
            "patients.csv": p, "events.csv": e,
            "labs_1.csv": x.rename(columns=names), "labs_2.csv": y.rename(columns=names)},
            long_map)
        for mode in ("refuse", "exclude"):
            yield f"mapped/long-{label}-{mode}", lambda m=m, md=mode: _checked(
                lambda: read_cohort_tables(m), md)
    keep = ["crp", "ferritin", "temp"]
    sub = c.observations[c.observations["analyte"].astype(str).isin(keep)].copy()
    sub["d"] = sub["day"].astype(float).round()
    wide = sub.pivot_table(index=["patient_id", "d"], columns="analyte", values="value",
                           aggfunc="first", observed=True).reset_index()
    wide.columns = [str(x) for x in wide.columns]
    wide = wide.rename(columns={"d": "day", "crp": "CRP", "ferritin": "Ferritin",
                                "temp": "Temp"})
    empty = wide.iloc[:5].copy()
    empty[["CRP", "Ferritin", "Temp"]] = np.nan
    bad = wide.iloc[5:40].copy().astype(object)
    bad.iloc[2, bad.columns.get_loc("CRP")] = "high"
    day_map = """[patients]
file = "patients.csv"
[observations]
file = "daily_*.csv"
layout = "patient_day"
[observations.analytes]
CRP = "crp"
Ferritin = "ferritin"
Temp = "temp"
[observations.units]
crp = "mg/L"
ferritin = "ug/L"
temp = "C"
[events]
file = "events.csv"
"""
    m = _export(tmp, "patient-day", {"patients.csv": p, "events.csv": e,
                                     "daily_1.csv": wide.iloc[40:], "daily_2.csv": empty,
                                     "daily_3.csv": bad}, day_map)
    yield "mapped/patient-day", lambda m=m: _checked(lambda: read_cohort_tables(m))
    m = _export(tmp, "patient-day-empty", {"patients.csv": p, "events.csv": e,
                                           "daily_1.csv": empty}, day_map)
    yield "mapped/patient-day-empty", lambda m=m: _checked(lambda: read_cohort_tables(m))


def dump(out: Path, work: Path) -> None:
    """Every case's outputs under ``out``; the cohorts are written under ``work`` (emptied
    first: paths appear in sources and messages, so both trees must use the same one)."""
    out.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    n = 0
    for name, run in [*api_cases(work), *cohort_cases(work)]:
        path = out / (name.replace("/", "__") + ".pkl")
        with open(path, "wb") as fh:
            pickle.dump(run(), fh)
        n += 1
    shutil.rmtree(work, ignore_errors=True)
    print(f"{n} cases dumped to {out}")


# ------------------------------------------------------------------------------------------
# comparing
# ------------------------------------------------------------------------------------------

def _same(a: Any, b: Any, where: str) -> list[str]:
    if isinstance(a, pd.DataFrame) or isinstance(b, pd.DataFrame):
        if not (isinstance(a, pd.DataFrame) and isinstance(b, pd.DataFrame)):
            return [f"{where}: frame vs {type(b).__name__}"]
        if [str(t) for t in a.dtypes] != [str(t) for t in b.dtypes]:
            return [f"{where}: dtypes {list(a.dtypes)} != {list(b.dtypes)}"]
        try:
            pd.testing.assert_frame_equal(a, b, check_exact=True, check_dtype=True,
                                          check_column_type=True, check_index_type=True,
                                          check_categorical=True, check_freq=True,
                                          check_flags=True)
        except AssertionError as exc:
            return [f"{where}: {exc}"]
        return []
    if isinstance(a, dict) and isinstance(b, dict):
        if list(a) != list(b):
            return [f"{where}: keys {list(a)} != {list(b)}"]
        return [d for k in a for d in _same(a[k], b[k], f"{where}.{k}")]
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        if type(a) is not type(b) or len(a) != len(b):
            return [f"{where}: {type(a).__name__}[{len(a)}] != {type(b).__name__}[{len(b)}]"]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True))
                for d in _same(x, y, f"{where}[{i}]")]
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return []
    if type(a) is not type(b) or a != b:
        return [f"{where}: {a!r} ({type(a).__name__}) != {b!r} ({type(b).__name__})"]
    return []


def compare(a: Path, b: Path) -> int:
    names_a = sorted(p.name for p in a.glob("*.pkl"))
    names_b = sorted(p.name for p in b.glob("*.pkl"))
    if names_a != names_b:
        print(f"case lists differ: {sorted(set(names_a) ^ set(names_b))}")
        return 1
    differ = 0
    kinds: dict[str, int] = {}
    for name in names_a:
        with open(a / name, "rb") as fa, open(b / name, "rb") as fb:
            da, db = pickle.load(fa), pickle.load(fb)
        kind = "error" if "error" in da else "ok"
        kinds[kind] = kinds.get(kind, 0) + 1
        diffs = _same(da, db, name[:-4])
        if diffs:
            differ += 1
            print("\n".join(diffs[:5]))
    print(f"{len(names_a)} cases ({kinds.get('ok', 0)} read, {kinds.get('error', 0)} "
          f"refused), {differ} differ")
    return 1 if differ else 0


# ------------------------------------------------------------------------------------------
# timing
# ------------------------------------------------------------------------------------------

def timing(n: int) -> None:
    from crsscore.monitor.ingest import canonical_tables, check_rows

    with tempfile.TemporaryDirectory() as t:
        reqs = [obs for _pid, obs, _ev in requests(cohort_dir(1, Path(t)), 60)]
    for rows in reqs[:10]:  # warm-up (first-call imports, caches)
        check_rows((), rows, (), {rows[0]["patient_id"]})
    chk = can = 0.0
    for k in range(n):
        rows = reqs[k % len(reqs)]
        c0 = time.process_time()
        loaded = check_rows((), rows, (), {rows[0]["patient_id"]})
        c1 = time.process_time()
        canonical_tables(loaded, n_patients=0, orig_units=[r.get("unit") for r in rows])
        c2 = time.process_time()
        chk += c1 - c0
        can += c2 - c1
    rows_per = sum(len(r) for r in reqs) / len(reqs)
    print(f"check_rows {1000 * chk / n:.3f} ms, canonical_tables {1000 * can / n:.3f} ms "
          f"per call ({n} calls, {rows_per:.1f} observation rows of one known patient)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dump")
    d.add_argument("out", type=Path)
    d.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "check-identity")
    c = sub.add_parser("compare")
    c.add_argument("a", type=Path)
    c.add_argument("b", type=Path)
    t = sub.add_parser("time")
    t.add_argument("--n", type=int, default=500)
    args = ap.parse_args()
    if args.cmd == "dump":
        dump(args.out, args.work)
    elif args.cmd == "compare":
        sys.exit(compare(args.a, args.b))
    else:
        timing(args.n)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
