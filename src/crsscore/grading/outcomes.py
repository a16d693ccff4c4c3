"""Per-patient outcomes from daily grades: maximum grade, onset days, days at each grade."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

_BIG = np.iinfo(np.int64).max


def int64_array(values: npt.NDArray[np.integer], missing: npt.NDArray[np.bool_]) -> pd.arrays.IntegerArray:
    """A pandas nullable Int64 array from values and a missing mask."""
    return pd.arrays.IntegerArray(np.where(missing, 0, values).astype(np.int64),
                                  np.asarray(missing, dtype=bool))


def _per_patient(codes: npt.NDArray[np.int64], values: npt.NDArray[np.int64], n_patients: int,
                 ufunc: np.ufunc, fill: int) -> npt.NDArray[np.int64]:
    """Reduce ``values`` per patient code; ``reduceat`` over blocks when codes are sorted."""
    out = np.full(n_patients, fill, dtype=np.int64)
    if codes.size == 0:
        return out
    if bool(np.all(codes[1:] >= codes[:-1])):
        starts = np.flatnonzero(np.concatenate([[True], codes[1:] != codes[:-1]]))
        out[codes[starts]] = ufunc.reduceat(values, starts)
    else:
        ufunc.at(out, codes, values)
    return out


def patient_outcomes(codes: npt.NDArray[np.int64], day: npt.NDArray[np.int64],
                     grade: npt.NDArray[np.int8], n_patients: int, *, prefix: str,
                     severe_grade: int, days_at_grade: str | None) -> dict[str, object]:
    """Outcome columns for ``n_patients`` patients from daily grades (-1 = not gradable).

    ``codes`` index patients (0..n_patients-1).  Returns nullable Int64 columns: maximum grade
    (missing when no day was gradable), onset day of any grade >= 1 and of grade >=
    ``severe_grade`` (missing when never reached), the severe flag (0/1, missing when no day
    was gradable), the number of days not gradable and, when ``days_at_grade`` (a column
    prefix) is given, days at each grade 0-5.
    """
    ok = grade >= 0
    g64 = grade.astype(np.int64)
    mx = _per_patient(codes, g64, n_patients, np.maximum, -1)
    onset = _per_patient(codes, np.where(g64 >= 1, day, _BIG), n_patients, np.minimum, _BIG)
    sev = _per_patient(codes, np.where(g64 >= severe_grade, day, _BIG), n_patients, np.minimum,
                       _BIG)
    ng = np.bincount(codes[~ok], minlength=n_patients)
    none = mx < 0
    out: dict[str, object] = {
        f"{prefix}_max_grade": int64_array(mx, none),
        f"{prefix}_onset_day": int64_array(onset, onset == _BIG),
        f"{prefix}_severe_onset_day": int64_array(sev, sev == _BIG),
        f"severe_{prefix}": int64_array((mx >= severe_grade).astype(np.int64), none),
        f"{prefix}_days_not_gradable": ng.astype(np.int64),
    }
    if days_at_grade:
        counts = np.bincount(codes[ok] * 6 + grade[ok].astype(np.int64),
                             minlength=n_patients * 6).reshape(n_patients, 6)
        for k in range(6):
            out[f"{days_at_grade}{k}"] = counts[:, k].astype(np.int64)
    return out
