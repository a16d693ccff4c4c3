"""Reading cohorts: the canonical folder format and centres' own exports through a mapping.

``load_cohort(path, mapping=None)`` returns a :class:`~crsscore.data.cohort.Cohort` whose
observation values are in canonical units (``unit`` holds the canonical unit), or raises
:class:`~crsscore.errors.DataError` listing every problem found, each naming the table (and
file), the row as a user sees it in the file (header = row 1), the column, the offending value
and what was expected.  Unreadable input (missing or empty files, an invalid mapping, columns
a mapping names but the file lacks, an analyte of a wide table without a unit) is refused
before any value is looked at; unknown or ambiguous units in a unit column are reported once
per distinct (analyte, unit) with their row count and first row.

Reading is columnar: CSV through pyarrow's multi-threaded reader, Parquet through pyarrow,
Excel through openpyxl; conversions and checks are vectorised over distinct values (analytes,
units, patient ids) so that millions of observation rows load in seconds.

Rows that cannot be represented (no patient id, a value that is not a number, an unknown
unit or analyte) are left out of the cohort **and listed**: ``check_cohort`` reports them as
exclusions, ``load_cohort`` refuses the data.  Cells that cannot be read in the patients
table are set missing and reported.
"""

from __future__ import annotations

import csv
import difflib
import functools
import glob
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from crsscore.data.cohort import Cohort
from crsscore.data.mapping import (
    EventsMapping,
    Mapping,
    ObservationsMapping,
    PatientsMapping,
    TableMapping,
    as_mapping,
)
from crsscore.data.schema import (
    ANALYTES,
    EVENT_COLUMNS,
    EVENTS,
    OBSERVATION_COLUMNS,
    PATIENT_COLUMNS,
)
from crsscore.errors import DataError, MappingError, Problem, UnitError
from crsscore.units import canonical_unit, conversion_for, normalise_unit

#: Individual problems listed per (table, column, kind of problem); beyond, one summary line.
MAX_LISTED = 100

TABLES = ("patients", "observations", "events")
CSV_SUFFIXES = (".csv", ".tsv", ".txt", ".csv.gz")
EXCEL_SUFFIXES = (".xlsx", ".xlsm")
PARQUET_SUFFIXES = (".parquet", ".pq")
SYNTHETIC_MARKERS = ("SYNTHETIC", "SYNTHETIC.txt")

_UNIT_CODES = frozenset({"missing_unit", "unknown_unit", "ambiguous_unit"})

FloatArray = npt.NDArray[np.floating[Any]]
BoolArray = npt.NDArray[Any]


# --------------------------------------------------------------------------------------------
# Problem collection
# --------------------------------------------------------------------------------------------


def _show(value: object) -> str:
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass
class Collector:
    """Problems and excluded rows gathered while reading and checking."""

    problems: list[Problem] = field(default_factory=list)
    excluded: list[pd.DataFrame] = field(default_factory=list)
    #: Kinds of problem listed only up to MAX_LISTED: table, column, code, total, listed.
    truncated: list[dict[str, Any]] = field(default_factory=list)
    #: Problems listed per kind before one summary line; None lists every one (check --json).
    max_listed: int | None = MAX_LISTED

    def add(self, problem: Problem) -> None:
        self.problems.append(problem)

    def rows(self, frame: pd.DataFrame, mask: npt.ArrayLike, *, code: str, message: str,
             column: str | pd.Series | None, values: pd.Series | npt.ArrayLike | None = None,
             expected: str | None = None, severity: str = "error",
             exclude: bool = False) -> None:
        """One problem per flagged row (up to ``max_listed``, then one summary line).

        ``frame`` carries the helper columns ``_row`` (row in the file) and ``_src`` (table and
        file); ``column`` is a name or, for wide layouts, a per-row series of source columns.
        """
        idx = np.flatnonzero(np.asarray(mask, dtype=bool))
        if len(idx) == 0:
            return
        srcs = np.asarray(frame["_src"].iloc[idx].to_numpy(), dtype=object)
        rows = frame["_row"].to_numpy()[idx]
        if isinstance(column, pd.Series):
            cols = np.asarray(column.iloc[idx].to_numpy(), dtype=object)
        else:
            cols = np.full(len(idx), column, dtype=object)
        cap = len(idx) if self.max_listed is None else self.max_listed
        shown = idx[:cap]
        if values is None:
            vals = None
        elif isinstance(values, pd.Series):
            vals = np.asarray(values.iloc[shown].to_numpy(), dtype=object)
        else:
            vals = np.asarray(values, dtype=object)[shown]
        for k in range(len(shown)):
            value = None
            if vals is not None and not _isna(vals[k]):
                value = _show(vals[k])
            self.problems.append(Problem(
                table=str(srcs[k]), row=int(rows[k]), column=_opt_str(cols[k]),
                message=message, value=value, expected=expected, severity=severity, code=code))
        if len(idx) > cap:
            self.truncated.append({"table": str(srcs[0]), "column": _opt_str(cols[0]),
                                   "code": code, "total": len(idx),
                                   "listed": cap})
            self.problems.append(Problem(
                table=str(srcs[0]), column=_opt_str(cols[0]), severity=severity, code=code,
                message=f"{message}: {len(idx)} rows in total, the first {cap} listed",
                expected=expected))
        if exclude:
            every = None
            if values is not None:
                every = (np.asarray(values.iloc[idx].to_numpy(), dtype=object)
                         if isinstance(values, pd.Series)
                         else np.asarray(values, dtype=object)[idx])
            self._exclude(srcs, rows, cols, code, every)

    def block(self, frame: pd.DataFrame, mask: npt.ArrayLike, *, code: str, message: str,
              column: str | None, value: object = None, expected: str | None = None,
              severity: str = "error", exclude: bool = False) -> None:
        """One problem for many rows sharing one cause (e.g. one unknown unit)."""
        idx = np.flatnonzero(np.asarray(mask, dtype=bool))
        if len(idx) == 0:
            return
        rows = frame["_row"].to_numpy()[idx]
        srcs = np.asarray(frame["_src"].iloc[idx].to_numpy(), dtype=object)
        first = int(rows.min())
        n = len(idx)
        self.problems.append(Problem(
            table=str(srcs[0]), row=first, column=column,
            message=f"{message} ({n} row{'s' if n != 1 else ''}, first at row {first})",
            value=None if value is None or _isna(value) else _show(value), expected=expected,
            severity=severity, code=code))
        if exclude:
            self._exclude(srcs, rows, np.full(n, column, dtype=object), code)

    def grouped(self, frame: pd.DataFrame, mask: npt.ArrayLike, keys: pd.Series, *, code: str,
                message: str, column: str | None, expected: str | None = None,
                severity: str = "error", exclude: bool = False) -> None:
        """One problem per distinct offending value (with its row count and first row)."""
        m = np.asarray(mask, dtype=bool)
        if not m.any():
            return
        codes, uniques = _encode(keys)
        codes = np.where(m, codes, -2)
        for i, key in enumerate(uniques):
            sel = codes == i
            if sel.any():
                self.block(frame, sel, code=code, message=message, column=column, value=key,
                           expected=expected, severity=severity, exclude=exclude)
        self.block(frame, codes == -1, code=code, message=message, column=column,
                   expected=expected, severity=severity, exclude=exclude)

    def _exclude(self, srcs: npt.NDArray[Any], rows: npt.NDArray[Any], cols: npt.NDArray[Any],
                 code: str, values: npt.NDArray[Any] | None = None,
                 analyte: str | None = None) -> None:
        shown = ([None] * len(rows) if values is None
                 else [None if _isna(v) else _show(v) for v in values])
        self.excluded.append(pd.DataFrame({
            "table": srcs.astype(str), "row": rows.astype(np.int64),
            "column": [_opt_str(c) for c in cols], "value": shown, "reason": code,
            "analyte": analyte}))

    def exclusions(self) -> pd.DataFrame:
        """Every row or cell left out: table (and file), row as in the file, column, the
        cell as written (``value``, when known), reason (a problem code) and analyte (for
        implausible values)."""
        if not self.excluded:
            return pd.DataFrame({"table": pd.Series(dtype="str"), "row": pd.Series(dtype="int64"),
                                 "column": pd.Series(dtype="object"),
                                 "value": pd.Series(dtype="object"),
                                 "reason": pd.Series(dtype="str"),
                                 "analyte": pd.Series(dtype="object")})
        out = pd.concat(self.excluded, ignore_index=True)
        return out.sort_values(["table", "row"], kind="stable").reset_index(drop=True)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]


