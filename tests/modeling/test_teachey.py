"""Tests of the Teachey-structure refit (crsscore.modeling.teachey)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crsscore.data.cohort import Cohort
from crsscore.errors import ModelError
from crsscore.modeling.teachey import teachey_refit
from crsscore.scores.cohort_inputs import score_cohort


def _cohort(n: int = 120, seed: int = 0) -> tuple[Cohort, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ids = [f"P{i:03d}" for i in range(n)]
    rows = []
    lp = np.full(n, -2.0)
    for code, unit, mu, beta in (("sgp130", "ng/mL", 2.5, 1.5), ("ifng", "pg/mL", 1.5, 1.2),
                                 ("il1ra", "pg/mL", 3.0, 0.8)):
        for day in (0.5, 1.5, 2.5):
            v = 10 ** rng.normal(mu, 0.4, n)
            rows.append(pd.DataFrame({"patient_id": ids, "day": day, "analyte": code,
                                      "value": v, "unit": unit}))
        peak = pd.concat(rows[-3:]).groupby("patient_id")["value"].max().reindex(ids).to_numpy()
        lp += beta * (np.log10(peak) - mu)
    # a late value that must not count (outside days 0-3)
    rows.append(pd.DataFrame({"patient_id": ids, "day": 5.0, "analyte": "ifng",
                              "value": 1e6, "unit": "pg/mL"}))
    y = (rng.random(n) < 1 / (1 + np.exp(-lp))).astype(int)
    cohort = Cohort(patients=pd.DataFrame({"patient_id": ids}),
                    observations=pd.concat(rows, ignore_index=True))
    return cohort, pd.DataFrame({"patient_id": ids, "severe_crs": y})


def test_refit_card_reproduces_the_fit_and_is_labelled() -> None:
    cohort, outcome = _cohort()
    card, fit = teachey_refit(cohort, outcome)
    assert card.provenance.verification == "refit"
    assert "not Teachey's model" in card.name
    scored = score_cohort(card, cohort)
    obs = cohort.observations
    early = obs[(obs["day"] >= 0) & (obs["day"] <= 3)]
    peak = early.pivot_table(index="patient_id", columns="analyte", values="value", aggfunc="max")
    X = np.log10(peak[["sgp130", "ifng", "il1ra"]].to_numpy())
    np.testing.assert_allclose(scored["probability"].to_numpy(), fit.predict_proba(X), rtol=1e-12)
    assert card.performance.n == 120
    assert all(c > 0 for c in fit.coef[1:])  # simulated effects are positive


def test_refit_refuses_too_few_patients_and_nonpositive_values() -> None:
    cohort, outcome = _cohort(8)
    with pytest.raises(ModelError, match="needs patients"):
        teachey_refit(cohort, outcome)
    cohort, outcome = _cohort(60, seed=1)
    obs = cohort.observations
    obs.loc[(obs["patient_id"] == "P000") & (obs["analyte"] == "sgp130"), "value"] = 0.0
    with pytest.raises(ModelError, match="<= 0"):
        teachey_refit(cohort, outcome)
    with pytest.raises(ModelError, match="structure"):
        teachey_refit(cohort, outcome, structure="adult")  # type: ignore[arg-type]
