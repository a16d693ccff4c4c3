"""Issue 15.11: the OpenAPI schema declares the ranges the service enforces, so that a
schema-valid body is accepted (schemathesis ST202); see also test_openapi_fuzz.py."""

from __future__ import annotations

from fastapi.testclient import TestClient

from crsscore.service.schemas import TEMPERATURE_LIMITS


def test_temperature_range_is_declared_per_unit(client: TestClient) -> None:
    """Reproducer (schemathesis ST202): 'temperature_max: 0' fitted the schema and got 422."""
    crs = client.get("/openapi.json").json()["components"]["schemas"]["CrsDay"]
    [rule] = crs["allOf"]
    assert rule["if"]["properties"]["temperature_unit"] == {"const": "F"}
    for branch, unit in (("then", "F"), ("else", "C")):
        number = rule[branch]["properties"]["temperature_max"]["anyOf"][0]
        assert (number["minimum"], number["maximum"]) == TEMPERATURE_LIMITS[unit]
    for unit, (lo, hi) in TEMPERATURE_LIMITS.items():
        for t, ok in ((lo, True), (hi, True), (lo - 0.1, False), (hi + 0.1, False)):
            r = client.post("/api/v1/grading/day",
                            json={"crs": {"temperature_max": t, "temperature_unit": unit}})
            assert r.status_code == (200 if ok else 422), (unit, t)
    r = client.post("/api/v1/grading/day", json={"crs": {"temperature_max": 0}})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "crs", "temperature_max"]


def test_room_air_flow_and_whole_number_scores_match_the_schema(client: TestClient) -> None:
    ox = client.get("/openapi.json").json()["components"]["schemas"]["OxygenIn"]
    assert ox["if"]["properties"]["device"] == {"const": "room_air"}
    r = client.post("/api/v1/grading/day",
                    json={"crs": {"oxygen": [{"device": "room_air", "flow_l_min": 2}]}})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "crs", "oxygen", 0, "flow_l_min"]
    ok = client.post("/api/v1/grading/day",
                     json={"crs": {"oxygen": [{"device": "room_air", "flow_l_min": 0}]},
                           "icans": {"ice": 5.0, "capd": 12.0}})  # JSON integers
    assert ok.status_code == 200
    for bad in ({"ice": 5.5}, {"ice": "5"}, {"ice": True}, {"capd": 33}):
        assert client.post("/api/v1/grading/day", json={"icans": bad}).status_code == 422
