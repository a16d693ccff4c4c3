"""Reading one data file (CSV, Excel, Parquet) into a frame numbered as the file's rows.

:func:`read_table` returns the centre's columns as written plus the helper columns ``_row``
(the row a user sees in the file, header = row 1) and ``_src`` (table and file name).  Files
that cannot be read (missing, empty, undecodable, a column name given twice, rows with the
wrong number of fields) are refused with a located :class:`~crsscore.errors.DataError`
before any value is looked at.  CSV is read by pyarrow's multi-threaded reader, Parquet by
pyarrow, Excel by openpyxl.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from crsscore.columnar import constant
from crsscore.data.mapping import Mapping
from crsscore.errors import DataError, MappingError, Problem
from crsscore.problems import MAX_LISTED

CSV_SUFFIXES = (".csv", ".tsv", ".txt", ".csv.gz")
EXCEL_SUFFIXES = (".xlsx", ".xlsm")
PARQUET_SUFFIXES = (".parquet", ".pq")


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in (*CSV_SUFFIXES, *EXCEL_SUFFIXES, *PARQUET_SUFFIXES, ".xls"):
        if name.endswith(suffix):
            return suffix
    return path.suffix.lower()


def unreadable(table: str, message: str, *, code: str = "unreadable", column: str | None = None,
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
        raise unreadable(table, f"{seen['']} columns have no name in the header",
                    code="duplicate_column", expected="a name for every column")
    dupes = sorted(n for n, k in seen.items() if k > 1 and n)
    if dupes:
        raise unreadable(table, f"column name(s) appear more than once in the header: "
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
        raise unreadable(table, f"cannot read file: {reason}") from None
    if not head.strip():
        raise unreadable(table, "file is empty", code="empty_file")
    try:
        text = head.decode(encoding)
    except UnicodeDecodeError as exc:
        # The chunk may end inside a multi-byte character: decode what is certainly complete.
        if exc.start < len(head) - 4:
            raise unreadable(table, f"file is not {mapping.encoding} text (set 'encoding' in the "
                        "mapping, e.g. 'latin-1', 'cp1252' or 'gbk')", code="encoding") from None
        text = head[: exc.start].decode(encoding)
    lines = text.splitlines()
    if len(lines) < header_row:
        raise unreadable(table, f"file has fewer than {header_row} line(s); no header found",
                    code="empty_file")
    header_line = lines[header_row - 1]
    delimiter = mapping.delimiter
    if delimiter is None:
        counts = {d: header_line.count(d) for d in (",", ";", "\t", "|")}
        delimiter = max(counts, key=lambda d: counts[d]) if max(counts.values()) > 0 else ","
    names = next(csv.reader([header_line], delimiter=delimiter))
    names = [n.strip() for n in names]
    if not any(names):
        raise unreadable(table, "header row is empty", code="empty_file")
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
            raise unreadable(table, f"file is not {encoding} text (set 'encoding' in the mapping)",
                        code="encoding") from None
        reason = re.sub(r"(got \d+).*", r"\1", text.splitlines()[0])[:120]  # no row content
        raise unreadable(table, f"file cannot be parsed as CSV (delimiter {delimiter!r}): "
                    f"{reason}") from None
    except OSError as exc:
        raise unreadable(table, f"cannot read file: {exc}") from None
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
        raise unreadable(table, f"not a readable .xlsx workbook ({type(exc).__name__})") from None
    _refuse_duplicate_names(table, [_header_name(v) for v in raw_header])
    try:
        frame = pd.read_excel(path, sheet_name=sheet if sheet is not None else 0,
                              header=header_row - 1, dtype=object, engine="openpyxl",
                              na_values=list(mapping.missing), keep_default_na=True)
    except (ValueError, KeyError, TypeError, OSError, zipfile.BadZipFile) as exc:
        raise unreadable(table, f"sheet cannot be read ({type(exc).__name__})") from None
    names = [str(c).strip() for c in frame.columns]
    _refuse_duplicate_names(table, names)
    frame.columns = pd.Index(names)
    if len(frame.columns) == 0:
        raise unreadable(table, "sheet is empty", code="empty_file")
    return frame


def _read_parquet(path: Path, table: str) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        raw_names = [str(c).strip() for c in pq.ParquetFile(path).schema_arrow.names]
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise unreadable(table, f"not a readable Parquet file ({type(exc).__name__})") from None
    _refuse_duplicate_names(table, raw_names)  # before reading: pyarrow refuses them obscurely
    try:
        frame: pd.DataFrame = pq.read_table(path).to_pandas()
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise unreadable(table, f"not a readable Parquet file ({type(exc).__name__})") from None
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
        raise unreadable(label, f"file not found: {path}", code="file_not_found")
    if path.is_dir():
        raise unreadable(label, f"{path} is a folder, not a file", code="unreadable")
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
        raise unreadable(label, "old Excel .xls files are not read; save the sheet as .xlsx or CSV")
    else:
        raise unreadable(label, f"unknown file type {suffix!r}",
                    expected="CSV (.csv, .tsv, .txt), Excel (.xlsx) or Parquet (.parquet)")
    frame = frame.reset_index(drop=True)
    rows = np.arange(len(frame), dtype=np.int64) + header_row + 1
    if suffix in CSV_SUFFIXES and (_is_gzip(path) or _has_blank_lines(path)):
        rows = _csv_rows_with_blanks(path, mapping, header_row, len(frame), rows)
    frame["_row"] = rows
    frame["_src"] = constant(len(frame), label)
    return frame


__all__ = ["CSV_SUFFIXES", "EXCEL_SUFFIXES", "PARQUET_SUFFIXES", "read_table", "unreadable"]
