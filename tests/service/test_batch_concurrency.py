"""Issue 15.3: one /batch upload must not stall the service (parsing and scoring run in a
worker thread, not on the event loop)."""

from __future__ import annotations

import threading
import time

import pytest
from fastapi.testclient import TestClient

import crsscore.service.routers.calculate  # noqa: F401  (the module patched below)
from crsscore.service import routers
from crsscore.service.main import create_app
from service_cards import make_points_card

BATCH_CSV = ("id,crp [mg/dL],ferritin [ng/mL],plt [10^9/L],costim,mrd_baseline_pct [%]\n"
             "A1,4.5,1500,60,CD28,12\n")


def test_health_answers_while_a_batch_is_scored(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reproducer: during an 8 MB /batch, /health went from 11 ms to 2,488 ms, because the
    async route scored on the event loop.  Here the scoring blocks for up to 5 s (standing in
    for a large file); /health must answer meanwhile."""
    from crsscore.service.inputs import score_batch

    started, release = threading.Event(), threading.Event()

    def slow_score_batch(*args: object, **kwargs: object) -> object:
        started.set()
        release.wait(5.0)  # blocks whichever thread runs it, as CPU-bound scoring does
        return score_batch(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(routers.calculate, "score_batch", slow_score_batch)
    app = create_app(builtin=False, cards=[make_points_card()])
    with TestClient(app, raise_server_exceptions=False) as client:
        statuses: list[int] = []
        upload = threading.Thread(target=lambda: statuses.append(client.post(
            "/api/v1/scorecards/test-points/batch",
            files={"file": ("p.csv", BATCH_CSV, "text/csv")}).status_code))
        upload.start()
        try:
            assert started.wait(10.0), "the batch never reached the scoring"
            t0 = time.monotonic()
            health = client.get("/api/v1/health")
            waited = time.monotonic() - t0
            scoring_still_running = not release.is_set()
        finally:
            release.set()
            upload.join(15.0)
    assert health.status_code == 200 and scoring_still_running
    assert waited < 2.5, f"/health waited {waited:.1f} s for the batch"
    assert statuses == [200]
