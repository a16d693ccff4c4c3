"""The stacked (batched over imputations) path of the derivation equals the reference path.

Issue 18: the bootstrap of the whole pipeline fits the resamples of a chunk together: the MICE
chains of all their imputations in lock-step, and the Firth fits of every selection step and
of the continuous model of all of them in one batch (``derivation.fit_many``).  The
per-resample, per-imputation path (``reference_path()``) is kept as the reference; both must
give the same results to 1e-10 on the same resamples, whatever the number of local jobs or
the Dask scheduler.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from crsscore.data.simulate import simulate_cohort
from crsscore.modeling._batched import firth_fit_stacked
from crsscore.modeling.derivation import DerivationSettings, reference_path
from crsscore.modeling.imputation import impute_chained
from crsscore.modeling.logistic import fit_logistic
from crsscore.modeling.selection import backward_select_pooled
from crsscore.workflow import derive, validate_pipeline

TOL = 1e-10


def _designs(seed: int, K: int = 4, n: int = 120, p: int = 5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(K, n, p)) * np.array([1.0, 10.0, 1000.0, 0.01, 1.0])[:p]
    lp = -1.5 + X[0, :, 0] + 0.002 * X[0, :, 2]
    y = (rng.random(n) < 1 / (1 + np.exp(-lp))).astype(np.float64)
    return X, y


def test_stacked_firth_equals_single_fits() -> None:
    X, y = _designs(1)
    D = np.concatenate([np.ones((*X.shape[:2], 1)), X], axis=2)
    st = firth_fit_stacked(D, y)
    for k in range(X.shape[0]):
        ref = fit_logistic(X[k], y, firth=True)
        np.testing.assert_allclose(st.coef[k], ref.coef, rtol=0, atol=TOL)
        np.testing.assert_allclose(st.cov[k], ref.cov, rtol=TOL, atol=TOL * np.abs(ref.cov).max())
        assert st.loglik[k] == pytest.approx(ref.loglik, abs=TOL)
        assert st.loglik_penalised[k] == pytest.approx(ref.loglik_penalised, abs=TOL)
        assert bool(st.converged[k]) == ref.converged and int(st.n_iter[k]) == ref.n_iter


def test_stacked_firth_under_separation_equals_single_fit() -> None:
    x = np.array([-2.0, -1.5, -1.0, -0.5, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0])
    y = (x > 0).astype(np.float64)
    X = np.stack([x[:, None], 2 * x[:, None] + 0.1])
    D = np.concatenate([np.ones((2, 10, 1)), X], axis=2)
    st = firth_fit_stacked(D, y)
    for k in range(2):
        np.testing.assert_allclose(st.coef[k], fit_logistic(X[k], y, firth=True).coef,
                                   rtol=0, atol=TOL)


def test_stacked_imputation_equals_one_chain_at_a_time() -> None:
    rng = np.random.default_rng(2)
    X = rng.normal(size=(125, 7)) @ rng.normal(size=(7, 7))
    X[rng.random(X.shape) < 0.15] = np.nan
    y = (rng.random(125) < 0.2).astype(np.float64)
    a = impute_chained(X, y=y, m=5, seed=3)
    b = impute_chained(X, y=y, m=5, seed=3, stacked=False)
    for u, v in zip(a, b, strict=True):
        np.testing.assert_allclose(u, v, rtol=0, atol=TOL)


def test_stacked_pooled_selection_equals_reference() -> None:
    X, y = _designs(5, K=5, p=5)
    names = [f"x{j}" for j in range(5)]
    a = backward_select_pooled(list(X), y, names, firth=True)
    b = backward_select_pooled(list(X), y, names, firth=True, stacked=False)
    assert a.kept == b.kept and a.dropped == b.dropped
    np.testing.assert_allclose(a.steps["Chi-Sq"].to_numpy(float), b.steps["Chi-Sq"].to_numpy(float),
                               rtol=0, atol=TOL)


@pytest.fixture(scope="module")
def run() -> object:
    cohort = simulate_cohort(125, seed=3)
    settings = DerivationSettings(seed=1, n_imputations=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return derive(cohort, landmark="day7", prior_outcome="keep", settings=settings)


def _boot(run: object, **kw: object) -> object:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return validate_pipeline(run.analysis_data, run.analysis_y, run.settings,  # type: ignore[attr-defined]
                                 B=6, seed=7, reported=run.model, **kw)  # type: ignore[attr-defined,arg-type]


def test_whole_pipeline_bootstrap_stacked_equals_reference(run: object) -> None:
    """The acceptance check: the same resamples give the same indexes to 1e-10."""
    assert run.model.method_ == "firth" and run.model.m_ == 5  # type: ignore[attr-defined]
    stacked = _boot(run)
    with reference_path():
        ref = _boot(run)
    assert stacked.n_failed == ref.n_failed == 0  # type: ignore[attr-defined]
    np.testing.assert_allclose(stacked.resamples.to_numpy(float),  # type: ignore[attr-defined]
                               ref.resamples.to_numpy(float), rtol=0, atol=TOL)  # type: ignore[attr-defined]
    np.testing.assert_allclose(stacked.table.to_numpy(float),  # type: ignore[attr-defined]
                               ref.table.to_numpy(float), rtol=0, atol=TOL)  # type: ignore[attr-defined]


def test_whole_pipeline_bootstrap_does_not_depend_on_jobs_or_dask(run: object) -> None:
    serial = _boot(run)
    parallel = _boot(run, n_jobs=2)
    np.testing.assert_allclose(serial.resamples.to_numpy(float),  # type: ignore[attr-defined]
                               parallel.resamples.to_numpy(float), rtol=0, atol=TOL)  # type: ignore[attr-defined]
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, processes=False, threads_per_worker=1,
                                  dashboard_address=None) as cluster:
        dask = _boot(run, scheduler=cluster.scheduler_address)
    np.testing.assert_allclose(serial.resamples.to_numpy(float),  # type: ignore[attr-defined]
                               dask.resamples.to_numpy(float), rtol=0, atol=TOL)  # type: ignore[attr-defined]


def test_quantile_grid_equals_numpy_bit_for_bit() -> None:
    from crsscore.modeling.points import _quantile_grid

    rng = np.random.default_rng(0)
    for _ in range(300):
        n = int(rng.integers(1, 300))
        x = [rng.normal(size=n) * 10.0 ** rng.integers(-3, 4),
             rng.integers(0, 5, n).astype(float),
             np.round(rng.lognormal(size=n), 2)][int(rng.integers(0, 3))]
        g = int(rng.choice([801, 11, 2]))
        assert np.array_equal(_quantile_grid(x, g), np.unique(np.quantile(x, np.linspace(0, 1, g))))


def test_one_predictor_separation_closed_form_agrees_with_the_linear_program() -> None:
    from scipy import optimize

    from crsscore.modeling.logistic import _separation_1d

    rng = np.random.default_rng(1)
    for _ in range(400):
        n = int(rng.integers(5, 40))
        x = rng.integers(0, 12, n).astype(float) * rng.choice([1.0, -0.5, 3.0])
        y = (rng.random(n) < 1 / (1 + np.exp(-(x - 3) * rng.choice([0.2, 1.0, 5.0])))).astype(float)
        if y.sum() in (0, n) or np.ptp(x) == 0:
            continue
        D = np.column_stack([np.ones(n), x])
        A = (D / np.max(np.abs(D), axis=0)) * np.where(y == 1, 1.0, -1.0)[:, None]
        res = optimize.linprog(c=-A.sum(0), A_ub=-A, b_ub=np.zeros(n), bounds=[(-1, 1)] * 2,
                               method="highs")
        r = A @ res.x
        lp = not (float(np.max(r, initial=0.0)) <= 1e-7 or float(np.min(r)) < -2e-9)
        assert (_separation_1d(D, y) is not None) == lp


def test_stacked_ml_fits_equal_fit_logistic_and_flag_separation() -> None:
    from crsscore.modeling._batched import ml_fit_stacked

    rng = np.random.default_rng(3)
    for _ in range(60):
        n = int(rng.integers(20, 150))
        T = rng.integers(0, 20, (5, n)).astype(float)
        y = (rng.random(n) < 1 / (1 + np.exp(-(T[0] - 10) * rng.choice([0.1, 0.5, 3.0])))).astype(float)
        if y.sum() in (0, n):
            continue
        coef, exact = ml_fit_stacked(np.concatenate([np.ones((5, n, 1)), T[:, :, None]], axis=2), y)
        for k in range(5):
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                try:
                    ref = fit_logistic(T[k][:, None], y)
                except Warning as w:
                    assert ("separation" in str(w)) == (not exact[k])
                    continue
            assert exact[k]
            np.testing.assert_allclose(coef[k], ref.coef, rtol=0, atol=TOL)
