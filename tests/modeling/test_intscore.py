"""Tests of the learned integer point scores (crsscore.modeling.intscore).

References: brute-force enumeration of every integer score on tiny problems (with an
independent scipy fit of intercept and multiplier), statsmodels for the continuous fits,
sklearn for AUC, score_frame for the score-card conversion, and the cross-validated results
stored by ``benchmarks/bench_intscore.py`` in ``intscore_reference.json``.
"""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score

from crsscore.errors import DataError, ModelError, ScoreCardError
from crsscore.modeling import intscore_core as core
from crsscore.modeling.binarize import Binarizer
from crsscore.modeling.intscore import IntegerScoreClassifier
from crsscore.scores.evaluate import score_frame

REF = Path(__file__).with_name("intscore_reference.json")
DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "riskslim"


def _binary_data(n: int = 300, p: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = (rng.random((n, p)) < 0.4).astype(float)
    lp = -1.0 + X[:, :4] @ np.array([1.6, -1.1, 0.8, 0.5])
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-lp))).astype(int)
    return X, y


def _log_loss(clf_or_score: object, X: np.ndarray, y: np.ndarray) -> float:
    p = clf_or_score.predict_proba(X)[:, 1]  # type: ignore[attr-defined]
    return float(-np.sum(y * np.log(p) + (1 - y) * np.log1p(-p)))


# ------------------------------------------------------------------------------------------
# optimality against brute force
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1])
def test_best_score_matches_brute_force_enumeration(seed: int, score_loss) -> None:
    X, y = _binary_data(n=200, p=5, seed=seed)
    k, bound = 2, 2
    best = np.inf
    for size in (1, 2):
        for sup in itertools.combinations(range(5), size):
            for vals in itertools.product([v for v in range(-bound, bound + 1) if v], repeat=size):
                pts = np.zeros(5)
                pts[list(sup)] = vals
                best = min(best, score_loss(pts, X, y))
    clf = IntegerScoreClassifier(max_features=k, coef_bound=bound).fit(X, y)
    assert clf.best_.loss == pytest.approx(best, rel=1e-7, abs=1e-7)
    assert _log_loss(clf, X, y) == pytest.approx(clf.best_.loss, rel=1e-9)


def test_learned_points_beat_rounded_logistic(score_loss) -> None:
    X, y = _binary_data(n=400, p=10, seed=3)
    clf = IntegerScoreClassifier(max_features=4).fit(X, y)
    beta = sm.Logit(y, sm.add_constant(X[:, list(clf.best_.support)])).fit(disp=0).params[1:]
    rounded = np.zeros(10)
    rounded[list(clf.best_.support)] = np.round(beta * 5 / np.abs(beta).max())
    assert clf.best_.loss <= score_loss(rounded, X, y) + 1e-6


# ------------------------------------------------------------------------------------------
# numerical core against references
# ------------------------------------------------------------------------------------------
def test_continuous_fit_matches_statsmodels() -> None:
    rng = np.random.default_rng(5)
    X = np.column_stack([rng.integers(0, 4, 300), rng.random(300) < 0.5]).astype(float)
    y = (rng.random(300) < 1 / (1 + np.exp(-(X[:, 0] * 0.7 - X[:, 1] - 0.5)))).astype(float)
    prob = core.make_problem(X, y, np.ones(300), lb=np.full(2, -5), ub=np.full(2, 5),
                             allowed=np.ones(2, bool), required=(), groups=np.arange(2),
                             max_features=2, max_groups=None, max_per_group=None,
                             intercept_bound=None)
    fit = core.SupportSearch(prob).fit((0, 1))
    ref = sm.Logit(y, sm.add_constant(X)).fit(disp=0, tol=1e-12)
    np.testing.assert_allclose([fit.beta0, *fit.beta], ref.params, atol=1e-6)
    assert fit.loss == pytest.approx(-ref.llf, rel=1e-9)


def test_refit_scale_matches_statsmodels() -> None:
    rng = np.random.default_rng(2)
    t = rng.integers(-3, 6, 500).astype(float)
    y = (rng.random(500) < 1 / (1 + np.exp(-(0.4 * t - 1)))).astype(float)
    a, s, loss = core.refit_scale(t[:, None], y, 1 - y, np.array([10.0]), np.zeros(1),
                                  np.array([0.1]))
    ref = sm.Logit(y, sm.add_constant(t)).fit(disp=0, tol=1e-12)
    np.testing.assert_allclose([a[0], s[0]], ref.params, atol=1e-6)
    assert loss[0] == pytest.approx(-ref.llf, rel=1e-9)