# --------------------------------------------------------------------------------------------
# Columnar helpers: work on distinct values, never loop over millions of rows in Python
# --------------------------------------------------------------------------------------------


def _arrow_strings(series: pd.Series) -> Any:
    import pyarrow as pa

    dtype = series.dtype
    if isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow":
        arr = pa.array(series)
        return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    return None


def _encode(series: pd.Series) -> tuple[npt.NDArray[np.int64], list[Any]]:
    """Integer codes (-1 for missing) and the distinct values, like ``pd.factorize``."""
    import pyarrow.compute as pc

    arr = _arrow_strings(series)
    if arr is not None:
        encoded = pc.dictionary_encode(arr)
        codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)
        return codes.astype(np.int64), list(encoded.dictionary.to_pylist())
    if isinstance(series.dtype, pd.CategoricalDtype):
        return (series.cat.codes.to_numpy().astype(np.int64),
                list(series.cat.categories))
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    return codes.astype(np.int64), list(uniques)


def _decode(codes: npt.NDArray[np.int64], uniques: Sequence[object]) -> pd.Series:
    """The text series whose value at i is ``uniques[codes[i]]`` (None/-1: missing)."""
    import pyarrow as pa

    dictionary = pa.array([None if u is None else str(u) for u in uniques],
                          type=pa.large_string())
    if len(dictionary) == 0:
        return pd.Series([None] * len(codes), dtype="str")
    indices = pa.array(np.where(codes < 0, 0, codes), mask=codes < 0, type=pa.int64())
    arr = pa.DictionaryArray.from_arrays(indices, dictionary).cast(pa.large_string())
    return pd.Series(arr, dtype="str")


def _categorical(codes: npt.NDArray[np.integer[Any]], categories: Sequence[str]
                 ) -> pd.Categorical[str]:
    return pd.Categorical.from_codes(codes, categories=pd.Index(list(categories)))


def _const(n: int, value: str) -> pd.Categorical[str]:
    return _categorical(np.zeros(n, dtype=np.int8), categories=[value])


def _isna(value: object) -> bool:
    try:
        return bool(pd.isna(value))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return False


def _opt_str(value: object) -> str | None:
    return None if value is None or _isna(value) else str(value)


# --------------------------------------------------------------------------------------------
# Reading files
# --------------------------------------------------------------------------------------------


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in (*CSV_SUFFIXES, *EXCEL_SUFFIXES, *PARQUET_SUFFIXES, ".xls"):
        if name.endswith(suffix):
            return suffix
    return path.suffix.lower()


def _fail(table: str, message: str, *, code: str = "unreadable", column: str | None = None,
          expected: str | None = None) -> DataError:
    return DataError([Problem(table=table, message=message, code=code, column=column,
                              expected=expected)])


def _header_name(value: object) -> str:
    """A header cell as text ('' for an empty cell; 2.0 written as '2')."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _refuse_duplicate_names(table: str, names: Sequence[str], *,
                            blank_ok: bool = True) -> None:
    """The same rule for every format: a column name given twice is refused (read from the
    header as written, before any reader renames the second one).  Unnamed columns are
    allowed where the reader names them itself (Excel), not in CSV."""
    seen: dict[str, int] = {}
    for n in names:
        seen[n] = seen.get(n, 0) + 1
    if not blank_ok and seen.get("", 0) > 1:
        raise _fail(table, f"{seen['']} columns have no name in the header",
                    code="duplicate_column", expected="a name for every column")
    dupes = sorted(n for n, k in seen.items() if k > 1 and n)
    if dupes:
        raise _fail(table, f"column name(s) appear more than once in the header: "
                    f"{', '.join(dupes)}", code="duplicate_column",
                    expected="each column name once")


def _is_gzip(path: Path) -> bool:
    return path.name.lower().endswith(".gz")


def _open_binary(path: Path) -> IO[bytes]:
    """The file's bytes, decompressed when it is gzipped (``.csv.gz``)."""
    import gzip

    if _is_gzip(path):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def _open_text(path: Path, encoding: str) -> IO[str]:
    import gzip

    if _is_gzip(path):
        return gzip.open(path, "rt", encoding=encoding, errors="replace", newline="")
    return path.open(encoding=encoding, errors="replace", newline="")


def _sniff_csv(path: Path, table: str, mapping: Mapping, header_row: int) -> tuple[str, list[str]]:
    """The delimiter and the header of a CSV file (refusing empty or undecodable files)."""
    encoding = "utf-8-sig" if mapping.encoding.lower().replace("_", "-") in ("utf-8", "utf8") \
        else mapping.encoding
    try:
        with _open_binary(path) as fh:
            head = fh.read(1 << 16)
    except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError
        reason = ("not a gzip file" if _is_gzip(path) and not isinstance(exc, PermissionError)
                  else getattr(exc, "strerror", None) or str(exc) or type(exc).__name__)
        raise _fail(table, f"cannot read file: {reason}") from None
    if not head.strip():
        raise _fail(table, "file is empty", code="empty_file")
    try:
        text = head.decode(encoding)
    except UnicodeDecodeError as exc:
        # The chunk may end inside a multi-byte character: decode what is certainly complete.
        if exc.start < len(head) - 4:
            raise _fail(table, f"file is not {mapping.encoding} text (set 'encoding' in the "
                        "mapping, e.g. 'latin-1', 'cp1252' or 'gbk')", code="encoding") from None
        text = head[: exc.start].decode(encoding)
    lines = text.splitlines()
    if len(lines) < header_row:
        raise _fail(table, f"file has fewer than {header_row} line(s); no header found",
                    code="empty_file")
    header_line = lines[header_row - 1]
    delimiter = mapping.delimiter
    if delimiter is None:
        counts = {d: header_line.count(d) for d in (",", ";", "\t", "|")}
        delimiter = max(counts, key=lambda d: counts[d]) if max(counts.values()) > 0 else ","
    names = next(csv.reader([header_line], delimiter=delimiter))
    names = [n.strip() for n in names]
    if not any(names):
        raise _fail(table, "header row is empty", code="empty_file")
    return delimiter, names


def _locate_bad_csv_rows(path: Path, encoding: str, delimiter: str, header_row: int,
                         n_fields: int, table: str) -> list[Problem]:
    problems: list[Problem] = []
    with _open_text(path, encoding) as fh:
        for i, rec in enumerate(csv.reader(fh, delimiter=delimiter), start=1):
            if i <= header_row or not rec:
                continue
            if len(rec) != n_fields:
                problems.append(Problem(
                    table=table, row=i, message=f"row has {len(rec)} fields, the header has "
                    f"{n_fields}", code="bad_row", expected=f"{n_fields} fields"))
                if len(problems) >= MAX_LISTED:
                    break
    return problems


