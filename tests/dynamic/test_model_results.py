"""The dynamic model and its validation render themselves (summary, to_frame, plot), and one
core step turns a dynamic card and a cohort into its person-days."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crsscore.data.cohort import Cohort
from crsscore.modeling.dynamic import DynamicModel
from crsscore.modeling.persondays import PersonDays, build_person_days


def test_to_frame_and_summary_are_the_fits(model: DynamicModel) -> None:
    frame = model.to_frame()
    terms = model.spline.term_names + [p.name for p in model.predictors]
    for h in model.horizons:
        fit = model.fits[h]
        part = frame[frame["horizon"] == h]
        assert part["term"].tolist() == ["Intercept", *terms]
        assert part["coef"].iloc[0] == fit.intercept
        np.testing.assert_array_equal(part["coef"].iloc[1:], fit.coef)
        np.testing.assert_array_equal(part["coef_standardised"].iloc[1:], fit.beta_std[1:])
        assert (part["penalty"] == fit.lam).all()
    assert model.penalties() == {h: model.fits[h].lam for h in model.horizons}
    s = model.summary()
    assert s.info["horizons"] == model.horizons and s.info["seed"] == model.seed
    pd.testing.assert_frame_equal(s.tables["coefficients"], frame)
    pd.testing.assert_frame_equal(s.tables["person-days"], model.counts)
    cv = s.tables["penalty choice (patient-grouped CV deviance)"]
    for h in model.horizons:
        np.testing.assert_array_equal(cv.loc[cv["horizon"] == h, "cv_deviance"],
                                      model.cv[h]["cv_deviance"])
    assert "coefficients" in str(s) and "<table" in model._repr_html_()


def test_plot_draws_on_the_given_axes(model: DynamicModel) -> None:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    try:
        assert model.plot(ax) is ax
        lines = ax.get_lines()
        frame = model.to_frame()
        first = frame[(frame["horizon"] == model.horizons[0]) & (frame["term"] != "Intercept")]
        np.testing.assert_array_equal(lines[0].get_xdata(), first["coef_standardised"])
        assert len(lines) == len(model.horizons) + 1  # one per horizon and the zero line
    finally:
        plt.close(fig)


def test_validation_tables_and_plot(model: DynamicModel, pdays: PersonDays) -> None:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    from crsscore.validation.dynamic import validate_dynamic

    val = validate_dynamic(model, pdays, B=0, seed=1)
    perf = val.performance
    auc = val.auc_table(2)
    ref = perf[(perf["horizon"] == 2) & (perf["metric"] == "auc")]
    np.testing.assert_array_equal(auc["apparent"], ref["apparent"])
    assert set(val.calibration_table()["metric"]) == set(
        perf.loc[perf["metric"] != "auc", "metric"])
    pd.testing.assert_frame_equal(val.to_frame(), perf)
    fig, ax = plt.subplots()
    try:
        assert val.plot(ax, horizon=2) is ax
        byday = val.auc_by_day
        part = byday[(byday["horizon"] == 2) & (byday["events"] > 0)]
        np.testing.assert_array_equal(ax.get_lines()[0].get_ydata(), part["auc_dynamic"])
    finally:
        plt.close(fig)


@pytest.mark.parametrize("require", [True, False])
def test_card_person_days_is_the_cards_table(model: DynamicModel, cohort: Cohort,
                                             require: bool) -> None:
    from crsscore.workflow import card_person_days

    card = model.to_card()
    got = card_person_days(cohort, card, require_outcomes=require)
    lo, hi = card.day_range
    ref = build_person_days(cohort, horizons=card.horizons, analytes=card.analytes,
                            window=card.window_days, first_day=lo, last_day=hi)
    pd.testing.assert_frame_equal(got.pdays.data, ref.data)
    assert isinstance(got.warnings, list)
