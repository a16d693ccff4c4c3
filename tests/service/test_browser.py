"""Acceptance: a clinician fills the calculator in a real browser (Debian's chromium, driven
by Playwright) and reads the same result as the library's own ``score_frame``."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from crsscore.scores.evaluate import score_frame
from crsscore.scores.scorecard import ScoreCard
from headless import CHROMIUM, CHROMIUM_ARGS, NEEDS_CHROMIUM

pytestmark = NEEDS_CHROMIUM


def test_calculator_in_browser_equals_score_frame(live_server: object, points_card: ScoreCard,
                                                  tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    url = live_server.url  # type: ignore[attr-defined]
    # Entered in units other than the card's: CRP mg/L (card mg/dL), platelets cells/uL,
    # MRD as a fraction.
    entered = {"crp": ("45", "mg/L"), "ferritin": ("1500", "ug/L"), "plt": ("60000", "cells/uL"),
               "mrd_baseline_pct": ("0.12", "fraction")}
    canonical = pd.DataFrame({"crp": [45.0], "ferritin": [1500.0], "plt": [60.0],
                              "costim": ["CD28"], "mrd_baseline_pct": [12.0]})
    expected = score_frame(points_card, canonical).iloc[0]

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1024, "height": 900})  # a tablet
            page.goto(f"{url}/")
            page.get_by_role("link", name="Test points score").click()
            expect(page.get_by_role("heading", level=1)).to_contain_text("Test points score")
            for name, (value, unit) in entered.items():
                label = points_card.variable(name).label
                page.get_by_label(label, exact=True).fill(value)
                page.get_by_label(f"Unit for {label}").select_option(unit)
            page.get_by_label("Costimulatory domain").select_option("CD28")
            page.get_by_role("button", name="Calculate").click()
            result = page.locator("#result")
            expect(result.get_by_test_id("total")).not_to_have_text("")
            expect(result.get_by_role("heading", name="Result")).to_be_visible()
            total = float(result.get_by_test_id("total").inner_text())
            prob = result.get_by_test_id("probability").inner_text()
            group = result.get_by_test_id("risk-group").inner_text()
            points = {v.name: float(result.get_by_test_id(f"points-{v.name}").inner_text())
                      for v in points_card.variables}
            assert page.url.endswith("/calculator/test-points")  # fetch, no page reload
            page.screenshot(path=str(tmp_path / "calculator.png"), full_page=True)
            shot = os.environ.get("CRSSCORE_SCREENSHOT")  # to look at the page by hand
            if shot:
                page.screenshot(path=shot, full_page=True)
                page.emulate_media(media="print")
                page.screenshot(path=shot.replace(".png", "-print.png"), full_page=True)
                page.emulate_media(media="screen")

            # keyboard only: a unit error is announced and the field marked invalid
            page.get_by_label("Platelets", exact=True).fill("60000")
            page.get_by_label("Unit for Platelets").select_option("10^9/L")
            page.get_by_role("button", name="Calculate").focus()
            page.keyboard.press("Enter")
            expect(result.get_by_role("alert")).to_contain_text("Platelets")
            expect(page.get_by_label("Platelets", exact=True)).to_have_attribute(
                "aria-invalid", "true")
        finally:
            browser.close()

    assert total == expected["total"] == 7
    assert prob == f"{100 * expected['probability']:.1f}%"
    assert group == expected["risk_group"]
    assert points == {v.name: expected[f"pts_{v.name}"] for v in points_card.variables}


def test_grading_form_in_browser_shows_deciding_criterion(live_server: object) -> None:
    from playwright.sync_api import expect, sync_playwright

    from crsscore.grading import (
        CrsDayInput,
        IcansDayInput,
        grade_crs_day,
        grade_icans_day,
    )

    url = live_server.url  # type: ignore[attr-defined]
    crs = grade_crs_day(CrsDayInput.model_validate({
        "temperature_max": 39.0, "hypotension": True,
        "vasopressors": [{"agent": "norepinephrine"}],
        "oxygen": [{"device": "nasal_cannula", "flow_l_min": 4}]}))
    icans = grade_icans_day(IcansDayInput.model_validate({"ice": 5, "consciousness": "voice"}))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 800, "height": 1000})
            page.goto(f"{url}/grading")
            page.get_by_label("Highest temperature").fill("102.2")
            page.get_by_label("Temperature unit").select_option("F")  # 39.0 C
            page.get_by_label("Needs vasopressors").check()
            page.get_by_label("Norepinephrine").check()
            page.get_by_label("Oxygen support").select_option("nasal_cannula")
            page.get_by_label("Oxygen flow").fill("4")
            page.get_by_label("ICE score").fill("5")
            page.get_by_label("Level of consciousness").select_option("voice")
            page.get_by_role("button", name="Grade").click()
            result = page.locator("#result")
            expect(result.get_by_test_id("crs-grade")).to_have_text(str(crs.grade))
            expect(result.get_by_test_id("crs-criterion")).to_contain_text(crs.criterion)
            expect(result.get_by_test_id("icans-grade")).to_have_text(str(icans.grade))
            expect(result.get_by_test_id("icans-criterion")).to_contain_text(icans.criterion)
            shot = os.environ.get("CRSSCORE_SCREENSHOT")
            if shot:
                page.screenshot(path=shot.replace(".png", "-grading.png"), full_page=True)
        finally:
            browser.close()
    assert (crs.grade, icans.grade) == (3, 2)


CSP_LISTENER = ("document.addEventListener('securitypolicyviolation', e => "
                "console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI))")


def test_pages_and_docs_run_under_the_csp(live_server: object) -> None:
    """Issue 15.9: with the Content-Security-Policy (no inline code, same origin only) the
    calculator, the grading form and Swagger UI (served from the package) still work, and
    the browser reports no violation."""
    from playwright.sync_api import expect, sync_playwright

    url = live_server.url  # type: ignore[attr-defined]
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page()
            page.add_init_script(CSP_LISTENER)
            page.on("console", lambda m: problems.append(m.text)
                    if "CSP violation" in m.text or "Refused" in m.text else None)
            page.on("request", lambda r: problems.append(f"other origin: {r.url}")
                    if not r.url.startswith(url) else None)
            for path in ("/", "/calculator/test-points", "/grading"):
                response = page.goto(f"{url}{path}")
                assert response is not None
                assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
            # app.js still runs: the form is sent with fetch and only the result replaced
            page.goto(f"{url}/calculator/test-easix")
            page.get_by_label("LDH", exact=True).fill("250")
            page.get_by_label("Creatinine", exact=True).fill("1")
            page.get_by_label("Platelets", exact=True).fill("100")
            page.get_by_role("button", name="Calculate").click()
            expect(page.locator("#result").get_by_test_id("total")).to_have_text("1.322")
            page.goto(f"{url}/docs")
            expect(page.locator(".opblock").first).to_be_visible(timeout=20_000)
            page.locator(".opblock-summary").first.click()
            expect(page.get_by_role("button", name="Try it out").first).to_be_visible()
        finally:
            browser.close()
    assert problems == []


@pytest.mark.parametrize("width", [390, 1280])
def test_no_horizontal_scroll_on_calculator_and_home(live_server: object, width: int) -> None:
    """Issue 14.10: a phone (390 px) and a desktop (1280 px) never scroll sideways, before or
    after a result is shown: the document is no wider than the viewport."""
    from playwright.sync_api import sync_playwright

    url = live_server.url  # type: ignore[attr-defined]
    width_js = ("() => Math.max(document.documentElement.scrollWidth, "
                "document.body.scrollWidth)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": width, "height": 800})
            page.goto(f"{url}/")
            assert page.evaluate(width_js) <= width, "home page"
            page.goto(f"{url}/calculator/test-points")
            assert page.evaluate(width_js) <= width, "calculator"
            page.get_by_role("button", name="Calculate").click()
            page.wait_for_timeout(300)
            wide = page.evaluate(
                "(w) => [...document.querySelectorAll('body *')].filter(e => "
                "e.getBoundingClientRect().right > w).map(e => e.tagName + '.' + e.className "
                "+ '#' + e.id + ' ' + Math.round(e.getBoundingClientRect().right))", width)
            assert page.evaluate(width_js) <= width, f"calculator with a result: {wide}"
            for card in ("m-easix", "car-hematotox"):  # unit pickers, long labels
                response = page.goto(f"{url}/calculator/{card}")
                if response is not None and response.ok:
                    assert page.evaluate(width_js) <= width, card
        finally:
            browser.close()
