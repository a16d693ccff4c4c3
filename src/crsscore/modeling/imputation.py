"""Multiple imputation by chained equations and Rubin's rules.

Two engines give the same method, MICE with Bayesian linear regression per variable:

``"norm"`` (default)
    crsscore's numpy implementation of R mice's ``norm`` method (van Buuren, *Flexible
    Imputation of Missing Data*, algorithm 3.1): for each incomplete variable in turn, a
    ridge-stabilised linear regression on all other variables over the rows where it is
    observed; sigma^2 drawn from its scaled inverse chi-squared posterior, beta from its normal
    posterior, and the missing values drawn from the posterior predictive.  ``max_iter``
    cycles, starting from the observed means.  It exists because scikit-learn's
    IterativeImputer costs about 1 s per imputation on 125 x 8 (validation overhead), which
    made the bootstrap of the whole pipeline 50x slower (see BENCHMARKS.md).
``"sklearn"``
    scikit-learn's :class:`~sklearn.impute.IterativeImputer` with ``sample_posterior=True``
    (Bayesian ridge), kept as the well-known reference.

``m`` imputations use seeds ``seed, seed + 1, ...``.  The outcome is included in the
imputation model when fitting (Moons et al., J Clin Epidemiol 2006), and excluded when
completing data of new patients whose outcome is unknown (:func:`fit_prediction_imputer`
then stores conditional-mean regressions fitted on the training data).

Estimates from the ``m`` completed data sets are pooled by Rubin's rules: the pooled estimate
is the mean, its variance ``T = W + (1 + 1/m) B`` (W within, B between imputations), with
Rubin's degrees of freedom and the fraction of missing information per coefficient.
"""

from __future__ import annotations

import warnings
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from crsscore._types import FloatArray
from crsscore.errors import ModelError

_T = TypeVar("_T")


def _sk_imputer(seed: int, max_iter: int) -> Any:
    # scikit-learn takes seconds to import: only the "sklearn" engine needs it
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401  (activates the API)
    from sklearn.impute import IterativeImputer

    return IterativeImputer(sample_posterior=True, random_state=seed, max_iter=max_iter,
                            skip_complete=True, keep_empty_features=False)


_RIDGE = 1e-5  # mice's default ridge penalty, relative to the diagonal of X'X


def _design(X: FloatArray, j: int) -> FloatArray:
    """Intercept and every column of ``X`` but ``j`` (``column_stack([1, delete(X, j)])``)."""
    n, p = X.shape
    D = np.empty((n, p))
    D[:, 0] = 1.0
    D[:, 1:j + 1] = X[:, :j]
    D[:, j + 1:] = X[:, j + 1:]
    return D


def _regress(D: FloatArray, t: FloatArray) -> tuple[FloatArray, FloatArray, float, int]:
    """Ridge-stabilised least squares: beta, (X'X + k diag)^-1, residual SS, df."""
    xtx = D.T @ D
    xtx = xtx + _RIDGE * np.diag(np.diag(xtx)) + 1e-12 * np.eye(xtx.shape[0])
    v = np.linalg.inv(xtx)
    v = (v + v.T) / 2
    beta = v @ (D.T @ t)
    resid = t - D @ beta
    df = max(1, D.shape[0] - D.shape[1])
    return beta, v, float(resid @ resid), df


def _norm_draw(X: FloatArray, miss: npt.NDArray[np.bool_], rng: np.random.Generator,
               max_iter: int) -> FloatArray:
    """One chained-equations imputation by Bayesian linear regression (mice ``norm``)."""
    X = X.copy()
    cols = [j for j in range(X.shape[1]) if miss[:, j].any()]
    means = np.nanmean(np.where(miss, np.nan, X), axis=0)
    for j in cols:
        X[miss[:, j], j] = means[j]
    for _ in range(max_iter):
        for j in cols:
            obs = ~miss[:, j]
            D = _design(X, j)
            beta, v, ss, df = _regress(D[obs], X[obs, j])
            sigma = np.sqrt(ss / rng.chisquare(df)) if ss > 0 else 0.0
            chol = np.linalg.cholesky(v + 1e-14 * np.eye(v.shape[0]))
            beta_star = beta + sigma * chol @ rng.standard_normal(beta.size)
            m = miss[:, j]
            X[m, j] = D[m] @ beta_star + sigma * rng.standard_normal(int(m.sum()))
    return X