def test_sample_weights_equal_duplicated_rows() -> None:
    X, y = _binary_data(n=150, p=6, seed=4)
    w = np.random.default_rng(1).integers(1, 4, 150)
    a = IntegerScoreClassifier(max_features=3).fit(X, y, sample_weight=w)
    b = IntegerScoreClassifier(max_features=3).fit(np.repeat(X, w, axis=0), np.repeat(y, w))
    assert a.coef_.tolist() == b.coef_.tolist()
    assert a.best_.loss == pytest.approx(b.best_.loss, rel=1e-9)


# ------------------------------------------------------------------------------------------
# pool, attributes, API
# ------------------------------------------------------------------------------------------
def test_pool_is_distinct_sorted_and_consistent() -> None:
    X, y = _binary_data(n=300, p=8, seed=6)
    clf = IntegerScoreClassifier(max_features=3, pool_size=15).fit(X, y)
    pool = clf.pool_
    assert 1 < len(pool) <= 15
    supports = [e.support for e in pool]
    assert len(set(supports)) == len(supports)
    losses = [e.loss for e in pool]
    assert losses == sorted(losses)
    for e in pool[:5]:
        assert _log_loss(e, X, y) == pytest.approx(e.loss, rel=1e-9)
        assert e.auc == pytest.approx(roc_auc_score(y, e.total(X)), abs=1e-12)
        assert all(isinstance(v, int) and abs(v) <= 5 for v in e.points)
        assert len(e.support) <= 3
    assert clf.coef_.dtype.kind == "i"
    assert clf.coef_.tolist() == list(pool[0].points)
    z = (clf.intercept_ + X @ clf.coef_) / clf.multiplier_
    np.testing.assert_allclose(clf.decision_function(X), z)
    np.testing.assert_allclose(clf.predict_proba(X)[:, 1], 1 / (1 + np.exp(-z)))
    assert set(clf.predict(X)) <= {0, 1}


def test_labels_and_dataframe_names() -> None:
    X, y = _binary_data(n=200, p=5, seed=7)
    df = pd.DataFrame(X, columns=[f"f{j}" for j in range(5)])
    labels = np.where(y == 1, "severe", "mild")
    clf = IntegerScoreClassifier(max_features=2).fit(df, labels)
    assert clf.classes_.tolist() == ["mild", "severe"]
    assert clf.feature_names_in_.tolist() == list(df.columns)
    assert set(clf.predict(df)) <= {"mild", "severe"}
    assert set(clf.best_.selected) <= set(df.columns)
    assert list(clf.best_.to_frame().columns) == ["feature", "points"]
    assert "training AUC" in clf.best_.summary()


def test_clone_and_params() -> None:
    clf = IntegerScoreClassifier(max_features=3, required=("a",), sign={"b": 1})
    c2 = clone(clf)
    assert c2.get_params() == clf.get_params()
    with pytest.raises(NotFittedError, match="not fitted"):
        clf.predict_proba(np.zeros((1, 3)))


def test_fast_enough_for_bootstrap() -> None:
    rng = np.random.default_rng(1)
    X = (rng.random((125, 30)) < 0.3).astype(float)
    lp = -2 + X[:, :5] @ np.array([1.5, 1.0, -1.0, 0.8, 0.7])
    y = (rng.random(125) < 1 / (1 + np.exp(-lp))).astype(int)
    IntegerScoreClassifier().fit(X, y)  # warm-up (imports, caches)
    t0 = time.process_time()
    for _ in range(3):
        IntegerScoreClassifier().fit(X, y)
    per_fit = (time.process_time() - t0) / 3
    assert per_fit < 0.3  # about 0.1 s of CPU on the project's machine; generous for CI


# ------------------------------------------------------------------------------------------
# constraints
# ------------------------------------------------------------------------------------------
def test_required_forbidden_sign_bounds() -> None:
    X, y = _binary_data(n=300, p=8, seed=8)
    free = IntegerScoreClassifier(max_features=3).fit(X, y)
    top = free.best_.support[0]
    clf = IntegerScoreClassifier(max_features=3, required=(7,), forbidden=(top,),
                                 sign={1: 1}, bounds={0: (0, 2)}).fit(X, y)
    for e in clf.pool_:
        assert e.points[7] != 0
        assert e.points[top] == 0
        assert e.points[1] >= 0
        assert 0 <= e.points[0] <= 2
        assert len(e.support) <= 3