def _read_csv(path: Path, table: str, mapping: Mapping, header_row: int,
              text_columns: set[str]) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    delimiter, names = _sniff_csv(path, table, mapping, header_row)
    _refuse_duplicate_names(table, names, blank_ok=False)
    encoding = mapping.encoding
    col_types = {n: pa.string() for n in names if n.casefold() in text_columns}

    def read(newlines_in_values: bool) -> Any:
        return pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(encoding=encoding, skip_rows=header_row,
                                           column_names=names),
            parse_options=pacsv.ParseOptions(delimiter=delimiter,
                                             newlines_in_values=newlines_in_values),
            convert_options=pacsv.ConvertOptions(
                column_types=col_types, null_values=list(mapping.missing),
                strings_can_be_null=True, quoted_strings_can_be_null=True,
                decimal_point=mapping.decimal),
        )

    arrow_errors = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError)
    try:
        try:
            tbl = read(False)  # fast, parallel
        except arrow_errors as first:
            if "columns" not in str(first):
                raise
            tbl = read(True)  # quoted line breaks inside cells (free-text comments)
    except arrow_errors as exc:
        text = str(exc)
        if "columns" in text and "Expected" in text:
            enc = "utf-8-sig" if encoding.lower() in ("utf-8", "utf8") else encoding
            located = _locate_bad_csv_rows(path, enc, delimiter, header_row, len(names), table)
            if located:
                raise DataError(located) from None
        if "invalid UTF8" in text or "decode" in text.lower():
            raise _fail(table, f"file is not {encoding} text (set 'encoding' in the mapping)",
                        code="encoding") from None
        reason = re.sub(r"(got \d+).*", r"\1", text.splitlines()[0])[:120]  # no row content
        raise _fail(table, f"file cannot be parsed as CSV (delimiter {delimiter!r}): "
                    f"{reason}") from None
    except OSError as exc:
        raise _fail(table, f"cannot read file: {exc}") from None
    frame: pd.DataFrame = tbl.to_pandas()
    frame.columns = pd.Index(names)
    return frame


def _has_blank_lines(path: Path) -> bool:
    """Whether a text file has empty lines (which the fast CSV reader skips)."""
    import mmap

    try:
        with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            return mm.find(b"\n\n") >= 0 or mm.find(b"\n\r\n") >= 0
    except (OSError, ValueError):
        return False


def _csv_rows_with_blanks(path: Path, mapping: Mapping, header_row: int, n: int,
                          default: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Row numbers as a spreadsheet shows them when empty lines sit between records."""
    delimiter, _ = _sniff_csv(path, "input", mapping, header_row)
    encoding = "utf-8-sig" if mapping.encoding.lower() in ("utf-8", "utf8") else mapping.encoding
    rows: list[int] = []
    with _open_text(path, encoding) as fh:
        for i, rec in enumerate(csv.reader(fh, delimiter=delimiter), start=1):
            if i > header_row and rec:
                rows.append(i)
    return np.asarray(rows, dtype=np.int64) if len(rows) == n else default


def _read_excel(path: Path, table: str, sheet: str | int | None, header_row: int,
                mapping: Mapping) -> pd.DataFrame:
    import zipfile

    try:
        import openpyxl

        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        try:
            sheets = list(book.sheetnames)
            if isinstance(sheet, str) and sheet not in sheets:
                raise MappingError(f"{table}: sheet {sheet!r} not found in {path.name}; "
                                   f"sheets: {', '.join(sheets)}")
            if isinstance(sheet, int) and not 0 <= sheet < len(sheets):
                raise MappingError(f"{table}: sheet number {sheet} not in {path.name} "
                                   f"({len(sheets)} sheet(s), numbered from 0)")
            ws = book[sheet if isinstance(sheet, str) else sheets[sheet or 0]]
            # The header as written: pandas renames a repeated 'value' to 'value.1'.
            raw_header = next(ws.iter_rows(min_row=header_row, max_row=header_row,
                                           values_only=True), ())
        finally:
            book.close()
    except (zipfile.BadZipFile, OSError, KeyError, ValueError, TypeError) as exc:
        raise _fail(table, f"not a readable .xlsx workbook ({type(exc).__name__})") from None
    _refuse_duplicate_names(table, [_header_name(v) for v in raw_header])
    try:
        frame = pd.read_excel(path, sheet_name=sheet if sheet is not None else 0,
                              header=header_row - 1, dtype=object, engine="openpyxl",
                              na_values=list(mapping.missing), keep_default_na=True)
    except (ValueError, KeyError, TypeError, OSError, zipfile.BadZipFile) as exc:
        raise _fail(table, f"sheet cannot be read ({type(exc).__name__})") from None
    names = [str(c).strip() for c in frame.columns]
    _refuse_duplicate_names(table, names)
    frame.columns = pd.Index(names)
    if len(frame.columns) == 0:
        raise _fail(table, "sheet is empty", code="empty_file")
    return frame


def _read_parquet(path: Path, table: str) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        raw_names = [str(c).strip() for c in pq.ParquetFile(path).schema_arrow.names]
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise _fail(table, f"not a readable Parquet file ({type(exc).__name__})") from None
    _refuse_duplicate_names(table, raw_names)  # before reading: pyarrow refuses them obscurely
    try:
        frame: pd.DataFrame = pq.read_table(path).to_pandas()
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise _fail(table, f"not a readable Parquet file ({type(exc).__name__})") from None
    names = [str(c).strip() for c in frame.columns]
    _refuse_duplicate_names(table, names)
    frame.columns = pd.Index(names)
    return frame.reset_index(drop=True)


def read_table(path: Path, table: str, mapping: Mapping, *, sheet: str | int | None = None,
               header_row: int = 1, text_columns: Iterable[str] = ()) -> pd.DataFrame:
    """Read one file as a frame of the centre's columns plus ``_row`` and ``_src``.

    ``_row`` is the row number a user sees in the file (header at ``header_row``); ``_src``
    names the table and the file.  ``text_columns`` are read as text (ids keep leading zeros).
    """
    label = f"{table} ({path.name})"
    if not path.exists():
        raise _fail(label, f"file not found: {path}", code="file_not_found")
    if path.is_dir():
        raise _fail(label, f"{path} is a folder, not a file", code="unreadable")
    suffix = _suffix(path)
    texts = {c.casefold() for c in text_columns}
    if suffix in CSV_SUFFIXES:
        frame = _read_csv(path, label, mapping, header_row, texts)
    elif suffix in EXCEL_SUFFIXES:
        frame = _read_excel(path, label, sheet, header_row, mapping)
    elif suffix in PARQUET_SUFFIXES:
        frame = _read_parquet(path, label)
        header_row = 1
    elif suffix == ".xls":
        raise _fail(label, "old Excel .xls files are not read; save the sheet as .xlsx or CSV")
    else:
        raise _fail(label, f"unknown file type {suffix!r}",
                    expected="CSV (.csv, .tsv, .txt), Excel (.xlsx) or Parquet (.parquet)")
    frame = frame.reset_index(drop=True)
    rows = np.arange(len(frame), dtype=np.int64) + header_row + 1
    if suffix in CSV_SUFFIXES and (_is_gzip(path) or _has_blank_lines(path)):
        rows = _csv_rows_with_blanks(path, mapping, header_row, len(frame), rows)
    frame["_row"] = rows
    frame["_src"] = _const(len(frame), label)
    return frame


# --------------------------------------------------------------------------------------------
# Parsing cells
# --------------------------------------------------------------------------------------------


def _text(series: pd.Series, missing: frozenset[str]) -> pd.Series:
    """Stripped text with missing tokens as NA; integral numbers written without '.0'."""
    codes, uniques = _encode(series)
    clean = [_clean_text(u, missing) for u in uniques]
    if clean == uniques and isinstance(series.dtype, pd.StringDtype):
        return series
    return _decode(codes, clean)


def _text_categorical(series: pd.Series, missing: frozenset[str]) -> pd.Series:
    """Like :func:`_text` but as a categorical: ids of millions of rows are hashed once."""
    codes, uniques = _encode(series)
    index: dict[str, int] = {}
    remap = np.full(len(uniques) + 1, -1, dtype=np.int64)
    for i, u in enumerate(uniques):
        clean = _clean_text(u, missing)
        if clean is not None:
            remap[i] = index.setdefault(clean, len(index))
    return pd.Series(_categorical(remap[codes], list(index)))


def _clean_text(value: object, missing: frozenset[str]) -> str | None:
    if isinstance(value, str):  # the common case first: no pd.isna per value
        text = value.strip()
        return None if text in missing else text
    if value is None or _isna(value):
        return None
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        text = str(int(value))
    elif isinstance(value, pd.Timestamp):
        text = value.isoformat()
    else:
        text = str(value).strip()
    return None if text in missing else text


def _numbers(series: pd.Series, decimal: str, missing: frozenset[str]
             ) -> tuple[FloatArray, BoolArray]:
    """Floats and a mask of cells that hold something other than a finite number."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        values = series.astype("float64").to_numpy(dtype=np.float64, na_value=np.nan)
        return values, np.zeros(len(values), dtype=bool)
    if pd.api.types.is_numeric_dtype(dtype):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        return values, np.isinf(values)
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return np.full(len(series), np.nan), series.notna().to_numpy()
    codes, uniques = _encode(series)
    clean = [_clean_text(u, missing) for u in uniques]
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


def _parse_date(text: str, date_format: str | None) -> np.datetime64:
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


def _dates(series: pd.Series, date_format: str | None, missing: frozenset[str]
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
    codes, uniques = _encode(series)
    clean = [_clean_text(u, missing) for u in uniques]
    per = np.array([np.datetime64("NaT", "ns") if c is None else _parse_date(c, date_format)
                    for c in clean] + [np.datetime64("NaT", "ns")], dtype="datetime64[ns]")
    present = np.append(np.array([c is not None for c in clean], dtype=bool), False)[codes]
    parsed = pd.Series(per[codes], index=series.index, dtype="datetime64[ns]")
    bad = present & parsed.isna().to_numpy()
    return parsed, bad


def _map_text(text: pd.Series, func: Callable[[str], object]) -> pd.Series:
    """Apply ``func`` to each distinct non-missing text once (fast on millions of rows)."""
    codes, uniques = _encode(text)
    return _decode(codes, [None if u is None else func(str(u)) for u in uniques])


def _codes(text: pd.Series, codes: dict[str, Any]) -> pd.Series:
    """Replace the centre's value codes (case-insensitive) by canonical values."""
    if not codes:
        return text
    table = {str(k).strip().casefold(): str(v) for k, v in codes.items()}
    return _map_text(text, lambda v: table.get(v.casefold(), v))


def _find(frame: pd.DataFrame, name: str) -> str | None:
    """The frame's column called ``name`` (exact, then ignoring case and spaces)."""
    if name in frame.columns:
        return name
    key = "".join(name.split()).casefold()
    hits = [c for c in frame.columns if "".join(str(c).split()).casefold() == key]
    return str(hits[0]) if len(hits) == 1 else None


def _missing_column(table: str, name: str, frame: pd.DataFrame, *, mapped: bool,
                    what: str) -> str:
    columns = [str(c) for c in frame.columns if not str(c).startswith("_")]
    close = difflib.get_close_matches(name, columns, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    origin = "named in the mapping " if mapped else ""
    shown = ", ".join(columns[:30]) + (" ..." if len(columns) > 30 else "")
    return f"{table}: column {name!r} ({what}) {origin}not found{hint} (columns: {shown})"


# --------------------------------------------------------------------------------------------
# Normalising tables
# --------------------------------------------------------------------------------------------

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
class _Context:
    mapping: Mapping
    canonical: bool
    collector: Collector
    missing: frozenset[str]
    structural: list[str] = field(default_factory=list)
    used: dict[str, set[str]] = field(default_factory=dict)

    def use(self, frame: pd.DataFrame, column: str) -> None:
        key = str(frame["_src"].iloc[0]) if len(frame) else "?"
        self.used.setdefault(key, set()).add(column)


def _empty_frame(columns: Sequence[str]) -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype="float64" if c in ("day", "value") else "str")
                          for c in columns})
    if "analyte" in frame.columns:
        frame["analyte"] = _categorical(np.zeros(0, dtype=np.int8), ANALYTE_CODES)
    frame["_row"] = pd.Series(dtype="int64")
    frame["_src"] = pd.Series(dtype="str")
    return frame


