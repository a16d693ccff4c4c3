"""Patient values and identifiers never reach the logs."""

from __future__ import annotations

import logging

import httpx
import pytest

from crsscore.service.logconfig import DropQueryString

SECRET_VALUE = 123.456789
SECRET_ID = "PATIENT-ZX81-SECRET"

_SERVER = ("uvicorn", "crsscore", "fastapi", "starlette")
_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "crsscore", "crsscore.service",
            "fastapi", "starlette")


def test_drop_query_string_filter() -> None:
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1,
                               '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5", "GET", f"/x?id={SECRET_ID}", "1.1", 200), None)
    assert DropQueryString().filter(record)
    assert SECRET_ID not in record.getMessage() and "GET /x HTTP/1.1" in record.getMessage()


def test_live_server_logs_no_values_or_ids(live_server: object, caplog: pytest.LogCaptureFixture
                                           ) -> None:
    url = live_server.url  # type: ignore[attr-defined]
    loggers = [logging.getLogger(n) for n in _LOGGERS]
    for lg in loggers:
        lg.addHandler(caplog.handler)
    caplog.set_level(logging.DEBUG)
    try:
        with httpx.Client(base_url=url) as c:
            body = {"values": {"crp": {"value": SECRET_VALUE, "unit": "mg/L"},
                               "plt": {"value": 100, "unit": "10^9/L"}}}
            ok = c.post(f"/api/v1/scorecards/test-points/score?patient={SECRET_ID}", json=body)
            body["values"]["crp"]["unit"] = SECRET_ID  # an error echoing the input
            bad = c.post("/api/v1/scorecards/test-points/score", json=body)
            csv = f"id,crp [mg/L]\n{SECRET_ID},{SECRET_VALUE}\n"
            batch = c.post("/api/v1/scorecards/test-points/batch",
                           files={"file": ("p.csv", csv, "text/csv")})
            form = c.post("/calculator/test-points", data={"v_crp": str(SECRET_VALUE),
                                                           "u_crp": "mg/L"})
    finally:
        for lg in loggers:
            lg.removeHandler(caplog.handler)
    assert (ok.status_code, bad.status_code, batch.status_code, form.status_code) == (
        200, 422, 200, 200)
    assert bad.json()["detail"][0]["loc"][-2:] == ["crp", "unit"]  # the client is told ...
    server_side = [r for r in caplog.records if r.name.split(".")[0] in _SERVER]
    text = "\n".join(r.getMessage() for r in server_side)  # ... the log is not
    assert "POST /api/v1/scorecards/test-points/score HTTP/1.1" in text  # access log is on
    assert str(SECRET_VALUE) not in text and "123.45" not in text
    assert "ZX81" not in text
