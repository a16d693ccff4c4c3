"""Data-quality report for a cohort: counts, missingness, implausible values, duplicates.

``check_cohort(cohort_or_path, mapping=None)`` never raises for problems in the values: it
returns a :class:`CheckReport` listing each of them with table, row (as in the file), column,
value and what was expected, plus every row left out while reading.  Only input that cannot
be read at all (no file, an invalid mapping, missing required columns, unknown units in a
mapping) raises :class:`~crsscore.errors.DataError` or :class:`~crsscore.errors.MappingError`.

Checks, each with its ``code`` in :attr:`CheckReport.problems`:

=====================  ========  ==========================================================
code                   severity  meaning
=====================  ========  ==========================================================
no_patients            error     the patients table has no rows
duplicate_id           error     a patient id appears in more than one row
out_of_range           error     a value outside the physiological range in schema.py
day_out_of_range       error     a day outside ``schema.DAY_MIN``..``schema.DAY_MAX``
unknown_patient        error     an observation or event of a patient not in ``patients``
unknown_event          error     an event name not in ``schema.EVENTS``
unknown_detail         error     a detail not allowed for that event
missing_detail         warning   an event that needs a detail (device, agent...) has none
negative_value         error     a negative event value (dose, flow, score)
conflicting_duplicate  warning   same patient, day and analyte with different values
identical_duplicate    info      the same measurement given twice
mixed_units            warning   one analyte in several units (converted)
implausible_median     warning   an analyte's median outside ``schema.EXPECTED_MEDIANS``
                                 (a whole column in another unit than its label)
no_table, empty_table  warning   no events/observations table, or one without data rows
no_crs_events          warning   an events table without any CRS event
unknown_unit           error     an event unit the grading cannot use (vasopressor dose,
                                 FiO2, oxygen flow, vasopressor hours)
(reading codes)        ...       not_a_number, unknown_unit, missing_id... (see canonical.py)
=====================  ========  ==========================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from crsscore.columnar import encode
from crsscore.data.canonical import ANALYTE_CODES, Loaded, tables_from_cohort
from crsscore.data.cohort import Cohort
from crsscore.data.mapping import Mapping
from crsscore.data.schema import (
    ANALYTES,
    CRS_EVENTS,
    DAY_MAX,
    DAY_MIN,
    EVENTS,
    EXPECTED_MEDIANS,
    PATIENT_COLUMNS,
)
from crsscore.data.tables import read_cohort_tables
from crsscore.errors import Problem
from crsscore.problems import MAX_LISTED, Collector

#: What ``implausible`` (``--implausible``) accepts: refuse the data (default) or exclude
#: the cells.
IMPLAUSIBLE_POLICIES = ("refuse", "exclude")

#: Allowed value ranges of event values (all event values must be >= 0).
EVENT_VALUE_RANGES: dict[str, tuple[float, float]] = {
    "ice": (0.0, 10.0),
    "capd": (0.0, 32.0),
    "crs_grade_recorded": (0.0, 5.0),
    "icans_grade_recorded": (0.0, 5.0),
    "organ_toxicity": (0.0, 5.0),
    "fio2": (0.0, 100.0),
    "hypotension": (0.0, 1.0),
    "motor_weakness": (0.0, 1.0),
    "death": (0.0, 1.0),
}

#: Units accepted for events whose value the grading reads (lower case; '' = none given).
#: Vasopressor doses are checked against the grading's own table (unit and agent).
EVENT_UNITS: dict[str, tuple[str, ...]] = {
    "fio2": ("", "%", "percent", "fraction"),
    "vasopressor_hours": ("", "h", "hr", "hrs", "hour", "hours"),
    "oxygen": ("", "l/min", "lpm"),
}

#: Events whose detail must be given (grading depends on it).
DETAIL_REQUIRED = frozenset({"vasopressor", "oxygen", "consciousness", "seizure",
                             "cerebral_edema"})


# --------------------------------------------------------------------------------------------
# Checks on normalised tables (with the ``_row``/``_src`` helper columns from canonical.py)
# --------------------------------------------------------------------------------------------


def _as_written(values: npt.NDArray[np.float64], decimal: str) -> npt.NDArray[Any]:
    """Numbers as a user typed them (shortest form, the file's decimal mark), to search for."""
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        text = None if not np.isfinite(v) else f"{float(v):.15g}"
        out[i] = text.replace(".", ",") if text is not None and decimal == "," else text
    return out


def _check_patients(p: pd.DataFrame, col: Collector, *, implausible: str = "refuse",
                    decimal: str = ".") -> None:
    if len(p) == 0:
        col.add(Problem(table="patients", code="no_patients", message="no patients",
                        expected="at least one row with a patient id"))
        return
    col.rows(p, _repeated(p["patient_id"]), code="duplicate_id", column="patient_id",
             message="patient id appears in more than one row (one row per infusion)",
             expected="a distinct id per row")
    for name, spec in PATIENT_COLUMNS.items():
        if name not in p.columns or spec.kind != "float":
            continue
        values = p[name].to_numpy(dtype=np.float64, na_value=np.nan)
        low = -np.inf if spec.low is None else spec.low
        high = np.inf if spec.high is None else spec.high
        bad = (values < low) | (values > high)
        unit = f" {spec.unit}" if spec.unit else ""
        exclude = implausible == "exclude"
        col.rows(p, bad, code="out_of_range", column=name,
                 values=_as_written(values, decimal),
                 severity="warning" if exclude else "error", exclude=exclude,
                 message=f"{name} outside the plausible range"
                 + ("; set missing (--implausible exclude)" if exclude else ""),
                 expected=f"{spec.low:g} to {spec.high:g}{unit}")
        if exclude and bad.any():
            p[name] = np.where(bad, np.nan, values)


def _repeated(column: pd.Series) -> npt.NDArray[np.bool_]:
    """``column.duplicated(keep=False)``: the rows whose value (missing counts as one value)
    appears in another row, from the codes of the column's distinct values."""
    codes, uniques = encode(column)
    codes = np.where(codes < 0, len(uniques), codes)
    repeated: npt.NDArray[np.bool_] = np.bincount(codes, minlength=len(uniques) + 1)[codes] > 1
    return repeated


def _check_days(frame: pd.DataFrame, day: npt.NDArray[np.float64], col: Collector) -> None:
    """``day``: the frame's day column."""
    bad = (day < DAY_MIN) | (day > DAY_MAX)
    col.rows(frame, bad, code="day_out_of_range", column="day", values=day,
             message="day outside the accepted range (days since infusion)",
             expected=f"{DAY_MIN:g} to {DAY_MAX:g}")


def _id_array(ids: pd.Series) -> npt.NDArray[Any]:
    """The listed patient ids as text (missing ones left out)."""
    if isinstance(ids.dtype, pd.StringDtype):  # text already: no copy through astype
        values = np.asarray(ids.array.to_numpy(dtype=object), dtype=object)
        return values[~pd.isna(values)]
    return np.asarray(ids.dropna().astype(str).to_numpy(dtype=object), dtype=object)


def _listed(uniques: list[Any], patient_ids: pd.Series) -> npt.NDArray[np.bool_]:
    """Which of the distinct ids ``uniques`` are listed in ``patient_ids`` (a set lookup per
    distinct id: ``pd.Index.isin`` costs ~0.1 ms even for one)."""
    listed = set(_id_array(patient_ids).tolist())
    return np.array([u in listed for u in uniques], dtype=bool)


@dataclass(frozen=True)
class _Index:
    """Integer codes of an observations table, computed once per check."""

    pid: npt.NDArray[np.int64]  # code of the patient id (-1: none)
    n_pid: int
    analyte: npt.NDArray[np.int64]  # index into ANALYTE_CODES
    known: npt.NDArray[np.bool_]  # patient listed in the patients table


def _index(o: pd.DataFrame, patient_ids: pd.Series) -> _Index:
    codes, uniques = encode(o["patient_id"])
    known = np.append(_listed(uniques, patient_ids), False)[codes]
    analyte = o["analyte"]
    if isinstance(analyte.dtype, pd.CategoricalDtype) and (
            analyte.array.categories.tolist() == ANALYTE_CODES):
        a, _ = encode(analyte)  # categorical: its codes
    else:
        a_codes, a_uniques = encode(analyte)
        lookup = np.array([ANALYTE_CODES.index(u) if u in ANALYTES else -1
                           for u in a_uniques] + [-1], dtype=np.int64)
        a = lookup[a_codes]
    return _Index(pid=codes, n_pid=len(uniques), analyte=a, known=known)


def _check_orphans(frame: pd.DataFrame, known: npt.NDArray[np.bool_], col: Collector) -> None:
    col.rows(frame, ~known, code="unknown_patient", column="patient_id",
             message="patient id not in the patients table",
             expected="an id listed in patients")


def _known(frame: pd.DataFrame, patient_ids: pd.Series) -> npt.NDArray[np.bool_]:
    codes, uniques = encode(frame["patient_id"])
    return np.append(_listed(uniques, patient_ids), False)[codes]


def _check_observations(o: pd.DataFrame, ix: _Index, col: Collector, *,
                        implausible: str = "refuse", decimal: str = "."
                        ) -> npt.NDArray[np.bool_]:
    """Check observations; return the rows to exclude (implausible values under
    ``implausible="exclude"``)."""
    if len(o) == 0:
        return np.zeros(0, dtype=bool)
    _check_orphans(o, ix.known, col)
    day = o["day"].to_numpy(dtype=np.float64, na_value=np.nan)
    _check_days(o, day, col)
    low = np.array([ANALYTES[a].low for a in ANALYTE_CODES] + [np.nan])[ix.analyte]
    high = np.array([ANALYTES[a].high for a in ANALYTE_CODES] + [np.nan])[ix.analyte]
    value = o["value"].to_numpy(dtype=np.float64)
    bad = (value < low) | (value > high)
    dup, conflict = _duplicates(ix.pid * (len(ANALYTE_CODES) + 1) + ix.analyte, day, value)
    # the source column of each row (read only when a row is reported)
    column: str | pd.Series = (o["_col"] if "_col" in o.columns and (bad.any() or dup.any())
                               else "value")
    exclude = implausible == "exclude"
    if bad.any():
        orig = o["_orig"].to_numpy(dtype=np.float64) if "_orig" in o.columns else value
        for i, a in enumerate(ANALYTE_CODES):
            sel = bad & (ix.analyte == i)
            if not sel.any():
                continue
            spec = ANALYTES[a]
            converted = "" if "_orig" not in o.columns or np.allclose(
                orig[sel], value[sel], rtol=1e-9, equal_nan=True) else \
                f" converted to {spec.unit}:"
            written = np.full(len(o), None, dtype=object)
            written[sel] = _as_written(orig[sel], decimal)
            col.rows(o, sel, code="out_of_range", column=column, values=written,
                     severity="warning" if exclude else "error",
                     message=f"{a} outside the physiological range ({converted.strip()} a typo "
                     "or a unit mix-up?)".replace("( ", "(")
                     + ("; value set missing (--implausible exclude)" if exclude else ""),
                     expected=f"{spec.low:g} to {spec.high:g} {spec.unit}", exclude=exclude)
            if exclude:
                col.excluded[-1]["analyte"] = a
    _check_medians(o, ix, np.where(bad, np.nan, value) if exclude else value, col)
    if dup.any():
        col.rows(o, conflict, code="conflicting_duplicate", column=column, values=value,
                 severity="warning",
                 message="several different values for the same patient, day and analyte")
        col.rows(o, dup & ~conflict, code="identical_duplicate", column=column,
                 severity="info", message="the same measurement appears more than once")
    return bad if exclude else np.zeros(len(o), dtype=bool)




#: Fewest values (and patients) of an analyte before its median is compared with the band.
MEDIAN_MIN_ROWS = 20
MEDIAN_MIN_PATIENTS = 5


def _check_medians(o: pd.DataFrame, ix: _Index, value: npt.NDArray[np.float64],
                   col: Collector) -> None:
    """Warn when an analyte's median lies outside the band expected of a CAR-T cohort."""
    finite = np.isfinite(value)
    counted = ix.analyte[finite]
    rows = np.bincount(counted[counted >= 0], minlength=len(ANALYTE_CODES))
    for i, code in enumerate(ANALYTE_CODES):
        band = EXPECTED_MEDIANS.get(code)
        if band is None or rows[i] < MEDIAN_MIN_ROWS:  # too few values: not compared
            continue
        sel = (ix.analyte == i) & finite
        n = int(sel.sum())
        if n < MEDIAN_MIN_ROWS or len(np.unique(ix.pid[sel])) < MEDIAN_MIN_PATIENTS:
            continue
        median = float(np.median(value[sel]))
        if band.low <= median <= band.high:
            continue
        trap = band.below if median < band.low else band.above
        unit = ANALYTES[code].unit
        src = str(o["_src"].iloc[0]) if "_src" in o.columns and len(o) else "observations"
        col.add(Problem(
            table=src, column="unit", severity="warning", code="implausible_median",
            message=f"median {code} of {n} values is {median:.3g} {unit}, outside the range "
                    f"expected of a CAR-T cohort: likely {trap}; check the unit",
            value=f"{median:.3g}", expected=f"a median of {band.low:g} to {band.high:g} {unit}"))


def _duplicates(key: npt.NDArray[np.int64], day: npt.NDArray[np.float64],
                value: npt.NDArray[np.float64]
                ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Rows sharing (key, day) with another row, and those whose group has different values.

    Sort-based (one lexsort), which is several times faster than ``DataFrame.duplicated`` on
    millions of rows.
    """
    n = len(key)
    dup = np.zeros(n, dtype=bool)
    conflict = np.zeros(n, dtype=bool)
    if n < 2:
        return dup, conflict
    # A hash of (key, day) finds candidate rows fast; exact comparison on those only.
    bits = np.where(day == 0.0, 0.0, day).view(np.int64)  # -0.0 and 0.0 are the same day
    mixed = key * np.int64(0x9E3779B1) ^ bits
    ordered = np.sort(mixed)  # sorting beats hashing here (vectorised sort in numpy 2)
    repeated = ordered[1:][ordered[1:] == ordered[:-1]]
    if len(repeated) == 0:
        return dup, conflict
    candidates = np.flatnonzero(np.isin(mixed, repeated))
    if len(candidates) < 2:
        return dup, conflict
    key, day, value = key[candidates], day[candidates], value[candidates]
    n = len(candidates)
    order = np.lexsort((day, key))
    ks, ds, vs = key[order], day[order], value[order]
    same = (ks[1:] == ks[:-1]) & (ds[1:] == ds[:-1])
    if not same.any():
        return dup, conflict
    in_group = np.zeros(n, dtype=bool)
    in_group[1:] |= same
    in_group[:-1] |= same
    group = np.cumsum(np.concatenate(([True], ~same)))  # group number of each sorted row
    differs = same & (vs[1:] != vs[:-1]) & ~(np.isnan(vs[1:]) & np.isnan(vs[:-1]))
    bad_group = np.zeros(int(group[-1]) + 1, dtype=bool)
    bad_group[group[1:][differs]] = True
    sub_dup = np.zeros(n, dtype=bool)
    sub_conflict = np.zeros(n, dtype=bool)
    sub_dup[order] = in_group
    sub_conflict[order] = in_group & bad_group[group]
    dup[candidates] = sub_dup
    conflict[candidates] = sub_conflict
    return dup, conflict


def _check_events(e: pd.DataFrame, patient_ids: pd.Series, col: Collector) -> None:
    if len(e) == 0:
        return
    _check_orphans(e, _known(e, patient_ids), col)
    _check_days(e, e["day"].to_numpy(dtype=np.float64, na_value=np.nan), col)
    ev_col = str(e["_evcol"].iloc[0]) if "_evcol" in e.columns else "event"
    det_col = str(e["_detcol"].iloc[0]) if "_detcol" in e.columns else "detail"
    events, details = e["event"], e["detail"]
    ev_codes, ev_names = encode(events)
    known_event = np.append(np.array([n in EVENTS for n in ev_names], dtype=bool), True)
    col.grouped(e, ~known_event[ev_codes], events, code="unknown_event", column=ev_col,
                message="event not recognised (map it in [events.events])",
                expected=", ".join(EVENTS))
    det_codes, det_values = encode(details)
    has_detail = np.append(np.array([str(d).strip() != "" for d in det_values], dtype=bool),
                           False)[det_codes]
    value = e["value"].to_numpy(dtype=np.float64, na_value=np.nan)
    col.rows(e, value < 0, code="negative_value", column="value", values=value,
             message="negative event value", expected="a value >= 0")
    for i, name in enumerate(ev_names):
        if name not in EVENTS:
            continue
        allowed = EVENTS[name]
        is_ev = ev_codes == i
        if allowed is not None:
            ok_detail = np.append(np.array([d in allowed for d in det_values], dtype=bool),
                                  True)[det_codes]
            col.grouped(e, is_ev & has_detail & ~ok_detail, details, code="unknown_detail",
                        column=det_col,
                        message=f"detail not recognised for {name} (map it in "
                                "[events.details])",
                        expected=", ".join(a for a in allowed if a))
        if name in DETAIL_REQUIRED:
            col.rows(e, is_ev & ~has_detail, code="missing_detail", column=det_col,
                     severity="warning", message=f"{name} without a detail; grading may "
                     "not be able to use it",
                     expected=", ".join(a for a in (allowed or ()) if a))
        if name in EVENT_VALUE_RANGES:
            lo, hi = EVENT_VALUE_RANGES[name]
            col.rows(e, is_ev & (value > hi), code="out_of_range", column="value",
                     values=value, message=f"{name} value outside its range",
                     expected=f"{lo:g} to {hi:g}")
        if name == "vasopressor" or name in EVENT_UNITS:
            _check_event_units(e, name, is_ev, value, col)
    if not any(n in CRS_EVENTS for n in ev_names):
        col.add(Problem(table=str(e["_src"].iloc[0]) if "_src" in e.columns else "events",
                        severity="warning", code="no_crs_events", column=ev_col,
                        message="the events table has no CRS event (no hypotension, "
                        "vasopressor, oxygen, FiO2, tocilizumab, corticosteroid or death "
                        "row): CRS cannot be graded from raw data; only recorded grades "
                        "(crs_grade_recorded) give outcomes",
                        expected=", ".join(sorted(CRS_EVENTS))))


def _check_event_units(e: pd.DataFrame, name: str, is_ev: npt.NDArray[np.bool_],
                       value: npt.NDArray[np.float64], col: Collector) -> None:
    """Units of the events the grading reads: refused at load like observation units."""
    from crsscore.units import dose_unit_problem

    unit_col = str(e["_unitcol"].iloc[0]) if "_unitcol" in e.columns else "unit"
    u_codes, u_values = encode(e["unit"])
    units = ["" if u is None else str(u).strip() for u in u_values] + [""]
    u_idx = np.where(u_codes < 0, len(units) - 1, u_codes)
    no_unit = np.array([u == "" for u in units], dtype=bool)[u_idx]
    if name == "vasopressor":
        col.rows(e, is_ev & no_unit & np.isfinite(value), code="missing_unit",
                 column=unit_col, message="vasopressor dose without a unit",
                 expected="ug/min, ug/kg/min (vasopressin: U/min or U/h)")
        d_codes, d_values = encode(e["detail"])
        details = ["" if d is None else str(d) for d in d_values] + [""]
        d_idx = np.where(d_codes < 0, len(details) - 1, d_codes)
        key = d_idx * len(units) + u_idx
        for k in np.unique(key[is_ev & ~no_unit]):
            detail, unit = details[int(k) // len(units)], units[int(k) % len(units)]
            why = dose_unit_problem(detail, unit)
            if why is not None:
                col.block(e, is_ev & (key == k), code="unknown_unit", column=unit_col,
                          value=unit, message=f"{why}; the dose cannot be graded",
                          expected="ug/min or ug/kg/min (vasopressin: U/min or U/h; "
                                   "angiotensin II: ng/kg/min)")
        return
    allowed = EVENT_UNITS[name]
    bad = np.array([u.lower() not in allowed for u in units], dtype=bool)[u_idx]
    col.grouped(e, is_ev & bad, e["unit"], code="unknown_unit", column=unit_col,
                message=f"{name} unit not recognised",
                expected=", ".join(repr(a) if a else "empty" for a in allowed))


def validate_tables(loaded: Loaded, index: _Index | None = None, *,
                    implausible: str = "refuse") -> bool:
    """Add every content problem of the tables to ``loaded.collector``.

    ``implausible="exclude"`` turns values outside the physiological range into warnings,
    removes them from the tables (set missing) and lists each in the exclusions.  Returns
    whether observations were removed (an index computed before is then stale).
    """
    if implausible not in IMPLAUSIBLE_POLICIES:
        raise ValueError(f"implausible must be 'refuse' or 'exclude'; got {implausible!r}")
    col = loaded.collector
    _check_patients(loaded.patients, col, implausible=implausible, decimal=loaded.decimal)
    ids = loaded.patients["patient_id"]
    ix = index if index is not None else _index(loaded.observations, ids)
    drop = _check_observations(loaded.observations, ix, col, implausible=implausible,
                               decimal=loaded.decimal)
    _check_events(loaded.events, ids, col)
    if drop.any():
        loaded.observations = loaded.observations.loc[~drop].reset_index(drop=True)
        return True
    return False


def count_implausible(collector: Collector) -> int:
    """Values outside the physiological range flagged as errors, listed or not."""
    listed = sum(1 for p in collector.errors if p.code == "out_of_range"
                 and "rows in total, the first" not in p.message)
    beyond = sum(int(t["total"]) - int(t["listed"]) for t in collector.truncated
                 if t["code"] == "out_of_range")
    return listed + beyond


# --------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------

_PROBLEM_COLUMNS = ("severity", "table", "row", "column", "code", "message", "value",
                    "expected")


@dataclass(frozen=True, eq=False)
class CheckReport:
    """What :func:`check_cohort` found.

    Attributes
    ----------
    source, synthetic
        Where the data came from; whether they are simulated.
    problems
        Every problem (errors, warnings, information), in the order found.
    counts
        Rows per table, distinct patients, analytes and events.
    analytes
        Per analyte: label, canonical unit, rows, patients measured, min/median/max (canonical
        unit) and the number of values outside the physiological range.
    missing_by_variable
        Per patient column and analyte: patients without a value (n and %).
    missing_by_day
        Analyte x day (rounded, within ``days``): % of patients without a measurement.
    exclusions
        Every row left out while reading: table, row, column and reason.
    missing_tables
        Tables not found or without a data row (``"events"``: CRS cannot be graded from
        raw data).
    """

    source: str
    synthetic: bool
    problems: tuple[Problem, ...]
    counts: dict[str, int]
    analytes: pd.DataFrame
    missing_by_variable: pd.DataFrame
    missing_by_day: pd.DataFrame
    exclusions: pd.DataFrame
    missing_tables: tuple[str, ...] = ()
    truncated: tuple[dict[str, Any], ...] = ()
    n_implausible: int = 0

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def has_errors(self) -> bool:
        return any(p.severity == "error" for p in self.problems)

    def to_frame(self) -> pd.DataFrame:
        """One row per problem: severity, table, row, column, code, message, value, expected."""
        if not self.problems:
            return pd.DataFrame({c: pd.Series(dtype="object") for c in _PROBLEM_COLUMNS})
        records = [p.to_dict() for p in self.problems]
        return pd.DataFrame.from_records(records, columns=list(_PROBLEM_COLUMNS))

    def summary(self) -> pd.DataFrame:
        """Counts and problem tallies as a two-column table (item, value)."""
        items: list[tuple[str, object]] = [("source", self.source),
                                           ("synthetic", self.synthetic)]
        items += list(self.counts.items())
        items += [("errors", len(self.errors)), ("warnings", len(self.warnings)),
                  ("rows left out", len(self.exclusions))]
        return pd.DataFrame(items, columns=["item", "value"])

    def problem_counts(self) -> pd.DataFrame:
        """Problems tallied by severity, table and code."""
        frame = self.to_frame()
        if frame.empty:
            return pd.DataFrame({"severity": [], "table": [], "code": [], "n": []})
        return (frame.groupby(["severity", "table", "code"], sort=True).size()
                .rename("n").reset_index())

    def to_dict(self) -> dict[str, Any]:
        by_day = {str(a): {str(d): (None if pd.isna(v) else float(v)) for d, v in row.items()}
                  for a, row in self.missing_by_day.iterrows()}
        return {
            "source": self.source,
            "synthetic": self.synthetic,
            "has_errors": self.has_errors,
            "counts": dict(self.counts),
            "n_errors": len(self.errors),
            "n_warnings": len(self.warnings),
            "problems": [p.to_dict() for p in self.problems],
            "analytes": self.analytes.to_dict(orient="records"),
            "missing_by_variable": self.missing_by_variable.to_dict(orient="records"),
            "missing_by_day": by_day,
            "exclusions": self.exclusions.to_dict(orient="records"),
            "missing_tables": list(self.missing_tables),
            # problems of one kind beyond the first MAX_LISTED are counted, not listed (the
            # exclusions above list every row or cell left out)
            "problems_complete": not self.truncated,
            "truncated": [dict(t, not_listed=t["total"] - t["listed"]) for t in self.truncated],
        }

    def __repr__(self) -> str:
        return (f"CheckReport(source={self.source!r}, patients={self.counts.get('patients')}, "
                f"errors={len(self.errors)}, warnings={len(self.warnings)}, "
                f"excluded_rows={len(self.exclusions)})")


def _distinct(keys: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Distinct integer keys (numpy 2's vectorised sort is faster than hashing here)."""
    if len(keys) == 0:
        return np.asarray(keys, dtype=np.int64)
    ordered = np.sort(keys)
    return np.asarray(ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))],
                      dtype=np.int64)


