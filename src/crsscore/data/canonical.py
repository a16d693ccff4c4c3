"""Mapping a centre's raw tables onto the canonical tables, values in canonical units.

The normalisers take frames as read (:func:`crsscore.data.files.read_table`: the centre's
columns plus ``_row``/``_src``) and a :class:`~crsscore.data.mapping.TableMapping`, and return
the canonical patients, observations and events tables (``schema.py``), still carrying the
helper columns so that every problem stays located.  They resolve the mapped columns, parse
the cells, convert every observation to its analyte's canonical unit (one conversion per
distinct analyte and unit), and leave out **and list** the rows that cannot be represented
(no patient id, a value that is not a number, an unknown unit or analyte).  Cells that cannot
be read in the patients table are set missing and reported.  :class:`Loaded` holds the result
with its :class:`~crsscore.problems.Collector`; :func:`to_cohort` turns it into a
:class:`~crsscore.data.cohort.Cohort`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from crsscore._types import BoolArray, FloatArray
from crsscore.columnar import Column, categorical, constant, decode, encode, frame_of
from crsscore.data.cells import (
    apply_value_codes,
    clean_categories,
    clean_texts,
    map_text,
    parse_dates,
    parse_numbers,
)
from crsscore.data.cohort import Cohort
from crsscore.data.mapping import (
    EventsMapping,
    Mapping,
    ObservationsMapping,
    PatientsMapping,
    TableMapping,
)
from crsscore.data.schema import (
    ANALYTES,
    EVENT_COLUMNS,
    EVENTS,
    MISSING_TABLE_EFFECT,
    OBSERVATION_COLUMNS,
    PATIENT_COLUMNS,
)
from crsscore.errors import DataError, MappingError, Problem, UnitError
from crsscore.problems import MAX_LISTED, Collector
from crsscore.units import Conversion, canonical_unit, conversion_for, normalise_unit, rescale


def _fold(name: str) -> str:
    """A column name ignoring case and spaces."""
    return "".join(name.split()).casefold()


def _missing_column(table: str, name: str, frame: pd.DataFrame, *, mapped: bool,
                    what: str) -> str:
    import difflib  # only to word an error (start-up of the commands)

    columns = [str(c) for c in frame.columns if not str(c).startswith("_")]
    close = difflib.get_close_matches(name, columns, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    origin = "named in the mapping " if mapped else ""
    shown = ", ".join(columns[:30]) + (" ..." if len(columns) > 30 else "")
    return f"{table}: column {name!r} ({what}) {origin}not found{hint} (columns: {shown})"


def _category(value: object, *, allowed: set[str], defaults: dict[str, str]) -> object:
    if not isinstance(value, str) or value in allowed:
        return value
    return defaults.get(value.casefold(), value)


ANALYTE_CODES: list[str] = list(ANALYTES)
_ANALYTE_INDEX = {code: i for i, code in enumerate(ANALYTE_CODES)}
_CANON_UNITS: list[str] = list(dict.fromkeys(canonical_unit(a) for a in ANALYTE_CODES))
_CANON_UNIT_INDEX = np.array([_CANON_UNITS.index(canonical_unit(a)) for a in ANALYTE_CODES],
                             dtype=np.int64)

_SEX = {"f": "F", "female": "F", "m": "M", "male": "M"}
_COSTIM = {"cd28": "CD28", "4-1bb": "4-1BB", "41bb": "4-1BB", "4-1 bb": "4-1BB",
           "cd137": "4-1BB"}


@dataclass
class Context:
    mapping: Mapping
    canonical: bool
    collector: Collector
    missing: frozenset[str]
    structural: list[str] = field(default_factory=list)
    used: dict[str, set[str]] = field(default_factory=dict)
    #: The last raw frame looked at, its table label, its column labels and these by
    #: :func:`_fold`: each mapped column of a table is resolved against the same frame (a
    #: column lookup costs ~20 us).
    _seen: tuple[pd.DataFrame, str, list[Any], dict[str, list[Any]]] | None = field(
        default=None, repr=False, compare=False)

    def _look(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, str, list[Any],
                                                  dict[str, list[Any]]]:
        seen = self._seen
        if seen is None or seen[0] is not frame:
            key = str(frame["_src"].array[0]) if len(frame) else "?"
            columns = frame.columns.tolist()
            folded: dict[str, list[Any]] = {}
            for c in columns:
                folded.setdefault(_fold(str(c)), []).append(c)
            seen = self._seen = (frame, key, columns, folded)
        return seen

    def find(self, frame: pd.DataFrame, name: str) -> str | None:
        """The frame's column called ``name`` (exact, then ignoring case and spaces)."""
        _, _, columns, folded = self._look(frame)
        if name in columns:
            return name
        hits = folded.get(_fold(name), [])
        return str(hits[0]) if len(hits) == 1 else None

    def use(self, frame: pd.DataFrame, column: str) -> None:
        self.used.setdefault(self._look(frame)[1], set()).add(column)


def empty_frame(columns: Sequence[str]) -> pd.DataFrame:
    """A table without rows: ``columns`` (``day``/``value`` float, ``analyte`` categorical of
    the analyte codes, the others text) and the ``_row``/``_src`` helper columns."""
    # Built once per set of columns (an empty text column costs ~0.1 ms in pandas 3, which
    # a few-row monitor request without events would pay on every call); a copy each time.
    return _empty_template(tuple(columns)).copy()


@functools.lru_cache(maxsize=16)
def _empty_template(columns: tuple[str, ...]) -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype="float64" if c in ("day", "value") else "str")
                          for c in columns})
    if "analyte" in frame.columns:
        frame["analyte"] = categorical(np.zeros(0, dtype=np.int8), ANALYTE_CODES)
    frame["_row"] = pd.Series(dtype="int64")
    frame["_src"] = pd.Series(dtype="str")
    return frame


def _resolve(frame: pd.DataFrame, tm: TableMapping, name: str, table: str, ctx: Context,
             *, required: bool, what: str) -> str | None:
    src = tm.source(name)
    actual = ctx.find(frame, src)
    if actual is None and required:
        ctx.structural.append(_missing_column(table, src, frame, mapped=name in tm.columns,
                                              what=what))
    elif actual is None and name in tm.columns:
        ctx.structural.append(_missing_column(table, src, frame, mapped=True, what=what))
    if actual is not None:
        ctx.use(frame, actual)
    return actual


