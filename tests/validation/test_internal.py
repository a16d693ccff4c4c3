"""Bootstrap optimism engine: agreement with R rms validate, fast path = generic engine.

validate_B1000.csv was produced by tests/fixtures/r/make_fixtures.R (rms 6.5.0):
validate(lrm(y ~ x1 + ... + x7, x = TRUE, y = TRUE), B = 1000) and the same with bw = TRUE,
rule = "aic", on cohort125.csv.  Different random resamples, so estimates agree within Monte
Carlo error, not exactly.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from crsscore.errors import ModelError
from crsscore.modeling.logistic import LogisticFit, fit_logistic
from crsscore.modeling.selection import fastbw
from crsscore.validation.indexes import lrm_indexes
from crsscore.validation.internal import (
    COLUMNS,
    bootstrap_indices,
    cv_validate,
    optimism_bootstrap,
    validate_lrm,
)

R_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "r"
XCOLS = [f"x{i}" for i in range(1, 8)]
ROWS = ["Dxy", "AUC", "R2", "Intercept", "Slope", "Emax", "D", "U", "Q", "B", "g", "gp"]


@pytest.fixture(scope="module")
def cohort() -> pd.DataFrame:
    return pd.read_csv(R_DIR / "cohort125.csv")


class _Lrm:
    """Pipeline: full ML logistic model (optionally fastbw + refit), predictor = lp."""

    def __init__(self, bw: bool, names: list[str] = XCOLS) -> None:
        self.bw, self.names = bw, names

    def __call__(self, X: np.ndarray, y: np.ndarray, weights: np.ndarray | None) -> Any:
        fit = fit_logistic(X, y, weights=weights, names=self.names)
        cols = list(range(X.shape[1]))
        if self.bw:
            kept = fastbw(fit).names_kept
            cols = [self.names.index(c) for c in kept]
            if not cols:
                w = np.ones(len(y)) if weights is None else weights
                b0 = float(np.log(np.sum(w * y) / np.sum(w * (1 - y))))
                return lambda Z: np.full(len(Z), b0)
            fit = fit_logistic(X[:, cols], y, weights=weights)
        return _Predict(fit, cols)


class _Predict:
    def __init__(self, fit: LogisticFit, cols: list[int]) -> None:
        self.fit, self.cols = fit, cols

    def __call__(self, X: np.ndarray) -> np.ndarray:
        return self.fit.predict_lp(np.asarray(X)[:, self.cols])


@pytest.mark.parametrize(("bw", "what"), [(False, "nobw"), (True, "bw_aic")])
def test_agrees_with_rms_within_monte_carlo_error(cohort: pd.DataFrame, bw: bool, what: str) -> None:
    ref = pd.read_csv(R_DIR / "validate_B1000.csv")
    ref = ref[ref["what"] == what].set_index("index")
    res = validate_lrm(cohort[XCOLS], cohort["y"], B=1000, bw=bw, rule="aic", seed=20261123)
    tab = res.summary()
    np.testing.assert_allclose(tab.loc[ref.index, "index.orig"], ref["index.orig"], atol=1e-6)
    for name in ["Dxy", "R2", "Intercept", "Slope", "D", "U", "Q", "B", "g", "gp"]:
        # two independent B = 1000 runs: difference has SD ~ sqrt(2) * MC se; allow 4 SD
        tol = 4 * np.sqrt(2) * tab.loc[name, "MC se"]
        assert abs(tab.loc[name, "optimism"] - ref.loc[name, "optimism"]) < tol, name
    assert abs(tab.loc["Emax", "index.corrected"] - ref.loc["Emax", "index.corrected"]) < 0.03
    assert res.n_failed == 0 and (tab["n"] == 1000).all()
    assert tab.loc["AUC", "index.orig"] == pytest.approx(0.5 + tab.loc["Dxy", "index.orig"] / 2)
    if bw:
        assert res.kept is not None and res.options["kept_orig"] == ["x3"]
        assert set(res.kept.index) == set(XCOLS) and 0 < res.kept["x3"] < 1


@pytest.mark.parametrize("bw", [False, True])
def test_fast_path_equals_generic_engine(cohort: pd.DataFrame, bw: bool) -> None:
    X, y = cohort[XCOLS].to_numpy(), cohort["y"].to_numpy()
    fast = validate_lrm(X, y, B=60, bw=bw, seed=3, stratified=True)
    slow = optimism_bootstrap(_Lrm(bw), X, y, B=60, seed=3, stratified=True)
    cols = ["index.orig", "training", "test", "optimism", "index.corrected"]
    np.testing.assert_allclose(fast.table[cols], slow.table[cols], atol=2e-6)


def test_weights_mode_equals_rows_mode(cohort: pd.DataFrame) -> None:
    X, y = cohort[XCOLS].to_numpy(), cohort["y"].to_numpy()
    a = optimism_bootstrap(_Lrm(False), X, y, B=25, seed=9)
    b = optimism_bootstrap(_Lrm(False), X, y, B=25, seed=9, resample="weights")
    np.testing.assert_allclose(a.table.to_numpy(), b.table.to_numpy(), atol=1e-7)


def test_failed_fits_are_counted_and_reported(cohort: pd.DataFrame) -> None:
    X, y = cohort[XCOLS].to_numpy(), cohort["y"].to_numpy().astype(float)
    idx = bootstrap_indices(y, 5, list(range(40)), False)
    expected = int(np.sum(y[idx].sum(axis=1) % 2 == 1))
    assert 0 < expected < 40

    def fragile(Xt: np.ndarray, yt: np.ndarray, w: np.ndarray | None) -> Any:
        if len(yt) == len(y) and int(yt.sum()) % 2 == 1:
            raise ModelError("odd number of events")
        return _Lrm(False)(Xt, yt, w)

    res = optimism_bootstrap(fragile, X, y, B=40, seed=5, stratified=False)
    assert res.n_failed == expected
    assert res.failures == ("ModelError: odd number of events",)
    assert (res.table["n"] == 40 - expected).all()
    assert "failed fits = " + str(expected) in str(res)


def test_separation_in_resamples_counts_as_failure() -> None:
    sep = pd.read_csv(R_DIR / "separated.csv")
    X, y = sep[["a"]].to_numpy(), sep["y"].to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ModelError, match="cannot be fitted on the original data: SeparationWarning"):
            optimism_bootstrap(lambda Xt, yt, w: _Predict(fit_logistic(Xt, yt), [0]), X, y, B=5, seed=1)


def test_fast_path_counts_separated_and_singular_resamples(cohort: pd.DataFrame) -> None:
    # z = 1 for 3 events and 1 non-event: resamples holding z = 1 rows of one class only are
    # (quasi-)separated, resamples without any are singular; both must count as failed.
    y = cohort["y"].to_numpy().astype(float)
    ev, ne = np.flatnonzero(y == 1)[:3], np.flatnonzero(y == 0)[:1]
    z = np.zeros(125)
    z[np.r_[ev, ne]] = 1
    X = np.column_stack([cohort["x1"], z])
    res = validate_lrm(X, y, B=200, seed=1)
    idx = bootstrap_indices(y, 1, list(range(200)), False)
    expected = sum(not (np.isin(ne, i).any() and np.isin(ev, i).any()) for i in idx)
    assert res.n_failed == expected and 20 < expected < 180
    assert res.failures == ("fit did not converge (separation or singular information)",)
    assert (res.table["n"] == 200 - expected).all()


def test_parallel_joblib_equals_serial(cohort: pd.DataFrame) -> None:
    X, y = cohort[XCOLS].to_numpy(), cohort["y"].to_numpy()
    a = optimism_bootstrap(_Lrm(False), X, y, B=24, seed=4, chunk_size=6)
    b = optimism_bootstrap(_Lrm(False), X, y, B=24, seed=4, n_jobs=2, chunk_size=5)
    np.testing.assert_allclose(a.table.to_numpy(), b.table.to_numpy(), atol=1e-12)
    c = validate_lrm(X, y, B=120, seed=4, bw=True, n_jobs=2, chunk_size=50)
    d = validate_lrm(X, y, B=120, seed=4, bw=True)
    np.testing.assert_allclose(c.table.to_numpy(), d.table.to_numpy(), atol=1e-12)


def test_dask_cluster_equals_serial(cohort: pd.DataFrame) -> None:
    from distributed import LocalCluster

    X, y = cohort[XCOLS].to_numpy(), cohort["y"].to_numpy()
    serial = optimism_bootstrap(_Lrm(True), X, y, B=20, seed=6, chunk_size=5)
    with LocalCluster(n_workers=1, processes=False, threads_per_worker=1, dashboard_address=None) as cluster:
        dist = optimism_bootstrap(_Lrm(True), X, y, B=20, seed=6, scheduler=cluster.scheduler_address, chunk_size=5)
    np.testing.assert_allclose(serial.table.to_numpy(), dist.table.to_numpy(), atol=1e-12)


def test_a_scheduler_without_dask_says_how_to_install_it(cohort: pd.DataFrame,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Dask is an extra (crsscore[dask]): without it --scheduler is refused with the fix."""
    import sys

    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    X, y = cohort[XCOLS].to_numpy(), cohort["y"].to_numpy()
    with pytest.raises(ModelError, match=r"crsscore\[dask\]"):
        optimism_bootstrap(_Lrm(True), X, y, B=4, seed=6, scheduler="tcp://127.0.0.1:1")


