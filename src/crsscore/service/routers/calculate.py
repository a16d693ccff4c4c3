"""``/api/v1/scorecards/{card_id}/score`` and ``/batch``: score one patient or a file."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, File, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from crsscore.csvsafe import neutralise_frame
from crsscore.scores.scorecard import ScoreCard
from crsscore.service.dependencies import Card
from crsscore.service.inputs import (
    InputError,
    InputProblem,
    check_json_types,
    parse_batch_csv,
    parse_batch_json,
    score_batch,
    score_patient,
)
from crsscore.service.middleware import MAX_UPLOAD_BYTES
from crsscore.service.schemas import Message, ProblemResponse, ScoreRequest, ScoreResult

router = APIRouter()


class CSVResponse(Response):
    media_type = "text/csv"

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Message, "description": "the body could not be decoded"},
    404: {"model": Message, "description": "no score card with that id"},
    422: {"model": ProblemResponse,
          "description": "an input problem, naming the field and the expected unit or range"},
    413: {"model": ProblemResponse, "description": "request body too large"},
}


@router.post("/{card_id}/score", response_model=ScoreResult, responses=ERRORS,
             summary="Score one patient")
def score_one(card: Card, request: ScoreRequest) -> ScoreResult:
    """Values with units in, each variable's points, the total, probability and risk group out.

    Warnings (not errors) flag missing inputs, values outside the range seen in the derivation
    data, and CRP or IL-6 measured after tocilizumab.
    """
    values = {k: (m.value, m.unit) for k, m in request.values.items()}
    check_json_types(card, values)
    return score_patient(card, values, after_tocilizumab=request.after_tocilizumab)


class BatchInputError(InputError):
    """An :class:`InputError` whose rows are file rows."""

    def __init__(self, problems: list[InputProblem], *, fmt: str) -> None:
        super().__init__(problems)
        self.fmt = fmt


def _json_error(code: int | str) -> dict[str, Any]:
    """A documented JSON error on a route whose own media type is CSV."""
    entry = ERRORS[code]
    ref = f"#/components/schemas/{entry['model'].__name__}"
    return {"description": entry["description"],
            "content": {"application/json": {"schema": {"$ref": ref}}}}


@router.post("/{card_id}/batch", response_model=None, response_class=CSVResponse, responses={
    **{code: _json_error(code) for code in ERRORS}, 200: {"content": {"text/csv": {}},
                    "description": "one row per patient: id, pts_<variable>, total, "
                                   "probability, risk_group, warnings"}},
    summary="Score a file of patients (CSV or JSON), returning CSV")
async def score_file(card: Card, file: Annotated[UploadFile, File(
        description="CSV with headers 'name [unit]' (e.g. 'crp [mg/dL]'), optional 'id' and "
                    "'after_tocilizumab' columns; or JSON {\"patients\": [{\"id\", \"values\", "
                    "\"after_tocilizumab\"}]}")]) -> Response:
    data = await file.read(MAX_UPLOAD_BYTES + 1)
    name = (file.filename or "").lower()
    is_json = name.endswith(".json") or (file.content_type or "").endswith("json") or \
        data.lstrip()[:1] in (b"{", b"[")
    # Parsing and scoring a file of up to 10 MB is seconds of CPU: off the event loop, so
    # that every other request (health checks, single patients, pages) keeps being served.
    csv = await run_in_threadpool(batch_csv, card, data, "json" if is_json else "csv")
    return CSVResponse(csv, headers={
        "Content-Disposition": content_disposition(f"{card.id}-scores.csv")})


def content_disposition(filename: str) -> str:
    """``attachment`` with ``filename`` encoded per RFC 6266 / RFC 8187: an ASCII fallback
    (anything outside printable ASCII, and the quote and backslash, become '_') and
    ``filename*=UTF-8''`` with the exact name percent-encoded.  Never a CR, LF or raw quote,
    so a name cannot break the header or add another one."""
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\' else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def batch_csv(card: ScoreCard, data: bytes, fmt: str) -> str:
    """Parse, score and write one uploaded file (blocking: run it in a worker thread)."""
    try:
        batch = parse_batch_json(data) if fmt == "json" else parse_batch_csv(data)
        out = score_batch(card, batch)
    except InputError as exc:
        raise BatchInputError(exc.problems, fmt=fmt) from None
    # ids, risk groups and warnings are text from the upload or the card: a cell such as
    # '=HYPERLINK(...)' must not run as a formula when the file is opened in a spreadsheet.
    # Lines end in CRLF (RFC 4180), so that a cell holding a bare CR is quoted too (with "\n"
    # as terminator the csv writer leaves it bare, and readers split the row there).
    return neutralise_frame(out).to_csv(index=False, lineterminator="\r\n", float_format="%.6g")