def _resolve(frame: pd.DataFrame, tm: TableMapping, name: str, table: str, ctx: _Context,
             *, required: bool, what: str) -> str | None:
    src = tm.source(name)
    actual = _find(frame, src)
    if actual is None and required:
        ctx.structural.append(_missing_column(table, src, frame, mapped=name in tm.columns,
                                              what=what))
    elif actual is None and name in tm.columns:
        ctx.structural.append(_missing_column(table, src, frame, mapped=True, what=what))
    if actual is not None:
        ctx.use(frame, actual)
    return actual


def _patients(raw: pd.DataFrame, tm: PatientsMapping, ctx: _Context) -> pd.DataFrame:
    m, col_ = ctx.mapping, ctx.collector
    out = pd.DataFrame({"_row": raw["_row"].to_numpy(), "_src": raw["_src"].array})
    resolved: dict[str, str] = {}
    for name, spec in PATIENT_COLUMNS.items():
        actual = _resolve(raw, tm, name, "patients", ctx, required=spec.required,
                          what=spec.description or spec.kind)
        if actual is not None:
            resolved[name] = actual
    if "patient_id" not in resolved:
        return out.iloc[0:0]
    for name, actual in resolved.items():
        spec = PATIENT_COLUMNS[name]
        series = raw[actual].reset_index(drop=True)
        codes = tm.values.get(name, {})
        if spec.kind in ("str", "category") or codes:
            series = _codes(_text(series, ctx.missing), codes)
        if spec.kind == "str":
            out[name] = _text(series, ctx.missing)
            if name == "patient_id":
                bad = out[name].isna().to_numpy()
                col_.rows(out, bad, code="missing_id", column=actual, exclude=True,
                          message="no patient id; row left out",
                          expected="an identifier in every row")
        elif spec.kind == "float":
            values, bad = _numbers(series, m.decimal, ctx.missing)
            unit = tm.units.get(name) or spec.unit
            col_.rows(out, bad, code="not_a_number", column=actual, values=series,
                      message=f"{name} is not a number; cell set missing",
                      expected=f"a number in {unit}" if unit else "a number")
            if spec.unit_kind is not None:
                conv = conversion_for(spec.unit_kind, unit, column=actual, table="patients")
                values = conv.apply(values)
            out[name] = values
        elif spec.kind == "int01":
            text = _text(series, ctx.missing)
            low = text.str.casefold()
            yes, no = low.isin(m.yes_words()).to_numpy(), low.isin(m.no_words()).to_numpy()
            values = np.where(yes, 1.0, np.where(no, 0.0, np.nan))
            bad = text.notna().to_numpy() & ~yes & ~no
            col_.rows(out, bad, code="not_01", column=actual, values=text,
                      message=f"{name} is not yes/no; cell set missing",
                      expected="0/1 or a yes/no word (add words with 'yes'/'no' in the mapping)")
            # int64 like the canonical files when complete; float64 with NaN when not
            out[name] = values.astype(np.int64) if not np.isnan(values).any() else values
        elif spec.kind == "category":
            defaults = _SEX if name == "sex" else _COSTIM if name == "costim" else {}
            text = _text(series, ctx.missing)
            allowed = set(spec.categories or ())
            canon = pd.Series(_map_text(text, functools.partial(
                _category, allowed=allowed, defaults=defaults)), dtype=object)
            bad = canon.notna().to_numpy() & ~canon.isin(allowed).to_numpy()
            col_.rows(out, bad, code="unknown_category", column=actual, values=text,
                      message=f"{name} value not recognised; cell set missing",
                      expected=f"one of {', '.join(sorted(allowed))} (or a value code in "
                               f"[patients.values.{name}])")
            out[name] = pd.Series(canon.where(~bad, None).to_numpy(), dtype="str")
        elif spec.kind == "date":
            dates, bad = _dates(series, m.date_format, ctx.missing)
            col_.rows(out, bad, code="not_a_date", column=actual, values=series,
                      message=f"{name} is not a date; cell set missing",
                      expected=f"a date ({m.date_format or 'YYYY-MM-DD'})")
            iso = dates.dt.strftime("%Y-%m-%d")  # canonical: ISO date text
            out[name] = pd.Series(iso.to_numpy(), dtype="str").array
    if ctx.canonical:  # the canonical format may carry extra columns: keep them as they are
        for extra in raw.columns:
            if extra not in PATIENT_COLUMNS and not str(extra).startswith("_"):
                out[extra] = raw[extra].array
    keep = out["patient_id"].notna().to_numpy()
    out = out.loc[keep].reset_index(drop=True)
    if tm.layout == "patient_day":
        out = _collapse_patient_days(raw.loc[keep].reset_index(drop=True), out, tm, ctx,
                                     resolved)
    return out


