"""Restricted cubic splines, equal to ``Hmisc::rcspline.eval`` / ``rms::rcs``.

Knots default to Harrell's quantiles (Regression Modeling Strategies, table 2.3): for 3 knots
.10 .5 .90; 4: .05 .35 .65 .95; 5: .05 .275 .5 .725 .95; 6: .05 .23 .41 .59 .77 .95;
7: .025 .1833 .3417 .5 .6583 .8167 .975 — with the outer knots moved to the 5th smallest and
largest values when fewer than 100 values are observed.  The basis uses Harrell's default
normalisation ``norm = 2`` (divide by ``(t_k - t_1)^(2/3)``) so coefficients match rms.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from crsscore._types import FloatArray
from crsscore.errors import ModelError


def rcs_knots(x: ArrayLike, nk: int = 4, fractied: float = 0.05) -> FloatArray:
    """Default knot locations of ``rcspline.eval(x, nk = nk)``."""
    xa = np.asarray(x, dtype=np.float64)
    xx = xa[np.isfinite(xa)]
    n = xx.shape[0]
    if n < 6:
        raise ModelError("knots not given and fewer than 6 non-missing values")
    if nk < 3:
        raise ModelError(f"nk must be >= 3; got {nk}")
    xu = np.unique(xx)
    nxu = xu.shape[0]
    if nxu - 2 <= nk:
        return np.asarray(xu[1:-1], dtype=np.float64)
    outer = 0.05 if nk > 3 else 0.1
    if nk > 6:
        outer = 0.025
    nke = nk
    first: list[float] = []
    last: list[float] = []
    over_first = over_last = False
    if 0 < fractied < 1:
        _vals, counts = np.unique(xx, return_counts=True)
        f = counts / n
        if np.max(f[1:-1]) < fractied:
            if f[0] >= fractied:
                fk = float(np.min(xx[xx > np.min(xx)]))
                first = [fk]
                xx = xx[xx > fk]
                nke -= 1
                over_first = True
            if f[-1] >= fractied:
                lk = float(np.max(xx[xx < np.max(xx)]))
                last = [lk]
                xx = xx[xx < lk]
                nke -= 1
                over_last = True
    if nke == 1:
        knots = np.array([np.median(xx)])
    else:
        if nxu <= nke:
            knots = xu
        else:
            probs = np.linspace(0.5, 1 - outer, nke) if nke == 2 else np.linspace(outer, 1 - outer, nke)
            knots = np.quantile(xx, probs)
            if np.unique(knots).shape[0] < min(nke, 3):
                raise ModelError("could not place distinct knots: too many tied values")
        if xx.shape[0] < 100:
            s = np.sort(xx)
            knots = knots.copy()
            if not over_first:
                knots[0] = s[4]
            if not over_last:
                knots[nke - 1] = s[-5]
    out = np.unique(np.concatenate([first, knots, last]))
    return np.asarray(out, dtype=np.float64)


def rcs_basis(
    x: ArrayLike, knots: ArrayLike | None = None, nk: int = 4, *, inclx: bool = True
) -> FloatArray:
    """Restricted cubic spline basis; ``(n, k - 1)`` with ``x`` first when ``inclx``.

    Equal to ``rcspline.eval(x, knots, nk, inclx = TRUE)`` (norm = 2, type "ordinary").
    """
    xa = np.asarray(x, dtype=np.float64)
    kn = rcs_knots(xa, nk) if knots is None else np.unique(np.asarray(knots, dtype=np.float64))
    k = kn.shape[0]
    if k < 3:
        raise ModelError(f"a restricted cubic spline needs >= 3 distinct knots; got {k}")
    kd = (kn[-1] - kn[0]) ** (2.0 / 3.0)
    t_last, t_pen = kn[-1], kn[-2]
    cols = []
    for j in range(k - 2):
        tj = kn[j]
        term = (
            np.maximum((xa - tj) / kd, 0) ** 3
            + ((t_pen - tj) * np.maximum((xa - t_last) / kd, 0) ** 3
               - (t_last - tj) * np.maximum((xa - t_pen) / kd, 0) ** 3) / (t_last - t_pen)
        )
        cols.append(term)
    basis = np.column_stack(cols)
    if inclx:
        basis = np.column_stack([xa, basis])
    return np.asarray(basis, dtype=np.float64)
