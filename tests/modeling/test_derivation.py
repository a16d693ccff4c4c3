"""Tests of the derivation pipeline (crsscore.modeling.derivation.PointScoreModel)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crsscore.errors import LowEventsWarning, ModelError
from crsscore.modeling.derivation import DerivationSettings, PointScoreModel
from crsscore.scores.evaluate import score_frame
from crsscore.scores.scorecard import ScoreCard


def _cohort(n: int = 300, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Landmark-like frame in canonical units with a known risk model."""
    rng = np.random.default_rng(seed)
    mrd = np.where(rng.random(n) < 0.3, 0.0, 10 ** rng.normal(0, 1, n))
    crp = 10 ** rng.normal(1.5, 0.4, n)
    anc = np.exp(rng.normal(0, 0.8, n))
    aptt = rng.normal(35, 6, n)
    lp = -3.2 + 0.9 * np.log10(np.maximum(mrd, 0.001)) + 1.6 * (np.log10(crp) - 1.5) / 0.4 \
        - 0.5 * np.log(anc) + 0.03 * (aptt - 35)
    y = (rng.random(n) < 1 / (1 + np.exp(-lp))).astype(int)
    frame = pd.DataFrame({"mrd_baseline_pct": mrd, "crp": crp, "anc": anc, "aptt": aptt})
    return frame, y


SETTINGS = DerivationSettings(candidates=("mrd_baseline_pct", "crp", "anc", "aptt"),
                              n_imputations=3, seed=1)


def test_scorecard_reproduces_the_fitted_model_exactly() -> None:
    frame, y = _cohort()
    model = PointScoreModel(SETTINGS).fit(frame, y)
    card = model.to_scorecard(landmark="day7")
    again = ScoreCard.from_json(card.to_json())
    scored = score_frame(again, frame)
    np.testing.assert_array_equal(scored["total"].to_numpy(), model.total(frame))
    np.testing.assert_allclose(scored["probability"].to_numpy(), model.predict_proba(frame),
                               rtol=0, atol=1e-15)


def test_strong_predictor_is_selected_and_gets_points() -> None:
    frame, y = _cohort(600, seed=2)
    model = PointScoreModel(SETTINGS).fit(frame, y)
    assert "crp" in model.selected_
    assert max(model.points_["crp"]) >= 1
    assert model.auc_points_apparent_ > 0.7
    sheet = model.score_sheet()
    assert set(sheet["name"]) == set(model.selected_)
    # every band of every selected variable appears, lowest-risk band has 0 points
    for name in model.selected_:
        assert min(sheet.loc[sheet["name"] == name, "points"]) == 0


def test_missing_values_imputed_and_counted() -> None:
    frame, y = _cohort(300, seed=3)
    frame.loc[frame.index[::10], "crp"] = np.nan
    mi = PointScoreModel(SETTINGS).fit(frame, y)
    assert mi.n_used_ == 300 and mi.m_ == 3
    assert any("multiple imputation" in n for n in mi.notes_)
    cc = PointScoreModel(DerivationSettings(**{**SETTINGS.__dict__, "missing": "complete"}))
    cc.fit(frame, y)
    assert cc.n_used_ == 270
    assert any("complete-case" in n for n in cc.notes_)


def test_auto_method_uses_firth_with_few_events() -> None:
    frame, y = _cohort(125, seed=4)
    with pytest.warns(LowEventsWarning, match="events per candidate"):
        model = PointScoreModel(SETTINGS).fit(frame, y)
    assert model.method_ == "firth"
    assert "Firth" in model.method_reason_


def test_errors_are_clear() -> None:
    frame, y = _cohort(200, seed=5)
    with pytest.raises(ModelError, match="events"):
        PointScoreModel(SETTINGS).fit(frame, np.zeros(len(frame), dtype=int))
    f2 = frame.copy()
    f2["crp"] = np.nan
    with pytest.raises(ModelError, match="no observed value"):
        PointScoreModel(SETTINGS).fit(f2, y)
    f3 = frame.copy()
    f3["aptt"] = 30.0
    with pytest.raises(ModelError, match="constant"):
        PointScoreModel(SETTINGS).fit(f3, y)
    with pytest.raises(ModelError, match="unknown candidate"):
        PointScoreModel(DerivationSettings(candidates=("nonsense",))).fit(frame, y)
    with pytest.raises(ModelError, match="not in the data"):
        PointScoreModel(DerivationSettings(candidates=("il6",))).fit(frame, y)