def _analyte_table(o: pd.DataFrame, ix: _Index) -> pd.DataFrame:
    cols = ["analyte", "label", "unit", "n_rows", "n_patients", "min", "median", "max",
            "n_out_of_range"]
    if len(o) == 0:
        return pd.DataFrame({c: [] for c in cols})
    n_a = len(ANALYTE_CODES)
    value = o["value"].to_numpy(dtype=np.float64)
    stats = pd.Series(value).groupby(ix.analyte).agg(["size", "min", "median", "max"])
    pairs = _distinct(ix.analyte * (ix.n_pid + 1) + (ix.pid + 1))
    n_patients = np.bincount(pairs // (ix.n_pid + 1), minlength=n_a)
    low = np.array([ANALYTES[a].low for a in ANALYTE_CODES])[ix.analyte]
    high = np.array([ANALYTES[a].high for a in ANALYTE_CODES])[ix.analyte]
    outside = np.bincount(ix.analyte, weights=((value < low) | (value > high)), minlength=n_a)
    rows = []
    for i in stats.index:
        code = ANALYTE_CODES[int(i)]
        spec = ANALYTES[code]
        rows.append({"analyte": code, "label": spec.label, "unit": spec.unit,
                     "n_rows": int(stats.loc[i, "size"]), "n_patients": int(n_patients[i]),
                     "min": float(stats.loc[i, "min"]), "median": float(stats.loc[i, "median"]),
                     "max": float(stats.loc[i, "max"]), "n_out_of_range": int(outside[i])})
    return pd.DataFrame(rows, columns=cols)


def _missing_by_variable(p: pd.DataFrame, o: pd.DataFrame, ix: _Index) -> pd.DataFrame:
    n = len(p)
    rows: list[dict[str, object]] = []
    for name in PATIENT_COLUMNS:
        if name in p.columns:
            k = int(p[name].isna().sum())
            rows.append({"table": "patients", "variable": name, "n": n, "n_missing": k,
                         "pct_missing": 100.0 * k / n if n else np.nan})
    if len(o):
        keep = ix.known
        pairs = _distinct(ix.analyte[keep] * (ix.n_pid + 1) + ix.pid[keep])
        measured = np.bincount(pairs // (ix.n_pid + 1), minlength=len(ANALYTE_CODES))
        present = np.bincount(ix.analyte, minlength=len(ANALYTE_CODES)) > 0
        for i, code in enumerate(ANALYTE_CODES):
            if present[i]:
                k = n - int(measured[i])
                rows.append({"table": "observations", "variable": code, "n": n,
                             "n_missing": k, "pct_missing": 100.0 * k / n if n else np.nan})
    return pd.DataFrame(rows, columns=["table", "variable", "n", "n_missing", "pct_missing"])


def _missing_by_day(p: pd.DataFrame, o: pd.DataFrame, ix: _Index,
                    days: tuple[int, int]) -> pd.DataFrame:
    day_range = list(range(days[0], days[1] + 1))
    n = len(p)
    present = np.bincount(ix.analyte, minlength=len(ANALYTE_CODES)) > 0 if len(o) else \
        np.zeros(len(ANALYTE_CODES), dtype=bool)
    analytes = [a for i, a in enumerate(ANALYTE_CODES) if present[i]]
    if len(o) == 0 or n == 0:
        return pd.DataFrame(np.full((len(analytes), len(day_range)), np.nan),
                            index=pd.Index(analytes, name="analyte"),
                            columns=pd.Index(day_range, name="day"))
    rounded = np.floor(o["day"].to_numpy(dtype=np.float64) + 0.5)
    inside = (rounded >= days[0]) & (rounded <= days[1]) & ix.known
    n_days = len(day_range)
    cell = ix.analyte[inside] * n_days + (rounded[inside].astype(np.int64) - days[0])
    uniq = _distinct(cell * (ix.n_pid + 1) + ix.pid[inside])
    counts = np.bincount(uniq // (ix.n_pid + 1), minlength=len(ANALYTE_CODES) * n_days)
    table = counts.reshape(len(ANALYTE_CODES), n_days)[present]
    return pd.DataFrame(100.0 * (1.0 - table / n), index=pd.Index(analytes, name="analyte"),
                        columns=pd.Index(day_range, name="day"))


def report_from_tables(loaded: Loaded, *, days: tuple[int, int] = (-7, 28),
                       implausible: str = "refuse") -> CheckReport:
    """Validate loaded tables and build the report."""
    p, o, e = loaded.patients, loaded.observations, loaded.events
    ix = _index(o, p["patient_id"])
    if validate_tables(loaded, ix, implausible=implausible):
        o = loaded.observations
        ix = _index(o, p["patient_id"])
    counts = {
        "patients": len(p),
        "distinct patient ids": int(p["patient_id"].nunique()),
        "observations": len(o),
        "analytes": int((np.bincount(ix.analyte) > 0).sum()) if len(o) else 0,
        "events": len(e),
        "event types": len(encode(e["event"])[1]) if len(e) else 0,
    }
    return CheckReport(
        source=loaded.source, synthetic=loaded.synthetic,
        problems=tuple(loaded.collector.problems), counts=counts,
        analytes=_analyte_table(o, ix),
        missing_by_variable=_missing_by_variable(p, o, ix),
        missing_by_day=_missing_by_day(p, o, ix, days),
        exclusions=loaded.collector.exclusions(), missing_tables=loaded.missing_tables,
        truncated=tuple(loaded.collector.truncated),
        n_implausible=count_implausible(loaded.collector))


def check_cohort(cohort_or_path: Cohort | str | Path,
                 mapping: Mapping | dict[str, Any] | str | Path | None = None, *,
                 days: tuple[int, int] = (-7, 28), implausible: str = "refuse",
                 max_listed: int | None = MAX_LISTED) -> CheckReport:
    """Check a cohort (in memory, a canonical folder, or an export read through a mapping).

    Parameters
    ----------
    cohort_or_path
        A :class:`Cohort`, or a path accepted by :func:`crsscore.data.io.load_cohort`.  For an
        in-memory cohort, rows are numbered as in a CSV export of the table (header row 1).
    mapping
        The mapping for a centre's export (file path, :class:`Mapping` or dict).
    days
        The day window (inclusive, rounded days) of :attr:`CheckReport.missing_by_day`.
    implausible
        ``"refuse"`` (values outside the physiological range are errors) or ``"exclude"``
        (they are set missing, each listed in :attr:`CheckReport.exclusions`).
    max_listed
        Problems listed per kind (table, column, code) before one summary line counting the
        rest (:attr:`CheckReport.truncated`); None lists every one (``check --json``).

    Raises
    ------
    DataError, MappingError
        Only when the input cannot be read at all.
    """
    if days[0] > days[1]:
        raise ValueError(f"days must be (first, last) with first <= last, got {days}")
    if isinstance(cohort_or_path, Cohort):
        if mapping is not None:
            raise ValueError("a mapping applies to files, not to an in-memory Cohort")
        loaded = tables_from_cohort(cohort_or_path, max_listed=max_listed)
    else:
        loaded = read_cohort_tables(cohort_or_path, mapping, max_listed=max_listed)
    return report_from_tables(loaded, days=days, implausible=implausible)


__all__ = ["DETAIL_REQUIRED", "EVENT_VALUE_RANGES", "IMPLAUSIBLE_POLICIES", "CheckReport", "check_cohort",
           "count_implausible", "report_from_tables", "validate_tables"]
