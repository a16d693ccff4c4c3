"""Binary logistic regression by iteratively reweighted least squares (pure numpy).

``fit_logistic`` fits maximum likelihood (Newton-Raphson = IRLS for the canonical logit link) or
Firth-penalised logistic regression (``firth=True``, see :mod:`crsscore.modeling.firth`).  It
matches statsmodels ``Logit`` and R ``glm(family = binomial)`` to 1e-6 on the same data (see
``tests/modeling/test_logistic.py``).

Batched fits (many at once, for the bootstrap) live in :mod:`crsscore.modeling._batched`.

Weights are frequency weights throughout: a row with weight 3 counts as three identical
patients, so ``n`` and ``events`` are sums of weights.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import linalg, optimize, stats

from crsscore._numeric import expit
from crsscore._types import FloatArray
from crsscore.errors import ConvergenceWarning, ModelError, SeparationWarning
from crsscore.modeling._newton import (
    _information,
    _loglik,
    _newton_ml,
    firth_newton,
    penalised_loglik,
)

#: A fitted linear predictor beyond this magnitude (probability below 4.5e-5) makes
#: :func:`fit_logistic` run the exact linear-programming check for separation.  A large linear
#: predictor alone is no sign of separation: a converged fit may have a row at p = 1e-12.
LP_CHECK = 10.0
#: ... as does a final Newton step longer than this (the fit stopped on the log-likelihood
#: change while a coefficient still moves: the signature of a diverging estimate).
STEP_CHECK = 1e-4


@dataclass(frozen=True)
class LogisticFit:
    """A fitted binary logistic regression.

    Attributes
    ----------
    coef, se : coefficients and Wald standard errors, intercept first when ``intercept``.
    cov : covariance matrix (inverse Fisher information at the estimate).
    loglik : unpenalised log-likelihood at the estimate.
    loglik_penalised : penalised log-likelihood (Firth: ``loglik + 0.5 log det I``); equal to
        ``loglik`` for maximum likelihood.
    loglik_null : log-likelihood of the intercept-only model (0.5 probability if no intercept).
    n, events : sums of the frequency weights over all rows and over rows with ``y == 1``.
    converged, n_iter : whether the Newton iteration met ``tol`` and how many steps it took.
    method : ``"ml"`` or ``"firth"``.
    names : parameter names, ``"Intercept"`` first when ``intercept``.
    separation : True when the data are (quasi-)completely separated so that the ML estimates do
        not exist (ML only; Firth estimates stay finite).
    """

    coef: FloatArray
    se: FloatArray
    cov: FloatArray
    loglik: float
    loglik_penalised: float
    loglik_null: float
    n: float
    events: float
    converged: bool
    n_iter: int
    method: str
    names: tuple[str, ...]
    intercept: bool = True
    separation: bool = False

    @property
    def n_params(self) -> int:
        return int(self.coef.shape[0])

    @property
    def aic(self) -> float:
        """Akaike information criterion ``-2 loglik + 2 k`` (unpenalised log-likelihood)."""
        return -2.0 * self.loglik + 2.0 * self.n_params

    @property
    def deviance(self) -> float:
        return -2.0 * self.loglik

    @property
    def lr_chi2(self) -> float:
        """Likelihood-ratio chi-square against the intercept-only model (rms "Model L.R.")."""
        return 2.0 * (self.loglik - self.loglik_null)

    @property
    def r2_nagelkerke(self) -> float:
        """Nagelkerke R2 as in rms ``lrm`` (``(1 - exp(-LR/n)) / (1 - exp(2 ll0 / n))``)."""
        lr = self.lr_chi2
        return float((1.0 - math.exp(-lr / self.n)) / (1.0 - math.exp(2.0 * self.loglik_null / self.n)))

    @property
    def slopes(self) -> FloatArray:
        """Coefficients without the intercept."""
        return self.coef[1:] if self.intercept else self.coef

    @property
    def predictor_names(self) -> tuple[str, ...]:
        return self.names[1:] if self.intercept else self.names

    def predict_lp(self, X: ArrayLike) -> FloatArray:
        """Linear predictor for rows of ``X`` (columns as in the fit, no intercept column)."""
        Xa = np.asarray(X, dtype=np.float64)
        if Xa.ndim == 1:
            Xa = Xa.reshape(-1, 1) if self.slopes.shape[0] == 1 else Xa.reshape(1, -1)
        if Xa.shape[1] != self.slopes.shape[0]:
            raise ModelError(
                f"X has {Xa.shape[1]} columns; the model has {self.slopes.shape[0]} predictors "
                f"({', '.join(self.predictor_names)})"
            )
        lp: FloatArray = Xa @ self.slopes
        if self.intercept:
            lp = lp + self.coef[0]
        return lp

    def predict_proba(self, X: ArrayLike) -> FloatArray:
        """Predicted probability of the event for rows of ``X``."""
        return expit(self.predict_lp(X))

    def summary(self, alpha: float = 0.05) -> pd.DataFrame:
        """Coefficient table: coef, se, z, p, OR and Wald CI of the OR at level ``1 - alpha``."""
        z = self.coef / self.se
        p = 2.0 * stats.norm.sf(np.abs(z))
        q = stats.norm.ppf(1.0 - alpha / 2.0)
        level = f"{100 * (1 - alpha):g}%"
        return pd.DataFrame(
            {
                "coef": self.coef,
                "se": self.se,
                "z": z,
                "p": p,
                "OR": np.exp(self.coef),
                f"OR lower {level}": np.exp(self.coef - q * self.se),
                f"OR upper {level}": np.exp(self.coef + q * self.se),
            },
            index=pd.Index(list(self.names), name="term"),
        )

    def to_frame(self) -> pd.DataFrame:
        return self.summary()


# ----------------------------------------------------------------------------------------------
# input checks


def _as_design(
    X: ArrayLike | pd.DataFrame, names: Sequence[str] | None
) -> tuple[FloatArray, list[str]]:
    if isinstance(X, pd.DataFrame):
        cols = [str(c) for c in X.columns]
        Xa = X.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        Xa = np.asarray(X, dtype=np.float64)
        if Xa.ndim == 1:
            Xa = Xa.reshape(-1, 1)
        cols = [f"x{i + 1}" for i in range(Xa.shape[1] if Xa.ndim == 2 else 0)]
    if Xa.ndim != 2:
        raise ModelError(f"X must be a 2-d matrix; got an array with {Xa.ndim} dimensions")
    if names is not None:
        cols = [str(c) for c in names]
        if len(cols) != Xa.shape[1]:
            raise ModelError(f"{len(cols)} names given for {Xa.shape[1]} columns of X")
    return Xa, cols


def check_inputs(
    X: ArrayLike | pd.DataFrame,
    y: ArrayLike,
    *,
    names: Sequence[str] | None = None,
    weights: ArrayLike | None = None,
    intercept: bool = True,
) -> tuple[FloatArray, FloatArray, FloatArray, list[str]]:
    """Validate and convert inputs; return (design with intercept, y, weights, names).

    Raises :class:`ModelError` for missing values, non-binary outcomes, zero events or zero
    non-events, and constant or collinear columns (naming them).
    """
    Xa, cols = _as_design(X, names)
    ya = np.asarray(y, dtype=np.float64).reshape(-1)
    if ya.shape[0] != Xa.shape[0]:
        raise ModelError(f"X has {Xa.shape[0]} rows but y has {ya.shape[0]}")
    if Xa.shape[0] == 0:
        raise ModelError("no rows to fit")
    bad = [c for c, j in zip(cols, range(Xa.shape[1]), strict=True) if not np.all(np.isfinite(Xa[:, j]))]
    if bad:
        raise ModelError(f"missing or non-finite values in column(s): {', '.join(bad)}; impute or drop them first")
    if not np.all(np.isfinite(ya)) or not np.all(np.isin(ya, (0.0, 1.0))):
        raise ModelError("outcome must be coded 0/1 without missing values")
    if weights is None:
        w = np.ones_like(ya)
    else:
        w = np.asarray(weights, dtype=np.float64).reshape(-1)
        if w.shape != ya.shape or not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ModelError("weights must be non-negative, finite and one per row")
    events = float(np.sum(w * ya))
    total = float(np.sum(w))
    if events == 0:
        raise ModelError("zero events: the outcome never occurs, a logistic model cannot be fitted")
    if events == total:
        raise ModelError("zero non-events: the outcome always occurs, a logistic model cannot be fitted")
    used = w > 0
    const = [c for j, c in enumerate(cols) if np.ptp(Xa[used, j]) == 0]
    if const and (intercept or Xa.shape[1] > 1):
        raise ModelError(
            f"constant column(s) (no variation among the rows used, a singular design): {', '.join(const)}"
        )
    if intercept:
        D = np.column_stack([np.ones(Xa.shape[0]), Xa])
        pnames = ["Intercept", *cols]
    else:
        D = Xa
        pnames = cols
    _check_rank(D[used] * np.sqrt(w[used])[:, None], pnames)
    return D, ya, w, pnames


def _check_rank(D: FloatArray, pnames: list[str]) -> None:
    if D.shape[1] == 0:
        return
    if D.shape[0] < D.shape[1]:
        raise ModelError(f"{D.shape[0]} rows for {D.shape[1]} parameters: too few rows to fit")
    scale = np.sqrt(np.sum(D * D, axis=0))
    scale[scale == 0] = 1.0
    _, R, piv = linalg.qr(D / scale, mode="economic", pivoting=True)
    diag = np.abs(np.diag(R))
    tol = max(D.shape) * np.finfo(float).eps * 1e3 * diag[0]
    rank = int(np.sum(diag > tol))
    if rank < D.shape[1]:
        dep = [pnames[k] for k in sorted(piv[rank:])]
        raise ModelError(
            "collinear column(s): " + ", ".join(dep) + " are linear combinations of the other "
            "columns (or of the intercept); drop them or combine the variables"
        )


# ----------------------------------------------------------------------------------------------
# fitting


def separation_direction(D: FloatArray, y: FloatArray, w: FloatArray) -> FloatArray | None:
    """A direction of recession of the log-likelihood, or None when the MLE exists.

    Konis (2007), as R ``detectseparation``: the data are (quasi-)completely separated when
    some ``b != 0`` has ``(2 y_i - 1) D_i b >= 0`` for every row with positive weight; then the
    log-likelihood keeps increasing along ``b`` and the estimates of its nonzero entries are
    infinite.  Solved exactly as the linear program ``max sum_i (2 y_i - 1) D_i b`` subject to
    those constraints and ``-1 <= b_j <= 1`` (columns scaled to max |D_ij| = 1) by HiGHS; the
    optimum is 0 (``b = 0``) when the data overlap.  ``D`` must have full column rank.
    """
    used = w > 0
    Du = D[used]
    if Du.shape[1] == 2 and Du.shape[0] > 0 and np.all(Du[:, 0] == Du[0, 0]) and Du[0, 0] != 0:
        return _separation_1d(Du, y[used])
    scale = np.max(np.abs(Du), axis=0)
    scale[scale == 0] = 1.0
    A = (Du / scale) * np.where(y[used] == 1.0, 1.0, -1.0)[:, None]
    res = optimize.linprog(
        c=-A.sum(axis=0), A_ub=-A, b_ub=np.zeros(A.shape[0]),
        bounds=[(-1.0, 1.0)] * A.shape[1], method="highs",
    )
    if res.status != 0 or res.x is None:  # pragma: no cover - the LP is feasible (b = 0) and bounded
        return None
    b = np.asarray(res.x, dtype=np.float64)
    r = A @ b
    # a certificate: clearly positive on some row, non-negative (to rounding) on every row
    if float(np.max(r, initial=0.0)) <= 1e-7 or float(np.min(r)) < -1e-9 * A.shape[1]:
        return None
    out: FloatArray = np.where(np.abs(b) > 1e-9, b / scale, 0.0)
    return out


def _separation_1d(D: FloatArray, y: FloatArray) -> FloatArray | None:
    """:func:`separation_direction` for an intercept and one predictor, in closed form.

    The data are (quasi-)completely separated exactly when a cut ``c`` has every event on one
    side and every non-event on the other (ties at ``c`` allowed): the linear program's
    optimum is then positive, and ``(2 y - 1) (x - c)`` (or its negative) is a direction of
    recession.  Saves the LP in the bootstrap's points-to-risk fits, which are all of this form.
    """
    x = D[:, 1]
    ev, ne = x[y == 1.0], x[y != 1.0]
    if ev.size == 0 or ne.size == 0 or np.ptp(x) == 0:
        return None
    span = float(np.max(np.abs(x)))
    tol = 1e-9 * span
    for sign, lo_group, hi_group in ((1.0, ne, ev), (-1.0, ev, ne)):
        top, bottom = float(np.max(lo_group)), float(np.min(hi_group))
        if top <= bottom + tol:
            c = (top + bottom) / 2.0
            b = np.array([-sign * c / D[0, 0], sign])
            margin = np.where(y == 1.0, 1.0, -1.0) * (D @ b)
            if float(np.max(margin)) > 1e-7 * max(span, 1.0) and float(np.min(margin)) >= -tol:
                return b
    return None


def _needs_separation_check(D: FloatArray, y: FloatArray, w: FloatArray, beta: FloatArray,
                            offset: FloatArray | None = None) -> bool:
    """Whether a converged ML fit may sit on a diverging path: some used row has a large linear
    predictor, or one more Newton step would still move a coefficient (ML converges
    quadratically, so at a true maximum that step is negligible)."""
    used = w > 0
    eta = D @ beta if offset is None else D @ beta + offset
    if float(np.max(np.abs(eta[used]))) > LP_CHECK:
        return True
    p = expit(eta)
    info = D.T @ (D * (w * p * (1.0 - p))[:, None])
    try:
        step = np.linalg.solve(info, D.T @ (w * (y - p)))
    except np.linalg.LinAlgError:
        return True
    return not bool(np.all(np.abs(step) <= STEP_CHECK * (1.0 + np.abs(beta))))


def fit_logistic(
    X: ArrayLike | pd.DataFrame,
    y: ArrayLike,
    *,
    names: Sequence[str] | None = None,
    weights: ArrayLike | None = None,
    firth: bool = False,
    intercept: bool = True,
    max_iter: int = 50,
    tol: float = 1e-10,
    offset: ArrayLike | None = None,
    strict: bool = False,
) -> LogisticFit:
    """Fit a binary logistic regression by maximum likelihood or Firth's penalised likelihood.

    Parameters
    ----------
    X : (n, p) matrix or DataFrame of predictors, without an intercept column.
    y : (n,) outcome coded 0/1.
    names : predictor names (default: DataFrame columns or ``x1..xp``).
    weights : frequency weights (default 1 per row).
    firth : Firth's bias-reduced estimate (Jeffreys-prior penalty), finite under separation.
    intercept : add an intercept column (first coefficient).
    max_iter, tol : Newton iteration limit and relative log-likelihood change for convergence.
    offset : (n,) known part of the linear predictor, ``logit P = offset + X b`` (maximum
        likelihood only), as R ``glm(..., offset = )``: recalibration of a frozen model's
        linear predictor.  ``loglik_null`` is then that of the intercept and the offset
        (R's null deviance), and ``predict_lp`` leaves the offset out.
    strict : raise :class:`ModelError` where the estimates do not exist (separation) or the
        iteration did not converge, instead of warning and returning them.

    Raises
    ------
    ModelError : zero events or non-events, missing values, constant or collinear columns;
        with ``strict``, separation or no convergence.

    Warns
    -----
    SeparationWarning : (ML) the data are (quasi-)completely separated, so some estimates are
        infinite: detected exactly by :func:`separation_direction` (a linear program), run when
        the fit did not converge or some |linear predictor| exceeds ``LP_CHECK``.  A converged
        fit with extreme fitted probabilities (an outlying covariate value) does not warn.
    ConvergenceWarning : the iteration did not converge for another reason.
    """
    D, ya, w, pnames = check_inputs(X, y, names=names, weights=weights, intercept=intercept)
    off = _check_offset(offset, ya.shape[0])
    if firth and off is not None:
        raise ModelError("an offset is supported for maximum likelihood fits only (firth=False)")
    beta0 = np.zeros(D.shape[1])
    separation = False
    if firth:
        beta, converged, n_iter = firth_newton(D, ya, w, beta0, max_iter=max_iter, tol=tol)
        if not converged:
            _warn_or_raise(f"Firth logistic regression did not converge in {max_iter} iterations",
                           ConvergenceWarning, strict)
    else:
        if intercept:
            ybar = float(np.sum(w * ya) / np.sum(w))
            beta0[0] = math.log(ybar / (1.0 - ybar))
        beta, converged, n_iter = _newton_ml(D, ya, w, beta0, max_iter, tol, offset=off)
        separation = _check_ml_estimates(D, ya, w, beta, off, converged, pnames, intercept,
                                         max_iter, strict)
    cov = _safe_inverse(_information(D, w, beta, off), pnames)
    ll = _loglik(D @ beta if off is None else D @ beta + off, ya, w)
    var = np.diag(cov)
    return LogisticFit(
        coef=beta, se=np.sqrt(var if firth else np.abs(var)), cov=cov, loglik=ll,
        loglik_penalised=penalised_loglik(D, ya, w, beta) if firth else ll,
        loglik_null=(_null_loglik(ya, w, intercept) if off is None
                     else ll if intercept and D.shape[1] == 1  # the fit is the null model
                     else _null_loglik_offset(ya, w, off, intercept, max_iter, tol)),
        n=float(w.sum()), events=float(np.sum(w * ya)), converged=converged, n_iter=n_iter,
        method="firth" if firth else "ml", names=tuple(pnames), intercept=intercept,
        separation=separation,
    )


def _check_ml_estimates(D: FloatArray, y: FloatArray, w: FloatArray, beta: FloatArray,
                        off: FloatArray | None, converged: bool, pnames: list[str],
                        intercept: bool, max_iter: int, strict: bool) -> bool:
    """Whether the ML estimates diverge (separation, found exactly by
    :func:`separation_direction` where :func:`_needs_separation_check` says to look); warns (or
    with ``strict`` raises) for separation and for no convergence."""
    direction = None
    if not converged or _needs_separation_check(D, y, w, beta, off):
        direction = separation_direction(D, y, w)
    if direction is not None:
        margin = np.where(y == 1.0, 1.0, -1.0) * (D @ direction)  # > 0: p -> 0 or 1 along it
        rows = int(np.sum((w > 0) & (margin > 1e-9 * float(np.max(np.abs(margin))))))
        moving = [pnames[j] for j in np.flatnonzero(direction) if not (intercept and j == 0)]
        _warn_or_raise(
            f"separation: {rows} row(s) have fitted probability 0 or 1 in the limit and the "
            f"estimates for {', '.join(moving or pnames)} diverge (maximum likelihood estimates "
            "do not exist); use firth=True or remove/merge the separating variable",
            SeparationWarning, strict, stacklevel=4,
        )
        return True
    if not converged:
        _warn_or_raise(f"logistic regression did not converge in {max_iter} iterations",
                       ConvergenceWarning, strict, stacklevel=4)
    return False


def _check_offset(offset: ArrayLike | None, n: int) -> FloatArray | None:
    if offset is None:
        return None
    off = np.asarray(offset, dtype=np.float64).reshape(-1)
    if off.shape[0] != n or not np.all(np.isfinite(off)):
        raise ModelError(f"offset must be finite and one per row ({n} rows); got {off.shape[0]} values")
    return off


def _warn_or_raise(message: str, category: type[Warning], strict: bool, stacklevel: int = 3) -> None:
    """Warn ``message`` at the caller of :func:`fit_logistic`, or raise it with ``strict``."""
    if strict:
        raise ModelError(message)
    warnings.warn(message, category, stacklevel=stacklevel)


def _null_loglik_offset(y: FloatArray, w: FloatArray, offset: FloatArray, intercept: bool,
                        max_iter: int, tol: float) -> float:
    """Log-likelihood of the intercept and the offset alone (the offset alone without one)."""
    if not intercept:
        return _loglik(offset, y, w)
    ones = np.ones((y.shape[0], 1))
    b0, _, _ = _newton_ml(ones, y, w, np.zeros(1), max_iter, tol, offset=offset)
    return _loglik(b0[0] + offset, y, w)


def _null_loglik(y: FloatArray, w: FloatArray, intercept: bool) -> float:
    if not intercept:
        return float(-np.sum(w) * math.log(2.0))
    W = float(np.sum(w))
    e = float(np.sum(w * y))
    return e * math.log(e / W) + (W - e) * math.log((W - e) / W)


def _safe_inverse(info: FloatArray, pnames: list[str]) -> FloatArray:
    try:
        cov: FloatArray = linalg.inv(info)
    except linalg.LinAlgError as exc:  # pragma: no cover - rank was checked before
        raise ModelError(f"singular information matrix for {', '.join(pnames)}") from exc
    return cov
