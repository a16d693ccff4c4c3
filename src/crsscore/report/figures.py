"""The report's figures, drawn with matplotlib (Agg) and returned as PNG bytes.

Every figure is readable in grey scale: strategies and scores differ by line style and marker,
not by colour alone.  Functions take result objects and return a :class:`Figure` (PNG bytes,
alt text, caption); nothing is written to disk here.
"""

from __future__ import annotations

import base64
import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "Figure",
    "calibration_figure",
    "decision_figure",
    "onset_figure",
    "points_chart",
    "roc_figure",
]

#: Line styles and markers cycled for curves (grey-scale safe).
STYLES: tuple[tuple[Any, str], ...] = (("-", "o"), ("--", "s"), (":", "^"), ("-.", "D"),
                                       ((0, (5, 1, 1, 1, 1, 1)), "v"), ((0, (1, 1)), "x"),
                                       ((0, (8, 2)), "P"), ((0, (3, 1, 1, 1)), "*"),
                                       ((0, (2, 2)), "<"), ((0, (6, 3)), ">"))
GREYS: tuple[str, ...] = ("0.0", "0.35", "0.55", "0.2", "0.45", "0.65", "0.1", "0.3", "0.5", "0.6")
#: Fill and hatch per maximum CRS grade 1-5 (distinct in grey scale).
GRADE_STYLE: dict[int, tuple[str, str]] = {1: ("white", ""), 2: ("0.85", "..."), 3: ("0.6", "///"),
                                           4: ("0.35", "xxx"), 5: ("0.0", "")}
DPI = 150


@dataclass(frozen=True)
class Figure:
    """A rendered figure."""

    name: str
    png: bytes
    alt: str
    caption: str

    @property
    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


def _style() -> dict[str, Any]:
    return {
        "font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "legend.fontsize": 8,
        "xtick.labelsize": 8, "ytick.labelsize": 8, "axes.spines.top": False,
        "axes.spines.right": False, "savefig.dpi": DPI, "figure.dpi": DPI,
        "font.family": "DejaVu Sans", "svg.fonttype": "none",
    }


def _render(fig: Any, name: str, alt: str, caption: str) -> Figure:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight", facecolor="white",
                metadata={"Software": None})
    plt.close(fig)
    return Figure(name, buf.getvalue(), alt, caption)


def _mpl() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


# ------------------------------------------------------------------------------------------
def onset_figure(outcomes: pd.DataFrame, landmark_day: float) -> Figure:
    """Histogram of the onset day of CRS, stacked by the patient's maximum grade."""
    fig, n = onset_plot(outcomes, landmark_day)
    return _render(fig, "onset",
                   f"Histogram of CRS onset day for {n} patients with CRS, stacked by maximum grade",
                   f"Onset of CRS by maximum ASTCT grade (n = {n}); dashed line: the landmark "
                   "(severe CRS starting left of it happened before the prediction).")


