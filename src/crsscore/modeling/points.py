"""From a fitted continuous logistic model to a bedside point score.

The points come from the *continuous* model, as Sullivan, Massaro & D'Agostino describe
(Stat Med 2004;23:1631-60): categories are only the output format of the score, never the
model.  Each selected variable contributes ``f_j(x)`` to the linear predictor (its
coefficient times the transformed value, or its spline).  The steps, each a pure function so
that the bootstrap repeats all of them in every resample:

1. :func:`points_from_effects` chooses the constant ``B`` (log-odds per point) so that the
   largest attainable total is about ``max_points``; puts cut-points where the rounded
   contribution ``(f_j(x) - f_j(ref)) / B`` changes (``bands="points"``, rounded to two
   significant figures), or at clinically rounded quantiles (``"clinical"``, ``"quantile"``)
   or given values; and gives each band ``round((f_j(W) - f_j(W_ref)) / B)`` points with
   ``W`` a representative value of the band (the median of the training values in it, else
   its midpoint) and ``W_ref`` the band of lowest risk.  Points are therefore monotone
   wherever the fitted effect is, and a non-monotone spline effect shows as such.
2. :func:`categorise` maps values to band indices with the ``[lower, upper)`` convention.
3. :func:`probability_table` lists each reachable total once with ``expit(a + b * total)``.
4. :func:`risk_groups` splits the total into groups with observed event rates and Wilson
   95 % confidence intervals.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import stats

from crsscore._types import FloatArray
from crsscore.errors import ModelError

CutMethod = Literal["clinical", "quantile"]
BandMethod = Literal["points", "clinical", "quantile"]

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
    return float(f"{sign * best:g}e{exp}")  # via the decimal text: 0.6, not 0.6000000000000001


def round_sig(value: float, digits: int = 2) -> float:
    """Round to ``digits`` significant figures (``37.43 -> 37``, ``0.01234 -> 0.012``)."""
    if value == 0 or not math.isfinite(value):
        return float(value)
    return float(f"{value:.{digits}g}")


def choose_cutpoints(x: npt.ArrayLike, *, method: CutMethod = "clinical", n_bands: int = 2,
                     given: Sequence[float] | None = None) -> list[float]:
    """Cut-points splitting ``x`` into ``n_bands`` bands (``n_bands - 1`` cut-points).

    ``given`` overrides the method.  Cut-points are strictly increasing; rounding that would
    make two coincide, or leave a band empty in the data, drops the duplicate, so fewer bands
    than asked may come back (never an empty band).  The outcome never enters: cut-points
    chosen to maximise association with the outcome are an overfitted model of their own.
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
    if method not in ("clinical", "quantile"):
        raise ModelError(f"cut-point method must be 'clinical' or 'quantile', got {method!r}")
    qs = np.arange(1, n_bands) / n_bands
    raw = [float(v) for v in np.quantile(xv_ok, qs)]
    cuts = [clinical_round(v) for v in raw] if method == "clinical" else raw
    return _usable_cuts(cuts, xv_ok)


def categorise(x: npt.ArrayLike, cuts: Sequence[float]) -> npt.NDArray[np.float64]:
    """Band index of each value: 0 below ``cuts[0]``, k for ``cuts[k-1] <= x < cuts[k]``.

    NaN stays NaN (returned as float so that missing values survive).
    """
    xv = np.asarray(x, dtype=np.float64)
    idx = np.searchsorted(np.asarray(cuts, dtype=np.float64), xv, side="right").astype(np.float64)
    idx[np.isnan(xv)] = np.nan
    return idx


EffectFn = Callable[[FloatArray], FloatArray]


@dataclass(frozen=True)
class VariablePoints:
    """The bands of one variable: cut-points, representative values and points.

    ``contribution`` is ``f(W) - f(W_ref)`` in log-odds for each band's representative value
    ``W``; ``points`` its rounding in units of the scale's constant.  ``monotone_effect`` says
    whether the fitted effect is monotone over the training range, ``monotone_points`` whether
    the points are; where the first holds the second does too, by construction.
    """

    name: str
    cuts: tuple[float, ...]
    representative: tuple[float, ...]
    contribution: tuple[float, ...]
    points: tuple[int, ...]
    monotone_effect: bool
    monotone_points: bool
    span: float  # range of the fitted effect over the training values, log-odds

    @property
    def max_points(self) -> int:
        return max(self.points)


