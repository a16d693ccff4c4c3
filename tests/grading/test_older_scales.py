"""Lee 2014, Penn, MSKCC, CARTOX and CTCAE v5 re-grading from the same raw inputs."""

from __future__ import annotations

import pandas as pd
import pytest

from crsscore.data.cohort import Cohort
from crsscore.grading import (
    CrsDayInput,
    GradingSettings,
    OxygenSupport,
    VasopressorDose,
    grade_cohort,
    grade_crs_day,
)

FEVER = {"temperature_max": 38.5}


def vp(agent: str, dose: float | None = None, unit: str | None = "ug/min",
       hours: float | None = 4.0) -> VasopressorDose:
    return VasopressorDose(agent=agent, dose=dose, unit=unit if dose is not None else None,
                           hours=hours)


def o2(device: str, flow: float | None = None) -> OxygenSupport:
    return OxygenSupport(device=device, flow_l_min=flow)


def g(system: str, settings: GradingSettings | None = None, **kw: object) -> int | None:
    return grade_crs_day(CrsDayInput(**{**FEVER, **kw}), settings,  # type: ignore[arg-type]
                         system=system).grade


# ------------------------------------------------------------------ high-dose vasopressors
@pytest.mark.parametrize(("pressors", "weight", "expected"), [
    ([vp("norepinephrine", 20)], None, 3),
    ([vp("norepinephrine", 19.9)], None, 2),
    ([vp("norepinephrine", 20, hours=2.9)], None, 2),  # not sustained 3 h
    ([vp("norepinephrine", 20, hours=3.0)], None, 3),
    ([vp("norepinephrine", 20, hours=None)], None, None),  # duration unknown
    ([vp("norepinephrine", 15, hours=None)], None, 2),  # low dose whatever the duration
    ([vp("norepinephrine", 0.3, "ug/kg/min")], 70.0, 3),  # 21 ug/min
    ([vp("norepinephrine", 0.3, "ug/kg/min")], None, None),  # needs the weight
    ([vp("dopamine", 10, "ug/kg/min")], None, 3),
    ([vp("dopamine", 9.9, "ug/kg/min")], None, 2),
    ([vp("dopamine", 500, "ug/min")], 50.0, 3),  # 10 ug/kg/min
    ([vp("phenylephrine", 200)], None, 3),
    ([vp("phenylephrine", 199)], None, 2),
    ([vp("epinephrine", 10)], None, 3),
    ([vp("epinephrine", 9)], None, 2),
    ([vp("norepinephrine")], None, None),  # dose unknown
])
def test_lee2014_single_agent_high_dose(pressors: list[VasopressorDose], weight: float | None,
                                         expected: int | None) -> None:
    assert g("lee2014", vasopressors=pressors, weight_kg=weight) == expected


@pytest.mark.parametrize(("pressors", "expected"), [
    ([vp("vasopressin", 0.03, "U/min"), vp("norepinephrine", 10)], 4),  # NE-eq >= 10
    ([vp("vasopressin", 0.03, "U/min"), vp("norepinephrine", 9)], 3),
    ([vp("vasopressin", 2.0, "U/h"), vp("phenylephrine", 100)], 4),  # 100/10 = 10
    ([vp("norepinephrine", 12), vp("epinephrine", 8)], 4),  # NE-eq 20
    ([vp("norepinephrine", 12), vp("epinephrine", 7)], 3),  # NE-eq 19
    ([vp("norepinephrine", 12), vp("epinephrine", 8, hours=2)], 3),  # not all sustained
    ([vp("vasopressin", 0.04, "U/min")], 3),  # vasopressin alone is not high dose
    ([vp("norepinephrine", 5)], 3),
])
def test_penn_combination_high_dose(pressors: list[VasopressorDose], expected: int) -> None:
    assert g("penn", vasopressors=pressors) == expected


