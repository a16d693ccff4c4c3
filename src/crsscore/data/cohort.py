"""The in-memory cohort: three canonical tables plus provenance."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import pandas as pd

from crsscore.data.schema import EVENT_COLUMNS, OBSERVATION_COLUMNS


def _empty(columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})


@dataclass
class Cohort:
    """A cohort in the canonical format.

    ``observations`` values are in canonical units once loaded (``unit`` column holds the
    canonical unit); ``source`` says where the data came from; ``synthetic`` is true for
    simulated cohorts and every output derived from them says so.

    ``missing_tables`` names the tables a loader did not find or found without a data row
    (``"events"``: hypotension, vasopressors, oxygen and deaths are then unknown, so CRS
    cannot be graded from raw data).  ``file_rows`` maps a table name to a frame with one row
    per table row: ``table`` (table and file, as in messages) and ``row`` (the row number in
    the file, header = row 1); see :meth:`locate`.  ``exclusions`` lists every row or cell
    left out while loading (e.g. implausible values under ``implausible="exclude"``).
    """

    patients: pd.DataFrame
    observations: pd.DataFrame = field(default_factory=lambda: _empty(OBSERVATION_COLUMNS))
    events: pd.DataFrame = field(default_factory=lambda: _empty(EVENT_COLUMNS))
    source: str = "memory"
    synthetic: bool = False
    notes: list[str] = field(default_factory=list)
    missing_tables: tuple[str, ...] = ()
    file_rows: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)
    #: Every row or cell the loader left out (table, row, column, value, reason, analyte);
    #: ``None`` for cohorts built in memory.
    exclusions: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def n_patients(self) -> int:
        return len(self.patients)

    def locate(self, table: str, index: int) -> tuple[str, int]:
        """Where row ``index`` (frame index label) of ``table`` sits in the input.

        Returns (table label, row number as in the file).  For tables built in memory, or
        changed since loading, the row is numbered as in a CSV export of the table (header
        row 1, first data row 2).
        """
        frame = getattr(self, table, None)
        origin = self.file_rows.get(table)
        if (origin is not None and frame is not None and len(origin) == len(frame)
                and 0 <= index < len(origin)):
            rows = origin["row"].to_numpy(dtype="int64")
            return str(origin["table"].iat[index]), int(rows[index])
        return table, int(index) + 2

    def data_hash(self) -> str:
        """SHA-256 of the three tables' content (order-independent of row order).

        Recorded in every output so that a result can be tied to the exact data it came from
        without storing the data.
        """
        h = hashlib.sha256()
        for name, frame in (("patients", self.patients), ("observations", self.observations),
                            ("events", self.events)):
            h.update(name.encode())
            if len(frame) == 0:
                continue
            cols = sorted(frame.columns)
            rows = pd.util.hash_pandas_object(frame[cols].astype(str), index=False)
            h.update(",".join(cols).encode())
            h.update(rows.sort_values().to_numpy().tobytes())
        return h.hexdigest()