def test_layout_metadata_and_progress(cohort: pd.DataFrame) -> None:
    res = optimism_bootstrap(_Lrm(False), cohort[XCOLS].to_numpy(), cohort["y"], B=10, seed=2, progress=True)
    frame = res.to_frame()
    assert list(frame.index) == ROWS and list(frame.columns) == list(COLUMNS)
    assert (res.B, res.seed, res.n, res.events, res.method) == (10, 2, 125, 24, "boot")
    assert res.version and res.stratified
    body = frame.drop(index="Emax")  # rms puts the corrected Emax in test/optimism/corrected
    np.testing.assert_allclose(body["index.corrected"], body["index.orig"] - body["optimism"], atol=1e-12)
    assert frame.loc["Intercept", "index.orig"] == 0 and frame.loc["Slope", "training"] == 1
    assert "MC se" in res.summary().columns and "<table" in res._repr_html_()
    assert res.resamples.shape == (10, 22)


def test_recalibrate_convention_differs_only_in_calibration(cohort: pd.DataFrame) -> None:
    X, y = cohort[XCOLS].to_numpy(), cohort["y"].to_numpy()
    a = optimism_bootstrap(_Lrm(False), X, y, B=15, seed=2)
    b = optimism_bootstrap(_Lrm(False), X, y, B=15, seed=2, convention="recalibrate")
    np.testing.assert_allclose(a.table.loc["Dxy"], b.table.loc["Dxy"])
    assert b.table.loc["Slope", "training"] == pytest.approx(1.0, abs=1e-6)


