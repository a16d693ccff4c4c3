"""The browser calculator: server-rendered HTML (Jinja2) with a little JavaScript.

A form POST works without JavaScript (the whole page comes back); with JavaScript the form is
sent with ``fetch`` and only the result fragment is replaced, inside an ``aria-live`` region.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from crsscore.scores.scorecard import ScoreCard
from crsscore.service.dependencies import Card, Registry, templates
from crsscore.service.routers.scorecards import detail, summary
from crsscore.service.scoring import InputError, score_patient

router = APIRouter()

MAX_FIELD_CHARS = 64


def _is_fragment(request: Request) -> bool:
    return request.headers.get("x-fragment") == "1"


@router.get("/", response_class=HTMLResponse)
def index(request: Request, registry: Registry) -> Response:
    cards = [summary(c, registry.sources[k]) for k, c in registry.cards.items()]
    return templates.TemplateResponse(request, "index.html", {
        "cards": cards, "rejected": registry.rejected,
        "grading": request.app.state.grading})


@router.get("/calculator", response_class=HTMLResponse)
def choose(card: str = "") -> Response:
    return RedirectResponse(f"/calculator/{card}" if card else "/", status_code=303)


def _render(request: Request, card: ScoreCard, registry: Registry, *, form: dict[str, str],
            result: Any = None, errors: list[dict[str, Any]] | None = None,
            status: int = 200) -> Response:
    context = {
        "card": detail(card, registry.sources[card.id]),
        "cards": [summary(c, registry.sources[k]) for k, c in registry.cards.items()],
        "form": form, "result": result, "errors": errors or [],
        "field_errors": {e["variable"]: e for e in errors or []},
        "grading": request.app.state.grading,
    }
    name = "_result.html" if _is_fragment(request) else "calculator.html"
    return templates.TemplateResponse(request, name, context, status_code=status)


@router.get("/calculator/{card_id}", response_class=HTMLResponse)
def calculator(request: Request, card: Card, registry: Registry) -> Response:
    form = {f"u_{v.name}": v.unit or "" for v in card.variables}
    return _render(request, card, registry, form=form)


@router.post("/calculator/{card_id}", response_class=HTMLResponse)
async def calculate(request: Request, card: Card, registry: Registry) -> Response:
    raw = await request.form(max_files=0, max_fields=400)
    form = {k: v[:MAX_FIELD_CHARS] for k, v in raw.items() if isinstance(v, str)}
    values: dict[str, tuple[object, str | None]] = {}
    for var in card.variables:
        value = form.get(f"v_{var.name}", "").strip()
        if value:
            values[var.name] = (value, form.get(f"u_{var.name}") or None)
    try:
        result = score_patient(card, values,
                               after_tocilizumab=form.get("after_tocilizumab") == "1")
    except InputError as exc:
        labels = {v.name: v.label for v in card.variables}
        errors = [{"variable": p.variable, "label": labels.get(p.variable, p.variable),
                   "part": p.part, "message": p.message, "expected": p.expected}
                  for p in exc.problems]
        return _render(request, card, registry, form=form, errors=errors, status=422)
    return _render(request, card, registry, form=form, result=result)
