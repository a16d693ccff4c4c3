"""FHIR R4 Observations to canonical long rows (then the one ingestion path).

Resources are parsed and validated by ``fhir.resources`` (its R4B models: Observation and
Bundle are the same as R4's).  An Observation becomes one canonical observation row:

- ``code.coding`` with system ``http://loinc.org`` and a code of the analyte table
  (:data:`crsscore.data.schema.ANALYTES`, column ``loinc``) gives the analyte; components
  with such codes (a blood-pressure panel's systolic value) give one row each;
- ``valueQuantity``: value, and the UCUM code (system ``http://unitsofmeasure.org``) or the
  unit text, translated by :data:`UCUM_TO_UNIT` to the spelling of :mod:`crsscore.units`,
  which converts and range-checks it exactly as the loaders do;
- ``subject.reference`` ``Patient/<patient_id>`` names a patient created before with
  ``POST /api/v1/patients``;
- ``effectiveDateTime`` (or ``effectivePeriod.start``) gives the day since infusion: the
  time as written (the ward's wall clock, no time-zone shift) minus midnight of the
  patient's ``infusion_date``, in days.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from crsscore.data.schema import ANALYTES
from crsscore.errors import DataError, Problem

LOINC_SYSTEM = "http://loinc.org"
UCUM_SYSTEM = "http://unitsofmeasure.org"

#: LOINC code -> analyte code (from the analyte table).
LOINC_TO_ANALYTE: dict[str, str] = {a.loinc: code for code, a in ANALYTES.items() if a.loinc}

#: UCUM codes whose spelling differs from crsscore's; others pass through unchanged.
UCUM_TO_UNIT: dict[str, str] = {
    "10*9/L": "10^9/L", "10*3/uL": "10^3/uL", "10*3/mm3": "10^3/uL", "/uL": "cells/uL",
    "/mm3": "cells/uL", "Cel": "C", "[degF]": "F", "mm[Hg]": "mmHg", "mg/L{FEU}": "mg/L FEU",
    "ug/mL{FEU}": "ug/mL FEU", "ng/mL{FEU}": "ng/mL FEU", "1": "fraction", "%": "%",
    "U/L": "U/L", "[iU]/L": "U/L", "ukat/L": "ukat/L",
}

MAX_ENTRIES = 5000


def _problem(where: str, message: str, code: str = "invalid", value: object = None,
             expected: str | None = None) -> Problem:
    return Problem(table=where, message=message, code=code,
                   value=None if value is None else str(value)[:80], expected=expected)


def _patient_id(obs: Any, where: str, problems: list[Problem]) -> str | None:
    ref = getattr(getattr(obs, "subject", None), "reference", None)
    if not ref or not str(ref).startswith("Patient/") or len(str(ref)) <= len("Patient/"):
        problems.append(_problem(where, "subject must reference Patient/<patient_id>",
                                 code="missing_subject", expected="Patient/<patient_id>"))
        return None
    return str(ref)[len("Patient/"):]


def _when(obs: Any) -> datetime | None:
    when = getattr(obs, "effectiveDateTime", None)
    if when is None and getattr(obs, "effectivePeriod", None) is not None:
        when = obs.effectivePeriod.start
    if isinstance(when, datetime):
        return when.replace(tzinfo=None)
    if isinstance(when, date):
        return datetime(when.year, when.month, when.day)
    return None


def _analyte(codeable: Any) -> str | None:
    for c in (getattr(codeable, "coding", None) or []):
        if c.system == LOINC_SYSTEM and c.code in LOINC_TO_ANALYTE:
            return LOINC_TO_ANALYTE[c.code]
    return None


def _quantity(q: Any, where: str, problems: list[Problem]) -> tuple[float, str] | None:
    if q is None or q.value is None:
        problems.append(_problem(where, "valueQuantity with a value is needed",
                                 code="missing_value"))
        return None
    code = q.code if q.system == UCUM_SYSTEM and q.code else (q.unit or q.code)
    if not code:
        problems.append(_problem(where, "valueQuantity has no unit", code="missing_unit",
                                 expected="a UCUM code"))
        return None
    return float(q.value), UCUM_TO_UNIT.get(str(code), str(code))


def observation_rows(obs: Any, where: str, infusion: Callable[[str], str | None],
                     problems: list[Problem]) -> list[dict[str, Any]]:
    """Canonical rows of one parsed Observation (problems appended, located at ``where``)."""
    pid = _patient_id(obs, where, problems)
    when = _when(obs)
    if when is None:
        problems.append(_problem(where, "effectiveDateTime (or effectivePeriod.start) is needed",
                                 code="missing_time"))
    if pid is None or when is None:
        return []
    inf = infusion(pid)
    if inf is None:
        problems.append(_problem(where, "the patient is not known to the monitor or has no "
                                 "infusion_date (needed to count days since infusion)",
                                 code="unknown_patient",
                                 expected="POST /api/v1/patients with infusion_date first"))
        return []
    try:
        d0 = datetime.strptime(inf, "%Y-%m-%d")
    except ValueError:
        problems.append(_problem(where, "the patient's infusion_date is not a date",
                                 code="invalid_date"))
        return []
    day = (when - d0).total_seconds() / 86400.0
    parts: list[tuple[str, Any, Any]] = [("", obs.code, getattr(obs, "valueQuantity", None))]
    parts += [(f".component[{k}]", c.code, getattr(c, "valueQuantity", None))
              for k, c in enumerate(getattr(obs, "component", None) or [])]
    rows = []
    for suffix, codeable, qty in parts:
        analyte = _analyte(codeable)
        if analyte is None:
            continue
        got = _quantity(qty, where + suffix, problems)
        if got is not None:
            rows.append({"patient_id": pid, "day": day, "analyte": analyte,
                         "value": got[0], "unit": got[1], "_where": where + suffix})
    if not rows and not any(p.table.startswith(where) for p in problems):
        codes = [c.code for c in (getattr(obs.code, "coding", None) or [])][:3]
        problems.append(_problem(where, "no LOINC code of a known analyte", code="unknown_code",
                                 value=", ".join(str(c) for c in codes) or None,
                                 expected="one of " + ", ".join(sorted(LOINC_TO_ANALYTE))))
    return rows


def parse_observation(payload: dict[str, Any], infusion: Callable[[str], str | None]
                      ) -> list[dict[str, Any]]:
    """Rows of a single Observation resource; :class:`DataError` when it cannot be used."""
    from fhir.resources.R4B.observation import Observation

    problems: list[Problem] = []
    obs = _validate(Observation, payload, "Observation", problems)
    rows = observation_rows(obs, "Observation", infusion, problems) if obs is not None else []
    if problems:
        raise DataError(problems)
    return rows


def parse_bundle(payload: dict[str, Any], infusion: Callable[[str], str | None]
                 ) -> list[dict[str, Any]]:
    """Rows of every Observation in a Bundle (any other resource refuses the Bundle)."""
    from fhir.resources.R4B.bundle import Bundle
    from fhir.resources.R4B.observation import Observation

    problems: list[Problem] = []
    bundle = _validate(Bundle, payload, "Bundle", problems)
    if bundle is None:
        raise DataError(problems)
    entries = bundle.entry or []
    if len(entries) > MAX_ENTRIES:
        raise DataError([_problem("Bundle", f"too many entries ({len(entries)})",
                                  code="too_many", expected=f"at most {MAX_ENTRIES}")])
    rows: list[dict[str, Any]] = []
    for k, entry in enumerate(entries):
        where = f"Bundle.entry[{k}]"
        res = entry.resource
        if not isinstance(res, Observation):
            problems.append(_problem(where, "only Observation resources are accepted",
                                     code="unsupported_resource",
                                     value=getattr(res, "__resource_type__", None)))
            continue
        rows += observation_rows(res, where, infusion, problems)
    if problems:
        raise DataError(problems)
    return rows


def _validate(model: Any, payload: dict[str, Any], where: str,
              problems: list[Problem]) -> Any:
    from pydantic import ValidationError

    if not isinstance(payload, dict) or payload.get("resourceType") != where:
        problems.append(_problem(where, f"a FHIR {where} resource is expected",
                                 code="wrong_resource", expected=f'resourceType "{where}"'))
        return None
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        for err in exc.errors()[:20]:
            loc = ".".join(str(x) for x in err.get("loc", ()))
            problems.append(_problem(f"{where}.{loc}" if loc else where,
                                     str(err.get("msg", "invalid"))[:200], code="fhir_invalid"))
        return None
    except (TypeError, ValueError) as exc:  # fhir.resources raises these on odd input
        problems.append(_problem(where, f"invalid resource ({type(exc).__name__})",
                                 code="fhir_invalid"))
        return None


__all__ = ["LOINC_TO_ANALYTE", "UCUM_TO_UNIT", "parse_bundle", "parse_observation"]
