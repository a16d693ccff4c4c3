"""Access and hygiene: authentication for API and pages, CSRF, security headers, CSP-clean
pages, body size limit, loopback bind, and no patient values or identifiers in the logs."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from monitor_support import LiveServer, Ward, restored_logging

PAT = {"patient_id": "ZX9931", "infusion_date": "2024-03-01", "costim": "CD28"}
SECRET_VALUE = 123.456


@pytest.fixture
def sward(sqlite_url: str) -> Any:
    w = Ward(sqlite_url)
    yield w
    w.close()


def login(w: Ward) -> None:
    r = w.client.post("/login", data={"token": w.token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/ward"
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie


def test_pages_need_a_session(sward: Ward) -> None:
    r = sward.client.get("/ward", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    r = sward.client.get("/ward/patients/ZX9931", follow_redirects=False)
    assert r.status_code == 303
    r = sward.client.post("/login", data={"token": "crsmon_wrong"}, follow_redirects=False)
    assert r.status_code == 401
    login(sward)
    assert sward.client.get("/ward").status_code == 200
    # revoking the token ends its sessions
    from crsscore.monitor.auth import revoke_token

    revoke_token(sward.db, "tests")
    assert sward.client.get("/ward", follow_redirects=False).status_code == 303


def test_ward_and_patient_pages_are_csp_clean(sward: Ward) -> None:
    sward.post("/api/v1/patients", {"patients": [PAT]})
    sward.post("/api/v1/patients/ZX9931/observations", {"observations": [
        {"day": 1.2, "analyte": "crp", "value": 80, "unit": "mg/L"},
        {"day": 1.2, "analyte": "temp", "value": 39.1, "unit": "C"}]})
    sward.post("/api/v1/patients/ZX9931/events", {"events": [
        {"day": 1.3, "event": "tocilizumab", "value": 8, "unit": "mg/kg"}]})
    login(sward)
    for path in ("/ward", "/ward?sort=id", "/ward/patients/ZX9931", "/login"):
        r = sward.client.get(path)
        assert r.status_code == 200, path
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert r.headers["x-content-type-options"] == "nosniff"
        html = r.text
        assert "<script" not in html and "<style" not in html
        assert not re.search(r"\sstyle=", html), path
        assert not re.search(r"\son[a-z]+=", html), path  # no inline event handlers
    page = sward.client.get("/ward/patients/ZX9931").text
    assert "<svg" in page and "mark-toci" in page
    assert "ZX9931" in sward.client.get("/ward").text


def test_page_ack_needs_csrf(sward: Ward) -> None:
    sward.post("/api/v1/patients", {"patients": [PAT]})
    sward.post("/api/v1/patients/ZX9931/observations", {"observations": [
        {"day": 1.2, "analyte": "temp", "value": 39.1, "unit": "C"}]})
    r = sward.post("/api/v1/patients/ZX9931/events", {"events": [
        {"day": 1.3, "event": "vasopressor", "value": 0.2, "unit": "ug/kg/min",
         "detail": "norepinephrine"}]})
    aid = r.json()["alerts_raised"][0]
    login(sward)
    r = sward.client.post(f"/ward/alerts/{aid}/ack", data={"csrf": "x"}, follow_redirects=False)
    assert r.status_code == 403
    html = sward.client.get("/ward").text
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert csrf is not None
    r = sward.client.post(f"/ward/alerts/{aid}/ack", data={"csrf": csrf.group(1)},
                          follow_redirects=False)
    assert r.status_code == 303
    assert sward.client.get("/api/v1/alerts", headers=sward.headers).json() == []


def test_body_size_limit(sward: Ward) -> None:
    sward.post("/api/v1/patients", {"patients": [PAT]})
    before = sward.counts()
    big = {"observations": [{"day": 1.0, "analyte": "crp", "value": 1.0, "unit": "mg/L",
                             "patient_id": "ZX9931" + "x" * 50}] * 20000}
    r = sward.post("/api/v1/patients/ZX9931/observations", big)
    assert r.status_code == 413
    assert sward.counts() == before


def test_binds_loopback_by_default() -> None:
    import inspect

    from crsscore.cli.monitor_cmds import monitor_serve
    from crsscore.monitor.logconfig import monitor_uvicorn_config

    assert monitor_uvicorn_config(object()).host == "127.0.0.1"
    default = inspect.signature(monitor_serve.__wrapped__).parameters["host"].default
    assert default == "127.0.0.1"


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_no_identifiers_or_values_in_logs(sqlite_url: str) -> None:
    import httpx

    w = Ward(sqlite_url)
    keep = _Keep()
    try:
        with restored_logging(), LiveServer(w.app) as server:
            for name in ("uvicorn.access", "uvicorn.error", "crsscore.monitor",
                         "crsscore.service"):
                lg = logging.getLogger(name)
                lg.addHandler(keep)
                lg.setLevel(logging.DEBUG)
            with httpx.Client(base_url=server.url, headers=w.headers) as c:
                c.post("/api/v1/patients", json={"patients": [PAT]})
                c.post("/api/v1/patients/ZX9931/observations", json={"observations": [
                    {"day": 1.5, "analyte": "crp", "value": SECRET_VALUE, "unit": "mg/L"}]})
                c.post("/api/v1/patients/ZX9931/observations", json={"observations": [
                    {"day": 1.5, "analyte": "crp", "value": 99999.0, "unit": "mg/L"}]})
                c.get("/api/v1/patients/ZX9931?x=ZX9931")
                c.post("/fhir/Observation", json={"resourceType": "Observation",
                                                  "subject": {"reference": "Patient/ZX9931"}})
    finally:
        w.close()
    text = "\n".join(keep.lines)
    assert "/api/v1/patients/{id}/observations" in text  # the access lines are there
    assert "ZX9931" not in text
    assert "123.456" not in text and "99999" not in text


def test_error_lines_name_no_patient() -> None:
    """The service's error line names the failed request's path: the id is redacted."""
    from crsscore.monitor.logconfig import RedactPathsInArgs, monitor_log_config

    rec = logging.LogRecord("crsscore.service", logging.ERROR, __file__, 1,
                            "internal error %s on %s %s",
                            ("KeyError", "POST", "/api/v1/patients/ZX9931/events"), None)
    RedactPathsInArgs().filter(rec)
    assert rec.getMessage() == "internal error KeyError on POST /api/v1/patients/{id}/events"
    cfg = monitor_log_config()
    assert "redact_args" in cfg["loggers"]["crsscore.service"]["filters"]
