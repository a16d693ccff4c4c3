"""Concurrent requests on the same patients (SQLite: one writer at a time; PostgreSQL: the
patients' rows locked): every request succeeds, nothing is lost or doubled."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from monitor_support import Ward


def test_concurrent_updates(ward: Ward) -> None:
    pats = [{"patient_id": f"C{i}", "infusion_date": "2024-01-01"} for i in range(3)]
    assert ward.post("/api/v1/patients", {"patients": pats}).status_code == 200

    def post(k: int) -> int:
        pid = f"C{k % 3}"
        body = {"observations": [
            {"day": k * 0.1, "analyte": "temp", "value": 37.0 + (k % 20) / 10, "unit": "C"},
            {"day": k * 0.1, "analyte": "crp", "value": 10.0 + k, "unit": "mg/L"}]}
        return int(ward.post(f"/api/v1/patients/{pid}/observations", body).status_code)

    with ThreadPoolExecutor(max_workers=6) as pool:
        codes = list(pool.map(post, range(30)))
    assert codes == [200] * 30
    assert ward.counts()["mon_observations"] == 60
    # and again, all at once: the same rows change nothing
    with ThreadPoolExecutor(max_workers=6) as pool:
        assert list(pool.map(post, range(30))) == [200] * 30
    assert ward.counts()["mon_observations"] == 60


def test_concurrent_creation_of_the_same_patient(ward: Ward) -> None:
    body = {"patients": [{"patient_id": "SAME", "infusion_date": "2024-01-01"}]}
    with ThreadPoolExecutor(max_workers=4) as pool:
        codes = list(pool.map(lambda _: ward.post("/api/v1/patients", body).status_code,
                              range(8)))
    assert codes == [200] * 8
    assert ward.counts()["mon_patients"] == 1