def _default_index(series: pd.Series) -> bool:
    """Whether the series is indexed 0..n-1 (``reset_index(drop=True)`` gives it again)."""
    index = series.index
    return isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1


def normalise_patients(raw: pd.DataFrame, tm: PatientsMapping, ctx: Context) -> pd.DataFrame:
    m, col_ = ctx.mapping, ctx.collector
    # the table is built at once below; problems are located through raw's own _row/_src
    # (the same rows, in the same order, until the rows without an id are left out)
    cols: dict[str, Any] = {"_row": raw["_row"].to_numpy(), "_src": raw["_src"].array}
    resolved: dict[str, str] = {}
    for name, spec in PATIENT_COLUMNS.items():
        actual = _resolve(raw, tm, name, "patients", ctx, required=spec.required,
                          what=spec.description or spec.kind)
        if actual is not None:
            resolved[name] = actual
    if "patient_id" not in resolved:
        return frame_of(cols).iloc[0:0]
    for name, actual in resolved.items():
        spec = PATIENT_COLUMNS[name]
        series = raw[actual]
        if not _default_index(series):
            series = series.reset_index(drop=True)
        codes = tm.values.get(name, {})
        if spec.kind in ("str", "category") or codes:
            series = apply_value_codes(clean_texts(series, ctx.missing), codes)
        # text cleaned once is clean (cleaned again only after value codes were applied)
        tidy = spec.kind in ("str", "category") and not codes
        if spec.kind == "str":
            cols[name] = (series if tidy else clean_texts(series, ctx.missing)).array
            if name == "patient_id":
                col_.rows(raw, no_id := pd.isna(cols[name]), code="missing_id", column=actual,
                          exclude=True, message="no patient id; row left out",
                          expected="an identifier in every row")
        elif spec.kind == "float":
            values, bad = parse_numbers(series, m.decimal, ctx.missing)
            unit = tm.units.get(name) or spec.unit
            col_.rows(raw, bad, code="not_a_number", column=actual, values=series,
                      message=f"{name} is not a number; cell set missing",
                      expected=f"a number in {unit}" if unit else "a number")
            if spec.unit_kind is not None:
                conv = conversion_for(spec.unit_kind, unit, column=actual, table="patients")
                values = conv.apply(values)
            cols[name] = values
        elif spec.kind == "int01":
            text = clean_texts(series, ctx.missing)
            low = text.str.casefold()
            yes, no = low.isin(m.yes_words()).to_numpy(), low.isin(m.no_words()).to_numpy()
            values = np.where(yes, 1.0, np.where(no, 0.0, np.nan))
            bad = text.notna().to_numpy() & ~yes & ~no
            col_.rows(raw, bad, code="not_01", column=actual, values=text,
                      message=f"{name} is not yes/no; cell set missing",
                      expected="0/1 or a yes/no word (add words with 'yes'/'no' in the mapping)")
            # int64 like the canonical files when complete; float64 with NaN when not
            cols[name] = values.astype(np.int64) if not np.isnan(values).any() else values
        elif spec.kind == "category":
            defaults = _SEX if name == "sex" else _COSTIM if name == "costim" else {}
            text = series if tidy else clean_texts(series, ctx.missing)
            allowed = set(spec.categories or ())
            canon = pd.Series(map_text(text, functools.partial(
                _category, allowed=allowed, defaults=defaults)), dtype=object)
            bad = canon.notna().to_numpy() & ~canon.isin(allowed).to_numpy()
            col_.rows(raw, bad, code="unknown_category", column=actual, values=text,
                      message=f"{name} value not recognised; cell set missing",
                      expected=f"one of {', '.join(sorted(allowed))} (or a value code in "
                               f"[patients.values.{name}])")
            cols[name] = pd.Series(canon.where(~bad, None).to_numpy(), dtype="str").array
        elif spec.kind == "date":
            dates, bad = parse_dates(series, m.date_format, ctx.missing)
            col_.rows(raw, bad, code="not_a_date", column=actual, values=series,
                      message=f"{name} is not a date; cell set missing",
                      expected=f"a date ({m.date_format or 'YYYY-MM-DD'})")
            iso = dates.dt.strftime("%Y-%m-%d")  # canonical: ISO date text
            cols[name] = pd.Series(iso.to_numpy(), dtype="str").array
    if ctx.canonical:  # the canonical format may carry extra columns: keep them as they are
        for extra in raw.columns:
            if extra not in PATIENT_COLUMNS and not str(extra).startswith("_"):
                cols[extra] = raw[extra].array
    out = frame_of(cols)
    keep = ~np.asarray(no_id, dtype=bool)
    if not keep.all():
        out = out.loc[keep].reset_index(drop=True)
    if tm.layout == "patient_day":
        out = _collapse_patient_days(raw.loc[keep].reset_index(drop=True), out, tm, ctx,
                                     resolved)
    return out


