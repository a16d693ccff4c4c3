"""Variable selection: backward elimination by refits, rms ``fastbw``, and cross-validated LASSO.

* :func:`backward_select` eliminates by likelihood-ratio tests (AIC or p rule); for Firth fits
  the restricted model keeps the full model's penalty, so selection does not depend on units.
* :func:`backward_select_pooled` eliminates over multiply imputed data sets by Rubin's-rules
  pooled Wald tests (D1), so the selection is one procedure, not a vote.
* :func:`fastbw` replicates ``rms::fastbw`` (Lawless & Singhal 1978): approximate backward
  elimination from the full fit's coefficients and covariance only, no refits.  Every column is
  one factor (1 d.f.), as in an ``lrm`` fit of numeric predictors.
  :func:`fastbw_batch` runs the same algorithm on many fits at once (bootstrap engine).
* :func:`lasso_cv` is L1-penalised logistic regression with the penalty chosen by k-fold CV.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import special

from crsscore._types import BoolArray, FloatArray
from crsscore.errors import ConvergenceWarning, ModelError
from crsscore.modeling.logistic import LogisticFit, fit_logistic

RULES = ("aic", "p")

_T = TypeVar("_T")


def _check_rule(rule: str) -> None:
    if rule not in RULES:
        raise ModelError(f"rule must be 'aic' or 'p'; got {rule!r}")


@dataclass(frozen=True)
class SelectionResult:
    """Outcome of a backward elimination: kept variables, the removal steps and the final fit.

    ``steps`` has one row per removal: the factor removed, its degrees of freedom, the
    (penalised) likelihood-ratio or pooled Wald chi-square, its p-value and the change in AIC
    that the removal makes (``chi-square - 2 d.f.``; negative when it lowers the AIC).  ``fit`` is the
    final model on one data set (None when the selection pooled several imputed data sets).
    """

    kept: tuple[str, ...]
    dropped: tuple[str, ...]
    step_rows: tuple[dict[str, object], ...]  # one per removal, keyed by STEP_COLUMNS
    fit: LogisticFit | None
    rule: str
    alpha: float
    test: str = "LR"

    @functools.cached_property
    def steps(self) -> pd.DataFrame:
        """The removal steps as a frame (built on access: the bootstrap never reads it)."""
        return pd.DataFrame(list(self.step_rows), columns=STEP_COLUMNS)

    def summary(self) -> pd.DataFrame:
        return self.steps

    def to_frame(self) -> pd.DataFrame:
        return self.steps


STEP_COLUMNS = ["removed", "d.f.", "Chi-Sq", "p", "AIC change", "test"]


def _as_matrix(X: ArrayLike | pd.DataFrame, names: Sequence[str] | None) -> tuple[FloatArray, list[str]]:
    if isinstance(X, pd.DataFrame):
        cols = [str(c) for c in X.columns] if names is None else [str(c) for c in names]
        return X.to_numpy(dtype=np.float64, na_value=np.nan), cols
    Xa = np.asarray(X, dtype=np.float64)
    if Xa.ndim == 1:
        Xa = Xa.reshape(-1, 1)
    cols = [f"x{i + 1}" for i in range(Xa.shape[1])] if names is None else [str(c) for c in names]
    return Xa, cols


def _factor_columns(cols: list[str], groups: Mapping[str, Sequence[str]] | None) -> dict[str, list[int]]:
    """Factor name -> column indices (a spline's terms form one factor; others are 1 d.f.)."""
    out: dict[str, list[int]] = {}
    owner: dict[str, str] = {}
    for g, members in (groups or {}).items():
        for m in members:
            if m not in cols:
                raise ModelError(f"factor '{g}' names column '{m}', which is not among the candidates")
            owner[m] = g
    for j, c in enumerate(cols):
        out.setdefault(owner.get(c, c), []).append(j)
    return out


def _drop_decision(trials: list[tuple[str, int, float, float]], rule: str, alpha: float
                   ) -> tuple[str, int, float, float] | None:
    """The factor to remove (name, d.f., chi-square, p) or None when no removal qualifies.

    ``aic``: the factor with the smallest ``chi2 - 2 d.f.`` when that is <= 0 (its removal
    does not raise the AIC); ``p``: the factor with the largest p when p > ``alpha``.
    """
    if not trials:
        return None
    if rule == "aic":
        best = min(trials, key=lambda t: (t[2] - 2.0 * t[1], t[0]))
        return best if best[2] - 2.0 * best[1] <= 0.0 else None
    best = max(trials, key=lambda t: (t[3], t[0]))
    return best if best[3] > alpha else None


def restricted_loglik(D: FloatArray, y: FloatArray, w: FloatArray, beta: FloatArray,
                      drop: Sequence[int], *, firth: bool) -> float:
    """Maximised (penalised) log-likelihood with the coefficients ``drop`` fixed at 0.

    For Firth fits the penalty stays that of the full design (Heinze & Schemper 2002; R
    logistf's ``drop1``/``backward``), so the likelihood-ratio statistic does not depend on
    the units of any column.  ``D`` includes the intercept column; ``drop`` indexes ``D``.
    """
    from crsscore.modeling._newton import _loglik, _newton_ml, firth_newton, penalised_loglik

    fixed = np.zeros(D.shape[1], dtype=bool)
    fixed[list(drop)] = True
    start = beta.copy()
    start[fixed] = 0.0
    if firth:
        b, _, _ = firth_newton(D, y, w, start, max_iter=200, tol=1e-10, fixed=fixed)
        return penalised_loglik(D, y, w, b)
    b, _, _ = _newton_ml(D, y, w, start, 200, 1e-12, fixed=fixed)
    return _loglik(D @ b, y, w)


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
    groups: Mapping[str, Sequence[str]] | None = None,
) -> SelectionResult:
    """Backward elimination by likelihood-ratio tests.

    At each step every non-forced factor of the current model is tested by the
    likelihood-ratio statistic of the model with its coefficients fixed at zero; with
    ``rule="aic"`` the factor with the smallest ``chi2 - 2 d.f.`` is removed when that is
    <= 0 (the removal does not raise the AIC), with ``rule="p"`` the factor with the largest
    p-value when p > ``alpha``; the smaller model is then refitted.  For maximum likelihood
    this is the usual refit-and-compare elimination.  For Firth fits (``firth=True``) the
    restricted fit keeps the current model's Jeffreys penalty (penalised likelihood-ratio
    test, Heinze & Schemper 2002, as R logistf), so the kept set does not change when a
    predictor is given in other units.  ``groups`` names the columns of multi-column factors
    (spline terms), removed together.
    """
    _check_rule(rule)
    Xa, cols = _as_matrix(X, names)
    factors = _factor_columns(cols, groups)
    unknown = [f for f in force if f not in factors and f not in cols]
    if unknown:
        raise ModelError(f"forced variable(s) not among the candidates: {', '.join(unknown)}")
    ya = np.asarray(y, dtype=np.float64)
    current = list(factors)

    def fit_factors(fs: list[str]) -> tuple[LogisticFit, list[int]]:
        idx = [j for f in fs for j in factors[f]]
        fit = fit_logistic(Xa[:, idx], ya, names=[cols[j] for j in idx], weights=weights, firth=firth)
        return fit, idx

    fit, idx = fit_factors(current)
    steps: list[dict[str, object]] = []
    w = np.ones_like(ya) if weights is None else np.asarray(weights, dtype=np.float64)
    while True:
        removable = [f for f in current if f not in force]
        if not removable:
            break
        D = np.column_stack([np.ones(Xa.shape[0]), Xa[:, idx]])
        full = fit.loglik_penalised
        trials = []
        for f in removable:
            drop = [1 + idx.index(j) for j in factors[f]]
            lr = max(0.0, 2.0 * (full - restricted_loglik(D, ya, w, fit.coef, drop, firth=firth)))
            df = len(drop)
            trials.append((f, df, lr, float(special.chdtrc(df, lr))))
        choice = _drop_decision(trials, rule, alpha)
        if choice is None:
            break
        f, df, chi2, p = choice
        steps.append({"removed": f, "d.f.": df, "Chi-Sq": chi2, "p": p,
                      "AIC change": chi2 - 2.0 * df,
                      "test": "penalised LR" if firth else "LR"})
        current.remove(f)
        if not current:
            break
        fit, idx = fit_factors(current)
    kept = tuple(current)
    dropped = tuple(str(s["removed"]) for s in steps)
    return SelectionResult(kept=kept, dropped=dropped, step_rows=tuple(steps),
                           fit=fit if current else None,
                           rule=rule, alpha=alpha, test="penalised LR" if firth else "LR")


