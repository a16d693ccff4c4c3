"""Turn the calculator's request values (JSON, form, CSV or JSON file) into a card's inputs.

Every rule of the card (units, rounding, ranges, positivity, bands, points, tocilizumab
sensitivity) is :func:`crsscore.scores.evaluate.evaluate_card`'s; this module only parses
cells into numbers and categories with their units, maps the evaluation's located problems to
:class:`InputProblem` (raised together as :class:`InputError`) and its warning masks to the
warnings a clinician reads (missing input, outside the training range, measured after
tocilizumab, no band).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from crsscore.errors import CrsscoreError, Problem
from crsscore.scores.evaluate import (
    CardEvaluation,
    evaluate_card,
    physiological_range,
    to_card_units,
    variable_tocilizumab_sensitive,
)
from crsscore.scores.scorecard import ScoreCard, Variable
from crsscore.service.schemas import ScoreResult, ScoreWarning, VariableResult
from crsscore.units import ANALYTE_UNITS, normalise_unit

#: The cells of one input column: a list (JSON, one patient) or a text Series (CSV).
Cells = Sequence[object] | pd.Series
_NA_TEXT = pa.array(["", "na", "nan", "n/a"])
#: Up to this many rows, inputs are checked with plain Python (faster for one patient).
_SMALL = 32
#: At most this many problems are reported for one request.
MAX_PROBLEMS = 50


@dataclass(frozen=True)
class InputProblem:
    """A refused input.  ``row`` is None for a single patient, else the 0-based row."""

    variable: str
    part: Literal["value", "unit", "name", "file"]
    message: str
    code: str
    expected: str | None = None
    row: int | None = None
    loc: tuple[str | int, ...] | None = None  # overrides the location derived from the rest


class InputError(CrsscoreError):
    """Request values the service refuses, each an :class:`InputProblem` (HTTP 422)."""

    def __init__(self, problems: Sequence[InputProblem]) -> None:
        self.problems = list(problems)[:MAX_PROBLEMS]
        super().__init__("; ".join(p.message for p in self.problems))


WarningCode = Literal["missing", "out_of_training_range", "after_tocilizumab", "no_band",
                      "not_finite", "synthetic"]


@dataclass(frozen=True)
class MaskWarning:
    """One warning and the rows it applies to (vectorised, so batches stay fast)."""

    code: WarningCode
    variable: str | None
    message: str
    rows: npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Evaluated:
    """A card evaluated on the values sent: the evaluation, each value's unit as shown, and
    every warning with the rows it applies to."""

    evaluation: CardEvaluation
    units: dict[str, list[str | None]]
    warnings: list[MaskWarning]


# --- helpers ----------------------------------------------------------------------------------
def is_numeric(var: Variable) -> bool:
    return var.kind != "categorical"


def accepted_units(var: Variable) -> list[str]:
    if var.unit_kind is not None:
        return list(ANALYTE_UNITS[var.unit_kind])
    return [var.unit] if var.unit else []


def physiological_range_card_units(var: Variable) -> tuple[float, float] | None:
    rng = physiological_range(var)
    if rng is None:
        return None
    lo, hi = to_card_units(var, np.array(rng, dtype=np.float64))
    return (float(lo), float(hi))


def tocilizumab_sensitive(card: ScoreCard) -> bool:
    return any(variable_tocilizumab_sensitive(card, v) for v in card.variables)


def card_label(card: ScoreCard) -> str:
    p = card.provenance
    if p.synthetic_data:
        return "Derived from synthetic (simulated) patients: for demonstration, not for clinical use"
    return {
        "verified": "Published score, verified against the primary source",
        "secondary_sources": "Published score, checked against secondary sources only",
        "derived_locally": "Derived locally: validate before clinical use",
        "refit": "Refit of a published structure on local data (not the published model)",
        "unverified": "Unverified: not for clinical use",
    }[p.verification]


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def _range_text(lo: float, hi: float, unit: str | None) -> str:
    u = f" {unit}" if unit else ""
    return f"{_fmt(lo)} to {_fmt(hi)}{u}"


def _finite(x: object) -> float | None:
    try:
        f = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


# --- preparing inputs ---------------------------------------------------------------------------
def _to_float(raw: object) -> float | str | None:
    """A float, None for missing, or the reason the cell is not a number."""
    if raw is None:
        return None
    if isinstance(raw, bool):
        return "a number, not true/false"
    if isinstance(raw, int | float):
        f = float(raw)
        if math.isnan(f):
            return None
        return f if math.isfinite(f) else "a finite number"
    text = str(raw).strip()
    if text == "" or text.lower() in {"na", "nan", "n/a"}:
        return None
    try:
        f = float(text.replace(",", ".") if text.count(",") == 1 and "." not in text else text)
    except ValueError:
        return "a number"
    return f if math.isfinite(f) else "a finite number"


def _parse_text_column(col: pd.Series) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """The vectorised path for a text column (CSV upload), with Arrow string kernels."""
    arr = pc.utf8_trim_whitespace(pa.array(col.to_numpy(dtype=object), type=pa.string()))
    missing = pc.fill_null(pc.is_in(pc.utf8_lower(arr), value_set=_NA_TEXT), True)
    comma = pc.fill_null(pc.and_(pc.equal(pc.count_substring(arr, ","), 1),
                                 pc.invert(pc.match_substring(arr, "."))), False)
    if pc.any(comma).as_py():
        arr = pc.if_else(comma, pc.replace_substring(arr, ",", "."), arr)
    miss = np.asarray(missing.to_numpy(zero_copy_only=False), dtype=bool)
    num = np.array(pd.to_numeric(pd.Series(arr.to_numpy(zero_copy_only=False), dtype=object),
                                 errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan))
    with np.errstate(invalid="ignore"):
        bad = ~miss & ~np.isfinite(num)
    num[miss | bad] = np.nan
    return num, bad


def _parse_numbers(raw: Cells) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """Cells to floats (NaN for missing) and a mask of cells that are not finite numbers."""
    n = len(raw)
    if isinstance(raw, pd.Series) and pd.api.types.is_string_dtype(raw.dtype):
        return _parse_text_column(raw)
    if isinstance(raw, list) and raw.count(None) == n:
        return np.full(n, np.nan), np.zeros(n, dtype=bool)
    if n <= _SMALL:  # one patient: plain Python beats building pandas objects
        parsed = [_to_float(v) for v in raw]
        bad_small = np.array([isinstance(v, str) for v in parsed], dtype=bool)
        return np.array([v if isinstance(v, float) else np.nan for v in parsed],
                        dtype=np.float64), bad_small
    vals = pd.Series(list(raw), dtype=object)
    is_str = np.fromiter((type(v) is str for v in raw), dtype=bool, count=n)
    is_bool = np.fromiter((isinstance(v, bool | np.bool_) for v in raw), dtype=bool, count=n)
    num = np.full(n, np.nan)
    missing = np.zeros(n, dtype=bool)
    if is_str.any():
        text = vals[is_str].str.strip()
        missing[is_str] = text.str.lower().isin(["", "na", "nan", "n/a"]).to_numpy()
        decimal_comma = (text.str.count(",") == 1) & ~text.str.contains(".", regex=False)
        text = text.where(~decimal_comma, text.str.replace(",", ".", regex=False))
        num[is_str] = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64,
                                                                    na_value=np.nan)
    other = ~is_str & ~is_bool
    if other.any():
        rest = vals[other]
        missing[other] = rest.isna().to_numpy()
        num[other] = pd.to_numeric(rest, errors="coerce").to_numpy(dtype=np.float64,
                                                                   na_value=np.nan)
    with np.errstate(invalid="ignore"):
        bad = is_bool | (~missing & ~np.isfinite(num))
    num[missing | bad] = np.nan
    return num, bad


def _category_column(var: Variable, raw: Cells, problems: list[InputProblem],
                     single: bool) -> npt.NDArray[np.object_]:
    allowed = [c.value for c in var.categories]
    out = np.full(len(raw), None, dtype=object)
    for i, v in enumerate(raw):
        if v is None or (isinstance(v, float) and math.isnan(v)):
            continue
        if isinstance(v, float) and v.is_integer():
            v = str(int(v))
        text = str(v).strip()
        if text == "":
            continue
        if text not in allowed:
            problems.append(InputProblem(var.name, "value", f"{var.label}: unknown category",
                                         "unknown_category", "one of " + ", ".join(allowed),
                                         None if single else i))
            continue
        out[i] = text
    return out


def _input_problem(card: ScoreCard, p: Problem, single: bool) -> InputProblem:
    """An evaluation's located problem as the calculator words it (after the label)."""
    if p.column is None:  # the whole score (too large to represent)
        return InputProblem("", "value", p.message, p.code, p.expected, None if single else p.row)
    label = card.variable(p.column).label
    return InputProblem(p.column, "unit" if p.code.endswith("unit") else "value",
                        f"{label}: {p.message}", p.code, p.expected, None if single else p.row)


