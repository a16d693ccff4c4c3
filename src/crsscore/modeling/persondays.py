"""Person-day table: one row per patient and day at risk, with what is known that day.

The dynamic model (issue 16) asks every day: *given everything known about this patient by
the end of day t, how likely is severe CRS (ASTCT grade >= 3) within the next h days?*
:func:`build_person_days` lays a cohort out for that question.

Time convention
    Days are days since infusion; day ``t`` is ``[t, t + 1)``.  The row for day ``t`` is the
    evaluation made at the end of day ``t`` (the next morning's round) and uses only
    observations and events with ``day < t + 1`` and the daily grades of days ``<= t``.
    Nothing later enters a row (tested by truncating a cohort at ``t``).

Rows
    Every patient and every day ``t`` from ``first_day`` (0, infusion) to ``last_day``
    (default 14) on which the patient is still at risk (severe onset day ``S > t``) and
    still followed (``t <= F``, ``F`` = last day with a gradable CRS grade, before a death).

Predictors (known at ``t``)
    ``day``; ``crs_grade`` (today's grade, the last gradable one carried forward when today
    is not gradable, 0 before any; ``crs_grade_known`` says whether today was gradable);
    ``crs_max`` (maximum so far); ``icans_grade`` (today, carried forward, 0 when never
    assessed); ``days_since_crs_onset`` (0 before any CRS); ``toci_doses`` (tocilizumab doses
    so far); ``steroids`` (any corticosteroid so far, 0/1); for each analyte ``<a>`` the
    latest value in canonical units measured in ``[t + 1 - window, t + 1)`` (NaN when none),
    ``<a>_chg1`` and ``<a>_chg2``: its change since the value known 1 and 2 days earlier, on
    the model scale (log10 with the project's floors for right-skewed analytes, see
    :data:`crsscore.modeling.candidates.LOG_FLOORS`), NaN when either is missing; and the
    baseline covariates ``mrd_baseline_pct``, ``mrd_post_ld_pct``, ``marrow_blasts_pct``,
    ``cd28`` (costimulatory domain CD28 = 1, 4-1BB = 0) and ``dose_cells_per_kg``.

Outcome and censoring (:data:`CENSORING_METHOD`)
    ``y_h<h>`` = 1 when severe onset falls in ``(t, t + h]``, 0 when the patient is known
    to be free of severe CRS through ``t + h`` (onset later, or followed to ``t + h``
    without it), and ``<NA>`` (censored) when follow-up ends before ``t + h`` without an
    event.  Censored person-days are removed for that horizon only (a horizon-specific
    discrete-time outcome): they are never counted as non-events.

Grades are the derived ASTCT grades of :func:`crsscore.grading.grade_cohort` (its
``daily`` frame), which falls back to the centre's recorded grades for patients without raw
CRS data; :attr:`PersonDays.grade_source` says which were used.

:func:`person_day_columns` is the same table as arrays before any frame (the monitor's risk
step reads them for one patient); :func:`build_person_days` lays them into its frame.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from crsscore._types import FloatArray
from crsscore.columnar import as_float, frame_of
from crsscore.data.cohort import Cohort
from crsscore.data.landmark import to_canonical
from crsscore.data.schema import ANALYTES
from crsscore.errors import DataError, Problem

#: Said in every output of the dynamic model.
CENSORING_METHOD: Final = (
    "discrete-time, horizon-specific outcome: person-days whose follow-up ends before t + h "
    "without severe CRS are removed for horizon h (never counted as non-events)")
CENSORING_CODE: Final = "horizon_specific_removal"

DEFAULT_ANALYTES: Final = ("crp", "ferritin", "il6", "temp")
DEFAULT_HORIZONS: Final = (1, 2, 3)
BASELINE_COLUMNS: Final = ("mrd_baseline_pct", "mrd_post_ld_pct", "marrow_blasts_pct",
                           "cd28", "dose_cells_per_kg")
STATE_COLUMNS: Final = ("crs_grade", "crs_grade_known", "crs_max", "icans_grade",
                        "days_since_crs_onset", "toci_doses", "steroids")

#: Floors (canonical units) before log10 for the change columns; the modelling floors of
#: crsscore.modeling.candidates where it has one.
_LOG_FLOOR_DEFAULT: Final = 1e-3


def log_floor(code: str) -> float:
    """The floor used before log10 for analyte ``code`` (the modelling floor)."""
    from crsscore.modeling.candidates import LOG_FLOORS
    return float(LOG_FLOORS.get(code, _LOG_FLOOR_DEFAULT))


def model_scale(code: str, values: FloatArray) -> FloatArray:
    """Values on the model scale: log10 (with floor) for right-skewed analytes, else as is."""
    if code in ANALYTES and ANALYTES[code].skewed:
        out: FloatArray = np.log10(np.maximum(values, log_floor(code)))
        return out
    return values


@dataclass(frozen=True)
class PersonDays:
    """The person-day table and how it was built (see the module docstring)."""

    data: pd.DataFrame
    horizons: tuple[int, ...]
    analytes: tuple[str, ...]
    window: float
    first_day: int
    last_day: int
    n_patients_in: int
    grade_source: str
    synthetic: bool
    data_hash: str
    censoring: str = CENSORING_METHOD
    notes: list[str] = field(default_factory=list)

    @property
    def predictor_columns(self) -> list[str]:
        """Every column known at the row's day (what may enter a model)."""
        cols = ["day", *STATE_COLUMNS]
        for a in self.analytes:
            cols += [a, f"{a}_chg1", f"{a}_chg2"]
        return cols + list(BASELINE_COLUMNS)

    def outcome(self, h: int) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int64]]:
        """(rows with a known outcome for horizon ``h``, 0/1 outcome of those rows)."""
        col = f"y_h{int(h)}"
        if col not in self.data.columns:
            raise ValueError(f"horizon {h} was not built; horizons: {self.horizons}")
        y = self.data[col]
        known = y.notna().to_numpy(dtype=bool)
        return known, y[known].to_numpy(dtype=np.int64)

    def counts(self) -> pd.DataFrame:
        """Per horizon: person-days, events, censored person-days removed, patients."""
        rows = []
        for h in self.horizons:
            known, y = self.outcome(h)
            rows.append({"horizon": h, "person_days": int(known.sum()),
                         "events": int(y.sum()), "censored_removed": int((~known).sum()),
                         "patients": int(self.data.loc[known, "patient_id"].nunique())})
        return pd.DataFrame(rows)

    def to_dict(self) -> dict[str, Any]:
        """Machine-readable description (no patient values, no identifiers)."""
        return {"rows": len(self.data), "patients": int(self.data["patient_id"].nunique()),
                "n_patients_in": self.n_patients_in, "horizons": list(self.horizons),
                "days": [self.first_day, self.last_day], "window_days": self.window,
                "analytes": list(self.analytes), "grade_source": self.grade_source,
                "censoring": self.censoring, "synthetic": self.synthetic,
                "data_hash": self.data_hash,
                "per_horizon": self.counts().to_dict(orient="records"),
                "notes": list(self.notes)}


