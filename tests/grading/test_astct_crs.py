"""ASTCT 2019 CRS: every row and rule of the table in shared/specs/grading.md, boundaries included."""

from __future__ import annotations

import pytest

from crsscore.grading import (
    CrsDayInput,
    GradingSettings,
    OxygenSupport,
    VasopressorDose,
    grade_crs_day,
)


def vp(agent: str, dose: float | None = None, unit: str | None = None,
       hours: float | None = None) -> VasopressorDose:
    return VasopressorDose(agent=agent, dose=dose, unit=unit, hours=hours)


def o2(device: str | None, flow: float | None = None) -> OxygenSupport:
    return OxygenSupport(device=device, flow_l_min=flow)


def g(settings: GradingSettings | None = None, **kw: object) -> int | None:
    return grade_crs_day(CrsDayInput(**kw), settings).grade  # type: ignore[arg-type]


# ---------------------------------------------------------------- the spec's examples
@pytest.mark.parametrize(("inputs", "expected"), [
    ({"temperature_max": 38.3}, 1),
    ({"temperature_max": 37.9, "hypotension": True, "hypotension_fluid_responsive": True}, 0),
    ({"temperature_max": 38.6, "hypotension": True, "hypotension_fluid_responsive": True,
      "oxygen": [o2("nasal_cannula", 2)]}, 2),
    ({"temperature_max": 39.0, "vasopressors": [vp("norepinephrine")],
      "oxygen": [o2("nasal_cannula", 4)]}, 3),
    ({"temperature_max": 39.5, "vasopressors": [vp("norepinephrine"), vp("epinephrine")]}, 4),
    ({"temperature_max": 39.1, "oxygen": [o2("bipap")]}, 4),
])
def test_spec_examples(inputs: dict[str, object], expected: int) -> None:
    assert g(**inputs) == expected


# ---------------------------------------------------------------- fever
@pytest.mark.parametrize(("temp", "expected"), [(38.0, 1), (37.99, 0), (37.9, 0), (41.5, 1)])
def test_fever_threshold_is_inclusive(temp: float, expected: int) -> None:
    assert g(temperature_max=temp) == expected


def test_fahrenheit_is_converted() -> None:
    assert g(temperature_max=100.4, temperature_unit="F") == 1  # 38.0 C exactly
    assert g(temperature_max=100.2, temperature_unit="F") == 0


def test_fever_threshold_is_a_setting() -> None:
    assert g(GradingSettings(fever_c=38.3), temperature_max=38.2) == 0


def test_no_temperature_is_not_gradable_not_zero() -> None:
    day = grade_crs_day(CrsDayInput(hypotension=True))
    assert day.grade is None
    assert "no temperature" in day.criterion
    empty = grade_crs_day(CrsDayInput())
    assert empty.grade is None and "no CRS information" in empty.criterion


def test_hypotension_without_fever_is_not_crs() -> None:
    day = grade_crs_day(CrsDayInput(temperature_max=37.0, vasopressors=[vp("norepinephrine")]))
    assert day.grade == 0
    assert "without fever is not CRS" in day.criterion


# ---------------------------------------------------------------- fever waived after treatment
def test_fever_gone_after_tocilizumab_grades_from_hypotension() -> None:
    kw = {"temperature_max": 37.2, "crs_before": True, "vasopressors": [vp("norepinephrine")]}
    assert g(**kw, treated_before=True) == 3
    assert g(**kw, tocilizumab=True) == 3  # given that day
    assert g(**kw, corticosteroid=True) == 3
    assert g(**kw) == 0  # not treated: fever still needed
    day = grade_crs_day(CrsDayInput(**kw, treated_before=True))  # type: ignore[arg-type]
    assert "no fever needed" in day.criterion


def test_waiver_needs_established_crs() -> None:
    assert g(temperature_max=37.2, treated_before=True, oxygen=[o2("facemask")]) == 0


def test_waived_day_without_hypotension_or_hypoxia_is_zero() -> None:
    assert g(temperature_max=36.8, crs_before=True, treated_before=True) == 0


def test_waived_day_without_temperature_is_still_gradable() -> None:
    assert g(crs_before=True, treated_before=True, oxygen=[o2("nasal_cannula", 2)]) == 2


def test_antipyretics_waive_fever_only_by_setting() -> None:
    kw = {"temperature_max": 37.0, "crs_before": True, "antipyretic_before": True,
          "oxygen": [o2("high_flow_nasal_cannula", 30)]}
    assert g(**kw) == 0
    assert g(GradingSettings(antipyretics_waive_fever=True), **kw) == 3


