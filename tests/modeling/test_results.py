"""A derivation renders itself: summary(), to_frame(), plot(ax) and _repr_html_ show the
fitted model's own numbers (the CLI and the report only format these)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from crsscore.modeling.derivation import DerivationSettings, PointScoreModel

CANDIDATES = ("mrd_baseline_pct", "mrd_post_ld_pct", "crp", "il6", "aptt")


@pytest.fixture(scope="module")
def run():  # type: ignore[no-untyped-def]
    from crsscore.data.simulate import simulate_cohort
    from crsscore.workflow import derive

    settings = DerivationSettings(candidates=CANDIDATES, n_imputations=1, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return derive(simulate_cohort(n=120, seed=1), landmark="day3", settings=settings,
                      bootstrap=12, seed=1)


def test_summary_values_are_the_models_attributes(run) -> None:  # type: ignore[no-untyped-def]
    m: PointScoreModel = run.model
    s = m.summary()
    assert s.info["method"] == m.method_ and s.info["selected"] == list(m.selected_)
    assert s.info["auc_points_apparent"] == m.auc_points_apparent_
    assert s.info["auc_continuous_apparent"] == m.auc_continuous_apparent_
    assert s.info["shrinkage"] == m.shrinkage_ and s.info["max_total"] == m.scale_.max_total
    assert s.info["prob_intercept"] == m.prob_intercept_ and s.info["prob_slope"] == m.prob_slope_
    assert s.info["n"] == m.n_used_ and s.info["events"] == m.events_
    assert s.info["imputations"] == m.continuous_.m == m.m_
    pd.testing.assert_frame_equal(s.tables["coefficients"], m.continuous_.summary())
    pd.testing.assert_frame_equal(s.tables["risk table"], m.risk_table())
    rg = s.tables["risk groups"]
    assert rg["name"].tolist() == [g.name for g in m.risk_groups_]
    assert rg["n"].tolist() == [g.n for g in m.risk_groups_]
    np.testing.assert_array_equal(rg["rate"], [g.rate for g in m.risk_groups_])
    assert s.notes == tuple(m.notes_)
    text = str(s)
    assert m.method_reason_ in text and "score sheet" in text
    html = m._repr_html_()
    assert "<table" in html and "risk groups" in html


def test_to_frame_is_the_score_sheet(run) -> None:  # type: ignore[no-untyped-def]
    m = run.model
    frame = m.to_frame()
    pd.testing.assert_frame_equal(frame, m.score_sheet())
    by_var = frame.groupby("name", sort=False)["points"]
    for name in m.scored_:
        assert by_var.get_group(name).tolist() == [int(p) for p in m.scale_.variables[name].points]
    pd.testing.assert_frame_equal(run.to_frame(), frame)


def test_plot_draws_on_the_given_axes(run) -> None:  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    m = run.model
    fig, ax = plt.subplots()
    try:
        assert m.plot(ax) is ax
        line = ax.get_lines()[0]
        rt = m.risk_table()
        np.testing.assert_array_equal(line.get_xdata(), rt["total"])
        np.testing.assert_array_equal(line.get_ydata(), rt["probability"])
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert all(any(g.name in lab for lab in labels) for g in m.risk_groups_
                   if math.isfinite(g.rate))
        assert run.plot(ax) is ax  # the run draws its model
    finally:
        plt.close(fig)


def test_run_summary_adds_the_runs_lines_and_validation(run) -> None:  # type: ignore[no-untyped-def]
    s = run.summary()
    assert s.info["seed"] == run.seed and s.info["data hash"] == run.data_hash
    assert s.info["analysed"] == run.n_analysed and s.info["events"] == run.events
    val = s.tables["validation"].set_index("index")
    pd.testing.assert_frame_equal(val, run.validation.to_frame(), check_names=False)
    d = run.to_dict()
    assert d["auc_points_apparent"] == run.model.auc_points_apparent_
    assert d["max_total"] == run.model.scale_.max_total and d["seed"] == run.seed
    assert "<table" in run._repr_html_()


def test_curves_come_from_the_validation_bootstrap(run) -> None:  # type: ignore[no-untyped-def]
    """The bias-corrected calibration the report shows equals rms calibrate run separately
    on the same pipeline, seed and B (the same resamples), and the ROC band holds the
    validation's resamples."""
    from crsscore.validation.calibration_curve import calibrate_bootstrap
    from crsscore.validation.internal import bootstrap_indices
    from crsscore.validation.pipeline_curves import roc_sensitivity
    from crsscore.workflow import pipeline_fit_fn

    data, y = run.analysis_data, run.analysis_y
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lp = run.model.decision_function(data, impute=True)
        separate = calibrate_bootstrap(pipeline_fit_fn(data, run.settings),
                                       np.arange(len(data)).reshape(-1, 1), y,
                                       B=run.validation.B, seed=run.validation.seed, lp=lp)
    cal = run.calibration
    assert cal.B == run.validation.B and cal.seed == run.validation.seed
    assert cal.n_failed == run.validation.n_failed == separate.n_failed
    np.testing.assert_allclose(cal.predy, separate.predy, rtol=1e-12)
    np.testing.assert_allclose(cal.calibrated_corrected, separate.calibrated_corrected,
                               rtol=1e-9, atol=1e-12, equal_nan=True)
    band = run.roc_band
    assert band.B == run.validation.B and band.n_used == run.validation.B - run.validation.n_failed
    total = run.model.total(data, impute=True)
    rows = bootstrap_indices(np.asarray(y, dtype=np.float64), run.validation.seed,
                             range(run.validation.B), True)
    sens = np.stack([roc_sensitivity(y[r], total[r]) for r in rows])
    if run.validation.n_failed == 0:
        np.testing.assert_allclose(band.lower, np.quantile(sens, 0.025, axis=0))
        np.testing.assert_allclose(band.upper, np.quantile(sens, 0.975, axis=0))
    assert np.all(band.lower <= band.upper)


def test_validation_curves_plot_on_the_given_axes(run) -> None:  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    try:
        assert run.calibration.plot(ax, corrected_only=True) is ax
        line = ax.get_lines()[-1]
        np.testing.assert_array_equal(line.get_xdata(), run.calibration.predy)
        np.testing.assert_array_equal(line.get_ydata(), run.calibration.calibrated_corrected)
        assert run.roc_band.plot(ax) is ax
        assert len(ax.collections) == 1  # the band's area
    finally:
        plt.close(fig)
