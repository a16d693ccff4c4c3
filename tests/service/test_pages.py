"""Server-rendered calculator pages: labels, accessibility hooks, errors, fragments."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def test_index_lists_cards_with_provenance_badges(client: TestClient) -> None:
    html = client.get("/").text
    assert 'href="/calculator/test-points"' in html and 'href="/calculator/test-easix"' in html
    assert "badge-synthetic" in html and ">Synthetic<" in html
    assert ">Published<" in html


def test_calculator_form_is_labelled(client: TestClient) -> None:
    r = client.get("/calculator/test-points")
    assert r.status_code == 200
    html = r.text
    # every input and select has a label pointing at it
    ids = re.findall(r'<(?:input|select)[^>]*\sid="([^"]+)"', html)
    labels = set(re.findall(r'<label[^>]*for="([^"]+)"', html))
    assert ids and set(ids) <= labels
    assert 'aria-live="polite"' in html and 'href="#main"' in html
    # the unit selector offers every accepted unit, the card's unit selected
    crp_units = re.search(r'<select id="u-crp".*?</select>', html, re.S)
    assert crp_units is not None
    assert re.findall(r'<option value="([^"]+)"', crp_units.group(0)) == ["mg/L", "mg/dL", "ug/mL"]
    assert '<option value="mg/dL" selected>' in crp_units.group(0)
    assert "Values measured after tocilizumab" in html
    assert "Derived from synthetic" in html


def test_form_post_shows_breakdown(client: TestClient) -> None:
    form = {"v_crp": "45", "u_crp": "mg/L", "v_ferritin": "1500", "u_ferritin": "ng/mL",
            "v_plt": "60", "u_plt": "10^9/L", "v_costim": "CD28", "v_mrd_baseline_pct": "12",
            "u_mrd_baseline_pct": "%"}
    html = client.post("/calculator/test-points", data=form).text
    assert re.search(r'data-testid="total">7<', html)
    assert re.search(r'data-testid="risk-group">high<', html)
    assert re.search(r'data-testid="points-ferritin">2<', html)
    assert 'value="45"' in html  # the form keeps what was entered


def test_fragment_with_errors_for_fetch(client: TestClient) -> None:
    r = client.post("/calculator/test-points", data={"v_crp": "abc", "u_crp": "mg/L",
                                                     "v_plt": "9", "u_plt": "furlong"},
                    headers={"X-Fragment": "1"})
    assert r.status_code == 422
    assert "<html" not in r.text and 'role="alert"' in r.text
    assert 'data-errors="crp plt"' in r.text
    assert 'href="#v-plt"' in r.text and "expected one of ×10⁹/L" in r.text


def test_missing_values_warn_in_page(client: TestClient) -> None:
    html = client.post("/calculator/test-points", data={"v_crp": "4", "u_crp": "mg/dL"}).text
    assert "missing; the total cannot be computed" in html
    assert re.search(r'data-testid="total">—<', html)


def test_unknown_card_page_404_and_chooser_redirect(client: TestClient) -> None:
    assert client.get("/calculator/nope").status_code == 404
    r = client.get("/calculator", params={"card": "test-easix"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/calculator/test-easix"


def test_static_assets(client: TestClient) -> None:
    css = client.get("/static/style.css")
    assert css.status_code == 200 and "@media print" in css.text
    assert client.get("/static/app.js").status_code == 200


FIELDS = ["v_crp", "u_crp", "v_plt", "u_plt", "v_costim", "v_ferritin", "u_ferritin",
          "after_tocilizumab", "v_mrd_baseline_pct", "u_mrd_baseline_pct", "junk"]
GRADING_FIELDS = ["temperature_max", "temperature_unit", "hypotension", "vasopressors",
                  "oxygen_device", "oxygen_flow", "ice", "capd", "age_years", "consciousness",
                  "seizure", "cerebral_edema", "motor_weakness", "treated"]


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.dictionaries(st.sampled_from(FIELDS + GRADING_FIELDS),
                       st.one_of(st.text(max_size=12), st.sampled_from(
                           ["45", "mg/L", "1e999", "-1", "CD28", "nan", "1,5", "F", "C",
                            "vasopressors", "nasal_cannula", "voice", "11", "3.5"])),
                       max_size=10), st.booleans())
def test_fuzz_forms_never_500(client: TestClient, form: dict[str, str], fragment: bool) -> None:
    headers = {"X-Fragment": "1"} if fragment else {}
    for path in ("/calculator/test-points", "/calculator/test-easix", "/grading"):
        r = client.post(path, data=form, headers=headers)
        assert r.status_code in (200, 422), (path, r.status_code)
        assert r.headers["content-type"].startswith("text/html")


def test_calculator_shows_the_derivation_cohort_and_its_sample_size_verdict() -> None:
    """A derived card carries n, events, its validated AUC and the sample-size verdict."""
    from crsscore.scores.scorecard import Performance, SampleSizeVerdict
    from crsscore.service.main import create_app
    from service_cards import make_points_card

    card = make_points_card().model_copy(update={
        "id": "small-card",
        "performance": Performance(n=51, events=8, auc_apparent=0.81,
                                   auc_optimism_corrected=0.71, bootstrap_B=200),
        "sample_size": SampleSizeVerdict(ok=False, message="8 event(s) among 51 patients: too few",
                                         n=51, events=8, n_parameters=4, override=True)})
    with TestClient(create_app(builtin=False, cards=[card])) as c:
        html = c.get("/calculator/small-card").text
        detail = c.get("/api/v1/scorecards/small-card").json()["derivation"]
    assert re.search(r'id="derived-on">51 patients, 8 with the outcome<', html)
    assert "0.710 optimism-corrected (bootstrap, B = 200); 0.810 apparent" in html
    assert re.search(r'id="sample-size" class="warn">Below crsscore.s floor, written only on '
                     r'request: 8 event\(s\) among 51 patients: too few<', html)
    assert detail["sample_size_override"] is True and detail["n"] == 51


def test_published_cards_show_no_derivation_block(client: TestClient) -> None:
    html = client.get("/calculator/test-easix").text
    assert 'id="derived-on"' not in html and 'id="sample-size"' not in html


def test_help_texts_have_no_float_noise() -> None:
    """Issue 14.10: "Derived on 0.001 to 99.79999999999997 %" -> a few significant digits."""
    from crsscore.service.dependencies import significant
    from crsscore.service.main import create_app
    from service_cards import make_points_card

    assert [significant(x) for x in (99.79999999999997, 0.001, 12345.6, 4.67, 0.0)] == [
        "99.8", "0.001", "12346", "4.67", "0"]
    card = make_points_card()
    variables = [v.model_copy(update={"training_range": (0.001, 99.79999999999997)})
                 if v.name == "mrd_baseline_pct" else v for v in card.variables]
    card = card.model_copy(update={"id": "noisy", "variables": variables})
    with TestClient(create_app(builtin=False, cards=[card])) as c:
        html = c.get("/calculator/noisy").text
    assert "Derived on 0.001 to 99.8 %" in html and "99.7999" not in html


def test_a_result_the_page_calls_not_valid_is_greyed_with_the_reason_first(client: TestClient) -> None:
    form = {"v_crp": "45", "u_crp": "mg/L", "v_ferritin": "1500", "u_ferritin": "ng/mL",
            "v_plt": "60", "u_plt": "10^9/L", "v_costim": "CD28", "v_mrd_baseline_pct": "12",
            "u_mrd_baseline_pct": "%", "after_tocilizumab": "1"}
    html = client.post("/calculator/test-points", data=form).text
    assert "Result: not valid" in html
    reason = html.index('data-testid="not-valid"')
    assert "the score is not valid" in html[reason:html.index('class="headline')]
    assert reason < html.index('data-testid="probability"')  # the reason before the numbers
    assert 'class="headline invalid"' in html
    assert "risk-invalid" in html and "risk-high" not in html  # no red risk group
    # without the flag: a normal, coloured result
    del form["after_tocilizumab"]
    html = client.post("/calculator/test-points", data=form).text
    assert "not-valid" not in html and "risk-high" in html


def test_unit_pickers_default_to_the_training_data_or_the_centres_unit(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Published m-EASIX: its CRP in mg/dL (its publication) unless the service runs with the
    centre's mapping (mg/L); a derived card: the unit it was derived in."""
    from crsscore.scores.builtin import get_builtin
    from crsscore.service.main import create_app
    from crsscore.service.routers.pages import centre_units
    from service_cards import make_points_card

    def selected(html: str, name: str) -> str:
        block = re.search(rf'<select id="u-{name}".*?</select>', html, re.S)
        assert block is not None
        found = re.search(r'<option value="([^"]+)" selected>', block.group(0))
        assert found is not None
        return found.group(1)

    derived = make_points_card().model_copy(update={"id": "derived-here"})
    with TestClient(create_app(builtin=False, cards=[get_builtin("m-easix"), derived])) as c:
        html = c.get("/calculator/m-easix").text
        assert selected(html, "crp") == "mg/dL"
        assert "preselected: the unit of the published score" in html
        assert "preselected: the unit the score was derived in" in c.get("/calculator/derived-here").text
    mapping = tmp_path / "centre.toml"
    mapping.write_text('[observations.units]\ncrp = "mg/l"\nldh = "U/L"\n', encoding="utf-8")
    units = centre_units(mapping)
    assert units["crp"] == "mg/l"
    with TestClient(create_app(builtin=False, cards=[get_builtin("m-easix"), derived],
                               centre_units=units)) as c:
        html = c.get("/calculator/m-easix").text
        assert selected(html, "crp") == "mg/L"
        assert "preselected: the unit of your centre" in html
        # a derived card keeps the unit it was derived in
        card_unit = next(v.unit for v in derived.variables if v.name == "crp")
        assert selected(c.get("/calculator/derived-here").text, "crp") == card_unit
        # the result shows the unit beside the entered number and the score's unit
        r = c.post("/calculator/m-easix", data={"v_ldh": "300", "u_ldh": "U/L", "v_crp": "50",
                                                "u_crp": "mg/L", "v_plt": "100",
                                                "u_plt": "10^9/L"}).text
        assert re.search(r"<td>50 mg/L</td>\s*<td>5 mg/dL</td>", r)