def _ffill_index(valid: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
    """Index (last axis) of the last valid entry at or before each position, -1 if none."""
    idx = np.where(valid, np.arange(valid.shape[-1]), -1)
    out: npt.NDArray[np.int64] = np.maximum.accumulate(idx, axis=-1).astype(np.int64)
    return out


def _take_last(values: FloatArray, idx: npt.NDArray[np.int64],
               missing: float = np.nan) -> FloatArray:
    """``values`` at ``idx`` (last axis), ``missing`` where ``idx`` is -1."""
    out: FloatArray = np.take_along_axis(values, np.maximum(idx, 0), axis=-1)
    return np.where(idx >= 0, out, missing)


def build_person_days(cohort: Cohort, grading: Any | None = None, *,
                      horizons: Sequence[int] = DEFAULT_HORIZONS,
                      analytes: Sequence[str] | None = None, window: float = 2.0,
                      first_day: int = 0, last_day: int = 14) -> PersonDays:
    """The person-day table of ``cohort`` (see the module docstring for every rule).

    Parameters
    ----------
    cohort : the cohort in the canonical format.
    grading : a :class:`~crsscore.grading.cohort.GradingResult` or its ``daily`` frame
        (``patient_id``, ``day``, ``crs_grade``, ``icans_grade``); graded (ASTCT) when None.
    horizons : prediction horizons in days (default 1, 2, 3).
    analytes : analyte codes (default crp, ferritin, il6, temp).
    window : days a measurement stays "latest" (default 2: drawn on day t or t - 1).
    first_day, last_day : range of days t with rows (default 0 to 14).
    """
    cols = person_day_columns(cohort, grading, horizons=horizons, analytes=analytes,
                              window=window, first_day=first_day, last_day=last_day)
    return PersonDays(data=cols.frame(), horizons=cols.horizons, analytes=cols.analytes,
                      window=cols.window, first_day=cols.first_day, last_day=cols.last_day,
                      n_patients_in=cols.n_patients_in, grade_source=cols.grade_source,
                      synthetic=bool(cohort.synthetic), data_hash=cohort.data_hash(),
                      notes=cols.notes)


@dataclass(frozen=True)
class PersonDayColumns:
    """The person-day table as arrays, before any frame: what :func:`build_person_days` lays
    into :attr:`PersonDays.data`, for a caller that reads a few columns (the monitor's risk
    step scores one patient's rows without the 31-column frame)."""

    patient_ids: Any  # the cohort's patient ids as a pandas "str" array, one per patient
    patient: npt.NDArray[np.int64]  # each row's position in patient_ids
    columns: dict[str, Any]  # every other column of the frame, in its order
    horizons: tuple[int, ...]
    analytes: tuple[str, ...]
    window: float
    first_day: int
    last_day: int
    n_patients_in: int
    grade_source: str
    notes: list[str]

    def __len__(self) -> int:
        return len(self.patient)

    def frame(self) -> pd.DataFrame:
        """:attr:`PersonDays.data`: ``patient_id`` then :attr:`columns`."""
        return frame_of({"patient_id": self.patient_ids.take(self.patient), **self.columns})


def person_day_columns(cohort: Cohort, grading: Any | None = None, *,
                       horizons: Sequence[int] = DEFAULT_HORIZONS,
                       analytes: Sequence[str] | None = None, window: float = 2.0,
                       first_day: int = 0, last_day: int = 14) -> PersonDayColumns:
    """The columns of :func:`build_person_days` (same parameters and rules)."""
    hs = tuple(sorted({int(h) for h in horizons}))
    if not hs or hs[0] < 1:
        raise ValueError(f"The 'horizons' parameter must be whole days >= 1. Got {horizons!r}.")
    if not (math.isfinite(window) and window > 0):
        raise ValueError(f"The 'window' parameter must be > 0 days. Got {window!r} instead.")
    if last_day < first_day:
        raise ValueError("last_day must be >= first_day")
    codes = tuple(DEFAULT_ANALYTES if analytes is None else analytes)
    unknown = [a for a in codes if a not in ANALYTES]
    if unknown:
        raise ValueError(f"unknown analyte(s): {', '.join(unknown)}; known: "
                         + ", ".join(ANALYTES))
    if grading is None:
        from crsscore.grading import grade_cohort
        grading = grade_cohort(cohort)
    daily = grading if isinstance(grading, pd.DataFrame) else grading.daily
    notes: list[str] = []

    patients = cohort.patients
    if "patient_id" not in patients.columns:
        raise DataError([Problem(table="patients", column="patient_id",
                                 message="no patient_id column", code="missing_column")])
    pid_col = patients["patient_id"]
    # as str (a column already str is used as it is: astype would copy it)
    pids = (pid_col if pid_col.dtype == "str" else pid_col.astype("str")).array
    n = len(pids)
    g0 = first_day - math.ceil(window) - 3
    grid = np.arange(g0, last_day + 1, dtype=np.int64)
    nd = len(grid)

    # ---- daily grades -> (n, nd) arrays; severe onset S and follow-up end F over all days
    lookup = _Lookup(pids)
    dpid = lookup.positions(daily["patient_id"])
    dday = as_float(daily["day"])
    crs = as_float(daily["crs_grade"])
    icans = (as_float(daily["icans_grade"]) if "icans_grade" in daily.columns
             else np.full(len(daily), np.nan))
    ok = (dpid >= 0) & np.isfinite(dday)
    dpid, dday, crs, icans = dpid[ok], np.floor(dday[ok]), crs[ok], icans[ok]
    gradable = np.isfinite(crs)
    big = np.inf
    onset_sev = np.full(n, big)
    np.minimum.at(onset_sev, dpid[gradable & (crs >= 3)], dday[gradable & (crs >= 3)])
    fu_end = np.full(n, -big)
    np.maximum.at(fu_end, dpid[gradable], dday[gradable])
    events = _EventDays(cohort, lookup, ("death", "tocilizumab", "corticosteroid"))
    death = events.first_day("death")
    fu_end = np.where(np.isfinite(death), np.minimum(fu_end, death), fu_end)
    if "crs_source" in daily.columns:
        src_col = daily["crs_source"]
        if isinstance(src_col.dtype, pd.CategoricalDtype):  # grade_cohort's: codes, no cells
            cats = src_col.array.categories
            used = np.unique(np.asarray(src_col.array.codes)[ok][gradable])
            present = [cats[c] for c in used.tolist() if c >= 0]
        else:
            present = list(pd.unique(src_col.to_numpy(dtype=object)[ok][gradable]))
        kinds = sorted({str(x) for x in present if not _missing(x)} - {"nan", "<NA>"})
        grade_source = "+".join(kinds) if kinds else "none"
    else:
        grade_source = "given"
    n_nograde = int((~np.isfinite(fu_end)).sum())
    if n_nograde:
        notes.append(f"{n_nograde} patient(s) have no gradable CRS day: no person-days")

    gi = (dday - g0).astype(np.int64)
    ing = (gi >= 0) & (gi < nd)
    crs_g = np.full((n, nd), np.nan)
    icans_g = np.full((n, nd), np.nan)
    crs_g[dpid[ing], gi[ing]] = crs[ing]
    icans_g[dpid[ing], gi[ing]] = icans[ing]
    known = np.isfinite(crs_g)
    # the last gradable grade (finite), 0 before any
    grade_today = _take_last(crs_g, _ffill_index(known), 0.0)
    crs_max = np.maximum.accumulate(grade_today, axis=1)
    icans_today = _take_last(icans_g, _ffill_index(np.isfinite(icans_g)), 0.0)
    started = grade_today >= 1
    first_crs = np.where(started.any(axis=1), np.argmax(started, axis=1), nd)
    col = np.arange(nd)[None, :]
    since_onset = np.where(col >= first_crs[:, None], col - first_crs[:, None], 0).astype(
        np.float64)

    # ---- treatments so far
    toci = events.counts("tocilizumab", grid)
    steroid = (events.counts("corticosteroid", grid) > 0).astype(np.float64)

    # ---- analytes: latest within the window, changes on the model scale
    lab_cols: dict[str, FloatArray] = {}
    latest = _latest_values(cohort, lookup, codes, grid, window)
    for k, code in enumerate(codes):
        v = latest[:, k, :]
        ms = model_scale(code, v)
        prev1 = np.concatenate([np.full((n, 1), np.nan), ms[:, :-1]], axis=1)
        prev2 = np.concatenate([np.full((n, 2), np.nan), ms[:, :-2]], axis=1)
        lab_cols[code] = v
        lab_cols[f"{code}_chg1"] = ms - prev1
        lab_cols[f"{code}_chg2"] = ms - prev2

    # ---- rows at risk and under follow-up
    t = grid[None, :].astype(np.float64)
    at_risk = ((t >= first_day) & (t <= last_day) & (t < onset_sev[:, None])
               & (t <= fu_end[:, None]))
    pi, di = np.nonzero(at_risk)
    frame: dict[str, Any] = {
        "day": grid[di].astype(np.float64),
        "crs_grade": grade_today[pi, di],
        "crs_grade_known": known[pi, di].astype(np.float64),
        "crs_max": crs_max[pi, di],
        "icans_grade": icans_today[pi, di],
        "days_since_crs_onset": since_onset[pi, di],
        "toci_doses": toci[pi, di],
        "steroids": steroid[pi, di],
    }
    for name, arr in lab_cols.items():
        frame[name] = arr[pi, di]
    base = _baseline(patients)
    for name in BASELINE_COLUMNS:
        frame[name] = base[name][pi]
    s_row = onset_sev[pi]
    f_row = fu_end[pi]
    day_row = grid[di].astype(np.float64)
    frame["severe_onset_day"] = np.where(np.isfinite(s_row), s_row, np.nan)
    frame["followup_end_day"] = np.where(np.isfinite(f_row), f_row, np.nan)
    for h in hs:
        event = s_row <= day_row + h
        # known free through t + h: onset observed later, or followed to t + h
        nonevent = ~event & ((np.isfinite(s_row) & (s_row > day_row + h))
                             | (f_row >= day_row + h))
        # nullable Int64: <NA> where censored
        frame[f"y_h{h}"] = pd.arrays.IntegerArray(np.where(event, 1, 0).astype(np.int64),
                                                  ~(event | nonevent))
    return PersonDayColumns(patient_ids=pids, patient=pi.astype(np.int64), columns=frame,
                            horizons=hs, analytes=codes, window=float(window),
                            first_day=int(first_day), last_day=int(last_day), n_patients_in=n,
                            grade_source=grade_source, notes=notes)


class _EventDays:
    """Patient (position in ``pids``) and floor day of the events named in ``names``, read
    from the events table once (plain arrays: a one-patient update pays no per-name
    pandas filtering)."""

    def __init__(self, cohort: Cohort, lookup: _Lookup, names: tuple[str, ...]) -> None:
        self.n = len(lookup.pids)
        ev = cohort.events
        self.name = np.zeros(0, dtype=object)
        self.p = np.zeros(0, dtype=np.int64)
        self.d = np.zeros(0, dtype=np.float64)
        if len(ev) == 0 or "event" not in ev.columns:
            return
        name = _str_cells(ev["event"])
        rows = np.flatnonzero(np.isin(name, np.asarray(names, dtype=object)))
        if rows.size == 0:
            return
        # whole columns (element-wise conversions), then the rows: no frame copy
        self.name = name[rows]
        self.p = lookup.positions(ev["patient_id"])[rows]
        self.d = np.floor(as_float(ev["day"])[rows])

    def first_day(self, name: str) -> FloatArray:
        out = np.full(self.n, np.inf)
        sel = self.name == name
        p, d = self.p[sel], self.d[sel]
        ok = (p >= 0) & np.isfinite(d)
        np.minimum.at(out, p[ok], d[ok])
        return out

    def counts(self, name: str, grid: npt.NDArray[np.int64]) -> FloatArray:
        """Cumulative count of ``name`` events with floor(day) <= each grid day."""
        counts = np.zeros((self.n, len(grid)))
        sel = self.name == name
        p, d = self.p[sel], self.d[sel]
        ok = (p >= 0) & np.isfinite(d) & (d <= grid[-1])
        gi = np.clip(d[ok] - grid[0], 0, None).astype(np.int64)
        np.add.at(counts, (p[ok], gi), 1.0)
        out: FloatArray = np.cumsum(counts, axis=1)
        return out


class _Lookup:
    """Position of patient ids in ``pids`` (the cohort's ids as ``str``, an index or an
    array): ``pd.Index(pids).get_indexer`` of the ids as ``str``, -1 when absent, by a dict of
    the few distinct ids when the ids are Arrow strings (pandas' string index costs more than
    the rest of the work for one patient: it is built only when the dict cannot answer)."""

    def __init__(self, pids: Any) -> None:
        self.pids = pids
        ids = pids.to_numpy(dtype=object).tolist()
        self.where: dict[str, int] | None = {p: i for i, p in enumerate(ids)}
        if len(self.where) != len(ids) or not all(isinstance(p, str) for p in ids):
            self.where = None  # duplicated or missing ids: pandas says what is wrong

    def positions(self, values: pd.Series) -> npt.NDArray[np.int64]:
        from crsscore.grading._features import id_positions

        out = None if self.where is None else id_positions(values, self.where)
        if out is not None:
            return out
        return np.asarray(pd.Index(self.pids).get_indexer(pd.Index(values.astype("str"))),
                          dtype=np.int64)


def _str_cells(values: pd.Series) -> npt.NDArray[np.object_]:
    """``values.astype("str")`` as an object array (missing: None or NaN), read straight
    from Arrow for Arrow-backed strings."""
    arrow = getattr(values.array, "_pa_array", None)
    from crsscore.grading._features import pa_types_is_string, text_cells

    if arrow is not None and pa_types_is_string(arrow.type):
        return text_cells(values)
    return np.asarray(values.astype("str").to_numpy(dtype=object), dtype=object)


def _latest_values(cohort: Cohort, lookup: _Lookup, codes: tuple[str, ...],
                   grid: npt.NDArray[np.int64], window: float) -> FloatArray:
    """(n, analytes, days): latest value with day in [t + 1 - window, t + 1)."""
    n, na, nd = len(lookup.pids), len(codes), len(grid)
    out = np.full((n, na, nd), np.nan)
    obs = cohort.observations
    if len(obs) == 0 or not {"patient_id", "analyte", "day", "value"} <= set(obs.columns):
        return out
    # plain arrays of the rows of these analytes (pandas' per-column overhead is most of the
    # cost for one patient's rows)
    analyte = _str_cells(obs["analyte"])
    rows = np.flatnonzero(np.isin(analyte, np.asarray(codes, dtype=object)))
    # whole columns (element-wise conversions), then the rows: no frame copy
    an = analyte[rows]
    v = as_float(obs["value"])[rows]
    d = as_float(obs["day"])[rows]
    keep = ~np.isnan(v) & ~np.isnan(d)
    rows, an, v, d = rows[keep], an[keep], v[keep], d[keep]
    if rows.size == 0:
        return out
    has_unit = "unit" in obs.columns
    if not _canonical_units(an, _str_cells(obs["unit"])[rows] if has_unit else None):
        # conversion (and its located errors) by the landmark module's one rule
        conv = to_canonical(pd.DataFrame({"analyte": an, "value": v, "unit": (
            obs["unit"].to_numpy(dtype=object)[rows] if has_unit else "")}))
        v = conv["value"].to_numpy(dtype=np.float64)
    p = lookup.positions(obs["patient_id"])[rows]
    if len(set(codes)) == len(codes):
        where = {c: i for i, c in enumerate(codes)}
        a = np.array([where[x] for x in an.tolist()], dtype=np.int64)
    else:
        a = pd.Index(codes).get_indexer(pd.Index(an))
    gi = np.floor(d).astype(np.int64) - int(grid[0])
    ok = (p >= 0) & (gi >= 0) & (gi < nd)
    p, a, d, v, gi = p[ok], a[ok], d[ok], v[ok], gi[ok]
    # the last value of each (patient, analyte, day): later times overwrite earlier ones
    order = np.lexsort((d, gi, a, p))
    p, a, d, v, gi = p[order], a[order], d[order], v[order], gi[order]
    same_next = (p[1:] == p[:-1]) & (a[1:] == a[:-1]) & (gi[1:] == gi[:-1])
    last = np.append(~same_next, True)
    p, a, d, v, gi = p[last], a[last], d[last], v[last], gi[last]
    vals = np.full((n, na, nd), np.nan)
    times = np.full((n, na, nd), np.nan)
    vals[p, a, gi] = v
    times[p, a, gi] = d
    idx = _ffill_index(np.isfinite(times))
    last_v = _take_last(vals, idx)
    last_t = _take_last(times, idx)
    end = grid.astype(np.float64)[None, None, :] + 1.0
    fresh = last_t >= end - window
    result: FloatArray = np.where(fresh, last_v, np.nan)
    return result


def _missing(value: object) -> bool:
    """A missing cell (None, NaN, pd.NA, NaT)."""
    return (value is None or value is pd.NA or value is pd.NaT
            or (isinstance(value, float | np.floating) and math.isnan(value)))


def _canonical_units(analyte: npt.NDArray[np.object_],
                     units: npt.NDArray[np.object_] | None) -> bool:
    """True when every row's unit (:func:`_str_cells`) is its analyte's canonical unit
    (nothing to convert)."""
    if units is None:
        return False
    for a, u in set(zip(analyte.tolist(), units.tolist(), strict=True)):
        if _missing(u) or not u or not _is_canonical(a, u):
            return False  # a missing unit (read as '') is not the canonical one
    return True


@functools.lru_cache(maxsize=1024)
def _is_canonical(analyte: str, unit: str) -> bool:
    """Whether ``unit`` is spelled as, or is, the canonical unit of ``analyte`` (the units
    tables are constants: asked once per pair, not per call)."""
    from crsscore.units import canonical_unit, normalise_unit

    return normalise_unit(unit) == canonical_unit(analyte)


def _baseline(patients: pd.DataFrame) -> dict[str, FloatArray]:
    out: dict[str, FloatArray] = {}
    n = len(patients)
    for name in ("mrd_baseline_pct", "mrd_post_ld_pct", "marrow_blasts_pct",
                 "dose_cells_per_kg"):
        out[name] = (as_float(patients[name]) if name in patients.columns
                     else np.full(n, np.nan))
    if "costim" in patients.columns:
        c = np.array([None if _missing(x) else str(x).strip().upper()
                      for x in patients["costim"].to_numpy(dtype=object)], dtype=object)
        out["cd28"] = np.where(c == "CD28", 1.0, np.where(c == "4-1BB", 0.0, np.nan))
    else:
        out["cd28"] = np.full(n, np.nan)
    return out


__all__ = ["BASELINE_COLUMNS", "CENSORING_CODE", "CENSORING_METHOD", "DEFAULT_ANALYTES",
           "DEFAULT_HORIZONS", "STATE_COLUMNS", "PersonDayColumns", "PersonDays",
           "build_person_days", "log_floor", "model_scale", "person_day_columns"]