def test_cv_validate_matches_manual_folds(cohort: pd.DataFrame) -> None:
    from crsscore.validation.internal import _cv_split

    X, y = cohort[XCOLS].to_numpy(), cohort["y"].to_numpy().astype(float)
    res = cv_validate(_Lrm(False), X, y, k=5, repeats=2, seed=7)
    assert res.B == 10 and res.method == "crossvalidation" and res.options["k"] == 5
    tests = []
    for i in range(10):
        train, test = _cv_split(y, 7, i, 5)
        assert len(np.intersect1d(train, test)) == 0 and len(train) + len(test) == 125
        assert abs(y[test].sum() - 24 / 5) < 1
        model = _Lrm(False)(X[train], y[train], None)
        tests.append(lrm_indexes(model(X[test]), y[test], )["Dxy"])
    assert res.table.loc["Dxy", "test"] == pytest.approx(np.mean(tests))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"B": 0}, "B must be a positive number"),
        ({"convention": "x"}, "convention must be 'rms' or 'recalibrate'"),
        ({"resample": "x"}, "resample must be 'rows' or 'weights'"),
        ({"n_jobs": 0}, "n_jobs must be a positive"),
    ],
)
def test_argument_errors(cohort: pd.DataFrame, kwargs: dict[str, Any], match: str) -> None:
    args: dict[str, Any] = {"B": 5, "seed": 1, **kwargs}
    with pytest.raises(ModelError, match=match):
        optimism_bootstrap(_Lrm(False), cohort[XCOLS].to_numpy(), cohort["y"], **args)


