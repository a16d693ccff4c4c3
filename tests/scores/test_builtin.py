"""Built-in published score cards: schema, provenance, worked values and boundary conventions."""

from __future__ import annotations

import math
from importlib.resources import files

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crsscore.errors import ScoreCardError
from crsscore.scores.builtin import builtin_ids, builtin_scorecards, get_builtin
from crsscore.scores.cohort_inputs import resolve_landmark_day
from crsscore.scores.evaluate import score_frame
from crsscore.scores.scorecard import ScoreCard
from crsscore.units import ANALYTE_UNITS

EXPECTED_IDS = {"easix", "easix-log2", "m-easix", "m-easix-log2", "s-easix", "s-easix-log2",
                "easix-preld-4.67", "car-hematotox", "hay2017"}


def _score(card_id: str, **cols: list[float]) -> pd.DataFrame:
    return score_frame(get_builtin(card_id), pd.DataFrame(cols))


def _total(card_id: str, **values: float) -> float:
    return float(_score(card_id, **{k: [v] for k, v in values.items()})["total"].iloc[0])


# --- files and metadata -----------------------------------------------------------------

def test_all_expected_cards_are_shipped() -> None:
    assert set(builtin_ids()) == EXPECTED_IDS
    assert builtin_scorecards().keys() == EXPECTED_IDS


@pytest.mark.parametrize("card_id", sorted(EXPECTED_IDS))
def test_file_validates_and_round_trips(card_id: str) -> None:
    text = files("crsscore.scores").joinpath("builtin", f"{card_id}.json").read_text(encoding="utf-8")
    card = ScoreCard.from_json(text)
    assert card.id == card_id
    again = ScoreCard.from_json(card.to_json())
    assert again == card
    assert ScoreCard.from_json(again.to_json()).to_json() == card.to_json()


@pytest.mark.parametrize("card_id", sorted(EXPECTED_IDS))
def test_card_documents_what_a_user_needs(card_id: str) -> None:
    card = get_builtin(card_id)
    prov = card.provenance
    assert prov.citation and prov.doi and prov.doi.startswith("10.")
    assert prov.verification == "secondary_sources"
    assert card.population and card.outcome and card.timepoint and card.description
    assert card.landmark is not None
    resolve_landmark_day(card)  # parses
    for var in card.variables:
        assert var.source == "observation"
        assert var.unit is not None and var.unit_kind in ANALYTE_UNITS
        assert var.day_window is not None and var.plausible_range is not None


def test_get_builtin_unknown_lists_the_ids() -> None:
    with pytest.raises(ScoreCardError, match=r"no built-in score card 'easix2'; available: car-hematotox"):
        get_builtin("easix2")


def test_builtin_scorecards_returns_a_fresh_dict() -> None:
    d = builtin_scorecards()
    d.pop("easix")
    assert "easix" in builtin_scorecards()


# --- EASIX family: worked values from the spec -----------------------------------------
# LDH 250 U/L, creatinine 0.8 mg/dL, CRP 5.0 mg/dL (= 50 mg/L canonical), platelets 100.

WORKED = {"ldh": 250.0, "creatinine": 0.8, "crp": 50.0, "plt": 100.0}


@pytest.mark.parametrize(("card_id", "expected", "decimals"), [
    ("easix", 2.000, 3), ("easix-log2", 1.000, 3), ("m-easix", 12.50, 2),
    ("m-easix-log2", 3.644, 3), ("s-easix", 2.5, 1), ("s-easix-log2", round(math.log2(2.5), 3), 3),
])
def test_easix_family_worked_values(card_id: str, expected: float, decimals: int) -> None:
    card = get_builtin(card_id)
    got = _total(card_id, **{n: WORKED[n] for n in card.input_names})
    assert round(got, decimals) == expected


def test_easix_family_matches_the_formulas_on_random_inputs() -> None:
    rng = np.random.default_rng(7)
    ldh, crea, crp_mgl, plt = (rng.uniform(100, 2000, 50), rng.uniform(0.3, 4, 50),
                               rng.uniform(1, 300, 50), rng.uniform(5, 400, 50))
    cols = {"ldh": ldh, "creatinine": crea, "crp": crp_mgl, "plt": plt}
    refs = {"easix": ldh * crea / plt, "m-easix": ldh * (crp_mgl / 10) / plt, "s-easix": ldh / plt}
    for cid, ref in refs.items():
        card = get_builtin(cid)
        data = pd.DataFrame({n: cols[n] for n in card.input_names})
        np.testing.assert_allclose(score_frame(card, data)["total"], ref, rtol=1e-12)
        log_card = get_builtin(f"{cid}-log2")
        np.testing.assert_allclose(score_frame(log_card, data)["total"], np.log2(ref), rtol=1e-12)


