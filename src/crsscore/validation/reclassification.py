"""Reclassification (NRI and IDI) of a new model over an old one, on the same patients.

Net reclassification improvement (NRI) and integrated discrimination improvement (IDI):

* categorical NRI: patients move between risk categories set by cut-offs (a risk equal to a
  cut-off belongs to the higher category);
* continuous ("category-free") NRI: any increase or decrease of the predicted risk counts;
* IDI: gain in mean risk among events minus gain among non-events (the change in
  discrimination slope).

Standard errors are the asymptotic ones of Pencina et al. (2008), as R ``Hmisc::improveProb``
prints them; confidence intervals are percentile bootstrap intervals (resampling events and
non-events separately, with a seed) unless ``B=0``, when the Wald interval is given.

Read these measures with care (see :data:`CAVEAT`).

References
----------
Pencina MJ, D'Agostino RB Sr, D'Agostino RB Jr, Vasan RS. Evaluating the added predictive
ability of a new marker. Stat Med 2008;27:157-72.
Pencina MJ, D'Agostino RB Sr, Steyerberg EW. Extensions of net reclassification improvement
calculations. Stat Med 2011;30:11-21.
Kerr KF et al. Net reclassification indices for evaluating risk prediction instruments: a
critical review. Epidemiology 2014;25:114-21.
Pepe MS, Fan J, Feng Z, Gerds T, Hilden J. The net reclassification index (NRI): a
misleading measure of prediction improvement even with independent test data sets. Stat
Biosci 2015;7:282-95.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

from crsscore._types import FloatArray, IntArray
from crsscore.validation.discrimination import (
    IntervalEstimate,
    as_outcome,
    as_scores,
    check_level,
)

__all__ = ["CAVEAT", "IDIResult", "NRIResult", "idi", "nri_categorical", "nri_continuous"]

CAVEAT = (
    "NRI and IDI are not proper scoring rules: a miscalibrated new model can show a positive "
    "NRI with no real gain, the continuous NRI is large for almost any added variable, and "
    "the event and non-event components should be reported separately (they are not "
    "percentages of patients). The asymptotic standard errors are too small when the models "
    "were fitted on the same data. Prefer the change in AUC, calibration and net benefit; use "
    "NRI/IDI as supplementary, with bootstrap intervals."
)


def _prepare(
    y: ArrayLike, p_old: ArrayLike, p_new: ArrayLike
) -> tuple[IntArray, FloatArray, FloatArray]:
    yy = as_outcome(y)
    a = as_scores(p_old, yy.size, name="p_old", probability=True)
    b = as_scores(p_new, yy.size, name="p_new", probability=True)
    return yy, a, b


def _bootstrap(
    y: IntArray,
    stat: Callable[[IntArray], tuple[float, float, float]],
    *,
    B: int,
    seed: int | None,
) -> FloatArray:
    """``stat`` over ``B`` stratified resamples; returns an array (B, 3)."""
    rng = np.random.default_rng(seed)
    ev = np.flatnonzero(y == 1)
    ne = np.flatnonzero(y == 0)
    out = np.empty((B, 3))
    for b in range(B):
        idx = np.concatenate([rng.choice(ev, ev.size), rng.choice(ne, ne.size)])
        out[b] = stat(idx)
    return out


def _check_B(B: int, func: str) -> None:
    if not isinstance(B, int) or (B != 0 and B < 10):
        raise ValueError(
            f"The 'B' parameter of {func} must be 0 (Wald interval) or an int >= 10. "
            f"Got {B!r} instead."
        )


@dataclass(frozen=True)
class NRIResult(IntervalEstimate):
    """Net reclassification improvement and its components.

    Attributes
    ----------
    nri : total NRI (events + non-events components; ranges -2 to 2).
    nri_events, nri_nonevents : P(up | event) - P(down | event) and
        P(down | non-event) - P(up | non-event).
    se, se_events, se_nonevents : asymptotic standard errors (Pencina 2008; Hmisc).
    ci_low, ci_high : interval for ``nri`` (bootstrap percentile, or Wald if ``B == 0``);
        ``ci_events``/``ci_nonevents`` likewise for the components.
    kind : "categorical" (with ``cutoffs``) or "continuous".
    table : for categorical NRI, the reclassification table (old x new category) of events
        and of non-events.
    """

    nri: float
    nri_events: float
    nri_nonevents: float
    se: float
    se_events: float
    se_nonevents: float
    ci_low: float
    ci_high: float
    ci_events: tuple[float, float]
    ci_nonevents: tuple[float, float]
    kind: str
    cutoffs: tuple[float, ...]
    n: int
    events: int
    up_events: int
    down_events: int
    up_nonevents: int
    down_nonevents: int
    level: float
    ci_method: str
    B: int
    seed: int | None
    table: pd.DataFrame | None = field(default=None, repr=False)
    caveat: str = CAVEAT

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["table"] = None if self.table is None else self.table.reset_index().to_dict("records")
        return d

    def to_frame(self) -> pd.DataFrame:
        lower, upper = self.ci_labels()
        return pd.DataFrame(
            {
                "estimate": [self.nri, self.nri_events, self.nri_nonevents],
                "se": [self.se, self.se_events, self.se_nonevents],
                lower: [self.ci_low, self.ci_events[0], self.ci_nonevents[0]],
                upper: [self.ci_high, self.ci_events[1], self.ci_nonevents[1]],
            },
            index=pd.Index(
                [f"NRI ({self.kind})", "NRI events", "NRI non-events"], name="metric"
            ),
        )

    def summary(self) -> str:
        cuts = f" at cut-offs {', '.join(f'{c:g}' for c in self.cutoffs)}" if self.cutoffs else ""
        return (
            f"{self.kind.capitalize()} NRI{cuts}: {self.nri:.3f} ({100 * self.level:g}% CI "
            f"{self.ci_low:.3f} to {self.ci_high:.3f}, {self.ci_method}); events "
            f"{self.nri_events:+.3f} ({self.up_events} up, {self.down_events} down), non-events "
            f"{self.nri_nonevents:+.3f} ({self.down_nonevents} down, {self.up_nonevents} up); "
            f"n={self.n}, events={self.events}. {self.caveat}"
        )


def _nri_parts(d_ev: FloatArray, d_ne: FloatArray) -> tuple[float, float, float]:
    ev = (int(np.count_nonzero(d_ev > 0)) - int(np.count_nonzero(d_ev < 0))) / d_ev.size
    ne = (int(np.count_nonzero(d_ne < 0)) - int(np.count_nonzero(d_ne > 0))) / d_ne.size
    return ev + ne, ev, ne


def _nri(
    y: IntArray,
    old: FloatArray | IntArray,
    new: FloatArray | IntArray,
    *,
    kind: str,
    cutoffs: tuple[float, ...],
    level: float,
    B: int,
    seed: int | None,
    table: pd.DataFrame | None,
) -> NRIResult:
    d = np.asarray(new, dtype=np.float64) - np.asarray(old, dtype=np.float64)
    ev, ne = y == 1, y == 0
    na, nb = int(ev.sum()), int(ne.sum())
    up_ev, down_ev = int(np.sum(d[ev] > 0)), int(np.sum(d[ev] < 0))
    up_ne, down_ne = int(np.sum(d[ne] > 0)), int(np.sum(d[ne] < 0))
    total, nri_ev, nri_ne = _nri_parts(d[ev], d[ne])
    # Hmisc::improveProb variances
    v_ev = (up_ev + down_ev) / na**2 - (up_ev - down_ev) ** 2 / na**3
    v_ne = (down_ne + up_ne) / nb**2 - (down_ne - up_ne) ** 2 / nb**3
    se_ev, se_ne, se = float(np.sqrt(v_ev)), float(np.sqrt(v_ne)), float(np.sqrt(v_ev + v_ne))
    est = np.array([total, nri_ev, nri_ne])
    ses = np.array([se, se_ev, se_ne])
    lo, hi = _interval(y, est, ses, lambda idx: _nri_parts(d[idx][y[idx] == 1], d[idx][y[idx] == 0]),
                       level=level, B=B, seed=seed)
    return NRIResult(
        total, nri_ev, nri_ne, se, se_ev, se_ne, float(lo[0]), float(hi[0]),
        (float(lo[1]), float(hi[1])), (float(lo[2]), float(hi[2])), kind, cutoffs,
        int(y.size), na, up_ev, down_ev, up_ne, down_ne, level,
        "bootstrap percentile" if B else "Wald", B, seed if B else None, table,
    )


def _interval(
    y: IntArray,
    est: FloatArray,
    ses: FloatArray,
    stat: Callable[[IntArray], tuple[float, float, float]],
    *,
    level: float,
    B: int,
    seed: int | None,
) -> tuple[FloatArray, FloatArray]:
    if B == 0:
        z = float(stats.norm.ppf(0.5 + level / 2.0))
        return est - z * ses, est + z * ses
    boot = _bootstrap(y, stat, B=B, seed=seed)
    alpha = (1.0 - level) / 2.0
    return np.quantile(boot, alpha, axis=0), np.quantile(boot, 1.0 - alpha, axis=0)


def _categories(p: FloatArray, cutoffs: FloatArray) -> IntArray:
    # category k holds cutoffs[k-1] <= p < cutoffs[k]
    return np.asarray(np.searchsorted(cutoffs, p, side="right"), dtype=np.int_)


def nri_categorical(
    y: ArrayLike,
    p_old: ArrayLike,
    p_new: ArrayLike,
    *,
    cutoffs: Sequence[float],
    level: float = 0.95,
    B: int = 1000,
    seed: int | None = None,
) -> NRIResult:
    """Categorical NRI between risk categories cut at ``cutoffs`` (e.g. ``[0.1, 0.3]``).

    A risk equal to a cut-off goes to the higher category.  The reclassification table is in
    ``result.table``.  Equal to R ``Hmisc::improveProb`` applied to the category codes.
    """
    level = check_level(level, "nri_categorical")
    _check_B(B, "nri_categorical")
    yy, a, b = _prepare(y, p_old, p_new)
    cuts = np.asarray(cutoffs, dtype=np.float64)
    if (
        cuts.ndim != 1 or cuts.size == 0 or not np.all(np.isfinite(cuts))
        or np.any(cuts <= 0) or np.any(cuts >= 1) or np.any(np.diff(cuts) <= 0)
    ):
        raise ValueError(
            "The 'cutoffs' parameter of nri_categorical must be increasing risks in (0, 1). "
            f"Got {list(np.atleast_1d(cutoffs))!r} instead."
        )
    ca, cb = _categories(a, cuts), _categories(b, cuts)
    edges = [0.0, *cuts.tolist(), 1.0]
    names = [f"[{edges[k]:g}, {edges[k + 1]:g})" if k < cuts.size else f"[{edges[k]:g}, 1]"
             for k in range(cuts.size + 1)]
    parts = []
    for label, sel in (("events", yy == 1), ("non-events", yy == 0)):
        tab = pd.crosstab(
            pd.Categorical(np.array(names, dtype=object)[ca[sel]], categories=names),
            pd.Categorical(np.array(names, dtype=object)[cb[sel]], categories=names),
            rownames=["old"], colnames=["new"], dropna=False,
        )
        tab.insert(0, "outcome", label)
        parts.append(tab.reset_index())
    table = pd.concat(parts, ignore_index=True)
    return _nri(yy, ca, cb, kind="categorical", cutoffs=tuple(float(c) for c in cuts),
                level=level, B=B, seed=seed, table=table)


def nri_continuous(
    y: ArrayLike,
    p_old: ArrayLike,
    p_new: ArrayLike,
    *,
    level: float = 0.95,
    B: int = 1000,
    seed: int | None = None,
) -> NRIResult:
    """Continuous (category-free) NRI: any rise or fall of the risk counts.

    Equal to R ``Hmisc::improveProb(p_old, p_new, y)`` (nri, nri.ev, nri.ne and their SEs).
    """
    level = check_level(level, "nri_continuous")
    _check_B(B, "nri_continuous")
    yy, a, b = _prepare(y, p_old, p_new)
    return _nri(yy, a, b, kind="continuous", cutoffs=(), level=level, B=B, seed=seed,
                table=None)


@dataclass(frozen=True)
class IDIResult(IntervalEstimate):
    """Integrated discrimination improvement.

    ``idi = (mean new - mean old risk | events) - (mean new - mean old risk | non-events)``;
    ``improvement_events`` and ``improvement_nonevents`` are the two parts (Hmisc's
    improveSens and improveSpec); ``relative`` is IDI over the old discrimination slope.
    """

    idi: float
    se: float
    ci_low: float
    ci_high: float
    improvement_events: float
    improvement_nonevents: float
    slope_old: float
    slope_new: float
    relative: float
    z: float
    p: float
    n: int
    events: int
    level: float
    ci_method: str
    B: int
    seed: int | None
    caveat: str = CAVEAT

    def to_frame(self) -> pd.DataFrame:
        lower, upper = self.ci_labels()
        return pd.DataFrame(
            {"estimate": [self.idi], "se": [self.se], lower: [self.ci_low],
             upper: [self.ci_high], "z": [self.z], "p": [self.p],
             "discrimination slope old": [self.slope_old],
             "discrimination slope new": [self.slope_new], "n": [self.n],
             "events": [self.events]},
            index=pd.Index(["IDI"], name="metric"),
        )

    def summary(self) -> str:
        return (
            f"IDI {self.idi:.4f} ({100 * self.level:g}% CI {self.ci_low:.4f} to {self.ci_high:.4f}"
            f", {self.ci_method}); discrimination slope {self.slope_old:.3f} -> "
            f"{self.slope_new:.3f} (relative IDI {self.relative:.2f}); n={self.n}, "
            f"events={self.events}. {self.caveat}"
        )


def idi(
    y: ArrayLike,
    p_old: ArrayLike,
    p_new: ArrayLike,
    *,
    level: float = 0.95,
    B: int = 1000,
    seed: int | None = None,
) -> IDIResult:
    """Integrated discrimination improvement of ``p_new`` over ``p_old``.

    The standard error and z test are those of Pencina (2008) / ``Hmisc::improveProb``.
    """
    level = check_level(level, "idi")
    _check_B(B, "idi")
    yy, a, b = _prepare(y, p_old, p_new)
    d = b - a
    ev, ne = yy == 1, yy == 0

    def parts(idx: IntArray) -> tuple[float, float, float]:
        dy, yi = d[idx], yy[idx]
        s_ev, s_ne = float(dy[yi == 1].mean()), float(dy[yi == 0].mean())
        return s_ev - s_ne, s_ev, -s_ne

    value, imp_ev, imp_ne = parts(np.arange(yy.size))
    se = float(np.sqrt(np.var(d[ev], ddof=1) / ev.sum() + np.var(d[ne], ddof=1) / ne.sum()))
    z = value / se if se > 0 else float("nan")
    p = float(2.0 * stats.norm.sf(abs(z))) if se > 0 else float("nan")
    lo, hi = _interval(yy, np.array([value, imp_ev, imp_ne]), np.array([se, np.nan, np.nan]),
                       parts, level=level, B=B, seed=seed)
    slope_old = float(a[ev].mean() - a[ne].mean())
    slope_new = float(b[ev].mean() - b[ne].mean())
    return IDIResult(
        value, se, float(lo[0]), float(hi[0]), imp_ev, imp_ne, slope_old, slope_new,
        value / slope_old if slope_old != 0 else float("nan"), z, p, int(yy.size),
        int(ev.sum()), level, "bootstrap percentile" if B else "Wald", B, seed if B else None,
    )
