"""Settings for every convention the grading consensus statements leave open.

Each field is one documented choice with a default.  The defaults follow the ASTCT 2019 tables
literally where they say something, and the most common reading where they do not.  Fields
marked *(unverified)* implement rules that come only from secondary sources; see
``docs/grading.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, Literal

from crsscore.errors import CrsscoreError

SYSTEMS: tuple[str, ...] = ("astct", "lee2014", "penn", "mskcc", "cartox", "ctcae5")


class GradingSettingsError(CrsscoreError, ValueError):
    """A grading setting outside its allowed values."""


@dataclass(frozen=True)
class GradingSettings:
    """Conventions used to grade CRS and ICANS.

    Attributes
    ----------
    fever_c:
        Fever threshold in degrees Celsius, inclusive (ASTCT: >= 38.0).
    start_day:
        Days before this day since infusion are not graded (pre-infusion fevers are not CRS).
    hypotension_sbp_mmhg:
        Systolic pressure below which a measured ``sbp`` counts as hypotension in adults.
        ASTCT gives no number; 90 mmHg is the common adult cut-off.
    hypotension_rule:
        ``"age"`` (default): children aged 10 or less use the PALS limit (70 mmHg below one
        year, 70 + 2 x age in years from 1 to 10), others ``hypotension_sbp_mmhg``; patients
        with unknown age use ``hypotension_sbp_mmhg``.  ``"fixed"``: everyone uses
        ``hypotension_sbp_mmhg``.
    sbp_defines_hypotension:
        Whether a low measured SBP alone counts as hypotension (otherwise only ``hypotension``
        events do).
    vasopressin_alone:
        ASTCT leaves vasopressin as the only agent open.  ``"vasopressor"`` (default): it is one
        vasopressor (grade 3).  ``"hypotension"``: it is treated like hypotension without
        vasopressors (grade 2).
    inotropes_are_vasopressors:
        Whether dobutamine and milrinone count as vasopressors (default: no).
    low_flow_max_l_min:
        Highest nasal-cannula flow that is still low flow (ASTCT: <= 6 L/min).
    facemask_at_low_flow:
        ``"grade3"`` (default, as the ASTCT table lists facemask under grade 3 whatever the
        flow) or ``"by_flow"`` (a simple facemask at <= ``low_flow_max_l_min`` is grade 2).
    antipyretics_waive_fever:
        Whether antipyretics, like tocilizumab and corticosteroids, waive the fever requirement
        once CRS is established (some tables say so; default: no).
    fever_waiver:
        ASTCT rule: once CRS is established and tocilizumab or steroids were given, fever is no
        longer needed.  Turn off to require fever on every CRS day.
    fever_waiver_days:
        If set, the waiver lasts only this many days after the last febrile day (default: for
        the rest of follow-up, as the consensus sets no limit).
    older_scales_need_fever_episode:
        Older scales (Lee 2014, Penn, MSKCC, CARTOX, CTCAE) do not require fever.  When true
        (default), they grade only days on or after the first febrile day, so that hypoxia
        before any CRS (an infection) is not called CRS.
    severe_grade:
        Grade at or above which CRS / ICANS counts as severe (default 3).
    capd_below_age_years:
        Children younger than this use the CAPD total instead of ICE (sources disagree
        whether age 12 uses ICE or CAPD; default: CAPD below 12).
    icans_death_is_grade5:
        Death from ICANS is ICANS grade 5 *(unverified: the ASTCT ICANS table stops at 4)*.
    high_dose_hours:
        High-dose vasopressors must be sustained at least this many hours (Lee 2014: 3 h)
        *(unverified)*.
    fio2_cutoff:
        FiO2 separating grade 2 from grade 3 oxygen need in the older scales (0.40).
    estimate_fio2_from_flow:
        When no FiO2 was recorded, estimate it as 0.21 + 0.04 x flow for nasal cannula and
        blow-by, and take >= 0.60 for a non-rebreather (rule of thumb; default on).  Other
        devices without a recorded FiO2 leave FiO2 unknown.
    noninvasive_is_ventilation:
        Whether CPAP/BiPAP count as "ventilator support"/"mechanical ventilation" in the
        older scales *(unverified; default: yes)*.
    mskcc_long_vasopressor_hours:
        MSKCC: vasopressors for at least this many consecutive hours are grade 3 (24 h).
    """

    fever_c: float = 38.0
    start_day: int = 0
    hypotension_sbp_mmhg: float = 90.0
    hypotension_rule: Literal["age", "fixed"] = "age"
    sbp_defines_hypotension: bool = True
    vasopressin_alone: Literal["vasopressor", "hypotension"] = "vasopressor"
    inotropes_are_vasopressors: bool = False
    low_flow_max_l_min: float = 6.0
    facemask_at_low_flow: Literal["grade3", "by_flow"] = "grade3"
    antipyretics_waive_fever: bool = False
    fever_waiver: bool = True
    fever_waiver_days: float | None = None
    older_scales_need_fever_episode: bool = True
    severe_grade: int = 3
    capd_below_age_years: float = 12.0
    icans_death_is_grade5: bool = True
    high_dose_hours: float = 3.0
    fio2_cutoff: float = 0.40
    estimate_fio2_from_flow: bool = True
    noninvasive_is_ventilation: bool = True
    mskcc_long_vasopressor_hours: float = 24.0

    def __post_init__(self) -> None:
        checks: list[tuple[str, bool, str]] = [
            ("fever_c", 36.0 <= self.fever_c <= 41.0, "a temperature between 36 and 41 C"),
            ("hypotension_sbp_mmhg", 40.0 <= self.hypotension_sbp_mmhg <= 140.0,
             "a pressure between 40 and 140 mmHg"),
            ("hypotension_rule", self.hypotension_rule in ("age", "fixed"), "'age' or 'fixed'"),
            ("vasopressin_alone", self.vasopressin_alone in ("vasopressor", "hypotension"),
             "'vasopressor' or 'hypotension'"),
            ("low_flow_max_l_min", 0.0 < self.low_flow_max_l_min <= 15.0,
             "a flow between 0 and 15 L/min"),
            ("facemask_at_low_flow", self.facemask_at_low_flow in ("grade3", "by_flow"),
             "'grade3' or 'by_flow'"),
            ("fever_waiver_days", self.fever_waiver_days is None or self.fever_waiver_days >= 0,
             "None or a number of days >= 0"),
            ("severe_grade", self.severe_grade in (1, 2, 3, 4, 5), "an integer 1-5"),
            ("capd_below_age_years", 0.0 <= self.capd_below_age_years <= 25.0,
             "an age between 0 and 25 years"),
            ("high_dose_hours", 0.0 <= self.high_dose_hours <= 24.0, "hours between 0 and 24"),
            ("fio2_cutoff", 0.21 < self.fio2_cutoff < 1.0, "a fraction between 0.21 and 1"),
            ("mskcc_long_vasopressor_hours", 0.0 < self.mskcc_long_vasopressor_hours <= 240.0,
             "hours between 0 and 240"),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise GradingSettingsError(
                    f"The {name!r} grading setting must be {expected}. "
                    f"Got {getattr(self, name)!r} instead."
                )

    def with_(self, **changes: Any) -> GradingSettings:
        """A copy with some settings changed (validated)."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise GradingSettingsError(
                f"Unknown grading setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        return replace(self, **changes)

    def to_dict(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


DEFAULT_SETTINGS = GradingSettings()


def check_system(system: str) -> str:
    """Return the normalised system name or raise naming the allowed ones."""
    name = system.strip().lower().replace("-", "").replace("_", "").replace(" ", "")
    aliases = {"lee": "lee2014", "ctcae": "ctcae5", "ctcaev5": "ctcae5", "astct2019": "astct"}
    name = aliases.get(name, name)
    if name not in SYSTEMS:
        raise GradingSettingsError(
            f"The 'system' parameter must be one of {', '.join(SYSTEMS)}. Got {system!r} instead."
        )
    return name