def evaluate(card: ScoreCard, columns: Mapping[str, Cells],
             units: Mapping[str, Sequence[str | None]], n: int, *, single: bool,
             after_tocilizumab: Sequence[bool] | None = None) -> Evaluated:
    """Parse raw inputs (one sequence of ``n`` cells per variable, with their units) and
    evaluate the card on them; every problem is raised together as :class:`InputError`."""
    problems: list[InputProblem] = []
    known = set(card.input_names)
    for name in columns:
        if name not in known:
            problems.append(InputProblem(name, "name", f"'{name}' is not an input of score card "
                                         f"'{card.id}'", "unknown_variable",
                                         "one of " + ", ".join(card.input_names)))
    values: dict[str, npt.NDArray[Any]] = {}
    unit_cells: dict[str, Sequence[str | None]] = {}
    shown_units: dict[str, list[str | None]] = {}
    for var in card.variables:
        raw = columns.get(var.name, [None] * n)
        u = list(units.get(var.name, [None] * n))
        if is_numeric(var):
            values[var.name], not_number = _parse_numbers(raw)
            for i in np.flatnonzero(not_number)[:MAX_PROBLEMS]:
                reason = _to_float(raw.iloc[int(i)] if isinstance(raw, pd.Series) else raw[int(i)])
                problems.append(InputProblem(var.name, "value", f"{var.label}: not a number",
                                             "not_a_number", str(reason), None if single else int(i)))
            unit_cells[var.name] = u
            shown = {x: (normalise_unit(x) if x else var.unit) if var.unit_kind is not None
                     else var.unit for x in set(u)}
            shown_units[var.name] = [shown[x] for x in u]
        else:
            values[var.name] = _category_column(var, raw, problems, single)
            shown_units[var.name] = [None] * n
    ev = evaluate_card(card, values, units=unit_cells, physiology=True, wording="calculator")
    problems.extend(_input_problem(card, p, single) for p in ev.problems)
    if problems:
        raise InputError(problems)
    toci = np.asarray(list(after_tocilizumab) if after_tocilizumab is not None else [False] * n,
                      dtype=bool)
    return Evaluated(ev, shown_units, _warnings(card, ev, toci))