def pooled_wald(coefs: FloatArray, covs: FloatArray) -> tuple[float, float, float]:
    """Rubin's-rules Wald test (D1) that a set of k coefficients is zero over m imputations.

    ``coefs`` (m, k), ``covs`` (m, k, k).  Returns D1, its p-value on F(k, v), and ``k * D1`` (the
    chi-square-scale statistic).  Li, Raghunathan & Rubin (1991), with their denominator
    degrees of freedom; Wood, White & Royston (2008) recommend it for selection after
    multiple imputation.
    """
    Q = np.asarray(coefs, dtype=np.float64)
    U = np.asarray(covs, dtype=np.float64)
    m, k = Q.shape
    qbar = Q.mean(axis=0)
    ubar = U.mean(axis=0)
    uinv = np.linalg.inv(ubar)
    if m > 1:
        dev = Q - qbar
        Bm = dev.T @ dev / (m - 1)
        r1 = float((1.0 + 1.0 / m) * np.trace(Bm @ uinv) / k)
    else:
        r1 = 0.0
    d1 = float(qbar @ uinv @ qbar) / (k * (1.0 + r1))
    if r1 <= 1e-12:
        return d1, float(special.chdtrc(k, k * d1)), k * d1
    t = k * (m - 1)
    if t > 4:
        v = 4.0 + (t - 4.0) * (1.0 + (1.0 - 2.0 / t) / r1) ** 2
    else:
        v = t * (1.0 + 1.0 / k) * (1.0 + 1.0 / r1) ** 2 / 2.0
    return d1, float(special.fdtrc(k, v, d1)), k * d1