def test_groups_max_groups_and_monotone() -> None:
    rng = np.random.default_rng(9)
    n = 400
    crp = rng.lognormal(3, 1, n)
    age = rng.uniform(1, 25, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(np.log(crp) - 3 - 0.05 * age)))).astype(int)
    b = Binarizer(n_thresholds=4).fit(pd.DataFrame({"crp": crp, "age": age}))
    Z = b.transform(pd.DataFrame({"crp": crp, "age": age}))
    clf = IntegerScoreClassifier(max_features=4, groups=b.groups_, max_groups=1,
                                 monotone={"crp": -1}).fit(Z, y)
    for e in clf.pool_:
        used = {b.groups_[j] for j in e.support}
        assert len(used) == 1
        assert all(e.points[j] <= 0 for j in e.support if b.groups_[j] == "crp")
    one = IntegerScoreClassifier(max_features=4, groups=b.groups_, max_per_group=1).fit(Z, y)
    for e in one.pool_:
        groups = [b.groups_[j] for j in e.support]
        assert len(groups) == len(set(groups))


def test_groups_enter_together() -> None:
    rng = np.random.default_rng(11)
    n = 500
    X = pd.DataFrame({"crp": rng.lognormal(3, 1, n), "age": rng.uniform(1, 25, n),
                      "il6": rng.lognormal(2, 1, n)})
    lp = np.log(X["crp"].to_numpy()) - 3 + 0.5 * np.log(X["il6"].to_numpy()) - 1
    y = (rng.random(n) < 1 / (1 + np.exp(-lp))).astype(int)
    b = Binarizer(n_thresholds=3).fit(X)
    Z = b.transform(X)
    sizes = {g: b.groups_.count(g) for g in set(b.groups_)}
    clf = IntegerScoreClassifier(max_features=6, groups=b.groups_, groups_together=True,
                                 monotone={"crp": 1, "il6": 1}, gap_tolerance=1.0).fit(Z, y)
    assert {b.groups_[j] for j in clf.best_.support} == {"crp", "il6"}
    assert len(clf.pool_) > 1
    for e in clf.pool_:
        # whole groups are searched: the groups used hold at most max_features cut-points
        used = [b.groups_[j] for j in e.support]
        assert len(e.support) <= 6
        assert sum(sizes[g] for g in set(used)) <= 6
        assert all(e.points[j] >= 0 for j in e.support if b.groups_[j] in ("crp", "il6"))


def test_intercept_bound() -> None:
    X, y = _binary_data(n=300, p=6, seed=10)
    free = IntegerScoreClassifier(max_features=2).fit(X, y)
    assert abs(free.intercept_) > 0.2
    clf = IntegerScoreClassifier(max_features=2, intercept_bound=0.1).fit(X, y)
    assert all(abs(e.intercept) <= 0.1 + 1e-9 for e in clf.pool_)
    assert clf.best_.loss >= free.best_.loss - 1e-9
    assert _log_loss(clf, X, y) == pytest.approx(clf.best_.loss, rel=1e-9)


# ------------------------------------------------------------------------------------------
# errors
# ------------------------------------------------------------------------------------------
def test_error_paths() -> None:
    X, y = _binary_data(n=100, p=4)
    with pytest.raises(ModelError, match="two outcome classes"):
        IntegerScoreClassifier().fit(X, np.zeros(100))
    Xn = X.copy()
    Xn[3, 2] = np.nan
    with pytest.raises(DataError, match="row 3, column 'x2'"):
        IntegerScoreClassifier().fit(Xn, y)
    with pytest.raises(ValueError, match=r"'max_features' parameter .* must be an int >= 1"):
        IntegerScoreClassifier(max_features=0).fit(X, y)
    with pytest.raises(ValueError, match=r"'min_multiplier' parameter .* a float > 0"):
        IntegerScoreClassifier(min_multiplier=0).fit(X, y)
    with pytest.raises(ValueError, match="'gap_tolerance' parameter"):
        IntegerScoreClassifier(gap_tolerance=-1).fit(X, y)
    with pytest.raises(ValueError, match="required: unknown feature 'zz'"):
        IntegerScoreClassifier(required=("zz",)).fit(X, y)
    with pytest.raises(ValueError, match="both required and forbidden: x1"):
        IntegerScoreClassifier(required=(1,), forbidden=(1,)).fit(X, y)
    with pytest.raises(ValueError, match="3 required features but max_features = 2"):
        IntegerScoreClassifier(max_features=2, required=(0, 1, 2)).fit(X, y)
    with pytest.raises(ValueError, match="must be \\+1 or -1"):
        IntegerScoreClassifier(sign={0: 2}).fit(X, y)
    with pytest.raises(ValueError, match="monotone: unknown group 'g'"):
        IntegerScoreClassifier(monotone={"g": 1}).fit(X, y)
    with pytest.raises(ValueError, match="groups has 2 labels for 4 features"):
        IntegerScoreClassifier(groups=["a", "b"]).fit(X, y)
    with pytest.raises(DataError, match="y row 5: missing outcome"):
        IntegerScoreClassifier().fit(X, np.where(np.arange(100) == 5, np.nan, y))
    with pytest.raises(ValueError, match="X has 100 rows but y has 99"):
        IntegerScoreClassifier().fit(X, y[:99])
    with pytest.raises(DataError, match="not numeric"):
        IntegerScoreClassifier().fit(pd.DataFrame({"a": ["x", "y"] * 50}), y)


