"""The report runs no bootstrap of its own: the derivation's one validation bootstrap gives
the optimism-corrected indexes, the bias-corrected calibration and the ROC band."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest


def test_report_runs_exactly_one_bootstrap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from crsscore import workflow
    from crsscore.data.simulate import simulate_cohort
    from crsscore.modeling.derivation import DerivationSettings
    from crsscore.report import build_report
    from crsscore.validation import calibration_curve, internal
    from crsscore.validation.discrimination import roc_curve

    calls = {"optimism_bootstrap": 0, "calibrate_bootstrap": 0, "pipeline_fit_fn": 0,
             "bootstrap_indices": 0}

    def counting(module: Any, name: str) -> None:
        real = getattr(module, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            calls[name] += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapper)

    counting(internal, "optimism_bootstrap")
    counting(calibration_curve, "calibrate_bootstrap")
    counting(workflow, "pipeline_fit_fn")
    counting(internal, "bootstrap_indices")
    settings = DerivationSettings(candidates=("mrd_post_ld_pct", "crp", "il6"), n_imputations=1,
                                  seed=2)
    cohort = simulate_cohort(n=90, seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = workflow.derive(cohort, landmark="day3", settings=settings, bootstrap=8, seed=2,
                              allow_small_sample=True)
        drawn = calls["bootstrap_indices"]
        assert calls == {"optimism_bootstrap": 1, "calibrate_bootstrap": 0, "pipeline_fit_fn": 1,
                         "bootstrap_indices": drawn}
        assert drawn >= 1
        roc_calls = {"n": 0}
        import crsscore.validation.discrimination as disc

        def counting_roc(*args: Any, **kwargs: Any) -> Any:
            roc_calls["n"] += 1
            return roc_curve(*args, **kwargs)

        monkeypatch.setattr(disc, "roc_curve", counting_roc)
        out = build_report(cohort, tmp_path / "r.html", run=run)
    # the report drew no resample and refitted nothing
    assert calls == {"optimism_bootstrap": 1, "calibrate_bootstrap": 0, "pipeline_fit_fn": 1,
                     "bootstrap_indices": drawn}
    # the ROC curves of the page only (two series), no resampled ROC band
    assert roc_calls["n"] <= 2
    html = out.read_text(encoding="utf-8")
    assert f"over the {run.roc_band.n_used} resamples of the internal validation (B = 8)" in html
    assert "from the resamples and pipeline refits of the internal validation (B = 8" in html


def test_no_bootstrap_no_band(tmp_path: Path) -> None:
    from crsscore.data.simulate import simulate_cohort
    from crsscore.modeling.derivation import DerivationSettings
    from crsscore.report import build_report
    from crsscore.workflow import derive

    settings = DerivationSettings(candidates=("mrd_post_ld_pct", "crp", "il6"), n_imputations=1,
                                  seed=2)
    cohort = simulate_cohort(n=90, seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = derive(cohort, landmark="day3", settings=settings, bootstrap=0,
                     allow_small_sample=True)
        out = build_report(cohort, tmp_path / "r.html", run=run)
    assert run.calibration is None and run.roc_band is None
    assert "95% band" not in out.read_text(encoding="utf-8")
