"""The workflow: derivation with bootstrap validation of the whole pipeline."""

from __future__ import annotations

import warnings

import pytest

from crsscore.data.simulate import simulate_cohort
from crsscore.errors import ModelError
from crsscore.modeling.derivation import DerivationSettings
from crsscore.workflow import cohort_outcomes, derive

CANDS = ("mrd_baseline_pct", "crp", "il6", "aptt")


@pytest.mark.parametrize("missing", ["mice", "complete"])
def test_bootstrap_index_orig_is_the_reported_model(missing: str) -> None:
    cohort = simulate_cohort(140, seed=11)
    settings = DerivationSettings(candidates=CANDS, n_imputations=2, missing=missing, seed=3)  # type: ignore[arg-type]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = derive(cohort, landmark="day7", prior_outcome="keep", settings=settings,
                     bootstrap=12, seed=3)
    tab = run.validation.to_frame()
    assert tab.loc["AUC", "index.orig"] == pytest.approx(run.model.auc_points_apparent_, abs=1e-12)
    assert tab.loc["AUC", "index.corrected"] == pytest.approx(
        tab.loc["AUC", "index.orig"] - tab.loc["AUC", "optimism"])
    assert run.validation.B == 12 and run.validation.seed == 3
    assert run.scorecard.performance.auc_optimism_corrected == pytest.approx(
        tab.loc["AUC", "index.corrected"])
    assert run.scorecard.name.startswith("Severe-CRS point score")
    assert run.n_analysed + run.landmark.n_prior_outcome * 0 <= cohort.n_patients


def test_exclude_policy_counts_and_errors() -> None:
    cohort = simulate_cohort(140, seed=12)
    oc = cohort_outcomes(cohort)
    settings = DerivationSettings(candidates=CANDS, n_imputations=1, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        keep = derive(cohort, landmark="day7", prior_outcome="keep", settings=settings, outcomes=oc)
        excl = derive(cohort, landmark="day7", prior_outcome="exclude", settings=settings,
                      outcomes=oc)
    assert keep.n_analysed - excl.n_analysed == excl.landmark.n_prior_outcome
    assert keep.events - excl.events == excl.landmark.n_prior_outcome
    with pytest.raises(ModelError, match="prior_outcome"):
        derive(cohort, prior_outcome="drop", settings=settings, outcomes=oc)
    with pytest.raises(ModelError, match="points"):
        derive(cohort, points="magic", settings=settings, outcomes=oc)


def test_card_reads_values_in_the_window_the_landmark_table_used() -> None:
    cohort = simulate_cohort(140, seed=13)
    settings = DerivationSettings(candidates=CANDS, n_imputations=1, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = derive(cohort, landmark="day7", window=2.0, prior_outcome="keep", settings=settings)
    for var in run.scorecard.variables:
        if var.source == "observation":
            assert var.day_window == (-2.0, 2.0)
    assert run.scorecard.provenance.data_hash == run.data_hash == cohort.data_hash()
