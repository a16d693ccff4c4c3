"""REST API: listing, scoring, batch, errors (422 naming field and unit), 404, 413."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from crsscore.scores.evaluate import score_frame
from crsscore.scores.scorecard import ScoreCard
from crsscore.service.main import create_app

BODY = {"values": {"crp": {"value": 45, "unit": "mg/L"}, "ferritin": {"value": 1500, "unit": "ug/L"},
                   "plt": {"value": 60, "unit": "10^9/L"}, "costim": {"value": "CD28"},
                   "mrd_baseline_pct": {"value": 12, "unit": "%"}}}


def test_list_and_detail(client: TestClient, points_card: ScoreCard) -> None:
    r = client.get("/api/v1/scorecards")
    assert r.status_code == 200
    items = {c["id"]: c for c in r.json()["items"]}
    assert set(items) == {"test-points", "test-easix"}
    assert items["test-points"]["synthetic"] and "synthetic" in items["test-points"]["label"]
    d = client.get("/api/v1/scorecards/test-points").json()
    crp = next(v for v in d["variables_detail"] if v["name"] == "crp")
    assert crp["unit"] == "mg/dL" and crp["accepted_units"] == ["mg/L", "mg/dL", "ug/mL"]
    assert crp["physiological_range"] == [0.0, 100.0]  # 0-1000 mg/L written in mg/dL
    assert d["tocilizumab_sensitive"] and d["has_probability"]
    variables = client.get("/api/v1/scorecards/test-points/variables").json()
    assert [v["name"] for v in variables] == points_card.input_names
    assert variables[2]["accepted_units"] == ["10^9/L", "10^3/uL", "cells/uL"]
    assert variables[3]["input"] == "category" and variables[3]["accepted_units"] == []
    card = client.get("/api/v1/scorecards/test-points/card").json()
    assert ScoreCard.model_validate(card) == points_card


def test_unknown_card_is_404(client: TestClient) -> None:
    r = client.post("/api/v1/scorecards/nope/score", json=BODY)
    assert r.status_code == 404 and "nope" in r.json()["detail"]


def test_score_one(client: TestClient, points_card: ScoreCard) -> None:
    r = client.post("/api/v1/scorecards/test-points/score", json=BODY)
    assert r.status_code == 200
    out = r.json()
    canon = pd.DataFrame({"crp": [45.0], "ferritin": [1500.0], "plt": [60.0],
                          "costim": ["CD28"], "mrd_baseline_pct": [12.0]})
    ref = score_frame(points_card, canon).iloc[0]
    assert out["total"] == ref["total"] and out["probability"] == pytest.approx(ref["probability"])
    assert out["risk_group"] == ref["risk_group"]
    assert [v["points"] for v in out["variables"]] == [1, 2, 1, 1, 2]


def test_422_names_field_and_expected_unit(client: TestClient) -> None:
    body = json.loads(json.dumps(BODY))
    body["values"]["crp"]["unit"] = "mmol/L"
    body["values"]["plt"]["value"] = 99999
    r = client.post("/api/v1/scorecards/test-points/score", json=body)
    assert r.status_code == 422
    detail = {tuple(d["loc"]): d for d in r.json()["detail"]}
    assert detail[("body", "values", "crp", "unit")]["expected"].startswith("one of mg/L, mg/dL")
    assert detail[("body", "values", "plt", "value")]["expected"] == "0 to 2000 10^9/L"


@pytest.mark.parametrize(("body", "loc"), [
    ({"values": {"crp": {"value": "NaN", "unit": "mg/L"}}}, ["body", "values", "crp", "value"]),
    ({"values": {"crp": {"value": 1, "unit": "mg/L", "extra": 1}}},
     ["body", "values", "crp", "extra"]),
    ({"values": [], "after_tocilizumab": "maybe"}, ["body", "values"]),
    ({}, ["body", "values"]),
])
def test_request_validation_422(client: TestClient, body: object, loc: list[str]) -> None:
    r = client.post("/api/v1/scorecards/test-points/score", json=body)
    assert r.status_code == 422
    assert loc in [d["loc"] for d in r.json()["detail"]]


def test_nan_and_infinity_literals_refused(client: TestClient) -> None:
    raw = b'{"values": {"crp": {"value": Infinity, "unit": "mg/L"}}}'
    r = client.post("/api/v1/scorecards/test-points/score", content=raw,
                    headers={"content-type": "application/json"})
    assert r.status_code == 422


def test_batch_csv_download(client: TestClient, points_card: ScoreCard) -> None:
    csv = "id,crp [mg/dL],ferritin [ng/mL],plt [10^9/L],costim,mrd_baseline_pct [%]\n" \
          "A1,4.5,1500,60,CD28,12\nA2,0.5,100,300,4-1BB,0\n"
    r = client.post("/api/v1/scorecards/test-points/batch",
                    files={"file": ("patients.csv", csv, "text/csv")})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    out = pd.read_csv(io.StringIO(r.text))
    assert list(out.columns[:2]) == ["id", "pts_crp"]
    canon = pd.DataFrame({"crp": [45.0, 5.0], "ferritin": [1500.0, 100.0], "plt": [60.0, 300.0],
                          "costim": ["CD28", "4-1BB"], "mrd_baseline_pct": [12.0, 0.0]})
    ref = score_frame(points_card, canon)
    assert list(out["total"]) == list(ref["total"])
    assert list(out["risk_group"]) == list(ref["risk_group"])


def test_batch_json_upload(client: TestClient) -> None:
    payload = json.dumps({"patients": [{"id": "B1", **BODY}]})
    r = client.post("/api/v1/scorecards/test-points/batch",
                    files={"file": ("p.json", payload, "application/json")})
    assert r.status_code == 200
    assert pd.read_csv(io.StringIO(r.text))["total"].tolist() == [7.0]


def test_batch_errors_name_file_rows(client: TestClient) -> None:
    csv = "crp [mg/L],plt [10^9/L]\n5,100\n5,abc\n"
    r = client.post("/api/v1/scorecards/test-points/batch",
                    files={"file": ("p.csv", csv, "text/csv")})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "file", "row 3", "plt"]
    bad_json = json.dumps({"patients": [{"values": {"crp": {"value": 5, "unit": "furlong"}}}]})
    r = client.post("/api/v1/scorecards/test-points/batch",
                    files={"file": ("p.json", bad_json, "application/json")})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "file", "patients", 0, "values", "crp", "unit"]


def test_body_limits_413(client: TestClient) -> None:
    big = {"values": {"crp": {"value": 1, "unit": "mg/L"}}, "pad": "x" * 1_100_000}
    r = client.post("/api/v1/scorecards/test-points/score", json=big)
    assert r.status_code == 413 and r.json()["detail"][0]["type"] == "too_large"
    # a chunked body without Content-Length is counted as it streams
    chunks = (b"x" * 100_000 for _ in range(12))
    r = client.post("/api/v1/scorecards/test-points/score", content=chunks,
                    headers={"content-type": "application/json"})
    assert r.status_code == 413
    # uploads may be larger than JSON, up to 10 MB
    csv = "id,crp [mg/L]\n" + ("x" * 1000 + ",5\n") * 1200  # 1.2 MB
    r = client.post("/api/v1/scorecards/test-points/batch",
                    files={"file": ("p.csv", csv, "text/csv")})
    assert r.status_code == 200
    r = client.post("/api/v1/scorecards/test-points/batch",
                    files={"file": ("p.csv", "crp [mg/L]\n" + "5" * 10_100_000, "text/csv")})
    assert r.status_code == 413


def test_scorecard_folder_reports_invalid_files(tmp_path: Path, points_card: ScoreCard) -> None:
    card = points_card.model_copy(update={"id": "from-folder"})
    card.to_json(tmp_path / "good.json")
    (tmp_path / "broken.json").write_text("{not json", encoding="utf-8")
    (tmp_path / "invalid.json").write_text(json.dumps({"id": "x", "name": "x", "variables": []}),
                                           encoding="utf-8")
    (tmp_path / "dup.json").write_text(points_card.to_json(), encoding="utf-8")
    app = create_app(tmp_path, builtin=False, cards=[points_card])
    with TestClient(app) as c:
        body = c.get("/api/v1/scorecards").json()
    assert {i["id"] for i in body["items"]} == {"test-points", "from-folder"}
    rejected = {Path(r["source"]).name: r["error"] for r in body["rejected"]}
    assert set(rejected) == {"broken.json", "invalid.json", "dup.json"}
    assert "duplicate score card id" in rejected["dup.json"]
    assert "invalid score card" in rejected["invalid.json"]
    missing = create_app(tmp_path / "nowhere", builtin=False)
    assert missing.state.registry.rejected[0].error == "not a folder"


def test_builtin_cards_worked_examples() -> None:
    """Reference-scores worked values through the API, with CRP entered in mg/L."""
    app = create_app()
    with TestClient(app) as c:
        ids = {i["id"] for i in c.get("/api/v1/scorecards").json()["items"]}
        if "m-easix" not in ids:
            pytest.skip("built-in score cards not available")
        r = c.post("/api/v1/scorecards/m-easix/score", json={"values": {
            "ldh": {"value": 250, "unit": "U/L"}, "crp": {"value": 50, "unit": "mg/L"},
            "plt": {"value": 100, "unit": "10^9/L"}}})
        assert r.json()["total"] == pytest.approx(12.5)
        r = c.post("/api/v1/scorecards/m-easix/score", json={"after_tocilizumab": True, "values": {
            "ldh": {"value": 250, "unit": "U/L"}, "crp": {"value": 50, "unit": "mg/L"},
            "plt": {"value": 100, "unit": "10^9/L"}}})
        toci = [w["variable"] for w in r.json()["warnings"] if w["code"] == "after_tocilizumab"]
        assert toci == ["crp"]  # LDH and platelets are not changed by tocilizumab
        r = c.post("/api/v1/scorecards/car-hematotox/score", json={"values": {
            "plt": {"value": 100, "unit": "10^9/L"}, "anc": {"value": 900, "unit": "cells/uL"},
            "hb": {"value": 100, "unit": "g/L"}, "crp": {"value": 45, "unit": "mg/L"},
            "ferritin": {"value": 500, "unit": "ng/mL"}}})
        assert (r.json()["total"], r.json()["risk_group"]) == (3, "high")


def test_health(client: TestClient) -> None:
    body = client.get("/api/v1/health").json()
    assert body["status"] == "ok" and body["scorecards"] == 2