def _collapse_patient_days(raw: pd.DataFrame, out: pd.DataFrame, tm: PatientsMapping,
                           ctx: Context, resolved: dict[str, str]) -> pd.DataFrame:
    """One row per patient from a table given one row per patient and day.

    Each patient column takes the value of the rule in ``tm.take``: ``constant`` (the value
    must be the same on every row; rows that disagree are an error per patient and column),
    ``first`` / ``last`` (by day, then file row) or ``day N`` (the row nearest day N).  With an
    explicit rule, disagreeing rows are a warning per patient and column naming the rows.
    The patient's row is its first row in the file.
    """
    rule, at_day = tm.take_rule()
    day_col, date_col = _day_columns(raw, tm, "patients", ctx)
    if day_col is None and date_col is None:
        return out.iloc[0:0]
    if day_col is not None:
        day, _ = parse_numbers(raw[day_col], ctx.mapping.decimal, ctx.missing)
    else:
        assert date_col is not None
        dates, _ = parse_dates(raw[date_col], ctx.mapping.date_format, ctx.missing)
        stamp = dates.to_numpy(dtype="datetime64[ns]")
        if "infusion_date" in out.columns:
            base = pd.to_datetime(out["infusion_date"], format="%Y-%m-%d",
                                  errors="coerce").to_numpy(dtype="datetime64[ns]")
            day = (stamp - base) / np.timedelta64(1, "D")
        else:
            day = (stamp - stamp.min()) / np.timedelta64(1, "D") if len(stamp) else \
                np.zeros(0)
        day = np.asarray(day, dtype=np.float64)
    col_ = ctx.collector
    frame = out.assign(_day=day, _order=np.arange(len(out)))
    if rule == "day":
        assert at_day is not None
        key = np.abs(day - at_day)
        frame = frame.assign(_key=np.where(np.isnan(key), np.inf, key))
        frame = frame.sort_values(["patient_id", "_key", "_day", "_row"], kind="stable")
    else:
        frame = frame.assign(_key=np.where(np.isnan(day), np.inf, day))
        frame = frame.sort_values(["patient_id", "_key", "_row"], kind="stable",
                                  ascending=[True, rule != "last", rule != "last"])
    groups = frame.groupby("patient_id", sort=False, observed=True)
    first_rows = groups["_row"].min()
    taken = groups.first()  # first non-missing value of each column in rule order
    result = pd.DataFrame({"patient_id": taken.index.astype(str)})
    result["_row"] = first_rows.reindex(taken.index).to_numpy(dtype=np.int64)
    result["_src"] = constant(len(result), str(out["_src"].iloc[0]) if len(out) else "patients")
    severity = "error" if rule == "constant" else "warning"
    for name, actual in resolved.items():
        if name == "patient_id":
            continue
        result[name] = taken[name].to_numpy() if name in taken.columns else np.nan
        col = frame[["patient_id", "_row", name]].dropna(subset=[name])
        if col.empty:
            continue
        distinct = col.groupby("patient_id", observed=True)[name].nunique()
        for pid in distinct.index[distinct.to_numpy() > 1]:
            rows = col[col["patient_id"] == pid]
            chosen = taken.at[pid, name]
            by_value: dict[str, list[int]] = {}
            for v, r in zip(rows[name].to_numpy(), rows["_row"].to_numpy(), strict=True):
                by_value.setdefault(_show_value(v), []).append(int(r))
            listed = "; ".join(f"{v!r} in row(s) {_row_list(rs)}" for v, rs in by_value.items())
            other = min(r for v, rs in by_value.items() if v != _show_value(chosen) for r in rs)
            what = ("must be the same on every row of a patient (set take = \"first\", "
                    "\"last\" or \"day N\" in [patients] to choose one)"
                    if rule == "constant" else f"took {_show_value(chosen)!r} by take = "
                    f"{tm.take!r}")
            col_.add(Problem(
                table=str(out["_src"].iloc[0]), row=other, column=actual, severity=severity,
                code="patient_value_conflict",
                message=f"{name} differs between the rows of one patient ({listed}); {what}",
                value=None, expected="one value per patient"))
    for name in resolved:
        if name != "patient_id" and name in out.columns:
            dtype = out[name].dtype
            if pd.api.types.is_numeric_dtype(dtype):
                values = pd.to_numeric(result[name], errors="coerce").to_numpy(dtype=np.float64)
                if PATIENT_COLUMNS[name].kind == "int01" and not np.isnan(values).any():
                    result[name] = values.astype(np.int64)
                else:
                    result[name] = values
            else:
                result[name] = pd.Series(result[name].to_numpy(dtype=object), dtype="str").array
    return result.sort_values("_row", kind="stable").reset_index(drop=True)


def _show_value(value: object) -> str:
    if isinstance(value, float | np.floating):
        return f"{float(value):g}"
    return str(value)


def _row_list(rows: list[int]) -> str:
    rows = sorted(rows)
    if len(rows) > 2 and rows[-1] - rows[0] == len(rows) - 1:
        return f"{rows[0]}-{rows[-1]}"
    shown = ", ".join(str(r) for r in rows[:6])
    return shown + (f" ... ({len(rows)} rows)" if len(rows) > 6 else "")


def _analyte_lookup(om: ObservationsMapping, *, codes: bool = True) -> dict[str, str]:
    """Centre's analyte names (case-folded) -> codes; ``codes``: analyte codes match too."""
    lookup = {code: code for code in ANALYTES} if codes else {}
    lookup.update({k.strip().casefold(): v for k, v in om.analytes.items()})
    return lookup


def _exclude_bad_days(col_: Collector, rows: pd.DataFrame, keep: BoolArray, raw: pd.DataFrame,
                      day_label: str, bad_day: BoolArray, no_day: BoolArray) -> BoolArray:
    """List and leave out the kept rows whose day is unreadable or missing; the rows still kept."""
    col_.rows(rows, keep & bad_day, code="not_a_day", column=day_label, exclude=True,
              values=raw[day_label], message="day is not readable; row left out")
    col_.rows(rows, keep & no_day, code="missing_day", column=day_label, exclude=True,
              message="no day (or no infusion date for this patient); row left out")
    out: BoolArray = keep & ~bad_day & ~no_day
    return out


def _day_values(raw: pd.DataFrame, day_col: str | None, date_col: str | None,
                pid: Column, ctx: Context, patients: pd.DataFrame
                ) -> tuple[FloatArray, BoolArray, BoolArray]:
    """Days since infusion, a mask of unreadable cells and a mask of missing cells.

    Dates are turned into days by the patient's infusion date (from ``patients``).
    """
    if day_col is not None:
        values, bad = parse_numbers(raw[day_col], ctx.mapping.decimal, ctx.missing)
        return values, bad, np.isnan(values) & ~bad
    assert date_col is not None
    dates, bad = parse_dates(raw[date_col], ctx.mapping.date_format, ctx.missing)
    infusion = _infusion_lookup(patients)
    if infusion is None:
        base = pd.Series(pd.NaT, index=dates.index, dtype="datetime64[ns]")
    else:
        codes, uniques = encode(pid)
        per_id = pd.Series(infusion.reindex(pd.Index(uniques, dtype=object)).to_numpy(),
                           dtype="datetime64[ns]").to_numpy()
        base = pd.Series(np.append(per_id, np.datetime64("NaT", "ns"))[codes],
                         dtype="datetime64[ns]")
    delta = (dates.reset_index(drop=True) - base.reset_index(drop=True))
    days = np.asarray((delta.dt.total_seconds() / 86400.0).to_numpy(dtype=np.float64, na_value=np.nan),
                      dtype=np.float64)
    return days, bad, np.isnan(days) & ~bad


def _infusion_lookup(patients: pd.DataFrame) -> pd.Series | None:
    if "infusion_date" not in patients.columns:
        return None
    frame = patients[["patient_id", "infusion_date"]].dropna()
    frame = frame.drop_duplicates("patient_id")
    dates = pd.to_datetime(frame["infusion_date"], format="%Y-%m-%d")
    return pd.Series(dates.to_numpy(), index=frame["patient_id"].to_numpy())


