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

from crsscore.scores.scorecard import (
    Band,
    Category,
    ProbabilityMap,
    Provenance,
    RiskGroup,
    ScoreCard,
    Variable,
)
from crsscore.service.main import create_app


def make_points_card() -> ScoreCard:
    """A small points card with every variable kind, a logistic map and risk groups.

    Synthetic: it exists for the tests, and is labelled so.
    """
    return ScoreCard(
        id="test-points", name="Test points score", version="2",
        outcome="severe CRS (ASTCT grade >= 3)", population="test", landmark="day0",
        variables=[
            Variable(name="crp", label="CRP", unit="mg/dL", unit_kind="crp", bands=[
                Band(upper=3.0, points=0, label="< 3"),
                Band(lower=3.0, upper=10.0, points=1, label="3-10"),
                Band(lower=10.0, points=3, label=">= 10")],
                training_range=(0.1, 30.0)),
            Variable(name="ferritin", label="Ferritin", unit="ng/mL", unit_kind="ferritin",
                     transform="log10", bands=[
                         Band(upper=3.0, points=0), Band(lower=3.0, points=2)]),
            Variable(name="plt", label="Platelets", unit="10^9/L", unit_kind="plt", bands=[
                Band(lower=75.0, points=0), Band(upper=75.0, points=1)],
                plausible_range=(0.0, 1500.0)),
            Variable(name="costim", label="Costimulatory domain", kind="categorical",
                     source="patient", categories=[Category(value="CD28", points=1),
                                                   Category(value="4-1BB", points=0)]),
            Variable(name="mrd_baseline_pct", label="Baseline MRD", kind="binary",
                     source="patient", unit="%", unit_kind="mrd", threshold=5.0,
                     threshold_points=2, missing="zero"),
        ],
        probability=ProbabilityMap(kind="logistic", intercept=-3.0, slope=0.6),
        risk_groups=[RiskGroup(name="low", max_total=2), RiskGroup(name="high", min_total=3)],
        provenance=Provenance(synthetic_data=True, method="test", verification="derived_locally"),
    )


def make_product_card() -> ScoreCard:
    """EASIX written as data (LDH x creatinine / platelets, log2)."""
    return ScoreCard(
        id="test-easix", name="Test log2 EASIX", kind="product", product_transform="log2",
        variables=[
            Variable(name="ldh", label="LDH", kind="linear", unit="U/L", unit_kind="ldh",
                     exponent=1.0),
            Variable(name="creatinine", label="Creatinine", kind="linear", unit="mg/dL",
                     unit_kind="creatinine", exponent=1.0),
            Variable(name="plt", label="Platelets", kind="linear", unit="10^9/L",
                     unit_kind="plt", exponent=-1.0),
        ],
        risk_groups=[RiskGroup(name="low", max_total=2.0), RiskGroup(name="high", min_total=2.0)],
        provenance=Provenance(verification="secondary_sources", citation="test"),
    )


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


@pytest.fixture(scope="module")
def live_server(app: FastAPI) -> Iterator[LiveServer]:
    with restored_logging(), LiveServer(app) as server:
        yield server
