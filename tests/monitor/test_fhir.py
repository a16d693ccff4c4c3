"""FHIR R4 ingestion: LOINC codes of the analyte table, UCUM units, Bundles all or nothing."""

from __future__ import annotations

from typing import Any

import pytest
from monitor_support import Ward

from crsscore.data.schema import ANALYTES
from crsscore.monitor.fhir import LOINC_TO_ANALYTE

PAT = {"patient_id": "F001", "infusion_date": "2024-03-01", "costim": "4-1BB"}


def observation(loinc: str, value: float, ucum: str, when: str = "2024-03-03T06:00:00+01:00",
                subject: str = "Patient/F001") -> dict[str, Any]:
    return {"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
            "subject": {"reference": subject}, "effectiveDateTime": when,
            "valueQuantity": {"value": value, "unit": ucum,
                              "system": "http://unitsofmeasure.org", "code": ucum}}


def bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "collection",
            "entry": [{"resource": r} for r in resources]}


def test_loinc_map_is_the_analyte_table() -> None:
    assert LOINC_TO_ANALYTE == {a.loinc: c for c, a in ANALYTES.items() if a.loinc}
    assert LOINC_TO_ANALYTE["26881-3"] == "il6" and LOINC_TO_ANALYTE["1988-5"] == "crp"


def test_observation_with_ucum_units(ward: Ward) -> None:
    ward.post("/api/v1/patients", {"patients": [PAT]})
    r = ward.post("/fhir/Observation", observation("1988-5", 9.0, "mg/dL"))
    assert r.status_code == 200, r.text
    r = ward.post("/fhir/Observation", observation("8310-5", 102.2, "[degF]"))
    assert r.status_code == 200, r.text
    got = {o["analyte"]: o for o in ward.client.get(
        "/api/v1/patients/F001", headers=ward.headers).json()["observations"]}
    assert got["crp"]["value"] == pytest.approx(90.0) and got["crp"]["unit"] == "mg/L"
    assert got["crp"]["orig_unit"] == "mg/dL"
    assert got["temp"]["value"] == pytest.approx(39.0, abs=0.01)
    # wall-clock time minus midnight of the infusion date: 2 days and 6 hours
    assert got["crp"]["day"] == pytest.approx(2.25)
    # the same resource again changes nothing
    again = ward.post("/fhir/Observation", observation("1988-5", 9.0, "mg/dL")).json()
    assert again["inserted"] == 0 and again["unchanged"] == 1


def test_components_give_one_row_each(ward: Ward) -> None:
    ward.post("/api/v1/patients", {"patients": [PAT]})
    panel = {"resourceType": "Observation", "status": "final",
             "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
             "subject": {"reference": "Patient/F001"},
             "effectiveDateTime": "2024-03-02T08:00:00Z",
             "component": [
                 {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
                  "valueQuantity": {"value": 85, "system": "http://unitsofmeasure.org",
                                    "code": "mm[Hg]"}},
                 {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
                  "valueQuantity": {"value": 50, "system": "http://unitsofmeasure.org",
                                    "code": "mm[Hg]"}}]}
    r = ward.post("/fhir/Observation", panel)
    assert r.status_code == 200, r.text
    assert r.json()["inserted"] == 1  # systolic only: diastolic is no analyte


@pytest.mark.parametrize(("resource", "kind"), [
    (observation("99999-9", 1.0, "mg/L"), "unknown_code"),
    (observation("1988-5", 1.0, "mg/L", subject="Group/1"), "missing_subject"),
    (observation("1988-5", 1.0, "mg/L", subject="Patient/NOBODY"), "unknown_patient"),
    (observation("1988-5", 1.0, "furlong"), "unknown_unit"),
    (observation("1988-5", 5000.0, "mg/L"), "out_of_range"),
    ({"resourceType": "Observation", "status": "nonsense"}, "fhir_invalid"),
    ({"resourceType": "Patient"}, "wrong_resource"),
])
def test_refused_resources_store_nothing(ward: Ward, resource: dict[str, Any],
                                         kind: str) -> None:
    ward.post("/api/v1/patients", {"patients": [PAT]})
    before = ward.counts()
    r = ward.post("/fhir/Observation", resource)
    assert r.status_code == 422, r.text
    assert kind in {d["type"] for d in r.json()["detail"]}
    assert ward.counts() == before


def test_bundle_is_one_transaction(ward: Ward) -> None:
    ward.post("/api/v1/patients", {"patients": [PAT]})
    good = [observation("26881-3", 80.0, "pg/mL"), observation("2276-4", 900.0, "ng/mL")]
    before = ward.counts()
    bad = bundle(*good, observation("1988-5", 1.0, "furlong"))
    r = ward.post("/fhir/Bundle", bad)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "Bundle.entry[2]"]
    assert ward.counts() == before
    r = ward.post("/fhir/Bundle", bundle(*good))
    assert r.status_code == 200 and r.json()["inserted"] == 2
