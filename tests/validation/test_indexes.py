"""rms validate.lrm indexes against stored R output (tests/fixtures/r/make_fixtures.R).

validate_index_orig.csv: index.orig column of rms::validate(lrm(y ~ x1..x7)) (deterministic).
indexes_external.csv: validate.lrm's discrim() (copied into the R script) for lp' = 0.6 lp + 0.3.
"""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from crsscore.errors import ModelError
from crsscore.modeling.logistic import fit_logistic
from crsscore.validation.indexes import c_index, emax, gini_md, lrm_indexes, lrm_indexes_batch

R_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "r"
XCOLS = [f"x{i}" for i in range(1, 8)]


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    d = pd.read_csv(R_DIR / "cohort125.csv")
    fit = fit_logistic(d[XCOLS], d["y"])
    return fit.predict_lp(d[XCOLS]), d["y"].to_numpy().astype(float)


def test_apparent_indexes_match_rms(data: tuple[np.ndarray, np.ndarray]) -> None:
    lp, y = data
    ref = pd.read_csv(R_DIR / "validate_index_orig.csv").set_index("index")["index.orig"]
    got = lrm_indexes(lp, y)
    for name in ref.index:
        assert got[name] == pytest.approx(ref[name], abs=1e-6), name
    assert got["C"] == pytest.approx(roc_auc_score(y, lp))


def test_external_predictor_matches_rms_discrim(data: tuple[np.ndarray, np.ndarray]) -> None:
    lp, y = data
    ref = pd.read_csv(R_DIR / "indexes_external.csv").set_index("index")["value"]
    got = lrm_indexes(0.6 * lp + 0.3, y)
    for name in ref.index:
        assert got[name] == pytest.approx(ref[name], abs=1e-6), name
    # perfect recalibration of the shrunken predictor recovers intercept -0.5, slope 1/0.6
    assert got["Slope"] == pytest.approx(1 / 0.6, abs=1e-6)
    assert got["Emax"] > 0.05


def test_apparent_convention_and_loglik_shortcut(data: tuple[np.ndarray, np.ndarray]) -> None:
    lp, y = data
    a = lrm_indexes_batch(lp[None, :], y, apparent=True)
    b = lrm_indexes_batch(lp[None, :], y)
    ll = float(np.sum(y * lp - np.logaddexp(0, lp)))
    c = lrm_indexes_batch(lp[None, :], y, apparent=True, loglik=[ll])
    assert a["Intercept"][0] == 0 and a["Slope"][0] == 1 and a["U"][0] == pytest.approx(-2 / 125)
    for key in ("Dxy", "R2", "D", "Q", "B", "g", "gp"):
        assert a[key][0] == pytest.approx(b[key][0], abs=1e-8)
        assert c[key][0] == pytest.approx(b[key][0], abs=1e-8)


def test_constant_predictor_conventions() -> None:
    y = np.array([0, 0, 1, 0, 1, 0, 0, 0], dtype=float)
    x = np.full((1, 8), -1.0)
    rms = lrm_indexes_batch(x, y, null="rms")
    off = lrm_indexes_batch(x, y, null="offset")
    assert rms["Intercept"][0] == pytest.approx(np.log(2 / 6))
    assert off["Intercept"][0] == pytest.approx(np.log(2 / 6) + 1.0)
    assert rms["Slope"][0] == 1 and rms["R2"][0] == 0 and rms["Dxy"][0] == 0 and rms["g"][0] == 0
    assert rms["D"][0] == pytest.approx(-1 / 8)
    with pytest.raises(ModelError, match="null must be 'offset' or 'rms'"):
        lrm_indexes_batch(x, y, null="other")


def test_gini_and_c_index_brute_force() -> None:
    rng = np.random.default_rng(8)
    x = rng.integers(0, 6, size=(3, 30)).astype(float)
    y = (rng.random((3, 30)) < 0.4).astype(float)
    for r in range(3):
        pairs = [abs(a - b) for a, b in combinations(x[r], 2)]
        assert gini_md(x[r]) == pytest.approx(np.mean(pairs))
        assert c_index(x, y)[r] == pytest.approx(roc_auc_score(y[r], x[r]))
    assert np.isnan(gini_md(np.array([1.0])))


def test_emax_grid() -> None:
    assert emax(0.0, 1.0)[0] == pytest.approx(0.0, abs=1e-12)
    p = np.arange(0, 1.0000001, 0.0005)
    with np.errstate(divide="ignore"):
        expected = np.nanmax(np.abs(p - 1 / (1 + np.exp(-(0.3 + 0.8 * np.log(p / (1 - p)))))))
    assert emax(0.3, 0.8)[0] == pytest.approx(expected)


@pytest.mark.parametrize(
    ("lp", "y", "match"),
    [
        ([0.1, 0.2, 0.3], [0, 1], "lp has 3 values but y has 2"),
        ([0.1, 0.2, 0.3], [0, 1, 2], "coded 0/1"),
        ([0.1], [1], "at least 2 patients"),
        ([0.1, np.inf], [0, 1], "missing or infinite"),
    ],
)
def test_errors(lp: list[float], y: list[int], match: str) -> None:
    with pytest.raises(ModelError, match=match):
        lrm_indexes(lp, y)


def test_frequency_weights_equal_expanded_rows() -> None:
    rng = np.random.default_rng(12)
    lp = np.round(rng.normal(size=(4, 60)), 1)  # ties
    y = (rng.random(60) < 0.3).astype(float)
    W = rng.multinomial(60, np.full(60, 1 / 60), size=4).astype(float)
    got = lrm_indexes_batch(lp, np.broadcast_to(y, lp.shape), weights=W, null="rms")
    for r in range(4):
        rows = np.repeat(np.arange(60), W[r].astype(int))
        ref = lrm_indexes_batch(lp[r, rows][None, :], y[rows], null="rms")
        for key in ("Dxy", "C", "R2", "Intercept", "Slope", "D", "U", "Q", "B", "g", "gp", "n"):
            assert got[key][r] == pytest.approx(ref[key][0], abs=1e-9), key
        pairs = [abs(a - b) for a, b in combinations(lp[r, rows], 2)]
        assert got["g"][r] == pytest.approx(abs(got["Slope"][r]) * np.mean(pairs))
    assert c_index(lp, np.broadcast_to(y, lp.shape), W)[0] == pytest.approx(got["C"][0])