def test_given_cutpoints_are_used() -> None:
    frame, y = _cohort(400, seed=6)
    s = DerivationSettings(candidates=("crp", "anc"), select="none", n_imputations=1,
                           given_cutpoints={"crp": (20.0, 60.0)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LowEventsWarning)
        model = PointScoreModel(s).fit(frame, y)
    assert model.cuts_["crp"] == [20.0, 60.0]
    card = model.to_scorecard()
    bands = card.variable("crp").bands
    assert [b.lower for b in bands] == [None, 20.0, 60.0]


def test_learned_score_card_reproduces_the_model() -> None:
    from crsscore.modeling.learned import LearnedPointScoreModel

    frame, y = _cohort(300, seed=7)
    frame.loc[frame.index[::15], "crp"] = np.nan
    model = LearnedPointScoreModel(SETTINGS, max_features=3).fit(frame, y)
    card = model.to_scorecard(landmark="day7")
    assert all(isinstance(p, float) and p == int(p) for v in card.variables
               for p in [b.points for b in v.bands] + [v.threshold_points])
    assert sum(len(v.bands) - 1 if v.kind == "bands" else 1 for v in card.variables) <= 3
    scored = score_frame(ScoreCard.from_json(card.to_json()), frame)
    np.testing.assert_array_equal(scored["total"].to_numpy(), model.total(frame))
    np.testing.assert_allclose(scored["probability"].to_numpy(), model.predict_proba(frame),
                               rtol=1e-12)
    assert model.auc_points_apparent_ > 0.65
    assert card.variable(model.selected_[0]).unit is not None


def test_settings_are_validated_with_a_clear_message() -> None:
    from crsscore.modeling.derivation import DerivationSettingsError

    for bad, name in [({"method": "fith"}, "method"), ({"cutpoints": "clincal"}, "cutpoints"),
                      ({"missing": "mise"}, "missing"), ({"select": "forward"}, "select"),
                      ({"max_points": 0}, "max_points"), ({"force": ("zz",)}, "force")]:
        with pytest.raises(DerivationSettingsError, match=rf"The '{name}' parameter of "
                                                          r"DerivationSettings must be .* Got .* instead"):
            DerivationSettings(**bad)  # type: ignore[arg-type]
    with pytest.raises(DerivationSettingsError, match="Unknown derivation setting"):
        SETTINGS.with_(sead=3)


def test_points_are_monotone_small_and_lose_little() -> None:
    frame, y = _cohort(600, seed=2)
    model = PointScoreModel(SETTINGS).fit(frame, y)
    assert all(model.monotone_.values())
    assert model.scale_.max_total <= SETTINGS.max_points
    assert abs(model.auc_loss_) <= 0.02  # strong effects (OR 2.5 per point): rounding costs a little
    # CRP raises the risk, ANC lowers it: the points follow the continuous coefficients
    coef = dict(zip(model.continuous_.names, model.continuous_.coef, strict=True))
    for name in model.scored_:
        pts = list(model.points_[name])
        assert pts == (sorted(pts) if coef[name] > 0 else sorted(pts, reverse=True))
    table = model.risk_table()
    assert table["total"].is_unique and set(table["total"]) == set(model.scale_.reachable_totals())


def test_shrinkage_is_heuristic_and_recorded() -> None:
    frame, y = _cohort(300, seed=3)
    model = PointScoreModel(SETTINGS).fit(frame, y)
    df = model.n_candidate_parameters_
    assert model.shrinkage_ == pytest.approx((model.lr_chi2_ - df) / model.lr_chi2_)
    assert model.prob_slope_ == pytest.approx(model.shrinkage_ * model.prob_slope_raw_)
    # calibration in the large holds after re-estimating the intercept
    assert model.predict_proba(frame, impute=True).mean() == pytest.approx(np.mean(y), abs=0.01)
    card = model.to_scorecard()
    assert card.performance.extra["shrinkage"] == pytest.approx(model.shrinkage_)
    assert "shrinkage heuristic" in card.provenance.method
    none = PointScoreModel(SETTINGS.with_(shrinkage="none")).fit(frame, y)
    assert none.shrinkage_ == 1.0 and none.prob_slope_ == none.prob_slope_raw_


def test_splines_give_a_non_linear_reference_model() -> None:
    rng = np.random.default_rng(8)
    n = 1500
    aptt = rng.normal(35, 8, n)
    crp = 10 ** rng.normal(1.5, 0.4, n)
    lp = -2.5 + 0.04 * (aptt - 35) ** 2 / 8 + 1.5 * (np.log10(crp) - 1.5)
    y = (rng.random(n) < 1 / (1 + np.exp(-lp))).astype(int)
    frame = pd.DataFrame({"aptt": aptt, "crp": crp})
    s = DerivationSettings(candidates=("aptt", "crp"), splines="rcs", knots=4, select="none", seed=1)
    model = PointScoreModel(s).fit(frame, y)
    assert any(name.endswith("'") for name in model.continuous_.names)
    assert not model.monotone_["aptt"]  # U-shaped: shown as such
    assert model.monotone_["crp"]
    assert any("not monotone" in line for line in model.limitations())


_UNIT_FRAME, _UNIT_Y = _cohort(250, seed=9)
_UNIT_FRAME.loc[_UNIT_FRAME.index[::12], "aptt"] = np.nan
_UNIT_SETTINGS = DerivationSettings(candidates=("crp", "anc", "aptt"), n_imputations=3, seed=4)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", LowEventsWarning)
    _UNIT_BASE = PointScoreModel(_UNIT_SETTINGS).fit(_UNIT_FRAME, _UNIT_Y)


@settings(max_examples=12, deadline=None)
@given(k=st.integers(min_value=-3, max_value=3), col=st.sampled_from(["aptt", "anc"]),
       method=st.sampled_from(["auto", "ml"]))
def test_selection_and_points_do_not_depend_on_units(k: int, col: str, method: str) -> None:
    """Multiplying a candidate by 10^k changes neither the kept set nor the points (issue 13.1)."""
    s = _UNIT_SETTINGS.with_(method=method)
    scaled = _UNIT_FRAME.copy()
    scaled[col] = scaled[col] * 10.0**k
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LowEventsWarning)
        base = _UNIT_BASE if method == "auto" else PointScoreModel(s).fit(_UNIT_FRAME, _UNIT_Y)
        other = PointScoreModel(s).fit(scaled, _UNIT_Y)
    assert other.selected_ == base.selected_
    assert other.points_ == base.points_
    for name in base.scored_:
        factor = 10.0**k if name == col else 1.0
        np.testing.assert_allclose(np.array(other.cuts_[name]) / factor, base.cuts_[name],
                                   rtol=1e-9)