def _norm_draw_batch(X: FloatArray, miss: npt.NDArray[np.bool_], seeds: Sequence[int],
                     max_iter: int) -> FloatArray:
    """:func:`_norm_draw` for K chains at once: data and masks (K, n, p), one seed per chain.

    Chains may differ in data and missingness (the imputations of many bootstrap resamples).
    Each chain draws from its own generator in the order :func:`_norm_draw` does, and the
    linear algebra of the K chains is stacked, so chain ``k`` equals
    ``_norm_draw(X[k], miss[k], default_rng(seeds[k]), max_iter)`` to rounding
    (``tests/modeling/test_stacked.py``, ``tests/modeling/test_imputation.py``).

    The Gram matrix of ``[1, X]`` over all rows is kept in step (a column's imputation
    changes one row and column of it); a column's regression takes it minus the Gram matrix
    of the few rows where that column is missing, gathered with the new values drawn there.
    """
    K, n, p = X.shape
    P = p + 1
    has: npt.NDArray[np.bool_] = np.asarray(miss.any(axis=1))  # (K, p): chain k imputes j
    cols = [j for j in range(p) if has[:, j].any()]
    obsf = (~miss).astype(np.float64)
    nobs = obsf.sum(axis=1)
    means = np.where(miss, 0.0, X).sum(axis=1) / np.where(nobs > 0, nobs, 1.0)
    # A = [1, X] (K, n, P), flat in ``buf``, then a row of zeros that the padding gathers and
    # one element that takes the padding's writes
    end = K * n * P
    buf = np.zeros(end + P + 1)
    A = buf[:end].reshape(K, n, P)
    A[:, :, 0] = 1.0
    A[:, :, 1:] = np.where(miss, means[:, None, :], X)
    rows, valid = _missing_rows(miss, cols)
    chi, zz, ee = _chain_draws(has, cols, nobs, valid, seeds, max_iter)
    eye = np.eye(p)
    diag = np.arange(p) * (p + 1)  # the diagonal of a flattened (p, p) matrix
    cells = np.arange(P)
    # regression of column j on the others (intercept first): rows and columns ``keep`` of
    # the Gram matrix over the rows where j is observed, whose column j + 1 gives X't; the
    # rows j misses, as flat offsets into ``buf`` (gathered, and written back)
    keeps = [np.array([0, *[q + 1 for q in range(p) if q != j]]) for j in cols]
    # X'X then X't, flattened: one take from the flattened Gram matrix
    cuts = [np.concatenate([(keep[:, None] * P + keep).ravel(), keep * P + j + 1])
            for keep, j in zip(keeps, cols, strict=True)]
    obsT = np.ascontiguousarray(np.moveaxis(obsf, 2, 1))  # (K, p, n)
    starts = np.where(valid, (np.arange(K)[:, None, None] * n + rows) * P, end)  # (K, nc, R)
    gather = [starts[:, c, :, None] + cells for c in range(len(cols))]
    put = [np.where(valid[:, c], starts[:, c] + j + 1, end + P) for c, j in enumerate(cols)]
    G = np.matmul(np.swapaxes(A, 1, 2), A)  # over all rows, kept in step with A
    for it in range(max_iter):
        for c, j in enumerate(cols):
            keep = keeps[c]
            Am = buf[gather[c]]  # (K, R, P): the rows where j is missing
            Gobs = G - np.matmul(np.swapaxes(Am, 1, 2), Am)
            cut = Gobs.reshape(K, P * P)[:, cuts[c]]
            xtx = cut[:, : p * p]
            dg = xtx[:, diag]
            xtx[:, diag] = (dg + _RIDGE * dg) + 1e-12
            v = np.linalg.inv(xtx.reshape(K, p, p))
            v = (v + np.swapaxes(v, 1, 2)) / 2
            beta = np.matmul(v, cut[:, p * p:, None])[:, :, 0]
            chol = np.linalg.cholesky(v + 1e-14 * eye)
            # residuals (their opposite: fitted minus t, coefficient -1 on column j) and the
            # drawn values, as products over A
            coefs = np.zeros((K, P, 1))
            coefs[:, keep, 0] = beta
            coefs[:, j + 1, 0] = -1.0
            resid = np.matmul(A, coefs)[:, :, 0]
            resid *= obsT[:, j]
            ss = np.einsum("kn,kn->k", resid, resid)
            coefs[:, j + 1, 0] = 0.0
            sigma = np.where(ss > 0, np.sqrt(np.where(ss > 0, ss, 0.0) / chi[it, c]), 0.0)
            coefs[:, keep, 0] = beta + sigma[:, None] * np.matmul(chol, zz[it, c][:, :, None])[:, :, 0]
            buf[put[c]] = np.matmul(Am, coefs)[:, :, 0] + sigma[:, None] * ee[it, c]
            g = np.matmul(A[:, None, :, j + 1], A)[:, 0]
            G[:, j + 1, :] = g
            G[:, :, j + 1] = g
    return A[:, :, 1:]


