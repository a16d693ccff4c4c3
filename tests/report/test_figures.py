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


def _texts_overlap(fig, texts) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts if t.get_text()]
    return [(a, b) for i, (a, ba) in enumerate(boxes) for b, bb in boxes[i + 1:]
            if ba.overlaps(bb)]


def _issue_sheet() -> pd.DataFrame:
    """The bands of issue 14.11: up to ten bands one point apart, long range texts."""
    rows = []
    mrd = ["< 0.0031", "0.0031 to < 0.014", "0.014 to < 0.07", "0.07 to < 0.38", "0.38 to < 2.1",
           "2.1 to < 11", "11 to < 62", ">= 62"]
    il6 = ["< 3.3", "3.3 to < 7.5", "7.5 to < 17", "17 to < 38", "38 to < 85", "85 to < 190",
           "190 to < 430", "430 to < 960", "960 to < 2200", ">= 2200"]
    aptt = ["< 31", "31 to < 36", "36 to < 42", "42 to < 47", ">= 47"]
    for k, r in enumerate(mrd):
        rows.append(("MRD before lymphodepletion", "%", r, k))
    for k, r in enumerate(il6):
        rows.append(("Interleukin-6", "pg/mL", r, k))
    for k, r in enumerate(aptt):
        rows.append(("Activated partial thromboplastin time", "s", r, 4 - k))
    return pd.DataFrame(rows, columns=["variable", "unit", "range", "points"])


def test_points_chart_labels_never_run_together() -> None:
    """Issue 14.11: band labels, total-points ticks and risk ticks do not overlap."""
    import matplotlib.pyplot as plt

    for sheet, a, b in ((_issue_sheet(), -7.5, 0.57),
                        # a large scale: 3-digit totals used to run together ("100110120")
                        (pd.DataFrame({"variable": ["A"] * 4 + ["B"] * 3, "unit": ["s"] * 7,
                                       "range": ["< 1", "1 to < 2", "2 to < 3", ">= 3",
                                                 "< 5", "5 to < 9", ">= 9"],
                                       "points": [0, 40, 80, 120, 0, 30, 60]}), -6.0, 0.05)):
        fig = F.points_figure(sheet, a, b)
        axes = fig.axes
        for ax in axes[:-2]:
            assert _texts_overlap(fig, ax.texts) == []
            # the boundaries are written, not the whole range text
            assert all(" to " not in t.get_text() for t in ax.texts)
        for ax in axes[-2:]:
            assert _texts_overlap(fig, ax.get_xticklabels()) == []
        plt.close(fig)
    # boundaries of the MRD scale in order, between its dots
    fig = F.points_figure(_issue_sheet(), -7.5, 0.57)
    assert [t.get_text() for t in fig.axes[0].texts] == ["0.0031", "0.014", "0.07", "0.38", "2.1",
                                                         "11", "62"]
    plt.close(fig)


def test_onset_landmark_label_clear_of_the_legend() -> None:
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(2)
    oc = pd.DataFrame({"crs_onset_day": rng.integers(0, 11, 120).astype(float),
                       "crs_max_grade": rng.integers(1, 6, 120)})
    fig, n = F.onset_plot(oc, 7.0)
    assert n == 120
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    ax = fig.axes[0]
    label = next(t for t in ax.texts if "landmark" in t.get_text())
    assert not label.get_window_extent(r).overlaps(ax.get_legend().get_window_extent(r))
    plt.close(fig)


def test_calibration_markers_use_the_curve_patients() -> None:
    """Issue 14.11: the risk-group markers count the same patients as the curve."""
    rng = np.random.default_rng(0)
    p = rng.uniform(0.01, 0.6, 90)
    y = (rng.random(90) < p).astype(int)
    totals = np.round(p * 10)
    # the groups as the model reports them: counted on fewer (complete-case) patients
    groups = [SimpleNamespace(name="low", min_total=0, max_total=3, n=5, events=0, rate=0.0,
                              ci_low=0.0, ci_high=0.4),
              SimpleNamespace(name="high", min_total=4, max_total=None, n=5, events=4, rate=0.8,
                              ci_low=0.4, ci_high=0.96)]
    fig = F.calibration_figure(y, p, groups=groups, totals=totals, model_prob=lambda t: t / 10)
    low = totals <= 3
    assert f"among the same patients as the curves ({p.size} of them" in fig.caption
    assert f"on the {p.size} analysed patients" in fig.caption
    # the legend counts come from y and the totals, not from the groups' n and events
    import matplotlib.pyplot as plt

    plot, n_marked = F.calibration_plot(y, p, groups=groups, totals=totals,
                                        model_prob=lambda t: t / 10)
    labels = [t.get_text() for t in plot.axes[0].get_legend().get_texts()]
    assert n_marked == p.size
    assert f"low: {int(y[low].sum())}/{int(low.sum())} observed (95% CI)" in labels
    assert f"high: {int(y[~low].sum())}/{int((~low).sum())} observed (95% CI)" in labels
    plt.close(plot)
