"""The crsscore web service: REST API under ``/api/v1`` and the browser calculator.

``create_app`` only assembles the application: registry, middleware, error handlers and
routers (one per resource, see ``routers/``).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from crsscore import __version__
from crsscore.scores.scorecard import ScoreCard
from crsscore.service.dependencies import STATIC_DIR
from crsscore.service.grading_form import grading_available
from crsscore.service.inputs import InputError, InputProblem
from crsscore.service.middleware import (
    BodySizeLimitMiddleware,
    SafeErrorMiddleware,
    SecurityHeadersMiddleware,
)
from crsscore.service.registry import load_registry
from crsscore.service.routers import calculate, grading, health, pages, scorecards
from crsscore.service.routers.calculate import BatchInputError

API_PREFIX = "/api/v1"


def problem_loc(p: InputProblem, fmt: str | None) -> list[str | int]:
    """Where a problem is, as a path a client can follow."""
    if p.loc is not None:
        return list(p.loc)
    if p.part == "file" or (p.variable == "" and fmt is not None):
        return ["body", "file"]
    tail: list[str | int] = [p.variable] if p.part == "name" else [p.variable, p.part]
    if fmt is None:
        return ["body", "values", *tail]
    if fmt == "csv":
        row: list[str | int] = [] if p.row is None else [f"row {p.row + 2}"]
        return ["body", "file", *row, p.variable]
    row = [] if p.row is None else ["patients", p.row]
    return ["body", "file", *row, "values", *tail]


def _input_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InputError)
    fmt = exc.fmt if isinstance(exc, BatchInputError) else None
    return JSONResponse(status_code=422, content={"detail": [
        {"loc": problem_loc(p, fmt), "msg": p.message, "type": p.code, "expected": p.expected}
        for p in exc.problems]})


def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    detail = []
    for err in list(exc.errors())[:50]:
        ctx = err.get("ctx") or {}
        expected = ctx.get("expected")
        if expected is None:
            bounds = [f"{k.replace('_', ' ')} {v}" for k, v in ctx.items()
                      if k in ("gt", "ge", "lt", "le", "max_length", "min_length")]
            expected = ", ".join(bounds) or None
        detail.append({"loc": [x if isinstance(x, int) else str(x) for x in err.get("loc", [])],
                       "msg": str(err.get("msg", "invalid")), "type": str(err.get("type", "invalid")),
                       "expected": None if expected is None else str(expected)})
    return JSONResponse(status_code=422, content={"detail": detail})


def create_app(scorecard_dir: str | Path | None = None, *, builtin: bool = True,
               cards: Iterable[ScoreCard] = (),
               centre_units: dict[str, str] | None = None) -> FastAPI:
    """The application serving the built-in cards, ``cards`` and every ``*.json`` in
    ``scorecard_dir`` (invalid files are listed, not fatal).

    ``centre_units`` (analyte or patient column -> unit, from a centre's mapping file:
    :func:`crsscore.service.units.centre_units`) presets the calculator's unit pickers of
    published cards to the units the centre's laboratory reports."""
    app = FastAPI(
        title="crsscore",
        version=__version__,
        summary="Prognostic scores for severe CRS after anti-CD19 CAR-T in B-ALL",
        description="Score cards, single-patient and batch scoring with units, and ASTCT "
                    "grading. Not a medical device: results support, never replace, clinical "
                    "judgement.",
        # /docs is our own page (routers/pages.py): Swagger UI from the package, not a CDN
        docs_url=None, redoc_url=None,
        # a path with a trailing slash is not found, never redirected: an empty card id
        # (/api/v1/scorecards/) answers 404 as documented, not an undocumented 307
        redirect_slashes=False,
    )
    app.state.registry = load_registry(scorecard_dir, builtin=builtin, extra=cards)
    app.state.grading = grading_available()
    app.state.centre_units = dict(centre_units or {})
    app.add_middleware(BodySizeLimitMiddleware)
    app.add_middleware(SafeErrorMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)  # outermost: on 413s and 500s too
    app.add_exception_handler(InputError, _input_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.include_router(scorecards.router, prefix=f"{API_PREFIX}/scorecards", tags=["score cards"])
    app.include_router(calculate.router, prefix=f"{API_PREFIX}/scorecards", tags=["scoring"])
    if app.state.grading:
        app.include_router(grading.router, prefix=f"{API_PREFIX}/grading", tags=["grading"])
    app.include_router(health.router, prefix=API_PREFIX, tags=["service"])
    app.include_router(pages.router, include_in_schema=False)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    return app
