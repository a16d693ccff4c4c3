"""``/api/v1/grading``: ASTCT 2019 CRS and ICANS grade of one patient-day."""

from __future__ import annotations

from fastapi import APIRouter

from crsscore.service.grading_form import grade_day
from crsscore.service.routers.calculate import ERRORS
from crsscore.service.schemas import GradeRequest, GradeResult

router = APIRouter()


@router.post("/day", response_model=GradeResult,
             responses={k: v for k, v in ERRORS.items() if k != 404},
             summary="Grade one patient-day (ASTCT 2019 CRS and ICANS)")
def grade_one_day(request: GradeRequest) -> GradeResult:
    """Each grade comes with the criterion that set it (e.g. "fever; hypotension on one
    vasopressor").  A day without any information is not gradable (grade null), not 0."""
    return grade_day(request)
