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
                      outcomes=oc, allow_small_sample=True)
    assert keep.n_analysed - excl.n_analysed == excl.landmark.n_prior_outcome
    assert keep.events - excl.events == excl.landmark.n_prior_outcome
    # below the floor the card is only written on request, and says so
    assert excl.scorecard.sample_size is not None and excl.scorecard.sample_size.override
    assert not excl.scorecard.sample_size.ok
    with pytest.raises(ModelError, match=r"fewer than 10.*excluded \(--prior-outcome exclude\).*"
                                         r"--prior-outcome keep.*--allow-small-sample"):
        derive(cohort, landmark="day7", prior_outcome="exclude", settings=settings, outcomes=oc)
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


def test_too_few_events_refuses_a_card_and_says_why() -> None:
    from crsscore.workflow import MIN_EVENTS, sample_size_floor

    assert sample_size_floor(200, 2, 7) is not None
    assert "fewer than 10" in str(sample_size_floor(200, 9, 3))
    assert sample_size_floor(500, 80, 4) is None
    assert MIN_EVENTS == 10
    # far below Riley's minimum (more than 10 times the cohort) is refused as well
    assert "Riley" in str(sample_size_floor(60, 12, 40))


def test_one_seed_drives_the_run() -> None:
    cohort = simulate_cohort(140, seed=11)
    settings = DerivationSettings(candidates=CANDS, n_imputations=2, seed=7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = derive(cohort, landmark="day7", prior_outcome="keep", settings=settings)
        b = derive(cohort, landmark="day7", prior_outcome="keep", settings=settings, seed=7)
    assert a.seed == b.seed == 7 == a.scorecard.provenance.seed
    assert a.scorecard.to_json() == b.scorecard.to_json()


def test_each_resample_repeats_the_reported_procedure() -> None:
    """The bootstrap's fit on the original rows is the reported model (same m, same selection)."""
    import numpy as np

    from crsscore.workflow import pipeline_fit_fn

    cohort = simulate_cohort(140, seed=11)
    settings = DerivationSettings(candidates=CANDS, n_imputations=3, seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = derive(cohort, landmark="day7", prior_outcome="keep", settings=settings)
        fit_fn = pipeline_fit_fn(run.analysis_data, run.settings)  # no shortcut to the reported model
        n = len(run.analysis_y)
        refit = fit_fn(np.arange(n), run.analysis_y)
        lp = refit(np.arange(n))
    assert run.model.m_ == 3
    np.testing.assert_allclose(lp, run.model.decision_function(run.analysis_data, impute=True),
                               rtol=0, atol=1e-12)


@pytest.mark.parametrize("landmark", ["pre-ld", "day0", "day3", "day7"])
def test_card_totals_equal_model_totals_at_every_landmark(landmark: str) -> None:
    """The card reads each value as the landmark table did: same window, same nearest rule."""
    import numpy as np

    from crsscore.scores.cohort_inputs import score_cohort

    cohort = simulate_cohort(300, seed=1)
    cands = {"pre-ld": ("mrd_baseline_pct", "ldh", "plt", "crp"),
             "day0": ("mrd_baseline_pct", "crp", "ferritin", "plt"),
             "day3": ("crp", "il6", "ferritin", "anc"),
             "day7": ("crp", "il6", "aptt", "anc")}[landmark]
    settings = DerivationSettings(candidates=cands, n_imputations=1, seed=1, select="none")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = derive(cohort, landmark=landmark, prior_outcome="keep", settings=settings,
                     allow_small_sample=True)
        scored = score_cohort(run.scorecard, cohort).set_index("patient_id")
    data = run.landmark.data
    data = data[data["severe_crs"].notna()].reset_index(drop=True)
    model_total = run.model.total(data)
    card_total = scored.loc[data["patient_id"].astype(str), "total"].to_numpy(dtype=float)
    np.testing.assert_array_equal(np.isnan(card_total), np.isnan(model_total))
    np.testing.assert_array_equal(card_total[~np.isnan(card_total)],
                                  model_total[~np.isnan(model_total)])


def test_derive_refuses_a_cohort_whose_outcome_cannot_be_graded(tmp_path: object) -> None:
    """Without an events table severe CRS is unknown: derive says so, never 'no events'."""
    from pathlib import Path

    from crsscore.data.io import load_cohort
    from crsscore.data.simulate import write_cohort
    from crsscore.errors import DataError

    folder = Path(str(tmp_path)) / "cohort"
    write_cohort(simulate_cohort(120, seed=3), folder)
    (folder / "events.csv").unlink()
    cohort = load_cohort(folder)
    with pytest.raises(DataError, match="events"):
        derive(cohort, landmark="day7", prior_outcome="keep")
