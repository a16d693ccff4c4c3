"""The shared parts of a derived card: risk groups, notes, tocilizumab warning, variable fields."""

from __future__ import annotations

import math

from crsscore.modeling.candidates import candidate
from crsscore.modeling.points import RiskGroupSummary
from crsscore.scores.build import (
    SYNTHETIC_NOTE,
    card_risk_groups,
    derived_notes,
    uses_cytokines,
    variable_fields,
)


def test_risk_groups_keep_numbers_and_turn_nan_into_none() -> None:
    g = [RiskGroupSummary("low", 0, 4, 50, 0, 0.0, 0.0, 0.071),
         RiskGroupSummary("high", 5, 20, 0, 0, math.nan, math.nan, math.nan)]
    low, high = card_risk_groups(g)
    assert (low.name, low.min_total, low.max_total, low.n, low.events) == ("low", 0, 4, 50, 0)
    assert low.observed_rate == 0.0 and low.ci_high == 0.071
    assert high.observed_rate is None and high.ci_low is None and high.ci_high is None


def test_synthetic_note_heads_the_notes_only_when_synthetic() -> None:
    assert derived_notes(["a", "b"], synthetic=True) == [SYNTHETIC_NOTE, "a", "b"]
    assert derived_notes(["a"], synthetic=False) == ["a"]


def test_tocilizumab_warning_follows_the_evaluator_set() -> None:
    assert uses_cytokines(["ferritin", "crp"]) and uses_cytokines(["il6"])
    assert not uses_cytokines(["ferritin", "aptt", "mrd_baseline"])


def test_variable_fields_give_a_window_only_to_observations() -> None:
    crp = candidate("crp")
    obs = variable_fields(crp, (-1.0, 0.5))
    assert obs["day_window"] == (-1.0, 0.5) and obs["unit"] == crp.unit
    assert obs["aggregate"] == "nearest" and obs["source"] == "observation"
    pat = variable_fields(candidate("mrd_baseline_pct"), (-1.0, 0.5))
    assert pat["day_window"] is None and pat["source"] == "patient"
