"""The per-resample kernels made cheaper for issue 18 give what their plain forms give, bit
for bit: the band medians, the quantiles, the shrunk intercepts of the m imputations."""

from __future__ import annotations

import math

import numpy as np

from crsscore._numeric import expit
from crsscore.modeling._newton import intercept_given_offset, intercepts_given_offsets
from crsscore.modeling.points import _representatives, _sorted_quantiles, categorise


def _newton_single(y: np.ndarray, offset: np.ndarray, max_iter: int = 100,
                   tol: float = 1e-12) -> float:
    """The calibration-in-the-large Newton solve written out for one offset."""
    a = 0.0
    target = float(np.sum(y))
    for _ in range(max_iter):
        p = expit(a + offset)
        h = float(np.sum(p * (1.0 - p)))
        if h <= 0:
            break
        step = (target - float(p.sum())) / h
        a += float(np.clip(step, -5.0, 5.0))
        if abs(step) < tol:
            break
    return a


def test_intercepts_of_many_offsets_equal_single_solves() -> None:
    rng = np.random.default_rng(2)
    for _ in range(300):
        n, k = int(rng.integers(2, 200)), int(rng.integers(1, 7))
        y = (rng.random(n) < rng.uniform(0.02, 0.98)).astype(int)
        off = rng.normal(0, 1, (k, n)) * rng.uniform(0, 30) + rng.normal(0, 20)
        if rng.random() < 0.1:
            off[0] = 800.0  # every p is 1: the curvature vanishes at once
        got = intercepts_given_offsets(y, off)
        for i in range(k):
            want = _newton_single(y, off[i])
            assert got[i] == want
            assert intercept_given_offset(y, off[i]) == want


def test_band_medians_equal_numpy_medians() -> None:
    rng = np.random.default_rng(5)
    for _ in range(500):
        x = np.round(rng.lognormal(0, 1.5, int(rng.integers(1, 150))), int(rng.integers(0, 3)))
        cuts = sorted(set(np.round(rng.uniform(0, 6, int(rng.integers(0, 6))), 1).tolist()))
        got = _representatives(np.sort(x), cuts)
        band = categorise(x, cuts)
        edges = [-math.inf, *cuts, math.inf]
        for b in range(len(cuts) + 1):
            inside = x[band == b]
            if inside.size:
                assert got[b] == np.median(inside)
            else:
                lo, hi = edges[b], edges[b + 1]
                want = (lo + hi) / 2 if math.isfinite(lo) and math.isfinite(hi) else (
                    lo if math.isfinite(lo) else hi)
                assert got[b] == want


def test_sorted_quantiles_equal_numpy() -> None:
    rng = np.random.default_rng(6)
    for _ in range(500):
        x = np.round(rng.normal(0, 1, int(rng.integers(1, 60))), int(rng.integers(0, 3)))
        q = rng.random(int(rng.integers(1, 6)))
        assert np.array_equal(_sorted_quantiles(np.sort(x), q), np.quantile(x, q))
