"""Replay (silent trial) of a dynamic card over a cohort's person-days (issue 16.6)."""

from __future__ import annotations

import pytest

from crsscore.modeling.dynamic import DynamicModel
from crsscore.modeling.persondays import PersonDays
from crsscore.validation.dynamic import replay


def test_replay_counts_alerts_lead_time_and_ppv(model: DynamicModel, pdays: PersonDays,
                                                tmp_path) -> None:
    card = model.to_card()
    res = replay(card, pdays, threshold=0.1, horizon=2)
    s = res.summary
    traj = res.trajectories
    assert s["patient_days"] == len(pdays.data)
    assert s["alert_days"] == int((traj["risk"] >= 0.1).sum())
    assert s["alerts_per_100_patient_days"] == pytest.approx(100 * s["alert_days"] / len(traj))
    known = pdays.data["y_h2"].notna() & (traj["alert"])
    assert s["ppv"] == pytest.approx(pdays.data.loc[known, "y_h2"].mean())
    first = traj[traj["alert"] & traj["severe"]].groupby("patient_id")["day"].min()
    onset = traj.groupby("patient_id")["onset_day"].first()
    lead = (onset.reindex(first.index) - first)
    assert s["median_lead_days"] == pytest.approx(lead.median())
    assert (lead > 0).all()
    dec = res.decision.set_index("threshold")
    assert {"dynamic", "grade alone", "alert all"} <= set(dec.columns) and 0.1 in dec.index
    prev = 0.2 * float(pdays.data["y_h2"].dropna().mean()) * 5  # event share
    assert dec.loc[0.1, "alert all"] == pytest.approx(prev - (1 - prev) * 0.1 / 0.9)
    assert s["net_benefit"] == pytest.approx(dec.loc[0.1, "dynamic"])
    res.plot(tmp_path / "traj.png")
    assert (tmp_path / "traj.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="threshold"):
        replay(card, pdays, threshold=1.5)
