"""The ward monitor's web application: REST API, FHIR endpoints and the ward pages.

Reuses the service's middleware (body size limit, errors that never leak inputs, and the
strict security headers: CSP without inline script or style, nosniff, frame-ancestors).
Every patient-data route needs authentication: an API token for ``/api/v1`` and ``/fhir``,
a session cookie (login with a token) for the pages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, FastAPI, Form, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ConfigDict, Field

from crsscore import __version__
from crsscore.errors import DataError, Problem
from crsscore.monitor import auth
from crsscore.monitor.db import Database
from crsscore.monitor.ingest import IngestResult, Monitor
from crsscore.monitor.risk import RiskModel
from crsscore.service.middleware import (
    BodySizeLimitMiddleware,
    SafeErrorMiddleware,
    SecurityHeadersMiddleware,
)

API = "/api/v1"
HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.globals["version"] = __version__

#: Rows accepted in one request (the body limit, 1 MB, comes first).
MAX_ROWS = 5000
PATIENT_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$"

# ------------------------------------------------------------------------------------------
# request bodies: the canonical long format (the loaders check units and ranges)
# ------------------------------------------------------------------------------------------


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid")


Num = Annotated[float, Field(allow_inf_nan=False)]
Text = Annotated[str, Field(max_length=200)]


class PatientIn(_Row):
    patient_id: Annotated[str, Field(pattern=PATIENT_ID)]
    centre: Text | None = None
    age_years: Num | None = None
    sex: Text | None = None
    weight_kg: Num | None = None
    diagnosis: Text | None = None
    prior_lines: Num | None = None
    prior_hsct: Num | None = None
    bridging: Num | None = None
    product: Text | None = None
    costim: Text | None = None
    dose_cells_per_kg: Num | None = None
    lymphodepletion: Text | None = None
    infusion_date: Annotated[str, Field(max_length=40)] | None = None
    mrd_baseline_pct: Num | None = None
    mrd_post_ld_pct: Num | None = None
    marrow_blasts_pct: Num | None = None
    synthetic: Num | None = None


class ObservationIn(_Row):
    patient_id: Annotated[str, Field(max_length=100)] | None = None
    day: Num
    analyte: Annotated[str, Field(max_length=40)]
    value: Num
    unit: Annotated[str, Field(max_length=40)] | None = None


class EventIn(_Row):
    patient_id: Annotated[str, Field(max_length=100)] | None = None
    day: Num
    event: Annotated[str, Field(max_length=40)]
    value: Num | None = None
    unit: Annotated[str, Field(max_length=40)] | None = None
    detail: Annotated[str, Field(max_length=100)] | None = None


class PatientsBody(_Row):
    patients: Annotated[list[PatientIn], Field(min_length=1, max_length=MAX_ROWS)]


class ObservationsBody(_Row):
    observations: Annotated[list[ObservationIn], Field(min_length=1, max_length=MAX_ROWS)]


class EventsBody(_Row):
    events: Annotated[list[EventIn], Field(min_length=1, max_length=MAX_ROWS)]


class IngestOut(BaseModel):
    rows: int
    inserted: int
    updated: int
    unchanged: int
    patients_created: int
    patients_updated: int
    patients_regraded: int
    patient_days: int
    alerts_raised: list[int]


# ------------------------------------------------------------------------------------------
# errors
# ------------------------------------------------------------------------------------------

class IngestRefused(Exception):
    def __init__(self, problems: list[Problem], body_key: str | None) -> None:
        self.problems = problems
        self.body_key = body_key


def _loc(p: Problem, body_key: str | None) -> list[str | int]:
    table = p.table.split(" ", 1)[0]
    if body_key is not None and table in ("patients", "observations", "events"):
        loc: list[str | int] = ["body", table]
        if p.row is not None:
            loc.append(int(p.row) - 2)
        if p.column:
            loc.append(p.column)
        return loc
    return ["body", p.table] if p.table else ["body"]


def _refused(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, IngestRefused)
    return JSONResponse(status_code=422, content={"detail": [
        {"loc": _loc(p, exc.body_key), "msg": p.message, "type": p.code,
         "expected": p.expected, "value": p.value} for p in exc.problems[:200]]})


def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    from crsscore.service.main import _validation_error as service_handler

    return service_handler(request, exc)


# ------------------------------------------------------------------------------------------
# authentication
# ------------------------------------------------------------------------------------------

def get_monitor(request: Request) -> Monitor:
    monitor: Monitor = request.app.state.monitor
    return monitor


MonitorDep = Annotated[Monitor, Depends(get_monitor)]


def require_token(request: Request, monitor: MonitorDep) -> auth.Principal:
    header = request.headers.get("authorization", "")
    scheme, _, secret = header.partition(" ")
    who = (auth.check_token(monitor.db, secret.strip())
           if scheme.lower() == "bearer" else None)
    if who is None:
        raise HTTPException(401, "an API token is needed: Authorization: Bearer <token> "
                                 "(crsscore monitor token create NAME)",
                            headers={"WWW-Authenticate": "Bearer"})
    return who


Caller = Annotated[auth.Principal, Depends(require_token)]


class LoginRequired(Exception):
    pass


def page_user(request: Request, monitor: MonitorDep) -> auth.Principal:
    who = auth.check_session(monitor.db, request.cookies.get(auth.SESSION_COOKIE))
    if who is None:
        raise LoginRequired()
    return who


PageUser = Annotated[auth.Principal, Depends(page_user)]


def _login_redirect(request: Request, exc: Exception) -> Response:
    return RedirectResponse("/login", status_code=303)


# ------------------------------------------------------------------------------------------
# the API
# ------------------------------------------------------------------------------------------

api = APIRouter()
PidPath = Annotated[str, PathParam(pattern=PATIENT_ID, description="patient id")]


def _ingest(monitor: Monitor, who: auth.Principal, action: str, key: str,
            rows: list[dict[str, Any]]) -> IngestResult:
    n = len(rows)
    try:
        if key == "patients":
            return monitor.ingest_rows(patients=rows, actor=who.name, action=action)
        if key == "observations":
            return monitor.ingest_rows(observations=rows, actor=who.name, action=action)
        return monitor.ingest_rows(events=rows, actor=who.name, action=action)
    except DataError as exc:
        monitor.audit(who.name, action, n, "refused")
        raise IngestRefused(exc.problems, key) from None


@api.post("/patients", response_model=IngestOut, tags=["ingestion"])
def post_patients(body: PatientsBody, monitor: MonitorDep, who: Caller) -> dict[str, Any]:
    """Create or update patients (one row per infusion; baseline in canonical columns)."""
    rows = [p.model_dump(exclude_none=True) for p in body.patients]
    return _ingest(monitor, who, "post_patients", "patients", rows).to_dict()


def _require_patient(monitor: Monitor, patient_id: str) -> None:
    with monitor.db.read() as s:
        if not monitor.known_ids(s, [patient_id]):
            raise HTTPException(404, "no such patient: create it with POST /api/v1/patients")


def _rows_for(patient_id: str, rows: list[Any], key: str) -> list[dict[str, Any]]:
    out = []
    bad = []
    for i, r in enumerate(rows):
        d = r.model_dump(exclude_none=True)
        if d.get("patient_id", patient_id) != patient_id:
            bad.append(Problem(table=key, row=i + 2, column="patient_id",
                               code="patient_mismatch",
                               message="patient_id differs from the patient in the path"))
        d["patient_id"] = patient_id
        out.append(d)
    if bad:
        raise IngestRefused(bad, key)
    return out


@api.post("/patients/{patient_id}/observations", response_model=IngestOut, tags=["ingestion"])
def post_observations(patient_id: PidPath, body: ObservationsBody, monitor: MonitorDep,
                      who: Caller) -> dict[str, Any]:
    """Laboratory values and vital signs in the canonical long format (any accepted unit)."""
    _require_patient(monitor, patient_id)
    rows = _rows_for(patient_id, body.observations, "observations")
    return _ingest(monitor, who, "post_observations", "observations", rows).to_dict()


@api.post("/patients/{patient_id}/events", response_model=IngestOut, tags=["ingestion"])
def post_events(patient_id: PidPath, body: EventsBody, monitor: MonitorDep,
                who: Caller) -> dict[str, Any]:
    """Events (hypotension, vasopressors, oxygen, tocilizumab, ICE, ...) in the long format."""
    _require_patient(monitor, patient_id)
    rows = _rows_for(patient_id, body.events, "events")
    return _ingest(monitor, who, "post_events", "events", rows).to_dict()


@api.get("/patients", tags=["ward"])
def get_patients(monitor: MonitorDep, who: Caller,
                 sort: Annotated[str, Query(pattern="^(risk|day|id|alerts)$")] = "risk"
                 ) -> list[dict[str, Any]]:
    from crsscore.monitor.views import ward_rows

    out = []
    for r in ward_rows(monitor, sort):
        out.append({"patient_id": r["patient_id"], "day": r["day"],
                    "crs_grade": None if r["crs"] is None else r["crs"][1],
                    "icans_grade": None if r["icans"] is None else r["icans"][1],
                    "crs_max_grade": r["crs_max"], "risk": r["risk"], "risk_day": r["risk_day"],
                    "open_alerts": r["open_alerts"]})
    return out


@api.get("/patients/{patient_id}", tags=["ward"])
def get_patient(patient_id: PidPath, monitor: MonitorDep, who: Caller) -> dict[str, Any]:
    from crsscore.monitor.views import patient_detail

    d = patient_detail(monitor, patient_id)
    if d is None:
        raise HTTPException(404, "no such patient")
    d.pop("pk")
    return d


@api.get("/alerts", tags=["alerts"])
def get_alerts(monitor: MonitorDep, who: Caller, open: bool = True) -> list[dict[str, Any]]:
    from crsscore.monitor.views import list_alerts

    return list_alerts(monitor, open_only=open)


@api.post("/alerts/{alert_id}/ack", tags=["alerts"])
def ack_alert(alert_id: Annotated[int, PathParam(ge=1, le=2**31 - 1)], monitor: MonitorDep,
              who: Caller) -> dict[str, Any]:
    """Acknowledge an alert (it leaves the open list; acknowledging twice changes nothing)."""
    done = monitor.acknowledge(alert_id, who.name)
    if done is None:
        raise HTTPException(404, "no such alert")
    return {"id": alert_id, "acknowledged": True, "already": not done}


# ------------------------------------------------------------------------------------------
# FHIR R4
# ------------------------------------------------------------------------------------------

fhir = APIRouter()


def _infusion_lookup(monitor: Monitor) -> Any:
    from sqlalchemy import select

    from crsscore.monitor.db import Patient

    cache: dict[str, str | None] = {}

    def infusion(pid: str) -> str | None:
        if pid not in cache:
            with monitor.db.read() as s:
                cache[pid] = s.scalar(select(Patient.infusion_date).where(
                    Patient.patient_id == pid[:100]))
        return cache[pid]

    return infusion


def _fhir_ingest(monitor: Monitor, who: auth.Principal, action: str, parse: Any,
                 payload: dict[str, Any]) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    try:
        rows = parse(payload, _infusion_lookup(monitor))
        res = monitor.ingest_rows(observations=rows, actor=who.name, action=action,
                                  source="fhir")
    except DataError as exc:
        monitor.audit(who.name, action, len(rows), "refused")
        raise IngestRefused([_where(p, rows) for p in exc.problems], None) from None
    return res.to_dict()


def _where(p: Problem, rows: list[dict[str, Any]]) -> Problem:
    """A loader's problem at an observations row, located in the FHIR resource instead."""
    from dataclasses import replace

    if p.table.startswith("observations") and p.row is not None and 0 <= p.row - 2 < len(rows):
        return replace(p, table=str(rows[p.row - 2].get("_where", "Observation")), row=None)
    return p


