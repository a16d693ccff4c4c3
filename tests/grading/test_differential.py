"""Differential test: the vectorised grader equals the plain per-row reference on random data.

The reference (``benchmarks/bench_grading.py::reference_grades``) is written one row and one
day at a time from the spec, without the package's grading code.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crsscore.data.cohort import Cohort
from crsscore.grading import GradingSettings, grade_cohort


def _load_reference() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_grading.py"
    spec = importlib.util.spec_from_file_location("bench_grading", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_grading"] = module
    spec.loader.exec_module(module)
    return module


REF = _load_reference()

AGENTS = ["norepinephrine", "epinephrine", "dopamine", "phenylephrine", "vasopressin",
          "dobutamine", "milrinone", "levosimendan"]
DEVICES = ["room_air", "nasal_cannula", "blow_by", "high_flow_nasal_cannula", "facemask",
           "non_rebreather", "venturi", "cpap", "bipap", "mechanical_ventilation", "", "helmet"]
FLOWS = [None, 0.0, 1.0, 2.0, 6.0, 6.5, 10.0, 15.0, 40.0, 100.0]
TEMPS = [36.5, 37.0, 37.9, 37.99, 38.0, 38.01, 38.5, 39.4, 41.0, 400.0]

event_st = st.one_of(
    st.tuples(st.just("hypotension"), st.sampled_from([1.0, 0.0, None]), st.just(""),
              st.sampled_from(["fluids", ""])),
    st.tuples(st.just("vasopressor"), st.sampled_from([None, 5.0, 25.0, -1.0]),
              st.sampled_from(["ug/min", "", "U/min", "ug/kg/min"]), st.sampled_from(AGENTS)),
    st.tuples(st.just("vasopressor_hours"), st.sampled_from([2.0, 5.0, 30.0]), st.just("h"),
              st.sampled_from(AGENTS)),
    st.tuples(st.just("oxygen"), st.sampled_from(FLOWS), st.just("L/min"),
              st.sampled_from(DEVICES)),
    st.tuples(st.sampled_from(["tocilizumab", "corticosteroid", "antipyretic"]),
              st.just(1.0), st.just("mg"), st.just("")),
    st.tuples(st.just("death"), st.just(1.0), st.just(""),
              st.sampled_from(["crs", "icans", "infection", "other", "", "unknown"])),
    st.tuples(st.just("ice"), st.sampled_from([0.0, 2.0, 3.0, 6.0, 7.0, 9.0, 10.0, 11.0, 4.5]),
              st.just(""), st.just("")),
    st.tuples(st.just("capd"), st.sampled_from([0.0, 1.0, 8.0, 9.0, 20.0, 33.0]), st.just(""),
              st.just("")),
    st.tuples(st.just("consciousness"), st.none(), st.just(""),
              st.sampled_from(["spontaneous", "voice", "touch", "unarousable", "drowsy"])),
    st.tuples(st.just("seizure"), st.none(), st.just(""),
              st.sampled_from(["resolved_rapidly", "nonconvulsive_eeg", "prolonged", "repeated",
                               ""])),
    st.tuples(st.just("motor_weakness"), st.sampled_from([1.0, 0.0]), st.just(""), st.just("")),
    st.tuples(st.just("cerebral_edema"), st.none(), st.just(""),
              st.sampled_from(["focal", "diffuse", ""])),
)

day_st = st.fixed_dictionaries({
    "temps": st.lists(st.tuples(st.sampled_from(TEMPS), st.sampled_from(["C", "F", "C"])),
                      max_size=2),
    "sbp": st.lists(st.sampled_from([60.0, 75.0, 85.0, 89.0, 90.0, 120.0, 10.0]), max_size=1),
    "events": st.lists(event_st, max_size=4),
})
patient_st = st.fixed_dictionaries({
    "age": st.sampled_from([None, 0.5, 4.0, 11.9, 12.0, 40.0]),
    "days": st.lists(day_st, min_size=1, max_size=5),
})
settings_st = st.builds(
    GradingSettings,
    vasopressin_alone=st.sampled_from(["vasopressor", "hypotension"]),
    inotropes_are_vasopressors=st.booleans(),
    facemask_at_low_flow=st.sampled_from(["grade3", "by_flow"]),
    antipyretics_waive_fever=st.booleans(),
    fever_waiver=st.booleans(),
    fever_waiver_days=st.sampled_from([None, 1.0, 3.0]),
    hypotension_rule=st.sampled_from(["age", "fixed"]),
    sbp_defines_hypotension=st.booleans(),
    low_flow_max_l_min=st.sampled_from([4.0, 6.0]),
    capd_below_age_years=st.sampled_from([12.0, 13.0]),
    icans_death_is_grade5=st.booleans(),
)


def _build(patients: list[dict[str, object]]) -> Cohort:
    pids, ages, obs, ev = [], [], [], []
    for i, p in enumerate(patients):
        pid = f"P{i}"
        pids.append(pid)
        ages.append(p["age"])
        for d, day in enumerate(p["days"]):  # type: ignore[arg-type]
            for t, unit in day["temps"]:
                value = t if unit == "C" else t * 9 / 5 + 32
                obs.append((pid, d + 0.25, "temp", value, unit))
            for s in day["sbp"]:
                obs.append((pid, d + 0.5, "sbp", s, "mmHg"))
            for event, value, unit, detail in day["events"]:
                ev.append((pid, d + 0.75, event, value, unit, detail))
    return Cohort(
        patients=pd.DataFrame({"patient_id": pids, "age_years": pd.array(ages, dtype="Float64")}),
        observations=pd.DataFrame(obs, columns=["patient_id", "day", "analyte", "value", "unit"]),
        events=pd.DataFrame(ev, columns=["patient_id", "day", "event", "value", "unit", "detail"]),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(patients=st.lists(patient_st, min_size=1, max_size=3), grading=settings_st)
def test_vectorised_equals_reference(patients: list[dict[str, object]],
                                     grading: GradingSettings) -> None:
    cohort = _build(patients)
    got = grade_cohort(cohort, settings=grading).daily
    ref = REF.reference_grades(cohort, grading)
    got = got[["patient_id", "day", "crs_grade", "icans_grade"]].reset_index(drop=True)
    got["patient_id"] = got["patient_id"].astype(str)
    ref["patient_id"] = ref["patient_id"].astype(str)
    pd.testing.assert_frame_equal(got, ref, check_dtype=False)


def test_benchmark_simulation_agrees_with_reference() -> None:
    cohort = REF.simulate_raw(60, 10, seed=7)
    got = grade_cohort(cohort).daily
    ref = REF.reference_grades(cohort)
    assert len(got) == len(ref) == 600
    assert got["crs_grade"].astype("Float64").fillna(-1).tolist() == \
        ref["crs_grade"].astype("Float64").fillna(-1).tolist()
    assert got["icans_grade"].astype("Float64").fillna(-1).tolist() == \
        ref["icans_grade"].astype("Float64").fillna(-1).tolist()
