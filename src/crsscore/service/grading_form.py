"""ASTCT grading for the service: request models -> ``crsscore.grading`` day inputs.

The grading itself is :func:`crsscore.grading.grade_crs_day` / ``grade_icans_day``; this
module only translates the API's (and the form's) inputs and turns input problems the
grader reports into :class:`~crsscore.service.inputs.InputError`.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from crsscore.service.inputs import InputError, InputProblem
from crsscore.service.schemas import (
    TEMPERATURE_LIMITS,
    CrsDay,
    GradeOut,
    GradeRequest,
    GradeResult,
    IcansDay,
)


def grading_available() -> bool:
    try:
        module = importlib.import_module("crsscore.grading")
    except ImportError:
        return False
    return hasattr(module, "grade_crs_day") and hasattr(module, "grade_icans_day")


def _out(day: object, part: str) -> GradeOut:
    details: Mapping[str, object] = getattr(day, "details", {})
    problems = details.get("problems") or []
    if details.get("criterion_name") == "invalid input" and isinstance(problems, list):
        raise InputError([InputProblem(part, "value", str(p), "invalid", loc=("body", part))
                          for p in problems])
    notes = details.get("notes") or []
    return GradeOut(grade=getattr(day, "grade", None), criterion=str(getattr(day, "criterion", "")),
                    criterion_name=str(details.get("criterion_name", "")),
                    notes=[str(n) for n in notes] if isinstance(notes, list) else [])




def grade_day(request: GradeRequest) -> GradeResult:
    from crsscore.grading import (
        CrsDayInput,
        IcansDayInput,
        grade_crs_day,
        grade_icans_day,
    )

    c: CrsDay = request.crs
    if c.temperature_max is not None:
        lo, hi = TEMPERATURE_LIMITS[c.temperature_unit]
        if not lo <= c.temperature_max <= hi:
            raise InputError([InputProblem(
                "temperature_max", "value", "temperature outside the physiologically possible "
                "range (a typing error or the wrong unit?)", "out_of_range",
                f"{lo:g} to {hi:g} {c.temperature_unit}",
                loc=("body", "crs", "temperature_max"))])
    crs_in = CrsDayInput.model_validate({
        "temperature_max": c.temperature_max, "temperature_unit": c.temperature_unit,
        "hypotension": c.hypotension != "none",
        "hypotension_fluid_responsive": c.hypotension == "fluids",
        "vasopressors": [{"agent": a} for a in dict.fromkeys(c.vasopressors)]
        if c.hypotension == "vasopressors" else [],
        "oxygen": [{"device": o.device, "flow_l_min": o.flow_l_min} for o in c.oxygen],
        "crs_before": c.crs_before, "treated_before": c.treated,
        "death_cause": "crs" if c.death_from_crs else None})
    i: IcansDay = request.icans
    icans_in = IcansDayInput.model_validate(i.model_dump())
    return GradeResult(system="ASTCT 2019", crs=_out(grade_crs_day(crs_in), "crs"),
                       icans=_out(grade_icans_day(icans_in), "icans"))