def _collapse_patient_days(raw: pd.DataFrame, out: pd.DataFrame, tm: PatientsMapping,
                           ctx: _Context, resolved: dict[str, str]) -> pd.DataFrame:
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
        day, _ = _numbers(raw[day_col], ctx.mapping.decimal, ctx.missing)
    else:
        assert date_col is not None
        dates, _ = _dates(raw[date_col], ctx.mapping.date_format, ctx.missing)
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
    result["_src"] = _const(len(result), str(out["_src"].iloc[0]) if len(out) else "patients")
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
                pid: pd.Series, ctx: _Context, infusion: pd.Series | None
                ) -> tuple[FloatArray, BoolArray, BoolArray]:
    """Days since infusion, a mask of unreadable cells and a mask of missing cells."""
    if day_col is not None:
        values, bad = _numbers(raw[day_col], ctx.mapping.decimal, ctx.missing)
        return values, bad, np.isnan(values) & ~bad
    assert date_col is not None
    dates, bad = _dates(raw[date_col], ctx.mapping.date_format, ctx.missing)
    if infusion is None:
        base = pd.Series(pd.NaT, index=dates.index, dtype="datetime64[ns]")
    else:
        codes, uniques = _encode(pid)
        per_id = pd.Series(infusion.reindex(pd.Index(uniques, dtype=object)).to_numpy(),
                           dtype="datetime64[ns]").to_numpy()
        base = pd.Series(np.append(per_id, np.datetime64("NaT", "ns"))[codes],
                         dtype="datetime64[ns]")
    delta = (dates.reset_index(drop=True) - base.reset_index(drop=True))
    days = (delta.dt.total_seconds() / 86400.0).to_numpy(dtype=np.float64, na_value=np.nan)
    return days, bad, np.isnan(days) & ~bad


def _infusion_lookup(patients: pd.DataFrame) -> pd.Series | None:
    if "infusion_date" not in patients.columns:
        return None
    frame = patients[["patient_id", "infusion_date"]].dropna()
    frame = frame.drop_duplicates("patient_id")
    dates = pd.to_datetime(frame["infusion_date"], format="%Y-%m-%d")
    return pd.Series(dates.to_numpy(), index=frame["patient_id"].to_numpy())


def _observations(raws: list[pd.DataFrame], om: ObservationsMapping, ctx: _Context,
                  patients: pd.DataFrame) -> pd.DataFrame:
    parts = []
    for raw in raws:
        if om.layout == "long":
            part = _obs_long(raw, om, ctx, patients)
        else:
            part = _obs_wide(raw, om, ctx, patients)
        if part is not None:
            parts.append(part)
    if not parts:
        return _empty_frame(OBSERVATION_COLUMNS)
    obs = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    return _convert_units(obs, om, ctx)


def _day_columns(raw: pd.DataFrame, tm: TableMapping, table: str, ctx: _Context
                 ) -> tuple[str | None, str | None]:
    day_col = _find(raw, tm.source("day")) if "date" not in tm.columns else None
    date_col = None
    if day_col is None:
        date_col = _find(raw, tm.source("date"))
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


def _obs_long(raw: pd.DataFrame, om: ObservationsMapping, ctx: _Context,
              patients: pd.DataFrame) -> pd.DataFrame | None:
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
    frame = pd.DataFrame({"_row": raw["_row"].to_numpy(), "_src": raw["_src"].array})
    frame["patient_id"] = _text_categorical(raw[pid_col], ctx.missing).array
    names = _text_categorical(raw[ana_col], ctx.missing)
    lookup = _analyte_lookup(om)
    codes, uniques = _encode(names)
    mapped = np.array([_ANALYTE_INDEX.get(lookup.get(str(u).casefold(), ""), -1)
                       for u in uniques] + [-1], dtype=np.int64)
    a_codes = mapped[codes]  # code -1 picks the trailing -1
    frame["analyte"] = _categorical(a_codes, categories=ANALYTE_CODES)
    frame["_col"] = _const(len(frame), val_col)
    values, bad_value = _numbers(raw[val_col], ctx.mapping.decimal, ctx.missing)
    frame["value"] = values
    frame["_orig"] = values  # as written, before unit conversion (quoted in messages)
    day, bad_day, no_day = _day_values(raw, day_col, date_col, frame["patient_id"], ctx,
                                       _infusion_lookup(patients))
    frame["day"] = day
    if unit_col is not None:
        frame["unit"] = _text_categorical(raw[unit_col], ctx.missing).array
    else:
        frame["unit"] = pd.Series([None] * len(frame), dtype="str").array
    frame["_unitcol"] = _const(len(frame), unit_col or "[observations.units]")

    no_id = frame["patient_id"].isna().to_numpy()
    col_.rows(frame, no_id, code="missing_id", column=pid_col, exclude=True,
              message="no patient id; row left out", expected="an identifier in every row")
    ok = ~no_id
    unknown = ok & (a_codes < 0) & names.notna().to_numpy()
    sev = "info" if om.unknown_analytes == "ignore" else "error"
    col_.grouped(frame, unknown, names, code="unknown_analyte", column=ana_col,
                 severity=sev, exclude=True,
                 message="analyte not recognised; rows left out" + (
                     "" if sev == "info" else " (map it in [observations.analytes] or set "
                     "unknown_analytes = \"ignore\")"),
                 expected="an analyte code or a name mapped in [observations.analytes]")
    no_name = ok & names.isna().to_numpy()
    col_.rows(frame, no_name, code="missing_analyte", column=ana_col, exclude=True,
              message="no analyte name; row left out")
    ok &= ~unknown & ~no_name
    col_.rows(frame, ok & bad_value, code="not_a_number", column=val_col, exclude=True,
              values=raw[val_col], message="value is not a number; row left out",
              expected="a number (censored values such as '<5' are not guessed)")
    no_value = ok & np.isnan(values) & ~bad_value
    col_.rows(frame, no_value, code="missing_value", column=val_col, exclude=True,
              severity="info", message="empty value; row left out")
    ok &= ~bad_value & ~no_value
    day_label = day_col or date_col
    col_.rows(frame, ok & bad_day, code="not_a_day" if day_col else "not_a_date",
              column=day_label, values=raw[day_label], exclude=True,
              message="day is not readable; row left out",
              expected="days since infusion" if day_col else
              f"a date ({ctx.mapping.date_format or 'YYYY-MM-DD'})")
    col_.rows(frame, ok & no_day, code="missing_day", column=day_label, exclude=True,
              message="no day" if day_col else
              "no date, or no infusion date for this patient; row left out")
    ok &= ~bad_day & ~no_day
    return frame.loc[ok].reset_index(drop=True)


