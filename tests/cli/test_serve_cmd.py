"""``crsscore serve``: binds loopback by default, loads a score card folder, logs safely."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

import live_server as live
from crsscore.cli import _COMMAND_MODULES, serve_cmd
from crsscore.scores.scorecard import ScoreCard
from service_cards import make_points_card


@pytest.fixture
def points_card() -> ScoreCard:
    return make_points_card()


@pytest.fixture
def keep_logging() -> Iterator[None]:
    """``serve`` applies the service's logging config; undo it for the other tests."""
    with live.restored_logging(live.SERVICE_LOGGERS):
        yield


def test_registered() -> None:
    assert "crsscore.cli.serve_cmd" in _COMMAND_MODULES


def test_serve_builds_app_and_loopback_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                              points_card: ScoreCard,
                                              capsys: pytest.CaptureFixture[str],
                                              keep_logging: None) -> None:
    points_card.to_json(tmp_path / "mine.json")
    (tmp_path / "bad.json").write_text("[]", encoding="utf-8")
    seen: dict[str, Any] = {}

    def fake_run(self: uvicorn.Server, sockets: object = None) -> None:
        seen["config"] = self.config

    monkeypatch.setattr(uvicorn.Server, "run", fake_run)
    serve_cmd.serve(host="127.0.0.1", port=8765, scorecards=tmp_path)
    config = seen["config"]
    assert (config.host, config.port) == ("127.0.0.1", 8765)
    assert config.access_log and not config.server_header
    filters = config.log_config["loggers"]["uvicorn.access"]["filters"]
    assert filters == ["drop_query"]
    app = config.app
    assert "test-points" in app.state.registry.cards
    assert [Path(r.source).name for r in app.state.registry.rejected] == ["bad.json"]
    err = capsys.readouterr().err
    assert "bad.json" in err  # invalid cards reported at start-up, not fatal


def test_defaults_bind_loopback() -> None:
    import inspect

    params = inspect.signature(serve_cmd.serve).parameters
    assert params["host"].default.default == "127.0.0.1"
    assert params["port"].default.default == 8000


def test_serve_mapping_presets_centre_units(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                            keep_logging: None) -> None:
    """Issue 14.10: ``serve --mapping`` carries the centre's units to the calculator."""
    seen: dict[str, Any] = {}

    def fake_run(self: uvicorn.Server, sockets: object = None) -> None:
        seen["config"] = self.config

    monkeypatch.setattr(uvicorn.Server, "run", fake_run)
    mapping = tmp_path / "centre.toml"
    mapping.write_text('[observations.units]\ncrp = "mg/L"\n', encoding="utf-8")
    serve_cmd.serve(host="127.0.0.1", port=8766, scorecards=None, mapping=mapping)
    assert seen["config"].app.state.centre_units == {"crp": "mg/L"}
