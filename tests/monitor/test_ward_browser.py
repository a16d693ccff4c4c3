"""Acceptance in a real browser (Debian's chromium, Playwright): log in, the ward lists the
simulated patients, an alert appears after a rising IL-6/CRP day is posted and leaves the
open list once acknowledged; screenshots at 390 px and 1280 px are kept as test artefacts
(``out/test-artifacts/monitor/``, or ``$CRSSCORE_TEST_ARTIFACTS/monitor``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from monitor_support import LiveServer, Ward, artifacts_dir, restored_logging

from headless import CHROMIUM, CHROMIUM_ARGS, NEEDS_CHROMIUM

pytestmark = NEEDS_CHROMIUM

NEW = {"patient_id": "NEW01", "infusion_date": "2024-05-01", "costim": "CD28",
       "mrd_baseline_pct": 8.0, "mrd_post_ld_pct": 3.0, "marrow_blasts_pct": 10.0,
       "dose_cells_per_kg": 1.0e6, "age_years": 24, "sex": "F"}


def quiet_days() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    obs, ev = [], []
    for d in range(3):
        obs += [{"day": d + 0.3, "analyte": "il6", "value": 8.0, "unit": "pg/mL"},
                {"day": d + 0.3, "analyte": "crp", "value": 4.0, "unit": "mg/L"},
                {"day": d + 0.3, "analyte": "ferritin", "value": 400.0, "unit": "ng/mL"},
                {"day": d + 0.4, "analyte": "temp", "value": 36.9, "unit": "C"}]
        ev.append({"day": d + 0.4, "event": "oxygen", "detail": "room_air"})
    return obs, ev


RISING_OBS = [{"day": 3.3, "analyte": "il6", "value": 4000.0, "unit": "pg/mL"},
              {"day": 3.3, "analyte": "crp", "value": 22.0, "unit": "mg/dL"},
              {"day": 3.3, "analyte": "ferritin", "value": 9000.0, "unit": "ng/mL"},
              {"day": 3.4, "analyte": "temp", "value": 39.6, "unit": "C"}]
RISING_EV = [{"day": 3.4, "event": "oxygen", "detail": "room_air"}]


def post_quiet(w: Any, post: Any) -> None:
    obs, ev = quiet_days()
    assert post("/api/v1/patients", {"patients": [NEW]}).status_code == 200
    assert post("/api/v1/patients/NEW01/observations", {"observations": obs}).status_code == 200
    assert post("/api/v1/patients/NEW01/events", {"events": ev}).status_code == 200


def threshold_between(dyn_card: Any, tmp_path: Path) -> float:
    """A ward threshold the rising day crosses and the quiet days do not (by a rehearsal)."""
    from crsscore.monitor.risk import DynamicCardRisk

    w = Ward(f"sqlite:///{tmp_path / 'rehearsal.db'}", DynamicCardRisk(dyn_card, 0.99))
    try:
        post_quiet(w, w.post)
        h = max(dyn_card.horizons)
        quiet = [r["risk"] for r in w.client.get("/api/v1/patients/NEW01", headers=w.headers)
                 .json()["risks"] if r["horizon"] == h]
        w.post("/api/v1/patients/NEW01/observations", {"observations": RISING_OBS})
        w.post("/api/v1/patients/NEW01/events", {"events": RISING_EV})
        after = {r["day"]: r["risk"] for r in w.client.get(
            "/api/v1/patients/NEW01", headers=w.headers).json()["risks"] if r["horizon"] == h}
    finally:
        w.close()
    assert after[3] > max(quiet), "a rising IL-6/CRP day raises the risk"
    return float((after[3] + max(quiet)) / 2)


def test_ward_in_browser(tmp_path: Path, sim_dir: Path, dyn_card: Any) -> None:
    import httpx
    from playwright.sync_api import expect, sync_playwright

    from crsscore.data.check import validate_tables
    from crsscore.data.tables import read_cohort_tables
    from crsscore.monitor.risk import DynamicCardRisk

    thr = threshold_between(dyn_card, tmp_path)
    w = Ward(f"sqlite:///{tmp_path / 'ward.db'}", DynamicCardRisk(dyn_card, thr))
    loaded = read_cohort_tables(sim_dir)
    validate_tables(loaded)
    w.monitor.ingest_loaded(loaded, actor="test", action="import")
    post_quiet(w, w.post)
    shots = artifacts_dir()
    csp_errors: list[str] = []
    try:
        with restored_logging(), LiveServer(w.app) as server, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.on("console", lambda m: csp_errors.append(m.text)
                        if "Content Security Policy" in m.text else None)
                page.goto(f"{server.url}/ward")
                expect(page.get_by_role("heading", name="Log in")).to_be_visible()
                page.get_by_label("API token").fill(w.token)
                page.get_by_role("button", name="Log in").click()
                expect(page.get_by_role("heading", name="Ward", exact=True)).to_be_visible()
                table = page.get_by_test_id("ward-table")
                expect(table.locator("tbody tr")).to_have_count(126)
                expect(table).to_contain_text("SIM0001")
                alerts = page.locator(".alert-list li", has_text="NEW01")
                expect(alerts).to_have_count(0)

                with httpx.Client(base_url=server.url, headers=w.headers) as api:
                    r = api.post("/api/v1/patients/NEW01/observations",
                                 json={"observations": RISING_OBS})
                    assert r.status_code == 200, r.text
                    r = api.post("/api/v1/patients/NEW01/events", json={"events": RISING_EV})
                    assert r.status_code == 200, r.text
                page.reload()
                expect(alerts.first).to_be_visible()
                expect(alerts.first).to_contain_text("crossed")
                page.screenshot(path=str(shots / "ward-1280.png"), full_page=False)
                page.set_viewport_size({"width": 390, "height": 844})
                page.reload()
                width = page.evaluate("document.documentElement.scrollWidth")
                assert width <= 390, f"the ward page scrolls sideways at 390 px ({width})"
                page.screenshot(path=str(shots / "ward-390.png"), full_page=False)

                page.goto(f"{server.url}/ward/patients/NEW01")
                expect(page.get_by_role("heading", name="Patient NEW01")).to_be_visible()
                expect(page.locator("svg.chart").first).to_be_visible()
                assert page.evaluate("document.documentElement.scrollWidth") <= 390
                page.screenshot(path=str(shots / "patient-390.png"), full_page=True)
                page.set_viewport_size({"width": 1280, "height": 900})
                page.reload()
                page.screenshot(path=str(shots / "patient-1280.png"), full_page=True)

                page.goto(f"{server.url}/ward")
                n_open = alerts.count()
                alerts.first.get_by_role("button", name="Acknowledge").click()
                expect(page.get_by_role("heading", name="Ward", exact=True)).to_be_visible()
                expect(alerts).to_have_count(n_open - 1)
                while alerts.count():
                    alerts.first.get_by_role("button", name="Acknowledge").click()
                    page.wait_for_load_state()
                expect(alerts).to_have_count(0)
                page.screenshot(path=str(shots / "ward-after-ack-1280.png"), full_page=False)
            finally:
                browser.close()
    finally:
        w.close()
    assert not csp_errors, csp_errors
    for name in ("ward-1280.png", "ward-390.png", "patient-390.png", "patient-1280.png"):
        assert (shots / name).stat().st_size > 5000
