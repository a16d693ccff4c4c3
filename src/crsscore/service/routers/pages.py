"""The browser calculator: server-rendered HTML (Jinja2) with a little JavaScript.

A form POST works without JavaScript (the whole page comes back); with JavaScript the form is
sent with ``fetch`` and only the result fragment is replaced, inside an ``aria-live`` region.
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from crsscore.scores.scorecard import ScoreCard
from crsscore.service.dependencies import Card, Registry, templates
from crsscore.service.grading_form import grade_day
from crsscore.service.inputs import InputError, score_patient
from crsscore.service.routers.scorecards import detail, summary
from crsscore.service.schemas import GradeRequest

router = APIRouter()

MAX_FIELD_CHARS = 64
#: Warnings that make the result not valid (shown greyed, with the reason first).
INVALID_CODES = ("after_tocilizumab", "not_finite")
#: Pages answer HEAD as well as GET (link checkers, monitors; uvicorn sends no body).
PAGE_METHODS = ["GET", "HEAD"]


def _is_fragment(request: Request) -> bool:
    return request.headers.get("x-fragment") == "1"


@router.api_route("/", methods=PAGE_METHODS, response_class=HTMLResponse)
def index(request: Request, registry: Registry) -> Response:
    cards = [summary(c, registry.sources[k]) for k, c in registry.cards.items()]
    return templates.TemplateResponse(request, "index.html", {
        "cards": cards, "rejected": registry.rejected,
        "grading": request.app.state.grading})


@router.api_route("/docs", methods=PAGE_METHODS, response_class=HTMLResponse)
def api_docs(request: Request) -> Response:
    """Swagger UI for ``/openapi.json``, its script and styles served from the package."""
    openapi_url = request.scope.get("root_path", "") + (request.app.openapi_url or "")
    return templates.TemplateResponse(request, "docs.html", {
        "title": request.app.title, "openapi_url": openapi_url})


@router.api_route("/calculator", methods=PAGE_METHODS, response_class=HTMLResponse)
def choose(card: str = "") -> Response:
    target = f"/calculator/{quote(card[:100], safe='')}" if card else "/"
    return RedirectResponse(target, status_code=303)


def _render(request: Request, card: ScoreCard, registry: Registry, *, form: dict[str, str],
            result: Any = None, errors: list[dict[str, Any]] | None = None,
            status: int = 200) -> Response:
    units = default_units(card, getattr(request.app.state, "centre_units", None))
    context = {
        "unit_why": {k: why for k, (_u, why) in units.items()},
        "invalid_codes": INVALID_CODES,
        "card": detail(card, registry.sources[card.id]),
        "cards": [summary(c, registry.sources[k]) for k, c in registry.cards.items()],
        "form": form, "result": result, "errors": errors or [],
        "field_errors": {e["variable"]: e for e in errors or []},
        "grading": request.app.state.grading,
    }
    name = "_result.html" if _is_fragment(request) else "calculator.html"
    return templates.TemplateResponse(request, name, context, status_code=status)


def centre_units(mapping: Any) -> dict[str, str]:
    """Analyte (or patient column) -> unit a centre's mapping file says its data use."""
    from crsscore.data.mapping import as_mapping

    m = as_mapping(mapping)
    if m is None:
        return {}
    out: dict[str, str] = {}
    if m.patients is not None:
        out.update(getattr(m.patients, "units", {}) or {})
    if m.observations is not None:
        out.update(m.observations.units)
    return out


def default_units(card: ScoreCard, centre: dict[str, str] | None = None) -> dict[str, tuple[str, str]]:
    """Each numeric variable's preselected unit, and why: the unit of the card's training data
    (a derived card: crsscore's canonical unit, in which it was derived; a published card: the
    card's own unit), or, for a published card, the centre's unit when the service was started
    with the centre's mapping (``crsscore serve --mapping``)."""
    from crsscore.service.inputs import accepted_units
    from crsscore.units import normalise_unit

    derived = card.provenance.verification in ("derived_locally", "refit")
    out: dict[str, tuple[str, str]] = {}
    for v in card.variables:
        if not v.unit:
            continue
        accepted = accepted_units(v)
        # a card carries its variables in the unit of its training data (crsscore derive
        # writes the canonical unit; a published card the unit of its publication)
        unit, why = v.unit, ("the unit the score was derived in" if derived
                             else "the unit of the published score")
        if not derived and centre:
            code = v.unit_kind or v.analyte_code
            raw = centre.get(code) or centre.get(v.name)
            if raw is not None and normalise_unit(raw) in accepted:
                unit, why = normalise_unit(raw), "the unit of your centre's data (its mapping file)"
        out[v.name] = (unit, why)
    return out