# ------------------------------------------------------------------ Lee 2014
@pytest.mark.parametrize(("inputs", "expected"), [
    ({}, 1),
    ({"hypotension": True, "hypotension_fluid_responsive": True}, 2),
    ({"vasopressors": [vp("norepinephrine", 5), vp("vasopressin", 0.03, "U/min")]}, 3),
    ({"oxygen": [o2("nasal_cannula", 2)]}, 2),  # estimated FiO2 0.29
    ({"oxygen": [o2("nasal_cannula", 5)]}, 3),  # estimated FiO2 0.41
    ({"fio2": 0.39, "oxygen": [o2("facemask", 6)]}, 2),
    ({"fio2": 40, "oxygen": [o2("facemask", 6)]}, 3),  # 40 % written as a percentage
    ({"oxygen": [o2("facemask", 6)]}, None),  # FiO2 unknown on a facemask
    ({"oxygen": [o2("non_rebreather", 15)]}, 3),
    ({"oxygen": [o2("mechanical_ventilation")]}, 4),
    ({"oxygen": [o2("bipap")]}, 4),
    ({"organ_toxicity": {"creatinine": 2}}, 2),
    ({"organ_toxicity": {"creatinine": 3}}, 3),
    ({"organ_toxicity": {"transaminases": 4}}, 3),  # grade 4 transaminitis is grade 3
    ({"organ_toxicity": {"creatinine": 4}}, 4),
    ({"organ_toxicity": {"creatinine": 1}}, 1),
    ({"death_cause": "crs"}, 5),
])
def test_lee2014(inputs: dict[str, object], expected: int | None) -> None:
    assert g("lee2014", **inputs) == expected


def test_fio2_estimate_and_noninvasive_are_settings() -> None:
    no_est = GradingSettings(estimate_fio2_from_flow=False)
    assert g("lee2014", no_est, oxygen=[o2("nasal_cannula", 2)]) is None
    assert g("lee2014", GradingSettings(noninvasive_is_ventilation=False),
             oxygen=[o2("cpap")]) == 3
    assert g("lee2014", GradingSettings(fio2_cutoff=0.5), fio2=0.45,
             oxygen=[o2("venturi")]) == 2


# ------------------------------------------------------------------ Penn
@pytest.mark.parametrize(("inputs", "expected"), [
    ({}, 1),
    ({"hypotension": True, "hypotension_fluid_responsive": True}, 2),
    ({"organ_toxicity": {"creatinine": 2}}, 2),
    ({"organ_toxicity": {"transaminases": 3}}, 2),
    ({"organ_toxicity": {"creatinine": 3}}, 3),
    ({"organ_toxicity": {"alt": 4}}, 3),
    ({"oxygen": [o2("nasal_cannula", 1)]}, 3),  # any supplemental oxygen
    ({"vasopressors": [vp("norepinephrine", 5)]}, 3),
    ({"vasopressors": [vp("norepinephrine", 25)]}, 4),
    ({"oxygen": [o2("mechanical_ventilation")]}, 4),
    ({"death_cause": "crs"}, 5),
])
def test_penn(inputs: dict[str, object], expected: int) -> None:
    assert g("penn", **inputs) == expected


# ------------------------------------------------------------------ MSKCC
@pytest.mark.parametrize(("inputs", "expected"), [
    ({}, 1),
    ({"hypotension": True}, 1),
    ({"vasopressors": [vp("norepinephrine", 5, hours=10)]}, 2),
    ({"vasopressors": [vp("norepinephrine", 5, hours=10)], "vasopressor_hours_before": 14}, 3),
    ({"vasopressors": [vp("norepinephrine", 5, hours=None)]}, None),
    ({"vasopressors": [vp("norepinephrine", 30, hours=10)]}, 4),
    ({"fio2": 0.3, "oxygen": [o2("venturi")]}, 2),
    ({"fio2": 0.6, "oxygen": [o2("venturi")]}, 3),
    ({"oxygen": [o2("mechanical_ventilation")]}, 4),
])
def test_mskcc(inputs: dict[str, object], expected: int | None) -> None:
    assert g("mskcc", **inputs) == expected