def _missing_rows(miss: npt.NDArray[np.bool_], cols: list[int]
                  ) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.bool_]]:
    """The rows where each chain misses each column of ``cols``, ascending, padded: indices
    (K, nc, R) and which are real (R the largest count)."""
    mc = np.moveaxis(miss[:, :, cols], 2, 1)  # (K, nc, n)
    count = mc.sum(axis=2)
    R = max(1, int(count.max(initial=0)))
    valid = np.arange(R) < count[:, :, None]
    order = np.argsort(~mc, axis=2, kind="stable")[:, :, :R]  # missing rows first, in order
    return np.where(valid, order, 0), valid


def _chain_draws(has: npt.NDArray[np.bool_], cols: list[int], nobs: FloatArray,
                 valid: npt.NDArray[np.bool_], seeds: Sequence[int], max_iter: int
                 ) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Every chain's draws, in :func:`_norm_draw`'s order (they do not depend on the data):
    chi-square (max_iter, cols, K), coefficient normals (.., K, p), and the normals of the
    missing values (.., K, R) in the layout of :func:`_missing_rows` (``valid``, (K, cols, R)).

    The normals of beta* and of the missing values, drawn one after the other in
    :func:`_norm_draw`, come from one call (the generator's normals have no carried state).
    All draws are collected in draw order (chain, cycle, column) and put in place by boolean
    masks laid out in that order, so the per-chain work is only the generator calls.
    """
    K, p = has.shape
    nc, R = len(cols), valid.shape[2]
    hc = has[:, cols]  # (K, nc): chain k imputes column cols[c]
    rows = valid.sum(axis=2)
    df = np.maximum(1, nobs[:, cols].astype(np.int64) - p)
    chis: list[float] = []
    normals: list[FloatArray] = []
    add_chi, add_normal = chis.append, normals.append
    # chains often share a seed (the same imputation of many resamples): one generator per
    # seed, reset to the seed's initial state for each chain (cheaper than seeding anew)
    generators: dict[int, tuple[np.random.Generator, Mapping[str, Any]]] = {}
    for k in np.flatnonzero(hc.any(axis=1)).tolist():
        plan = [(int(df[k, c]), p + int(rows[k, c])) for c in np.flatnonzero(hc[k]).tolist()]
        if seeds[k] in generators:
            rng, start = generators[seeds[k]]
            rng.bit_generator.state = start
        else:
            rng = np.random.default_rng(seeds[k])
            generators[seeds[k]] = (rng, rng.bit_generator.state)
        chisquare, normal = rng.chisquare, rng.standard_normal
        for _ in range(max_iter):
            for d, size in plan:
                add_chi(chisquare(d))
                add_normal(normal(size))
    # (chain, cycle, column, ...) is the draw order; the masks select the draws made
    chi = np.ones((K, max_iter, nc))
    zz = np.zeros((K, max_iter, nc, p))
    ee = np.zeros((K, max_iter, nc, R))
    if chis:
        chi[np.broadcast_to(hc[:, None, :], chi.shape)] = chis
        sizes = np.stack([np.where(hc, p, 0), rows], axis=2)  # (K, nc, 2): [p, rows]
        sizes = np.broadcast_to(sizes[:, None], (K, max_iter, nc, 2)).reshape(-1)
        allz = np.concatenate(normals)
        isz = np.repeat(np.tile(np.array([True, False]), sizes.size // 2), sizes)
        zz[np.broadcast_to(hc[:, None, :, None], zz.shape)] = allz[isz]
        ee[np.broadcast_to(valid[:, None], ee.shape)] = allz[~isz]
    return (np.moveaxis(chi, 0, 2), np.moveaxis(zz, 0, 2), np.moveaxis(ee, 0, 2))


#: A request for batched MICE chains: data and masks (K, n, p), seeds, iterations.
MiceRequest = tuple[str, tuple[FloatArray, npt.NDArray[np.bool_], list[int], int]]


def drive_mice(steps: Generator[MiceRequest, Any, _T]) -> _T:
    """Run a generator of MICE requests, answering each at once."""
    try:
        req = next(steps)
        while True:
            X, miss, seeds, max_iter = req[1]
            req = steps.send(_norm_draw_batch(X, miss, seeds, max_iter))
    except StopIteration as stop:
        out: _T = stop.value
        return out


def impute_chained(X: FloatArray, *, y: npt.ArrayLike | None = None, m: int = 5, seed: int = 0,
                   max_iter: int = 10, engine: str = "norm",
                   stacked: bool = True) -> list[FloatArray]:
    """``m`` completed copies of ``X`` (NaN = missing); ``y``, if given, joins the model.

    A column that is entirely missing cannot be imputed and raises :class:`ModelError`.
    Without missing values the single original array is returned (``m`` is then 1).
    ``stacked`` runs the m chains of the ``"norm"`` engine in lock-step
    (:func:`_norm_draw_batch`); ``stacked=False`` is the reference, one chain at a time.
    """
    return drive_mice(impute_chained_steps(X, y=y, m=m, seed=seed, max_iter=max_iter,
                                           engine=engine, stacked=stacked))


def impute_chained_steps(X: FloatArray, *, y: npt.ArrayLike | None = None, m: int = 5,
                         seed: int = 0, max_iter: int = 10, engine: str = "norm",
                         stacked: bool = True) -> Generator[MiceRequest, Any, list[FloatArray]]:
    """:func:`impute_chained` as a generator: the stacked chains are yielded as a request
    ``("mice", (data, masks, seeds, max_iter))`` answered with the completed (m, n, p) data, so
    a driver can run the chains of many resamples in one batch (the bootstrap)."""
    X = np.asarray(X, dtype=np.float64)
    if not np.isnan(X).any():
        return [X.copy()]
    empty = np.flatnonzero(np.isnan(X).all(axis=0))
    if empty.size:
        raise ModelError(f"column(s) {', '.join(map(str, empty))} have no observed value; "
                         "they cannot be imputed")
    if m < 1:
        raise ModelError(f"the number of imputations must be at least 1, got {m}")
    if engine not in ("norm", "sklearn"):
        raise ModelError(f"imputation engine must be 'norm' or 'sklearn', got {engine!r}")
    data = X if y is None else np.column_stack([X, np.asarray(y, dtype=np.float64)])
    miss = np.isnan(data)
    out: list[FloatArray] = []
    if engine == "norm" and stacked:
        done_all = yield ("mice", (np.broadcast_to(data, (m, *data.shape)),
                                   np.broadcast_to(miss, (m, *miss.shape)),
                                   [seed + i for i in range(m)], max_iter))
        return [np.ascontiguousarray(done_all[i, :, : X.shape[1]]) for i in range(m)]
    for i in range(m):
        if engine == "norm":
            done = _norm_draw(data, miss, np.random.default_rng(seed + i), max_iter)
        else:
            from sklearn.exceptions import ConvergenceWarning as SkConvergenceWarning

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", SkConvergenceWarning)
                done = np.asarray(_sk_imputer(seed + i, max_iter).fit_transform(data),
                                  dtype=np.float64)
        out.append(done[:, : X.shape[1]])
    return out


@dataclass
class FittedImputer:
    """Completes new patients' predictors with conditional means learned on training data.

    For each column, a regression on all other columns (fitted on the completed training
    data); missing entries start at the training means and are updated in ``max_iter``
    chained cycles.  Deterministic: no draws.
    """

    means: FloatArray
    betas: list[FloatArray]
    max_iter: int = 10

    @cached_property
    def _regressions(self) -> FloatArray:
        """Each column's regression as a row of coefficients on ``[x, 1]``: the other columns
        (its own coefficient is 0), then the intercept."""
        return np.array([np.append(np.insert(b[1:], j, 0.0), b[0])
                         for j, b in enumerate(self.betas)])

    def transform(self, X: FloatArray) -> FloatArray:
        X = np.array(X, dtype=np.float64, copy=True)
        miss = np.isnan(X)
        if not miss.any():
            return X
        p = X.shape[1]
        cols = np.flatnonzero(miss.any(axis=0)).tolist()
        # the incomplete rows as [x, 1], those missing more than one value first: a row
        # missing one value has all its others observed, so that value is final after the
        # first cycle, and later cycles update only the first ``m`` rows
        count = np.count_nonzero(miss, axis=1)
        rows = np.concatenate([np.flatnonzero(count > 1), np.flatnonzero(count == 1)])
        m = int(np.count_nonzero(count > 1))
        S = np.ones((rows.size, p + 1))
        S[:, :p] = np.where(miss[rows], self.means, X[rows])
        holes = miss[rows]
        coef = self._regressions
        new = np.empty(rows.size)
        steps = [(S, coef[j], new, S[:, j], holes[:, j]) for j in cols]
        later = [(S[:m], coef[j], new[:m], S[:m, j], holes[:m, j])
                 for j in cols if holes[:m, j].any()]
        for cycle in range(self.max_iter):
            for D, b, out, target, where in steps if cycle == 0 else later:
                np.copyto(target, np.dot(D, b, out=out), where=where)
        X[rows] = S[:, :p]
        return X


def fit_prediction_imputer(X: FloatArray, *, seed: int = 0, max_iter: int = 10,
                           stacked: bool = True) -> FittedImputer:
    """Imputer for completing new data (no outcome in its model; conditional means)."""
    return drive_mice(fit_prediction_imputer_steps(X, seed=seed, max_iter=max_iter,
                                                   stacked=stacked))


def fit_prediction_imputer_steps(X: FloatArray, *, seed: int = 0, max_iter: int = 10,
                                 stacked: bool = True
                                 ) -> Generator[MiceRequest, Any, FittedImputer]:
    """:func:`fit_prediction_imputer` as a generator of MICE requests (see
    :func:`impute_chained_steps`)."""
    X = np.asarray(X, dtype=np.float64)
    p = X.shape[1]
    if np.isnan(X).all(axis=0).any():
        raise ModelError("a column has no observed value; it cannot be imputed")
    done = (yield from impute_chained_steps(X, m=1, seed=seed, max_iter=max_iter,
                                            stacked=stacked))[0]
    means = np.nanmean(X, axis=0)
    betas = [_regress(_design(done, j), done[:, j])[0] for j in range(p)]
    return FittedImputer(means=means, betas=betas, max_iter=max_iter)


@dataclass(frozen=True)
class PooledEstimate:
    """Rubin's-rules pooled estimate."""

    coef: FloatArray
    cov: FloatArray
    within: FloatArray  # diagonal of W
    between: FloatArray  # diagonal of B
    df: FloatArray
    fmi: FloatArray  # fraction of missing information
    m: int

    @property
    def se(self) -> FloatArray:
        return np.sqrt(np.diag(self.cov))


def rubin_pool(coefs: npt.ArrayLike, covs: npt.ArrayLike) -> PooledEstimate:
    """Pool ``m`` estimates ``coefs`` (m, p) with covariances ``covs`` (m, p, p).

    >>> r = rubin_pool([[1.0], [3.0]], [[[1.0]], [[1.0]]])
    >>> float(r.coef[0]), float(r.cov[0, 0])
    (2.0, 4.0)
    """
    Q = np.asarray(coefs, dtype=np.float64)
    U = np.asarray(covs, dtype=np.float64)
    m = Q.shape[0]
    qbar = Q.mean(axis=0)
    W = U.mean(axis=0)
    if m == 1:
        z = np.zeros(Q.shape[1])
        return PooledEstimate(qbar, W, np.diag(W).copy(), z, np.full(Q.shape[1], np.inf), z, 1)
    dev = Q - qbar
    Bm = dev.T @ dev / (m - 1)
    T = W + (1 + 1 / m) * Bm
    w, b = np.diag(W), np.diag(Bm)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = (1 + 1 / m) * b / w
        df = (m - 1) * (1 + 1 / r) ** 2
        fmi = (r + 2 / (df + 3)) / (r + 1)
    return PooledEstimate(qbar, T, w, b, df, fmi, m)