# ------------------------------------------------------------------------------------------
# score cards
# ------------------------------------------------------------------------------------------
def _cohort(n: int = 300, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"crp": rng.lognormal(3, 1, n), "age": rng.integers(1, 25, n).astype(float),
                      "sex": rng.choice(["F", "M"], n), "prior": rng.integers(0, 2, n)})
    X.loc[::17, "crp"] = np.nan
    lp = -1 + 0.03 * np.nan_to_num(X["crp"].to_numpy()) + 0.8 * (X["sex"] == "M").to_numpy()
    y = (rng.random(n) < 1 / (1 + np.exp(-lp))).astype(int)
    return X, y


def test_scorecard_reproduces_the_model() -> None:
    X, y = _cohort()
    b = Binarizer().fit(X)
    Z = b.transform(X)
    clf = IntegerScoreClassifier(max_features=5, groups=b.groups_, monotone={"crp": 1}).fit(Z, y)
    for e in clf.pool_[:10]:
        card = e.to_scorecard(b, id="t", name="t")
        sf = score_frame(card, X)
        np.testing.assert_allclose(sf["total"], e.total(Z))
        np.testing.assert_allclose(sf["probability"], e.predict_proba(Z)[:, 1], rtol=1e-12)
        assert card.performance.auc_apparent == pytest.approx(e.auc)
    new = pd.DataFrame({"crp": [np.nan, 5.0], "age": [3.0, 30.0], "sex": ["X", "F"],
                        "prior": [0, 1]})
    sf = score_frame(clf.to_scorecard(b), new)
    np.testing.assert_allclose(sf["total"], clf.total_points(b.transform(new)))
    assert not sf["total"].isna().any()


def test_scorecard_without_descriptions() -> None:
    rng = np.random.default_rng(3)
    X = pd.DataFrame({"a": rng.integers(0, 2, 300), "grade": rng.integers(1, 5, 300)}).astype(float)
    y = (rng.random(300) < 1 / (1 + np.exp(-(X["a"] + 0.6 * X["grade"] - 2)))).astype(int)
    clf = IntegerScoreClassifier(max_features=2).fit(X, y)
    card = clf.to_scorecard()
    kinds = {v.name: v.kind for v in card.variables}
    assert kinds == {"a": "binary", "grade": "linear"}
    np.testing.assert_allclose(score_frame(card, X)["probability"], clf.predict_proba(X)[:, 1])


def test_scorecard_refuses_points_for_missing() -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=400)
    miss = rng.random(400) < 0.3
    y = (rng.random(400) < np.where(miss, 0.8, 0.2)).astype(int)
    X = pd.DataFrame({"x": np.where(miss, np.nan, x)})
    b = Binarizer(missing="indicator").fit(X)
    clf = IntegerScoreClassifier(max_features=2).fit(b.transform(X), y)
    assert clf.best_.selected.get("x:missing", 0) != 0
    with pytest.raises(ScoreCardError, match=r"gives .* points to a missing value"):
        clf.to_scorecard(b)
    with pytest.raises(ScoreCardError, match="no feature description for column"):
        clf.to_scorecard([])


# ------------------------------------------------------------------------------------------
# regression against the recorded benchmark (fast part: mammo, breastcancer)
# ------------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("name", ["mammo", "breastcancer"])
def test_benchmark_auc_not_below_recorded(name: str) -> None:
    if not (DATA / f"{name}_data.csv").exists():
        pytest.skip(f"benchmark data not found in {DATA}")
    ref = json.loads(REF.read_text(encoding="utf-8"))
    data = pd.read_csv(DATA / f"{name}_data.csv")
    y = data.iloc[:, 0].to_numpy(float)
    X = data.iloc[:, 1:].to_numpy(float)
    folds = pd.read_csv(DATA / f"{name}_cvindices.csv", header=None).iloc[:, 0].to_numpy()
    aucs = []
    for f in range(1, 6):
        tr, te = folds != f, folds == f
        clf = IntegerScoreClassifier(max_features=ref["k"]).fit(X[tr], y[tr])
        aucs.append(roc_auc_score(y[te], clf.decision_function(X[te])))
    recorded = ref["datasets"][name]["test_auc_mean"]
    assert np.mean(aucs) >= recorded - ref["tolerance"]
