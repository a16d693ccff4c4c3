"""From a fitted logistic model to a bedside point score.

The steps, each a pure function so that the bootstrap can repeat all of them in every
resample:

1. :func:`choose_cutpoints` puts cut-points on a continuous predictor: ``"clinical"`` (sample
   quantiles rounded to a clinically readable number), ``"quantile"`` (raw sample quantiles),
   ``"youden"`` (the threshold maximising sensitivity + specificity - 1, rounded to two
   significant figures) or given by the user.
2. :func:`categorise` maps values to band indices with the ``[lower, upper)`` convention.
3. :func:`sullivan_points` turns the category coefficients of a logistic model refitted on
   the bands into integer points by the Sullivan/Framingham method: within each variable the
   lowest-risk band is the reference (0 points); points = round(beta / B) where B, the
   "constant", is by default the smallest non-zero absolute band coefficient (so the
   weakest effect is worth one point).
4. :func:`probability_table` maps each possible total to a probability with a logistic fit
   of the outcome on the total (``expit(a + b * total)``).
5. :func:`risk_groups` splits the total into groups with observed event rates and Wilson
   95 % confidence intervals.

Reference: Sullivan LM, Massaro JM, D'Agostino RB. Presentation of multivariate data for
clinical use: the Framingham Study risk score functions. Stat Med 2004;23:1631-60.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import stats

from crsscore.errors import ModelError

FloatArray = npt.NDArray[np.float64]
CutMethod = Literal["clinical", "quantile", "youden"]

_NICE = np.array([1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 7.5, 8.0, 10.0])


def clinical_round(value: float) -> float:
    """Round a cut-point to the nearest clinically readable number.

    Readable numbers are 1, 1.5, 2, 2.5, 3, 4, 5, 6, 7.5 and 8 times a power of ten, so
    ``137 -> 150``, ``0.0234 -> 0.025``, ``41.7 -> 40``.  Zero and negative values are rounded
    symmetrically; zero stays zero.

    >>> clinical_round(137.0), clinical_round(0.0234), clinical_round(41.7)
    (150.0, 0.025, 40.0)
    """
    if value == 0 or not math.isfinite(value):
        return float(value)
    sign = 1.0 if value > 0 else -1.0
    mag = abs(value)
    exp = math.floor(math.log10(mag))
    mant = mag / 10.0**exp
    best = float(_NICE[np.argmin(np.abs(_NICE - mant))])
    return float(sign * best * 10.0**exp)


def _round_sig(value: float, digits: int = 2) -> float:
    if value == 0 or not math.isfinite(value):
        return float(value)
    return float(round(value, digits - 1 - math.floor(math.log10(abs(value)))))


def youden_threshold(x: FloatArray, y: npt.NDArray[np.int_]) -> float:
    """The cut-point c maximising sensitivity + specificity - 1 for ``x >= c`` or ``x < c``.

    Candidate cut-points are midpoints between consecutive distinct values (as pROC's
    ``coords(..., "best")``); the direction giving the larger index is used.
    """
    ok = ~np.isnan(x)
    xs, ys = x[ok], y[ok]
    u = np.unique(xs)
    if u.size < 2:
        raise ModelError("cannot choose a Youden cut-point: fewer than two distinct values")
    cands = (u[:-1] + u[1:]) / 2.0
    pos = ys == 1
    n1, n0 = int(pos.sum()), int((~pos).sum())
    if n1 == 0 or n0 == 0:
        raise ModelError("cannot choose a Youden cut-point: the outcome has one class only")
    above = xs[None, :] >= cands[:, None]
    sens = (above & pos[None, :]).sum(axis=1) / n1
    spec = (~above & ~pos[None, :]).sum(axis=1) / n0
    j = np.abs(sens + spec - 1.0)
    return float(cands[int(np.argmax(j))])


def choose_cutpoints(x: npt.ArrayLike, y: npt.ArrayLike | None = None, *,
                     method: CutMethod = "clinical", n_bands: int = 2,
                     given: Sequence[float] | None = None) -> list[float]:
    """Cut-points splitting ``x`` into ``n_bands`` bands (``n_bands - 1`` cut-points).

    ``given`` overrides the method.  Cut-points are strictly increasing; rounding that would
    make two coincide, or leave a band empty in the data, drops the duplicate, so fewer bands
    than asked may come back (never an empty band).  Youden gives a single cut-point.
    """
    xv = np.asarray(x, dtype=np.float64)
    xv_ok = xv[~np.isnan(xv)]
    if xv_ok.size == 0:
        raise ModelError("cannot choose cut-points: no observed values")
    if given is not None:
        cuts = sorted(float(c) for c in given)
        if len(set(cuts)) != len(cuts):
            raise ModelError(f"given cut-points must be distinct, got {list(given)}")
        return cuts
    if n_bands < 2:
        raise ModelError(f"n_bands must be at least 2, got {n_bands}")
    if method == "youden":
        if y is None:
            raise ModelError("Youden cut-points need the outcome")
        raw = [youden_threshold(xv, np.asarray(y, dtype=np.int_))]
        cuts = [_round_sig(raw[0], 2)]
    else:
        qs = np.arange(1, n_bands) / n_bands
        raw = [float(v) for v in np.quantile(xv_ok, qs)]
        cuts = [clinical_round(v) for v in raw] if method == "clinical" else raw
    lo, hi = float(xv_ok.min()), float(xv_ok.max())
    uniq = np.unique(xv_ok)
    if uniq.size < 2:
        raise ModelError("cannot choose cut-points: the variable has a single value")
    out: set[float] = set()
    for c in cuts:
        # a cut-point must leave data on both sides (no empty band): a cut at or below the
        # minimum moves up to the next observed value; one above the maximum is dropped
        if c <= lo:
            c = float(uniq[uniq > c][0])
        if lo < c <= hi:
            out.add(float(c))
    return sorted(out)


def categorise(x: npt.ArrayLike, cuts: Sequence[float]) -> npt.NDArray[np.float64]:
    """Band index of each value: 0 below ``cuts[0]``, k for ``cuts[k-1] <= x < cuts[k]``.

    NaN stays NaN (returned as float so that missing values survive).
    """
    xv = np.asarray(x, dtype=np.float64)
    idx = np.searchsorted(np.asarray(cuts, dtype=np.float64), xv, side="right").astype(np.float64)
    idx[np.isnan(xv)] = np.nan
    return idx


@dataclass(frozen=True)
class VariablePoints:
    """Bands of one variable with their coefficients and points."""

    name: str
    cuts: tuple[float, ...]
    coefs: tuple[float, ...]  # log-odds of each band relative to band 0
    points: tuple[int, ...]   # integer points, lowest-risk band = 0
    reference_band: int


def sullivan_points(band_coefs: Mapping[str, Sequence[float]], *, constant: float | None = None,
                    max_points: int | None = None) -> tuple[dict[str, tuple[int, ...]], float]:
    """Integer points from band coefficients (each list starts with 0 for band 0).

    Within each variable the lowest-coefficient band becomes the reference.  Points are
    ``round((beta_k - beta_ref) / B)``; B defaults to the smallest non-zero absolute
    difference, or to ``max(diff) / max_points`` when that would exceed ``max_points``.
    Returns the points per variable and B (log-odds per point).
    """
    diffs: dict[str, FloatArray] = {}
    for name, coefs in band_coefs.items():
        c = np.asarray(coefs, dtype=np.float64)
        if c.size < 2 or not np.all(np.isfinite(c)):
            raise ModelError(f"variable {name}: band coefficients must be finite, got {list(coefs)}")
        diffs[name] = c - c.min()
    all_d = np.concatenate([d[d > 1e-12] for d in diffs.values()] or [np.array([])])
    if constant is None:
        if all_d.size == 0:
            raise ModelError("no variable changes the risk: cannot assign points")
        constant = float(all_d.min())
        if max_points is not None and float(all_d.max()) / constant > max_points:
            constant = float(all_d.max()) / max_points
    if constant <= 0:
        raise ModelError(f"the points constant must be positive, got {constant}")
    pts = {name: tuple(int(v) for v in np.round(d / constant)) for name, d in diffs.items()}
    return pts, float(constant)


def probability_table(total: npt.ArrayLike, intercept: float, slope: float) -> list[tuple[float, float]]:
    """Each attainable total (from min to max of ``total``) with ``expit(a + b * total)``."""
    t = np.asarray(total, dtype=np.float64)
    t = t[~np.isnan(t)]
    lo, hi = math.floor(t.min()), math.ceil(t.max())
    return [(float(k), float(stats.logistic.cdf(intercept + slope * k))) for k in range(lo, hi + 1)]


@dataclass(frozen=True)
class RiskGroupSummary:
    name: str
    min_total: float
    max_total: float
    n: int
    events: int
    rate: float
    ci_low: float
    ci_high: float


def wilson_ci(events: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion (as statsmodels' ``proportion_confint``)."""
    if n == 0:
        return (math.nan, math.nan)
    z = float(stats.norm.ppf(0.5 + level / 2))
    p = events / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def risk_groups(total: npt.ArrayLike, y: npt.ArrayLike, *,
                boundaries: Sequence[float] | None = None,
                names: Sequence[str] = ("low", "intermediate", "high")) -> list[RiskGroupSummary]:
    """Risk groups on the total with observed rates and Wilson CIs.

    ``boundaries`` are the lowest totals of the second, third, ... group (so ``[2, 4]`` gives
    low 0-1, intermediate 2-3, high >= 4).  Without them the data decide: totals are split at
    tertiles of the total, rounded to attainable integer totals, dropping empty groups.
    """
    t = np.asarray(total, dtype=np.float64)
    yy = np.asarray(y, dtype=np.float64)
    ok = ~np.isnan(t) & ~np.isnan(yy)
    t, yy = t[ok], yy[ok]
    if t.size == 0:
        raise ModelError("no patients with a total score: cannot form risk groups")
    if boundaries is None:
        qs = np.quantile(t, [1 / 3, 2 / 3])
        b = sorted({float(math.ceil(q)) for q in qs if t.min() < math.ceil(q) <= t.max()})
        boundaries = b
    edges = [-math.inf, *sorted(float(v) for v in boundaries), math.inf]
    groups = len(edges) - 1
    labels = list(names) if groups == len(names) else (
        ["low", "high"] if groups == 2 else [f"group {i + 1}" for i in range(groups)])
    out: list[RiskGroupSummary] = []
    for i in range(groups):
        sel = (t >= edges[i]) & (t < edges[i + 1])
        n = int(sel.sum())
        ev = int(yy[sel].sum())
        lo, hi = wilson_ci(ev, n)
        out.append(RiskGroupSummary(
            name=labels[i],
            min_total=float(t[sel].min()) if n else edges[i],
            max_total=float(t[sel].max()) if n else edges[i + 1],
            n=n, events=ev, rate=ev / n if n else math.nan, ci_low=lo, ci_high=hi))
    # make group ranges contiguous over attainable integer totals
    fixed: list[RiskGroupSummary] = []
    for i, g in enumerate(out):
        lo_b = edges[i] if math.isfinite(edges[i]) else g.min_total
        hi_b = edges[i + 1] - 1 if math.isfinite(edges[i + 1]) else g.max_total
        fixed.append(RiskGroupSummary(g.name, float(lo_b), float(hi_b), g.n, g.events, g.rate,
                                      g.ci_low, g.ci_high))
    return fixed