FhirBody = Annotated[dict[str, Any], Body(description="a FHIR R4 resource (JSON)")]


@fhir.post("/Observation", response_model=IngestOut, tags=["FHIR R4"])
def fhir_observation(payload: FhirBody, monitor: MonitorDep, who: Caller) -> dict[str, Any]:
    """One Observation: LOINC code of an analyte, valueQuantity in UCUM, subject Patient/id."""
    from crsscore.monitor.fhir import parse_observation

    return _fhir_ingest(monitor, who, "fhir_observation", parse_observation, payload)


@fhir.post("/Bundle", response_model=IngestOut, tags=["FHIR R4"])
def fhir_bundle(payload: FhirBody, monitor: MonitorDep, who: Caller) -> dict[str, Any]:
    """A Bundle of Observations: all stored in one transaction, or none."""
    from crsscore.monitor.fhir import parse_bundle

    return _fhir_ingest(monitor, who, "fhir_bundle", parse_bundle, payload)


# ------------------------------------------------------------------------------------------
# pages
# ------------------------------------------------------------------------------------------

pages = APIRouter()
PAGE_METHODS = ["GET", "HEAD"]


@pages.api_route("/", methods=PAGE_METHODS, include_in_schema=False)
def root() -> Response:
    return RedirectResponse("/ward", status_code=303)