def normalise_observations(raws: list[pd.DataFrame], om: ObservationsMapping, ctx: Context,
                  patients: pd.DataFrame) -> pd.DataFrame:
    parts: list[dict[str, Any]] = []  # each file's rows as columns (one frame built at the end)
    for raw in raws:
        if om.layout == "long":
            part = _obs_long(raw, om, ctx, patients)
        else:
            part = _obs_wide(raw, om, ctx, patients)
        if part is not None:
            parts.append(part)
    if not parts:
        return empty_frame(OBSERVATION_COLUMNS)
    if len(parts) == 1:
        return _convert_units(parts[0], om, ctx)
    return _convert_units(_columns_of(pd.concat([frame_of(p) for p in parts],
                                                ignore_index=True)), om, ctx)


def _day_columns(raw: pd.DataFrame, tm: TableMapping, table: str, ctx: Context
                 ) -> tuple[str | None, str | None]:
    day_col = ctx.find(raw, tm.source("day")) if "date" not in tm.columns else None
    date_col = None
    if day_col is None:
        date_col = ctx.find(raw, tm.source("date"))
    if day_col is None and date_col is None:
        if "date" in tm.columns:
            ctx.structural.append(_missing_column(table, tm.source("date"), raw, mapped=True,
                                                  what="date of the measurement"))
        else:
            ctx.structural.append(_missing_column(
                table, tm.source("day"), raw, mapped="day" in tm.columns,
                what="days since infusion; or map a 'date' column"))
    for c in (day_col, date_col):
        if c is not None:
            ctx.use(raw, c)
    return day_col, date_col


def _obs_long(raw: pd.DataFrame, om: ObservationsMapping, ctx: Context,
              patients: pd.DataFrame) -> dict[str, Any] | None:
    """The rows of a long table (one row per measurement) that can be read, as columns in
    the units as written; every row left out is listed."""
    pid_col = _resolve(raw, om, "patient_id", "observations", ctx, required=True,
                       what="patient id")
    ana_col = _resolve(raw, om, "analyte", "observations", ctx, required=True,
                       what="analyte name or code")
    val_col = _resolve(raw, om, "value", "observations", ctx, required=True, what="value")
    unit_col = _resolve(raw, om, "unit", "observations", ctx, required=False, what="unit")
    day_col, date_col = _day_columns(raw, om, "observations", ctx)
    if None in (pid_col, ana_col, val_col) or (day_col is None and date_col is None):
        return None
    assert pid_col is not None and ana_col is not None and val_col is not None
    col_ = ctx.collector
    n = len(raw)
    pid = clean_categories(raw[pid_col], ctx.missing)
    names = clean_categories(raw[ana_col], ctx.missing)
    lookup = _analyte_lookup(om)
    codes, uniques = encode(names)
    mapped = np.array([_ANALYTE_INDEX.get(lookup.get(str(u).casefold(), ""), -1)
                       for u in uniques] + [-1], dtype=np.int64)
    a_codes = mapped[codes]  # code -1 picks the trailing -1
    cells = raw[val_col]
    values, bad_value = parse_numbers(cells, ctx.mapping.decimal, ctx.missing)
    day, bad_day, no_day = _day_values(raw, day_col, date_col, pid, ctx, patients)
    # the table's columns: its frame is built once, by _convert_units (adding or replacing
    # columns of a frame costs ~0.1 ms each in pandas 3); problems are located through raw's
    # own _row/_src (the same rows, in the same order)
    columns = {
        "_row": raw["_row"].to_numpy(), "_src": raw["_src"].array,
        "patient_id": pid,
        "analyte": categorical(a_codes, categories=ANALYTE_CODES),
        "_col": constant(n, val_col),
        "value": values,
        "_orig": values,  # as written, before unit conversion (quoted in messages)
        "day": day,
        "unit": (clean_categories(raw[unit_col], ctx.missing) if unit_col is not None
                 else pd.array([None] * n, dtype="str")),
        "_unitcol": constant(n, unit_col or "[observations.units]")}

    no_id = np.asarray(pid.codes < 0)  # code -1 is missing
    col_.rows(raw, no_id, code="missing_id", column=pid_col, exclude=True,
              message="no patient id; row left out", expected="an identifier in every row")
    ok = ~no_id
    unknown = ok & (a_codes < 0) & (codes >= 0)  # codes: of names, -1 missing
    sev = "info" if om.unknown_analytes == "ignore" else "error"
    if unknown.any():
        col_.grouped(raw, unknown, pd.Series(names), code="unknown_analyte", column=ana_col,
                     severity=sev, exclude=True,
                     message="analyte not recognised; rows left out" + (
                         "" if sev == "info" else " (map it in [observations.analytes] or set "
                         "unknown_analytes = \"ignore\")"),
                     expected="an analyte code or a name mapped in [observations.analytes]")
    no_name = ok & (codes < 0)
    col_.rows(raw, no_name, code="missing_analyte", column=ana_col, exclude=True,
              message="no analyte name; row left out")
    ok &= ~unknown & ~no_name
    col_.rows(raw, ok & bad_value, code="not_a_number", column=val_col, exclude=True,
              values=cells, message="value is not a number; row left out",
              expected="a number (censored values such as '<5' are not guessed)")
    no_value = ok & np.isnan(values) & ~bad_value
    col_.rows(raw, no_value, code="missing_value", column=val_col, exclude=True,
              severity="info", message="empty value; row left out")
    ok &= ~bad_value & ~no_value
    day_label = day_col or date_col
    col_.rows(raw, ok & bad_day, code="not_a_day" if day_col else "not_a_date",
              column=day_label, values=raw[day_label] if bad_day.any() else None, exclude=True,
              message="day is not readable; row left out",
              expected="days since infusion" if day_col else
              f"a date ({ctx.mapping.date_format or 'YYYY-MM-DD'})")
    col_.rows(raw, ok & no_day, code="missing_day", column=day_label, exclude=True,
              message="no day" if day_col else
              "no date, or no infusion date for this patient; row left out")
    ok &= ~bad_day & ~no_day
    return columns if ok.all() else _take(columns, ok)


def _columns_of(frame: pd.DataFrame) -> dict[Any, Any]:
    """A frame's columns as arrays (:func:`frame_of` builds the same frame again)."""
    return {c: col.array for c, col in frame.items()}


def _take(columns: dict[str, Any], keep: BoolArray) -> dict[str, Any]:
    """The rows ``keep`` of every column (those of ``frame.loc[keep]`` of their frame)."""
    idx = np.flatnonzero(keep)
    return {c: a[idx] if isinstance(a, np.ndarray) else a.take(idx) for c, a in columns.items()}


