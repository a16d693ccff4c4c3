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
    """

    patients: pd.DataFrame
    observations: pd.DataFrame = field(default_factory=lambda: _empty(OBSERVATION_COLUMNS))
    events: pd.DataFrame = field(default_factory=lambda: _empty(EVENT_COLUMNS))
    source: str = "memory"
    synthetic: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def n_patients(self) -> int:
        return len(self.patients)

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
