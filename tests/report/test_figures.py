"""Report figures: robust to edge cases, axes that say the truth."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd

from crsscore.report import figures as F

PNG = b"\x89PNG\r\n\x1a\n"


def test_risk_ticks_sit_where_the_logistic_map_gives_that_risk() -> None:
    a, b = -3.9, 0.42
    x, labels = F._risk_ticks(a, b, 11)
    assert len(x) >= 4 and len(x) == len(labels)
    risk = 1 / (1 + np.exp(-(a + b * x)))
    np.testing.assert_allclose(risk, [float(s.rstrip("%")) / 100 for s in labels], rtol=1e-9)
    assert np.all((x >= 0) & (x <= 11)) and np.all(np.diff(x) > 0)
    assert len(F._risk_ticks(a, 0.0, 11)[0]) == 0  # a flat map has no risk axis


def test_calibration_figure_tolerates_groups_with_zero_events_and_rounding() -> None:
    rng = np.random.default_rng(0)
    p = rng.uniform(0.01, 0.6, 80)
    y = (rng.random(80) < p).astype(int)
    totals = np.round(p * 10)
    groups = [SimpleNamespace(name="low", min_total=0, max_total=2, n=20, events=0, rate=0.0,
                              ci_low=1e-17, ci_high=0.16),
              SimpleNamespace(name="empty", min_total=50, max_total=60, n=0, events=0,
                              rate=float("nan"), ci_low=float("nan"), ci_high=float("nan"))]
    fig = F.calibration_figure(y, p, groups=groups, totals=totals, model_prob=lambda t: t / 10)
    assert fig.png.startswith(PNG) and fig.data_uri.startswith("data:image/png;base64,")


def test_onset_figure_without_any_crs_still_renders() -> None:
    oc = pd.DataFrame({"crs_onset_day": [np.nan, np.nan], "crs_max_grade": [0, 0]})
    fig = F.onset_figure(oc, 7.0)
    assert fig.png.startswith(PNG) and "0 patients" in fig.alt


def test_points_chart_handles_three_bands_and_ties() -> None:
    sheet = pd.DataFrame({"variable": ["A", "A", "A", "B", "B"], "unit": ["s", "s", "s", "", ""],
                          "range": ["< 1", "1 to < 2", ">= 2", "< 5", ">= 5"],
                          "points": [0, 2, 2, 0, 3]})
    fig = F.points_chart(sheet, -2.0, 0.5)
    assert fig.png.startswith(PNG) and len(fig.png) > 10_000
