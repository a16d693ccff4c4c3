"""Patient-clustered validation and silent-trial replay of the dynamic model (issue 16).

Every resample and every fold keeps a patient's days together:

* :func:`grouped_bootstrap_indices` draws patients with replacement and takes all of each
  drawn patient's person-days (a patient drawn twice contributes its days twice);
* :func:`grouped_split` splits patients (not rows) in two.

:func:`validate_dynamic` reports, per horizon, for the dynamic model and for the comparators
"today's CRS grade alone" and "static baseline" (day since infusion and the baseline
covariates), overall and within the person-days at CRS grade <= 1 today:
AUC (apparent with DeLong CI, Harrell's optimism from a patient-clustered bootstrap that
refits the model with the penalty chosen on the full data, and the optimism-corrected AUC with
a patient-clustered percentile interval shifted by the optimism), calibration intercept and
slope, Brier score; the difference in AUC (dynamic - each comparator) the same way; and the
apparent AUC by day since infusion.

:func:`replay` feeds the person-days to a card day by day (a row uses only what was known by
its day: see :mod:`crsscore.modeling.persondays`) and reports what a silent trial would have seen.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from crsscore._numeric import dense_codes, expit, rank_auc, weighted_auc
from crsscore._types import BoolArray, FloatArray, IntArray
from crsscore.modeling._newton import intercept_given_offset
from crsscore.modeling.dynamic import (
    DynamicModel,
    comparator_predictors,
    newton_ridge,
    single_thread_blas,
)
from crsscore.modeling.persondays import PersonDays
from crsscore.scores.dynamic_card import DynamicScoreCard, design_matrix

METRICS: Final = ("auc", "calibration_intercept", "calibration_slope", "brier")
#: Display names of the models in the validation tables.
MODEL_LABELS: Final = {"dynamic": "dynamic model", "comparator": "today's CRS grade alone",
                       "baseline": "static baseline"}
SUBSETS: Final = ("all", "grade<=1")


# ---------------------------------------------------------------------------------------------
# grouped resampling
# ---------------------------------------------------------------------------------------------

def _patient_rows(groups: npt.ArrayLike) -> tuple[IntArray, IntArray, IntArray]:
    """(row order grouped by patient, start of each patient in it, number of rows)."""
    codes, _ = pd.factorize(pd.Index(np.asarray(groups).astype(str)))
    order = np.argsort(codes, kind="stable").astype(np.int64)
    counts = np.bincount(codes).astype(np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    return order, starts, counts


def _rows_of(picked: IntArray, order: IntArray, starts: IntArray,
             counts: IntArray) -> IntArray:
    lens = counts[picked]
    total = int(lens.sum())
    offs = np.repeat(starts[picked] - np.concatenate([[0], np.cumsum(lens)[:-1]]), lens)
    out: IntArray = order[np.arange(total) + offs]
    return out


def grouped_bootstrap_indices(groups: npt.ArrayLike, B: int, seed: int = 1) -> list[IntArray]:
    """``B`` resamples of row indices: patients drawn with replacement, all their rows kept."""
    order, starts, counts = _patient_rows(groups)
    rng = np.random.default_rng(seed)
    m = len(counts)
    return [_rows_of(rng.integers(0, m, size=m).astype(np.int64), order, starts, counts)
            for _ in range(B)]


def grouped_split(groups: npt.ArrayLike, fraction: float = 0.5,
                  seed: int = 1) -> tuple[IntArray, IntArray]:
    """Row indices of two halves with no patient in both."""
    order, starts, counts = _patient_rows(groups)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(counts)).astype(np.int64)
    cut = round(fraction * len(counts))
    a = np.sort(_rows_of(perm[:cut], order, starts, counts))
    b = np.sort(_rows_of(perm[cut:], order, starts, counts))
    return a, b


# ---------------------------------------------------------------------------------------------
# fast metrics (used inside the resampling loop)
# ---------------------------------------------------------------------------------------------

def _logit(p: FloatArray) -> FloatArray:
    q = np.clip(p, 1e-12, 1 - 1e-12)
    out: FloatArray = np.log(q / (1 - q))
    return out


def fast_calibration(y: FloatArray, p: FloatArray) -> tuple[float, float]:
    """(calibration intercept with lp as offset, calibration slope); NaN without both classes."""
    n1 = float(y.sum())
    if n1 == 0 or n1 == y.size:
        return math.nan, math.nan
    lp = _logit(p)
    a = intercept_given_offset(y, lp)
    z1 = np.column_stack([np.ones_like(lp), lp])
    beta, _ = newton_ridge(z1, y, 0.0, start=np.array([0.0, 1.0]), max_iter=30, tol=1e-10)
    return float(a), float(beta[1])


def _metrics(y: FloatArray, p: FloatArray, *, calibration: bool = True,
             codes: IntArray | None = None) -> FloatArray:
    a, b = fast_calibration(y, p) if calibration else (math.nan, math.nan)
    auc_ = rank_auc(y, p) if codes is None else weighted_auc(codes, y, 1.0 - y)
    return np.array([auc_, a, b, float(np.mean((p - y) ** 2))])


# ---------------------------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------------------------

@dataclass
class DynamicValidation:
    """Patient-clustered validation of a dynamic model (see the module docstring)."""

    performance: pd.DataFrame  # horizon, model, subset, metric, apparent, optimism, corrected, ci
    auc_difference: pd.DataFrame  # horizon, subset, apparent, optimism, corrected, ci
    auc_by_day: pd.DataFrame  # horizon, day, n, events, auc_dynamic, _comparator, _baseline
    calibration_bins: pd.DataFrame  # horizon, bin, predicted, observed, n
    B: int
    B_effective: dict[int, int]
    seed: int
    level: float
    censoring: str
    notes: list[str] = field(default_factory=list)

    def headline(self, horizon: int = 2) -> pd.DataFrame:
        """Optimism-corrected AUC of the dynamic model and the comparator, with the difference."""
        perf = self.performance
        rows = perf[(perf["horizon"] == horizon) & (perf["metric"] == "auc")]
        return rows[["subset", "model", "apparent", "optimism", "corrected", "ci_low",
                     "ci_high", "n", "events", "patients"]].reset_index(drop=True)

    def auc_table(self, horizon: int | None = None) -> pd.DataFrame:
        """AUC of the dynamic model and both comparators per horizon and subset (apparent,
        optimism, corrected, CI); ``model`` holds the codes of :data:`MODEL_LABELS`."""
        perf = self.performance
        rows = perf[(perf["metric"] == "auc")
                    & ((perf["horizon"] == horizon) if horizon is not None else True)]
        return rows[["horizon", "subset", "model", "n", "events", "apparent", "optimism",
                     "corrected", "ci_low", "ci_high"]].reset_index(drop=True)

    def gain_table(self, horizon: int | None = None) -> pd.DataFrame:
        """AUC gain of the dynamic model over each comparator (apparent, corrected, CI)."""
        d = self.auc_difference
        if horizon is not None:
            d = d[d["horizon"] == horizon]
        return d[["horizon", "versus", "subset", "apparent", "optimism", "corrected", "ci_low",
                  "ci_high"]].reset_index(drop=True)

    def calibration_table(self, horizon: int | None = None) -> pd.DataFrame:
        """Calibration intercept, slope and Brier score of the dynamic model (all person-days)."""
        perf = self.performance
        rows = perf[(perf["model"] == "dynamic") & (perf["subset"] == "all")
                    & (perf["metric"] != "auc")
                    & ((perf["horizon"] == horizon) if horizon is not None else True)]
        return rows[["horizon", "metric", "apparent", "optimism", "corrected"]].reset_index(
            drop=True)

    def to_frame(self) -> pd.DataFrame:
        """Every performance measure: horizon, model, subset, metric, apparent, optimism,
        corrected and CI (the table :meth:`auc_table` and :meth:`calibration_table` select from)."""
        return self.performance.copy()

    def plot(self, ax: Any = None, *, horizon: int | None = None) -> Any:
        """Apparent AUC by day since infusion (dynamic model beside the comparators), for
        ``horizon`` (default: the middle one), on ``ax`` (a new Axes when None)."""
        if ax is None:
            import matplotlib.pyplot as plt

            _, ax = plt.subplots(figsize=(5.6, 3.2))
        return _draw_auc_by_day(self.auc_by_day, ax, horizon=horizon)

    def to_dict(self) -> dict[str, Any]:
        return {"B": self.B, "B_effective": {str(k): v for k, v in self.B_effective.items()},
                "seed": self.seed, "level": self.level, "censoring": self.censoring,
                "clustering": "patient (every resample keeps a patient's days together)",
                "penalty_in_resamples": "fixed at the value chosen on the full data",
                "performance": self.performance.to_dict(orient="records"),
                "auc_difference": self.auc_difference.to_dict(orient="records"),
                "auc_by_day": self.auc_by_day.to_dict(orient="records"),
                "calibration_bins": self.calibration_bins.to_dict(orient="records"),
                "notes": list(self.notes)}


def validate_dynamic(model: DynamicModel, pdays: PersonDays, *, B: int = 200, seed: int = 1,
                     horizons: Sequence[int] | None = None, level: float = 0.95,
                     jobs: int = 1) -> DynamicValidation:
    """Patient-clustered validation of ``model`` on its person-days (module docstring).

    ``B`` patient-clustered bootstrap resamples per horizon (0: apparent figures only);
    ``jobs`` threads share the resamples (the algebra runs on one BLAS thread each).
    """
    from crsscore.validation.discrimination import auc as delong_auc

    hs = list(model.horizons if horizons is None else horizons)
    data = pdays.data
    x_all = model.design(data)
    nsp = len(model.spline.knots) - 1
    xc_all = design_matrix(data, model.spline, comparator_predictors())[:, nsp:]
    xb_all = design_matrix(data, model.spline, model.baseline_predictors)
    alpha = (1.0 - level) / 2.0
    perf_rows: list[dict[str, Any]] = []
    diff_rows: list[dict[str, Any]] = []
    day_rows: list[dict[str, Any]] = []
    bin_rows: list[dict[str, Any]] = []
    b_eff: dict[int, int] = {}
    notes: list[str] = []
    with single_thread_blas():
        for h in hs:
            known, y_int = pdays.outcome(h)
            y = y_int.astype(np.float64)
            frame = data[known]
            groups = frame["patient_id"].to_numpy()
            grade = frame["crs_grade"].to_numpy(dtype=np.float64)
            sub = {"all": np.ones(y.size, dtype=bool), "grade<=1": grade <= 1}
            fit, cfit = model.fits[h], model.comparator[h]
            x, xc = x_all[known], xc_all[known]
            z1 = np.hstack([np.ones((y.size, 1)), (x - fit.center) / fit.scale])
            zc1 = np.hstack([np.ones((y.size, 1)), (xc - cfit.center) / cfit.scale])
            preds = {"dynamic": expit(z1 @ fit.beta_std), "comparator": expit(zc1 @ cfit.beta_std)}
            zb1: FloatArray | None = None
            bfit = model.baseline.get(h)
            if bfit is not None:
                xb = xb_all[known]
                zb1 = np.hstack([np.ones((y.size, 1)), (xb - bfit.center) / bfit.scale])
                preds["baseline"] = expit(zb1 @ bfit.beta_std)
            others = [m for m in preds if m != "dynamic"]
            apparent = {(m, s): _metrics(y[mask], preds[m][mask])
                        for m in preds for s, mask in sub.items()}
            opt_sum = {k: np.zeros(len(METRICS)) for k in apparent}
            opt_n = {k: np.zeros(len(METRICS)) for k in apparent}
            frozen: dict[tuple[str, str], list[float]] = {k: [] for k in apparent}
            frozen_diff: dict[tuple[str, str], list[float]] = {
                (other, s): [] for other in others for s in sub}
            grade_i = np.clip(grade, 0, 2).astype(np.int64)
            zc_levels = np.hstack([np.ones((3, 1)), (np.array([[0.0, 0.0], [1.0, 0.0],
                                                               [0.0, 1.0]]) - cfit.center)
                                   / cfit.scale])
            codes = {(m, s): dense_codes(np.where(mask, preds[m], -1.0))
                     for m in preds for s, mask in sub.items()}

            ctx = _BootContext(y=y, z1=z1, zc1=zc1, fit_beta=fit.beta_std, lam=fit.lam,
                               cfit_beta=cfit.beta_std, clam=cfit.lam, sub=sub,
                               grade_i=grade_i, zc_levels=zc_levels, codes=codes, zb1=zb1,
                               bfit_beta=None if bfit is None else bfit.beta_std,
                               blam=0.0 if bfit is None else bfit.lam)
            one = functools.partial(_one_resample, ctx)
            samples = grouped_bootstrap_indices(groups, B, seed + 1000 * h) if B else []
            if jobs > 1 and samples:
                from concurrent.futures import ThreadPoolExecutor

                with ThreadPoolExecutor(max_workers=jobs) as pool:
                    results = list(pool.map(one, samples))
            else:
                results = [one(idx) for idx in samples]
            n_ok = 0
            for res in results:
                if res is None:
                    continue
                n_ok += 1
                for s in sub:
                    for m in preds:
                        d = res[(m, s)]
                        ok = np.isfinite(d)
                        opt_sum[(m, s)][ok] += d[ok]
                        opt_n[(m, s)][ok] += 1
                    fr = res[("frozen", s)]
                    for m in preds:
                        frozen[(m, s)].append(fr[m])
                    for other in others:
                        frozen_diff[(other, s)].append(fr["dynamic"] - fr[other])
            b_eff[h] = n_ok
            for (m, s), app in apparent.items():
                mask = sub[s]
                optim = np.where(opt_n[(m, s)] > 0, opt_sum[(m, s)] / np.maximum(opt_n[(m, s)], 1),
                                 np.nan)
                fz = np.asarray([v for v in frozen[(m, s)] if np.isfinite(v)])
                for j, metric in enumerate(METRICS):
                    row: dict[str, Any] = {
                        "horizon": h, "model": m, "subset": s, "metric": metric,
                        "apparent": float(app[j]), "optimism": float(optim[j]),
                        "corrected": float(app[j] - optim[j]), "ci_low": math.nan,
                        "ci_high": math.nan, "ci_method": "",
                        "n": int(mask.sum()), "events": int(y[mask].sum()),
                        "patients": int(pd.unique(groups[mask]).size)}
                    if metric == "auc" and fz.size >= 10:
                        lo, hi = np.quantile(fz, [alpha, 1 - alpha])
                        row.update(ci_low=float(lo - optim[j]), ci_high=float(hi - optim[j]),
                                   ci_method="patient-clustered bootstrap percentile, "
                                             "shifted by the optimism")
                    elif metric == "auc" and 0 < y[mask].sum() < mask.sum():
                        r = delong_auc(y[mask].astype(np.int64), preds[m][mask], level=level)
                        shift = float(optim[j]) if math.isfinite(float(optim[j])) else 0.0
                        row.update(ci_low=r.ci_low - shift, ci_high=r.ci_high - shift,
                                   ci_method="DeLong (ignores clustering)"
                                   + (", shifted by the optimism" if shift else
                                      ", apparent (no bootstrap)"))
                    perf_rows.append(row)
            for other in others:
                for s, mask in sub.items():
                    a_d = apparent[("dynamic", s)][0]
                    a_c = apparent[(other, s)][0]
                    o_d = _row_value(perf_rows, h, "dynamic", s, "optimism")
                    o_c = _row_value(perf_rows, h, other, s, "optimism")
                    fd = np.asarray([v for v in frozen_diff[(other, s)] if np.isfinite(v)])
                    o_diff = ((o_d if math.isfinite(o_d) else 0.0)
                              - (o_c if math.isfinite(o_c) else 0.0))
                    lo = hi = math.nan
                    if fd.size >= 10:
                        lo, hi = (float(v) - o_diff
                                  for v in np.quantile(fd, [alpha, 1 - alpha]))
                    diff_rows.append({"horizon": h, "versus": MODEL_LABELS[other],
                                      "subset": s, "apparent": a_d - a_c, "optimism": o_diff,
                                      "corrected": a_d - a_c - o_diff, "ci_low": lo,
                                      "ci_high": hi, "n": int(mask.sum()),
                                      "events": int(y[mask].sum())})
            day = frame["day"].to_numpy(dtype=np.float64)
            for t in np.unique(day):
                at = day == t
                day_rows.append({"horizon": h, "day": int(t), "n": int(at.sum()),
                                 "events": int(y[at].sum()),
                                 "auc_dynamic": rank_auc(y[at], preds["dynamic"][at]),
                                 "auc_comparator": rank_auc(y[at], preds["comparator"][at]),
                                 "auc_baseline": (rank_auc(y[at], preds["baseline"][at])
                                                  if "baseline" in preds else math.nan)})
            p = preds["dynamic"]
            edges = np.unique(np.quantile(p, np.linspace(0, 1, 11)))
            b = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, max(len(edges) - 2, 0))
            for k in np.unique(b):
                inb = b == k
                bin_rows.append({"horizon": h, "bin": int(k) + 1, "n": int(inb.sum()),
                                 "predicted": float(p[inb].mean()),
                                 "observed": float(y[inb].mean())})
            if B and n_ok < B:
                notes.append(f"horizon {h}: {B - n_ok} resample(s) with fewer than 2 events "
                             "skipped")
    return DynamicValidation(
        performance=pd.DataFrame(perf_rows), auc_difference=pd.DataFrame(diff_rows),
        auc_by_day=pd.DataFrame(day_rows), calibration_bins=pd.DataFrame(bin_rows), B=B,
        B_effective=b_eff, seed=seed, level=level, censoring=pdays.censoring, notes=notes)


@dataclass(frozen=True)
class _BootContext:
    y: FloatArray
    z1: FloatArray
    zc1: FloatArray
    fit_beta: FloatArray
    lam: float
    cfit_beta: FloatArray
    clam: float
    sub: dict[str, BoolArray]
    grade_i: IntArray
    zc_levels: FloatArray
    codes: dict[tuple[str, str], IntArray]
    zb1: FloatArray | None = None
    bfit_beta: FloatArray | None = None
    blam: float = 0.0


def _one_resample(c: _BootContext, idx: IntArray) -> dict[Any, Any] | None:
    """Refit on one patient-clustered resample; optimism terms and frozen-model AUCs."""
    y = c.y
    yb = y[idx]
    if yb.sum() < 2:
        return None
    bd, _ = newton_ridge(c.z1[idx], yb, c.lam, start=c.fit_beta, max_iter=25, tol=1e-8)
    bc, _ = newton_ridge(c.zc1[idx], yb, c.clam, start=c.cfit_beta, max_iter=25, tol=1e-8)
    boot_pred = {"dynamic": (expit(c.z1[idx] @ bd), expit(c.z1 @ bd)),
                 "comparator": (expit(c.zc1[idx] @ bc), expit(c.zc1 @ bc))}
    if c.zb1 is not None and c.bfit_beta is not None:
        bb, _ = newton_ridge(c.zb1[idx], yb, c.blam, start=c.bfit_beta, max_iter=25, tol=1e-8)
        boot_pred["baseline"] = (expit(c.zb1[idx] @ bb), expit(c.zb1 @ bb))
    # the comparator's risk is a function of today's grade (0, 1, 2): its AUC needs only
    # the order of its three risks
    lvl = np.argsort(np.argsort(expit(c.zc_levels @ bc), kind="stable"))
    res: dict[Any, Any] = {}
    for s, mask in c.sub.items():
        mb = mask[idx]
        for m, (p_app, p_test) in boot_pred.items():
            cal = m == "dynamic" and s == "all"  # calibration optimism: main model, all days
            ca = lvl[c.grade_i[idx][mb]] if m == "comparator" else None
            ct = lvl[c.grade_i[mask]] if m == "comparator" else None
            res[(m, s)] = (_metrics(yb[mb], p_app[mb], calibration=cal, codes=ca)
                           - _metrics(y[mask], p_test[mask], calibration=cal, codes=ct))
        w = np.bincount(idx[mb], minlength=y.size).astype(np.float64)
        res[("frozen", s)] = {m: weighted_auc(c.codes[(m, s)], w * y, w * (1.0 - y))
                                 for m in boot_pred}
    return res


def _row_value(rows: list[dict[str, Any]], h: int, model: str, subset: str,
               key: str) -> float:
    for r in rows:
        if (r["horizon"] == h and r["model"] == model and r["subset"] == subset
                and r["metric"] == "auc"):
            return float(r[key])
    return math.nan


# ---------------------------------------------------------------------------------------------
# replay (silent trial)
# ---------------------------------------------------------------------------------------------

@dataclass
class ReplayResult:
    """What a silent trial of a dynamic card would have shown (see :func:`replay`)."""

    horizon: int
    threshold: float
    summary: dict[str, Any]
    trajectories: pd.DataFrame  # patient_id, day, risk, severe, onset_day, alert
    censoring: str
    synthetic: bool
    decision: pd.DataFrame = field(default_factory=pd.DataFrame)  # threshold x strategy

    def table(self) -> pd.DataFrame:
        s = self.summary
        rows = [
            ("horizon (days)", self.horizon), ("threshold", self.threshold),
            ("patients", s["patients"]), ("patient-days", s["patient_days"]),
            ("severe-CRS patients with a person-day before onset", s["severe_patients"]),
            ("alerted before onset", f"{s['alerted_before_onset']} "
                                     f"({100 * s['share_alerted']:.1f} %)"),
            ("median lead time, days (IQR)", f"{s['median_lead_days']:g} "
                                             f"({s['lead_q1']:g}-{s['lead_q3']:g})"),
            ("alerts per 100 patient-days", round(s["alerts_per_100_patient_days"], 2)),
            ("PPV of an alert (onset within h days)", round(s["ppv"], 3)),
            ("patients without severe CRS ever alerted", s["false_alarm_patients"]),
            ("net benefit per person-day (dynamic / grade alone / alert all)",
             f"{s.get('net_benefit', math.nan):.4f} / "
             f"{s.get('net_benefit_grade_alone', math.nan):.4f} / "
             f"{s.get('net_benefit_alert_all', math.nan):.4f}"),
        ]
        return pd.DataFrame(rows, columns=["quantity", "value"]).astype({"value": "str"})

    def plot(self, path: str | Any) -> None:
        """Risk trajectories by outcome (PNG)."""
        plot_trajectories(self.trajectories, self.threshold, self.horizon, path,
                          synthetic=self.synthetic)


def replay(card: DynamicScoreCard, pdays: PersonDays, *, threshold: float,
           horizon: int = 2) -> ReplayResult:
    """Feed the person-days to ``card`` day by day; alert when risk >= ``threshold``.

    Reports the share of severe-CRS patients (with at least one person-day before onset)
    alerted before onset, the lead time from first alert to onset (days), alert-days per
    100 patient-days, and the PPV of an alert-day (severe onset within ``horizon`` days;
    alert-days whose outcome is censored are left out of the PPV).
    """
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"The 'threshold' parameter must be in (0, 1). Got {threshold!r}.")
    if horizon not in card.horizons:
        raise ValueError(f"the card has no horizon {horizon}; horizons: {card.horizons}")
    data = pdays.data
    risk = card.predict(data, [horizon])[f"risk_h{horizon}"].to_numpy(dtype=np.float64)
    alert = risk >= threshold
    pid = data["patient_id"].astype("str").to_numpy()
    day = data["day"].to_numpy(dtype=np.float64)
    onset = data["severe_onset_day"].to_numpy(dtype=np.float64)
    severe = np.isfinite(onset)
    traj = pd.DataFrame({"patient_id": pid, "day": day, "risk": risk, "severe": severe,
                         "onset_day": onset, "alert": alert})
    per = traj.groupby("patient_id", sort=False).agg(
        severe=("severe", "first"), onset=("onset_day", "first"),
        any_alert=("alert", "any"))
    first_alert = traj[traj["alert"]].groupby("patient_id")["day"].min()
    per["first_alert"] = first_alert.reindex(per.index)
    sev = per[per["severe"]]
    lead = (sev["onset"] - sev["first_alert"]).dropna().to_numpy(dtype=np.float64)
    col = f"y_h{horizon}"
    y = data[col] if col in data.columns else pd.Series(pd.NA, index=data.index)
    known = y.notna().to_numpy(dtype=bool)
    yk = y.fillna(0).to_numpy(dtype=np.float64)
    n_alert_known = int((alert & known).sum())
    summary = {
        "patients": int(per.shape[0]), "patient_days": len(traj),
        "severe_patients": int(sev.shape[0]),
        "alerted_before_onset": int(sev["any_alert"].sum()),
        "share_alerted": float(sev["any_alert"].mean()) if len(sev) else math.nan,
        "median_lead_days": float(np.median(lead)) if lead.size else math.nan,
        "lead_q1": float(np.quantile(lead, 0.25)) if lead.size else math.nan,
        "lead_q3": float(np.quantile(lead, 0.75)) if lead.size else math.nan,
        "alert_days": int(alert.sum()),
        "alerts_per_100_patient_days": 100.0 * float(alert.mean()) if len(traj) else math.nan,
        "ppv": float(yk[alert & known].mean()) if n_alert_known else math.nan,
        "alert_days_censored": int((alert & ~known).sum()),
        "false_alarm_patients": int((~per["severe"] & per["any_alert"]).sum()),
        "non_severe_patients": int((~per["severe"]).sum()),
        "censoring": pdays.censoring,
        "note": ("severe-CRS patients whose onset came before the first person-day (day "
                 f"{pdays.first_day}) cannot be alerted and are not counted"),
    }
    decision = _decision_table(card, data, risk, known, yk, horizon, threshold)
    row = decision[decision["threshold"] == float(threshold)]
    summary["net_benefit"] = float(row["dynamic"].iloc[0]) if len(row) else math.nan
    summary["net_benefit_grade_alone"] = (float(row["grade alone"].iloc[0])
                                          if len(row) and "grade alone" in row else math.nan)
    summary["net_benefit_alert_all"] = float(row["alert all"].iloc[0]) if len(row) else math.nan
    return ReplayResult(horizon=horizon, threshold=float(threshold), summary=summary,
                        trajectories=traj, censoring=pdays.censoring,
                        synthetic=pdays.synthetic, decision=decision)


#: Thresholds of the decision table printed by the replay (plus the one chosen).
DECISION_THRESHOLDS: Final = (0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5)


def _decision_table(card: DynamicScoreCard, data: pd.DataFrame, risk: FloatArray,
                    known: BoolArray, y: FloatArray, horizon: int,
                    threshold: float) -> pd.DataFrame:
    """Net benefit per person-day (apparent) of alerting by the card, by today's grade alone
    and of alerting every day, over thresholds: where a threshold can be chosen."""
    from crsscore.validation.decision import decision_curve

    if int(known.sum()) == 0:
        return pd.DataFrame()
    preds: dict[str, FloatArray] = {"dynamic": risk[known]}
    comp = card.comparator.get("models", {}).get(str(horizon))
    if comp:
        g = pd.to_numeric(data["crs_grade"], errors="coerce").to_numpy(dtype=np.float64)
        c1, c2 = (float(v) for v in comp["coefficients"])
        lp = float(comp["intercept"]) + c1 * (g == 1) + c2 * (g == 2)
        preds["grade alone"] = expit(lp)[known]
    ts = sorted({*DECISION_THRESHOLDS, float(threshold)})
    dc = decision_curve(y[known].astype(np.int64), preds, thresholds=ts)
    f = dc.to_frame()
    wide = f.pivot_table(index="threshold", columns="variable", values="net_benefit")
    wide = wide.rename(columns={"all": "alert all", "none": "alert none"}).reset_index()
    cols = ["threshold", "dynamic", *(["grade alone"] if comp else []), "alert all"]
    out: pd.DataFrame = wide[cols]
    return out


def plot_trajectories(traj: pd.DataFrame, threshold: float, horizon: int, path: str | Any,
                      *, synthetic: bool = False, max_lines: int = 150) -> None:
    """Daily risk by outcome: thin lines per patient, bold median per day (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from crsscore.atomicio import atomic_path

    fig, ax = plt.subplots(figsize=(7.5, 4.5), dpi=110)
    floor = 1e-4  # risks below are drawn on the floor (log axis)
    rng = np.random.default_rng(0)
    for severe, colour, label in ((False, "#9aa5b1", "no severe CRS"),
                                  (True, "#c0392b", "severe CRS (days before onset)")):
        part = traj[traj["severe"] == severe]
        ids = part["patient_id"].unique()
        if len(ids) > max_lines:
            ids = rng.choice(ids, max_lines, replace=False)
        shown = part[part["patient_id"].isin(ids)]
        for _, g in shown.groupby("patient_id", sort=False):
            ax.plot(g["day"], np.maximum(g["risk"], floor), color=colour, alpha=0.25, lw=0.7)
        med = part.groupby("day")["risk"].median()
        ax.plot(med.index, np.maximum(med.to_numpy(), floor), color=colour, lw=2.5,
                label=f"{label}: median")
    ax.axhline(threshold, color="black", ls="--", lw=1, label=f"threshold {threshold:g}")
    ax.set_yscale("log")
    ax.set_xlabel("day since infusion")
    ax.set_ylim(floor * 0.8, 1.0)
    ax.set_ylabel(f"risk of severe CRS within {horizon} day(s)\n(below 0.01 % drawn at 0.01 %)")
    title = "Daily risk trajectories by outcome"
    if synthetic:
        title += " (SYNTHETIC DATA)"
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


# ---------------------------------------------------------------------------------------------
# report section (rendered by crsscore.report.build with templates/_dynamic.html.j2)
# ---------------------------------------------------------------------------------------------

@dataclass
class DynamicReport:
    """What the report's dynamic section shows: a card, its validation and a replay."""

    card: DynamicScoreCard
    validation: DynamicValidation
    replay: ReplayResult

    def context(self) -> dict[str, Any]:
        """Tables (caption, columns, formatted rows) and figures (caption, PNG data URI)."""
        v, r = self.validation, self.replay
        auc = v.auc_table()
        auc["model"] = auc["model"].map(MODEL_LABELS)
        diff = v.gain_table()
        cal = v.calibration_table()
        tables = [_html_table("dyn-auc", "AUC per horizon: dynamic model beside today's CRS "
                              "grade alone and the static baseline, all person-days and days "
                              "at grade <= 1 "
                              "(optimism-corrected; CI: patient-clustered bootstrap "
                              "percentile shifted by the optimism)", auc),
                  _html_table("dyn-auc-gain", "AUC gain of the dynamic model over each "
                              "comparator", diff),
                  _html_table("dyn-calibration", "Calibration intercept, slope and Brier "
                              "score of the dynamic model", cal),
                  _html_table("dyn-replay", f"Replay (silent trial): horizon {r.horizon} "
                              f"day(s), alert at risk >= {r.threshold:g}", r.table())]
        figures = [("dyn-trajectories", "Daily risk trajectories by outcome",
                    _png_uri(lambda path: r.plot(path))),
                   ("dyn-auc-by-day", "Apparent AUC by day since infusion",
                    _png_uri(lambda path: _plot_auc_by_day(v, path))),
                   ("dyn-calibration", "Calibration by deciles of predicted risk",
                    _png_uri(lambda path: _plot_calibration(v.calibration_bins, path)))]
        return {"card": self.card, "B": v.B, "seed": v.seed, "censoring": v.censoring,
                "synthetic": self.card.synthetic, "tables": tables, "figures": figures,
                "notes": [*v.notes, str(r.summary["note"])]}


def _html_table(id_: str, caption: str, frame: pd.DataFrame) -> dict[str, Any]:
    def cell(v: Any) -> str:
        if isinstance(v, float | np.floating):
            return "" if not math.isfinite(float(v)) else f"{float(v):.3f}"
        return str(v)

    return {"id": id_, "caption": caption, "columns": [str(c) for c in frame.columns],
            "rows": [[cell(v) for v in row] for row in frame.itertuples(index=False)]}


def _png_uri(draw: Any) -> str:
    import base64
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fig.png"
        draw(path)
        return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _draw_auc_by_day(byday: pd.DataFrame, ax: Any, *, horizon: int | None = None) -> Any:
    """One horizon's apparent AUC by day on ``ax`` (default: the middle horizon)."""
    hs = sorted(byday["horizon"].unique())
    h = horizon if horizon is not None else (hs[len(hs) // 2] if hs else None)
    part = byday[(byday["horizon"] == h) & (byday["events"] > 0)]
    ax.plot(part["day"], part["auc_dynamic"], "o-", color="#c0392b", label="dynamic")
    ax.plot(part["day"], part["auc_comparator"], "s--", color="#7f8c8d", label="grade alone")
    if "auc_baseline" in part and part["auc_baseline"].notna().any():
        ax.plot(part["day"], part["auc_baseline"], "^:", color="#2e86c1",
                label="static baseline")
    ax.set_title(f"h = {h} day(s)")
    ax.set_xlabel("day since infusion")
    ax.set_ylim(0.4, 1.01)
    return ax


def _plot_auc_by_day(validation: DynamicValidation, path: Any) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    byday = validation.auc_by_day
    hs = sorted(byday["horizon"].unique())
    fig, axes = plt.subplots(1, max(len(hs), 1), figsize=(9, 3.2), dpi=100,
                             sharey=True, squeeze=False)
    for ax, h in zip(axes[0], hs, strict=False):
        validation.plot(ax, horizon=int(h))
    axes[0][0].set_ylabel("AUC (apparent)")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)


def _plot_calibration(bins: pd.DataFrame, path: Any) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4.2), dpi=100)
    top = float(max(bins["predicted"].max(), bins["observed"].max(), 0.01)) * 1.05
    ax.plot([0, top], [0, top], color="black", lw=0.8, ls=":")
    for h, part in bins.groupby("horizon"):
        ax.plot(part["predicted"], part["observed"], "o-", label=f"h = {h}")
    ax.set_xlabel("predicted risk (decile mean)")
    ax.set_ylabel("observed share")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)


__all__ = ["METRICS", "MODEL_LABELS", "SUBSETS", "DynamicReport", "DynamicValidation", "ReplayResult",
           "fast_calibration", "grouped_bootstrap_indices", "grouped_split",
           "plot_trajectories", "replay", "single_thread_blas", "validate_dynamic"]