def test_fever_waiver_can_be_switched_off_or_limited() -> None:
    kw = {"temperature_max": 37.0, "crs_before": True, "treated_before": True,
          "oxygen": [o2("cpap")]}
    assert g(GradingSettings(fever_waiver=False), **kw) == 0
    limited = GradingSettings(fever_waiver_days=3)
    assert g(limited, **kw, days_since_last_fever=2) == 4
    assert g(limited, **kw, days_since_last_fever=5) == 0


# ---------------------------------------------------------------- hypotension column
@pytest.mark.parametrize(("agents", "expected"), [
    ([], 1),
    (["norepinephrine"], 3),
    (["vasopressin"], 3),  # default: vasopressin alone is one vasopressor
    (["vasopressin", "norepinephrine"], 3),  # one vasopressor with vasopressin
    (["norepinephrine", "epinephrine"], 4),
    (["vasopressin", "norepinephrine", "phenylephrine"], 4),
    (["dobutamine"], 1),  # inotropes are not vasopressors by default
    (["dobutamine", "norepinephrine"], 3),
    (["milrinone", "vasopressin"], 3),
])
def test_vasopressor_counting(agents: list[str], expected: int) -> None:
    assert g(temperature_max=38.5, vasopressors=[vp(a) for a in agents]) == expected


def test_same_agent_twice_is_one_vasopressor() -> None:
    assert g(temperature_max=38.5, vasopressors=[vp("norepinephrine", 5, "ug/min"),
                                                  vp("norepinephrine", 10, "ug/min")]) == 3


def test_vasopressin_alone_setting() -> None:
    s = GradingSettings(vasopressin_alone="hypotension")
    assert g(s, temperature_max=38.5, vasopressors=[vp("vasopressin")]) == 2
    assert g(s, temperature_max=38.5, vasopressors=[vp("vasopressin"), vp("epinephrine")]) == 3


def test_inotropes_setting() -> None:
    s = GradingSettings(inotropes_are_vasopressors=True)
    assert g(s, temperature_max=38.5, vasopressors=[vp("dobutamine")]) == 3
    assert g(s, temperature_max=38.5, vasopressors=[vp("dobutamine"), vp("norepinephrine")]) == 4


def test_hypotension_event_without_vasopressors_is_grade2() -> None:
    assert g(temperature_max=38.5, hypotension=True) == 2


@pytest.mark.parametrize(("sbp", "age", "expected"), [
    (89.0, 40.0, 2), (90.0, 40.0, 1), (89.0, None, 2),  # adults and unknown age: < 90 mmHg
    (77.0, 4.0, 2), (78.0, 4.0, 1),  # PALS, age 4: < 70 + 2 x 4 = 78 mmHg
    (89.0, 11.0, 2),  # older than 10: adult limit
    (69.0, 0.5, 2), (70.0, 0.5, 1),  # infants: < 70 mmHg
])
def test_sbp_threshold_adults_and_children(sbp: float, age: float | None, expected: int) -> None:
    assert g(temperature_max=38.5, sbp_min_mmhg=sbp, age_years=age) == expected


def test_sbp_rule_fixed_setting() -> None:
    s = GradingSettings(hypotension_rule="fixed", hypotension_sbp_mmhg=90)
    assert g(s, temperature_max=38.5, sbp_min_mmhg=85, age_years=4) == 2
    assert g(GradingSettings(sbp_defines_hypotension=False), temperature_max=38.5,
             sbp_min_mmhg=60) == 1


# ---------------------------------------------------------------- hypoxia column
@pytest.mark.parametrize(("device", "flow", "expected"), [
    ("room_air", None, 1),
    ("nasal_cannula", 1.0, 2),
    ("nasal_cannula", 6.0, 2),  # <= 6 L/min is low flow
    ("nasal_cannula", 6.5, 3),  # > 6 L/min is high flow
    ("nasal_cannula", None, 2),
    ("blow_by", None, 2),
    ("high_flow_nasal_cannula", 40.0, 3),
    ("facemask", 4.0, 3),  # facemask at low flow: grade 3 as the table lists it
    ("facemask", 10.0, 3),
    ("non_rebreather", 15.0, 3),
    ("venturi", 8.0, 3),
    ("cpap", None, 4),
    ("bipap", None, 4),
    ("mechanical_ventilation", None, 4),
])
def test_oxygen_devices(device: str, flow: float | None, expected: int) -> None:
    assert g(temperature_max=38.5, oxygen=[o2(device, flow)]) == expected


def test_low_flow_cut_and_facemask_are_settings() -> None:
    assert g(GradingSettings(low_flow_max_l_min=4.0), temperature_max=38.5,
             oxygen=[o2("nasal_cannula", 5)]) == 3
    by_flow = GradingSettings(facemask_at_low_flow="by_flow")
    assert g(by_flow, temperature_max=38.5, oxygen=[o2("facemask", 6.0)]) == 2
    assert g(by_flow, temperature_max=38.5, oxygen=[o2("facemask", 6.5)]) == 3