def test_data_errors(cohort: pd.DataFrame) -> None:
    X = cohort[XCOLS].to_numpy()
    with pytest.raises(ModelError, match="X has 125 rows but y has 3"):
        validate_lrm(X, [0, 1, 0], B=5, seed=1)
    with pytest.raises(ModelError, match="need at least 2 events"):
        validate_lrm(X, np.r_[1, np.zeros(124)], B=5, seed=1)
    with pytest.raises(ModelError, match="k must be >= 2"):
        cv_validate(_Lrm(False), X, cohort["y"], k=1, seed=1)
    noise = np.random.default_rng(0).normal(size=(125, 2))
    with pytest.raises(ModelError, match="no variables kept in the original model"):
        validate_lrm(noise, cohort["y"], B=5, bw=True, seed=1)


def test_missing_seed_is_drawn_and_stored(cohort: pd.DataFrame) -> None:
    X, y = cohort[XCOLS].to_numpy(), cohort["y"].to_numpy()
    a = validate_lrm(X, y, B=20, seed=None)
    assert isinstance(a.seed, int)
    b = validate_lrm(X, y, B=20, seed=a.seed)
    np.testing.assert_allclose(a.table.to_numpy(), b.table.to_numpy())
    with pytest.raises(ModelError, match="seed must be a non-negative integer"):
        validate_lrm(X, y, B=20, seed=-1)


@pytest.mark.parametrize(("bw", "what"), [(False, "nobw"), (True, "bw_aic")])
def test_equals_rms_exactly_on_rs_own_resamples(cohort: pd.DataFrame, bw: bool, what: str) -> None:
    # boot_indices_B200.csv holds the 200 sample(125, replace = TRUE) draws that
    # validate(f, B = 200[, bw = TRUE, rule = "aic"]) used after set.seed(3) (make_fixtures.R).
    idx = pd.read_csv(R_DIR / "boot_indices_B200.csv").to_numpy().T
    ref = pd.read_csv(R_DIR / "validate_B200_exact.csv")
    ref = ref[ref["what"] == what].set_index("index")
    fast = validate_lrm(cohort[XCOLS], cohort["y"], bw=bw, seed=0, indices=idx)
    cols = ["index.orig", "training", "test", "optimism", "index.corrected", "n"]
    np.testing.assert_allclose(fast.table.loc[ref.index, cols], ref[cols], atol=1e-6)
    assert fast.n_failed == 200 - int(ref.loc["Dxy", "n"])  # rms's n: the same resamples kept
    generic = optimism_bootstrap(_Lrm(bw), cohort[XCOLS].to_numpy(), cohort["y"], seed=0, indices=idx[:40])
    part = validate_lrm(cohort[XCOLS], cohort["y"], bw=bw, seed=0, indices=idx[:40])
    np.testing.assert_allclose(generic.table[cols], part.table[cols], atol=2e-6)


