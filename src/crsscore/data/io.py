"""Loading a cohort for analysis: read it, check it, and return it in canonical units or refuse.

``load_cohort(path, mapping=None)`` returns a :class:`~crsscore.data.cohort.Cohort` whose
observation values are in canonical units (``unit`` holds the canonical unit), or raises
:class:`~crsscore.errors.DataError` listing every problem found, each naming the table (and
file), the row as a user sees it in the file (header = row 1), the column, the offending value
and what was expected.  Unreadable input (missing or empty files, an invalid mapping, columns
a mapping names but the file lacks, an analyte of a wide table without a unit) is refused
before any value is looked at; unknown or ambiguous units in a unit column are reported once
per distinct (analyte, unit) with their row count and first row.

The work is done by :func:`crsscore.data.tables.read_cohort_tables` (find and read the files,
normalise the tables: :mod:`~crsscore.data.files`, :mod:`~crsscore.data.cells`,
:mod:`~crsscore.data.canonical`) and :func:`crsscore.data.check.validate_tables` (the content
checks); ``check_cohort`` reports what ``load_cohort`` refuses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from crsscore.data.canonical import to_cohort
from crsscore.data.check import count_implausible, validate_tables
from crsscore.data.cohort import Cohort
from crsscore.data.mapping import Mapping
from crsscore.data.tables import read_cohort_tables
from crsscore.errors import DataError, Problem, UnitError

_UNIT_CODES = frozenset({"missing_unit", "unknown_unit", "ambiguous_unit"})


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


__all__ = ["IMPLAUSIBLE_HINT", "load_cohort"]