def backward_select_pooled(
    datasets: Sequence[FloatArray],
    y: ArrayLike,
    names: Sequence[str],
    *,
    rule: str = "aic",
    alpha: float = 0.05,
    firth: bool = False,
    force: Sequence[str] = (),
    groups: Mapping[str, Sequence[str]] | None = None,
    stacked: bool = True,
) -> SelectionResult:
    """Backward elimination over ``m`` imputed data sets by pooled Wald tests (Rubin's rules).

    At each step the current model is fitted on every imputed data set and each factor is
    tested by the D1 statistic (:func:`pooled_wald`); ``rule="aic"`` removes the factor with
    the smallest ``k D1 - 2 k`` when <= 0, ``rule="p"`` the one with the largest p when
    > ``alpha`` (Wood, White & Royston, Stat Med 2008).  Wald statistics do not depend on the
    units of a predictor.  One data set (``m = 1``) falls back to :func:`backward_select`.

    ``stacked`` (Firth only) fits the ``m`` data sets of each step at once
    (:func:`~crsscore.modeling._batched.firth_fit_stacked`); ``stacked=False`` is the reference
    path of one :func:`fit_logistic` per data set, equal to rounding (tests/modeling).
    """
    _check_rule(rule)
    if len(datasets) == 1:
        return backward_select(datasets[0], y, names, rule=rule, alpha=alpha, firth=firth,
                               force=force, groups=groups)
    return drive_firth(backward_select_pooled_steps(
        datasets, y, names, rule=rule, alpha=alpha, firth=firth, force=force, groups=groups,
        stacked=stacked))


#: A request for stacked Firth fits: ``("firth", (designs (K, n, p) with the intercept
#: column, y (n,)))``, answered with a :class:`~crsscore.modeling._batched.StackedFit`.
FirthRequest = tuple[str, tuple[FloatArray, FloatArray]]


def drive_firth(steps: Generator[FirthRequest, Any, _T]) -> _T:
    """Run a generator that asks for stacked Firth fits, answering each request at once."""
    from crsscore.modeling._batched import firth_fit_stacked

    try:
        req = next(steps)
        while True:
            D, y = req[1]
            req = steps.send(firth_fit_stacked(D, y))
    except StopIteration as stop:
        out: _T = stop.value
        return out