@pytest.mark.parametrize(("bw", "what"), [(False, "nobw"), (True, "bw_aic")])
def test_converged_resamples_with_extreme_probabilities_are_kept_as_in_rms(bw: bool, what: str) -> None:
    # issue 13.4: x25.csv is 99 overlapping rows plus one at x = -25 (y = 0); resamples holding
    # that row converge with fitted probabilities far below 1e-8.  rms keeps all 200 of R's
    # set.seed(1) resamples (make_fixtures.R section 11); they used to be dropped as
    # "separated" (45 of 200: corrected slope 1.266 instead of rms's 1.136).
    d = pd.read_csv(R_DIR / "x25.csv")
    idx = pd.read_csv(R_DIR / "boot_indices_x25_B200.csv").to_numpy().T
    ref = pd.read_csv(R_DIR / "validate_x25_B200.csv")
    ref = ref[ref["what"] == what].set_index("index")
    assert (ref["n"] == 200).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fast = validate_lrm(d[["x"]], d["y"], bw=bw, seed=0, indices=idx)
    cols = ["index.orig", "training", "test", "optimism", "index.corrected", "n"]
    np.testing.assert_allclose(fast.table.loc[ref.index, cols], ref[cols], atol=1e-6)
    assert fast.n_failed == 0 and fast.failures == ()
    X, y = d[["x"]].to_numpy(), d["y"].to_numpy()
    generic = optimism_bootstrap(_Lrm(bw, ["x"]), X, y, seed=0, indices=idx)
    assert generic.n_failed == 0
    np.testing.assert_allclose(generic.table.loc[ref.index, cols], ref[cols], atol=2e-6)


def test_indices_are_checked(cohort: pd.DataFrame) -> None:
    with pytest.raises(ModelError, match=r"indices must be a \(B, n = 125\) matrix"):
        validate_lrm(cohort[XCOLS], cohort["y"], seed=0, indices=np.zeros((3, 4), dtype=int))
    with pytest.raises(ModelError, match=r"integer row numbers in 0\.\.124"):
        validate_lrm(cohort[XCOLS], cohort["y"], seed=0, indices=np.full((3, 125), 125))


def test_dataframe_pipeline_and_json_view(cohort: pd.DataFrame) -> None:
    import json

    def fit_fn(frame: pd.DataFrame, yt: np.ndarray, w: np.ndarray | None) -> Any:
        assert list(frame.columns) == ["x1", "x2"] and frame.index.is_unique
        fit = fit_logistic(frame, yt, weights=w)
        return lambda new: fit.predict_lp(new[["x1", "x2"]])

    res = optimism_bootstrap(fit_fn, cohort[["x1", "x2"]], cohort["y"], B=12, seed=8)
    ref = validate_lrm(cohort[["x1", "x2"]], cohort["y"], B=12, seed=8, stratified=True)
    np.testing.assert_allclose(res.table.to_numpy(), ref.table.to_numpy(), atol=2e-6)
    d = json.loads(json.dumps(res.to_dict()))
    assert d["B"] == 12 and d["seed"] == 8 and d["table"]["Slope"]["index.orig"] == 1.0
    assert d["kept"] is None and d["options"]["convention"] == "rms"


def test_firth_fast_path_equals_generic_engine(cohort: pd.DataFrame) -> None:
    X, y = cohort[["x1", "x2", "x3"]].to_numpy(), cohort["y"].to_numpy()

    def firth_fit(Xt: np.ndarray, yt: np.ndarray, w: np.ndarray | None) -> Any:
        return _Predict(fit_logistic(Xt, yt, weights=w, firth=True), [0, 1, 2])

    fast = validate_lrm(X, y, B=20, seed=5, firth=True)
    slow = optimism_bootstrap(firth_fit, X, y, B=20, seed=5, stratified=False)
    cols = ["index.orig", "training", "test", "optimism", "index.corrected"]
    np.testing.assert_allclose(fast.table[cols], slow.table[cols], atol=1e-6)
    assert fast.options["firth"] and fast.n_failed == 0
