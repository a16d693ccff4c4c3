"""Decision curve analysis: net benefit of treating by a model over a range of thresholds.

At threshold probability ``t`` a patient is "treated" (e.g. given pre-emptive tocilizumab or
kept as an inpatient) when the predicted risk is ``>= t``.  With ``n`` patients,

    net benefit = TP/n - FP/n * t / (1 - t) - harm

and the strategies "treat all" and "treat none" (net benefit 0) are added as rows, as R
``dcurves::dca`` does; the tidy long frame has the same columns and the same rows (see
``tests/validation/test_decision.py``, which checks every row against R).

References
----------
Vickers AJ, Elkin EB. Decision curve analysis: a novel method for evaluating prediction models.
Med Decis Making 2006;26:565-74.
Vickers AJ, van Calster B, Steyerberg EW. A simple, step-by-step guide to interpreting
decision curve analysis. Diagn Progn Res 2019;3:18.
Sjoberg DD. dcurves: decision curve analysis for model evaluation (R and Python packages).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from crsscore._numeric import expit
from crsscore._types import FloatArray
from crsscore.errors import DataError, Problem
from crsscore.validation.calibration import recalibration_fit
from crsscore.validation.discrimination import as_outcome, as_scores

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes


__all__ = ["DEFAULT_THRESHOLDS", "DecisionCurve", "as_probability", "decision_curve"]

#: 0, 0.01, ..., 0.99 (as dcurves' default ``seq(0, 0.99, by = 0.01)``).
DEFAULT_THRESHOLDS: FloatArray = np.arange(0.0, 1.0, 0.01)

_COLUMNS = [
    "variable", "label", "n", "threshold", "pos_rate", "tp_rate", "fp_rate", "harm",
    "net_benefit",
]


def as_probability(y: ArrayLike, x: ArrayLike) -> FloatArray:
    """Turn a score into a probability by a univariable logistic fit ``y ~ x``
    (dcurves' ``as_probability``).  For a score that is not already a risk; the result is
    optimistic on the data it was fitted on."""
    yy = as_outcome(y)
    xx = as_scores(x, yy.size, name="x")
    fit = recalibration_fit(yy, xx, slope=True)
    eta = fit.coef[0] + fit.coef[1] * xx
    return expit(eta)


@dataclass(frozen=True)
class DecisionCurve:
    """Net benefit over thresholds for each model plus "all" and "none".

    ``frame`` is the tidy long table (one row per strategy and threshold) with dcurves'
    columns: variable, label, n, threshold, pos_rate (event rate), tp_rate, fp_rate (true and
    false positives as a proportion of all patients), harm, net_benefit.
    """

    frame: pd.DataFrame = field(repr=False)
    thresholds: FloatArray = field(repr=False)
    models: tuple[str, ...]
    n: int
    events: int

    def to_frame(self) -> pd.DataFrame:
        return self.frame.copy()

    def net_benefit(self, variable: str) -> FloatArray:
        """Net benefit of one strategy ("all", "none" or a model name) at each threshold."""
        if variable not in ("all", "none", *self.models):
            raise KeyError(
                f"unknown strategy {variable!r}; expected one of "
                f"{['all', 'none', *self.models]}"
            )
        sel = self.frame["variable"] == variable
        return np.asarray(self.frame.loc[sel, "net_benefit"], dtype=np.float64)

    def interventions_avoided(self, per: int = 100) -> pd.DataFrame:
        """Net reduction in interventions per ``per`` patients compared with treating all:
        ``(NB_model - NB_all) / (t / (1 - t)) * per`` (undefined, NaN, at t = 0)."""
        nb_all = self.net_benefit("all")
        t = self.thresholds
        rows = []
        for m in self.models:
            with np.errstate(divide="ignore", invalid="ignore"):
                avoided = np.where(t > 0, (self.net_benefit(m) - nb_all) / (t / (1 - t)) * per, np.nan)
            rows.append(pd.DataFrame({"variable": m, "threshold": t,
                                      "net_intervention_avoided": avoided}))
        return pd.concat(rows, ignore_index=True)

    def summary(self) -> str:
        """Threshold ranges where each model beats both treat-all and treat-none."""
        nb_all = self.net_benefit("all")
        lines = [f"Decision curve: n={self.n}, events={self.events}, "
                 f"thresholds {self.thresholds.min():.2f}-{self.thresholds.max():.2f}"]
        for m in self.models:
            nb = self.net_benefit(m)
            better = (nb > nb_all) & (nb > 0)
            if better.any():
                tb = self.thresholds[better]
                lines.append(
                    f"  {m}: net benefit above treat-all and treat-none at {int(better.sum())} "
                    f"of {better.size} thresholds (between {tb.min():.2f} and {tb.max():.2f})"
                )
            else:
                lines.append(f"  {m}: never better than both treat-all and treat-none")
        return "\n".join(lines)

    def plot(
        self, ax: Axes | None = None, *, ylim: tuple[float, float] | None = None
    ) -> Axes:
        """Net benefit against threshold for every strategy; returns the Axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        styles = {"all": {"color": "0.5", "lw": 1}, "none": {"color": "0.0", "lw": 1, "ls": ":"}}
        for variable, sub in self.frame.groupby("variable", sort=False):
            kw: dict[str, Any] = styles.get(str(variable), {"lw": 1.5})
            ax.plot(sub["threshold"], sub["net_benefit"], label=str(sub["label"].iloc[0]), **kw)
        prev = self.events / self.n
        ax.set_ylim(*(ylim if ylim is not None else (-0.05 * max(prev, 0.01), prev * 1.15)))
        ax.set_xlabel("Threshold probability")
        ax.set_ylabel("Net benefit")
        ax.legend(frameon=False)
        return ax


def decision_curve(
    y: ArrayLike,
    predictions: Mapping[str, ArrayLike],
    thresholds: ArrayLike = DEFAULT_THRESHOLDS,
    harm: Mapping[str, float] | float | None = None,
    *,
    labels: Mapping[str, str] | None = None,
) -> DecisionCurve:
    """Decision curve of each predicted probability in ``predictions`` (name -> array).

    Parameters
    ----------
    y : 0/1 outcome.
    predictions : predicted probabilities, one array per model (convert a score first with
        :func:`as_probability` or a score card's probability map).
    thresholds : threshold probabilities in [0, 1).
    harm : harm subtracted from the net benefit (e.g. the burden of a test): one number for
        every model, or a mapping model name -> harm (models not named get 0).
    labels : display labels per model (default: the name).

    Returns a :class:`DecisionCurve`; rows are "all", "none", then the models in the given
    order, each over the thresholds in the given order.
    """
    yy = as_outcome(y, need_both=False)
    if not predictions:
        raise ValueError("The 'predictions' parameter of decision_curve must not be empty.")
    clash = {"all", "none"} & set(predictions)
    if clash:
        raise ValueError(
            f"Model names {sorted(clash)} are reserved for the treat-all/treat-none strategies."
        )
    t = np.asarray(thresholds, dtype=np.float64)
    if t.ndim != 1 or t.size == 0 or not np.all(np.isfinite(t)) or t.min() < 0 or t.max() >= 1:
        raise ValueError(
            "The 'thresholds' parameter of decision_curve must be a non-empty 1-D array of "
            f"values in [0, 1). Got {np.asarray(thresholds)!r} instead."
        )
    if harm is None:
        harm = {}
    elif isinstance(harm, int | float):
        harm = dict.fromkeys(predictions, float(harm))
    else:
        harm = dict(harm)
    unknown = set(harm) - set(predictions)
    if unknown:
        raise ValueError(f"harm given for unknown model(s) {sorted(unknown)}")
    labels = dict(labels or {})
    n = int(yy.size)
    events = int(yy.sum())
    prev = events / n
    odds = t / (1.0 - t)
    parts: list[pd.DataFrame] = []

    def block(variable: str, label: str, tp: FloatArray, fp: FloatArray, h: float) -> pd.DataFrame:
        return pd.DataFrame(
            {"variable": variable, "label": label, "n": n, "threshold": t, "pos_rate": prev,
             "tp_rate": tp, "fp_rate": fp, "harm": h, "net_benefit": tp - odds * fp - h}
        )

    parts.append(block("all", "Treat All", np.full(t.size, prev), np.full(t.size, 1.0 - prev), 0.0))
    parts.append(block("none", "Treat None", np.zeros(t.size), np.zeros(t.size), 0.0))
    for name, pred in predictions.items():
        p = as_scores(pred, n, name=name, probability=True)
        if name in harm and not np.isfinite(harm[name]):
            raise DataError([Problem(table="harm", column=name, message="harm is not finite")])
        treated = p[None, :] >= t[:, None]  # (thresholds, patients)
        tp = (treated & (yy[None, :] == 1)).sum(axis=1) / n
        fp = (treated & (yy[None, :] == 0)).sum(axis=1) / n
        parts.append(block(name, labels.get(name, name), tp.astype(np.float64),
                           fp.astype(np.float64), float(harm.get(name, 0.0))))
    frame = pd.concat(parts, ignore_index=True)[_COLUMNS]
    return DecisionCurve(frame, t, tuple(predictions), n, events)