def test_m_easix_crp_tenfold_trap() -> None:
    """50 mg/L (canonical) and 5.0 mg/dL give the same m-EASIX; 50 read as mg/dL would not."""
    card = get_builtin("m-easix")
    base = {"ldh": [250.0], "plt": [100.0]}
    as_mg_l = score_frame(card, pd.DataFrame({**base, "crp": [50.0]}))["total"].iloc[0]
    as_mg_dl = score_frame(card, pd.DataFrame({**base, "crp": [5.0]}), units={"crp": "mg/dL"})["total"].iloc[0]
    assert as_mg_l == pytest.approx(12.5) and as_mg_dl == pytest.approx(12.5)
    wrong = score_frame(card, pd.DataFrame({**base, "crp": [50.0]}), units={"crp": "mg/dL"})["total"].iloc[0]
    assert wrong == pytest.approx(125.0)  # what the trap would have produced


@pytest.mark.parametrize("card_id", ["easix", "easix-log2", "m-easix", "m-easix-log2", "s-easix",
                                     "s-easix-log2", "easix-preld-4.67"])
def test_platelets_zero_is_an_error_not_infinity(card_id: str) -> None:
    card = get_builtin(card_id)
    data = pd.DataFrame({n: [WORKED[n], WORKED[n]] for n in card.input_names})
    data.loc[1, "plt"] = 0.0
    with pytest.raises(ScoreCardError, match=r"input row 1, column 'plt': needs a positive value \(it divides"):
        score_frame(card, data)


def test_negative_ldh_is_an_error() -> None:
    data = pd.DataFrame({"ldh": [-5.0], "creatinine": [0.8], "plt": [100.0]})
    with pytest.raises(ScoreCardError, match=r"row 0, column 'ldh': value outside the plausible range \(got '-5 U/L'"):
        score_frame(get_builtin("easix"), data)


def test_log2_score_refuses_zero_factor() -> None:
    data = pd.DataFrame({"ldh": [0.0], "creatinine": [0.8], "plt": [100.0]})
    assert score_frame(get_builtin("easix"), data)["total"].iloc[0] == 0.0
    with pytest.raises(ScoreCardError, match=r"column 'ldh': needs a positive value \(the score is log2-transformed\)"):
        score_frame(get_builtin("easix-log2"), data)


def test_missing_input_gives_nan_total_not_an_error() -> None:
    out = _score("easix", ldh=[250.0], creatinine=[float("nan")], plt=[100.0])
    assert math.isnan(out["total"].iloc[0])


# --- Korell 2022: EASIX > 4.67 -----------------------------------------------------------

@pytest.mark.parametrize(("ldh", "group"), [(467.0, "low"), (466.0, "low"), (467.01, "high"), (1000.0, "high")])
def test_korell_cut_off_is_strictly_greater(ldh: float, group: str) -> None:
    out = _score("easix-preld-4.67", ldh=[ldh], creatinine=[1.0], plt=[100.0])
    assert out["risk_group"].iloc[0] == group


def test_korell_card_is_measured_before_lymphodepletion() -> None:
    card = get_builtin("easix-preld-4.67")
    assert card.landmark == "pre-ld"
    assert resolve_landmark_day(card) == -5.0
    # calendar day -5 (up to -4.5) is the last day counted: LD starts on day -5
    assert all(v.day_window == (-7.5, 0.5) and v.aggregate == "last" for v in card.variables)


# --- CAR-HEMATOTOX ----------------------------------------------------------------------

HEMATOTOX_WORKED = {"plt": 100.0, "anc": 0.9, "hb": 10.0, "crp": 45.0, "ferritin": 500.0}


def test_car_hematotox_worked_example() -> None:
    out = _score("car-hematotox", **{k: [v] for k, v in HEMATOTOX_WORKED.items()})
    assert out["total"].iloc[0] == 3
    assert out["risk_group"].iloc[0] == "high"
    assert list(out.filter(like="pts_").iloc[0]) == [1, 1, 0, 1, 0]


@pytest.mark.parametrize(("name", "value", "points"), [
    ("plt", 176.0, 0), ("plt", 175.0, 1), ("plt", 75.0, 1), ("plt", 74.9, 2), ("plt", 0.0, 2),
    ("anc", 1.21, 0), ("anc", 1.2, 0), ("anc", 1.19, 1),
    ("hb", 9.0, 0), ("hb", 8.99, 1),
    ("crp", 29.9, 0), ("crp", 30.0, 0), ("crp", 30.1, 1),  # canonical mg/L; cut-off 3.0 mg/dL
    ("ferritin", 649.9, 0), ("ferritin", 650.0, 1), ("ferritin", 2000.0, 1), ("ferritin", 2000.1, 2),
])
def test_car_hematotox_boundary_conventions(name: str, value: float, points: int) -> None:
    out = _score("car-hematotox", **{k: [value if k == name else v] for k, v in HEMATOTOX_WORKED.items()})
    assert out[f"pts_{name}"].iloc[0] == points