def _warnings(card: ScoreCard, ev: CardEvaluation, after_tocilizumab: npt.NDArray[np.bool_]
              ) -> list[MaskWarning]:
    """The evaluation's warning masks, worded, with the rows each applies to (none empty)."""
    out: list[MaskWarning] = []
    for var in card.variables:
        e = ev.variables[var.name]
        msg = (f"{var.label}: missing, counted as 0 points" if var.missing == "zero"
               else f"{var.label}: missing; the total cannot be computed without it")
        out.append(MaskWarning("missing", var.name, msg, e.missing))
        if var.training_range is not None:
            lo, hi = var.training_range
            out.append(MaskWarning(
                "out_of_training_range", var.name,
                f"{var.label} is outside the range seen when the score was derived "
                f"({_range_text(lo, hi, var.unit)}): the prediction is an extrapolation",
                e.outside_training))
        if e.tocilizumab_sensitive:
            out.append(MaskWarning(
                "after_tocilizumab", var.name,
                f"{var.label} was measured after tocilizumab, which lowers CRP and raises "
                "IL-6 whatever the clinical course: the score is not valid",
                ~e.missing & after_tocilizumab))
    for var in card.variables:
        out.append(MaskWarning("no_band", var.name,
                               f"{var.label}: no band of the score covers this value",
                               ev.variables[var.name].no_band))
    out.append(MaskWarning("not_finite", None, "the total is not a finite number",
                           np.isinf(ev.total)))
    return [w for w in out if w.rows.any()]


