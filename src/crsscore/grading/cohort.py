"""Grade a whole cohort: daily CRS and ICANS grades, per-patient outcomes, disagreements."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from crsscore.columnar import frame_of
from crsscore.data.cohort import Cohort
from crsscore.data.schema import CRS_EVENTS
from crsscore.errors import DataError, Problem
from crsscore.grading._combine import CRITERIA, Graded
from crsscore.grading._features import (
    DailyFeatures,
    Recorded,
    add_history,
    daily_inputs,
)
from crsscore.grading.crs import GRADERS, NOT_GRADABLE
from crsscore.grading.icans import grade_icans, young_child
from crsscore.grading.outcomes import int64_array, patient_outcomes
from crsscore.grading.settings import DEFAULT_SETTINGS, SYSTEMS, GradingSettings, check_system

DAILY_COLUMNS = ("patient_id", "day", "crs_grade", "icans_grade", "crs_reason", "icans_reason",
                 "crs_criterion", "icans_criterion", "crs_source", "icans_source")
DISAGREEMENT_COLUMNS = ("patient_id", "level", "day", "kind", "system", "recorded_grade",
                        "derived_grade", "derived_reason", "explanation")


@dataclass(frozen=True)
class GradingResult:
    """Daily grades and per-patient outcomes of one grading run.

    Attributes
    ----------
    daily:
        One row per patient-day with any CRS/ICANS information: ``patient_id``, ``day``
        (floor of the event day), ``crs_grade`` and ``icans_grade`` (pandas ``Int64``;
        ``<NA>`` = not gradable), ``crs_reason``/``icans_reason`` (what set the grade, or why
        the day is not gradable), ``crs_criterion``/``icans_criterion`` (short name of the
        deciding criterion) and ``crs_source``/``icans_source`` (``derived``/``recorded``).
    outcomes:
        (Built on first access, as ``disagreements``: the ward monitor reads only the daily
        grades.)  One row per patient of ``cohort.patients``: ``crs_max_grade``, ``crs_onset_day``,
        ``crs_severe_onset_day``, ``severe_crs`` (0/1), ``days_at_grade_0``..``5`` (CRS),
        ``icans_max_grade``, ``icans_onset_day``, ``icans_severe_onset_day``,
        ``severe_icans``, ``icans_days_at_grade_0``..``5``, ``crs_days_not_gradable``,
        ``icans_days_not_gradable``, ``grade_source`` (``derived``/``recorded``/``none``, for CRS) and
        ``icans_grade_source``.
    disagreements:
        Where the centre recorded its own grades (``crs_grade_recorded`` /
        ``icans_grade_recorded`` events) and crsscore derived one: the rows that differ, per
        day and per patient maximum, with the reason.
    notes:
        Plain-language notes about the run (settings that mattered, rows ignored...).
    system:
        CRS grading system used (``astct``, ``lee2014``, ``penn``, ``mskcc``, ``cartox``,
        ``ctcae5``); ICANS is always ASTCT 2019.
    problems:
        Input rows that made a day not gradable, each naming table, row (as in the file)
        and column.
    warnings:
        What makes outcomes unknown for the whole cohort (no events table...): to be shown
        loudly by every caller; :func:`require_crs_outcomes` turns them into an error.
    crs_events_missing:
        True when the cohort has no CRS event at all (no events table, an empty one, or one
        without any hypotension, vasopressor, oxygen, FiO2, treatment or death row): derived
        CRS days are then not gradable and only recorded grades give outcomes.
    """

    daily: pd.DataFrame
    notes: list[str]
    system: str
    settings: GradingSettings = DEFAULT_SETTINGS
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    crs_events_missing: bool = False
    _outcomes_frame: _Lazy = field(kw_only=True, repr=False, compare=False)
    _disagreements_frame: _Lazy = field(kw_only=True, repr=False, compare=False)

    @property
    def outcomes(self) -> pd.DataFrame:
        """Per-patient outcomes (see the class)."""
        return self._outcomes_frame.get()

    @property
    def disagreements(self) -> pd.DataFrame:
        """Recorded vs derived grades that differ (see the class)."""
        return self._disagreements_frame.get()

    def summary(self) -> pd.DataFrame:
        """Patients by maximum CRS and ICANS grade (``NA`` = no gradable day)."""
        rows = []
        for col, label in (("crs_max_grade", "CRS"), ("icans_max_grade", "ICANS")):
            values = self.outcomes[col]
            for grade in range(6):
                rows.append({"outcome": label, "max_grade": str(grade),
                             "patients": int((values == grade).sum())})
            rows.append({"outcome": label, "max_grade": "NA",
                         "patients": int(values.isna().sum())})
        return pd.DataFrame(rows)

    def to_frame(self) -> pd.DataFrame:
        """The daily grades."""
        return self.daily


class _Lazy:
    """A frame built on first use and then kept (what it is built from is released).

    Two threads using it first at once may both build it: equal frames, the last one kept.
    """

    def __init__(self, build: Callable[[], pd.DataFrame]) -> None:
        self._build: Callable[[], pd.DataFrame] | None = build
        self._frame: pd.DataFrame | None = None

    def get(self) -> pd.DataFrame:
        build = self._build
        if build is not None:
            self._frame = build()
            self._build = None  # after the frame is set: a concurrent first use finds it
        assert self._frame is not None
        return self._frame


def _categorical(codes: npt.NDArray[np.int32], items: list[str]) -> pd.Categorical:
    """The categorical of ``items[codes]`` (codes made by grading: valid, not checked)."""
    return pd.Categorical.from_codes(codes, dtype=_category_dtype(tuple(items)), validate=False)


@functools.lru_cache(maxsize=64)
def _category_dtype(items: tuple[str, ...]) -> pd.CategoricalDtype:
    """The (unordered) categorical dtype of ``items``; cached, as building one checks its
    categories (the criteria and sources are the same on every call)."""
    return pd.CategoricalDtype(pd.Index(list(items), dtype="object"))


def grade_features(f: DailyFeatures, system: str, settings: GradingSettings) -> tuple[Graded, Graded]:
    """CRS (by ``system``) and ICANS grades for prepared features."""
    return GRADERS[system](f, settings), grade_icans(f, settings)


def grade_cohort(cohort: Cohort, system: str = "astct",
                 settings: GradingSettings | None = None) -> GradingResult:
    """Grade CRS (by ``system``) and ICANS (ASTCT 2019) for every patient-day of a cohort.

    Raw events and observations are reduced to one row per patient-day (day = floor of the
    event day, from ``settings.start_day`` on), graded without a Python loop per day, and
    summarised per patient.  A day whose input is missing or contradictory is not gradable
    (``<NA>``) with the reason, never graded 0 by default.  Patients with no raw CRS data but
    grades recorded by the centre get those grades (``grade_source == 'recorded'``).

    Parameters
    ----------
    cohort:
        A :class:`~crsscore.data.cohort.Cohort` in the canonical format.
    system:
        CRS grading system: one of ``astct`` (default), ``lee2014``, ``penn``, ``mskcc``,
        ``cartox``, ``ctcae5``.
    settings:
        :class:`~crsscore.grading.settings.GradingSettings`; the defaults when None.

    Examples
    --------
    >>> import pandas as pd
    >>> from crsscore.data.cohort import Cohort
    >>> c = Cohort(patients=pd.DataFrame({"patient_id": ["P1"]}),
    ...            observations=pd.DataFrame({"patient_id": ["P1"], "day": [1.5],
    ...                                       "analyte": ["temp"], "value": [38.4],
    ...                                       "unit": ["C"]}))
    >>> int(grade_cohort(c).daily["crs_grade"].iloc[0])
    1
    """
    settings = settings or DEFAULT_SETTINGS
    system = check_system(system)
    ext = daily_inputs(cohort, settings)
    f = ext.features
    add_history(f, settings)
    crs, icans = grade_features(f, system, settings)
    notes = list(ext.notes)
    warnings_: list[str] = []
    no_crs_events = _crs_events_missing(cohort)
    if no_crs_events is not None:
        # Without hypotension/oxygen information a day is never graded 0 (or 1) by default.
        crs = Graded(grade=np.full(f.n, -1, dtype=np.int8),
                     reason=np.zeros(f.n, dtype=np.int32),
                     criterion=np.full(f.n, CRITERIA.index("no events"), dtype=np.int8),
                     reasons=[f"{NOT_GRADABLE}{no_crs_events}"])
        warnings_.append(f"CRS cannot be graded from raw data: {no_crs_events}; every derived "
                         "CRS day is not gradable and severe CRS is unknown unless the "
                         "centre's recorded grades (crs_grade_recorded events) are given")
    n_pat = len(f.patient_ids)

    crs_grade = crs.grade.copy()
    icans_grade = icans.grade.copy()
    crs_reason = list(crs.reasons)
    icans_reason = list(icans.reasons)
    crs_rc = crs.reason.copy()
    icans_rc = icans.reason.copy()
    crs_crit = crs.criterion.copy()
    icans_crit = icans.criterion.copy()
    crs_src = np.zeros(f.n, dtype=np.int8)  # 0 derived, 1 recorded
    icans_src = np.zeros(f.n, dtype=np.int8)

    # which patients have derived grades; recorded grades fill the others
    derived_pat = {k: np.zeros(n_pat, dtype=bool) for k in ("crs", "icans")}
    derived_pat["crs"][f.patient[crs_grade >= 0]] = True
    derived_pat["icans"][f.patient[icans_grade >= 0]] = True
    rec = ext.recorded
    recorded_pat = {k: np.zeros(n_pat, dtype=bool) for k in ("crs", "icans")}
    rec_kind, rec_pos, rec_grade, rec_system = rec.kind, rec.pos, rec.grade, rec.system
    for kind, grade_arr, rc, reasons, crit, src in (
            ("crs", crs_grade, crs_rc, crs_reason, crs_crit, crs_src),
            ("icans", icans_grade, icans_rc, icans_reason, icans_crit, icans_src)):
        of_kind = rec_kind == kind
        if not of_kind.any():
            continue
        pos = rec_pos[of_kind]
        pat = f.patient[pos]
        recorded_pat[kind][pat] = True
        use = ~derived_pat[kind][pat]
        if use.any():
            p = pos[use]
            r_system = rec_system[of_kind]
            grade_arr[p] = rec_grade[of_kind][use].astype(np.int8)
            for i, sysname in zip(p, r_system[use], strict=True):
                text = f"recorded by the centre ({sysname or 'system not stated'})"
                if text not in reasons:
                    reasons.append(text)
                rc[i] = reasons.index(text)
            crit[p] = CRITERIA.index("recorded")
            src[p] = 1
            systems = sorted({str(s) for s in r_system[use]})
            other = [s for s in systems if s and s != (system if kind == "crs" else "astct")]
            n_used = int(np.unique(pat[use]).size)
            notes.append(f"{n_used} patient(s) have no gradable raw {kind.upper()} data: "
                         f"their {kind.upper()} grades are the centre's recorded grades"
                         + (f" (recorded with {', '.join(other)}, not {system})"
                            if other and kind == "crs" else ""))
    young_ice = young_child(f, settings) & np.isfinite(f.ice) & np.isnan(f.capd)
    if young_ice.any():
        notes.append(f"{int(young_ice.sum())} day(s) of children younger than "
                     f"{settings.capd_below_age_years:g} years have an ICE score but no CAPD: "
                     "ICE is not used for them (CAPD replaces ICE; setting "
                     "capd_below_age_years)")

    pid = f.patient_ids
    daily = frame_of({  # pd.DataFrame(dict) at a fraction of its fixed cost on one patient
        "patient_id": pid.array.take(f.patient),  # of pid's dtype
        "day": f.day.astype(np.int64),
        "crs_grade": int64_array(crs_grade, crs_grade < 0),
        "icans_grade": int64_array(icans_grade, icans_grade < 0),
        "crs_reason": _categorical(crs_rc, crs_reason),
        "icans_reason": _categorical(icans_rc, icans_reason),
        "crs_criterion": _categorical(crs_crit.astype(np.int32), list(CRITERIA)),
        "icans_criterion": _categorical(icans_crit.astype(np.int32), list(CRITERIA)),
        "crs_source": _categorical(crs_src.astype(np.int32), ["derived", "recorded"]),
        "icans_source": _categorical(icans_src.astype(np.int32), ["derived", "recorded"]),
    })

    outcomes = _Lazy(functools.partial(
        _outcomes, f.patient, f.day, pid, crs_grade, icans_grade, derived_pat, recorded_pat,
        settings.severe_grade))
    disagreements = _Lazy(functools.partial(
        _disagreements, f, rec, derived_pat, system, settings, crs, icans)
        if len(rec) else _NO_RECORDED.copy)
    unknown_systems = _unknown_systems(f, rec, derived_pat)
    if unknown_systems:
        notes.append(f"recorded grades name system(s) crsscore does not know "
                     f"({', '.join(unknown_systems)}): compared with {system}")
    if "observations" in cohort.missing_tables:
        warnings_.append("no observations table: temperature and blood pressure are unknown, "
                         "so fever cannot be assessed (days without it are not gradable)")
    if no_crs_events is not None:
        unknown = int(outcomes.get()["severe_crs"].isna().sum())
        warnings_.append(f"severe CRS is unknown for {unknown} of {n_pat} patient(s)")
    if cohort.synthetic:
        notes.append("SYNTHETIC DATA: grades of simulated patients")
    problems = [_in_file(cohort, p) for p in ext.problems]
    return GradingResult(daily=daily, notes=notes, system=system, settings=settings,
                         problems=problems, warnings=warnings_,
                         crs_events_missing=no_crs_events is not None,
                         _outcomes_frame=outcomes, _disagreements_frame=disagreements)


def _outcomes(patient: npt.NDArray[np.int64], day: npt.NDArray[np.int64], pid: pd.Index,
              crs_grade: npt.NDArray[np.int8], icans_grade: npt.NDArray[np.int8],
              derived_pat: dict[str, npt.NDArray[np.bool_]],
              recorded_pat: dict[str, npt.NDArray[np.bool_]], severe_grade: int) -> pd.DataFrame:
    """The outcomes frame (:class:`GradingResult`) from the final daily grades."""
    n_pat = len(pid)
    out: dict[str, object] = {"patient_id": pid.to_numpy()}
    out.update(patient_outcomes(patient, day, crs_grade, n_pat, prefix="crs",
                                severe_grade=severe_grade, days_at_grade="days_at_grade_"))
    out.update(patient_outcomes(patient, day, icans_grade, n_pat, prefix="icans",
                                severe_grade=severe_grade, days_at_grade="icans_days_at_grade_"))
    for kind, col in (("crs", "grade_source"), ("icans", "icans_grade_source")):
        out[col] = np.where(derived_pat[kind], "derived",
                            np.where(recorded_pat[kind], "recorded", "none"))
    return pd.DataFrame(out)


def _crs_events_missing(cohort: Cohort) -> str | None:
    """Why the cohort has no CRS event information at all, or None when it has some."""
    if "events" not in cohort.missing_tables:
        return None  # in-memory cohorts say so themselves (``missing_tables``)
    ev = cohort.events
    if len(ev) and "event" in ev.columns:
        names = {str(n).strip().lower() for n in pd.unique(ev["event"].dropna())}
        if not names & CRS_EVENTS:
            return ("the events table has no CRS event (no hypotension, vasopressor, oxygen, "
                    "FiO2, tocilizumab, corticosteroid or death row)")
    return "no events table (hypotension, vasopressors, oxygen and deaths unknown)"


def _in_file(cohort: Cohort, problem: Problem) -> Problem:
    """The problem with its row numbered as in the input file (header = row 1)."""
    if problem.row is None or problem.table not in ("events", "observations", "patients"):
        return problem
    table, row = cohort.locate(problem.table, problem.row)
    return dataclasses.replace(problem, table=table, row=row)


def require_crs_outcomes(result: GradingResult) -> None:
    """Refuse to go on (e.g. to derive a score) when severe CRS cannot be known.

    Raises :class:`~crsscore.errors.DataError` when the cohort has no CRS event information
    (no, or an empty, events table) and some patients have no recorded grade either, or when
    no patient has a known severe-CRS outcome at all.  The message names the table and what
    to supply.
    """
    o = result.outcomes
    unknown = int(o["severe_crs"].isna().sum()) if len(o) else 0
    if result.crs_events_missing and unknown:
        raise DataError([Problem(
            table="events", code="no_events", column="event",
            message=f"severe CRS is unknown for {unknown} of {len(o)} patient(s): "
                    f"{result.warnings[0] if result.warnings else 'no CRS events'}",
            expected="an events table with hypotension, vasopressor, oxygen and death rows "
                     "(or the centre's crs_grade_recorded grades for every patient)")])
    if len(o) and unknown == len(o):
        raise DataError([Problem(
            table="events", code="no_outcome",
            message=f"severe CRS is unknown for all {len(o)} patient(s): no day could be graded",
            expected="temperatures and events from which CRS can be graded, or recorded "
                     "grades")])


#: The disagreements frame without recorded grades, and with recorded grades that all agree
#: (built once: an empty frame costs pandas more than grading one patient; copied per call).
_NO_RECORDED: Final = pd.DataFrame({c: pd.Series(dtype="object") for c in DISAGREEMENT_COLUMNS})
_NO_DISAGREEMENT: Final = pd.DataFrame([], columns=list(DISAGREEMENT_COLUMNS))


def _compared(f: DailyFeatures, rec: Recorded, derived_pat: dict[str, npt.NDArray[np.bool_]],
              kind: str) -> npt.NDArray[np.intp]:
    """Recorded grades of ``kind`` compared with derived ones: those of patients with a
    derived grade of that kind (positions in ``rec``)."""
    idx = np.flatnonzero(rec.kind == kind)
    return idx[derived_pat[kind][f.patient[rec.pos[idx]]]] if idx.size else idx


def _unknown_systems(f: DailyFeatures, rec: Recorded,
                     derived_pat: dict[str, npt.NDArray[np.bool_]]) -> list[str]:
    """Systems named by compared recorded CRS grades that crsscore does not know, sorted."""
    if len(rec) == 0:
        return []
    names = {str(s) for s in rec.system[_compared(f, rec, derived_pat, "crs")]}
    return sorted(n for n in names if n and n not in SYSTEMS)


def _disagreements(f: DailyFeatures, rec: Recorded,
                   derived_pat: dict[str, npt.NDArray[np.bool_]], system: str,
                   settings: GradingSettings, crs: Graded, icans: Graded) -> pd.DataFrame:
    """Recorded vs derived grades for patients having both, per day and per patient maximum.

    A recorded CRS grade is compared with crsscore's grade by the system the centre named
    (``detail``), when crsscore knows it, else with ``system``.
    """
    rows: list[dict[str, object]] = []
    cache: dict[str, Graded] = {system: crs}
    # plain arrays (pandas' per-call overhead is most of the cost for one patient)
    rec_pos, rec_grade, rec_system = rec.pos, rec.grade, rec.system
    rec_pid, rec_day = rec.patient_id, rec.day
    for kind in ("crs", "icans"):
        idx = _compared(f, rec, derived_pat, kind)
        if idx.size == 0:
            continue
        # one group per system, in sorted order, rows in their order (as a sorted groupby)
        for sysname in sorted(set(rec_system[idx])):
            gidx = idx[rec_system[idx] == sysname]
            name = str(sysname)
            if kind == "crs":
                target = name if name in SYSTEMS else system
                if target not in cache:
                    cache[target] = GRADERS[target](f, settings)
                g = cache[target]
            else:
                target, g = "astct", icans
            gpos = rec_pos[gidx]
            derived = g.grade[gpos]
            recorded = rec_grade[gidx]
            for i in np.flatnonzero(derived != recorded):
                d = int(derived[i])
                why = g.reasons[g.reason[gpos[i]]]
                if d < 0:
                    expl = f"derived day is {why}; centre recorded grade {recorded[i]}"
                else:
                    expl = (f"{target} rules give grade {d} ({why}); centre recorded grade "
                            f"{recorded[i]}")
                rows.append({"patient_id": rec_pid[gidx[i]], "level": "day",
                             "day": int(rec_day[gidx[i]]), "kind": kind, "system": target,
                             "recorded_grade": int(recorded[i]),
                             "derived_grade": None if d < 0 else d,
                             "derived_reason": why, "explanation": expl})
            # per-patient maximum (vectorised: one reduction over all days, one over records)
            n_pat = len(f.patient_ids)
            der_max_all = np.full(n_pat, -1, dtype=np.int64)
            np.maximum.at(der_max_all, f.patient, g.grade.astype(np.int64))
            pats = f.patient[gpos]
            rec_max_all = np.full(n_pat, -1, dtype=np.int64)
            np.maximum.at(rec_max_all, pats, recorded)
            with_rec = np.flatnonzero(rec_max_all >= 0)
            differ = with_rec[der_max_all[with_rec] != rec_max_all[with_rec]]
            for p in differ:
                rec_max, der_max = int(rec_max_all[p]), int(der_max_all[p])
                rows.append({
                    "patient_id": f.patient_ids[p], "level": "patient", "day": None,
                    "kind": kind, "system": target, "recorded_grade": rec_max,
                    "derived_grade": None if der_max < 0 else der_max,
                    "derived_reason": "maximum over gradable days",
                    "explanation": f"maximum {kind.upper()} grade: {target} rules give "
                                   f"{'not gradable' if der_max < 0 else der_max}, centre "
                                   f"recorded {rec_max}"})
    if not rows:
        return _NO_DISAGREEMENT.copy()
    frame = pd.DataFrame(rows, columns=list(DISAGREEMENT_COLUMNS))
    if len(frame):
        frame["day"] = frame["day"].astype("Int64")
        frame["derived_grade"] = frame["derived_grade"].astype("Int64")
        frame = frame.sort_values(["patient_id", "kind", "level", "day"], kind="stable",
                                  ignore_index=True)
    return frame
