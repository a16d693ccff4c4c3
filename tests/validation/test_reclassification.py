"""Tests of crsscore.validation.reclassification.

R reference: tests/fixtures/proc/reference.csv made by tests/fixtures/proc/make_fixtures.R
(`cd tests/fixtures/proc && Rscript make_fixtures.R`; R 4.2.2, Hmisc 4.8.0):
`Hmisc::improveProb(p_old, p_new, y)` for the continuous NRI and the IDI, and improveProb on
the category codes (cut-offs 0.1 and 0.3, right-open intervals) for the categorical NRI.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crsscore.errors import DataError
from crsscore.validation.reclassification import CAVEAT, idi, nri_categorical, nri_continuous


@pytest.mark.parametrize("kind", ["cont", "cat"])
def test_nri_equals_hmisc_improveprob(data: pd.DataFrame, ref: dict[tuple[str, str], float], kind: str) -> None:
    sec = f"improve_{kind}"
    if kind == "cont":
        r = nri_continuous(data["y"], data["p_old"], data["p_new"], B=0)
    else:
        r = nri_categorical(data["y"], data["p_old"], data["p_new"], cutoffs=[0.1, 0.3], B=0)
    assert r.nri == pytest.approx(ref[(sec, "nri")], abs=1e-12)
    assert r.nri_events == pytest.approx(ref[(sec, "nri.ev")], abs=1e-12)
    assert r.nri_nonevents == pytest.approx(ref[(sec, "nri.ne")], abs=1e-12)
    assert r.se == pytest.approx(ref[(sec, "se.nri")], rel=1e-10)
    assert r.se_events == pytest.approx(ref[(sec, "se.nri.ev")], rel=1e-10)
    assert r.se_nonevents == pytest.approx(ref[(sec, "se.nri.ne")], rel=1e-10)
    assert r.ci == pytest.approx((r.nri - 1.959963985 * r.se, r.nri + 1.959963985 * r.se))
    assert r.ci_method == "Wald" and r.seed is None


def test_idi_equals_hmisc_improveprob(data: pd.DataFrame, ref: dict[tuple[str, str], float]) -> None:
    r = idi(data["y"], data["p_old"], data["p_new"], B=0)
    assert r.idi == pytest.approx(ref[("improve_cont", "idi")], abs=1e-12)
    assert r.se == pytest.approx(ref[("improve_cont", "se.idi")], rel=1e-10)
    assert r.improvement_events == pytest.approx(ref[("improve_cont", "improveSens")], abs=1e-12)
    assert r.improvement_nonevents == pytest.approx(ref[("improve_cont", "improveSpec")], abs=1e-12)
    assert r.idi == pytest.approx(r.slope_new - r.slope_old, abs=1e-12)


def test_by_hand_small_example() -> None:
    y = np.array([1, 1, 1, 0, 0, 0, 0])
    old = np.array([0.05, 0.15, 0.35, 0.05, 0.15, 0.35, 0.25])
    new = np.array([0.15, 0.15, 0.25, 0.05, 0.05, 0.35, 0.35])
    # categories [0,0.1), [0.1,0.3), [0.3,1]; 0.3 itself would go up
    c = nri_categorical(y, old, new, cutoffs=[0.1, 0.3], B=0)
    # events: 1 up, 1 down -> 0; non-events: 1 down (0.15->0.05), 1 up (0.25->0.35) -> 0
    assert (c.up_events, c.down_events, c.down_nonevents, c.up_nonevents) == (1, 1, 1, 1)
    assert c.nri == 0.0
    tab = c.table
    assert tab is not None and int(tab.drop(columns=["old", "outcome"]).to_numpy().sum()) == 7
    k = nri_continuous(y, old, new, B=0)
    assert k.nri_events == pytest.approx((1 - 1) / 3)
    assert k.nri_nonevents == pytest.approx((1 - 1) / 4)
    i = idi(y, old, new, B=0)
    d = new - old
    assert i.idi == pytest.approx(d[:3].mean() - d[3:].mean())
    assert nri_categorical([1, 0, 0], [0.29, 0.2, 0.2], [0.3, 0.2, 0.2], cutoffs=[0.3], B=0).up_events == 1


def test_bootstrap_intervals_are_seeded(data: pd.DataFrame) -> None:
    args = (data["y"], data["p_old"], data["p_new"])
    a = nri_continuous(*args, B=200, seed=3)
    b = nri_continuous(*args, B=200, seed=3)
    assert a.ci == b.ci and a.ci_method == "bootstrap percentile" and (a.B, a.seed) == (200, 3)
    assert a.ci_low < a.nri < a.ci_high
    assert a.ci_low == pytest.approx(a.nri - 1.96 * a.se, abs=0.06)
    i = idi(*args, B=200, seed=3)
    assert i.ci_low < i.idi < i.ci_high
    assert i.ci_low == pytest.approx(i.idi - 1.96 * i.se, abs=0.03)
    c = nri_categorical(*args, cutoffs=[0.1, 0.3], B=200, seed=3)
    assert c.ci_events[0] < c.nri_events < c.ci_events[1]


def test_rendering(data: pd.DataFrame) -> None:
    r = nri_categorical(data["y"], data["p_old"], data["p_new"], cutoffs=[0.1, 0.3], B=0)
    assert list(r.to_frame().index) == ["NRI (categorical)", "NRI events", "NRI non-events"]
    text = r.summary()
    assert "cut-offs 0.1, 0.3" in text and CAVEAT in text
    assert "not proper scoring rules" in CAVEAT
    assert isinstance(r.to_dict()["table"], list)
    i = idi(data["y"], data["p_old"], data["p_new"], B=0)
    assert "IDI" in i.summary() and i.to_frame().loc["IDI", "estimate"] == i.idi
    assert i.to_dict()["idi"] == i.idi


def test_errors() -> None:
    y, a, b = [0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4], [0.2, 0.3, 0.1, 0.5]
    with pytest.raises(ValueError, match="'cutoffs' parameter of nri_categorical"):
        nri_categorical(y, a, b, cutoffs=[0.3, 0.1])
    with pytest.raises(ValueError, match="'cutoffs' parameter of nri_categorical"):
        nri_categorical(y, a, b, cutoffs=[1.0])
    with pytest.raises(ValueError, match="'B' parameter of nri_continuous"):
        nri_continuous(y, a, b, B=5)
    with pytest.raises(ValueError, match="'level' parameter of idi"):
        idi(y, a, b, level=2)
    with pytest.raises(DataError, match="p_new"):
        idi(y, a, [0.2, 0.3, 0.1, 1.5])
    with pytest.raises(DataError, match="at least one event"):
        idi([0, 0, 0, 0], a, b)


def test_properties_identity_and_antisymmetry(data: pd.DataFrame) -> None:
    y, a, b = data["y"], data["p_old"], data["p_new"]
    same = nri_continuous(y, a, a, B=0)
    assert (same.nri, same.se) == (0.0, 0.0)
    assert idi(y, a, a, B=0).idi == 0.0
    assert nri_continuous(y, b, a, B=0).nri == pytest.approx(-nri_continuous(y, a, b, B=0).nri)
    assert idi(y, b, a, B=0).idi == pytest.approx(-idi(y, a, b, B=0).idi)
    c = nri_categorical(y, a, b, cutoffs=[0.2], B=0)
    tab = c.table
    assert tab is not None
    ev = tab[tab["outcome"] == "events"].set_index("old").drop(columns="outcome")
    # with one cut-off: up = old low -> new high, down = old high -> new low
    assert ev.iloc[0, 1] == c.up_events and ev.iloc[1, 0] == c.down_events