def check_json_types(card: ScoreCard, values: Mapping[str, tuple[object, str | None]]) -> None:
    """JSON clients send numbers as numbers: a string for a numeric variable is refused
    (the HTML form, which only has strings, skips this check)."""
    problems = []
    for name, (value, _unit) in values.items():
        if name in card.input_names and is_numeric(card.variable(name)) and isinstance(value, str):
            problems.append(InputProblem(name, "value", f"{card.variable(name).label}: "
                                         "send the value as a JSON number", "not_a_number",
                                         "a number"))
    if problems:
        raise InputError(problems)


def _entered_number(x: object) -> float | None:
    got = _to_float(x)
    return got if isinstance(got, float) else None


# --- single patient -----------------------------------------------------------------------------
def score_patient(card: ScoreCard, values: Mapping[str, tuple[object, str | None]],
                  *, after_tocilizumab: bool = False) -> ScoreResult:
    """Score one patient given ``{variable: (value, unit)}``."""
    columns = {k: [v[0]] for k, v in values.items()}
    units = {k: [v[1]] for k, v in values.items()}
    got = evaluate(card, columns, units, 1, single=True, after_tocilizumab=[after_tocilizumab])
    ev = got.evaluation
    warnings = [ScoreWarning(code=w.code, variable=w.variable, message=w.message)
                for w in got.warnings if w.rows[0]]
    variables = []
    for var in card.variables:
        entered = values.get(var.name, (None, None))[0]
        e = ev.variables[var.name]
        cu = e.value[0]
        variables.append(VariableResult(
            name=var.name, label=var.label,
            value=_entered_number(entered) if is_numeric(var) else (
                None if entered is None else str(entered)),
            unit=got.units[var.name][0] if var.name in values else None,
            value_card_unit=_finite(cu) if is_numeric(var) else cu,
            card_unit=var.unit,
            points=_finite(e.points[0]),
            band=e.band_labels()[0]))
    total = _finite(ev.total[0])
    rg = ev.risk_group[0]
    if card.provenance.synthetic_data:
        warnings.append(ScoreWarning(code="synthetic", variable=None, message=card_label(card)))
    return ScoreResult(
        card_id=card.id, card_name=card.name, card_version=card.version, kind=card.kind,
        outcome=card.outcome, synthetic=card.provenance.synthetic_data, label=card_label(card),
        variables=variables, total=total,
        probability=_finite(ev.probability[0]) if total is not None else None,
        risk_group=str(rg) if rg is not None and total is not None and not pd.isna(rg) else None,
        complete=all(v.points is not None for v in variables) and total is not None,
        warnings=warnings)


# --- batch --------------------------------------------------------------------------------------
@dataclass
class BatchInput:
    n: int
    ids: list[str] | None
    columns: dict[str, Cells]
    units: dict[str, list[str | None]]
    after_tocilizumab: list[bool]


_HEADER = re.compile(r"^\s*([^\[\]()]+?)\s*(?:[\[(]\s*(.*?)\s*[\])])?\s*$")
ID_COLUMNS = ("id", "patient_id")
TOCI_COLUMN = "after_tocilizumab"
_TRUE = {"1", "true", "yes", "y"}
_FALSE = {"0", "false", "no", "n", ""}


def _flag(v: object, row: int, problems: list[InputProblem]) -> bool:
    text = str(v).strip().lower() if v is not None else ""
    if text in _TRUE:
        return True
    if text not in _FALSE:
        problems.append(InputProblem(TOCI_COLUMN, "value", f"{TOCI_COLUMN}: not a yes/no value",
                                     "invalid_flag", "0 or 1 (true/false)", row))
    return False


