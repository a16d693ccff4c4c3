"""Mapping files: how a centre's own export maps onto the canonical cohort format.

A mapping file is TOML (read with :mod:`tomllib`, validated with pydantic).  It lets a real
hospital export load **without being edited**: it names the centre's columns, sheets, analyte
names, units, value codes and layout.  Every key is optional; a name not mapped is looked up
under its canonical name.  Unknown keys are refused (a typo must not be ignored).

Example (a German wide export, one row per patient, one column per analyte and day)::

    file = "export.xlsx"          # default file for every table (relative to this file)
    decimal = ","                 # decimal comma in text cells ("." by default)
    date_format = "%d.%m.%Y"      # how dates are written (ISO dates are always understood)
    yes = ["ja"]                  # extra words read as 1 in 0/1 columns
    no = ["nein"]                 # extra words read as 0

    [patients]
    sheet = "Patienten"           # Excel sheet (name or 0-based number)
    [patients.columns]            # canonical name = centre's column
    patient_id = "Pat-Nr"
    sex = "Geschlecht"
    mrd_baseline_pct = "MRD vor LD"
    [patients.units]              # unit of patient columns that carry one
    mrd_baseline_pct = "fraction" # MRD given as a fraction: converted to %
    [patients.values.sex]         # value codes: centre's value = canonical value
    weiblich = "F"
    "männlich" = "M"

    [observations]
    sheet = "Patienten"
    layout = "wide"               # "long" | "wide" | "patient_day"
    pattern = "{analyte}_T{day}"  # wide columns, e.g. "CRP_T7", "Hb_T-1"
    [observations.columns]
    patient_id = "Pat-Nr"
    [observations.analytes]       # centre's analyte name or code = canonical code
    CRP = "crp"
    Hb = "hb"
    [observations.units]          # unit per analyte when the data carry none
    crp = "mg/dL"
    hb = "g/L"

    [events]
    file = "ereignisse.csv"
    [events.columns]
    event = "Ereignis"
    date = "Datum"                # a date column: day = date - infusion_date
    [events.events]
    Tocilizumab = "tocilizumab"

Layouts of ``[observations]``:

``long``
    one row per measurement: ``patient_id``, ``day`` (or ``date``), ``analyte``, ``value`` and
    optionally ``unit``; a unit cell left empty falls back to ``[observations.units]``.
``wide``
    one row per patient, one column per analyte and day named by ``pattern`` (``{analyte}``
    and ``{day}`` placeholders, day may be negative: ``crp_d-1``).
``patient_day``
    one row per patient and day: ``patient_id``, ``day`` (or ``date``) and one column per
    analyte (``[observations.analytes]`` maps column names to codes).

A ``file`` may be a glob (``"labs_*.csv"``): the matching files are read in name order and
stacked.  Files may be CSV (delimiter sniffed or given by ``delimiter``), Excel ``.xlsx`` or
Parquet.  See ``docs/mapping.md``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from crsscore.data.schema import ANALYTES, EVENTS, PATIENT_COLUMNS
from crsscore.errors import CrsscoreError, MappingError
from crsscore.units import conversion_for

OBSERVATION_FIELDS = ("patient_id", "day", "date", "analyte", "value", "unit")
EVENT_FIELDS = ("patient_id", "day", "date", "event", "value", "unit", "detail")
#: Columns of a patients table given one row per patient-day (``layout = "patient_day"``).
PATIENT_DAY_FIELDS = ("day", "date")

_TAKE = re.compile(r"^(constant|first|last|day\s*(?P<day>[-+]?\d+(?:\.\d+)?))$", re.IGNORECASE)

DEFAULT_MISSING = ("", "NA", "N/A", "n/a", "na", "NaN", "nan", "NULL", "null", "None", "-", ".")
DEFAULT_YES = ("1", "1.0", "yes", "y", "true", "t", "ja", "j", "oui", "si", "sí", "是", "有")
DEFAULT_NO = ("0", "0.0", "no", "n", "false", "f", "nein", "non", "否", "无")

Scalar = str | int | float


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TableMapping(_Model):
    """Where one table is and how its columns are named."""

    file: str | None = Field(default=None, description="file or glob, relative to the mapping file")
    sheet: str | int | None = Field(default=None, description="Excel sheet name or 0-based number")
    header_row: int = Field(default=1, ge=1, description="1-based row of the header in the file")
    columns: dict[str, str] = Field(default_factory=dict,
                                    description="canonical name -> centre's column")

    def source(self, name: str) -> str:
        """The centre's column holding canonical field ``name``."""
        return self.columns.get(name, name)