def _obs_wide(raw: pd.DataFrame, om: ObservationsMapping, ctx: _Context,
              patients: pd.DataFrame) -> pd.DataFrame | None:
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
    pid = _text_categorical(raw[pid_col], ctx.missing)
    base = pd.DataFrame({"_row": raw["_row"].to_numpy(), "_src": raw["_src"].array})
    no_id = pid.isna().to_numpy()
    col_.rows(base, no_id, code="missing_id", column=pid_col, exclude=True,
              message="no patient id; row left out", expected="an identifier in every row")
    if om.layout == "patient_day":
        day, bad_day, no_day = _day_values(raw, day_col, date_col, pid, ctx,
                                           _infusion_lookup(patients))
        row_ok = _exclude_bad_days(col_, base, ~no_id, raw, str(day_col or date_col), bad_day,
                                   no_day)
    else:
        day = np.zeros(len(raw))
        row_ok = ~no_id
    parts: list[dict[str, Any]] = []
    col_names = [c for c, _, _ in columns]
    for k, (c, code, cday) in enumerate(columns):
        values, bad = _numbers(raw[c], ctx.mapping.decimal, ctx.missing)
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
        return _empty_frame(OBSERVATION_COLUMNS).assign(
            analyte=_categorical(np.zeros(0, dtype=np.int8), ANALYTE_CODES), _col=_const(0, ""),
            _unitcol=_const(0, ""))
    take = np.concatenate([p["take"] for p in parts])
    n = len(take)
    return pd.DataFrame({
        "_row": base["_row"].to_numpy()[take], "_src": base["_src"].array.take(take),
        "patient_id": pid.array.take(take),
        "day": np.concatenate([p["day"] for p in parts]),
        "analyte": _categorical(np.concatenate([p["analyte"] for p in parts]),
                                             categories=ANALYTE_CODES),
        "value": np.concatenate([p["value"] for p in parts]),
        "_orig": np.concatenate([p["value"] for p in parts]),
        "unit": pd.Series([None] * n, dtype="str").array,
        "_col": _categorical(np.concatenate([p["col"] for p in parts]),
                                          categories=col_names),
        "_unitcol": _const(n, "[observations.units]")})


def _accepted(kind: str) -> list[str]:
    from crsscore.units import ANALYTE_UNITS

    return list(ANALYTE_UNITS[kind])


