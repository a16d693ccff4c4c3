"""Grade one patient-day (calculator, REST API): typed inputs, grade and the deciding criterion.

The single-day functions build the day's raw events in the canonical format and run them
through the same vectorised code as :func:`~crsscore.grading.grade_cohort`, so the two can
never disagree.  What a cohort learns from earlier days (CRS already established, tocilizumab
or steroids already given, hours on vasopressors so far) is given explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from crsscore.data.cohort import Cohort
from crsscore.grading._features import Extraction, add_history, daily_inputs
from crsscore.grading.crs import GRADERS, NOT_GRADABLE
from crsscore.grading.icans import grade_icans
from crsscore.grading.settings import DEFAULT_SETTINGS, GradingSettings, check_system

_PID = "day"


class VasopressorDose(BaseModel):
    """One vasopressor (or inotrope) given that day."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    agent: str = Field(description="norepinephrine, epinephrine, dopamine, phenylephrine, "
                                   "vasopressin, angiotensin_ii, dobutamine or milrinone")
    dose: float | None = Field(default=None, description="highest dose that day")
    unit: str | None = Field(default=None, description="ug/min, ug/kg/min, U/min or U/h")
    hours: float | None = Field(default=None, ge=0, le=24, description="hours given that day")


class OxygenSupport(BaseModel):
    """One oxygen device used that day."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    device: str | None = Field(default=None, description="room_air, nasal_cannula, blow_by, "
                                                 "high_flow_nasal_cannula, facemask, "
                                                 "non_rebreather, venturi, cpap, bipap, "
                                                 "mechanical_ventilation")
    flow_l_min: float | None = Field(default=None, description="flow in L/min")


class CrsDayInput(BaseModel):
    """Everything needed to grade CRS on one day (and the little history that matters)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    temperature_max: float | None = Field(default=None, description="highest temperature that day")
    temperature_unit: str = "C"
    sbp_min_mmhg: float | None = Field(default=None, description="lowest systolic pressure (mmHg)")
    hypotension: bool = Field(default=False, description="hypotension recorded that day")
    hypotension_fluid_responsive: bool = False
    vasopressors: list[VasopressorDose] = Field(default_factory=list)
    oxygen: list[OxygenSupport] = Field(default_factory=list)
    fio2: float | None = Field(default=None, description="highest FiO2 (fraction or %)")
    tocilizumab: bool = Field(default=False, description="tocilizumab given that day")
    corticosteroid: bool = Field(default=False, description="corticosteroids given that day")
    antipyretic: bool = False
    crs_before: bool = Field(default=False, description="CRS (a febrile day) on an earlier day")
    treated_before: bool = Field(default=False, description="tocilizumab or corticosteroids earlier")
    antipyretic_before: bool = False
    days_since_last_fever: float | None = Field(default=None, ge=0)
    vasopressor_hours_before: float = Field(default=0.0, ge=0, description="consecutive hours on "
                                            "vasopressors up to the end of the previous day")
    organ_toxicity: dict[str, int] = Field(default_factory=dict,
                                           description="organ -> CTCAE grade 0-5")
    death_cause: str | None = Field(default=None, description="death that day: crs, icans, "
                                                      "infection, disease, other")
    age_years: float | None = Field(default=None, ge=0, le=110)
    weight_kg: float | None = Field(default=None, gt=0, le=300)