class PatientsMapping(TableMapping):
    layout: Literal["patient", "patient_day"] = Field(
        default="patient", description="'patient_day': one row per patient and day; the "
        "patients table is derived from it (see 'take')")
    take: str = Field(default="constant", description="patient_day layout: 'constant' (the "
                      "value must be the same on every row of a patient), 'first', 'last' or "
                      "'day N' (the row nearest day N)")
    units: dict[str, str] = Field(default_factory=dict,
                                  description="patient column -> unit of the centre's values")
    values: dict[str, dict[str, Scalar]] = Field(
        default_factory=dict, description="canonical column -> {centre's value: canonical value}")

    @field_validator("take")
    @classmethod
    def _take_rule(cls, value: str) -> str:
        if _TAKE.match(value.strip()) is None:
            raise ValueError(f"take = {value!r}: expected 'constant', 'first', 'last' or "
                             "'day N' (e.g. 'day 0')")
        return value.strip()

    def take_rule(self) -> tuple[str, float | None]:
        """('constant' | 'first' | 'last' | 'day', the day for 'day N')."""
        hit = _TAKE.match(self.take)
        assert hit is not None
        if hit.group("day") is not None:
            return "day", float(hit.group("day"))
        return hit.group(1).casefold(), None

    @model_validator(mode="after")
    def _check(self) -> PatientsMapping:
        problems: list[str] = []
        for name in self.columns:
            if name in PATIENT_DAY_FIELDS and self.layout == "patient_day":
                continue
            if name not in PATIENT_COLUMNS:
                problems.append(f"[patients.columns] {name!r} is not a patients column "
                                f"(expected one of {', '.join(PATIENT_COLUMNS)})")
        for name in self.values:
            if name not in PATIENT_COLUMNS:
                problems.append(f"[patients.values] {name!r} is not a patients column")
        for name, unit in self.units.items():
            col = PATIENT_COLUMNS.get(name)
            if col is None or col.unit_kind is None:
                with_units = [c.name for c in PATIENT_COLUMNS.values() if c.unit_kind]
                problems.append(f"[patients.units] {name!r} takes no unit "
                                f"(columns with units: {', '.join(with_units)})")
                continue
            problems.extend(_unit_problem(col.unit_kind, unit, f"[patients.units] {name}",
                                          self.source(name)))
        if problems:
            raise ValueError("; ".join(problems))
        return self


class ObservationsMapping(TableMapping):
    layout: Literal["long", "wide", "patient_day"] = "long"
    pattern: str = Field(default="{analyte}_d{day}", description="wide column names")
    analytes: dict[str, str] = Field(default_factory=dict,
                                     description="centre's analyte name or column -> code")
    units: dict[str, str] = Field(default_factory=dict, description="analyte code -> unit")
    unknown_analytes: Literal["error", "ignore"] = Field(
        default="error", description="'ignore': rows of unmapped analytes are listed and left out")
    auto_analytes: bool = Field(
        default=False, description="wide and patient_day layouts: also read columns named by "
        "an analyte code (crp, albumin, ...) that neither [observations.analytes] nor "
        "[observations.units] names")

    @field_validator("pattern")
    @classmethod
    def _pattern_has_placeholders(cls, value: str) -> str:
        if value.count("{analyte}") != 1 or value.count("{day}") != 1:
            raise ValueError(f"pattern {value!r} must contain {{analyte}} and {{day}} once each")
        return value

    @model_validator(mode="after")
    def _check(self) -> ObservationsMapping:
        problems: list[str] = []
        for name in self.columns:
            if name not in OBSERVATION_FIELDS:
                problems.append(f"[observations.columns] {name!r} is not an observations field "
                                f"(expected one of {', '.join(OBSERVATION_FIELDS)})")
        for source, code in self.analytes.items():
            if code not in ANALYTES:
                problems.append(f"[observations.analytes] {source!r} = {code!r}: unknown analyte "
                                f"code (expected one of {', '.join(ANALYTES)})")
        for code, unit in self.units.items():
            if code not in ANALYTES:
                problems.append(f"[observations.units] {code!r} is not an analyte code "
                                f"(expected one of {', '.join(ANALYTES)})")
                continue
            problems.extend(_unit_problem(code, unit, f"[observations.units] {code}", code))
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def pattern_regex(self) -> re.Pattern[str]:
        """The wide-column pattern as a regular expression with groups ``analyte`` and ``day``."""
        parts = re.split(r"(\{analyte\}|\{day\})", self.pattern)
        out = []
        for part in parts:
            if part == "{analyte}":
                out.append(r"(?P<analyte>.+?)")
            elif part == "{day}":
                out.append(r"(?P<day>[-+]?\d+(?:[.,]\d+)?)")
            else:
                out.append(re.escape(part))
        return re.compile("^" + "".join(out) + "$", re.IGNORECASE)