def test_mskcc_vasopressor_hours_accumulate_over_consecutive_days() -> None:
    pat = pd.DataFrame({"patient_id": ["A"]})
    obs = pd.DataFrame({"patient_id": ["A"] * 3, "day": [1.0, 2.0, 3.0], "analyte": "temp",
                        "value": [39.0, 38.5, 38.5], "unit": "C"})
    ev = pd.DataFrame({
        "patient_id": ["A"] * 4, "day": [1.2, 1.2, 2.2, 2.2],
        "event": ["vasopressor", "vasopressor_hours", "vasopressor", "vasopressor_hours"],
        "value": [5.0, 20.0, 5.0, 10.0], "unit": ["ug/min", "h", "ug/min", "h"],
        "detail": ["norepinephrine"] * 4})
    daily = grade_cohort(Cohort(pat, obs, ev), system="mskcc").daily
    assert daily["crs_grade"].tolist() == [2, 3, 1]


# ------------------------------------------------------------------ CARTOX
@pytest.mark.parametrize(("inputs", "expected"), [
    ({}, 1),
    ({"organ_toxicity": {"creatinine": 1}}, 1),
    ({"hypotension": True, "hypotension_fluid_responsive": True}, 2),
    ({"vasopressors": [vp("norepinephrine", 5)]}, 2),
    ({"vasopressors": [vp("norepinephrine", 25)]}, 3),
    ({"vasopressors": [vp("norepinephrine", 5), vp("epinephrine", 1)]}, 3),
    ({"fio2": 0.35, "oxygen": [o2("venturi")]}, 2),
    ({"fio2": 0.4, "oxygen": [o2("venturi")]}, 3),
    ({"organ_toxicity": {"creatinine": 2}}, 2),
    ({"organ_toxicity": {"creatinine": 3}}, 3),
    ({"organ_toxicity": {"transaminases": 4}}, 3),
    ({"organ_toxicity": {"creatinine": 4}}, 4),
    ({"oxygen": [o2("mechanical_ventilation")]}, 4),
])
def test_cartox(inputs: dict[str, object], expected: int) -> None:
    assert g("cartox", **inputs) == expected


# ------------------------------------------------------------------ CTCAE v5
@pytest.mark.parametrize(("inputs", "expected"), [
    ({}, 1),
    ({"hypotension": True}, 2),
    ({"fio2": 0.3, "oxygen": [o2("venturi")]}, 2),
    ({"vasopressors": [vp("norepinephrine")]}, 3),
    ({"fio2": 0.5, "oxygen": [o2("venturi")]}, 3),
    ({"vasopressors": [vp("norepinephrine"), vp("vasopressin")]}, 4),
    ({"oxygen": [o2("mechanical_ventilation")]}, 4),
    ({"organ_toxicity": {"creatinine": 4}}, 1),  # organ toxicity not part of CTCAE CRS
    ({"death_cause": "crs"}, 5),
])
def test_ctcae5(inputs: dict[str, object], expected: int) -> None:
    assert g("ctcae5", **inputs) == expected


# ------------------------------------------------------------------ shared conventions
@pytest.mark.parametrize("system", ["lee2014", "penn", "mskcc", "cartox", "ctcae5"])
def test_older_scales_wait_for_the_first_fever(system: str) -> None:
    kw = {"temperature_max": 37.0, "oxygen": [o2("mechanical_ventilation")]}
    day = grade_crs_day(CrsDayInput(**kw), system=system)  # type: ignore[arg-type]
    assert day.grade == 0 and "before the first fever" in day.criterion
    assert grade_crs_day(CrsDayInput(**kw, crs_before=True),  # type: ignore[arg-type]
                         system=system).grade == 4
    free = GradingSettings(older_scales_need_fever_episode=False)
    assert grade_crs_day(CrsDayInput(**kw), free, system=system).grade == 4  # type: ignore[arg-type]


@pytest.mark.parametrize("system", ["lee2014", "penn", "mskcc", "cartox", "ctcae5"])
def test_older_scales_no_temperature(system: str) -> None:
    # without a temperature the day is open between 0 and 1 unless a criterion >= 2 decides it
    assert grade_crs_day(CrsDayInput(crs_before=True), system=system).grade is None
    assert grade_crs_day(CrsDayInput(crs_before=True, oxygen=[o2("mechanical_ventilation")]),
                         system=system).grade == 4


def test_bad_organ_toxicity_grade_blocks_only_scales_using_it() -> None:
    kw = {"organ_toxicity": {"creatinine": 7}}
    assert g("lee2014", **kw) is None
    assert g("astct", **kw) == 1