@router.api_route("/calculator/{card_id}", methods=PAGE_METHODS, response_class=HTMLResponse)
def calculator(request: Request, card: Card, registry: Registry) -> Response:
    units = default_units(card, getattr(request.app.state, "centre_units", None))
    form = {f"u_{v.name}": units.get(v.name, (v.unit or "", ""))[0] for v in card.variables}
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


# --- ASTCT grading form -----------------------------------------------------------------------
GRADING_NUMBERS = {"temperature_max": "crs", "oxygen_flow": "crs", "ice": "icans",
                   "capd": "icans", "age_years": "icans"}
GRADING_LABELS = {"temperature_max": "Highest temperature", "oxygen_flow": "Oxygen flow",
                  "ice": "ICE score", "capd": "CAPD total", "age_years": "Age",
                  "flow_l_min": "Oxygen flow", "device": "Oxygen device"}


def _grading_page(request: Request, *, form: dict[str, Any], result: Any = None,
                  errors: list[dict[str, Any]] | None = None, status: int = 200) -> Response:
    context = {"form": form, "result": result, "errors": errors or [],
               "field_errors": {e["variable"]: e for e in errors or []},
               "grading": request.app.state.grading}
    name = "_grade_result.html" if _is_fragment(request) else "grading.html"
    return templates.TemplateResponse(request, name, context, status_code=status)


@router.api_route("/grading", methods=PAGE_METHODS, response_class=HTMLResponse)
def grading_form(request: Request) -> Response:
    if not request.app.state.grading:
        raise HTTPException(404, "grading is not available")
    return _grading_page(request, form={"temperature_unit": "C", "hypotension": "none"})


def _number(text: str, name: str, errors: list[dict[str, Any]]) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text.replace(",", ".") if text.count(",") == 1 and "." not in text else text)
    except ValueError:
        value = float("nan")
    if not math.isfinite(value):
        errors.append({"variable": name, "label": GRADING_LABELS[name],
                       "message": f"{GRADING_LABELS[name]}: not a number", "expected": "a number"})
        return None
    return value


@router.post("/grading", response_class=HTMLResponse)
async def grading_submit(request: Request) -> Response:
    if not request.app.state.grading:
        raise HTTPException(404, "grading is not available")
    raw = await request.form(max_files=0, max_fields=100)
    form: dict[str, Any] = {k: v[:MAX_FIELD_CHARS] for k, v in raw.items() if isinstance(v, str)}
    form["vasopressors"] = [v for v in raw.getlist("vasopressors") if isinstance(v, str)][:8]
    errors: list[dict[str, Any]] = []
    nums = {k: _number(form.get(k, ""), k, errors) for k in GRADING_NUMBERS}
    for k in ("ice", "capd"):
        if nums[k] is not None and not float(nums[k] or 0).is_integer():
            errors.append({"variable": k, "label": GRADING_LABELS[k],
                           "message": f"{GRADING_LABELS[k]}: a whole number", "expected": None})
    if errors:
        return _grading_page(request, form=form, errors=errors, status=422)
    device = form.get("oxygen_device") or None
    body = {
        "crs": {"temperature_max": nums["temperature_max"],
                "temperature_unit": form.get("temperature_unit", "C"),
                "hypotension": form.get("hypotension", "none"),
                "vasopressors": form["vasopressors"],
                "oxygen": [{"device": device, "flow_l_min": nums["oxygen_flow"]}] if device else [],
                "crs_before": form.get("crs_before") == "1",
                "treated": form.get("treated") == "1",
                "death_from_crs": form.get("death_from_crs") == "1"},
        "icans": {"ice": None if nums["ice"] is None else int(nums["ice"]),
                  "capd": None if nums["capd"] is None else int(nums["capd"]),
                  "age_years": nums["age_years"],
                  "consciousness": form.get("consciousness") or None,
                  "seizure": form.get("seizure") or None,
                  "motor_weakness": form.get("motor_weakness") == "1",
                  "cerebral_edema": form.get("cerebral_edema") or None},
    }
    try:
        result = grade_day(GradeRequest.model_validate(body))
    except ValidationError as exc:
        for err in exc.errors():
            name = str(err["loc"][-1]) if err["loc"] else ""
            if name == "flow_l_min":
                name = "oxygen_flow"
            label = GRADING_LABELS.get(name, name.replace("_", " "))
            errors.append({"variable": name, "label": label,
                           "message": f"{label}: {err['msg']}", "expected": None})
        return _grading_page(request, form=form, errors=errors, status=422)
    except InputError as exc:
        errors = [{"variable": p.variable, "label": GRADING_LABELS.get(p.variable, p.variable),
                   "message": p.message, "expected": p.expected} for p in exc.problems]
        return _grading_page(request, form=form, errors=errors, status=422)
    return _grading_page(request, form=form, result=result)