class EventsMapping(TableMapping):
    layout: Literal["long", "patient_day"] = Field(
        default="long", description="'patient_day': one row per patient and day, one column "
        "per event ([events.wide])")
    events: dict[str, str] = Field(default_factory=dict,
                                   description="centre's event name -> canonical event")
    details: dict[str, str] = Field(default_factory=dict,
                                    description="centre's detail word -> canonical detail")
    wide: dict[str, str] = Field(default_factory=dict,
                                 description="patient_day layout: centre's column -> event")
    units: dict[str, str] = Field(default_factory=dict,
                                  description="patient_day layout: event -> unit of its values")

    @model_validator(mode="after")
    def _check(self) -> EventsMapping:
        problems: list[str] = []
        allowed = ("patient_id", "day", "date") if self.layout == "patient_day" else EVENT_FIELDS
        for name in self.columns:
            if name not in allowed:
                problems.append(f"[events.columns] {name!r} is not an events field "
                                f"(expected one of {', '.join(allowed)})")
        for source, event in self.events.items():
            if event not in EVENTS:
                problems.append(f"[events.events] {source!r} = {event!r}: unknown event "
                                f"(expected one of {', '.join(EVENTS)})")
        for source, event in self.wide.items():
            if event not in EVENTS:
                problems.append(f"[events.wide] {source!r} = {event!r}: unknown event "
                                f"(expected one of {', '.join(EVENTS)})")
        for event in self.units:
            if event not in EVENTS:
                problems.append(f"[events.units] {event!r} is not an event")
        if self.layout == "patient_day" and not self.wide:
            problems.append("layout = \"patient_day\" needs [events.wide] (your column = event)")
        if self.layout == "long" and (self.wide or self.units):
            problems.append("[events.wide] and [events.units] need layout = \"patient_day\"")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class Mapping(_Model):
    """A whole mapping file.  ``base_dir`` (not in the file) is where relative files live."""

    file: str | None = Field(default=None, description="default file of every table")
    decimal: Literal[".", ","] = "."
    delimiter: str | None = Field(default=None, min_length=1, max_length=1)
    encoding: str = "utf-8"
    date_format: str | None = None
    missing: list[str] = Field(default_factory=lambda: list(DEFAULT_MISSING))
    yes: list[str] = Field(default_factory=list)
    no: list[str] = Field(default_factory=list)
    patients: PatientsMapping = Field(default_factory=PatientsMapping)
    observations: ObservationsMapping | None = None
    events: EventsMapping | None = None
    base_dir: Path | None = Field(default=None, exclude=True)

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        import codecs

        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown text encoding {value!r}") from None
        return value

    def yes_words(self) -> set[str]:
        return {w.casefold() for w in (*DEFAULT_YES, *self.yes)}

    def no_words(self) -> set[str]:
        return {w.casefold() for w in (*DEFAULT_NO, *self.no)}


def _unit_problem(kind: str, unit: str, where: str, column: str) -> list[str]:
    try:
        conversion_for(kind, unit, column=column, table="mapping")
    except CrsscoreError as exc:
        return [f"{where} = {unit!r}: {exc}"]
    return []


def _format_validation_error(exc: ValidationError, source: str) -> str:
    lines = [f"mapping {source} is not valid:"]
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; see docs/mapping.md)"
        lines.append(f"  {loc}: {msg}")
    return "\n".join(lines)


def parse_mapping(data: dict[str, Any], *, base_dir: Path | None = None,
                  source: str = "<dict>") -> Mapping:
    """Validate a mapping given as a dict (as read from TOML); raise :class:`MappingError`."""
    try:
        mapping = Mapping.model_validate({**data, "base_dir": base_dir})
    except ValidationError as exc:
        raise MappingError(_format_validation_error(exc, source)) from None
    return mapping


def read_mapping(path: str | Path) -> Mapping:
    """Read and validate a TOML mapping file; relative ``file`` entries resolve beside it."""
    import tomllib  # only when a mapping file is read (start-up of `crsscore check`)

    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise MappingError(f"mapping file not found: {path}") from None
    except OSError as exc:
        raise MappingError(f"mapping file {path} cannot be read: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise MappingError(f"mapping file {path} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise MappingError(f"mapping file {path} is not valid TOML: {exc}") from None
    return parse_mapping(data, base_dir=path.resolve().parent, source=str(path))


def as_mapping(mapping: Mapping | dict[str, Any] | str | Path | None) -> Mapping | None:
    """Accept a :class:`Mapping`, a dict, a path to a TOML file, or None."""
    if mapping is None or isinstance(mapping, Mapping):
        return mapping
    if isinstance(mapping, dict):
        return parse_mapping(mapping)
    return read_mapping(mapping)


__all__ = [
    "EventsMapping",
    "Mapping",
    "ObservationsMapping",
    "PatientsMapping",
    "TableMapping",
    "as_mapping",
    "parse_mapping",
    "read_mapping",
]
