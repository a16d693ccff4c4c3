"""One small simulated derivation shared by the report tests (built once per module).

Complete-case analysis keeps each of the 2 x B pipeline refits under a second (chained
equations would be several times slower); the command-line test covers the imputation path.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

SEED = 1
N = 120
B = 20
LANDMARK = "day3"
#: Five of the study's seven candidates and one imputation per fit keep each of the 2 x B
#: pipeline refits near a second; the command-line test runs the default settings.
CANDIDATES = ("mrd_baseline_pct", "mrd_post_ld_pct", "crp", "il6", "aptt")


@dataclass(frozen=True)
class Built:
    cohort: Any
    run: Any
    comparison: Any
    boot_cal: Any
    html_path: Path
    html: str


def build_small_report(out_dir: Path) -> Built:
    from crsscore.cli.compare_cmd import run_comparison
    from crsscore.data.simulate import simulate_cohort
    from crsscore.errors import CrsscoreWarning
    from crsscore.modeling.derivation import DerivationSettings
    from crsscore.report import build_report
    from crsscore.report.build import pipeline_calibration
    from crsscore.scores.builtin import builtin_scorecards
    from crsscore.workflow import cohort_outcomes, derive

    SETTINGS = DerivationSettings(candidates=CANDIDATES, n_imputations=1, seed=SEED)
    cohort = simulate_cohort(n=N, seed=SEED)
    oc = cohort_outcomes(cohort)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CrsscoreWarning)
        run = derive(cohort, landmark=LANDMARK, settings=SETTINGS,
                     bootstrap=B, seed=SEED, outcomes=oc)
        comp, _, _ = run_comparison(cohort, [run.scorecard, *builtin_scorecards().values()],
                                    landmark=None, reference=run.scorecard.id, outcomes=oc,
                                    refits=False)
        boot_cal = pipeline_calibration(run, B=B, seed=SEED)
        path = build_report(cohort, out_dir / "report.html", run=run, comparison=comp,
                            bias_corrected_calibration=boot_cal)
    return Built(cohort, run, comp, boot_cal, path, path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build_small_report(tmp_path_factory.mktemp("report"))