class IcansDayInput(BaseModel):
    """The ICANS domains assessed on one day."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    ice: int | None = Field(default=None, description="ICE score 0-10 (lowest that day)")
    capd: int | None = Field(default=None, description="CAPD total 0-32 (highest that day)")
    consciousness: str | None = Field(default=None, description="spontaneous, voice, touch, unarousable")
    seizure: str | None = Field(default=None, description="resolved_rapidly, nonconvulsive_eeg, "
                                                  "prolonged, repeated")
    motor_weakness: bool = False
    cerebral_edema: str | None = Field(default=None, description="focal or diffuse")
    age_years: float | None = Field(default=None, ge=0, le=110)
    death_cause: str | None = None


@dataclass(frozen=True)
class DayGrade:
    """A day's grade (None = not gradable), the criterion that set it, and details.

    ``criterion`` is the text shown to a user ("fever; hypotension on one vasopressor");
    ``details`` holds the system, the short criterion name and any input problems.
    """

    grade: int | None
    criterion: str
    details: dict[str, object] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {"grade": self.grade, "criterion": self.criterion, "details": self.details}


def _events(rows: list[tuple[str, object, str, str]], day: int) -> pd.DataFrame:
    return pd.DataFrame({
        "patient_id": [_PID] * len(rows), "day": [float(day)] * len(rows),
        "event": [r[0] for r in rows], "value": pd.array([r[1] for r in rows], dtype="object"),
        "unit": [r[2] for r in rows], "detail": [r[3] for r in rows]})


def _extract(patients: pd.DataFrame, obs: pd.DataFrame, ev: pd.DataFrame,
             settings: GradingSettings) -> Extraction:
    return daily_inputs(Cohort(patients=patients, observations=obs, events=ev), settings)


def grade_crs_day(day_input: CrsDayInput, settings: GradingSettings | None = None, *,
                  system: str = "astct") -> DayGrade:
    """CRS grade of one day by ``system`` (default ASTCT 2019) with the deciding criterion.

    >>> grade_crs_day(CrsDayInput(temperature_max=39.0,
    ...     vasopressors=[VasopressorDose(agent="norepinephrine")],
    ...     oxygen=[OxygenSupport(device="nasal_cannula", flow_l_min=4)])).grade
    3
    """
    settings = settings or DEFAULT_SETTINGS
    system = check_system(system)
    d = day_input
    day = settings.start_day
    rows: list[tuple[str, object, str, str]] = []
    if d.hypotension:
        rows.append(("hypotension", 1, "", "fluids" if d.hypotension_fluid_responsive else ""))
    for v in d.vasopressors:
        rows.append(("vasopressor", d_or_none(v.dose), v.unit or "", v.agent))
        if v.hours is not None:
            rows.append(("vasopressor_hours", v.hours, "h", v.agent))
    for o in d.oxygen:
        rows.append(("oxygen", d_or_none(o.flow_l_min), "L/min", o.device or ""))
    if d.fio2 is not None:
        rows.append(("fio2", d.fio2, "", ""))
    for name, given in (("tocilizumab", d.tocilizumab), ("corticosteroid", d.corticosteroid),
                        ("antipyretic", d.antipyretic)):
        if given:
            rows.append((name, None, "", ""))
    for organ, organ_grade in d.organ_toxicity.items():
        rows.append(("organ_toxicity", organ_grade, "", organ))
    if d.death_cause is not None:
        rows.append(("death", 1, "", d.death_cause))
    obs_rows = []
    if d.temperature_max is not None:
        obs_rows.append(("temp", d.temperature_max, d.temperature_unit))
    if d.sbp_min_mmhg is not None:
        obs_rows.append(("sbp", d.sbp_min_mmhg, "mmHg"))
    obs = pd.DataFrame({"patient_id": [_PID] * len(obs_rows), "day": [float(day)] * len(obs_rows),
                        "analyte": [r[0] for r in obs_rows], "value": [r[1] for r in obs_rows],
                        "unit": [r[2] for r in obs_rows]})
    patients = pd.DataFrame({"patient_id": [_PID], "age_years": [d.age_years],
                             "weight_kg": [d.weight_kg]})
    ext = _extract(patients, obs, _events(rows, day), settings)
    f = ext.features
    if f.n == 0:
        return DayGrade(None, NOT_GRADABLE + "no CRS information",
                        {"system": system, "criterion_name": "none", "problems": []})
    add_history(f, settings)
    f.established = f.established | d.crs_before
    f.episode = f.established
    f.treated = f.treated | d.treated_before | (d.antipyretic_before
                                                 and settings.antipyretics_waive_fever)
    febrile_today = bool(f.tmax[0] >= settings.fever_c)
    if settings.fever_waiver_days is not None and not febrile_today:
        recent = d.days_since_last_fever is not None and (
            d.days_since_last_fever <= settings.fever_waiver_days)
        f.waiver_recent = np.array([recent])
    if f.n_press_all[0] > 0:
        f.pressor_run_hours = f.pressor_run_hours + d.vasopressor_hours_before
    g = GRADERS[system](f, settings)
    grade = int(g.grade[0])
    return DayGrade(None if grade < 0 else grade, g.reasons[int(g.reason[0])],
                    {"system": system, "criterion_name": g.criterion_name(0),
                     "problems": [str(p) for p in ext.problems], "notes": ext.notes})


def d_or_none(x: float | None) -> object:
    return None if x is None else float(x)


def grade_icans_day(day_input: IcansDayInput,
                    settings: GradingSettings | None = None) -> DayGrade:
    """ASTCT 2019 ICANS grade of one day with the deciding domain.

    >>> grade_icans_day(IcansDayInput(ice=5, consciousness="voice")).grade
    2
    """
    settings = settings or DEFAULT_SETTINGS
    d = day_input
    day = settings.start_day
    rows: list[tuple[str, object, str, str]] = []
    if d.ice is not None:
        rows.append(("ice", d.ice, "", ""))
    if d.capd is not None:
        rows.append(("capd", d.capd, "", ""))
    if d.consciousness is not None:
        rows.append(("consciousness", None, "", d.consciousness))
    if d.seizure is not None:
        rows.append(("seizure", None, "", d.seizure))
    if d.motor_weakness:
        rows.append(("motor_weakness", 1, "", ""))
    if d.cerebral_edema is not None:
        rows.append(("cerebral_edema", None, "", d.cerebral_edema))
    if d.death_cause is not None:
        rows.append(("death", 1, "", d.death_cause))
    patients = pd.DataFrame({"patient_id": [_PID], "age_years": [d.age_years]})
    obs = pd.DataFrame({c: [] for c in ("patient_id", "day", "analyte", "value", "unit")})
    ext = _extract(patients, obs, _events(rows, day), settings)
    f = ext.features
    if f.n == 0:
        return DayGrade(None, NOT_GRADABLE + "no neurological assessment",
                        {"system": "astct", "criterion_name": "none", "problems": []})
    add_history(f, settings)
    g = grade_icans(f, settings)
    grade = int(g.grade[0])
    return DayGrade(None if grade < 0 else grade, g.reasons[int(g.reason[0])],
                    {"system": "astct", "criterion_name": g.criterion_name(0),
                     "problems": [str(p) for p in ext.problems], "notes": ext.notes})