def _convert_units(obs: pd.DataFrame, om: ObservationsMapping, ctx: _Context) -> pd.DataFrame:
    """Convert every value to its analyte's canonical unit; refuse rows with bad units.

    Works on distinct (analyte, unit) pairs: one conversion and at most one problem per pair.
    """
    col_ = ctx.collector
    a_codes = obs["analyte"].cat.codes.to_numpy().astype(np.int64)
    u_codes, u_uniques = _encode(obs["unit"])
    width = len(u_uniques) + 1
    keys = a_codes * width + (u_codes + 1)  # small dense range: count, don't hash
    present = np.bincount(keys, minlength=1) > 0 if len(keys) else np.zeros(1, dtype=bool)
    pair = np.flatnonzero(present).astype(np.int64)
    inv = (np.cumsum(present) - 1)[keys].astype(np.int64)
    n_pairs = len(pair)
    scale, offset = np.ones(n_pairs), np.zeros(n_pairs)
    failed = np.zeros(n_pairs, dtype=bool)
    given = np.empty(n_pairs, dtype=object)
    unit_col = str(obs["_unitcol"].iloc[0]) if len(obs) else "unit"
    for i, key in enumerate(pair):
        analyte = ANALYTE_CODES[int(key) // width]
        uc = int(key) % width - 1
        unit = u_uniques[uc] if uc >= 0 else om.units.get(analyte)
        given[i] = normalise_unit(str(unit)) if unit is not None else ""
        try:
            conv = conversion_for(analyte, unit, column=unit_col)
        except UnitError as exc:
            failed[i] = True
            p = exc.problems[0]
            col_.block(obs, inv == i, code=p.code, column=unit_col, value=p.value,
                       exclude=True, message=f"{p.message}; rows left out",
                       expected=p.expected)
            continue
        scale[i], offset[i] = conv.scale, conv.offset
    ok = np.asarray(~failed[inv], dtype=bool)
    obs = obs.assign(value=obs["value"].to_numpy() * scale[inv] + offset[inv],
                     unit=_categorical(_CANON_UNIT_INDEX[a_codes],
                                                    categories=_CANON_UNITS))
    # Several units for one analyte: converted, but worth a look.
    pair_rows = np.bincount(inv, minlength=n_pairs)
    per_analyte: dict[str, list[tuple[str, int]]] = {}
    for i, key in enumerate(pair):
        if not failed[i]:
            per_analyte.setdefault(ANALYTE_CODES[int(key) // width], []).append(
                (str(given[i]), int(pair_rows[i])))
    src = str(obs["_src"].iloc[0]) if len(obs) else "observations"
    for analyte, units in per_analyte.items():
        merged: dict[str, int] = {}
        for u, n in units:
            merged[u] = merged.get(u, 0) + n
        if len(merged) > 1:
            listed = ", ".join(f"{u} ({n} rows)" for u, n in merged.items())
            col_.add(Problem(table=src, column=unit_col, severity="warning",
                             code="mixed_units",
                             message=f"{analyte} is given in several units: {listed}; all "
                             f"converted to {canonical_unit(analyte)}, check this is intended"))
    if ok.all():
        return obs
    return obs.loc[ok].reset_index(drop=True)


def _events(raws: list[pd.DataFrame], em: EventsMapping, ctx: _Context,
            patients: pd.DataFrame) -> pd.DataFrame:
    parts = []
    col_ = ctx.collector
    elookup = {e: e for e in EVENTS}
    elookup.update({k.strip().casefold(): v for k, v in em.events.items()})
    dlookup = {k.strip().casefold(): v for k, v in em.details.items()}
    for raw in raws:
        if em.layout == "patient_day":
            wide = _events_wide(raw, em, ctx, patients, dlookup)
            if wide is not None:
                parts.append(wide)
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
        frame = pd.DataFrame({"_row": raw["_row"].to_numpy(), "_src": raw["_src"].array})
        frame["patient_id"] = _text_categorical(raw[pid_col], ctx.missing).array
        names = _text(raw[ev_col], ctx.missing)
        frame["event"] = _map_text(names, lambda v: elookup.get(v.casefold(), v)).array
        day, bad_day, no_day = _day_values(raw, day_col, date_col, frame["patient_id"], ctx,
                                           _infusion_lookup(patients))
        frame["day"] = day
        if val_col is not None:
            values, bad = _numbers(raw[val_col], ctx.mapping.decimal, ctx.missing)
            col_.rows(frame, bad, code="not_a_number", column=val_col, values=raw[val_col],
                      message="event value is not a number; cell set missing",
                      expected="a number")
            frame["value"] = values
        else:
            frame["value"] = np.nan
        frame["unit"] = (_map_text(_text(raw[unit_col], ctx.missing), normalise_unit).array
                         if unit_col else pd.Series([None] * len(frame), dtype="str").array)
        if det_col is not None:
            det = _text(raw[det_col], ctx.missing)
            frame["detail"] = _map_text(det, lambda v: dlookup.get(v.casefold(), v)).array
        else:
            frame["detail"] = pd.Series([None] * len(frame), dtype="str").array
        frame["_evcol"] = _const(len(frame), ev_col)
        frame["_unitcol"] = _const(len(frame), unit_col or "unit")
        frame["_detcol"] = _const(len(frame), det_col or "detail")
        no_id = frame["patient_id"].isna().to_numpy()
        col_.rows(frame, no_id, code="missing_id", column=pid_col, exclude=True,
                  message="no patient id; row left out", expected="an identifier in every row")
        no_event = ~no_id & names.isna().to_numpy()
        col_.rows(frame, no_event, code="missing_event", column=ev_col, exclude=True,
                  message="no event name; row left out")
        ok = ~no_id & ~no_event
        ok = _exclude_bad_days(col_, frame, ok, raw, str(day_col or date_col), bad_day, no_day)
        parts.append(frame.loc[ok].reset_index(drop=True))
    if not parts:
        return _empty_frame(EVENT_COLUMNS)
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]


#: Events whose cell in a patient-day column is a number first (a recorded grade of 0 is
#: information, not "no").
_NUMERIC_EVENTS = frozenset({"crs_grade_recorded", "icans_grade_recorded", "ice", "capd",
                             "fio2", "vasopressor_hours", "organ_toxicity"})
#: 0/1 events: "yes" is 1.
_FLAG_EVENTS = frozenset({"motor_weakness", "death"})


def _events_wide(raw: pd.DataFrame, em: EventsMapping, ctx: _Context, patients: pd.DataFrame,
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
        actual = _find(raw, source)
        if actual is None:
            ctx.structural.append(_missing_column("events", source, raw, mapped=True,
                                                  what=f"{event} per day"))
            continue
        ctx.use(raw, actual)
        found.append((actual, event))
    if pid_col is None or (day_col is None and date_col is None) or not found:
        return None
    pid = _text_categorical(raw[pid_col], ctx.missing)
    base = pd.DataFrame({"_row": raw["_row"].to_numpy(), "_src": raw["_src"].array})
    no_id = pid.isna().to_numpy()
    col_.rows(base, no_id, code="missing_id", column=pid_col, exclude=True,
              message="no patient id; row left out", expected="an identifier in every row")
    day, bad_day, no_day = _day_values(raw, day_col, date_col, pid, ctx,
                                       _infusion_lookup(patients))
    row_ok = _exclude_bad_days(col_, base, ~no_id, raw, str(day_col or date_col), bad_day, no_day)
    yes, no = ctx.mapping.yes_words(), ctx.mapping.no_words()
    out = []
    for actual, event in found:
        text = _text(raw[actual], ctx.missing)
        values, not_num = _numbers(raw[actual], ctx.mapping.decimal, ctx.missing)
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
            "patient_id": pid.array.take(keep), "event": event, "day": day[keep],
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


# --------------------------------------------------------------------------------------------
# Orchestration
# --------------------------------------------------------------------------------------------


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


def _text_fields(m: Mapping) -> set[str]:
    names = {"patient_id", "analyte", "unit", "event", "detail", "sex", "centre", "diagnosis",
             "product", "costim", "lymphodepletion"}
    out = set(names)
    for tm in (m.patients, m.observations, m.events):
        if tm is not None:
            out.update(tm.source(n) for n in names if n in tm.columns)
    return {n.casefold() for n in out}


def _canonical_file(folder: Path, table: str, ctx: _Context) -> Path | None:
    found = [folder / f"{table}{s}" for s in (".parquet", ".csv", ".csv.gz")
             if (folder / f"{table}{s}").exists()]
    if len(found) > 1:
        ctx.collector.add(Problem(
            table=table, severity="warning", code="several_files",
            message=f"several files for {table} ({', '.join(p.name for p in found)}); "
                    f"read {found[0].name}"))
    return found[0] if found else None


#: What a cohort without the table loses (shown in warnings of check, grade and derive).
MISSING_TABLE_EFFECT: dict[str, str] = {
    "events": "hypotension, vasopressors, oxygen and deaths are unknown, so CRS cannot be "
              "graded from raw data (days not gradable, severe CRS unknown) unless the "
              "centre's recorded grades (crs_grade_recorded events) are given",
    "observations": "no laboratory values or vital signs (temperature, blood pressure): "
                    "fever cannot be assessed and no lab-based score can be computed",
}


def _has_crs_events(events: pd.DataFrame) -> bool:
    from crsscore.grading._features import CRS_EVENTS

    _, names = _encode(events["event"])
    return any(str(n) in CRS_EVENTS for n in names if n is not None)


def _near_names(folder: Path, table: str) -> list[str]:
    """Files in ``folder`` whose name looks like ``table`` (a misnamed export)."""
    try:
        names = [p.name for p in folder.iterdir() if p.is_file()]
    except OSError:
        return []
    out = []
    for name in sorted(names):
        stem = name.lower().split(".", 1)[0]
        if stem in TABLES and stem != table:
            continue
        if stem == table or difflib.SequenceMatcher(None, stem, table).ratio() >= 0.75:
            out.append(name)
    return out[:5]


def _mapped_files(tm: TableMapping, m: Mapping, data_path: Path, table: str) -> list[Path]:
    spec = tm.file or m.file
    if spec is None:
        if data_path.is_file():
            return [data_path]
        raise MappingError(f"[{table}] names no file and the data path {data_path} is a "
                           "folder: set 'file' in the mapping")
    roots = []
    if data_path.is_dir():
        roots.append(data_path)
    elif data_path.exists():
        roots.append(data_path.parent)
    if m.base_dir is not None:
        roots.append(m.base_dir)
    roots.append(Path.cwd())
    for root in roots:
        pattern = str(root / spec) if not Path(spec).is_absolute() else spec
        hits = sorted(Path(p) for p in glob.glob(pattern))
        if hits:
            return hits
    raise MappingError(f"[{table}] file {spec!r} not found (looked in "
                       f"{', '.join(str(r) for r in dict.fromkeys(roots))})")


def _read_all(files: list[Path], table: str, tm: TableMapping, m: Mapping,
              texts: set[str], cache: dict[tuple[Path, str | int | None, int], pd.DataFrame]
              ) -> list[pd.DataFrame]:
    out = []
    for f in files:
        key = (f.resolve(), tm.sheet, tm.header_row)
        if key not in cache:
            cache[key] = read_table(f, table, m, sheet=tm.sheet, header_row=tm.header_row,
                                    text_columns=texts)
        frame = cache[key]
        # A file shared by several tables is labelled by the table that reads it.
        out.append(frame.assign(_src=_const(len(frame), f"{table} ({f.name})")))
    return out


def read_cohort_tables(path: str | Path, mapping: Mapping | dict[str, Any] | str | Path | None
                       = None, *, max_listed: int | None = MAX_LISTED) -> Loaded:
    """Read and normalise the tables of a cohort without judging their content.

    Raises :class:`DataError`/:class:`MappingError` when the input cannot be read at all;
    row-level problems are collected in the returned :class:`Loaded`, up to ``max_listed``
    per kind (None: every one).
    """
    data_path = Path(path)
    m = as_mapping(mapping)
    if m is None and data_path.suffix.lower() == ".toml" and data_path.is_file():
        m = as_mapping(data_path)
        assert m is not None and m.base_dir is not None
        data_path = m.base_dir
    if not data_path.exists():
        raise _fail("input", f"no such file or folder: {data_path}", code="file_not_found")
    canonical = m is None
    if m is None:
        if not data_path.is_dir():
            raise MappingError(f"{data_path} is a single file: a mapping file (--mapping) is "
                               "needed to say which table it holds and how its columns are "
                               "named; a canonical cohort is a folder with patients.csv, "
                               "observations.csv and events.csv (or .parquet)")
        m = Mapping(observations=ObservationsMapping(), events=EventsMapping())
    missing = frozenset(m.missing)
    ctx = _Context(mapping=m, canonical=canonical, collector=Collector(max_listed=max_listed),
                   missing=missing)
    texts = _text_fields(m)
    cache: dict[tuple[Path, str | int | None, int], pd.DataFrame] = {}

    def files_for(table: str, tm: TableMapping | None) -> list[Path]:
        if tm is None:
            return []
        if canonical:
            found = _canonical_file(data_path, table, ctx)
            if found is None and table == "patients":
                listed = ", ".join(sorted(p.name for p in data_path.iterdir())[:20])
                raise _fail("patients", f"no patients.csv or patients.parquet in {data_path} "
                            f"(found: {listed or 'nothing'})", code="file_not_found")
            if found is None:
                absent.append(table)
                near = _near_names(data_path, table)
                hint = (f"; found {', '.join(near)}: rename it to {table}.csv (or "
                        f"{table}.parquet)" if near else "")
                ctx.collector.add(Problem(
                    table=table, severity="warning", code="no_table",
                    message=f"no {table} table in the folder ({table}.csv, {table}.csv.gz or "
                    f"{table}.parquet){hint}: {MISSING_TABLE_EFFECT[table]}"))
            return [found] if found is not None else []
        return _mapped_files(tm, m, data_path, table)

    absent: list[str] = []
    if not canonical:
        for table, tm in (("observations", m.observations), ("events", m.events)):
            if tm is None:
                absent.append(table)
                ctx.collector.add(Problem(
                    table=table, severity="warning", code="no_table",
                    message=f"the mapping has no [{table}] table: "
                    f"{MISSING_TABLE_EFFECT[table]}"))
    raw_p = _read_all(files_for("patients", m.patients), "patients", m.patients, m, texts, cache)
    raw_o = _read_all(files_for("observations", m.observations), "observations",
                      m.observations or ObservationsMapping(), m, texts, cache)
    raw_e = _read_all(files_for("events", m.events), "events", m.events or EventsMapping(),
                      m, texts, cache)
    patients = pd.concat([_patients(r, m.patients, ctx) for r in raw_p], ignore_index=True)
    _raise_structural(ctx, canonical)
    observations = (_observations(raw_o, m.observations, ctx, patients)
                    if m.observations is not None and raw_o
                    else _empty_frame(OBSERVATION_COLUMNS))
    events = (_events(raw_e, m.events, ctx, patients) if m.events is not None and raw_e
              else _empty_frame(EVENT_COLUMNS))
    _raise_structural(ctx, canonical)
    if not canonical:
        _report_unused(cache, ctx)
    for table, raws in (("observations", raw_o), ("events", raw_e)):
        if raws and sum(len(r) for r in raws) == 0:
            absent.append(table)
            files = ", ".join(sorted({str(r["_src"].cat.categories[0]) if len(
                r["_src"].cat.categories) else table for r in raws}))
            ctx.collector.add(Problem(
                table=files, severity="warning", code="empty_table",
                message=f"the {table} table has no data rows (a header only): "
                f"{MISSING_TABLE_EFFECT[table]}"))
    if len(events) and "events" not in absent and not _has_crs_events(events):
        absent.append("events")  # check warns (no_crs_events); grading uses recorded grades
    synthetic = _is_synthetic(patients, data_path, m)
    return Loaded(patients=patients, observations=observations, events=events,
                  collector=ctx.collector, source=str(path), synthetic=synthetic,
                  missing_tables=tuple(dict.fromkeys(absent)), decimal=m.decimal)


def _raise_structural(ctx: _Context, canonical: bool) -> None:
    if not ctx.structural:
        return
    if canonical:
        raise DataError([Problem(table=s.split(":", 1)[0], message=s.split(":", 1)[1].strip(),
                                 code="missing_column") for s in ctx.structural])
    raise MappingError("the mapping does not fit the data:\n  " + "\n  ".join(ctx.structural))


def _report_unused(cache: dict[tuple[Path, str | int | None, int], pd.DataFrame],
                   ctx: _Context) -> None:
    used_by_file: dict[str, set[str]] = {}
    for src, cols in ctx.used.items():
        name = src.split("(", 1)[-1].rstrip(")")
        used_by_file.setdefault(name, set()).update(cols)
    for (path, _, _), frame in cache.items():
        used = used_by_file.get(path.name, set())
        unused = [str(c) for c in frame.columns if not str(c).startswith("_") and c not in used]
        if unused:
            shown = ", ".join(unused[:30]) + (" ..." if len(unused) > 30 else "")
            ctx.collector.add(Problem(table=path.name, severity="info", code="unused_columns",
                                      message=f"{len(unused)} column(s) not used by the "
                                      f"mapping: {shown}"))


def _is_synthetic(patients: pd.DataFrame, data_path: Path, m: Mapping) -> bool:
    folders = [data_path if data_path.is_dir() else data_path.parent]
    if m.base_dir is not None:
        folders.append(m.base_dir)
    if any((f / name).exists() for f in folders for name in SYNTHETIC_MARKERS):
        return True
    if "synthetic" in patients.columns and len(patients) > 0:
        flags = patients["synthetic"].to_numpy(dtype=np.float64, na_value=np.nan)
        return bool(np.all(flags == 1))
    return False


def tables_from_cohort(cohort: Cohort, *, max_listed: int | None = MAX_LISTED) -> Loaded:
    """Run an in-memory cohort through the same normalisation (rows as in a CSV export)."""
    ctx = _Context(mapping=Mapping(observations=ObservationsMapping(), events=EventsMapping()),
                   canonical=True, collector=Collector(max_listed=max_listed),
                   missing=frozenset({"", "NA"}))

    def raw(frame: pd.DataFrame, table: str) -> pd.DataFrame:
        out = frame.reset_index(drop=True).copy()
        out["_row"] = np.arange(len(out), dtype=np.int64) + 2
        out["_src"] = _const(len(out), table)
        return out

    m = ctx.mapping
    assert m.observations is not None and m.events is not None
    patients = _patients(raw(cohort.patients, "patients"), m.patients, ctx)
    _raise_structural(ctx, True)
    observations = (_observations([raw(cohort.observations, "observations")], m.observations,
                                  ctx, patients)
                    if len(cohort.observations) else _empty_frame(OBSERVATION_COLUMNS))
    events = (_events([raw(cohort.events, "events")], m.events, ctx, patients)
              if len(cohort.events) else _empty_frame(EVENT_COLUMNS))
    _raise_structural(ctx, True)
    return Loaded(patients=patients, observations=observations, events=events,
                  collector=ctx.collector, source=cohort.source, synthetic=cohort.synthetic)


def _as_text(series: pd.Series) -> pd.Series:
    if isinstance(series.dtype, pd.CategoricalDtype):
        codes = series.cat.codes.to_numpy().astype(np.int64)
        return _decode(codes, list(series.cat.categories))
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


#: What ``--implausible`` accepts: refuse the data (default) or exclude the cells.
IMPLAUSIBLE_POLICIES = ("refuse", "exclude")

IMPLAUSIBLE_HINT = ("rerun with --implausible exclude to set each implausible value missing "
                    "(every excluded cell is listed in the check report, --json and the "
                    "report), or correct the cells")


def load_cohort(path: str | Path, mapping: Mapping | dict[str, Any] | str | Path | None = None,
                *, implausible: str = "refuse") -> Cohort:
    """Load a cohort, converting every value to canonical units, or refuse it.

    Parameters
    ----------
    path
        A folder in the canonical format (``patients``, ``observations``, ``events`` as
        ``.csv`` or ``.parquet``); with a mapping, a folder, a single file (CSV, ``.xlsx``,
        Parquet) or a mapping file (``.toml``) whose ``file`` entries name the data.
    mapping
        A mapping file path, a :class:`~crsscore.data.mapping.Mapping` or its dict form.

    Returns
    -------
    Cohort
        Observation values in canonical units; ``synthetic`` set when the patients table
        says so (``synthetic`` all 1) or a ``SYNTHETIC`` marker file lies in the folder.
        Warnings (converted mixed units, conflicting duplicates) are kept in ``notes``.

    Raises
    ------
    DataError
        Every error found (each naming table, row, column, value and what was expected);
        :class:`~crsscore.errors.UnitError` when all of them are unit problems.
    MappingError
        The mapping file is invalid or names columns, sheets or files that do not exist.

    ``implausible="exclude"`` sets values outside the physiological range (``out_of_range``)
    missing instead of refusing the data; each is listed in ``Cohort.exclusions``.
    """
    from crsscore.data.check import validate_tables

    loaded = read_cohort_tables(path, mapping)
    validate_tables(loaded, implausible=implausible)
    errors = loaded.collector.errors
    if errors:
        cls = UnitError if all(p.code in _UNIT_CODES for p in errors) else DataError
        n_range = sum(1 for p in errors if p.code == "out_of_range")
        if n_range and implausible == "refuse":
            total = count_implausible(loaded.collector)
            errors = [Problem(table="input", code="implausible_values",
                              message=f"{total} value(s) outside the physiological range: "
                                      f"{IMPLAUSIBLE_HINT}"), *errors]
        raise cls(errors)
    return to_cohort(loaded)


def count_implausible(collector: Collector) -> int:
    """Values outside the physiological range flagged as errors, listed or not."""
    listed = sum(1 for p in collector.errors if p.code == "out_of_range"
                 and "rows in total, the first" not in p.message)
    beyond = sum(int(t["total"]) - int(t["listed"]) for t in collector.truncated
                 if t["code"] == "out_of_range")
    return listed + beyond


__all__ = [
    "Collector",
    "Loaded",
    "load_cohort",
    "read_cohort_tables",
    "read_table",
    "tables_from_cohort",
    "to_cohort",
]