@pages.api_route("/login", methods=PAGE_METHODS, response_class=HTMLResponse,
                 include_in_schema=False)
def login_form(request: Request) -> Response:
    return templates.TemplateResponse(request, "login.html", {"error": None})


@pages.post("/login", include_in_schema=False)
def login(request: Request, monitor: MonitorDep,
          token: Annotated[str, Form(max_length=200)] = "") -> Response:
    who = auth.check_token(monitor.db, token.strip())
    if who is None:
        return templates.TemplateResponse(request, "login.html",
                                          {"error": "That token is not valid."}, status_code=401)
    sid = auth.start_session(monitor.db, who)
    resp = RedirectResponse("/ward", status_code=303)
    resp.set_cookie(auth.SESSION_COOKIE, sid, max_age=auth.SESSION_HOURS * 3600, httponly=True,
                    samesite="strict", secure=request.url.scheme == "https", path="/")
    return resp


@pages.post("/logout", include_in_schema=False)
def logout(request: Request, monitor: MonitorDep) -> Response:
    auth.end_session(monitor.db, request.cookies.get(auth.SESSION_COOKIE))
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(auth.SESSION_COOKIE, path="/")
    return resp


def _ctx(request: Request, who: auth.Principal, **kw: Any) -> dict[str, Any]:
    sid = request.cookies.get(auth.SESSION_COOKIE, "")
    return {"user": who.name, "csrf": auth.csrf_token(sid), **kw}


