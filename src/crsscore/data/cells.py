"""Parsing cells as text, numbers and dates, marking every cell that cannot be read.

Each parser works on the distinct values of a column and returns the parsed column with a
mask of cells that hold something other than what was asked (so that the caller can report
them, located, and set them missing or leave the row out).  Missing tokens (``NA``, ``-``...)
come from the mapping.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from crsscore._types import BoolArray, FloatArray
from crsscore.columnar import categorical, decode, encode, is_missing

#: The dtype of the text columns :func:`~crsscore.columnar.decode` builds.
_TEXT = decode(np.zeros(0, dtype=np.int64), ["x"]).dtype


def clean_texts(series: pd.Series, missing: frozenset[str]) -> pd.Series:
    """Stripped text with missing tokens as NA; integral numbers written without '.0'."""
    codes, uniques = encode(series)
    clean = [clean_text(u, missing) for u in uniques]
    if clean == uniques and isinstance(series.dtype, pd.StringDtype):
        return series
    return decode(codes, clean)


def clean_categories(series: pd.Series, missing: frozenset[str]) -> pd.Categorical[str]:
    """Like :func:`clean_texts` but as a categorical (the array: a column to be): ids of
    millions of rows are hashed once."""
    codes, uniques = encode(series)
    index: dict[str, int] = {}
    remap = np.full(len(uniques) + 1, -1, dtype=np.int64)
    for i, u in enumerate(uniques):
        clean = clean_text(u, missing)
        if clean is not None:
            remap[i] = index.setdefault(clean, len(index))
    return categorical(remap[codes], list(index))


def clean_text(value: object, missing: frozenset[str]) -> str | None:
    if isinstance(value, str):  # the common case first: no pd.isna per value
        text = value.strip()
        return None if text in missing else text
    if value is None or is_missing(value):
        return None
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        text = str(int(value))
    elif isinstance(value, pd.Timestamp):
        text = value.isoformat()
    else:
        text = str(value).strip()
    return None if text in missing else text


def parse_numbers(series: pd.Series, decimal: str, missing: frozenset[str]
             ) -> tuple[FloatArray, BoolArray]:
    """Floats and a mask of cells that hold something other than a finite number."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        values = np.asarray(series.astype("float64").to_numpy(dtype=np.float64, na_value=np.nan),
                            dtype=np.float64)
        return values, np.zeros(len(values), dtype=bool)
    if pd.api.types.is_numeric_dtype(dtype):
        values = np.asarray(series.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)
        return values, np.isinf(values)
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return np.full(len(series), np.nan), np.asarray(series.notna().to_numpy(), dtype=bool)
    codes, uniques = encode(series)
    clean = [clean_text(u, missing) for u in uniques]
    if decimal == ",":
        clean = [None if c is None else c.replace(",", ".") for c in clean]
    parsed = pd.to_numeric(pd.Series(clean, dtype=object), errors="coerce")
    uvalues = np.append(np.asarray(parsed, dtype=np.float64), np.nan)
    ubad = np.append(np.array([c is not None for c in clean], dtype=bool)
                     & ~np.isfinite(uvalues[:-1]), False)
    values = uvalues[codes]  # code -1 picks the trailing NaN
    bad = ubad[codes]
    values[bad] = np.nan
    return values, bad


#: Dates outside these years are taken as typos (and cannot be held as timestamps).
DATE_YEARS = (1900, 2200)


def parse_date(text: str, date_format: str | None) -> np.datetime64:
    """One date (ISO 8601, or ``date_format``); NaT when unreadable or implausible."""
    import datetime as _dt

    stamp: _dt.datetime | None = None
    if date_format is not None:
        try:
            stamp = _dt.datetime.strptime(text, date_format)
        except ValueError:
            stamp = None
    if stamp is None:
        try:
            stamp = _dt.datetime.fromisoformat(text)
        except ValueError:
            return np.datetime64("NaT", "ns")
    if not DATE_YEARS[0] <= stamp.year <= DATE_YEARS[1]:
        return np.datetime64("NaT", "ns")
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(_dt.UTC).replace(tzinfo=None)
    return np.datetime64(stamp, "ns")


def parse_dates(series: pd.Series, date_format: str | None, missing: frozenset[str]
           ) -> tuple[pd.Series, BoolArray]:
    """Timestamps (tz-naive) and a mask of cells that are not (plausible) dates."""
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        out = pd.to_datetime(series)
        if getattr(out.dt, "tz", None) is not None:
            out = out.dt.tz_localize(None)
        years = out.dt.year.to_numpy(dtype=np.float64, na_value=np.nan)
        bad = out.notna().to_numpy() & ((years < DATE_YEARS[0]) | (years > DATE_YEARS[1]))
        out = out.where(~bad)
        return out.astype("datetime64[ns]"), bad
    if pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
        return (pd.Series(pd.NaT, index=series.index, dtype="datetime64[ns]"),
                series.notna().to_numpy())
    codes, uniques = encode(series)
    clean = [clean_text(u, missing) for u in uniques]
    per = np.array([np.datetime64("NaT", "ns") if c is None else parse_date(c, date_format)
                    for c in clean] + [np.datetime64("NaT", "ns")], dtype="datetime64[ns]")
    present = np.append(np.array([c is not None for c in clean], dtype=bool), False)[codes]
    parsed = pd.Series(per[codes], index=series.index, dtype="datetime64[ns]")
    bad = present & parsed.isna().to_numpy()
    return parsed, bad


def map_text(text: pd.Series, func: Callable[[str], object]) -> pd.Series:
    """Apply ``func`` to each distinct non-missing text once (fast on millions of rows); text
    that ``func`` leaves as it is comes back as it is (no text column built again)."""
    codes, uniques = encode(text)
    mapped = [None if u is None else func(str(u)) for u in uniques]
    if mapped == uniques and text.dtype == _TEXT:
        return text
    return decode(codes, mapped)


def apply_value_codes(text: pd.Series, codes: dict[str, Any]) -> pd.Series:
    """Replace the centre's value codes (case-insensitive) by canonical values."""
    if not codes:
        return text
    table = {str(k).strip().casefold(): str(v) for k, v in codes.items()}
    return map_text(text, lambda v: table.get(v.casefold(), v))


__all__ = ["DATE_YEARS", "apply_value_codes", "clean_categories", "clean_text", "clean_texts",
           "map_text", "parse_date", "parse_dates", "parse_numbers"]
