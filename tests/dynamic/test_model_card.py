"""Dynamic model and card: round trip, schema, grouped resampling (issue 16.3, 16.4)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from crsscore._numeric import rank_auc, weighted_auc
from crsscore.errors import ScoreCardError
from crsscore.modeling.dynamic import DynamicModel, grouped_folds, ridge_logistic
from crsscore.modeling.persondays import PersonDays
from crsscore.scores.dynamic_card import DynamicScoreCard
from crsscore.validation.discrimination import auc
from crsscore.validation.dynamic import (
    grouped_bootstrap_indices,
    grouped_split,
    validate_dynamic,
)


def test_card_round_trip_gives_identical_risks(model: DynamicModel, pdays: PersonDays,
                                               tmp_path) -> None:
    card = model.to_card()
    path = tmp_path / "dyn.json"
    card.to_json(path)
    back = DynamicScoreCard.from_json(path)
    assert back == card
    risks = back.predict(pdays.data)
    for h in model.horizons:
        np.testing.assert_allclose(risks[f"risk_h{h}"].to_numpy(),
                                   model.predict(pdays.data, h), rtol=1e-12, atol=1e-15)
    # one patient-day through the same code path gives the same number
    one = pdays.data.iloc[[17]]
    assert back.predict(one)["risk_h2"].iloc[0] == pytest.approx(
        risks["risk_h2"].iloc[17], rel=1e-13)
    raw = json.loads(path.read_text())
    assert raw["kind"] == "dynamic" and raw["censoring_code"] == "horizon_specific_removal"
    assert "never counted as non-events" in raw["censoring_method"]
    assert raw["synthetic"] is True and len(raw["data_hash"]) == 64
    assert raw["spline"]["knots"] and raw["day_range"] == [0, 14]


def test_card_schema_refuses_unknown_terms_and_missing_horizons(model: DynamicModel) -> None:
    raw = json.loads(model.to_card().to_json())
    raw["models"][0]["coefficients"]["no_such_term"] = 1.0
    with pytest.raises(ScoreCardError, match="unknown terms"):
        DynamicScoreCard.from_json(json.dumps(raw))
    raw = json.loads(model.to_card().to_json())
    raw["models"] = raw["models"][:1]
    with pytest.raises(ScoreCardError, match="one model per horizon"):
        DynamicScoreCard.from_json(json.dumps(raw))


def test_ridge_fit_matches_scikit_learn() -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 4))
    y = (rng.random(400) < 1 / (1 + np.exp(-(x @ [1.0, -0.5, 0.0, 0.3] - 1)))).astype(float)
    fit = ridge_logistic(x, y, 2.0)
    z = (x - fit.center) / fit.scale
    sk = LogisticRegression(C=1 / 2.0, tol=1e-12, max_iter=10000).fit(z, y)
    np.testing.assert_allclose(fit.beta_std[1:], sk.coef_[0], atol=1e-6)
    np.testing.assert_allclose(fit.beta_std[0], sk.intercept_[0], atol=1e-6)


def test_grouped_split_and_folds_keep_each_patient_on_one_side(pdays: PersonDays) -> None:
    groups = pdays.data["patient_id"].to_numpy()
    a, b = grouped_split(groups, 0.5, seed=4)
    assert len(a) + len(b) == len(groups)
    assert not set(groups[a]) & set(groups[b])
    folds = grouped_folds(groups, 5, seed=2)
    per_patient = pd.Series(folds).groupby(groups).nunique()
    assert (per_patient == 1).all() and set(folds) == set(range(5))


def test_grouped_bootstrap_resamples_whole_patients(pdays: PersonDays) -> None:
    groups = pdays.data["patient_id"].to_numpy()
    size = pd.Series(groups).value_counts()
    for idx in grouped_bootstrap_indices(groups, 5, seed=9):
        drawn = pd.Series(groups[idx]).value_counts()
        # each drawn patient contributes all its days, k times over
        ratio = drawn / size.reindex(drawn.index)
        assert np.allclose(ratio, np.round(ratio)) and (ratio >= 1).all()
        assert int(np.round(ratio).sum()) == size.size  # as many draws as patients


def test_grouped_auc_equals_the_auc_of_the_duplicated_rows() -> None:
    rng = np.random.default_rng(1)
    s = np.round(rng.normal(size=300), 1)  # ties
    y = (rng.random(300) < 0.2).astype(float)
    idx = rng.integers(0, 300, 300)
    _, codes = np.unique(s, return_inverse=True)
    w = np.bincount(idx, minlength=300).astype(float)
    assert weighted_auc(codes, w * y, w * (1.0 - y)) == pytest.approx(rank_auc(y[idx], s[idx]), abs=1e-12)
    assert rank_auc(y, s) == pytest.approx(auc(y.astype(int), s).auc, abs=1e-12)


def test_validation_reports_both_models_subsets_and_censoring(model: DynamicModel,
                                                              pdays: PersonDays) -> None:
    val = validate_dynamic(model, pdays, B=20, seed=2, horizons=[2])
    head = val.headline(2)
    assert set(head["model"]) == {"dynamic", "comparator", "baseline"}
    assert set(head["subset"]) == {"all", "grade<=1"}
    assert head["ci_low"].notna().all()
    assert (head["ci_low"] <= head["corrected"]).all()
    d = val.auc_difference.set_index(["versus", "subset"])
    assert d.loc[("today's CRS grade alone", "all"), "apparent"] > 0
    assert d.loc[("static baseline", "all"), "apparent"] > 0
    assert val.B_effective[2] == 20
    assert "never counted as non-events" in val.to_dict()["censoring"]
    byday = val.auc_by_day
    assert set(byday["day"]) <= set(range(15))


def test_points_version_round_trip_and_schema(model: DynamicModel, pdays: PersonDays) -> None:
    from crsscore.modeling.dynamic import fit_points

    pm = fit_points(pdays, 2, continuous=model)
    assert pm.auc_points is not None and pm.auc_continuous is not None
    assert 0.5 < pm.auc_points <= pm.auc_continuous + 0.02
    card = DynamicScoreCard.from_json(model.to_card(points=[pm]).to_json())
    got = card.predict_points(pdays.data)
    total = pm.total(pdays.data)
    np.testing.assert_array_equal(got["points_h2"].to_numpy(), total)
    np.testing.assert_allclose(got["points_risk_h2"].to_numpy(),
                               1 / (1 + np.exp(-(pm.intercept + pm.slope * total))), rtol=1e-12)
    raw = json.loads(card.to_json())
    raw["points"][0]["variables"][0]["points"] = [0]
    with pytest.raises(ScoreCardError, match="one points value per band"):
        DynamicScoreCard.from_json(json.dumps(raw))
