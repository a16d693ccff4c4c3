"""Variable selection: backward elimination by refits, rms ``fastbw``, and cross-validated LASSO.

* :func:`backward_select` refits the model after each candidate removal (AIC or
  likelihood-ratio p rule; Firth models use the penalised likelihood).
* :func:`fastbw` replicates ``rms::fastbw`` (Lawless & Singhal 1978): approximate backward
  elimination from the full fit's coefficients and covariance only, no refits.  Every column is
  one factor (1 d.f.), as in an ``lrm`` fit of numeric predictors.
  :func:`fastbw_batch` runs the same algorithm on many fits at once (bootstrap engine).
* :func:`lasso_cv` is L1-penalised logistic regression with the penalty chosen by k-fold CV.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import special

from crsscore.errors import ModelError
from crsscore.modeling.logistic import BoolArray, FloatArray, LogisticFit, fit_logistic

RULES = ("aic", "p")


def _check_rule(rule: str) -> None:
    if rule not in RULES:
        raise ModelError(f"rule must be 'aic' or 'p'; got {rule!r}")


@dataclass(frozen=True)
class SelectionResult:
    """Outcome of a backward elimination: kept variables, the removal steps and the final fit."""

    kept: tuple[str, ...]
    dropped: tuple[str, ...]
    steps: pd.DataFrame
    fit: LogisticFit
    rule: str
    alpha: float

    def summary(self) -> pd.DataFrame:
        return self.steps

    def to_frame(self) -> pd.DataFrame:
        return self.steps


def _criterion(fit: LogisticFit) -> float:
    """-2 (penalised) log-likelihood + 2 k."""
    return -2.0 * fit.loglik_penalised + 2.0 * fit.n_params


def backward_select(
    X: ArrayLike | pd.DataFrame,
    y: ArrayLike,
    names: Sequence[str] | None = None,
    *,
    rule: str = "aic",
    alpha: float = 0.05,
    firth: bool = False,
    force: Sequence[str] = (),
    weights: ArrayLike | None = None,
) -> SelectionResult:
    """Backward elimination with true refits.

    At each step every non-forced variable is removed in turn and the model refitted.  With
    ``rule="aic"`` the removal giving the lowest AIC is made if it does not raise the AIC;
    with ``rule="p"`` the variable with the largest likelihood-ratio p-value is removed if that
    p exceeds ``alpha``.  Stops when no removal qualifies.
    """
    _check_rule(rule)
    if isinstance(X, pd.DataFrame):
        cols = [str(c) for c in X.columns] if names is None else [str(c) for c in names]
        Xa = X.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        Xa = np.asarray(X, dtype=np.float64)
        if Xa.ndim == 1:
            Xa = Xa.reshape(-1, 1)
        cols = [f"x{i + 1}" for i in range(Xa.shape[1])] if names is None else [str(c) for c in names]
    unknown = [f for f in force if f not in cols]
    if unknown:
        raise ModelError(f"forced variable(s) not among the candidates: {', '.join(unknown)}")
    ya = np.asarray(y, dtype=np.float64)
    current = list(range(Xa.shape[1]))

    def fit_cols(idx: list[int]) -> LogisticFit:
        return fit_logistic(Xa[:, idx], ya, names=[cols[i] for i in idx], weights=weights, firth=firth)

    fit = fit_cols(current)
    steps: list[dict[str, object]] = []
    while True:
        removable = [i for i in current if cols[i] not in force]
        if not removable:
            break
        base = _criterion(fit)
        trials: list[tuple[int, LogisticFit, float, float]] = []
        for i in removable:
            sub = fit_cols([j for j in current if j != i])
            lr = max(0.0, 2.0 * (fit.loglik_penalised - sub.loglik_penalised))
            trials.append((i, sub, _criterion(sub), float(special.chdtrc(1, lr))))
        if rule == "aic":
            i, sub, crit, p = min(trials, key=lambda t: t[2])
            if crit > base:
                break
        else:
            i, sub, crit, p = max(trials, key=lambda t: t[3])
            if p <= alpha:
                break
        steps.append({"removed": cols[i], "AIC before": base, "AIC after": crit, "p (LR)": p})
        current = [j for j in current if j != i]
        fit = sub
    kept = tuple(cols[i] for i in current)
    dropped = tuple(str(s["removed"]) for s in steps)
    frame = pd.DataFrame(steps, columns=["removed", "AIC before", "AIC after", "p (LR)"])
    return SelectionResult(kept=kept, dropped=dropped, steps=frame, fit=fit, rule=rule, alpha=alpha)


# ----------------------------------------------------------------------------------------------
# rms::fastbw


_FASTBW_COLUMNS = ["Chi-Sq", "d.f.", "P", "Residual", "d.f. (residual)", "P (residual)", "AIC"]


@dataclass(frozen=True)
class FastbwResult:
    """``rms::fastbw`` output: deleted factors, kept names and approximate coefficients.

    ``result`` (one row per deleted factor, rms columns) and ``coefficients`` are built on
    access, so the bootstrap can call :func:`fastbw` thousands of times cheaply.
    """

    deleted: tuple[str, ...]
    table: FloatArray  # (len(deleted), 7) values of the rms columns
    names_kept: tuple[str, ...]
    parms_kept: tuple[int, ...]  # 0-based parameter indices kept (intercept = 0)
    coef: FloatArray  # approximate coefficients of parms_kept
    coef_names: tuple[str, ...]
    cov: FloatArray
    rule: str

    @property
    def result(self) -> pd.DataFrame:
        frame = pd.DataFrame(self.table.reshape(-1, 7), columns=_FASTBW_COLUMNS,
                             index=pd.Index(list(self.deleted), name="factor"))
        return frame.astype({"d.f.": int, "d.f. (residual)": int})

    @property
    def coefficients(self) -> pd.Series:
        return pd.Series(self.coef, index=list(self.coef_names), dtype=np.float64)

    def summary(self) -> pd.DataFrame:
        return self.result


def _factor_groups(
    names: list[str], ns: int, factors: Mapping[str, Sequence[str]] | None
) -> list[tuple[str, list[int]]]:
    """(factor name, parameter indices) in model order; unlisted predictors are 1-d.f. factors."""
    owner: dict[str, str] = {}
    for fname, members in (factors or {}).items():
        missing = [m for m in members if m not in names]
        if missing or not members:
            raise ModelError(f"factor '{fname}' names column(s) not in the fit: {', '.join(missing) or '(none)'}")
        for m in members:
            if m in owner:
                raise ModelError(f"column '{m}' is in two factors ('{owner[m]}' and '{fname}')")
            owner[m] = fname
    groups: dict[str, list[int]] = {}
    for j, nm in enumerate(names):
        groups.setdefault(owner.get(nm, nm), []).append(j + ns)
    return list(groups.items())


def fastbw(
    fit: LogisticFit,
    rule: str = "aic",
    sls: float = 0.05,
    type: str = "residual",
    aics: float = 0.0,
    k_aic: float = 2.0,
    force: Sequence[str] = (),
    factors: Mapping[str, Sequence[str]] | None = None,
) -> FastbwResult:
    """Fast backward step-down of ``rms::fastbw`` (Lawless-Singhal approximation).

    Uses only ``fit.coef`` and ``fit.cov``.  ``type="residual"`` (default) stops when the
    residual chi-square of all deleted factors fails the rule; ``"individual"`` tests the
    factor alone.  Output columns match rms: ``Chi-Sq, d.f., P, Residual, d.f. (residual),
    P (residual), AIC``.

    ``factors`` groups columns that form one factor and are kept or deleted together, as rms
    does for the terms of ``rcs(x, 4)``: e.g. ``{"x1": ["x1", "x1'", "x1''"]}``; each other
    column is its own 1-d.f. factor.  ``force`` names factors (or their columns) never deleted.
    """
    _check_rule(rule)
    if type not in ("residual", "individual", "total"):
        raise ModelError(f"type must be 'residual' or 'individual'; got {type!r}")
    if type == "total":
        type = "residual"
    ns = 1 if fit.intercept else 0
    Coef = fit.coef.astype(np.float64)
    Cov = fit.cov.astype(np.float64)
    pt = Coef.shape[0]
    names = list(fit.predictor_names)
    groups = _factor_groups(names, ns, factors)
    gnames = [g for g, _ in groups]
    unknown = [f for f in force if f not in names and f not in gnames]
    if unknown:
        raise ModelError(f"forced variable(s) not in the fit: {', '.join(unknown)}")
    forced = {g for g, members in groups if g in force or any(names[k - ns] in force for k in members)}
    factors_in = list(range(len(groups)))
    parms_in = list(range(pt))
    beta = Coef.copy()
    cov = Cov.copy()
    rows: list[list[float]] = []
    deleted_names: list[str] = []
    for _ in range(len(groups)):
        best_crit, best_chisq, jmin, df_min = math.inf, math.inf, -1, 0
        for j in factors_in:
            gname, members = groups[j]
            pos = [parms_in.index(k) for k in members]
            if gname in forced:
                chisq = math.inf
            else:
                bq = beta[pos]
                chisq = float(bq @ np.linalg.solve(cov[np.ix_(pos, pos)], bq))
            df = len(pos)
            crit = chisq - k_aic * df if rule == "aic" else float(special.chdtr(df, chisq))
            if crit < best_crit:
                best_crit, best_chisq, jmin, df_min = crit, chisq, j, df
        if jmin < 0:
            break
        trial_in = [k for k in parms_in if k not in groups[jmin][1]]
        deleted = [k for k in range(pt) if k not in trial_in]
        qd = np.array(deleted)
        resid = float(Coef[qd] @ np.linalg.solve(Cov[np.ix_(qd, qd)], Coef[qd]))
        rdf = len(deleted)
        if type == "residual":
            ok = resid - k_aic * rdf <= aics if rule == "aic" else special.chdtrc(rdf, resid) > sls
        else:
            ok = best_crit <= aics if rule == "aic" else 1.0 - best_crit > sls
        if not ok:
            break
        deleted_names.append(groups[jmin][0])
        rows.append([
            best_chisq, float(df_min), float(special.chdtrc(df_min, best_chisq)), resid, float(rdf),
            float(special.chdtrc(rdf, resid)), resid - k_aic * rdf,
        ])
        factors_in.remove(jmin)
        parms_in = trial_in
        if parms_in:
            pin, pdl = np.array(parms_in), qd
            w = Cov[np.ix_(pin, pdl)] @ np.linalg.inv(Cov[np.ix_(pdl, pdl)])
            beta = Coef[pin] - w @ Coef[pdl]
            cov = Cov[np.ix_(pin, pin)] - w @ Cov[np.ix_(pdl, pin)]
        else:
            beta = np.zeros(0)
            cov = np.zeros((0, 0))
    kept_names = tuple(groups[j][0] for j in factors_in)
    return FastbwResult(
        deleted=tuple(deleted_names), table=np.array(rows, dtype=np.float64).reshape(-1, 7),
        names_kept=kept_names, parms_kept=tuple(parms_in), coef=np.asarray(beta, dtype=np.float64),
        coef_names=tuple(fit.names[k] for k in parms_in), cov=cov, rule=rule,
    )


def fastbw_batch(
    coef: FloatArray,
    cov: FloatArray,
    *,
    rule: str = "aic",
    sls: float = 0.05,
    aics: float = 0.0,
    k_aic: float = 2.0,
    intercept: bool = True,
    forced: Sequence[int] = (),
) -> BoolArray:
    """``fastbw(type="residual")`` for B fits at once; returns the (B, p') mask of kept parameters.

    :func:`fastbw_batch_coef` also returns the approximate coefficients of the kept model.

    ``coef`` is (B, p'), ``cov`` (B, p', p'), intercept first when ``intercept`` (never deleted).
    ``forced`` are 0-based parameter indices that are never deleted.
    """
    _check_rule(rule)
    Bn, pt = coef.shape
    ns = 1 if intercept else 0
    kept = np.ones((Bn, pt), dtype=bool)
    running = np.ones(Bn, dtype=bool)
    eye = np.eye(pt)
    cand_ok = np.ones(pt, dtype=bool)
    cand_ok[:ns] = False
    for f in forced:
        cand_ok[f] = False
    rows = np.arange(Bn)
    for _ in range(pt - ns):
        if not running.any():
            break
        deleted = ~kept
        # current approximate coefficients/covariance given the deleted set
        beta, cv = _conditional(coef, cov, deleted, eye)
        diag = np.einsum("bii->bi", cv)
        with np.errstate(divide="ignore", invalid="ignore"):
            chisq = np.where(kept & cand_ok, beta**2 / diag, np.inf)
        crit = chisq - k_aic if rule == "aic" else special.chdtr(1, chisq)
        jmin = np.argmin(crit, axis=1)
        valid = np.isfinite(chisq[rows, jmin]) & running
        trial_del = deleted.copy()
        trial_del[rows, jmin] = True
        m = trial_del.astype(np.float64)
        A = cov * (m[:, :, None] * m[:, None, :]) + eye * (1.0 - m)[:, None, :]
        bq = coef * m
        resid = np.einsum("bi,bi->b", bq, np.linalg.solve(A, bq[..., None])[..., 0])
        rdf = trial_del.sum(axis=1)
        ok = resid - k_aic * rdf <= aics if rule == "aic" else special.chdtrc(rdf, resid) > sls
        accept = valid & ok
        kept[rows[accept], jmin[accept]] = False
        running &= accept
    return kept


def fastbw_batch_coef(
    coef: FloatArray, cov: FloatArray, **kwargs: object
) -> tuple[BoolArray, FloatArray]:
    """:func:`fastbw_batch` plus the Lawless-Singhal approximate coefficients (0 if deleted)."""
    kept = fastbw_batch(coef, cov, **kwargs)  # type: ignore[arg-type]
    beta, _ = _conditional(coef, cov, ~kept, np.eye(coef.shape[1]))
    return kept, np.where(kept, beta, 0.0)


def _conditional(
    coef: FloatArray, cov: FloatArray, deleted: BoolArray, eye: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """beta_in - C_id C_dd^-1 beta_d and C_ii - C_id C_dd^-1 C_di for every fit (masked)."""
    if not deleted.any():
        return coef, cov
    d = deleted.astype(np.float64)
    Cdd = cov * (d[:, :, None] * d[:, None, :]) + eye * (1.0 - d)[:, None, :]
    Cxd = cov * d[:, None, :]
    w = np.linalg.solve(Cdd, np.swapaxes(Cxd, 1, 2))  # (B, p, p): Cdd^-1 Cdx
    w = np.swapaxes(w, 1, 2)  # Cxd Cdd^-1
    beta = coef - np.einsum("bij,bj->bi", w, coef * d)
    cv = cov - w @ np.swapaxes(Cxd, 1, 2)
    return beta, cv


# ----------------------------------------------------------------------------------------------
# LASSO


@dataclass(frozen=True)
class LassoResult:
    """Cross-validated L1 logistic regression on standardised predictors."""

    C: float
    kept: tuple[str, ...]
    coef: pd.Series  # on the original scale, intercept first
    folds: int
    seed: int

    def summary(self) -> pd.DataFrame:
        return self.coef.to_frame("coef")


def lasso_cv(
    X: ArrayLike | pd.DataFrame,
    y: ArrayLike,
    names: Sequence[str] | None = None,
    *,
    folds: int = 5,
    seed: int = 0,
    Cs: int = 30,
) -> LassoResult:
    """L1 logistic regression, penalty chosen by stratified k-fold CV of the log-loss.

    Predictors are standardised before fitting (the penalty treats them alike) and the
    coefficients are returned on the original scale.
    """
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.model_selection import StratifiedKFold

    if isinstance(X, pd.DataFrame):
        cols = [str(c) for c in X.columns] if names is None else [str(c) for c in names]
        Xa = X.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        Xa = np.asarray(X, dtype=np.float64)
        cols = [f"x{i + 1}" for i in range(Xa.shape[1])] if names is None else [str(c) for c in names]
    ya = np.asarray(y, dtype=np.float64)
    if not np.all(np.isfinite(Xa)):
        raise ModelError("lasso_cv: missing values in X; impute or drop them first")
    if ya.sum() < folds or (len(ya) - ya.sum()) < folds:
        raise ModelError(f"lasso_cv: fewer events or non-events than folds ({folds})")
    mu, sd = Xa.mean(axis=0), Xa.std(axis=0)
    if np.any(sd == 0):
        raise ModelError("lasso_cv: constant column(s): " + ", ".join(c for c, s in zip(cols, sd, strict=True) if s == 0))
    Z = (Xa - mu) / sd
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    model = LogisticRegressionCV(
        Cs=Cs, cv=cv, l1_ratios=(1.0,), solver="saga", scoring="neg_log_loss", max_iter=5000,
        tol=1e-6, random_state=seed, use_legacy_attributes=False,
    )
    model.fit(Z, ya.astype(int))
    b = np.asarray(model.coef_, dtype=np.float64).reshape(-1)
    a = float(np.asarray(model.intercept_).reshape(-1)[0])
    slopes = b / sd
    intercept = a - float(np.sum(slopes * mu))
    coef = pd.Series([intercept, *slopes], index=["Intercept", *cols], dtype=np.float64)
    kept = tuple(c for c, v in zip(cols, b, strict=True) if abs(v) > 1e-10)
    C = float(np.asarray(model.C_).reshape(-1)[0])
    return LassoResult(C=C, kept=kept, coef=coef, folds=folds, seed=seed)
