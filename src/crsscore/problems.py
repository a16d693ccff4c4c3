"""Collecting located problems and left-out rows over tables, each kind listed up to a cap.

A :class:`Collector` gathers the :class:`~crsscore.errors.Problem` of a pass over the data
(reading, then checking) so that they are reported together: one problem per flagged row, per
distinct offending value or per block of rows sharing one cause, and every row or cell left
out (:meth:`Collector.exclusions`).  Rows are located through the ``_row`` (row in the file)
and ``_src`` (table and file) helper columns of the frames the loaders build.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from crsscore.columnar import encode, is_missing, text_or_none
from crsscore.errors import Problem

#: Individual problems listed per (table, column, kind of problem); beyond, one summary line.
MAX_LISTED = 100


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
            if vals is not None and not is_missing(vals[k]):
                value = _show(vals[k])
            self.problems.append(Problem(
                table=str(srcs[k]), row=int(rows[k]), column=text_or_none(cols[k]),
                message=message, value=value, expected=expected, severity=severity, code=code))
        if len(idx) > cap:
            self.truncated.append({"table": str(srcs[0]), "column": text_or_none(cols[0]),
                                   "code": code, "total": len(idx),
                                   "listed": cap})
            self.problems.append(Problem(
                table=str(srcs[0]), column=text_or_none(cols[0]), severity=severity, code=code,
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
            value=None if value is None or is_missing(value) else _show(value), expected=expected,
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
        codes, uniques = encode(keys)
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
                 else [None if is_missing(v) else _show(v) for v in values])
        self.excluded.append(pd.DataFrame({
            "table": srcs.astype(str), "row": rows.astype(np.int64),
            "column": [text_or_none(c) for c in cols], "value": shown, "reason": code,
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


__all__ = ["MAX_LISTED", "Collector"]
