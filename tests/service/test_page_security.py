"""Issue 15.9 and 15.11: security headers on every response, /docs from the package (no CDN),
no inline code in the pages (the CSP allows none), and HEAD on the pages."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from crsscore.service.middleware import CONTENT_SECURITY_POLICY


def _check_headers(r: object) -> None:
    h = r.headers  # type: ignore[attr-defined]
    assert h["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert h["x-content-type-options"] == "nosniff"
    assert h["x-frame-options"] == "DENY"
    assert h["referrer-policy"] == "no-referrer"


def test_csp_forbids_framing_and_inline_code() -> None:
    directives = dict(d.strip().split(" ", 1) for d in CONTENT_SECURITY_POLICY.split(";"))
    assert directives["frame-ancestors"] == "'none'"
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert "unsafe" not in CONTENT_SECURITY_POLICY and "*" not in CONTENT_SECURITY_POLICY


@pytest.mark.parametrize("path", ["/", "/calculator/test-points", "/grading", "/docs",
                                  "/calculator/nope", "/api/v1/health", "/openapi.json",
                                  "/static/app.js"])
def test_security_headers_on_every_response(client: TestClient, path: str) -> None:
    """Reproducer: the pages had no CSP, X-Content-Type-Options or X-Frame-Options."""
    _check_headers(client.get(path))


def test_security_headers_on_posts_fragments_and_refusals(client: TestClient) -> None:
    _check_headers(client.post("/calculator/test-points", data={"v_crp": "abc"},
                               headers={"X-Fragment": "1"}))
    _check_headers(client.post("/api/v1/scorecards/test-points/score", content=b"x" * 1_000_001,
                               headers={"content-type": "application/json"}))  # 413


@pytest.mark.parametrize("path", ["/", "/calculator/test-points", "/grading", "/docs"])
def test_pages_have_no_inline_script_or_style(client: TestClient, path: str) -> None:
    """Everything a page runs comes from /static on the same origin (the CSP allows no other)."""
    html = client.get(path).text
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.S)
    assert scripts
    for attrs, body in scripts:
        src = re.search(r'src="([^"]+)"', attrs)
        assert src is not None and body.strip() == "", attrs
        assert re.match(r"(http://testserver)?/static/", src.group(1)), src.group(1)
    assert "<style" not in html and " style=" not in html
    assert not re.search(r"\son[a-z]+=", html)  # no inline event handlers


def test_docs_served_from_the_package(client: TestClient) -> None:
    """Reproducer: /docs loaded swagger-ui from a CDN without an integrity check."""
    html = client.get("/docs").text
    assert "cdn." not in html and "https://" not in html
    assert 'data-openapi-url="/openapi.json"' in html
    for asset in re.findall(r'(?:src|href)="(?:http://testserver)?(/static/[^"]+)"', html):
        r = client.get(asset)
        assert r.status_code == 200 and len(r.content) > 100, asset
    assert client.get("/static/swagger-ui-LICENSE.txt").status_code == 200
    assert client.get("/openapi.json").json()["openapi"].startswith("3.1")


@pytest.mark.parametrize("path", ["/", "/calculator/test-points", "/grading", "/docs"])
def test_pages_answer_head(client: TestClient, path: str) -> None:
    """Reproducer: HEAD / returned 405."""
    r = client.head(path)
    assert r.status_code == 200 and r.content == b""
    assert r.headers["content-type"].startswith("text/html")


def test_head_on_a_page_over_http(live_server: object) -> None:
    import httpx

    r = httpx.head(live_server.url + "/")  # type: ignore[attr-defined]
    assert r.status_code == 200 and r.content == b""
    assert int(r.headers["content-length"]) > 0
