"""Small vectorised helpers shared by the CRS and ICANS rule sets.

A day's grade is the worst of several criteria.  Each criterion gives an interval
``[lo, hi]``: equal bounds when the data decide it, different bounds when a needed input is
unknown (no temperature, FiO2 not recorded, a vasopressor's duration missing).  The day is
gradable only when the worst lower bound equals the worst upper bound, so a missing input
makes a day "not gradable" exactly when it could change the grade, and never otherwise.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

I8 = npt.NDArray[np.int8]
I32 = npt.NDArray[np.int32]
B = npt.NDArray[np.bool_]


#: Short names of the criteria that can set a day's grade (``crs_criterion`` column).
CRITERIA: tuple[str, ...] = (
    "none", "fever", "hypotension", "hypoxia", "organ toxicity", "death", "invalid input",
    "temperature", "assessment", "encephalopathy", "consciousness", "seizure", "motor",
    "cerebral oedema", "recorded", "no events")


def crit(name: str) -> int:
    return CRITERIA.index(name)


class Reasons:
    """Interns reason texts; vectorised code arrays index into :attr:`items`."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self._index: dict[str, int] = {}

    @classmethod
    def of(cls, items: tuple[str, ...]) -> Reasons:
        """Reasons already holding ``items`` (distinct), coded 0, 1, ... in that order."""
        rs = cls()
        rs.items = list(items)
        rs._index = dict(_index_of(items))  # a copy: codes added later are this one's
        return rs

    def code(self, text: str) -> int:
        if text not in self._index:
            self._index[text] = len(self.items)
            self.items.append(text)
        return self._index[text]

    def lut(self, texts: list[str]) -> I32:
        return np.array([self.code(t) for t in texts], dtype=np.int32)


@functools.lru_cache(maxsize=32)
def _index_of(items: tuple[str, ...]) -> dict[str, int]:
    """Code of each text of a fixed reason table (the tables are built once per setting)."""
    return {t: k for k, t in enumerate(items)}


@dataclass
class Criterion:
    """One criterion over all days: bounds and the reason codes to show."""

    name: str
    lo: I8
    hi: I8
    why: I32  # reason when this criterion sets the grade
    unknown: I32  # reason when this criterion leaves the grade open


@dataclass
class Graded:
    """Grades (-1 = not gradable) with a reason code per day and the reason texts."""

    grade: I8
    reason: I32
    reasons: list[str]
    criterion: npt.NDArray[np.int8]  # index into CRITERIA of the deciding criterion

    def criterion_name(self, i: int) -> str:
        return CRITERIA[int(self.criterion[i])]


def select(conditions: list[Any], choices: list[Any], default: Any) -> npt.NDArray[Any]:
    """``np.select(conditions, choices, default)``: the choice of the first true condition,
    by one ``np.where`` per condition from the last (the same values and dtype; np.select's
    broadcasting costs several times more on a patient's few days)."""
    out = default
    for cond, choice in zip(reversed(conditions), reversed(choices), strict=True):
        out = np.where(cond, choice, out)
    return np.asarray(out)


def const(n: int, value: int) -> I8:
    return np.full(n, value, dtype=np.int8)


def combine(criteria: list[Criterion]) -> tuple[I8, I8, I32, npt.NDArray[np.intp]]:
    """Worst lower bound, worst upper bound, reason code and index of the deciding criterion.

    When bounds differ, the reason and index are those of the first criterion whose upper
    bound exceeds the worst lower bound (the one that leaves the grade open).
    """
    lo = np.stack([c.lo for c in criteria])
    hi = np.stack([c.hi for c in criteria])
    lo_max = lo.max(axis=0)
    hi_max = hi.max(axis=0)
    decide = np.argmax(lo == lo_max, axis=0)
    open_ = np.argmax(hi > lo_max, axis=0)
    gradable = lo_max == hi_max
    idx = np.where(gradable, decide, open_)
    why = np.stack([c.why for c in criteria])
    unk = np.stack([c.unknown for c in criteria])
    cols = np.arange(lo.shape[1])
    reason = np.where(gradable, why[idx, cols], unk[idx, cols]).astype(np.int32)
    return lo_max.astype(np.int8), hi_max.astype(np.int8), reason, idx