@dataclass(frozen=True)
class PointsScale:
    """Sullivan points for every variable, with the constant ``B`` and what was done."""

    variables: dict[str, VariablePoints]
    constant: float  # B: log-odds per point
    max_points: int  # the bound asked for
    max_total: int  # largest attainable total
    capped: bool  # B had to be enlarged beyond the first choice to respect max_points
    bands: str
    notes: tuple[str, ...]

    @property
    def points(self) -> dict[str, tuple[int, ...]]:
        return {k: v.points for k, v in self.variables.items()}

    @property
    def cuts(self) -> dict[str, list[float]]:
        return {k: list(v.cuts) for k, v in self.variables.items()}

    def reachable_totals(self) -> list[int]:
        """Every total a patient can reach (each variable in one of its bands)."""
        sums = {0}
        for v in self.variables.values():
            sums = {a + b for a in sums for b in set(v.points)}
        return sorted(sums)


def _monotone(v: FloatArray, tol: float = 1e-9) -> bool:
    d = np.diff(v)
    scale = tol * max(1.0, float(np.max(np.abs(v))) if v.size else 1.0)
    return bool(np.all(d >= -scale) or np.all(d <= scale))


def _representatives(xs: FloatArray, cuts: Sequence[float]) -> FloatArray:
    """Median of the training values in each band; the midpoint of an empty band.

    ``xs`` is sorted (NaN-free), so band ``b`` (``cuts[b-1] <= x < cuts[b]``, as
    :func:`categorise`) is one slice of it and its median the middle value, or the mean of the
    two middle values: ``np.median``'s own result, without a partition per band.
    """
    k = len(cuts)
    bounds = np.empty(k + 2, dtype=np.intp)
    bounds[0], bounds[-1] = 0, xs.size
    bounds[1:-1] = np.searchsorted(xs, np.asarray(cuts, dtype=np.float64), side="left")
    out = np.empty(k + 1)
    for b in range(k + 1):
        lo_i, hi_i = int(bounds[b]), int(bounds[b + 1])
        size = hi_i - lo_i
        if size > 0:
            mid = lo_i + size // 2
            out[b] = xs[mid] if size % 2 else (xs[mid - 1] + xs[mid]) / 2.0
        else:
            lo = cuts[b - 1] if b > 0 else -math.inf
            hi = cuts[b] if b < k else math.inf
            out[b] = (lo + hi) / 2.0 if math.isfinite(lo) and math.isfinite(hi) else (
                lo if math.isfinite(lo) else hi)
    return out


def _sorted_quantiles(xs: FloatArray, q: FloatArray) -> FloatArray:
    """``np.quantile(xs, q)`` (linear interpolation) of sorted, NaN-free ``xs``, by numpy's own
    formulas on the sorted values (np.quantile's dispatch and partition cost more than the
    work at these sizes; the bootstrap calls this for every variable of every resample).
    Equal to numpy's result bit for bit (tests/modeling/test_stacked.py)."""
    n = xs.size
    virtual = (n - 1) * q
    prev = np.floor(virtual)
    nxt = prev + 1
    above = virtual >= n - 1
    prev[above] = -1
    nxt[above] = -1
    prev_i, next_i = prev.astype(np.intp), nxt.astype(np.intp)
    gamma = virtual - np.floor(virtual)
    a, b = xs[prev_i], xs[next_i]
    diff = b - a
    out = a + diff * gamma
    out = np.where(gamma >= 0.5, b - diff * (1 - gamma), out)
    return out


def _quantile_grid(x: FloatArray, grid_size: int) -> FloatArray:
    """``np.unique(np.quantile(x, np.linspace(0, 1, grid_size)))`` for NaN-free ``x`` (one sort,
    :func:`_sorted_quantiles`); equal to numpy's result bit for bit."""
    xs = np.sort(np.asarray(x, dtype=np.float64))
    return _grid_of_sorted(xs, grid_size)