def onset_plot(outcomes: pd.DataFrame, landmark_day: float) -> tuple[Any, int]:
    """The onset histogram as a matplotlib figure, and the number of patients with CRS."""
    plt = _mpl()
    with plt.rc_context(_style()):
        fig, ax = plt.subplots(figsize=(6.4, 3.2))
        oc = outcomes
        onset = pd.to_numeric(oc["crs_onset_day"], errors="coerce")
        grade = pd.to_numeric(oc["crs_max_grade"], errors="coerce")
        ok = onset.notna() & grade.notna() & (grade >= 1)
        if ok.any():
            lo = math.floor(float(onset[ok].min()))
            hi = math.ceil(float(onset[ok].max())) + 1
            bins = np.arange(lo, max(hi, lo + 1) + 1)
            bottom = np.zeros(bins.size - 1)
            for g in range(1, 6):
                v = onset[ok & (grade == g)].to_numpy(dtype=np.float64)
                if v.size == 0:
                    continue
                h, _ = np.histogram(v, bins=bins)
                fill, hatch = GRADE_STYLE[g]
                ax.bar(bins[:-1], h, width=0.92, bottom=bottom, align="edge", color=fill,
                       edgecolor="black", hatch=hatch, linewidth=0.6,
                       label=f"max grade {g} (n={v.size})")
                bottom += h
            ax.set_xticks(bins[:-1] + 0.46)
            ax.set_xticklabels([str(int(b)) for b in bins[:-1]])
            ax.axvline(float(landmark_day), color="black", ls="--", lw=1.2)
            top = float(bottom.max())
            ax.set_ylim(0, top * 1.18 + 0.5)
            ax.text(float(landmark_day), top * 1.16 + 0.5, f" landmark (day {landmark_day:g})",
                    va="top", ha="left", fontsize=8,
                    bbox={"facecolor": "white", "edgecolor": "none", "pad": 1})
            # the legend sits outside the axes: the landmark label can never collide with it
            ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        else:
            ax.text(0.5, 0.5, "no CRS onset recorded", ha="center", va="center", transform=ax.transAxes)
        ax.set_xlabel("Day of CRS onset (days since infusion; bar d = onset in [d, d + 1))")
        ax.set_ylabel("Patients")
        ax.yaxis.get_major_locator().set_params(integer=True)
        fig.tight_layout()
    return fig, int(ok.sum())


# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RocSeries:
    label: str
    y: np.ndarray
    score: np.ndarray
    auc: float
    ci: tuple[float, float]


def roc_figure(derivation: Sequence[RocSeries], comparison: Sequence[RocSeries], *,
               band: Any = None) -> Figure:
    """ROC curves: (A) the derived score and continuous model on the analysed patients, with
    the point score's bootstrap 95% band when given (a
    :class:`~crsscore.validation.pipeline_curves.RocBand` from the derivation's one
    validation bootstrap, drawn by its ``plot``); (B) every score of the comparison."""
    from crsscore.validation.discrimination import roc_curve

    plt = _mpl()
    panels = [("A. Derivation cohort (apparent)", derivation)]
    if comparison:
        panels.append(("B. Head-to-head comparison", comparison))
    with plt.rc_context(_style()):
        fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 4.9), squeeze=False)
        for ax, (title, series) in zip(axes[0], panels, strict=True):
            ax.plot([0, 1], [0, 1], color="0.75", lw=0.8, ls=":")
            for k, sr in enumerate(series):
                ls, mk = STYLES[k % len(STYLES)]
                rc = roc_curve(sr.y, sr.score)
                if k == 0 and title.startswith("A") and band is not None:
                    band.plot(ax)
                ci = f"{sr.ci[0]:.2f}-{sr.ci[1]:.2f}" if all(map(math.isfinite, sr.ci)) else "n/a"
                ax.step(rc.fpr, rc.tpr, where="post", ls=ls, color=GREYS[k % len(GREYS)],
                        lw=1.5, marker=mk, markevery=max(1, rc.fpr.size // 8), ms=4,
                        label=f"{sr.label}: {sr.auc:.3f} ({ci}), n={sr.y.size}")
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1.01)
            ax.set_aspect("equal")
            ax.set_xlabel("1 - specificity")
            ax.set_ylabel("Sensitivity")
            ax.set_title(title, loc="left")
            ax.legend(frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=1,
                      title="AUC (95% CI, DeLong)", title_fontsize=8)
        fig.tight_layout()
    labels = "; ".join(f"{s.label} AUC {s.auc:.3f}" for s in [*derivation, *comparison])
    return _render(fig, "roc", f"ROC curves: {labels}",
                   "ROC curves with AUC and DeLong 95% CI"
                   + ("" if band is None else
                      f"; shaded: pointwise 95% band of sensitivity for the point score over the "
                      f"{band.n_used} resamples of the internal validation (B = {band.B})")
                   + ".")


