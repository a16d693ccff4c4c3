"""The optional dynamic section of the report (issue 16.6)."""

from __future__ import annotations

import warnings

from crsscore.data.cohort import Cohort
from crsscore.modeling.dynamic import DynamicModel
from crsscore.modeling.persondays import PersonDays
from crsscore.validation.dynamic import DynamicReport, replay, validate_dynamic


def _dynamic_report(model: DynamicModel, pdays: PersonDays) -> DynamicReport:
    val = validate_dynamic(model, pdays, B=10, seed=1)
    card = model.to_card(validation=val.to_dict())
    return DynamicReport(card=card, validation=val,
                         replay=replay(card, pdays, threshold=0.1, horizon=2))


def test_dynamic_section_html(model: DynamicModel, pdays: PersonDays) -> None:
    from crsscore.report.build import render_dynamic_section

    html = render_dynamic_section(_dynamic_report(model, pdays))
    assert html.startswith('<section id="dynamic">')
    for part in ("fig-dyn-trajectories", "fig-dyn-auc-by-day", "fig-dyn-calibration",
                 "tbl-dyn-auc", "tbl-dyn-auc-gain", "tbl-dyn-replay", "today&#39;s CRS grade alone",
                 "never counted as non-events", "SYNTHETIC"):
        assert part in html, part
    assert html.count("data:image/png;base64,") == 3


def test_build_report_adds_the_section_only_when_given(cohort: Cohort, model: DynamicModel,
                                                       pdays: PersonDays, tmp_path) -> None:
    from crsscore.errors import CrsscoreWarning
    from crsscore.modeling.derivation import DerivationSettings
    from crsscore.report import build_report
    from crsscore.workflow import derive

    settings = DerivationSettings(candidates=("mrd_baseline_pct", "crp", "il6"),
                                  n_imputations=1, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CrsscoreWarning)
        run = derive(cohort, landmark="day3", settings=settings, bootstrap=0, seed=1)
        with_dyn = build_report(cohort, tmp_path / "a" / "report.html", run=run,
                                bias_corrected_calibration=False,
                                dynamic=_dynamic_report(model, pdays))
        without = build_report(cohort, tmp_path / "b" / "report.html", run=run,
                               bias_corrected_calibration=False)
    a = with_dyn.read_text(encoding="utf-8")
    b = without.read_text(encoding="utf-8")
    assert '<section id="dynamic">' in a and '<section id="dynamic">' not in b
    assert a.index('<section id="dynamic">') < a.index('<section id="limitations">')