def _grid_of_sorted(xs: FloatArray, grid_size: int) -> FloatArray:
    """:func:`_quantile_grid` of values already sorted."""
    out = _sorted_quantiles(xs, np.linspace(0.0, 1.0, grid_size))
    # sorted input gives a non-decreasing grid: dropping repeats is np.unique's result
    keep = np.empty(out.size, dtype=bool)
    keep[:1] = True
    np.not_equal(out[1:], out[:-1], out=keep[1:])
    grid: FloatArray = out[keep]
    return grid


def _usable_cuts(cuts: Sequence[float], xv_ok: FloatArray, *, is_sorted: bool = False) -> list[float]:
    """Sorted distinct cut-points that leave observed data on both sides."""
    xs = xv_ok if is_sorted else np.sort(xv_ok)
    lo, hi = float(xs[0]), float(xs[-1])
    if not hi > lo:
        raise ModelError("cannot choose cut-points: the variable has a single value")
    out: set[float] = set()
    for c in cuts:
        # a cut-point at or below the minimum moves up to the next observed value; one above
        # the maximum is dropped
        if c <= lo:
            c = float(xs[np.searchsorted(xs, c, side="right")])
        if lo < c <= hi:
            out.add(float(c))
    return sorted(out)


def _step_cuts(xs: FloatArray, grid: FloatArray, e: FloatArray, constant: float) -> list[float]:
    """Values where the rounded contribution ``round((f - min f) / B)`` changes, rounded;
    ``e`` is the effect ``f`` on ``grid`` (the quantile grid of the sorted values ``xs``)."""
    if grid.size < 2:
        return []
    scaled = (e - e.min()) / constant
    r = np.floor(scaled + 0.5)
    cuts: list[float] = []
    for i in np.flatnonzero(r[1:] != r[:-1]).tolist():
        # crossing of the half-point level between grid[i] and grid[i + 1]
        r0, r1 = float(r[i]), float(r[i + 1])
        level = min(r0, r1) + 0.5
        a, b = float(scaled[i]), float(scaled[i + 1])
        t = 0.5 if a == b else min(max((level - a) / (b - a), 0.0), 1.0)
        g0, g1 = float(grid[i]), float(grid[i + 1])
        cuts.append(round_sig(g0 + t * (g1 - g0), 2))
    return _usable_cuts(cuts, xs, is_sorted=True) if cuts else []


@dataclass(frozen=True)
class _Prepared:
    """One variable's winsorised training values (sorted) and its effect on their quantile
    grid: computed once, used by every try of the scale's constant."""

    xs: FloatArray
    grid: FloatArray
    e: FloatArray
    span: float
    monotone: bool


def _variable_points(name: str, prep: _Prepared, f: EffectFn, constant: float, *, bands: str,
                     n_bands: int, given: Sequence[float] | None) -> VariablePoints:
    x = prep.xs
    if given is not None:
        cuts = choose_cutpoints(x, given=given)
    elif bands == "points":
        cuts = _step_cuts(x, prep.grid, prep.e, constant)
    else:
        cuts = choose_cutpoints(x, method=bands, n_bands=n_bands)  # type: ignore[arg-type]
    for _ in range(len(cuts) + 1):
        rep = _representatives(x, cuts)
        e = np.asarray(f(rep), dtype=np.float64)
        contrib = e - e.min()
        pts = np.floor(contrib / constant + 0.5).astype(np.int_)
        if given is not None or bands != "points":
            break
        # neighbouring bands with equal points are one band
        pl = pts.tolist()
        same = {k for k in range(len(cuts)) if pl[k] == pl[k + 1]}
        if not same:
            break
        cuts = [c for k, c in enumerate(cuts) if k not in same]
    return VariablePoints(
        name=name, cuts=tuple(float(c) for c in cuts), representative=tuple(rep.tolist()),
        contribution=tuple(contrib.tolist()), points=tuple(pts.tolist()),
        monotone_effect=prep.monotone, monotone_points=_monotone(pts.astype(np.float64)),
        span=prep.span)