def _obs_wide(raw: pd.DataFrame, om: ObservationsMapping, ctx: Context,
              patients: pd.DataFrame) -> dict[str, Any] | None:
    """The cells of a wide table (one column per analyte, or per analyte and day) that can
    be read, as the columns of a long table; every cell left out is listed."""
    col_ = ctx.collector
    pid_col = _resolve(raw, om, "patient_id", "observations", ctx, required=True,
                       what="patient id")
    # Only the columns the mapping names are read: in [observations.analytes], or an analyte
    # code whose unit [observations.units] gives.  A column that merely happens to be called
    # 'albumin' is not read unless the mapping asks for automatic matching (auto_analytes).
    lookup = _analyte_lookup(om, codes=om.auto_analytes or ctx.canonical)
    for unit_code in om.units:
        lookup.setdefault(unit_code, unit_code)
    if om.layout == "wide":
        day_col = date_col = None
    else:
        day_col, date_col = _day_columns(raw, om, "observations", ctx)
    if pid_col is None or (om.layout == "patient_day" and day_col is None and date_col is None):
        return None
    skip = {pid_col, day_col, date_col, "_row", "_src"}
    columns: list[tuple[str, str, float | None]] = []  # (source column, analyte, day)
    unmatched: list[str] = []
    regex = om.pattern_regex()
    for c in raw.columns:
        if c in skip:
            continue
        if om.layout == "wide":
            hit = regex.match(str(c))
            if hit is None:
                continue
            name, day_text = hit.group("analyte"), hit.group("day").replace(",", ".")
            code = lookup.get(name.strip().casefold())
            if code is None:
                unmatched.append(str(c))
                continue
            columns.append((str(c), code, float(day_text)))
        else:
            code = lookup.get(str(c).strip().casefold())
            if code is not None:
                columns.append((str(c), code, None))
    label = str(raw["_src"].iloc[0]) if len(raw) else "observations"
    if unmatched:
        sev = "info" if om.unknown_analytes == "ignore" else "error"
        shown = ", ".join(unmatched[:20]) + (" ..." if len(unmatched) > 20 else "")
        col_.add(Problem(table=label, severity=sev, code="unknown_analyte",
                         message=f"{len(unmatched)} column(s) match the pattern "
                         f"{om.pattern!r} but their analyte is not mapped; left out: {shown}",
                         expected="analyte names mapped in [observations.analytes]"))
    if not columns:
        what = f"named like {om.pattern!r}" if om.layout == "wide" else \
            "named in [observations.analytes]"
        what += (" (map them in [observations.analytes] and give their units in "
                 "[observations.units])") if not om.auto_analytes else ""
        ctx.structural.append(f"{label}: no observation columns {what}")
        return None
    missing_units = sorted({code for _, code, _ in columns if code not in om.units})
    if missing_units:
        problems = []
        for code in missing_units:
            cols = [c for c, a, _ in columns if a == code]
            problems.append(Problem(
                table=label, column=cols[0], code="missing_unit",
                message=f"no unit for {code} (columns {', '.join(cols[:5])}"
                        f"{' ...' if len(cols) > 5 else ''}); add [observations.units] "
                        f"{code} = \"...\"",
                expected=f"one of {', '.join(_accepted(code))}"))
        raise UnitError(problems)
    for c, _, _ in columns:
        ctx.use(raw, c)
    pid = clean_categories(raw[pid_col], ctx.missing)
    base = pd.DataFrame({"_row": raw["_row"].to_numpy(), "_src": raw["_src"].array})
    no_id = pid.isna()
    col_.rows(base, no_id, code="missing_id", column=pid_col, exclude=True,
              message="no patient id; row left out", expected="an identifier in every row")
    if om.layout == "patient_day":
        day, bad_day, no_day = _day_values(raw, day_col, date_col, pid, ctx,
                                           patients)
        row_ok = _exclude_bad_days(col_, base, ~no_id, raw, str(day_col or date_col), bad_day,
                                   no_day)
    else:
        day = np.zeros(len(raw))
        row_ok = ~no_id
    parts: list[dict[str, Any]] = []
    col_names = [c for c, _, _ in columns]
    for k, (c, code, cday) in enumerate(columns):
        values, bad = parse_numbers(raw[c], ctx.mapping.decimal, ctx.missing)
        col_.rows(base, row_ok & bad, code="not_a_number", column=c, values=raw[c],
                  exclude=True, message="value is not a number; cell left out",
                  expected=f"a number in {om.units[code]}")
        keep = np.flatnonzero(row_ok & ~bad & ~np.isnan(values))
        if len(keep) == 0:
            continue
        parts.append({"take": keep, "day": np.full(len(keep), cday) if cday is not None
                      else day[keep], "analyte": np.full(len(keep), _ANALYTE_INDEX[code]),
                      "value": values[keep], "col": np.full(len(keep), k)})
    if not parts:
        return _columns_of(empty_frame(OBSERVATION_COLUMNS).assign(
            analyte=categorical(np.zeros(0, dtype=np.int8), ANALYTE_CODES), _col=constant(0, ""),
            _unitcol=constant(0, "")))
    take = np.concatenate([p["take"] for p in parts])
    n = len(take)
    return {
        "_row": base["_row"].to_numpy()[take], "_src": base["_src"].array.take(take),
        "patient_id": pid.take(take),
        "day": np.concatenate([p["day"] for p in parts]),
        "analyte": categorical(np.concatenate([p["analyte"] for p in parts]),
                                             categories=ANALYTE_CODES),
        "value": np.concatenate([p["value"] for p in parts]),
        "_orig": np.concatenate([p["value"] for p in parts]),
        "unit": pd.Series([None] * n, dtype="str").array,
        "_col": categorical(np.concatenate([p["col"] for p in parts]),
                                          categories=col_names),
        "_unitcol": constant(n, "[observations.units]")}


def _accepted(kind: str) -> list[str]:
    from crsscore.units import ANALYTE_UNITS

    return list(ANALYTE_UNITS[kind])


def _conversion(analyte: str, unit: object, column: str) -> tuple[str, Conversion | Problem]:
    """``unit`` as written for ``analyte`` (normalised spelling, '' if none) and its conversion
    to the canonical unit, or the problem that refuses it (:func:`conversion_for`)."""
    given = normalise_unit(str(unit)) if unit is not None else ""
    try:
        return given, conversion_for(analyte, unit, column=column)
    except UnitError as exc:
        return given, exc.problems[0]


