"""Exception and warning classes used across crsscore.

Every error that reaches a user names where the problem is (table, row, column) and what was
expected (unit, range).  Problems are collected and raised once (see :class:`DataError`, and
:class:`crsscore.problems.Collector` for a pass over tables), so a centre fixing an export sees
every problem in one pass.  Messages never contain patient values beyond the offending cell,
and never identifiers unless the caller asked for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class CrsscoreError(Exception):
    """Base class of every error raised on purpose by crsscore."""


@dataclass(frozen=True)
class Problem:
    """One data problem: where it is and what is wrong.

    ``row`` is the 1-based data row as a user sees it in a spreadsheet (header = row 1, so the
    first data row is row 2) when ``row_is_file_row`` is true, else the 0-based frame index.
    """

    table: str
    message: str
    severity: str = "error"  # "error" | "warning" | "info"
    row: int | None = None
    column: str | None = None
    value: str | None = None
    expected: str | None = None
    code: str = "invalid"

    def __str__(self) -> str:
        where = self.table
        if self.row is not None:
            where += f" row {self.row}"
        if self.column is not None:
            where += f", column '{self.column}'"
        text = f"{where}: {self.message}"
        if self.value is not None:
            text += f" (got {self.value!r}"
            text += f"; expected {self.expected})" if self.expected else ")"
        elif self.expected:
            text += f" (expected {self.expected})"
        return text

    def to_dict(self) -> dict[str, object]:
        return {
            "table": self.table,
            "row": self.row,
            "column": self.column,
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "value": self.value,
            "expected": self.expected,
        }


class DataError(CrsscoreError):
    """Input data that cannot be used as given.  Carries every :class:`Problem` found."""

    def __init__(self, problems: Sequence[Problem] | str, *, table: str = "input") -> None:
        if isinstance(problems, str):
            problems = [Problem(table=table, message=problems)]
        self.problems: list[Problem] = list(problems)
        shown = [str(p) for p in self.problems[:20]]
        more = len(self.problems) - len(shown)
        text = "\n".join(shown) + (f"\n... and {more} more problem(s)" if more > 0 else "")
        super().__init__(text)


class UnitError(DataError):
    """A unit that is unknown, ambiguous, missing or not convertible to the canonical unit."""


class MappingError(CrsscoreError):
    """A mapping file that is malformed or refers to columns that do not exist."""


class ModelError(CrsscoreError):
    """A model that cannot be fitted as asked (no events, no data, no candidates left...)."""


class ScoreCardError(CrsscoreError):
    """A score card that fails validation or cannot score the given data."""


class CardInputError(ScoreCardError, DataError):
    """Values a score card cannot score; carries every located :class:`Problem`."""


class CrsscoreWarning(UserWarning):
    """Base class of crsscore's warnings."""


class SeparationWarning(CrsscoreWarning):
    """Complete or quasi-complete separation: maximum likelihood estimates do not exist."""


class LowEventsWarning(CrsscoreWarning):
    """Few events per candidate parameter; estimates are unstable and optimistic."""


class ConvergenceWarning(CrsscoreWarning):
    """An iterative fit stopped before converging."""


class SampleSizeWarning(CrsscoreWarning):
    """The cohort is smaller than Riley's minimum sample size for the model."""


class TocilizumabWarning(CrsscoreWarning):
    """A CRP- or IL-6-based score uses values measured after tocilizumab."""