def parse_batch_csv(data: bytes) -> BatchInput:
    """Read a CSV with one row per patient and headers ``name [unit]`` (e.g. ``crp [mg/dL]``)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError([InputProblem("", "file", "the file is not UTF-8 text", "invalid_file",
                                       "a UTF-8 CSV file")]) from None
    try:
        header = text.split("\n", 1)[0]
        sep = max((",", ";", "\t"), key=header.count)
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, sep=sep,
                         index_col=False).reset_index(drop=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, csv.Error) as exc:
        raise InputError([InputProblem("", "file", f"cannot read the CSV file: {exc}",
                                       "invalid_file", "a comma- or semicolon-separated file "
                                       "with a header row")]) from None
    problems: list[InputProblem] = []
    columns: dict[str, Cells] = {}
    units: dict[str, list[str | None]] = {}
    ids: list[str] | None = None
    toci = [False] * len(df)
    for col in df.columns:
        m = _HEADER.match(str(col))
        name, unit = (m.group(1), m.group(2) or None) if m else (str(col), None)
        cells = df[col]
        if name.lower() in ID_COLUMNS:
            ids = cells.astype(str).tolist()
        elif name.lower() == TOCI_COLUMN:
            toci = [_flag(c, i, problems) for i, c in enumerate(cells.tolist())]
        elif name in columns:
            problems.append(InputProblem(name, "name", f"column '{name}' appears twice",
                                         "duplicate_column", "one column per variable"))
        else:
            columns[name] = cells
            units[name] = [unit] * len(df)
    if problems:
        raise InputError(problems)
    return BatchInput(len(df), ids, columns, units, toci)


def parse_batch_json(data: bytes) -> BatchInput:
    """Read ``{"patients": [{"id": ..., "values": {...}, "after_tocilizumab": false}]}``."""
    from pydantic import BaseModel, ConfigDict, Field, ValidationError

    from crsscore.service.schemas import ScoreRequest

    class _Patient(ScoreRequest):
        id: str | None = Field(None, max_length=200)

    class _Batch(BaseModel):
        model_config = ConfigDict(extra="forbid")
        patients: list[_Patient]

    try:
        raw = json.loads(data)
        if isinstance(raw, list):
            raw = {"patients": raw}
        batch = _Batch.model_validate(raw)
    except (ValueError, RecursionError) as exc:
        if isinstance(exc, ValidationError):
            first = exc.errors()[0]
            loc = ".".join(str(x) for x in first["loc"])
            msg = f"invalid JSON batch at {loc}: {first['msg']}"
        else:
            msg = "the file is not valid JSON"
        raise InputError([InputProblem("", "file", msg, "invalid_file",
                                       '{"patients": [{"id": ..., "values": {...}}]}')]) from None
    n = len(batch.patients)
    names = list(dict.fromkeys(k for p in batch.patients for k in p.values))
    columns: dict[str, Cells] = {}
    lists: dict[str, list[object]] = {k: [None] * n for k in names}
    units: dict[str, list[str | None]] = {k: [None] * n for k in names}
    for i, p in enumerate(batch.patients):
        for k, m in p.values.items():
            lists[k][i] = m.value
            units[k][i] = m.unit
    columns.update(lists)
    ids = [p.id or "" for p in batch.patients] if any(p.id for p in batch.patients) else None
    return BatchInput(n, ids, columns, units, [p.after_tocilizumab for p in batch.patients])


def _warning_text(warnings: list[MaskWarning], n: int) -> npt.NDArray[np.object_]:
    """Per row, the messages that apply, joined by '; ' (one string per distinct pattern)."""
    if not warnings:
        return np.full(n, "", dtype=object)
    if len(warnings) > 62:
        return np.array(["; ".join(w.message for w in warnings if w.rows[i]) for i in range(n)],
                        dtype=object)
    keys = np.zeros(n, dtype=np.int64)
    for j, w in enumerate(warnings):
        keys |= w.rows.astype(np.int64) << j
    patterns, inverse = np.unique(keys, return_inverse=True)
    texts = np.array(["; ".join(w.message for j, w in enumerate(warnings) if (int(k) >> j) & 1)
                      for k in patterns], dtype=object)
    out: npt.NDArray[np.object_] = texts[inverse]
    return out


def score_batch(card: ScoreCard, batch: BatchInput) -> pd.DataFrame:
    """Score every row; the result has ``id`` (if given), ``pts_*``, total, probability,
    risk group and warnings."""
    got = evaluate(card, batch.columns, batch.units, batch.n, single=False,
                   after_tocilizumab=batch.after_tocilizumab)
    ev = got.evaluation
    out = pd.DataFrame(index=range(batch.n))
    if batch.ids is not None:
        out["id"] = batch.ids
    for var in card.variables:
        out[f"pts_{var.name}"] = ev.variables[var.name].points
    finite = np.isfinite(ev.total)
    out["total"] = np.where(finite, ev.total, np.nan)
    out["probability"] = np.where(finite, ev.probability, np.nan)
    out["risk_group"] = [g if ok else None for g, ok in zip(ev.risk_group, finite, strict=True)]
    out["warnings"] = _warning_text(got.warnings, batch.n)
    return out
