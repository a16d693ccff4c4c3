"""Grading settings: validated, documented conventions."""

from __future__ import annotations

import pytest

from crsscore.grading import DEFAULT_SETTINGS, GradingSettings, GradingSettingsError
from crsscore.grading.settings import check_system


def test_defaults_follow_the_spec() -> None:
    s = DEFAULT_SETTINGS
    assert s.fever_c == 38.0 and s.low_flow_max_l_min == 6.0
    assert s.vasopressin_alone == "vasopressor" and s.inotropes_are_vasopressors is False
    assert s.facemask_at_low_flow == "grade3" and s.antipyretics_waive_fever is False
    assert s.hypotension_sbp_mmhg == 90.0 and s.capd_below_age_years == 12.0


@pytest.mark.parametrize(("field", "value", "match"), [
    ("fever_c", 35.0, "'fever_c' grading setting must be a temperature between 36 and 41"),
    ("hypotension_sbp_mmhg", 10.0, "'hypotension_sbp_mmhg'"),
    ("hypotension_rule", "pals", "'age' or 'fixed'"),
    ("vasopressin_alone", "none", "'vasopressor' or 'hypotension'"),
    ("low_flow_max_l_min", 0.0, "'low_flow_max_l_min'"),
    ("facemask_at_low_flow", "grade2", "'grade3' or 'by_flow'"),
    ("fever_waiver_days", -1.0, "None or a number of days"),
    ("severe_grade", 6, "an integer 1-5"),
    ("capd_below_age_years", 30.0, "'capd_below_age_years'"),
    ("high_dose_hours", 30.0, "'high_dose_hours'"),
    ("fio2_cutoff", 0.1, "'fio2_cutoff'"),
    ("mskcc_long_vasopressor_hours", 0.0, "'mskcc_long_vasopressor_hours'"),
])
def test_bad_settings_are_refused(field: str, value: object, match: str) -> None:
    with pytest.raises(GradingSettingsError, match=match):
        GradingSettings(**{field: value})  # type: ignore[arg-type]


def test_with_and_to_dict() -> None:
    s = DEFAULT_SETTINGS.with_(fever_c=38.3)
    assert s.fever_c == 38.3 and DEFAULT_SETTINGS.fever_c == 38.0
    assert s.to_dict()["fever_c"] == 38.3
    with pytest.raises(GradingSettingsError, match="Unknown grading setting"):
        DEFAULT_SETTINGS.with_(fever=38.3)


@pytest.mark.parametrize(("name", "expected"), [
    ("ASTCT", "astct"), ("lee", "lee2014"), ("Lee-2014", "lee2014"), ("CTCAE v5", "ctcae5"),
    ("penn", "penn")])
def test_system_names(name: str, expected: str) -> None:
    assert check_system(name) == expected
