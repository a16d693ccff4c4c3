"""Candidate predictors: canonical names, units, and the transform each one gets.

A candidate is named by its canonical name: a patients column (``mrd_baseline_pct``) or an
analyte code (``crp``) meaning that analyte's value at the landmark.  Right-skewed labs and
MRD are modelled on the log10 scale; values at or below zero (MRD-negative patients, labs
under the detection limit) are set to a documented floor before the log is taken, so no
patient is lost to ``log10(0)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from crsscore.data.schema import ANALYTES, PATIENT_COLUMNS
from crsscore.errors import ModelError

#: The study's seven candidates (Ke et al. 2025): baseline and post-lymphodepletion MRD,
#: day-7 ANC (neutropenia), day-7 CRP, ferritin, IL-6 and APTT.
STUDY_CANDIDATES: Final = ("mrd_baseline_pct", "mrd_post_ld_pct", "anc", "crp", "ferritin",
                           "il6", "aptt")

#: Floors (canonical units) used before log10: the usual lower limit of quantification.
LOG_FLOORS: Final[dict[str, float]] = {
    "mrd_baseline_pct": 0.001,  # 10^-5 of nucleated cells, flow/PCR detection floor
    "mrd_post_ld_pct": 0.001,
    "marrow_blasts_pct": 0.1,
    "crp": 0.5, "ferritin": 1.0, "il6": 1.0, "ifng": 1.0, "il10": 1.0, "mcp1": 1.0,
    "ldh": 10.0, "creatinine": 0.1, "ddimer": 0.05,
}

Transform = Literal["none", "log10"]


@dataclass(frozen=True)
class Candidate:
    """A candidate predictor with its unit, transform and provenance."""

    name: str
    label: str
    source: Literal["patient", "observation"]
    unit: str | None
    unit_kind: str | None
    loinc: str | None
    transform: Transform
    floor: float | None = None

    def transform_values(self, x: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Apply the transform (log10 with floor) to values in canonical units; NaN stays NaN."""
        v = np.asarray(x, dtype=np.float64)
        if self.transform == "log10":
            floor = self.floor if self.floor is not None else 1e-3
            out: npt.NDArray[np.float64] = np.log10(np.where(np.isnan(v), np.nan, np.maximum(v, floor)))
            return out
        return v

    @property
    def model_label(self) -> str:
        return f"log10 {self.label}" if self.transform == "log10" else self.label


def candidate(name: str, *, transform: Transform | None = None) -> Candidate:
    """The :class:`Candidate` for a canonical name (patients column or analyte code)."""
    if name in ANALYTES:
        a = ANALYTES[name]
        tr: Transform = transform or ("log10" if a.skewed else "none")
        return Candidate(name=name, label=a.label, source="observation", unit=a.unit,
                         unit_kind=name, loinc=a.loinc, transform=tr, floor=LOG_FLOORS.get(name))
    if name in PATIENT_COLUMNS:
        c = PATIENT_COLUMNS[name]
        if c.kind not in ("float", "int01"):
            raise ModelError(f"candidate '{name}' is not numeric (kind {c.kind}); "
                             "only numeric patient columns can be candidates")
        skewed = name in LOG_FLOORS
        tr2: Transform = transform or ("log10" if skewed else "none")
        label = c.description.split(",")[0] if c.description else name.replace("_", " ")
        if name == "mrd_baseline_pct":
            label = "MRD before lymphodepletion"
        elif name == "mrd_post_ld_pct":
            label = "MRD after lymphodepletion"
        return Candidate(name=name, label=label, source="patient", unit=c.unit,
                         unit_kind=c.unit_kind, loinc=None, transform=tr2, floor=LOG_FLOORS.get(name))
    known = sorted(ANALYTES) + sorted(n for n, c in PATIENT_COLUMNS.items() if c.kind in ("float", "int01"))
    raise ModelError(f"unknown candidate '{name}'; use a patients column or an analyte code: "
                     + ", ".join(known))


def candidates(names: Sequence[str]) -> list[Candidate]:
    if len(set(names)) != len(names):
        raise ModelError(f"candidates repeated: {', '.join(names)}")
    if not names:
        raise ModelError("no candidates given")
    return [candidate(n) for n in names]


def design_matrix(frame: pd.DataFrame, cands: Sequence[Candidate]) -> npt.NDArray[np.float64]:
    """Transformed candidate columns as an (n, p) float array (NaN where missing)."""
    missing = [c.name for c in cands if c.name not in frame.columns]
    if missing:
        raise ModelError(f"candidate column(s) not in the data: {', '.join(missing)}")
    cols = []
    for c in cands:
        raw = pd.to_numeric(frame[c.name], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        cols.append(c.transform_values(raw))
    return np.column_stack(cols) if cols else np.empty((len(frame), 0))