def backward_select_pooled_steps(
    datasets: Sequence[FloatArray],
    y: ArrayLike,
    names: Sequence[str],
    *,
    rule: str = "aic",
    alpha: float = 0.05,
    firth: bool = False,
    force: Sequence[str] = (),
    groups: Mapping[str, Sequence[str]] | None = None,
    stacked: bool = True,
) -> Generator[FirthRequest, Any, SelectionResult]:
    """:func:`backward_select_pooled` (m > 1) as a generator: the stacked Firth fits of each
    step are yielded as requests ``(designs, y)`` and their :class:`StackedFit` is sent back,
    so a driver can fit the steps of many resamples in one batch (the bootstrap)."""
    _check_rule(rule)
    cols = [str(c) for c in names]
    factors = _factor_columns(cols, groups)
    unknown = [f for f in force if f not in factors and f not in cols]
    if unknown:
        raise ModelError(f"forced variable(s) not among the candidates: {', '.join(unknown)}")
    ya = np.asarray(y, dtype=np.float64)
    current = list(factors)
    steps: list[dict[str, object]] = []
    # the m data sets stacked once; each step's designs are a column subset of it
    stack = np.stack(datasets) if firth and stacked else None
    while True:
        removable = [f for f in current if f not in force]
        if not removable:
            break
        idx = [j for f in current for j in factors[f]]
        if stack is not None:
            st = yield _stacked_firth_request(stack, ya, idx, check=not steps)
            if not st.converged.all():
                warnings.warn("Firth logistic regression did not converge in 50 iterations",
                              ConvergenceWarning, stacklevel=2)
            coefs, covs = st.coef, st.cov
        else:
            fits = [fit_logistic(Xi[:, idx], ya, firth=firth) for Xi in datasets]
            coefs = np.stack([f.coef for f in fits])
            covs = np.stack([f.cov for f in fits])
        trials = _pooled_trials(removable, factors, idx, coefs, covs, vectorised=firth and stacked)
        choice = _drop_decision(trials, rule, alpha)
        if choice is None:
            break
        f, df, chi2, p = choice
        steps.append({"removed": f, "d.f.": df, "Chi-Sq": chi2, "p": p,
                      "AIC change": chi2 - 2.0 * df, "test": f"pooled Wald (D1, m={len(datasets)})"})
        current.remove(f)
        if not current:
            break
    return SelectionResult(kept=tuple(current), dropped=tuple(str(s["removed"]) for s in steps),
                           step_rows=tuple(steps), fit=None, rule=rule, alpha=alpha,
                           test=f"pooled Wald (D1, m={len(datasets)})")


def _pooled_trials(removable: list[str], factors: Mapping[str, Sequence[int]], idx: list[int],
                   coefs: FloatArray, covs: FloatArray, *, vectorised: bool
                   ) -> list[tuple[str, int, float, float]]:
    """(factor, d.f., chi-square, p) of the pooled Wald test (:func:`pooled_wald`) of every
    removable factor; ``vectorised`` tests the 1-d.f. factors together (equal to rounding)."""
    pos = {f: [1 + idx.index(j) for j in factors[f]] for f in removable}
    one = [f for f in removable if len(pos[f]) == 1] if vectorised else []
    done: dict[str, tuple[str, int, float, float]] = {}
    if one:
        cols = [pos[f][0] for f in one]
        chi2, pv = _pooled_wald_1df(coefs[:, cols], np.diagonal(covs, axis1=1, axis2=2)[:, cols])
        done = {f: (f, 1, c, q) for f, c, q in zip(one, chi2.tolist(), pv.tolist(), strict=True)}
    for f in removable:
        if f not in done:
            _, q, c = pooled_wald(coefs[:, pos[f]], covs[:, pos[f]][:, :, pos[f]])
            done[f] = (f, len(pos[f]), c, q)
    return [done[f] for f in removable]


