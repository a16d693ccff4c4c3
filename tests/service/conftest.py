"""Score cards built for the service tests, the app, a client and a live uvicorn server."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from service_cards import make_points_card, make_product_card

from crsscore.scores.scorecard import ScoreCard
from crsscore.service.main import create_app


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


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """uvicorn in a thread on a free loopback port, configured as ``crsscore serve`` does."""

    def __init__(self, fastapi_app: Any) -> None:
        import uvicorn

        from crsscore.cli.serve_cmd import uvicorn_config

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn_config(fastapi_app, port=self.port))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


_SERVICE_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "crsscore.service")


@contextlib.contextmanager
def restored_logging() -> Iterator[None]:
    """uvicorn applies the service's logging config; undo it for the other tests."""
    saved = {}
    for name in _SERVICE_LOGGERS:
        lg = logging.getLogger(name)
        saved[name] = (list(lg.handlers), list(lg.filters), lg.level, lg.propagate)
    try:
        yield
    finally:
        for name, (handlers, filters, level, propagate) in saved.items():
            lg = logging.getLogger(name)
            lg.handlers[:] = handlers
            lg.filters[:] = filters
            lg.setLevel(level)
            lg.propagate = propagate


@pytest.fixture
def keep_logging() -> Iterator[None]:
    with restored_logging():
        yield


@pytest.fixture(scope="module")
def live_server(app: FastAPI) -> Iterator[LiveServer]:
    with restored_logging(), LiveServer(app) as server:
        yield server
