"""Score cards built for the service tests, the app, a client and a live uvicorn server."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import live_server as live
from crsscore.scores.scorecard import ScoreCard
from crsscore.service.main import create_app
from service_cards import make_points_card, make_product_card


@pytest.fixture(scope="session")
def points_card() -> ScoreCard:
    return make_points_card()


@pytest.fixture(scope="session")
def product_card() -> ScoreCard:
    return make_product_card()


@pytest.fixture(scope="module")
def app() -> FastAPI:
    return create_app(builtin=False, cards=[make_points_card(), make_product_card()])


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


class LiveServer(live.LiveServer):
    """uvicorn in a thread on a free loopback port, configured as ``crsscore serve`` does."""

    def config(self, fastapi_app: Any, port: int) -> Any:
        from crsscore.cli.serve_cmd import uvicorn_config

        return uvicorn_config(fastapi_app, port=port)


def restored_logging() -> contextlib.AbstractContextManager[None]:
    """uvicorn applies the service's logging config; undo it for the other tests."""
    return live.restored_logging(live.SERVICE_LOGGERS)


@pytest.fixture
def keep_logging() -> Iterator[None]:
    with restored_logging():
        yield


@pytest.fixture(scope="module")
def live_server(app: FastAPI) -> Iterator[LiveServer]:
    with restored_logging(), LiveServer(app) as server:
        yield server
