"""Finding a cohort's files and reading them into canonical tables, without judging them.

:func:`read_cohort_tables` takes a canonical folder (``patients``, ``observations``,
``events`` as ``.csv``, ``.csv.gz`` or ``.parquet``), or a centre's export with its mapping
(a folder, a single file or the mapping file whose ``file`` entries name the data), reads
every file once and normalises the tables (:mod:`crsscore.data.canonical`).  It raises only
when the input cannot be read at all; row-level problems are collected in the returned
:class:`~crsscore.data.canonical.Loaded` for :mod:`crsscore.data.check` to add its own.
"""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crsscore.columnar import constant, encode
from crsscore.data.canonical import (
    Context,
    Loaded,
    empty_frame,
    normalise_events,
    normalise_observations,
    normalise_patients,
    raise_structural,
)
from crsscore.data.files import read_table, unreadable
from crsscore.data.mapping import (
    EventsMapping,
    Mapping,
    ObservationsMapping,
    TableMapping,
    as_mapping,
)
from crsscore.data.schema import EVENT_COLUMNS, MISSING_TABLE_EFFECT, OBSERVATION_COLUMNS
from crsscore.errors import MappingError, Problem
from crsscore.problems import MAX_LISTED, Collector

TABLES = ("patients", "observations", "events")
SYNTHETIC_MARKERS = ("SYNTHETIC", "SYNTHETIC.txt")


def _text_fields(m: Mapping) -> set[str]:
    names = {"patient_id", "analyte", "unit", "event", "detail", "sex", "centre", "diagnosis",
             "product", "costim", "lymphodepletion"}
    out = set(names)
    for tm in (m.patients, m.observations, m.events):
        if tm is not None:
            out.update(tm.source(n) for n in names if n in tm.columns)
    return {n.casefold() for n in out}


def _canonical_file(folder: Path, table: str, ctx: Context) -> Path | None:
    found = [folder / f"{table}{s}" for s in (".parquet", ".csv", ".csv.gz")
             if (folder / f"{table}{s}").exists()]
    if len(found) > 1:
        ctx.collector.add(Problem(
            table=table, severity="warning", code="several_files",
            message=f"several files for {table} ({', '.join(p.name for p in found)}); "
                    f"read {found[0].name}"))
    return found[0] if found else None




def _has_crs_events(events: pd.DataFrame) -> bool:
    from crsscore.data.schema import CRS_EVENTS

    _, names = encode(events["event"])
    return any(str(n) in CRS_EVENTS for n in names if n is not None)


def _near_names(folder: Path, table: str) -> list[str]:
    """Files in ``folder`` whose name looks like ``table`` (a misnamed export)."""
    import difflib  # only when a table is missing (start-up of the commands)

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
        out.append(frame.assign(_src=constant(len(frame), f"{table} ({f.name})")))
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
        raise unreadable("input", f"no such file or folder: {data_path}", code="file_not_found")
    canonical = m is None
    if m is None:
        if not data_path.is_dir():
            raise MappingError(f"{data_path} is a single file: a mapping file (--mapping) is "
                               "needed to say which table it holds and how its columns are "
                               "named; a canonical cohort is a folder with patients.csv, "
                               "observations.csv and events.csv (or .parquet)")
        m = Mapping(observations=ObservationsMapping(), events=EventsMapping())
    missing = frozenset(m.missing)
    ctx = Context(mapping=m, canonical=canonical, collector=Collector(max_listed=max_listed),
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
                raise unreadable("patients", f"no patients.csv or patients.parquet in {data_path} "
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
    patients = pd.concat([normalise_patients(r, m.patients, ctx) for r in raw_p], ignore_index=True)
    raise_structural(ctx, canonical)
    observations = (normalise_observations(raw_o, m.observations, ctx, patients)
                    if m.observations is not None and raw_o
                    else empty_frame(OBSERVATION_COLUMNS))
    events = (normalise_events(raw_e, m.events, ctx, patients) if m.events is not None and raw_e
              else empty_frame(EVENT_COLUMNS))
    raise_structural(ctx, canonical)
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


def _report_unused(cache: dict[tuple[Path, str | int | None, int], pd.DataFrame],
                   ctx: Context) -> None:
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


__all__ = ["read_cohort_tables"]