def points_from_effects(effects: Mapping[str, EffectFn], values: Mapping[str, npt.ArrayLike], *,
                        max_points: int = 20, bands: BandMethod = "points", n_bands: int = 3,
                        given: Mapping[str, Sequence[float]] | None = None,
                        grid_size: int = 801, trim: float = 0.025) -> PointsScale:
    """Sullivan points for variables with fitted effects ``f_j`` (log-odds, raw units).

    ``values`` are each variable's observed training values (raw, canonical units).  For the
    points only, values are winsorised at the ``trim`` and ``1 - trim`` quantiles: the most
    extreme few per cent at each end score as the quantile does, so that a handful of
    outliers do not stretch the scale for everyone.  ``B`` starts at the summed range of the
    effects over the winsorised training values divided by ``max_points`` and grows
    (``capped``) only if rounding makes the largest total exceed ``max_points``.  Rescaling a variable by any factor rescales its cut-points by the same
    factor and leaves its points unchanged (up to the two-significant-figure rounding of the
    cut-points, which is itself scale-free for powers of ten).
    """
    if max_points < 1:
        raise ModelError(f"max_points must be at least 1, got {max_points}")
    if not effects:
        raise ModelError("no variables to give points to")
    given = dict(given or {})
    prepared: dict[str, _Prepared] = {}
    q_trim = np.array([trim, 1.0 - trim])
    for name, f in effects.items():
        x = np.asarray(values[name], dtype=np.float64)
        x = np.sort(x[~np.isnan(x)])
        if x.size == 0:
            raise ModelError(f"variable {name}: no observed values to place cut-points on")
        lo, hi = _sorted_quantiles(x, q_trim)
        if hi > lo:
            x = np.clip(x, lo, hi)  # still sorted
        grid = _grid_of_sorted(x, grid_size)
        e = np.asarray(f(grid), dtype=np.float64)
        if not np.all(np.isfinite(e)):
            raise ModelError(f"variable {name}: the fitted effect is not finite over the training values")
        prepared[name] = _Prepared(xs=x, grid=grid, e=e, span=float(e.max() - e.min()),
                                   monotone=_monotone(e))
    total_span = sum(p.span for p in prepared.values())
    if total_span <= 0:
        raise ModelError("no selected variable changes the risk: cannot assign points")
    constant = total_span / max_points
    first = constant
    notes: list[str] = []
    for _ in range(60):
        vp = {name: _variable_points(name, prepared[name], f, constant, bands=bands,
                                     n_bands=n_bands, given=given.get(name))
              for name, f in effects.items()}
        max_total = sum(v.max_points for v in vp.values())
        if max_total <= max_points:
            break
        constant *= 1.0 + 0.5 * (max_total - max_points) / max(max_points, 1) + 1e-3
    capped = constant > first * (1 + 1e-9)
    for v in vp.values():
        if not v.monotone_effect:
            notes.append(f"{v.name}: the fitted (spline) effect is not monotone, and its points "
                         "follow it on purpose")
        if v.max_points == 0:
            notes.append(f"{v.name}: its whole effect ({v.span:.3f} log-odds) is worth less than "
                         f"half a point at {constant:.3f} log-odds per point; it scores 0 everywhere and is "
                         "left out of the card (it stays in the continuous model)")
    if capped:
        notes.append(f"scale capped at {max_points} points: the constant was raised from "
                     f"{first:.4f} to {constant:.4f} log-odds per point")
    return PointsScale(variables=vp, constant=float(constant), max_points=max_points,
                       max_total=sum(v.max_points for v in vp.values()), capped=capped,
                       bands=bands, notes=tuple(notes))


def probability_table(totals: npt.ArrayLike, intercept: float, slope: float) -> list[tuple[float, float]]:
    """Each reachable total (given once, ascending) with ``expit(a + b * total)``."""
    t = np.asarray(totals, dtype=np.float64).ravel()
    uniq = sorted({float(v) for v in np.unique(t[~np.isnan(t)])})
    return [(t, float(stats.logistic.cdf(intercept + slope * t))) for t in uniq]


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
    """Wilson score interval for a proportion (statsmodels' ``proportion_confint``); NaN if n = 0.

    The one Wilson interval of the package: risk groups, the report's calibration markers and
    the sensitivity and specificity of a yes/no rule all use it.
    """
    if n == 0:
        return (math.nan, math.nan)
    # imported here: statsmodels costs about 0.3 s at import, which start-up need not pay
    from statsmodels.stats.proportion import proportion_confint

    low, high = proportion_confint(events, n, alpha=1.0 - level, method="wilson")
    # clipped to [0, 1] here: statsmodels 0.14 clips only "normal" and "agresti_coull" (0.15 all)
    return (max(0.0, float(low)), min(1.0, float(high)))


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
