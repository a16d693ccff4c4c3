"""Issue 15.4: score-card ids cannot break /batch: ids are safe slugs (checked when a card is
loaded) and the download name is encoded per RFC 6266."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest
from fastapi.testclient import TestClient

from crsscore.service.main import create_app
from crsscore.service.registry import card_id_problem
from crsscore.service.routers.calculate import content_disposition
from service_cards import make_points_card, make_product_card

BATCH_CSV = ("id,crp [mg/dL],ferritin [ng/mL],plt [10^9/L],costim,mrd_baseline_pct [%]\n"
             "A1,4.5,1500,60,CD28,12\n")


BAD_IDS = ["score-\u20ac", "\u8bc4\u5206", "crs\r\nINFO access: forged line", 'x"y', "a b",
           "../etc", "=HYPERLINK(1)", "-leading-dash", "x" * 101, ""]


@pytest.mark.parametrize("card_id", BAD_IDS)
def test_unsafe_card_id_is_refused_at_load_naming_the_file(tmp_path: Path, card_id: str) -> None:
    """Reproducer: a --scorecards card whose id holds a non-Latin-1 character gave HTTP 500 on
    /batch, CR/LF gave no response and a forged log line, '"' a malformed filename=."""
    path = tmp_path / "card.json"
    path.write_text(make_points_card().model_copy(update={"id": card_id}).model_dump_json())
    app = create_app(tmp_path, builtin=False)
    reg = app.state.registry
    assert card_id not in reg.cards
    [rejected] = reg.rejected
    assert rejected.source == str(path)
    assert "is not allowed" in rejected.error and "letters" in rejected.error
    assert "\r" not in rejected.error and "\n" not in rejected.error


def test_unsafe_card_id_given_in_code_is_refused_too() -> None:
    app = create_app(builtin=False, cards=[
        make_points_card().model_copy(update={"id": "score-\u20ac"}), make_product_card()])
    assert list(app.state.registry.cards) == ["test-easix"]
    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.post("/api/v1/scorecards/score-%E2%82%AC/batch",
                        files={"file": ("p.csv", BATCH_CSV, "text/csv")})
    assert r.status_code == 404


@pytest.mark.parametrize("card_id", ["m-easix", "car-hematotox", "easix-preld-4.67",
                                     "my_centre.v2", "A1"])
def test_slug_ids_are_accepted(card_id: str) -> None:
    assert card_id_problem(card_id) is None


@pytest.mark.parametrize("name", ["score-\u20ac-scores.csv", 'x"y.csv', "a\r\nSet-Cookie: x",
                                  "back\\slash.csv", "plain-scores.csv"])
def test_content_disposition_is_rfc6266(name: str) -> None:
    value = content_disposition(name)
    value.encode("latin-1")  # a valid header value (no UnicodeEncodeError -> no HTTP 500)
    assert "\r" not in value and "\n" not in value
    m = re.fullmatch(r'attachment; filename="([^"\\]*)"; filename\*=UTF-8\'\'(\S+)', value)
    assert m is not None, value
    assert m.group(1).isascii() and len(m.group(1)) == len(name)
    assert unquote(m.group(2), encoding="utf-8", errors="strict") == name


def test_batch_download_names_the_file_both_ways(client: TestClient) -> None:
    r = client.post("/api/v1/scorecards/test-points/batch",
                    files={"file": ("p.csv", BATCH_CSV, "text/csv")})
    assert r.status_code == 200
    assert r.headers["content-disposition"] == (
        "attachment; filename=\"test-points-scores.csv\"; "
        "filename*=UTF-8''test-points-scores.csv")
