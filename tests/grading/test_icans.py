"""ASTCT 2019 ICANS: every domain row, the worst-domain rule, CAPD for young children."""

from __future__ import annotations

import pytest

from crsscore.grading import GradingSettings, IcansDayInput, grade_icans_day


def g(settings: GradingSettings | None = None, **kw: object) -> int | None:
    return grade_icans_day(IcansDayInput(**kw), settings).grade  # type: ignore[arg-type]


@pytest.mark.parametrize(("inputs", "expected"), [
    ({"ice": 10, "consciousness": None}, 0),
    ({"ice": 5, "consciousness": "voice"}, 2),
    ({"ice": 4, "seizure": "resolved_rapidly"}, 3),
    ({"ice": 7, "motor_weakness": True}, 4),
])
def test_spec_examples(inputs: dict[str, object], expected: int) -> None:
    assert g(**inputs) == expected


@pytest.mark.parametrize(("ice", "expected"), [
    (10, 0), (9, 1), (7, 1), (6, 2), (3, 2), (2, 3), (0, 3)])
def test_ice_bands(ice: int, expected: int) -> None:
    assert g(ice=ice) == expected


@pytest.mark.parametrize(("loc", "expected"), [
    ("spontaneous", 1), ("voice", 2), ("touch", 3), ("unarousable", 4)])
def test_level_of_consciousness(loc: str, expected: int) -> None:
    assert g(ice=10, consciousness=loc) == expected
    assert g(consciousness=loc) == expected  # consciousness alone is an assessment


def test_ice_zero_awake_is_3_unarousable_is_4() -> None:
    assert g(ice=0) == 3
    assert g(ice=0, consciousness="unarousable") == 4


@pytest.mark.parametrize(("seizure", "expected"), [
    ("resolved_rapidly", 3), ("nonconvulsive_eeg", 3), ("prolonged", 4), ("repeated", 4)])
def test_seizures(seizure: str, expected: int) -> None:
    assert g(ice=10, seizure=seizure) == expected


@pytest.mark.parametrize(("edema", "expected"), [("focal", 3), ("diffuse", 4)])
def test_cerebral_oedema(edema: str, expected: int) -> None:
    assert g(ice=9, cerebral_edema=edema) == expected


def test_worst_domain_sets_the_grade_and_is_named() -> None:
    day = grade_icans_day(IcansDayInput(ice=8, consciousness="touch", seizure="resolved_rapidly"))
    assert day.grade == 3
    day = grade_icans_day(IcansDayInput(ice=1, cerebral_edema="diffuse"))
    assert day.grade == 4 and day.details["criterion_name"] == "cerebral oedema"


def test_grade3_finding_without_ice_is_gradable_but_nothing_is_not() -> None:
    assert g(seizure="resolved_rapidly") == 3
    assert g(motor_weakness=True) == 4
    day = grade_icans_day(IcansDayInput())
    assert day.grade is None and "no neurological assessment" in day.criterion


@pytest.mark.parametrize(("capd", "loc", "expected"), [
    (0, None, 0), (1, "spontaneous", 1), (8, "spontaneous", 1), (8, "voice", 2),
    (9, None, 3), (20, "spontaneous", 3), (None, "unarousable", 4)])
def test_capd_for_young_children(capd: int | None, loc: str | None, expected: int) -> None:
    assert g(capd=capd, consciousness=loc, age_years=6) == expected


def test_capd_age_cutoff_is_a_setting() -> None:
    # age 12: by default (CAPD below 12) uses ICE; with cut-off 13 uses CAPD
    assert g(ice=5, capd=10, age_years=12) == 2
    assert g(GradingSettings(capd_below_age_years=13), ice=5, capd=10, age_years=12) == 3
    assert g(ice=5, capd=10, age_years=11.9) == 3


def test_young_child_with_only_ice_is_not_gradable() -> None:
    day = grade_icans_day(IcansDayInput(ice=5, age_years=4))
    assert day.grade is None and "no ICE/CAPD" in day.criterion


def test_unknown_age_uses_ice() -> None:
    assert g(ice=5, capd=10) == 2


def test_death_due_to_icans() -> None:
    assert g(ice=0, death_cause="icans") == 5
    assert g(GradingSettings(icans_death_is_grade5=False), ice=0, death_cause="icans") == 3
    assert g(ice=9, death_cause="infection") == 1


@pytest.mark.parametrize(("inputs", "message"), [
    ({"ice": 11}, "ICE score must be an integer 0-10"),
    ({"capd": 40, "age_years": 3}, "CAPD score must be an integer 0-32"),
    ({"ice": 9, "consciousness": "drowsy"}, "consciousness: missing or unknown detail"),
    ({"ice": 9, "seizure": "yes"}, "seizure: missing or unknown detail"),
    ({"ice": 9, "cerebral_edema": "mild"}, "cerebral_edema: missing or unknown detail"),
])
def test_bad_icans_input_is_not_gradable(inputs: dict[str, object], message: str) -> None:
    day = grade_icans_day(IcansDayInput(**inputs))  # type: ignore[arg-type]
    assert day.grade is None and message in day.criterion
