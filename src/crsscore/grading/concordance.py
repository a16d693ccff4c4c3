"""Concordance between two CRS grading systems over a cohort.

Pennisi et al. (Blood Adv 2020) found that scales agreed on the presence of CRS in 99 % of
patients but on the exact grade in only 25 %: grades must be re-derived from raw data, and the
agreement between two systems is best shown as a cross-tabulation with exact agreement and a
weighted kappa.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from crsscore.data.cohort import Cohort
from crsscore.grading._features import add_history, daily_inputs
from crsscore.grading.crs import GRADERS
from crsscore.grading.settings import DEFAULT_SETTINGS, GradingSettings, check_system

GRADES = (0, 1, 2, 3, 4, 5)


@dataclass(frozen=True)
class Concordance:
    """Agreement between grades by two systems on the same patients (or patient-days).

    Attributes
    ----------
    table: cross-tabulation, rows = ``system_a`` grade, columns = ``system_b`` grade (0-5).
    n: pairs compared (both gradable).
    n_excluded: pairs left out because at least one grade was not gradable.
    exact_agreement: share of pairs with the same grade.
    presence_agreement: share of pairs agreeing on CRS present (grade >= 1) or absent.
    severe_agreement: share agreeing on grade >= 3 or not.
    kappa_linear, kappa_quadratic: Cohen's weighted kappa (scikit-learn), NaN if undefined.
    """

    system_a: str
    system_b: str
    level: str
    table: pd.DataFrame
    n: int
    n_excluded: int
    exact_agreement: float
    presence_agreement: float
    severe_agreement: float
    kappa_linear: float
    kappa_quadratic: float

    def summary(self) -> pd.DataFrame:
        return pd.DataFrame([{
            "system_a": self.system_a, "system_b": self.system_b, "level": self.level,
            "n": self.n, "n_excluded": self.n_excluded,
            "exact_agreement": self.exact_agreement,
            "presence_agreement": self.presence_agreement,
            "severe_agreement": self.severe_agreement,
            "kappa_linear": self.kappa_linear, "kappa_quadratic": self.kappa_quadratic}])

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {str(k): v for k, v in self.summary().iloc[0].items()}
        out["table"] = {str(k): {str(c): int(v) for c, v in row.items()}
                        for k, row in self.table.iterrows()}
        return out


def _kappa(a: npt.NDArray[np.int64], b: npt.NDArray[np.int64], weights: str) -> float:
    if a.size == 0:
        return float("nan")
    from sklearn.metrics import cohen_kappa_score  # imported here: sklearn takes seconds to load

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        k = cohen_kappa_score(a, b, labels=list(GRADES), weights=weights)
    return float(k)


def _as_float(values: npt.ArrayLike | Sequence[object]) -> npt.NDArray[np.float64]:
    """Grades as floats with NaN for missing (None, NaN, pd.NA)."""
    series = pd.Series(np.asarray(values, dtype=object).ravel(), dtype="object")
    num = np.asarray(pd.to_numeric(series, errors="coerce"), dtype=np.float64)
    junk = series.notna().to_numpy() & np.isnan(num)
    if junk.any():
        raise ValueError("grades must be integers 0-5 or missing; got "
                         f"{series[junk].astype(str).unique()[:5].tolist()}")
    return num


def concordance(grades_a: npt.ArrayLike | Sequence[object],
                grades_b: npt.ArrayLike | Sequence[object], *, system_a: str = "a",
                system_b: str = "b", level: str = "patient") -> Concordance:
    """Cross-tabulation, agreement and weighted kappa of two paired grade vectors.

    Missing grades (None, NaN, ``pd.NA``) in either vector drop the pair.

    >>> c = concordance([0, 1, 2, 3], [0, 1, 3, 3])
    >>> c.exact_agreement
    0.75
    """
    a = _as_float(grades_a)
    b = _as_float(grades_b)
    if len(a) != len(b):
        raise ValueError(f"concordance needs paired grades; got {len(a)} and {len(b)} values")
    keep = ~(np.isnan(a) | np.isnan(b))
    av = a[keep]
    bv = b[keep]
    bad = ~np.isin(av, GRADES) | ~np.isin(bv, GRADES)
    if bad.any():
        raise ValueError("grades must be integers 0-5; got "
                         f"{sorted(set(av[bad].tolist()) | set(bv[bad].tolist()))[:5]}")
    ai, bi = av.astype(np.int64), bv.astype(np.int64)
    counts = np.zeros((6, 6), dtype=np.int64)
    np.add.at(counts, (ai, bi), 1)
    table = pd.DataFrame(counts, index=pd.Index(GRADES, name=system_a),
                         columns=pd.Index(GRADES, name=system_b))
    n = int(ai.size)

    def share(x: npt.NDArray[np.bool_]) -> float:
        return float(x.mean()) if n else float("nan")

    return Concordance(
        system_a=system_a, system_b=system_b, level=level, table=table, n=n,
        n_excluded=int((~keep).sum()), exact_agreement=share(ai == bi),
        presence_agreement=share((ai >= 1) == (bi >= 1)),
        severe_agreement=share((ai >= 3) == (bi >= 3)),
        kappa_linear=_kappa(ai, bi, "linear"), kappa_quadratic=_kappa(ai, bi, "quadratic"))


def compare_systems(cohort: Cohort, system_a: str, system_b: str, *,
                    settings: GradingSettings | None = None,
                    level: Literal["patient", "day"] = "patient") -> Concordance:
    """Re-grade a cohort's raw data by two systems and measure their concordance.

    ``level="patient"`` compares each patient's maximum grade over gradable days (patients
    with no gradable day by either system are excluded); ``level="day"`` compares the
    patient-days gradable by both.
    """
    settings = settings or DEFAULT_SETTINGS
    sa, sb = check_system(system_a), check_system(system_b)
    if level not in ("patient", "day"):
        raise ValueError(f"The 'level' parameter must be 'patient' or 'day'. Got {level!r} "
                         "instead.")
    f = daily_inputs(cohort, settings).features
    add_history(f, settings)
    ga = GRADERS[sa](f, settings).grade.astype(np.int64)
    gb = GRADERS[sb](f, settings).grade.astype(np.int64)
    if level == "day":
        return concordance(np.where(ga < 0, np.nan, ga), np.where(gb < 0, np.nan, gb),
                           system_a=sa, system_b=sb, level="day")
    n_pat = len(f.patient_ids)
    ma = np.full(n_pat, -1, dtype=np.int64)
    mb = np.full(n_pat, -1, dtype=np.int64)
    np.maximum.at(ma, f.patient[ga >= 0], ga[ga >= 0])
    np.maximum.at(mb, f.patient[gb >= 0], gb[gb >= 0])
    return concordance(np.where(ma < 0, np.nan, ma), np.where(mb < 0, np.nan, mb),
                       system_a=sa, system_b=sb, level="patient")