# ------------------------------------------------------------------------------------------
def calibration_figure(y: np.ndarray, p: np.ndarray, *, boot_cal: Any = None,
                       groups: Sequence[Any] = (), totals: np.ndarray | None = None,
                       model_prob: Any = None) -> Figure:
    """Apparent lowess calibration of the point score, the bootstrap bias-corrected curve when
    given (rms ``calibrate``), and observed rates per risk group with 95% CIs."""
    fig, n_marked = calibration_plot(y, p, boot_cal=boot_cal, groups=groups, totals=totals,
                                     model_prob=model_prob)
    return _render(fig, "calibration",
                   "Calibration plot: ideal line, apparent lowess curve"
                   + (", bootstrap bias-corrected curve" if boot_cal is not None else "")
                   + " and observed rates per risk group",
                   f"Calibration of the point score's predicted probability on the {p.size} "
                   "analysed patients. Markers: observed rate of each risk group (Wilson 95% CI) "
                   f"at its mean predicted risk, among the same patients as the curves ({n_marked} "
                   "of them, missing inputs filled as for the curves; the risk-group table counts "
                   "only patients with every input measured); error bars may run off the top when "
                   "few patients. Ticks at the bottom: predictions of individual patients.")


def calibration_plot(y: np.ndarray, p: np.ndarray, *, boot_cal: Any = None,
                     groups: Sequence[Any] = (), totals: np.ndarray | None = None,
                     model_prob: Any = None) -> tuple[Any, int]:
    """The calibration figure unrendered, and how many patients its risk-group markers hold."""
    from crsscore.modeling.points import wilson_ci
    from crsscore.validation.calibration import calibration_curve

    plt = _mpl()
    with plt.rc_context(_style()):
        fig, ax = plt.subplots(figsize=(5.6, 6.2))
        cc = calibration_curve(y, np.clip(p, 1e-6, 1 - 1e-6))
        top = max(float(np.max(p)), float(np.nanmax(cc.observed)))
        ax.plot([0, 1], [0, 1], color="0.6", lw=1, ls=":", label="Ideal")
        ax.plot(cc.prob, cc.observed, color="0.4", lw=1.6, ls="--", label="Apparent (lowess)")
        if boot_cal is not None:
            boot_cal.plot(ax, corrected_only=True)
            top = max(top, float(np.nanmax(boot_cal.calibrated_corrected)))
        n_marked = 0
        if groups and totals is not None and model_prob is not None:
            # the markers use the same patients as the curves (y, and totals with missing
            # inputs filled as for p), not the complete cases the risk-group table counts
            markers = ("s", "o", "^", "D", "v", "P")
            yy = np.asarray(y, dtype=np.float64)
            for k, g in enumerate(groups):
                lo = -np.inf if g.min_total is None or not math.isfinite(g.min_total) else g.min_total
                hi = np.inf if g.max_total is None or not math.isfinite(g.max_total) else g.max_total
                sel = (totals >= lo) & (totals <= hi) & ~np.isnan(totals)
                n = int(sel.sum())
                if n == 0:
                    continue
                ev = int(yy[sel].sum())
                rate = ev / n
                ci_lo, ci_hi = wilson_ci(ev, n)
                n_marked += n
                mp = float(np.mean(model_prob(totals[sel])))
                err = [[max(0.0, rate - ci_lo)], [max(0.0, ci_hi - rate)]]
                ax.errorbar([mp], [rate], yerr=err, fmt=markers[k % len(markers)], color="black",
                            mfc="white", ms=6, capsize=3, lw=1,
                            label=f"{g.name}: {ev}/{n} observed (95% CI)")
                top = max(top, float(rate))
        # axes follow the predictions and curves; long CIs may run off the top
        lim = float(min(1.0, top * 1.15 + 0.01))
        ax.plot(p, np.full(p.size, -0.015 * lim), "|", color="0.3", ms=5, alpha=0.6)
        ax.set_xlim(0, lim)
        ax.set_ylim(-0.03 * lim, lim)
        ax.set_xlabel("Predicted probability (point score)")
        ax.set_ylabel("Observed proportion")
        ax.set_aspect("equal")
        ax.legend(frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2,
                  fontsize=7.5)
        fig.tight_layout()
    return fig, n_marked