def _pooled_wald_1df(Q: FloatArray, U: FloatArray) -> tuple[FloatArray, FloatArray]:
    """:func:`pooled_wald` of k single coefficients at once: ``Q``, ``U`` (m, k) estimates and
    variances; returns the chi-square-scale statistics and p-values (k,)."""
    m = Q.shape[0]
    qbar = Q.mean(axis=0)
    uinv = 1.0 / U.mean(axis=0)
    if m > 1:
        dev = Q - qbar
        r1 = (1.0 + 1.0 / m) * (np.sum(dev * dev, axis=0) / (m - 1) * uinv)
    else:
        r1 = np.zeros_like(qbar)
    d1 = qbar * uinv * qbar / (1.0 + r1)
    t = m - 1
    small = r1 <= 1e-12  # no between-imputation variance: the chi-square reference
    rs = np.where(small, 1.0, r1)  # (the F's d.f. are not used there)
    if t > 4:
        v = 4.0 + (t - 4.0) * (1.0 + (1.0 - 2.0 / t) / rs) ** 2
    else:
        v = t * 2.0 * (1.0 + 1.0 / rs) ** 2 / 2.0
    pv = np.where(small, special.chdtrc(1, d1), special.fdtrc(1, np.where(small, 1.0, v), d1))
    return d1, pv


def _stacked_firth_request(stack: FloatArray, y: FloatArray, idx: list[int], *,
                           check: bool) -> FirthRequest:
    """The designs of the Firth fits of columns ``idx`` on every data set (``stack``: the
    data sets stacked, (m, n, p)).

    ``check`` validates each design as :func:`fit_logistic` does (the first, largest model of
    the elimination; its column subsets cannot become constant or collinear).
    """
    from crsscore.modeling._batched import check_stacked

    X = stack[:, :, idx]
    if check:
        return "firth", (check_stacked(X, y, [f"x{i + 1}" for i in range(len(idx))]), y)
    D = np.empty((X.shape[0], X.shape[1], X.shape[2] + 1))
    D[:, :, 0] = 1.0
    D[:, :, 1:] = X
    return "firth", (D, y)


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
    weights: ArrayLike | None = None,
    groups: ArrayLike | None = None,
) -> LassoResult:
    """L1 logistic regression, penalty chosen by stratified k-fold CV of the log-loss.

    Predictors are standardised before fitting (the penalty treats them alike) and the
    coefficients are returned on the original scale.  ``weights`` are row weights (``1/m``
    for ``m`` stacked imputations) and ``groups`` keeps rows of one patient in one fold.
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
    w = np.ones_like(ya) if weights is None else np.asarray(weights, dtype=np.float64)
    mu = np.average(Xa, axis=0, weights=w)
    sd = np.sqrt(np.average((Xa - mu) ** 2, axis=0, weights=w))
    if np.any(sd == 0):
        raise ModelError("lasso_cv: constant column(s): " + ", ".join(c for c, s in zip(cols, sd, strict=True) if s == 0))
    Z = (Xa - mu) / sd
    cv: Any
    if groups is None:
        cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    else:
        # folds of patients (stratified on the patient's outcome), each patient's rows together
        g = np.asarray(groups)
        ug, first = np.unique(g, return_index=True)
        pf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        where = np.searchsorted(ug, g)
        cv = [(np.flatnonzero(~np.isin(where, te)), np.flatnonzero(np.isin(where, te)))
              for _, te in pf.split(np.zeros(ug.size), ya[first].astype(int))]
    model = LogisticRegressionCV(
        Cs=Cs, cv=cv, l1_ratios=(1.0,), solver="saga", scoring="neg_log_loss", max_iter=5000,
        tol=1e-6, random_state=seed, use_legacy_attributes=False,
    )
    model.fit(Z, ya.astype(int), sample_weight=w)
    b = np.asarray(model.coef_, dtype=np.float64).reshape(-1)
    a = float(np.asarray(model.intercept_).reshape(-1)[0])
    slopes = b / sd
    intercept = a - float(np.sum(slopes * mu))
    coef = pd.Series([intercept, *slopes], index=["Intercept", *cols], dtype=np.float64)
    kept = tuple(c for c, v in zip(cols, b, strict=True) if abs(v) > 1e-10)
    C = float(np.asarray(model.C_).reshape(-1)[0])
    return LassoResult(C=C, kept=kept, coef=coef, folds=folds, seed=seed)
