"""ASTCT grading of one patient-day through the API and the form."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from crsscore.grading import CrsDayInput, IcansDayInput, grade_crs_day, grade_icans_day

# grading.md examples: (API crs input, library input, ASTCT grade)
CRS_CASES = [
    ({"temperature_max": 38.3}, {"temperature_max": 38.3}, 1),
    ({"temperature_max": 37.9, "hypotension": "fluids"},
     {"temperature_max": 37.9, "hypotension": True, "hypotension_fluid_responsive": True}, 0),
    ({"temperature_max": 38.6, "hypotension": "fluids",
      "oxygen": [{"device": "nasal_cannula", "flow_l_min": 2}]},
     {"temperature_max": 38.6, "hypotension": True, "hypotension_fluid_responsive": True,
      "oxygen": [{"device": "nasal_cannula", "flow_l_min": 2}]}, 2),
    ({"temperature_max": 39.0, "hypotension": "vasopressors", "vasopressors": ["norepinephrine"],
      "oxygen": [{"device": "nasal_cannula", "flow_l_min": 4}]},
     {"temperature_max": 39.0, "hypotension": True, "vasopressors": [{"agent": "norepinephrine"}],
      "oxygen": [{"device": "nasal_cannula", "flow_l_min": 4}]}, 3),
    ({"temperature_max": 39.5, "hypotension": "vasopressors",
      "vasopressors": ["norepinephrine", "epinephrine"]},
     {"temperature_max": 39.5, "hypotension": True,
      "vasopressors": [{"agent": "norepinephrine"}, {"agent": "epinephrine"}]}, 4),
    ({"temperature_max": 39.1, "oxygen": [{"device": "bipap"}]},
     {"temperature_max": 39.1, "oxygen": [{"device": "bipap"}]}, 4),
]
ICANS_CASES = [({"ice": 10}, 0),
               ({"ice": 5, "consciousness": "voice"}, 2),
               ({"ice": 4, "seizure": "resolved_rapidly"}, 3),
               ({"ice": 7, "motor_weakness": True}, 4)]


@pytest.mark.parametrize(("api", "lib", "grade"), CRS_CASES)
def test_crs_day_matches_library_and_spec(client: TestClient, api: dict[str, object],
                                          lib: dict[str, object], grade: int) -> None:
    r = client.post("/api/v1/grading/day", json={"crs": api})
    assert r.status_code == 200
    ref = grade_crs_day(CrsDayInput.model_validate(lib))
    out = r.json()["crs"]
    assert out["grade"] == ref.grade == grade
    assert out["criterion"] == ref.criterion and out["criterion"]


@pytest.mark.parametrize(("icans", "grade"), ICANS_CASES)
def test_icans_day_matches_library_and_spec(client: TestClient, icans: dict[str, object],
                                            grade: int) -> None:
    out = client.post("/api/v1/grading/day", json={"icans": icans}).json()["icans"]
    ref = grade_icans_day(IcansDayInput.model_validate(icans))
    assert out["grade"] == ref.grade == grade and out["criterion"] == ref.criterion


def test_fahrenheit_and_not_gradable(client: TestClient) -> None:
    out = client.post("/api/v1/grading/day",
                      json={"crs": {"temperature_max": 100.4, "temperature_unit": "F"}}).json()
    assert out["crs"]["grade"] == 1  # 100.4 F = 38.0 C, fever is inclusive
    empty = client.post("/api/v1/grading/day", json={}).json()
    assert empty["crs"]["grade"] is None and empty["crs"]["criterion"].startswith("not gradable")
    assert empty["icans"]["grade"] is None


def test_grading_422_names_field(client: TestClient) -> None:
    r = client.post("/api/v1/grading/day", json={"crs": {"temperature_max": 390}})
    assert r.status_code == 422
    (d,) = r.json()["detail"]
    assert d["loc"] == ["body", "crs", "temperature_max"] and d["expected"] == "25 to 45 C"
    r = client.post("/api/v1/grading/day", json={"crs": {"vasopressors": ["adrenaline"]}})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "crs", "vasopressors", 0]
    assert "norepinephrine" in r.json()["detail"][0]["expected"]
    r = client.post("/api/v1/grading/day", json={"icans": {"ice": 11}})
    assert r.status_code == 422 and r.json()["detail"][0]["expected"] == "le 10"


def test_grading_form(client: TestClient) -> None:
    html = client.get("/grading").text
    assert 'id="grade-form"' in html and 'for="v-temperature_max"' in html
    r = client.post("/grading", data={"temperature_max": "39", "temperature_unit": "C",
                                      "hypotension": "vasopressors",
                                      "vasopressors": ["norepinephrine", "epinephrine"]},
                    headers={"X-Fragment": "1"})
    assert 'data-testid="crs-grade">4<' in r.text and "several vasopressors" in r.text
    r = client.post("/grading", data={"temperature_max": "39", "ice": "4.5"})
    assert r.status_code == 422 and "ICE score: a whole number" in r.text
    r = client.post("/grading", data={"temperature_max": "390"})
    assert r.status_code == 422 and "expected 25 to 45 C" in r.text