# ------------------------------------------------------------------------------------------
def decision_figure(dc: Any, *, max_threshold: float | None = None) -> Figure:
    """Net benefit of each model, treat all and treat none (grey scale: styles differ)."""
    plt = _mpl()
    frame = dc.to_frame()
    prev = dc.events / dc.n if dc.n else 0.0
    tmax = max_threshold if max_threshold is not None else float(min(0.99, max(0.3, 3 * prev)))
    with plt.rc_context(_style()):
        fig, ax = plt.subplots(figsize=(6.4, 3.8))
        k = 0
        for variable, sub in frame.groupby("variable", sort=False):
            sub = sub[sub["threshold"] <= tmax]
            if variable == "all":
                kw: dict[str, Any] = {"color": "0.55", "lw": 1.2, "ls": "-"}
            elif variable == "none":
                kw = {"color": "0.0", "lw": 1.0, "ls": ":"}
            else:
                ls, mk = STYLES[(k + 1) % len(STYLES)]
                kw = {"color": GREYS[k % len(GREYS)], "lw": 1.7, "ls": ls, "marker": mk,
                      "markevery": 5, "ms": 4}
                k += 1
            ax.plot(sub["threshold"], sub["net_benefit"], label=str(sub["label"].iloc[0]), **kw)
        ax.set_xlim(0, tmax)
        ax.set_ylim(-0.05 * max(prev, 0.01) - 0.005, max(prev, 0.01) * 1.15)
        ax.set_xlabel("Threshold probability")
        ax.set_ylabel("Net benefit")
        ax.legend(frameon=False, loc="upper right")
        fig.tight_layout()
    return _render(fig, "decision", "Decision curves: net benefit against threshold probability",
                   f"Decision curves (n = {dc.n}, {dc.events} events): net benefit of treating "
                   "patients whose predicted risk is at or above the threshold.")


# ------------------------------------------------------------------------------------------
def _risk_ticks(intercept: float, slope: float, max_total: float) -> tuple[np.ndarray, list[str]]:
    """Round risks (1%, 2%, 5%, 10%, ...) that fall on the total-points axis, and where."""
    candidates = np.array([0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5,
                           0.6, 0.7, 0.8, 0.9, 0.95, 0.99])
    if slope == 0 or not math.isfinite(slope):
        return np.array([]), []
    x = (np.log(candidates / (1 - candidates)) - intercept) / slope
    keep = (x >= -1e-9) & (x <= max_total + 1e-9)
    xs, rs = x[keep], candidates[keep]
    # drop ticks closer than 7% of the axis to the previous one (a label such as "7.5%" is
    # about that wide: closer ones ran together, "30%40%50%")
    out_x: list[float] = []
    out_r: list[float] = []
    for xi, ri in zip(xs, rs, strict=True):
        if not out_x or abs(xi - out_x[-1]) >= 0.07 * max(max_total, 1.0):
            out_x.append(float(xi))
            out_r.append(float(ri))
    labels = [f"{100 * r:g}%" for r in out_r]
    return np.asarray(out_x), labels


def _nice_step(span: float, max_ticks: int = 12) -> int:
    """An integer tick step (1, 2, 5, 10, 20, 25, 50, ...) giving at most ``max_ticks`` ticks."""
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000):
        if span / step <= max_ticks:
            return step
    return math.ceil(span / max_ticks)


_LOWER = re.compile(r"^\s*(?:>=\s*)?(-?\d[\d.,eE+-]*)\s*(?:to\b|$)")


def _band_lower(text: str) -> str | None:
    """The lower bound of a band as written ("0.0031 to < 0.014" -> "0.0031", ">= 62" -> "62")."""
    m = _LOWER.match(str(text))
    return m.group(1) if m else None