def test_device_aliases() -> None:
    assert g(temperature_max=38.5, oxygen=[o2("HFNC", 30)]) == 3
    assert g(temperature_max=38.5, oxygen=[o2("Nasal Cannula", 2)]) == 2


# ---------------------------------------------------------------- worse of the two, organ, death
def test_worse_of_hypotension_and_hypoxia() -> None:
    day = grade_crs_day(CrsDayInput(temperature_max=39.0, hypotension=True,
                                    oxygen=[o2("non_rebreather", 12)]))
    assert day.grade == 3
    assert day.details["criterion_name"] == "hypoxia"
    day = grade_crs_day(CrsDayInput(temperature_max=39.0, oxygen=[o2("nasal_cannula", 2)],
                                    vasopressors=[vp("norepinephrine"), vp("epinephrine")]))
    assert day.grade == 4 and day.details["criterion_name"] == "hypotension"


def test_organ_toxicity_does_not_change_astct() -> None:
    assert g(temperature_max=38.5, organ_toxicity={"creatinine": 4, "transaminases": 4}) == 1


def test_grade5_death_due_to_crs() -> None:
    day = grade_crs_day(CrsDayInput(temperature_max=39.0, vasopressors=[vp("norepinephrine")],
                                    death_cause="crs"))
    assert day.grade == 5 and day.criterion == "death due to CRS"


def test_death_from_another_cause_is_graded_normally() -> None:
    assert g(temperature_max=39.0, vasopressors=[vp("norepinephrine")],
             death_cause="infection") == 3


def test_death_without_cause_is_not_gradable() -> None:
    day = grade_crs_day(CrsDayInput(temperature_max=39.0, death_cause=""))
    assert day.grade is None and "cause not recorded" in day.criterion


# ---------------------------------------------------------------- contradictory / incomplete
@pytest.mark.parametrize(("inputs", "message"), [
    ({"temperature_max": 39.0, "vasopressors": [vp("norepinephrine", 10.0, None)]},
     "vasopressor dose without a unit"),
    ({"temperature_max": 39.0, "oxygen": [o2(None, 4.0)]}, "oxygen without a device"),
    ({"temperature_max": 400.0}, "temp outside the physiological range"),
    ({"temperature_max": 39.0, "temperature_unit": "deg"}, "does not say Celsius"),
    ({"temperature_max": 39.0, "oxygen": [o2("helmet", 4.0)]}, "unknown oxygen device"),
    ({"temperature_max": 39.0, "oxygen": [o2("nasal_cannula", 120.0)]}, "outside 0-80 L/min"),
    ({"temperature_max": 39.0, "oxygen": [o2("room_air", 2.0)]}, "room air with an oxygen flow"),
    ({"temperature_max": 39.0, "vasopressors": [vp("levosimendan")]}, "unknown agent"),
    ({"temperature_max": 39.0, "vasopressors": [vp("vasopressin", 5.0, "ug/min")]},
     "not valid for this agent"),
    ({"temperature_max": 39.0, "vasopressors": [vp("norepinephrine", -1.0, "ug/min")]},
     "negative vasopressor dose"),
    ({"temperature_max": 39.0, "fio2": 5.0}, "neither a fraction nor a percentage"),
    ({"temperature_max": 39.0, "death_cause": "accident"}, "unknown cause of death"),
])
def test_bad_input_makes_the_day_not_gradable(inputs: dict[str, object], message: str) -> None:
    day = grade_crs_day(CrsDayInput(**inputs))  # type: ignore[arg-type]
    assert day.grade is None
    assert message in day.criterion
    problems = day.details["problems"]
    assert isinstance(problems, list) and any(message in p for p in problems)


def test_vasopressor_without_dose_is_fine_for_astct() -> None:
    assert g(temperature_max=38.5, vasopressors=[vp("norepinephrine")]) == 3


def test_unknown_system_is_refused() -> None:
    from crsscore.grading import GradingSettingsError

    with pytest.raises(GradingSettingsError, match="'system' parameter must be one of"):
        grade_crs_day(CrsDayInput(temperature_max=38.0), system="who")


def test_day_grade_to_dict() -> None:
    d = grade_crs_day(CrsDayInput(temperature_max=38.0)).to_dict()
    assert d["grade"] == 1 and d["criterion"] == "fever; no hypotension or hypoxia"


def test_waived_day_with_only_a_treatment_record_is_not_gradable() -> None:
    day = grade_crs_day(CrsDayInput(crs_before=True, treated_before=True, tocilizumab=True))
    assert day.grade is None
    assert "no temperature, blood pressure or oxygen information" in day.criterion
    # a blood pressure reading is enough information once fever is waived
    assert g(crs_before=True, treated_before=True, sbp_min_mmhg=110) == 0
