"""Binary logistic regression by iteratively reweighted least squares (pure numpy).

``fit_logistic`` fits maximum likelihood (Newton-Raphson = IRLS for the canonical logit link) or
Firth-penalised logistic regression (``firth=True``, see :mod:`crsscore.modeling.firth`).  It
matches statsmodels ``Logit`` and R ``glm(family = binomial)`` to 1e-6 on the same data (see
``tests/modeling/test_logistic.py``).

``fit_logistic_batch`` fits many logistic regressions that share the design matrix ``X`` but
have different frequency weights (bootstrap resamples expressed as multinomial counts) in one
vectorised Newton iteration: the engine behind :func:`crsscore.validation.bootstrap.validate_lrm`.

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
from crsscore._types import BoolArray, FloatArray
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


# ----------------------------------------------------------------------------------------------
# batched fits for the bootstrap


def _batched_solve(A: FloatArray, b: FloatArray) -> tuple[FloatArray, BoolArray]:
    """Solve A[k] x[k] = b[k] for all k; rows whose matrix is singular return 0 and False."""
    ok = np.ones(A.shape[0], dtype=bool)
    try:
        x: FloatArray = np.asarray(np.linalg.solve(A, b[..., None])[..., 0], dtype=np.float64)
    except np.linalg.LinAlgError:
        x = np.zeros_like(b)
        for k in range(A.shape[0]):
            try:
                x[k] = np.linalg.solve(A[k], b[k])
            except np.linalg.LinAlgError:
                ok[k] = False
    bad = ~np.all(np.isfinite(x), axis=1)
    x[bad] = 0.0
    ok &= ~bad
    return x, ok


def _masked(info: FloatArray, score: FloatArray, mask: BoolArray) -> tuple[FloatArray, FloatArray]:
    """Restrict each system to its active columns: identity rows/cols and zero score elsewhere."""
    m = mask.astype(np.float64)
    A = info * (m[:, :, None] * m[:, None, :])
    idx = np.arange(info.shape[1])
    A[:, idx, idx] += 1.0 - m
    return A, score * m


@dataclass(frozen=True)
class BatchFit:
    """Result of :func:`fit_logistic_batch`: one row per weight vector."""

    coef: FloatArray  # (B, p') intercept first when intercept=True; inactive columns are 0
    converged: BoolArray  # (B,)
    loglik: FloatArray  # (B,)
    n_iter: int

    def cov(self, D: FloatArray, W: FloatArray, mask: BoolArray | None = None) -> FloatArray:
        """Inverse information (B, p', p') at the estimates (inactive rows/cols are 0)."""
        eta = self.coef @ D.T
        p = expit(eta)
        info = _batch_info(D, W * p * (1.0 - p))
        if mask is None:
            mask = np.ones(self.coef.shape, dtype=bool)
        A, _ = _masked(info, np.zeros_like(self.coef), mask)
        inv: FloatArray = np.asarray(np.linalg.inv(A), dtype=np.float64)
        m = mask.astype(np.float64)
        out: FloatArray = inv * (m[:, :, None] * m[:, None, :])
        return out


def _batch_info(D: FloatArray, Wt: FloatArray) -> FloatArray:
    """sum_i Wt[b, i] D[i]^T D[i] for every b, as one BLAS matrix product."""
    p = D.shape[1]
    DD = (D[:, :, None] * D[:, None, :]).reshape(D.shape[0], p * p)
    out: FloatArray = (Wt @ DD).reshape(Wt.shape[0], p, p)
    return out


def fit_logistic_batch(
    X: ArrayLike,
    W: ArrayLike,
    y: ArrayLike,
    *,
    intercept: bool = True,
    mask: ArrayLike | None = None,
    firth: bool = False,
    max_iter: int | None = None,
    tol: float = 1e-10,
    start: ArrayLike | None = None,
) -> BatchFit:
    """Fit ``B`` logistic regressions sharing ``X`` and ``y`` with frequency weights ``W``.

    Parameters
    ----------
    X : (n, p) predictors (no intercept column; one is added when ``intercept``).
    W : (B, n) frequency weights, e.g. bootstrap counts from a multinomial draw.
    y : (n,) 0/1 outcome.
    mask : optional (B, p') boolean matrix of active parameters (intercept included): each row
        fits only its active columns (a sub-model after variable selection); others stay 0.
    firth : Firth-penalised fits (modified score with step-halving on the penalised likelihood).
    max_iter : iteration limit (default 30 for ML, 100 for Firth, whose modified-score
        iteration converges linearly under separation).
    tol : ML fits stop when the largest Newton step is below ``100 * tol`` (quadratic
        convergence makes the remaining error negligible); separated fits never get there.

    Returns
    -------
    BatchFit with ``coef`` (B, p') and ``converged`` (B,).  A fit that does not converge in
    ``max_iter`` steps (separated data: the Newton step on a diverging coefficient never
    shrinks), has a singular information matrix or non-finite estimates is flagged
    ``converged = False``: callers count it as failed, as rms ``lrm.fit`` sets ``fail``.  Extreme
    fitted probabilities of a converged fit are not a failure.
    """
    Xa = np.asarray(X, dtype=np.float64)
    if Xa.ndim == 1:
        Xa = Xa.reshape(-1, 1)
    D = np.column_stack([np.ones(Xa.shape[0]), Xa]) if intercept else Xa
    Wa = np.atleast_2d(np.asarray(W, dtype=np.float64))
    ya = np.asarray(y, dtype=np.float64).reshape(-1)
    Bn, pp = Wa.shape[0], D.shape[1]
    M = np.ones((Bn, pp), dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    if firth:
        from crsscore.modeling.firth import firth_newton_batch

        return firth_newton_batch(D, ya, Wa, M, max_iter=max_iter or 100, tol=tol)
    max_iter = max_iter or 30
    beta = np.zeros((Bn, pp))
    if start is not None:
        beta = np.asarray(start, dtype=np.float64).copy() * M
    elif intercept:
        ybar = (Wa @ ya) / Wa.sum(axis=1)
        ybar = np.clip(ybar, 1e-6, 1 - 1e-6)
        beta[:, 0] = np.log(ybar / (1.0 - ybar))
    active = np.ones(Bn, dtype=bool)
    converged = np.zeros(Bn, dtype=bool)
    ok = np.ones(Bn, dtype=bool)
    it = 0
    step_tol = max(tol, 1e-14) * 1e2
    for it in range(1, max_iter + 1):  # noqa: B007
        a = np.flatnonzero(active)
        if a.size == 0:
            break
        b_a, W_a = beta[a], Wa[a]
        p = expit(b_a @ D.T)
        score = (W_a * (ya - p)) @ D
        info = _batch_info(D, W_a * p * (1.0 - p))
        A, s = _masked(info, score, M[a])
        step, good = _batched_solve(A, s)
        ok[a[~good]] = False
        size = np.max(np.abs(step), axis=1)
        # long steps: halve while the likelihood goes down (short Newton steps on the concave
        # log-likelihood are safe, so the likelihood is not evaluated for them)
        big = np.flatnonzero(size > 0.5)
        if big.size:
            old = _batch_loglik(b_a[big], D, ya, W_a[big])
            f = np.ones(big.size)
            for _ in range(30):
                new = _batch_loglik(b_a[big] + f[:, None] * step[big], D, ya, W_a[big])
                worse = new < old - 1e-10 * (np.abs(old) + 1.0)
                if not worse.any():
                    break
                f[worse] /= 2.0
            step[big] *= f[:, None]
        beta[a] = b_a + step
        done = (np.max(np.abs(step), axis=1) < step_tol) | ~good
        converged[a[done & good]] = True
        active[a[done]] = False
    eta = beta @ D.T
    ll: FloatArray = np.sum(Wa * (ya * eta - np.logaddexp(0.0, eta)), axis=1)
    conv = converged & ok & np.all(np.isfinite(beta), axis=1) & np.isfinite(ll)
    return BatchFit(coef=beta, converged=conv, loglik=ll, n_iter=it)


def _batch_loglik(beta: FloatArray, D: FloatArray, y: FloatArray, W: FloatArray) -> FloatArray:
    eta = beta @ D.T
    out: FloatArray = np.sum(W * (y * eta - np.logaddexp(0.0, eta)), axis=1)
    return out



# ----------------------------------------------------------------------------------------------
# stacked ML fits (the points-to-risk maps of many imputations and resamples)


def ml_fit_stacked(D: FloatArray, y: FloatArray, *, max_iter: int = 50,
                   tol: float = 1e-10) -> tuple[FloatArray, BoolArray]:
    """Maximum-likelihood fits of every design ``D[k]`` ((K, n, p), intercept first, unit weights).

    Each fit runs exactly :func:`_newton_ml`'s iteration from :func:`fit_logistic`'s start, so
    ``coef[k]`` equals ``fit_logistic(D[k][:, 1:], y).coef`` to rounding.  Returns the
    coefficients and ``exact`` (K,): False where :func:`fit_logistic` would go on to its
    separation check (not converged, a large linear predictor, or a last step that still moves)
    and finds separation, or where a step's system is singular; the caller refits those one by
    one (``fit_logistic`` then warns, and the pipeline refits by Firth).
    """
    Da = np.asarray(D, dtype=np.float64)
    K, n, pp = Da.shape
    ya = np.broadcast_to(np.asarray(y, dtype=np.float64), (K, n))
    beta = np.zeros((K, pp))
    ybar = ya.sum(axis=1) / n
    beta[:, 0] = np.log(ybar / (1.0 - ybar))
    DT = np.swapaxes(Da, 1, 2)

    def loglik(eta: FloatArray, yy: FloatArray) -> FloatArray:
        out: FloatArray = np.sum(yy * eta - np.logaddexp(0.0, eta), axis=1)
        return out

    eta = np.matmul(Da, beta[:, :, None])[:, :, 0]
    ll = loglik(eta, ya)
    converged = np.zeros(K, dtype=bool)
    exact = np.ones(K, dtype=bool)
    active = np.ones(K, dtype=bool)
    for _ in range(max_iter):
        a = np.flatnonzero(active)
        if a.size == 0:
            break
        Dk, DTk, ya_a = Da[a], DT[a], ya[a]
        p = expit(eta[a])
        score = np.matmul(DTk, (ya_a - p)[:, :, None])[:, :, 0]
        info = np.matmul(DTk, Dk * (p * (1.0 - p))[:, :, None])
        try:
            step = np.linalg.solve(info, score[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:  # a singular step: those fits are redone one by one
            dets = np.linalg.det(info)
            bad = dets == 0
            exact[a[bad]] = False
            active[a[bad]] = False
            keep = ~bad
            a, Dk, DTk, ya_a = a[keep], Dk[keep], DTk[keep], ya_a[keep]
            info, score = info[keep], score[keep]
            if a.size == 0:
                continue
            step = np.linalg.solve(info, score[:, :, None])[:, :, 0]
        b_a, ll_a = beta[a], ll[a]
        factor = np.ones(a.size)
        cand = b_a + step
        eta_c = np.matmul(Dk, cand[:, :, None])[:, :, 0]
        ll_c = loglik(eta_c, ya_a)
        worse = ll_c < ll_a - 1e-12 * (np.abs(ll_a) + 1.0)
        for _h in range(29):
            if not worse.any():
                break
            factor[worse] /= 2.0
            cand[worse] = b_a[worse] + factor[worse, None] * step[worse]
            eta_c[worse] = np.matmul(Dk[worse], cand[worse][:, :, None])[:, :, 0]
            ll_c[worse] = loglik(eta_c[worse], ya_a[worse])
            worse = worse & (ll_c < ll_a - 1e-12 * (np.abs(ll_a) + 1.0))
        factor[worse] /= 2.0  # as _newton_ml: the last halving's step is kept
        beta[a], eta[a] = cand, eta_c
        change = np.abs(ll_c - ll_a) / (np.abs(ll_c) + 0.1)
        ll[a] = ll_c
        small = np.max(np.abs(factor[:, None] * step), axis=1) < max(tol, 1e-12) * 1e2
        done = small | (change < tol)
        converged[a[done]] = True
        active[a[done]] = False
    # fit_logistic's separation check, where it would run
    for k in range(K):
        if not exact[k]:
            continue
        w = np.ones(n)
        if not converged[k] or _needs_separation_check(Da[k], ya[k], w, beta[k]):
            if separation_direction(Da[k], ya[k], w) is not None:
                exact[k] = False
    return beta, exact
