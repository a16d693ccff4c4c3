"""CRS and ICANS grading from raw daily events (ASTCT 2019 and the older scales).

Public API:

- :func:`grade_cohort` -> :class:`GradingResult` (daily grades, per-patient outcomes,
  disagreements with the centre's recorded grades, warnings such as a missing events table);
- :func:`require_crs_outcomes`: refuse (DataError) a grading whose severe-CRS outcomes are
  unknown (no events table and no recorded grades), before deriving a score;
- :func:`grade_crs_day` / :func:`grade_icans_day` -> :class:`DayGrade` for one patient-day
  (typed inputs :class:`CrsDayInput` / :class:`IcansDayInput`);
- :func:`concordance` / :func:`compare_systems` between two grading systems;
- :class:`GradingSettings`: every convention the consensus leaves open.
"""

from crsscore.grading.cohort import GradingResult, grade_cohort, require_crs_outcomes
from crsscore.grading.concordance import Concordance, compare_systems, concordance
from crsscore.grading.day import (
    CrsDayInput,
    DayGrade,
    IcansDayInput,
    OxygenSupport,
    VasopressorDose,
    grade_crs_day,
    grade_icans_day,
)
from crsscore.grading.settings import (
    DEFAULT_SETTINGS,
    SYSTEMS,
    GradingSettings,
    GradingSettingsError,
)

__all__ = [
    "DEFAULT_SETTINGS",
    "SYSTEMS",
    "Concordance",
    "CrsDayInput",
    "DayGrade",
    "GradingResult",
    "GradingSettings",
    "GradingSettingsError",
    "IcansDayInput",
    "OxygenSupport",
    "VasopressorDose",
    "compare_systems",
    "concordance",
    "grade_cohort",
    "grade_crs_day",
    "grade_icans_day",
    "require_crs_outcomes",
]