@pages.api_route("/ward", methods=PAGE_METHODS, response_class=HTMLResponse,
                 include_in_schema=False)
def ward(request: Request, monitor: MonitorDep, who: PageUser,
         sort: Annotated[str, Query(pattern="^(risk|day|id|alerts)$")] = "risk") -> Response:
    from crsscore.monitor.charts import sparkline
    from crsscore.monitor.views import list_alerts, main_horizon, ward_rows

    h = main_horizon(monitor)
    thr = monitor.risk.threshold(h) if monitor.risk is not None and h is not None else None
    rows = ward_rows(monitor, sort)
    for r in rows:
        r["spark_svg"] = (sparkline(r["spark"], threshold=thr,
                                    label=f"risk over the last {len(r['spark'])} days")
                          if r["spark"] else "")
    return templates.TemplateResponse(request, "ward.html", _ctx(
        request, who, rows=rows, alerts=list_alerts(monitor), sort=sort, horizon=h,
        threshold=thr, card=None if monitor.risk is None else monitor.risk.card_id))


@pages.api_route("/ward/patients/{patient_id}", methods=PAGE_METHODS,
                 response_class=HTMLResponse, include_in_schema=False)
def patient_page(request: Request, patient_id: PidPath, monitor: MonitorDep,
                 who: PageUser) -> Response:
    from crsscore.monitor.views import patient_charts, patient_detail

    d = patient_detail(monitor, patient_id)
    if d is None:
        raise HTTPException(404, "no such patient")
    return templates.TemplateResponse(request, "patient.html", _ctx(
        request, who, p=d, charts=patient_charts(d, monitor),
        card=None if monitor.risk is None else monitor.risk.card_id,
        treatments=[e for e in d["events"] if e["event"] in ("tocilizumab", "corticosteroid")]))