#: :func:`_conversion` of text units, once per analyte, unit and column (the same few pairs
#: on every monitor request).
_text_conversion = functools.lru_cache(maxsize=4096)(_conversion)


def _convert_units(obs: dict[str, Any], om: ObservationsMapping, ctx: Context
                   ) -> pd.DataFrame:
    """The observations table of ``obs`` (columns, units as written) with every value in its
    analyte's canonical unit; rows with bad units are refused (and left out).

    Works on distinct (analyte, unit) pairs: one conversion and at most one problem per pair.
    """
    col_ = ctx.collector
    a_codes, _ = encode(obs["analyte"])  # categorical: its codes
    u_codes, u_uniques = encode(obs["unit"])
    n_rows = len(a_codes)
    width = len(u_uniques) + 1
    keys = a_codes * width + (u_codes + 1)  # small dense range: count, don't hash
    present = np.bincount(keys, minlength=1) > 0 if len(keys) else np.zeros(1, dtype=bool)
    pair = np.flatnonzero(present).astype(np.int64)
    inv = (np.cumsum(present) - 1)[keys].astype(np.int64)
    n_pairs = len(pair)
    scale, offset = np.ones(n_pairs), np.zeros(n_pairs)
    failed = np.zeros(n_pairs, dtype=bool)
    given = np.empty(n_pairs, dtype=object)
    unit_col = str(obs["_unitcol"][0]) if n_rows else "unit"
    located: pd.DataFrame | None = None  # the rows' _row/_src, for a problem
    for i, key in enumerate(pair):
        analyte = ANALYTE_CODES[int(key) // width]
        uc = int(key) % width - 1
        unit = u_uniques[uc] if uc >= 0 else om.units.get(analyte)
        convert = _text_conversion if unit is None or type(unit) is str else _conversion
        given[i], conv = convert(analyte, unit, unit_col)
        if isinstance(conv, Problem):
            failed[i] = True
            if located is None:
                located = frame_of({"_row": obs["_row"], "_src": obs["_src"]})
            col_.block(located, inv == i, code=conv.code, column=unit_col, value=conv.value,
                       exclude=True, message=f"{conv.message}; rows left out",
                       expected=conv.expected)
            continue
        scale[i], offset[i] = conv.scale, conv.offset
    ok = np.asarray(~failed[inv], dtype=bool)
    obs = {**obs, "value": rescale(obs["value"], scale[inv], offset[inv]),
           "unit": categorical(_CANON_UNIT_INDEX[a_codes], categories=_CANON_UNITS)}
    # Several units for one analyte: converted, but worth a look.
    pair_rows = np.bincount(inv, minlength=n_pairs)
    per_analyte: dict[str, list[tuple[str, int]]] = {}
    for i, key in enumerate(pair):
        if not failed[i]:
            per_analyte.setdefault(ANALYTE_CODES[int(key) // width], []).append(
                (str(given[i]), int(pair_rows[i])))
    for analyte, units in per_analyte.items():
        merged: dict[str, int] = {}
        for u, n in units:
            merged[u] = merged.get(u, 0) + n
        if len(merged) > 1:
            listed = ", ".join(f"{u} ({n} rows)" for u, n in merged.items())
            col_.add(Problem(table=str(obs["_src"][0]), column=unit_col, severity="warning",
                             code="mixed_units",
                             message=f"{analyte} is given in several units: {listed}; all "
                             f"converted to {canonical_unit(analyte)}, check this is intended"))
    return frame_of(obs if ok.all() else _take(obs, ok))


def normalise_events(raws: list[pd.DataFrame], em: EventsMapping, ctx: Context,
            patients: pd.DataFrame) -> pd.DataFrame:
    parts: list[dict[str, Any]] = []  # each file's rows as columns
    col_ = ctx.collector
    elookup = {e: e for e in EVENTS}
    elookup.update({k.strip().casefold(): v for k, v in em.events.items()})
    dlookup = {k.strip().casefold(): v for k, v in em.details.items()}
    for raw in raws:
        if em.layout == "patient_day":
            wide = _events_wide(raw, em, ctx, patients, dlookup)
            if wide is not None:
                parts.append(_columns_of(wide))
            continue
        pid_col = _resolve(raw, em, "patient_id", "events", ctx, required=True,
                           what="patient id")
        ev_col = _resolve(raw, em, "event", "events", ctx, required=True, what="event name")
        val_col = _resolve(raw, em, "value", "events", ctx, required=False, what="value")
        unit_col = _resolve(raw, em, "unit", "events", ctx, required=False, what="unit")
        det_col = _resolve(raw, em, "detail", "events", ctx, required=False, what="detail")
        day_col, date_col = _day_columns(raw, em, "events", ctx)
        if pid_col is None or ev_col is None or (day_col is None and date_col is None):
            continue
        # the table's columns, its frame built once at the end (adding columns to a frame
        # costs ~0.1 ms each in pandas 3); problems are located through raw's own _row/_src
        n = len(raw)
        pid = clean_categories(raw[pid_col], ctx.missing)
        names = clean_texts(raw[ev_col], ctx.missing)
        day, bad_day, no_day = _day_values(raw, day_col, date_col, pid, ctx, patients)
        if val_col is not None:
            cells = raw[val_col]
            values, bad = parse_numbers(cells, ctx.mapping.decimal, ctx.missing)
            col_.rows(raw, bad, code="not_a_number", column=val_col, values=cells,
                      message="event value is not a number; cell set missing",
                      expected="a number")
        else:
            values = np.full(n, np.nan)
        no_text = pd.Series([None] * n, dtype="str").array
        columns = {
            "_row": raw["_row"].to_numpy(), "_src": raw["_src"].array, "patient_id": pid,
            "event": map_text(names, lambda v: elookup.get(v.casefold(), v)).array,
            "day": day, "value": values,
            "unit": (map_text(clean_texts(raw[unit_col], ctx.missing), normalise_unit).array
                     if unit_col else no_text),
            "detail": (map_text(clean_texts(raw[det_col], ctx.missing),
                                lambda v: dlookup.get(v.casefold(), v)).array
                       if det_col is not None else no_text),
            "_evcol": constant(n, ev_col),
            "_unitcol": constant(n, unit_col or "unit"),
            "_detcol": constant(n, det_col or "detail")}
        no_id = pid.isna()
        col_.rows(raw, no_id, code="missing_id", column=pid_col, exclude=True,
                  message="no patient id; row left out", expected="an identifier in every row")
        no_event = ~no_id & names.isna().to_numpy()
        col_.rows(raw, no_event, code="missing_event", column=ev_col, exclude=True,
                  message="no event name; row left out")
        ok = ~no_id & ~no_event
        ok = _exclude_bad_days(col_, raw, ok, raw, str(day_col or date_col), bad_day, no_day)
        parts.append(columns if ok.all() else _take(columns, ok))
    if not parts:
        return empty_frame(EVENT_COLUMNS)
    if len(parts) == 1:
        return frame_of(parts[0])
    return pd.concat([frame_of(p) for p in parts], ignore_index=True)


#: Events whose cell in a patient-day column is a number first (a recorded grade of 0 is
#: information, not "no").
_NUMERIC_EVENTS = frozenset({"crs_grade_recorded", "icans_grade_recorded", "ice", "capd",
                             "fio2", "vasopressor_hours", "organ_toxicity"})
#: 0/1 events: "yes" is 1.
_FLAG_EVENTS = frozenset({"motor_weakness", "death"})


def _events_wide(raw: pd.DataFrame, em: EventsMapping, ctx: Context, patients: pd.DataFrame,
                 dlookup: dict[str, str]) -> pd.DataFrame | None:
    """Events from one row per patient and day, one column per event (``[events.wide]``).

    A cell becomes an event on that row's day: grades and scores (``crs_grade_recorded``,
    ``ice``...) are read as numbers; other events as yes/no words (no word or an empty cell:
    no event), a number (the dose or flow) or, for events with details (oxygen device,
    vasopressor agent), the detail itself (mapped through ``[events.details]``).
    """
    col_ = ctx.collector
    pid_col = _resolve(raw, em, "patient_id", "events", ctx, required=True, what="patient id")
    day_col, date_col = _day_columns(raw, em, "events", ctx)
    found: list[tuple[str, str]] = []
    for source, event in em.wide.items():
        actual = ctx.find(raw, source)
        if actual is None:
            ctx.structural.append(_missing_column("events", source, raw, mapped=True,
                                                  what=f"{event} per day"))
            continue
        ctx.use(raw, actual)
        found.append((actual, event))
    if pid_col is None or (day_col is None and date_col is None) or not found:
        return None
    pid = clean_categories(raw[pid_col], ctx.missing)
    base = pd.DataFrame({"_row": raw["_row"].to_numpy(), "_src": raw["_src"].array})
    no_id = pid.isna()
    col_.rows(base, no_id, code="missing_id", column=pid_col, exclude=True,
              message="no patient id; row left out", expected="an identifier in every row")
    day, bad_day, no_day = _day_values(raw, day_col, date_col, pid, ctx,
                                       patients)
    row_ok = _exclude_bad_days(col_, base, ~no_id, raw, str(day_col or date_col), bad_day, no_day)
    yes, no = ctx.mapping.yes_words(), ctx.mapping.no_words()
    out = []
    for actual, event in found:
        text = clean_texts(raw[actual], ctx.missing)
        values, not_num = parse_numbers(raw[actual], ctx.mapping.decimal, ctx.missing)
        cells = text.to_numpy(dtype=object)
        present = text.notna().to_numpy()
        low = [str(v).casefold() if p else "" for v, p in zip(cells, present, strict=True)]
        is_yes = np.array([v in yes for v in low], dtype=bool) & present
        is_no = np.array([v in no for v in low], dtype=bool) & present
        numeric = present & ~not_num & np.isfinite(values)
        detail = np.full(len(raw), None, dtype=object)
        value = np.full(len(raw), np.nan)
        if event in _NUMERIC_EVENTS:
            take = numeric
            value = np.where(numeric, values, np.nan)
            bad = present & ~numeric
        else:
            take = present & ~is_no & (is_yes | numeric)
            value = np.where(numeric & ~is_yes, values, np.nan)
            if event in _FLAG_EVENTS or event == "hypotension":
                value = np.where(is_yes, 1.0 if event in _FLAG_EVENTS else np.nan, value)
            words = present & ~is_yes & ~is_no & ~numeric
            if EVENTS.get(event) is not None:  # the cell names the detail (device, agent)
                mapped = [dlookup.get(str(v).casefold(), str(v)) if w else None
                          for v, w in zip(cells, words, strict=True)]
                detail = np.asarray(mapped, dtype=object)
                take = take | words
                bad = np.zeros(len(raw), dtype=bool)
            else:
                bad = words
        col_.rows(base, row_ok & bad, code="not_a_number", column=actual, values=raw[actual],
                  exclude=True, message=f"{event}: cell not understood; left out",
                  expected="a number" if event in _NUMERIC_EVENTS
                  else "yes/no, a number or an empty cell")
        keep = np.flatnonzero(row_ok & take & ~bad)
        if len(keep) == 0:
            continue
        unit = em.units.get(event)
        part = pd.DataFrame({
            "_row": base["_row"].to_numpy()[keep], "_src": base["_src"].array.take(keep),
            "patient_id": pid.take(keep), "event": event, "day": day[keep],
            "value": value[keep],
            "unit": normalise_unit(unit) if unit else None,
            "detail": detail[keep]})
        part["unit"] = pd.Series(part["unit"].to_numpy(dtype=object), dtype="str").array
        part["detail"] = pd.Series(part["detail"].to_numpy(dtype=object), dtype="str").array
        part["event"] = pd.Series(part["event"].to_numpy(dtype=object), dtype="str").array
        part["_evcol"] = actual
        part["_unitcol"] = f"[events.units] {event}" if unit else actual
        part["_detcol"] = actual
        out.append(part)
    if not out:
        return None
    frame = pd.concat(out, ignore_index=True)
    for c in ("_evcol", "_unitcol", "_detcol"):
        frame[c] = pd.Series(frame[c].to_numpy(dtype=object), dtype="str").array
    return frame


@dataclass
class Loaded:
    """Tables as read, still carrying ``_row``/``_src`` helper columns, with the problems."""

    patients: pd.DataFrame
    observations: pd.DataFrame
    events: pd.DataFrame
    collector: Collector
    source: str
    synthetic: bool
    missing_tables: tuple[str, ...] = ()
    decimal: str = "."  # the export's decimal mark (values are quoted as written)


def raise_structural(ctx: Context, canonical: bool) -> None:
    if not ctx.structural:
        return
    if canonical:
        raise DataError([Problem(table=s.split(":", 1)[0], message=s.split(":", 1)[1].strip(),
                                 code="missing_column") for s in ctx.structural])
    raise MappingError("the mapping does not fit the data:\n  " + "\n  ".join(ctx.structural))


def _raw(columns: dict[Any, Any], n: int, table: str) -> pd.DataFrame:
    """A table of ``n`` rows given as columns, as if read from a CSV export: the columns, then
    ``_row`` (index + 2: header = row 1) and ``_src`` (the table's name); built at once
    (adding two columns to a frame costs ~0.2 ms in pandas 3)."""
    return frame_of({**columns, "_row": np.arange(n, dtype=np.int64) + 2,
                     "_src": constant(n, table)})


def _raw_frame(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    if frame.columns.is_unique and frame.columns.name is None and not frame.attrs:
        return _raw(_columns_of(frame), len(frame), table)
    out = frame.reset_index(drop=True)
    out["_row"] = np.arange(len(frame), dtype=np.int64) + 2
    out["_src"] = constant(len(frame), table)
    return out


def _tables(patients: pd.DataFrame, observations: pd.DataFrame | None,
            events: pd.DataFrame | None, *, source: str, synthetic: bool,
            max_listed: int | None) -> Loaded:
    """The canonical tables of raw ``patients``, ``observations`` and ``events`` (None: a
    table without rows), as :func:`_raw` gives them."""
    ctx = Context(mapping=Mapping(observations=ObservationsMapping(), events=EventsMapping()),
                   canonical=True, collector=Collector(max_listed=max_listed),
                   missing=frozenset({"", "NA"}))
    m = ctx.mapping
    assert m.observations is not None and m.events is not None
    pats = normalise_patients(patients, m.patients, ctx)
    raise_structural(ctx, True)
    obs = (normalise_observations([observations], m.observations, ctx, pats)
           if observations is not None else empty_frame(OBSERVATION_COLUMNS))
    ev = (normalise_events([events], m.events, ctx, pats)
          if events is not None else empty_frame(EVENT_COLUMNS))
    raise_structural(ctx, True)
    return Loaded(patients=pats, observations=obs, events=ev, collector=ctx.collector,
                  source=source, synthetic=synthetic)


def tables_from_cohort(cohort: Cohort, *, max_listed: int | None = MAX_LISTED) -> Loaded:
    """Run an in-memory cohort through the same normalisation (rows as in a CSV export)."""
    o, e = cohort.observations, cohort.events
    return _tables(_raw_frame(cohort.patients, "patients"),
                   _raw_frame(o, "observations") if len(o) else None,
                   _raw_frame(e, "events") if len(e) else None,
                   source=cohort.source, synthetic=cohort.synthetic, max_listed=max_listed)


def tables_from_columns(patients: dict[str, Any], observations: dict[str, Any],
                        events: dict[str, Any], *, source: str = "memory",
                        synthetic: bool = False, max_listed: int | None = MAX_LISTED
                        ) -> Loaded:
    """:func:`tables_from_cohort` of a cohort whose tables are given as columns (each a dict
    of 1-D arrays of one length, as ``pd.DataFrame(columns)`` holds them: see
    :func:`~crsscore.columnar.column_of`): the same tables and problems, without building
    the cohort's frames first (the monitor's requests)."""

    def rows(columns: dict[str, Any]) -> int:
        return len(next(iter(columns.values()))) if columns else 0

    n_o, n_e = rows(observations), rows(events)
    return _tables(_raw(patients, rows(patients), "patients"),
                   _raw(observations, n_o, "observations") if n_o else None,
                   _raw(events, n_e, "events") if n_e else None,
                   source=source, synthetic=synthetic, max_listed=max_listed)


def _as_text(series: pd.Series) -> pd.Series:
    if isinstance(series.dtype, pd.CategoricalDtype):
        return decode(*encode(series))  # categorical: its codes and categories
    if isinstance(series.dtype, pd.StringDtype):
        return series
    return series.astype("str")


def to_cohort(loaded: Loaded) -> Cohort:
    """Drop helper columns and build the :class:`Cohort`."""

    def clean(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
        keep = [c for c in frame.columns if not str(c).startswith("_")]
        out = frame[keep].reset_index(drop=True)
        ordered = [c for c in columns if c in out.columns]
        return out[ordered + [c for c in out.columns if c not in ordered]]

    patients = clean(loaded.patients, tuple(PATIENT_COLUMNS))
    observations = clean(loaded.observations, OBSERVATION_COLUMNS)
    events = clean(loaded.events, EVENT_COLUMNS)
    for frame, cols in ((patients, ("patient_id",)),
                        (observations, ("patient_id", "analyte", "unit")),
                        (events, ("patient_id", "event", "unit", "detail"))):
        for c in cols:
            if c in frame.columns:
                frame[c] = _as_text(frame[c])
    tally: dict[str, int] = {}
    for p in loaded.collector.problems:
        if p.severity == "warning":
            tally[p.code] = tally.get(p.code, 0) + 1
    notes = [f"data check: {n} warning(s) of kind {code!r} (see check_cohort)"
             for code, n in sorted(tally.items())]
    notes += [f"no {t} data: {MISSING_TABLE_EFFECT[t]}" for t in loaded.missing_tables]
    file_rows = {}
    for name, frame in (("patients", loaded.patients), ("observations", loaded.observations),
                        ("events", loaded.events)):
        if "_row" in frame.columns and "_src" in frame.columns:
            file_rows[name] = pd.DataFrame({
                "table": frame["_src"].array,
                "row": frame["_row"].to_numpy(dtype=np.int64)})
    exclusions = loaded.collector.exclusions()
    implausible = exclusions[exclusions["reason"] == "out_of_range"]
    if len(implausible):
        per = implausible["analyte"].fillna("?").value_counts().sort_index()
        notes.append(f"{len(implausible)} implausible value(s) excluded (set missing; "
                     f"--implausible exclude): " + ", ".join(f"{a} {n}" for a, n in per.items()))
    return Cohort(patients=patients, observations=observations, events=events,
                  source=loaded.source, synthetic=loaded.synthetic, notes=notes,
                  missing_tables=loaded.missing_tables, file_rows=file_rows,
                  exclusions=exclusions)


__all__ = ["ANALYTE_CODES", "Context", "Loaded", "empty_frame", "normalise_events",
           "normalise_observations", "normalise_patients", "raise_structural",
           "tables_from_cohort", "tables_from_columns", "to_cohort"]
