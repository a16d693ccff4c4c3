"""Profile likelihood confidence intervals for maximum-likelihood and Firth logistic fits.

The Firth estimate (:func:`crsscore.modeling._newton.firth_newton`, reached through
``fit_logistic(..., firth=True)``) maximises ``l*(b) = l(b) + 0.5 log det I(b)`` by solving the modified score
``U*(b) = X' (w (y - p) + h (1/2 - p)) = 0`` (Firth 1993), with ``h`` the diagonal of the
weighted hat matrix.  Each step is ``I(b)^-1 U*(b)`` capped at ``max_step`` and halved while the
penalised log-likelihood goes down, as in R ``logistf``.  The solution equals R ``brglm2``
``glm(..., method = "brglmFit", type = "AS_mean")`` (which solves the same equations): see
``tests/modeling/test_firth.py`` and ``tests/fixtures/r/firth.R``.

``profile_ci`` gives profile (penalised) likelihood confidence intervals by root-finding
``2 (l_max - l_profile(b_j)) = chi2_1(level)`` with the other coefficients re-maximised at each
value of ``b_j``; for maximum likelihood this is what R ``confint(glm)`` computes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from scipy import optimize, stats

from crsscore._types import FloatArray
from crsscore.modeling._newton import _loglik, _newton_ml, firth_newton, penalised_loglik

if TYPE_CHECKING:
    from crsscore.modeling.logistic import LogisticFit

__all__ = ["profile_ci"]


# ----------------------------------------------------------------------------------------------
# profile likelihood confidence intervals


def _profile_function(
    D: FloatArray, y: FloatArray, w: FloatArray, beta_hat: FloatArray, j: int, firth: bool
) -> Callable[[float], float]:
    fixed = np.zeros(D.shape[1], dtype=bool)
    fixed[j] = True
    state = {"beta": beta_hat.copy()}

    def profile(b: float) -> float:
        start = state["beta"].copy()
        start[j] = b
        if firth:
            beta, _, _ = firth_newton(D, y, w, start, max_iter=100, tol=1e-10, fixed=fixed)
            value = penalised_loglik(D, y, w, beta)
        else:
            beta, _, _ = _newton_ml(D, y, w, start, 100, 1e-12, fixed=fixed)
            value = _loglik(D @ beta, y, w)
        state["beta"] = beta
        return value

    return profile


def profile_ci(
    fit: LogisticFit,
    X: FloatArray,
    y: FloatArray,
    *,
    weights: FloatArray | None = None,
    level: float = 0.95,
    which: list[int] | None = None,
    max_width: float = 50.0,
) -> FloatArray:
    """Profile (penalised, for Firth fits) likelihood CIs; returns (k, 2) for ``which`` params.

    ``X`` is the predictor matrix used for ``fit`` (without intercept column).  A bound that
    does not exist (the profile never drops by the critical value, e.g. under separation) is
    returned as -inf / +inf; one that cannot be located (a profile that is not monotone
    because its fits do not converge, as with one or two events) as NaN.
    """
    Xa = np.asarray(X, dtype=np.float64)
    if Xa.ndim == 1:
        Xa = Xa.reshape(-1, 1)
    D = np.column_stack([np.ones(Xa.shape[0]), Xa]) if fit.intercept else Xa
    ya = np.asarray(y, dtype=np.float64)
    w = np.ones_like(ya) if weights is None else np.asarray(weights, dtype=np.float64)
    firth = fit.method == "firth"
    lmax = fit.loglik_penalised
    crit = float(stats.chi2.ppf(level, 1)) / 2.0
    idx = list(range(D.shape[1])) if which is None else which
    out = np.full((len(idx), 2), np.nan)
    for r, j in enumerate(idx):
        bj, se = float(fit.coef[j]), float(fit.se[j])
        for side, sgn in ((0, -1.0), (1, 1.0)):
            prof = _profile_function(D, ya, w, fit.coef, j, firth)

            def g(b: float, prof: Callable[[float], float] = prof) -> float:
                return lmax - prof(b) - crit

            step = max(se, 1e-3)
            lo_pt, hi_pt = bj, bj + sgn * step
            found = False
            while abs(hi_pt - bj) < max_width * max(1.0, se):
                if g(hi_pt) > 0:
                    found = True
                    break
                lo_pt, step = hi_pt, step * 2.0
                hi_pt = bj + sgn * step
            if not found:
                out[r, side] = sgn * math.inf
                continue
            a, b = sorted((lo_pt, hi_pt))
            prof2 = _profile_function(D, ya, w, fit.coef, j, firth)
            try:
                out[r, side] = optimize.brentq(
                    lambda t, prof2=prof2: lmax - prof2(t) - crit, a, b, xtol=1e-10, rtol=1e-12
                )
            except ValueError:
                # the profile is not monotone over the bracket (a profile fit that does not
                # converge, e.g. one or two events): no bound can be given, say so (NaN)
                out[r, side] = math.nan
    return out
