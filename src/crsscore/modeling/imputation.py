"""Multiple imputation by chained equations and Rubin's rules.

Imputation uses scikit-learn's :class:`~sklearn.impute.IterativeImputer` with
``sample_posterior=True`` (a Bayesian ridge model per variable, drawing imputations from the
posterior predictive distribution), run ``m`` times with seeds ``seed, seed + 1, ...``: this
is MICE.  The outcome is included in the imputation model when fitting (Moons et al., J Clin
Epidemiol 2006), and excluded when completing data of new patients whose outcome is unknown.

Estimates from the ``m`` completed data sets are pooled by Rubin's rules: the pooled estimate
is the mean, its variance ``T = W + (1 + 1/m) B`` (W within, B between imputations), with
Rubin's degrees of freedom and the fraction of missing information per coefficient.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sklearn.exceptions import ConvergenceWarning as SkConvergenceWarning
from sklearn.experimental import enable_iterative_imputer  # noqa: F401  (activates the API)
from sklearn.impute import IterativeImputer

from crsscore.errors import ModelError

FloatArray = npt.NDArray[np.float64]


def _imputer(seed: int, max_iter: int) -> IterativeImputer:
    return IterativeImputer(sample_posterior=True, random_state=seed, max_iter=max_iter,
                            skip_complete=True, keep_empty_features=False)


def impute_chained(X: FloatArray, *, y: npt.ArrayLike | None = None, m: int = 5, seed: int = 0,
                   max_iter: int = 10) -> list[FloatArray]:
    """``m`` completed copies of ``X`` (NaN = missing); ``y``, if given, joins the model.

    A column that is entirely missing cannot be imputed and raises :class:`ModelError`.
    Without missing values the single original array is returned (``m`` is then 1).
    """
    X = np.asarray(X, dtype=np.float64)
    if not np.isnan(X).any():
        return [X.copy()]
    empty = np.flatnonzero(np.isnan(X).all(axis=0))
    if empty.size:
        raise ModelError(f"column(s) {', '.join(map(str, empty))} have no observed value; "
                         "they cannot be imputed")
    if m < 1:
        raise ModelError(f"the number of imputations must be at least 1, got {m}")
    data = X if y is None else np.column_stack([X, np.asarray(y, dtype=np.float64)])
    out: list[FloatArray] = []
    for i in range(m):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SkConvergenceWarning)
            done = np.asarray(_imputer(seed + i, max_iter).fit_transform(data), dtype=np.float64)
        out.append(done[:, : X.shape[1]])
    return out


@dataclass
class FittedImputer:
    """An imputer fitted on training predictors only, to complete new patients' data."""

    imputer: IterativeImputer | None
    n_features: int

    def transform(self, X: FloatArray) -> FloatArray:
        X = np.asarray(X, dtype=np.float64)
        if self.imputer is None or not np.isnan(X).any():
            return X.copy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SkConvergenceWarning)
            return np.asarray(self.imputer.transform(X), dtype=np.float64)


def fit_prediction_imputer(X: FloatArray, *, seed: int = 0, max_iter: int = 10) -> FittedImputer:
    """Imputer for completing new data (no outcome in its model; posterior mean, not a draw)."""
    X = np.asarray(X, dtype=np.float64)
    if not np.isnan(X).any():
        return FittedImputer(None, X.shape[1])
    imp = IterativeImputer(sample_posterior=False, random_state=seed, max_iter=max_iter,
                           keep_empty_features=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkConvergenceWarning)
        imp.fit(X)
    return FittedImputer(imp, X.shape[1])


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