def test_car_hematotox_crp_given_in_mg_dl_is_converted() -> None:
    vals = {k: [v] for k, v in HEMATOTOX_WORKED.items()}
    vals["crp"] = [4.5]
    out = score_frame(get_builtin("car-hematotox"), pd.DataFrame(vals), units={"crp": "mg/dL"})
    assert out["pts_crp"].iloc[0] == 1
    vals["crp"] = [4.5]  # 4.5 mg/L = 0.45 mg/dL
    assert _score("car-hematotox", **vals)["pts_crp"].iloc[0] == 0


@pytest.mark.parametrize(("values", "total", "group"), [
    ({"plt": 200.0, "anc": 2.0, "hb": 12.0, "crp": 10.0, "ferritin": 100.0}, 0, "low"),
    ({"plt": 200.0, "anc": 1.0, "hb": 12.0, "crp": 10.0, "ferritin": 100.0}, 1, "low"),
    ({"plt": 100.0, "anc": 1.0, "hb": 12.0, "crp": 10.0, "ferritin": 100.0}, 2, "high"),
    ({"plt": 10.0, "anc": 0.1, "hb": 7.0, "crp": 100.0, "ferritin": 5000.0}, 7, "high"),
])
def test_car_hematotox_risk_groups(values: dict[str, float], total: int, group: str) -> None:
    out = _score("car-hematotox", **{k: [v] for k, v in values.items()})
    assert out["total"].iloc[0] == total and out["risk_group"].iloc[0] == group


# --- Hay 2017 ---------------------------------------------------------------------------

@pytest.mark.parametrize(("temp", "mcp1", "total", "group"), [
    (38.9, 1343.5, 2, "high"),
    (38.9, 1343.4, 1, "low"),
    (38.85, 5000.0, 2, "high"),     # rounds half up to 38.9
    (38.84, 5000.0, 0, "low"),      # rounds to 38.8
    (38.0, float("nan"), 0, "low"),  # no fever: MCP-1 not needed
    (40.0, float("nan"), None, None),  # fever, MCP-1 unknown: not scored
])
def test_hay_rule(temp: float, mcp1: float, total: int | None, group: str | None) -> None:
    out = _score("hay2017", temp=[temp], mcp1=[mcp1])
    if total is None:
        assert math.isnan(out["total"].iloc[0])
        assert not isinstance(out["risk_group"].iloc[0], str)
    else:
        assert out["total"].iloc[0] == total and out["risk_group"].iloc[0] == group


def test_hay_fahrenheit_is_converted() -> None:
    card = get_builtin("hay2017")
    data = pd.DataFrame({"temp": [102.0, 101.9, 104.0], "mcp1": [2000.0] * 3})
    out = score_frame(card, data, units={"temp": "F"})
    assert list(out["risk_group"]) == ["high", "low", "high"]
    # 102.0 read as Celsius is impossible, not silently scored
    with pytest.raises(ScoreCardError, match=r"column 'temp': value outside the plausible range"):
        score_frame(card, data)


def test_hay_window_is_the_first_36_hours() -> None:
    card = get_builtin("hay2017")
    assert card.landmark == "day0" and resolve_landmark_day(card) == 0.0
    for var in card.variables:
        assert var.day_window == (0.0, 1.5) and var.aggregate == "max"
    assert card.outcome.startswith("grade >= 4")


# --- safety: never inf or NaN from complete inputs --------------------------------------

_finite = st.floats(-1e3, 1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=150, deadline=None)
@given(card_id=st.sampled_from(sorted(EXPECTED_IDS - {"hay2017", "car-hematotox"})),
       ldh=_finite, creatinine=_finite, crp=_finite, plt=_finite)
def test_product_scores_are_finite_or_refused(card_id: str, ldh: float, creatinine: float,
                                              crp: float, plt: float) -> None:
    card = get_builtin(card_id)
    values = {"ldh": ldh, "creatinine": creatinine, "crp": crp, "plt": plt}
    data = pd.DataFrame({n: [values[n]] for n in card.input_names})
    try:
        out = score_frame(card, data)
    except ScoreCardError as exc:
        assert str(exc).startswith("input row 0")
        return
    assert np.isfinite(out["total"]).all()