def points_chart(sheet: pd.DataFrame, intercept: float, slope: float) -> Figure:
    """The points chart (see :func:`points_figure`), rendered."""
    fig = points_figure(sheet, intercept, slope)
    return _render(fig, "points", "Points chart: points per band of each variable, total points and risk",
                   "Points chart: each dot is a band of the variable, at its points on the "
                   "total-points axis; the numbers between dots are the band boundaries (the "
                   "score sheet lists every band). Add the points of each variable's band; the "
                   "total maps to the probability of severe CRS on the bottom axis.")


def points_figure(sheet: pd.DataFrame, intercept: float, slope: float) -> Any:
    """A nomogram-like points chart: each variable is a scale on the points axis, with its band
    boundaries written between the band's dots (as a nomogram writes values along its scale),
    then total points and the probability of severe CRS (at round risks) on aligned axes.

    Labels never run together: boundaries are short numbers placed between dots, alternately
    above and below; categorical bands are written at their dots, alternately; the total and
    risk axes thin their ticks to what fits."""
    plt = _mpl()
    variables = list(dict.fromkeys(sheet["variable"]))
    max_total = float(sheet.groupby("variable", sort=False)["points"].max().sum())
    xmax = max(max_total, 1.0)
    with plt.rc_context(_style()):
        fig, axes = plt.subplots(len(variables) + 2, 1,
                                 figsize=(7.2, 0.85 * len(variables) + 1.5), sharex=False,
                                 gridspec_kw={"height_ratios": [1.0] * len(variables) + [0.3, 0.3]})
        for ax, var in zip(axes[: len(variables)], variables, strict=True):
            sub = sheet[sheet["variable"] == var].reset_index(drop=True)  # in value order
            unit = str(sub["unit"].iloc[0]) if "unit" in sub else ""
            ax.set_xlim(-0.5, xmax + 0.5)
            pts = sub["points"].to_numpy(dtype=np.float64)
            ax.plot([pts.min(), pts.max()], [0, 0], color="0.3", lw=1.2)
            ax.plot(pts, np.zeros_like(pts), "o", color="black", ms=4.5)
            lowers = [_band_lower(t) for t in sub["range"]]
            numeric = all(v is not None for v in lowers[1:]) and len(sub) > 1
            if numeric:
                # boundary k (the lower end of band k) between the dots of bands k-1 and k
                for k in range(1, len(sub)):
                    x = (pts[k - 1] + pts[k]) / 2
                    above = k % 2 == 1
                    ax.annotate(str(lowers[k]), (x, 0), textcoords="offset points",
                                xytext=(0, 5 if above else -6), ha="center",
                                va="bottom" if above else "top", fontsize=7, color="0.15")
                    ax.plot([x, x], [-0.18, 0.18], color="0.3", lw=0.8)
            else:
                for k, (x, text) in enumerate(zip(pts, sub["range"], strict=True)):
                    above = k % 2 == 0
                    ax.annotate(str(text), (x, 0), textcoords="offset points",
                                xytext=(0, 5 if above else -6), ha="center",
                                va="bottom" if above else "top", fontsize=7)
            ax.set_yticks([])
            ax.set_xticks([])
            label = f"{var}\n[{unit}]" if unit else var
            ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
            for side in ("left", "bottom"):
                ax.spines[side].set_visible(False)
            ax.set_ylim(-1.3, 1.3)
        ax_t, ax_r = axes[-2], axes[-1]
        for ax in (ax_t, ax_r):
            ax.set_xlim(-0.5, xmax + 0.5)
            ax.set_yticks([])
            ax.spines["left"].set_visible(False)
            ax.set_ylim(0, 1)
        step = _nice_step(xmax, 21 if max_total < 100 else 12)
        ax_t.set_xticks(np.arange(0, int(max_total) + 1, step))
        ax_t.set_ylabel("Total points", rotation=0, ha="right", va="center")
        rx, rl = _risk_ticks(intercept, slope, max_total)
        ax_r.set_xticks(rx)
        ax_r.set_xticklabels(rl)
        ax_r.set_ylabel("Risk of\nsevere CRS", rotation=0, ha="right", va="center")
        fig.subplots_adjust(left=0.27, right=0.97, top=0.97, bottom=0.08, hspace=0.55)
    return fig