@pages.post("/ward/alerts/{alert_id}/ack", include_in_schema=False)
def page_ack(request: Request, alert_id: Annotated[int, PathParam(ge=1, le=2**31 - 1)],
             monitor: MonitorDep, who: PageUser,
             csrf: Annotated[str, Form(max_length=100)] = "",
             back: Annotated[str, Form(max_length=200)] = "/ward") -> Response:
    if not auth.csrf_ok(request.cookies.get(auth.SESSION_COOKIE), csrf):
        raise HTTPException(403, "the form has expired: reload the page")
    if monitor.acknowledge(alert_id, who.name) is None:
        raise HTTPException(404, "no such alert")
    target = back if back.startswith("/ward") and "//" not in back else "/ward"
    return RedirectResponse(target, status_code=303)


# ------------------------------------------------------------------------------------------
# the application
# ------------------------------------------------------------------------------------------

def create_monitor_app(db: Database | str, risk: RiskModel | None = None) -> FastAPI:
    """The monitor application over ``db`` (a :class:`Database` or a URL)."""
    database = Database(db) if isinstance(db, str) else db
    app = FastAPI(title="crsscore ward monitor", version=__version__,
                  description="Ingestion (canonical long format and FHIR R4), daily ASTCT "
                              "grades, dynamic risk and alerts. Decision support only.",
                  docs_url=None, redoc_url=None)
    app.state.monitor = Monitor(database, risk)
    app.add_middleware(BodySizeLimitMiddleware)
    app.add_middleware(SafeErrorMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_exception_handler(IngestRefused, _refused)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(LoginRequired, _login_redirect)
    app.include_router(api, prefix=API)
    app.include_router(fhir, prefix="/fhir")
    app.include_router(pages)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    @app.get(f"{API}/health", tags=["service"])
    def health() -> dict[str, Any]:
        return {"status": "ok", "version": __version__,
                "risk_card": None if risk is None else risk.card_id}

    return app


def app_from_env() -> FastAPI:
    """The application configured by ``CRSSCORE_MONITOR_DB``, ``CRSSCORE_MONITOR_CARD`` and
    ``CRSSCORE_MONITOR_THRESHOLD`` (used by ``monitor serve --workers N``: one per process)."""
    import os

    from crsscore.monitor.risk import DynamicCardRisk

    url = os.environ["CRSSCORE_MONITOR_DB"]
    card = os.environ.get("CRSSCORE_MONITOR_CARD")
    thr = os.environ.get("CRSSCORE_MONITOR_THRESHOLD")
    from crsscore.monitor.serving import prepare_process

    risk = (DynamicCardRisk.from_file(card, float(thr) if thr else None) if card else None)
    app = create_monitor_app(Database(url), risk)
    prepare_process()
    return app


__all__ = ["API", "app_from_env", "create_monitor_app"]
