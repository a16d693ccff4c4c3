"""Values at a landmark: the one rule that reads each patient's laboratory values there.

A landmark model predicts, at a fixed time after infusion, the outcome of the patients still at
risk then.  :class:`Landmark` (built by :func:`parse_landmark`) says where and how values are
read; :func:`canonical_observations` and :func:`read_values` read them.  That is the one
reading rule: :func:`build_landmark_table` and the score cards' extractor
(:func:`crsscore.scores.cohort_inputs.card_inputs`) both use it.  :func:`build_landmark_table` turns
the long ``observations`` table into one row per patient:

* **Which value.**  For each analyte, the measurement nearest the landmark time ``L`` within
  the window ``[L - before, L + after]`` (``window=1.0`` means +-1 day; a pair gives
  ``(before, after)``).  Ties (two values equally far from ``L``) go to the earlier one, since
  it was known first.  ``<code>_day`` records the day of the value used.  No value in the
  window gives NaN (never a value from outside the window).  ``aggregate=`` chooses another
  rule over the same window (``max``, ``min``, ``first``, ``last``).
* **Units.**  Each observation's value is converted from its row's ``unit`` to the analyte's
  canonical unit; a day or value that is not a number, or a missing, unknown or ambiguous
  unit, raises an error naming the row (nothing is dropped silently).
* **Time of prediction.**  A value measured up to ``L + after`` may be used, so predictions
  are made at the end of the window (``prediction_day``); with the default window a "day 7"
  model may use a value drawn on day 8.  Use ``window=(1, 0)`` for a model that only looks
  back.  A landmark given as a day (``day7``) means ``L = 7.0`` days after infusion, in the
  same time scale as ``observations.day``.
* **Before lymphodepletion** (``pre-ld``): the value nearest day -5 (``pre_ld_day``) among
  values measured on or before day -3 (``pre_ld_latest``, the last day of a standard
  fludarabine/cyclophosphamide course) and no earlier than ``pre_ld_day - before``.
* **Patients already at the outcome.**  Given ``outcomes`` (e.g. ``GradingResult.outcomes``:
  ``patient_id``, ``severe_crs``, ``crs_severe_onset_day``), a patient whose severe CRS began
  before the landmark day (onset day < ``L``) is flagged ``outcome_before_landmark``.
  ``prior_outcome="exclude"`` (the default) drops those patients, ``"keep"`` keeps them
  flagged; either way :attr:`LandmarkTable.n_prior_outcome` counts them and
  :attr:`LandmarkTable.excluded` lists every patient left out, with the reason.  Patients
  with severe CRS but no onset day, patients who died before the landmark, and patients with
  no outcome information are handled in the same explicit way (see ``reason`` codes below);
  nobody is dropped silently.

Reason codes in ``excluded``: ``outcome_before_landmark``, ``onset_unknown`` (severe CRS with
no onset day: cannot tell whether it preceded the landmark), ``died_before_landmark``,
``no_outcome`` (patient absent from ``outcomes`` or outcome missing).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from crsscore.data.cohort import Cohort
from crsscore.data.schema import ANALYTES, NAMED_LANDMARKS
from crsscore.errors import DataError, Problem, UnitError
from crsscore.units import canonical_unit, conversion_for, rescale

PriorOutcome = Literal["exclude", "keep"]
Aggregate = Literal["nearest", "max", "min", "first", "last"]
FloatMatrix = npt.NDArray[np.float64]

#: How a window's values become one value (see :class:`Landmark`).
AGGREGATES: Final[tuple[Aggregate, ...]] = ("nearest", "max", "min", "first", "last")

#: Latest day still counted as "before lymphodepletion" by default (Flu/Cy on days -5 to -3).
PRE_LD_LATEST: Final = -3.0

OUTCOME_COLUMNS: Final = ("patient_id", "severe_crs", "crs_severe_onset_day")
REASONS: Final = {
    "outcome_before_landmark": "severe CRS began before the landmark",
    "onset_unknown": "severe CRS with no onset day: cannot tell whether it preceded the landmark",
    "died_before_landmark": "died before the landmark",
    "no_outcome": "no outcome information",
}

_DAY_RE = re.compile(r"^d(?:ay)?\s*([+-]?\d+(?:\.\d+)?)$")


@dataclass(frozen=True)
class Landmark:
    """Where and how values are read: a landmark day, a window of measurement days and an
    aggregate.  The one spec shared by the landmark table and the score cards.

    Observations with ``earliest <= day <= latest`` (inclusive, to within 1e-9 days) and a value
    compete; per patient and analyte the ``aggregate`` picks one:

    * ``nearest``: nearest to ``day``; ties go to the earlier measurement, then to table order.
    * ``max`` / ``min``: largest / smallest value; ties in table order.
    * ``first`` / ``last``: earliest / latest day; ties on the same day in table order.

    Build one with :func:`parse_landmark`, and place a card's window with :meth:`over`.
    """

    label: str
    day: float
    earliest: float
    latest: float
    aggregate: Aggregate = "nearest"

    def __post_init__(self) -> None:
        if self.aggregate not in AGGREGATES:
            raise ValueError(f"The 'aggregate' parameter must be one of {', '.join(AGGREGATES)}. "
                             f"Got {self.aggregate!r} instead.")
        if not all(math.isfinite(x) for x in (self.day, self.earliest, self.latest)) or \
                self.earliest > self.latest:
            raise ValueError(f"landmark {self.label}: window from day {self.earliest:g} to day "
                             f"{self.latest:g} must be finite and in order")

    @property
    def prediction_day(self) -> float:
        """The time at which every value used is known (end of the window)."""
        return self.latest

    @property
    def window(self) -> tuple[float, float]:
        """The window as ``(before, after)``: days before and after the landmark day."""
        return (self.day - self.earliest, self.latest - self.day)

    def over(self, lo: float, hi: float, aggregate: Aggregate = "nearest") -> Landmark:
        """The same landmark read over days ``day + lo`` to ``day + hi`` with ``aggregate``
        (a score card's ``day_window`` and ``aggregate``).

        >>> parse_landmark("pre-ld").over(-7.0, 0.5, "max")
        Landmark(label='pre-ld', day=-5.0, earliest=-12.0, latest=-4.5, aggregate='max')
        """
        return Landmark(self.label, self.day, self.day + float(lo), self.day + float(hi),
                        aggregate)


def parse_landmark(landmark: str | float, *, window: float | tuple[float, float] = 1.0,
                   pre_ld_day: float | None = None,
                   pre_ld_latest: float = PRE_LD_LATEST,
                   aggregate: Aggregate = "nearest") -> Landmark:
    """Parse ``pre-ld``, ``day0``, ``day7``, ``day-1``, ``d3``, ``7`` or a number of days.

    >>> parse_landmark("day7")
    Landmark(label='day7', day=7.0, earliest=6.0, latest=8.0, aggregate='nearest')
    >>> parse_landmark("pre-ld", aggregate="max")
    Landmark(label='pre-ld', day=-5.0, earliest=-6.0, latest=-3.0, aggregate='max')
    """
    before, after = _window(window)
    if isinstance(landmark, bool):
        raise ValueError(f"The 'landmark' parameter must be pre-ld, day0, day3, day7, dayN or a "
                         f"number of days. Got {landmark!r} instead.")
    if isinstance(landmark, int | float | np.integer | np.floating):
        day = float(landmark)
        label = _day_label(day)
    else:
        text = str(landmark).strip().lower().replace("_", "-")
        if text in ("pre-ld", "preld", "pre-lymphodepletion", "baseline"):
            day = float(NAMED_LANDMARKS["pre-ld"] if pre_ld_day is None else pre_ld_day)
            if not math.isfinite(day) or day > pre_ld_latest:
                raise ValueError(f"pre_ld_day ({day}) must be on or before pre_ld_latest "
                                 f"({pre_ld_latest})")
            return Landmark("pre-ld", day, day - before, float(pre_ld_latest), aggregate)
        if text in NAMED_LANDMARKS:
            day = float(NAMED_LANDMARKS[text])
        else:
            m = _DAY_RE.match(text)
            try:
                day = float(m.group(1)) if m else float(text)
            except ValueError:
                raise ValueError(
                    f"The 'landmark' parameter must be pre-ld, day0, day3, day7, dayN (also "
                    f"day-1) or a number of days. Got {landmark!r} instead.") from None
        label = _day_label(day)
    if not math.isfinite(day):
        raise ValueError(f"The 'landmark' parameter must be a finite day. Got {landmark!r}.")
    return Landmark(label, day, day - before, day + after, aggregate)


def landmark_day(landmark: str | float, *, pre_ld_day: float | None = None) -> float:
    """Day (since infusion) of a landmark: ``landmark_day("day7") == 7.0``, ``pre-ld`` -> -5."""
    return parse_landmark(landmark, pre_ld_day=pre_ld_day).day


def _day_label(day: float) -> str:
    return f"day{int(day)}" if float(day).is_integer() else f"day{day:g}"


def _window(window: float | tuple[float, float] | Sequence[float]) -> tuple[float, float]:
    if isinstance(window, int | float | np.integer | np.floating) and not isinstance(window, bool):
        parts = (float(window), float(window))
    elif isinstance(window, tuple | list) and len(window) == 2:
        parts = (float(window[0]), float(window[1]))
    else:
        raise ValueError(f"The 'window' parameter must be a number of days or a pair "
                         f"(before, after). Got {window!r} instead.")
    if not all(math.isfinite(p) and p >= 0 for p in parts):
        raise ValueError(f"The 'window' parameter must be finite and >= 0. Got {window!r} "
                         "instead.")
    return parts


# ---------------------------------------------------------------------------- reading values

_EPS: Final = 1e-9  # days: absorbs float error in fractional days (36 h = 1.5 d)
_LISTED: Final = 20  # located problems listed per kind before the rest are left out
_OBSERVATION_COLUMNS: Final = ("patient_id", "day", "analyte", "value", "unit")


def patient_index(patients: pd.DataFrame) -> pd.Index:
    """``patients.patient_id`` as text, in table order; a missing column, a blank or a repeated
    identifier raises :class:`~crsscore.errors.DataError` naming the first row."""
    if "patient_id" not in patients.columns:
        raise DataError([Problem(table="patients", column="patient_id",
                                 message="column missing", code="missing_column")])
    raw = patients["patient_id"]
    blank = raw.isna().to_numpy(dtype=bool)
    if blank.any():
        raise DataError([Problem(table="patients", row=int(np.flatnonzero(blank)[0]),
                                 column="patient_id", message="patient_id missing",
                                 code="missing_id")])
    ids = raw.astype(str)
    dup = ids.duplicated().to_numpy(dtype=bool)
    if dup.any():
        raise DataError([Problem(table="patients", row=int(np.flatnonzero(dup)[0]),
                                 column="patient_id", code="duplicate_id",
                                 message=f"{int(dup.sum())} duplicated patient_id value(s); "
                                         "patient_id must be unique")])
    index: pd.Index = pd.Index(ids.to_numpy(dtype=object), name="patient_id", dtype=object)
    return index


@dataclass(frozen=True)
class CanonicalObservations:
    """The observations of some analytes, in canonical units, aligned to a patient index.

    One entry per observation row, in table order (which breaks ties): ``patient`` (position in
    ``patient_ids``, -1 for a patient not in the patients table), ``analyte`` (position in
    ``analytes``), ``day``, ``value`` (canonical unit; NaN where blank) and ``position`` (the
    row's position in the observations table, whose index is ``source_index``).
    """

    patient_ids: pd.Index
    analytes: tuple[str, ...]
    patient: npt.NDArray[np.int64]
    analyte: npt.NDArray[np.int64]
    day: npt.NDArray[np.float64]
    value: npt.NDArray[np.float64]
    position: npt.NDArray[np.int64]
    source_index: pd.Index

    def observed(self) -> npt.NDArray[np.bool_]:
        """(patients, analytes): any observation of the analyte, whatever its day or value."""
        out = np.zeros((len(self.patient_ids), len(self.analytes)), dtype=bool)
        known = self.patient >= 0
        out[self.patient[known], self.analyte[known]] = True
        return out

    def rows(self, entries: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Index labels of the source rows of ``entries`` (-1 where a label is not an integer)."""
        return _labels(self.source_index, self.position[entries])


def canonical_observations(observations: pd.DataFrame, analytes: Sequence[str],
                           patient_ids: pd.Index) -> CanonicalObservations:
    """The rows of ``analytes`` (codes matched after trimming and lower-casing), each value
    converted from its row's ``unit`` to the analyte's canonical unit.

    Raises once with every problem (up to 20 of each kind), located by the row's index label:
    :class:`~crsscore.errors.DataError` for a missing column, a day that is missing or not a
    number, or a value that is text; :class:`~crsscore.errors.UnitError` when the only problems
    are units (missing, unknown or ambiguous).  A blank value is kept (NaN), not an error.
    """
    codes = tuple(analytes)
    if observations.empty or not codes:
        return _no_observations(patient_ids, codes)
    absent = [c for c in _OBSERVATION_COLUMNS if c not in observations.columns]
    if absent:
        raise DataError([Problem(table="observations", column=c, message="column missing",
                                 code="missing_column") for c in absent])
    raw_analyte = observations["analyte"]
    spelled = {u: str(u).strip().lower() for u in pd.unique(raw_analyte) if not _blank(u)}
    keep = raw_analyte.isin([u for u, code in spelled.items() if code in codes]).to_numpy(
        dtype=bool, na_value=False)
    if not keep.any():
        return _no_observations(patient_ids, codes)
    kept_code, kept = pd.factorize(raw_analyte[keep])
    analyte = np.array([codes.index(spelled[u]) for u in kept], dtype=np.int64)[kept_code]
    position = np.flatnonzero(keep).astype(np.int64)

    def located(i: npt.NDArray[np.intp]) -> list[int | None]:
        return [None if r < 0 else int(r) for r in _labels(observations.index, position[i])]

    problems: list[Problem] = []
    raw_day = observations["day"][keep]
    day = pd.to_numeric(raw_day, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = np.flatnonzero(np.isnan(day))[:_LISTED]
    for i, row in zip(bad, located(bad), strict=True):
        problems.append(Problem(table="observations", row=row, column="day",
                                message="day missing or not a number",
                                value=str(raw_day.iloc[i]), code="invalid_day"))
    raw_value = observations["value"][keep]
    value = pd.to_numeric(raw_value, errors="coerce").to_numpy(dtype=np.float64,
                                                               na_value=np.nan)
    bad = np.flatnonzero(np.isnan(value))
    if len(bad) and not pd.api.types.is_numeric_dtype(raw_value.dtype):
        bad = bad[[not _blank(x) for x in raw_value.iloc[bad]]][:_LISTED]
        for i, row in zip(bad, located(bad), strict=True):
            problems.append(Problem(table="observations", row=row, column="value",
                                    message="value is not a number",
                                    value=str(raw_value.iloc[i]), code="not_numeric"))
    value, first_rows, unit_problems = _in_canonical_units(analyte, codes,
                                                           observations["unit"][keep], value)
    problems.extend(replace(p, row=row) for p, row in
                    zip(unit_problems, located(first_rows), strict=True))
    if problems:
        units_only = all(p.code.endswith("unit") for p in problems)
        raise UnitError(problems) if units_only else DataError(problems)

    pid_code, pid_unique = pd.factorize(observations["patient_id"][keep])
    where = patient_ids.get_indexer(pd.Index([str(x) for x in pid_unique], dtype=object))
    patient = np.where(pid_code >= 0, where[pid_code], -1).astype(np.int64)
    return CanonicalObservations(patient_ids, codes, patient, analyte, day, value, position,
                                 observations.index)


def _no_observations(patient_ids: pd.Index, codes: tuple[str, ...]) -> CanonicalObservations:
    ints = np.empty(0, dtype=np.int64)
    return CanonicalObservations(patient_ids, codes, ints, ints, np.empty(0), np.empty(0), ints,
                                 pd.RangeIndex(0))


def _labels(index: pd.Index, position: npt.NDArray[Any]) -> npt.NDArray[np.int64]:
    """Index labels at ``position`` as integers; -1 where a label is not an integer."""
    if isinstance(index, pd.RangeIndex):
        return (index.start + index.step * np.asarray(position)).astype(np.int64)
    if pd.api.types.is_integer_dtype(index.dtype):
        labels: npt.NDArray[np.int64] = index.to_numpy(dtype=np.int64)[position]
        return labels
    return np.array([int(x) if isinstance(x, int | np.integer) else -1
                     for x in index[position]], dtype=np.int64)


def _blank(x: object) -> bool:
    return x is None or x is pd.NA or (isinstance(x, float) and math.isnan(x)) or \
        str(x).strip() == ""


def _in_canonical_units(analyte: npt.NDArray[np.int64], codes: Sequence[str], unit: pd.Series,
                        value: npt.NDArray[np.float64]
                        ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.intp], list[Problem]]:
    """``value`` converted row by row from ``unit`` to the canonical unit of ``codes[analyte]``.

    One conversion per distinct (analyte, unit) pair and one problem per bad pair, with the
    pair's first row (returned beside the problems so the caller can locate them); the rows of
    a bad pair become NaN."""
    unit_code, unit_unique = pd.factorize(unit)
    width = len(unit_unique) + 1
    key = analyte * width + (unit_code + 1)
    present = np.bincount(key) > 0 if len(key) else np.zeros(0, dtype=bool)
    pair = (np.cumsum(present) - 1)[key]
    keys = np.flatnonzero(present)
    scale, offset = np.ones(len(keys)), np.zeros(len(keys))
    problems: list[Problem] = []
    first: list[int] = []
    for i, k in enumerate(keys):
        u = int(k) % width - 1
        given = None if u < 0 or _blank(unit_unique[u]) else str(unit_unique[u])
        try:
            conv = conversion_for(codes[int(k) // width], given, column="unit",
                                  table="observations")
        except UnitError as exc:
            problems.extend(exc.problems)
            first.extend([int(np.argmax(pair == i))] * len(exc.problems))
            scale[i], offset[i] = np.nan, np.nan
            continue
        scale[i], offset[i] = conv.scale, conv.offset
    if np.all(scale == 1.0) and np.all(offset == 0.0):
        return value, np.array(first, dtype=np.intp), problems
    return rescale(value, scale[pair], offset[pair]), np.array(first, dtype=np.intp), problems


def to_canonical(sub: pd.DataFrame) -> pd.DataFrame:
    """``sub`` (``analyte``, ``unit``, numeric ``value``) with values in canonical units; a
    missing, unknown or ambiguous unit raises UnitError."""
    code, unique = pd.factorize(sub["analyte"].astype(str))
    value, first, problems = _in_canonical_units(
        code.astype(np.int64), [str(u) for u in unique], sub["unit"],
        pd.to_numeric(sub["value"]).to_numpy(dtype=np.float64, na_value=np.nan))
    if problems:
        rows = _labels(sub.index, first)
        raise UnitError([replace(p, row=None if r < 0 else int(r))
                         for p, r in zip(problems, rows, strict=True)])
    return sub.assign(value=value)


@dataclass(frozen=True)
class LandmarkValues:
    """Per patient (rows, in ``patient_ids`` order) and analyte (columns): the value read at a
    landmark (canonical unit, NaN when none), the day it was measured and its source row
    (-1 when none), the latest day the aggregate looked at (every competing day for
    ``max``/``min``, else the day used) and whether the patient has any observation of the
    analyte inside the window, blank or not (``in_window``).  ``n_orphan`` counts window rows
    with a value whose patient is not in ``patient_ids``."""

    landmark: Landmark
    patient_ids: pd.Index
    analytes: tuple[str, ...]
    value: FloatMatrix
    day: FloatMatrix
    last_day: FloatMatrix
    row: npt.NDArray[np.int64]
    in_window: npt.NDArray[np.bool_]
    n_orphan: int


def read_values(observations: CanonicalObservations, landmark: Landmark,
                analytes: Sequence[str] | None = None) -> LandmarkValues:
    """The value of each analyte for each patient at ``landmark`` (its window and aggregate).

    The one reading rule: the landmark table and the score cards both call it.
    ``analytes`` defaults to every analyte of ``observations``.

    >>> obs = pd.DataFrame({"patient_id": ["A", "A", "B"], "day": [6.5, 7.5, 9.0],
    ...                     "analyte": ["crp"] * 3, "value": [1.0, 2.0, 3.0],
    ...                     "unit": ["mg/dL", "mg/L", "mg/L"]})
    >>> ids = pd.Index(["A", "B"])
    >>> got = read_values(canonical_observations(obs, ["crp"], ids), parse_landmark("day7"))
    >>> got.value.tolist(), got.day.tolist(), got.in_window.tolist()
    ([[10.0], [nan]], [[6.5], [nan]], [[True], [False]])
    """
    codes = observations.analytes if analytes is None else tuple(analytes)
    n, k = len(observations.patient_ids), len(codes)
    column = np.full(len(observations.analytes), -1, dtype=np.int64)
    for j, code in enumerate(codes):
        column[observations.analytes.index(code)] = j
    day_all = observations.day
    take = np.flatnonzero((day_all >= landmark.earliest - _EPS)
                          & (day_all <= landmark.latest + _EPS))
    a = column[observations.analyte[take]]
    take = take[a >= 0]
    p, a = observations.patient[take], column[observations.analyte[take]]
    has_value = ~np.isnan(observations.value[take])
    n_orphan = int((has_value & (p < 0)).sum())
    in_window = np.zeros((n, k), dtype=bool)
    in_window[p[p >= 0], a[p >= 0]] = True

    take = take[has_value & (p >= 0)]
    p, a = observations.patient[take], column[observations.analyte[take]]
    d, v = observations.day[take], observations.value[take]
    agg = landmark.aggregate
    # np.lexsort is stable: equal keys keep table order
    if agg == "nearest":
        order = np.lexsort((d, np.round(np.abs(d - landmark.day), 9), a, p))
    elif agg in ("first", "last"):
        order = np.lexsort((d, a, p))
    else:
        order = np.lexsort((-v if agg == "max" else v, a, p))
    take, p, a, d, v = take[order], p[order], a[order], d[order], v[order]
    start = np.ones(len(p), dtype=bool)
    start[1:] = (p[1:] != p[:-1]) | (a[1:] != a[:-1])
    chosen = start
    if agg == "last":  # the end of each group
        chosen = np.ones_like(start)
        chosen[:-1] = start[1:]

    value = np.full((n, k), np.nan)
    day = np.full((n, k), np.nan)
    row = np.full((n, k), -1, dtype=np.int64)
    pc, ac = p[chosen], a[chosen]
    value[pc, ac] = v[chosen]
    day[pc, ac] = d[chosen]
    row[pc, ac] = observations.rows(take[chosen])
    if agg in ("max", "min"):  # every value in the window competed
        last_day = np.full((n, k), -np.inf)
        np.maximum.at(last_day, (p, a), d)
        last_day[np.isinf(last_day)] = np.nan
    else:
        last_day = day.copy()
    return LandmarkValues(landmark, observations.patient_ids, codes, value, day, last_day, row,
                          in_window, n_orphan)


@dataclass(frozen=True)
class LandmarkTable:
    """One row per patient at a landmark (see the module docstring for every rule).

    Attributes
    ----------
    data:
        ``patient_id``, the patients columns, one column per analyte (canonical unit, NaN when
        no value in the window) and ``<code>_day``; with outcomes also ``severe_crs``,
        ``crs_severe_onset_day``, ``outcome_before_landmark`` and ``died_before_landmark``.
    landmark, landmark_day, window, earliest, latest:
        The landmark label (``day7``, ``pre-ld``), its day, the window ``(before, after)`` in
        days and the range of measurement days that could be used.
    policy:
        ``exclude`` or ``keep`` (what was done with patients already at the outcome).
    n_prior_outcome:
        Patients whose severe CRS began before the landmark (excluded or kept, per policy).
    excluded:
        Patients left out: ``patient_id``, ``reason`` (code), ``detail``.
    flagged:
        Patients kept although already at the outcome (policy ``keep``), same columns.
    analytes, units:
        The analyte columns and their canonical units.
    n_patients_in:
        Patients in the cohort.
    synthetic:
        True when the cohort is simulated.
    aggregate:
        How the window's values became one (``nearest`` unless asked otherwise).
    """

    data: pd.DataFrame
    landmark: str
    landmark_day: float
    window: tuple[float, float]
    earliest: float
    latest: float
    policy: PriorOutcome
    n_prior_outcome: int
    excluded: pd.DataFrame
    flagged: pd.DataFrame
    analytes: tuple[str, ...]
    units: dict[str, str]
    n_patients_in: int
    has_outcomes: bool
    synthetic: bool = False
    notes: list[str] = field(default_factory=list)
    aggregate: Aggregate = "nearest"

    @property
    def prediction_day(self) -> float:
        """Day at which every value used is known (end of the window)."""
        return self.latest

    @property
    def n(self) -> int:
        return len(self.data)

    @property
    def n_events(self) -> int | None:
        """Severe CRS among the rows (None without outcomes)."""
        if not self.has_outcomes:
            return None
        return int(pd.to_numeric(self.data["severe_crs"], errors="coerce").fillna(0).sum())

    def to_frame(self) -> pd.DataFrame:
        """The landmark table itself."""
        return self.data

    def summary(self) -> pd.DataFrame:
        """Per analyte: unit, patients with a value, % missing, median and quartiles, and
        the median offset of the day used from the landmark."""
        rows: list[dict[str, Any]] = []
        n = max(self.n, 1)
        for code in self.analytes:
            v = pd.to_numeric(self.data[code], errors="coerce")
            d = pd.to_numeric(self.data[f"{code}_day"], errors="coerce")
            avail = int(v.notna().sum())
            rows.append({
                "analyte": code, "unit": self.units[code], "n": avail,
                "missing_pct": round(100.0 * (self.n - avail) / n, 1),
                "median": float(v.median()) if avail else math.nan,
                "q1": float(v.quantile(0.25)) if avail else math.nan,
                "q3": float(v.quantile(0.75)) if avail else math.nan,
                "median_offset_days": float((d - self.landmark_day).median()) if avail
                else math.nan,
            })
        return pd.DataFrame(rows, columns=["analyte", "unit", "n", "missing_pct", "median",
                                           "q1", "q3", "median_offset_days"])

    def reasons(self) -> dict[str, int]:
        """Patients excluded, by reason code."""
        if len(self.excluded) == 0:
            return {}
        counts = self.excluded["reason"].value_counts()
        return {str(k): int(v) for k, v in counts.items()}

    def to_dict(self) -> dict[str, Any]:
        """Machine-readable description (no patient values, no identifiers)."""
        return {
            "landmark": self.landmark,
            "landmark_day": self.landmark_day,
            "window_days": {"before": self.window[0], "after": self.window[1]},
            "measurement_days": [self.earliest, self.latest],
            "aggregate": self.aggregate,
            "prediction_day": self.prediction_day,
            "policy": self.policy,
            "n_patients_in": self.n_patients_in,
            "n_rows": self.n,
            "n_events": self.n_events,
            "n_prior_outcome": self.n_prior_outcome,
            "n_excluded": len(self.excluded),
            "excluded_by_reason": self.reasons(),
            "n_flagged": len(self.flagged),
            "has_outcomes": self.has_outcomes,
            "synthetic": self.synthetic,
            "analytes": self.summary().to_dict(orient="records"),
            "notes": list(self.notes),
        }

    def __str__(self) -> str:
        rule = (f"nearest to day {self.landmark_day:g}, ties to the earlier"
                if self.aggregate == "nearest" else f"{self.aggregate} of the window")
        lines = [f"Landmark {self.landmark} (day {self.landmark_day:g}; values from day "
                 f"{self.earliest:g} to {self.latest:g}, {rule})",
                 f"{self.n} of {self.n_patients_in} patients"
                 + (f", {self.n_events} with severe CRS" if self.has_outcomes else "")]
        if self.has_outcomes:
            lines.append(f"Severe CRS before the landmark: {self.n_prior_outcome} patient(s), "
                         f"{'excluded' if self.policy == 'exclude' else 'kept and flagged'}")
        for reason, count in self.reasons().items():
            lines.append(f"  excluded, {REASONS.get(reason, reason)}: {count}")
        if self.synthetic:
            lines.append("SYNTHETIC DATA: simulated patients, not real ones")
        return "\n".join(lines)


def build_landmark_table(cohort: Cohort, landmark: str | float, *,
                         window: float | tuple[float, float] = 1.0,
                         analytes: Sequence[str] | None = None,
                         outcomes: pd.DataFrame | Any | None = None,
                         prior_outcome: PriorOutcome = "exclude",
                         pre_ld_day: float | None = None,
                         pre_ld_latest: float = PRE_LD_LATEST,
                         aggregate: Aggregate = "nearest") -> LandmarkTable:
    """Build the landmark table of ``cohort`` at ``landmark`` (see the module docstring).

    Parameters
    ----------
    cohort : the cohort (observations in canonical units; other units are converted).
    landmark : ``pre-ld``, ``day0``, ``day3``, ``day7``, any ``dayN`` (``day-1``) or a number
        of days after infusion.
    window : days either side of the landmark (default 1.0), or ``(before, after)``.
    analytes : analyte codes to include (default: every analyte present, schema order).
    outcomes : frame with ``patient_id``, ``severe_crs`` (0/1) and ``crs_severe_onset_day``
        (e.g. ``grade_cohort(cohort).outcomes``; a ``GradingResult`` itself is accepted).
        Without it no patient is excluded.
    prior_outcome : ``exclude`` (default) or ``keep`` patients whose severe CRS began before
        the landmark day.
    pre_ld_day, pre_ld_latest : target day (default -5) and latest day (default -3) of the
        ``pre-ld`` landmark.
    aggregate : how the window's values become one (default ``nearest``; also ``max``,
        ``min``, ``first``, ``last``: see :class:`Landmark`).

    Examples
    --------
    >>> from crsscore.data.simulate import simulate_cohort
    >>> t = build_landmark_table(simulate_cohort(30, seed=2), "day7", analytes=["crp", "anc"])
    >>> list(t.data.columns[-4:]), t.landmark_day, t.window
    (['crp', 'crp_day', 'anc', 'anc_day'], 7.0, (1.0, 1.0))
    """
    if prior_outcome not in ("exclude", "keep"):
        raise ValueError("The 'prior_outcome' parameter must be 'exclude' or 'keep'. "
                         f"Got {prior_outcome!r} instead.")
    lm = parse_landmark(landmark, window=window, pre_ld_day=pre_ld_day,
                        pre_ld_latest=pre_ld_latest, aggregate=aggregate)
    patients = cohort.patients
    ids = patient_index(patients)
    codes = _analytes(cohort.observations, analytes)
    notes: list[str] = []
    read = read_values(canonical_observations(cohort.observations, codes, ids), lm)
    if read.n_orphan:
        notes.append(f"{read.n_orphan} observation row(s) in the window belong to patients not "
                     "in the patients table: ignored")

    data = patients.copy()
    data["patient_id"] = ids.to_numpy()
    wide_cols: dict[str, Any] = {}
    for j, code in enumerate(codes):
        wide_cols[code] = read.value[:, j]
        wide_cols[f"{code}_day"] = read.day[:, j]
    data = pd.concat([data.reset_index(drop=True),
                      pd.DataFrame(wide_cols, index=pd.RangeIndex(len(data)))], axis=1)

    empty = pd.DataFrame({"patient_id": pd.Series(dtype="str"),
                          "reason": pd.Series(dtype="str"), "detail": pd.Series(dtype="str")})
    excluded, flagged = empty, empty
    n_prior = 0
    if outcomes is not None and not isinstance(outcomes, pd.DataFrame):
        if not isinstance(getattr(outcomes, "outcomes", None), pd.DataFrame):
            raise TypeError("The 'outcomes' parameter must be a DataFrame (or a GradingResult). "
                            f"Got {type(outcomes).__name__} instead.")
        outcomes = outcomes.outcomes
    has_outcomes = outcomes is not None
    if outcomes is not None:
        data, excluded, flagged, n_prior = _apply_outcomes(data, outcomes, cohort, lm,
                                                           prior_outcome, notes)
    if cohort.synthetic:
        notes.append("SYNTHETIC DATA: simulated patients, not real ones")
    return LandmarkTable(
        data=data, landmark=lm.label, landmark_day=lm.day, window=lm.window,
        earliest=lm.earliest, latest=lm.latest, policy=prior_outcome, n_prior_outcome=n_prior,
        excluded=excluded, flagged=flagged, analytes=tuple(codes),
        units={c: canonical_unit(c) for c in codes}, n_patients_in=len(patients),
        has_outcomes=has_outcomes, synthetic=bool(cohort.synthetic), notes=notes,
        aggregate=lm.aggregate,
    )


def _analytes(obs: pd.DataFrame, analytes: Sequence[str] | None) -> list[str]:
    if analytes is None:
        column = obs["analyte"] if "analyte" in obs.columns else pd.Series(dtype=object)
        present = {str(a).strip().lower() for a in pd.unique(column) if not _blank(a)}
        return [c for c in ANALYTES if c in present]
    if isinstance(analytes, str):
        analytes = [analytes]
    unknown = [a for a in analytes if a not in ANALYTES]
    if unknown:
        raise ValueError(f"unknown analyte code(s) {', '.join(map(repr, unknown))}; known: "
                         f"{', '.join(ANALYTES)}")
    if len(set(analytes)) != len(analytes):
        raise ValueError(f"analytes repeated: {', '.join(analytes)}")
    return list(analytes)


def _apply_outcomes(data: pd.DataFrame, outcomes: pd.DataFrame, cohort: Cohort, lm: Landmark,
                    policy: PriorOutcome, notes: list[str]
                    ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, int]:
    missing = [c for c in OUTCOME_COLUMNS if c not in outcomes.columns]
    if missing:
        raise DataError([Problem(table="outcomes", column=c, code="missing_column",
                                 message=f"outcomes need column '{c}'",
                                 expected=", ".join(OUTCOME_COLUMNS)) for c in missing])
    out = outcomes[list(OUTCOME_COLUMNS)].copy()
    out["patient_id"] = out["patient_id"].astype("str")
    if out["patient_id"].duplicated().any():
        raise DataError([Problem(table="outcomes", column="patient_id", code="duplicate_id",
                                 message="outcomes have more than one row for some patients")])
    severe = pd.to_numeric(out["severe_crs"], errors="coerce")
    bad = severe.notna() & ~severe.isin([0, 1])
    if bad.any():
        raise DataError([Problem(table="outcomes", column="severe_crs", code="invalid",
                                 message="severe_crs must be 0 or 1",
                                 value=str(out.loc[bad, "severe_crs"].iloc[0]),
                                 expected="0 or 1")])
    out["severe_crs"] = severe
    out["crs_severe_onset_day"] = pd.to_numeric(out["crs_severe_onset_day"], errors="coerce")
    unknown_ids = int((~out["patient_id"].isin(data["patient_id"])).sum())
    if unknown_ids:
        notes.append(f"{unknown_ids} outcome row(s) name patients not in the cohort: ignored")
    merged = data.merge(out, on="patient_id", how="left", validate="1:1",
                        suffixes=("_patients", ""))
    sev = merged["severe_crs"].to_numpy(dtype=np.float64, na_value=np.nan)
    onset = merged["crs_severe_onset_day"].to_numpy(dtype=np.float64, na_value=np.nan)
    no_outcome = np.isnan(sev)
    prior = (sev == 1) & (onset < lm.day)
    onset_unknown = (sev == 1) & np.isnan(onset)
    death = _death_day(cohort, merged["patient_id"])
    died = (death < lm.day) & ~prior & ~no_outcome
    merged["outcome_before_landmark"] = prior
    merged["died_before_landmark"] = died
    severe_int = pd.array(np.nan_to_num(sev).astype(np.int64), dtype="Int64")
    severe_int[no_outcome] = pd.NA
    merged["severe_crs"] = severe_int

    reason = np.full(len(merged), "", dtype=object)
    detail = np.full(len(merged), "", dtype=object)
    reason[no_outcome] = "no_outcome"
    detail[no_outcome] = REASONS["no_outcome"]
    for mask, code, text in (
            (prior, "outcome_before_landmark",
             [f"severe CRS onset day {d:g} < landmark day {lm.day:g}" for d in onset[prior]]),
            (onset_unknown, "onset_unknown", REASONS["onset_unknown"]),
            (died, "died_before_landmark",
             [f"died on day {d:g}, before day {lm.day:g}" for d in death[died]])):
        free = mask & (reason == "")
        reason[free] = code
        detail[free] = np.asarray(text, dtype=object)[free[mask]] if isinstance(text, list) \
            else text
    listed = pd.DataFrame({"patient_id": merged["patient_id"].astype("str"),
                           "reason": pd.Series(reason, dtype="str"),
                           "detail": pd.Series(detail, dtype="str")})
    always = np.isin(reason, ["no_outcome"])
    policy_drop = np.isin(reason, ["outcome_before_landmark", "onset_unknown",
                                   "died_before_landmark"])
    drop = always | (policy_drop if policy == "exclude" else np.zeros(len(reason), bool))
    flag = policy_drop & ~drop
    excluded = listed[drop].reset_index(drop=True)
    flagged = listed[flag].reset_index(drop=True)
    n_prior = int(prior.sum())
    if n_prior and policy == "keep":
        notes.append(f"{n_prior} patient(s) already had severe CRS before {lm.label}: kept "
                     "(flag outcome_before_landmark); a model fitted on them predicts an "
                     "outcome it has already seen")
    data_out = merged[~drop].reset_index(drop=True)
    return data_out, excluded, flagged, n_prior


def _death_day(cohort: Cohort, patient_ids: pd.Series) -> np.ndarray[Any, np.dtype[np.float64]]:
    ev = cohort.events
    if len(ev) == 0 or "event" not in ev.columns:
        return np.full(len(patient_ids), np.nan)
    deaths = ev[ev["event"].astype("str") == "death"]
    if len(deaths) == 0:
        return np.full(len(patient_ids), np.nan)
    first = pd.to_numeric(deaths["day"], errors="coerce").groupby(
        deaths["patient_id"].astype("str")).min()
    return first.reindex(patient_ids.astype("str")).to_numpy(dtype=np.float64, na_value=np.nan)


__all__ = ["AGGREGATES", "PRE_LD_LATEST", "REASONS", "Aggregate", "CanonicalObservations",
           "Landmark", "LandmarkTable", "LandmarkValues", "build_landmark_table",
           "canonical_observations", "landmark_day", "parse_landmark", "patient_index",
           "read_values"]
