"""Dynamic (daily) model of severe CRS within the next h days (issue 16).

Penalised logistic regression on stacked person-days.  For each horizon ``h`` the rows of the
person-day table (:mod:`crsscore.modeling.persondays`) with a known outcome (censored person-days removed for that horizon, never counted as
non-events) are fitted by L2-penalised (ridge) logistic regression on standardised terms:
a restricted cubic spline of day since infusion (:func:`crsscore.splines.rcs_knots`,
4 knots) and the predictors known at the row's day.  The penalty is chosen by
patient-grouped K-fold cross-validation (every patient's days in one fold; held-out
deviance).  The intercept is not penalised.  The fitted model is written as a
:class:`crsscore.scores.dynamic_card.DynamicScoreCard` whose coefficients are on the
predictors' own (transformed) scale; model and card score through the same design function.

The comparator "today's CRS grade alone" is the same fitter on two indicators (grade 1,
grade 2 today; rows at risk have grade <= 2); the comparator "static baseline" is the same
fitter on the day spline and the baseline covariates only (what is known before infusion,
updated by nothing but the day).
"""

from __future__ import annotations

import contextlib
import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from crsscore._numeric import expit, rank_auc, row_dot
from crsscore._types import FloatArray, IntArray
from crsscore.data.schema import ANALYTES
from crsscore.errors import ModelError
from crsscore.modeling.persondays import PersonDays, log_floor
from crsscore.modeling.summary import ResultSummary
from crsscore.scores.dynamic_card import (
    DaySpline,
    DynamicScoreCard,
    DynPredictor,
    HorizonModel,
    design_matrix,
)
from crsscore.splines import rcs_knots

#: Penalty grid (ridge lambda on standardised terms, in units of the summed log-likelihood).
DEFAULT_LAMBDAS: Final = (0.01, 0.1, 1.0, 10.0, 100.0, 1000.0)
COMPARATOR_NAME: Final = "today's CRS grade alone"
BASELINE_NAME: Final = "static baseline (day since infusion and baseline covariates)"

_BASELINE_LOG: Final = {"mrd_baseline_pct": 0.001, "mrd_post_ld_pct": 0.001,
                        "marrow_blasts_pct": 0.1, "dose_cells_per_kg": 1e4}


@contextlib.contextmanager
def single_thread_blas() -> Iterator[None]:
    """Small dense algebra runs faster on one BLAS thread (and leaves the other core free)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


# ---------------------------------------------------------------------------------------------
# predictors
# ---------------------------------------------------------------------------------------------

def default_predictors(pdays: PersonDays) -> list[DynPredictor]:
    """The default predictor set for a person-day table (impute values not yet set)."""
    out = [
        DynPredictor(name="crs_grade_1", column="crs_grade", label="CRS grade 1 today",
                     transform="indicator", level=1.0),
        DynPredictor(name="crs_grade_2", column="crs_grade", label="CRS grade 2 today",
                     transform="indicator", level=2.0),
        DynPredictor(name="crs_max", column="crs_max", label="maximum CRS grade so far"),
        DynPredictor(name="crs_grade_known", column="crs_grade_known",
                     label="today's CRS grade gradable"),
        DynPredictor(name="icans_grade", column="icans_grade", label="ICANS grade today"),
        DynPredictor(name="days_since_crs_onset", column="days_since_crs_onset",
                     label="days since CRS onset"),
        DynPredictor(name="toci_doses", column="toci_doses", label="tocilizumab doses so far"),
        DynPredictor(name="steroids", column="steroids", label="corticosteroid given so far"),
    ]
    for code in pdays.analytes:
        a = ANALYTES[code]
        if a.skewed:
            out.append(DynPredictor(name=f"log10_{code}", column=code, kind="latest",
                                    label=f"log10 {a.label}, latest", unit=a.unit,
                                    transform="log10", floor=log_floor(code),
                                    window_days=pdays.window))
        else:
            out.append(DynPredictor(name=code, column=code, kind="latest",
                                    label=f"{a.label}, latest", unit=a.unit,
                                    window_days=pdays.window))
        scale = "log10 " if a.skewed else ""
        for k in (1, 2):
            out.append(DynPredictor(name=f"{code}_chg{k}", column=f"{code}_chg{k}",
                                    kind="change", label=f"change in {scale}{a.label} over "
                                    f"{k} day(s)", window_days=pdays.window))
    for col, floor in _BASELINE_LOG.items():
        out.append(DynPredictor(name=f"log10_{col}", column=col, kind="baseline",
                                label=f"log10 {col}", transform="log10", floor=floor))
    out.append(DynPredictor(name="cd28", column="cd28", kind="baseline",
                            label="CD28 costimulation (vs 4-1BB)"))
    return out


def comparator_predictors() -> list[DynPredictor]:
    """Today's CRS grade alone (indicators of grade 1 and 2)."""
    return [DynPredictor(name="crs_grade_1", column="crs_grade", transform="indicator",
                         level=1.0, label="CRS grade 1 today"),
            DynPredictor(name="crs_grade_2", column="crs_grade", transform="indicator",
                         level=2.0, label="CRS grade 2 today")]


def with_imputes(preds: Sequence[DynPredictor], frame: pd.DataFrame) -> list[DynPredictor]:
    """Predictors whose ``impute`` is the median of their transformed values in ``frame``
    (0 for change columns: no change)."""
    out = []
    for p in preds:
        tmp = p.model_copy(update={"impute": math.nan})
        v = tmp.values(frame)
        v = v[np.isfinite(v)]
        med = 0.0 if p.kind == "change" or v.size == 0 else float(np.median(v))
        out.append(p.model_copy(update={"impute": med}))
    return out


# ---------------------------------------------------------------------------------------------
# ridge logistic regression
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RidgeFit:
    """Ridge logistic fit on standardised columns, reported on the raw scale."""

    intercept: float
    coef: FloatArray
    lam: float
    center: FloatArray
    scale: FloatArray
    beta_std: FloatArray  # (intercept, standardised coefficients)
    iterations: int

    def linear_predictor(self, x: FloatArray) -> FloatArray:
        out: FloatArray = self.intercept + row_dot(x, self.coef)
        return out

    def predict(self, x: FloatArray) -> FloatArray:
        return expit(self.linear_predictor(x))


def standardise(x: FloatArray) -> tuple[FloatArray, FloatArray]:
    center = x.mean(axis=0)
    scale = x.std(axis=0)
    scale = np.where(scale > 1e-12, scale, 1.0)
    return center, scale


def ridge_logistic(x: FloatArray, y: npt.ArrayLike, lam: float, *,
                   center: FloatArray | None = None, scale: FloatArray | None = None,
                   start: FloatArray | None = None, max_iter: int = 50,
                   tol: float = 1e-9) -> RidgeFit:
    """Maximise ``loglik(b) - lam / 2 * |b|^2`` (intercept free) by Newton's method with
    step halving, on columns standardised by ``center``/``scale`` (their own when None)."""
    yy = np.asarray(y, dtype=np.float64)
    if x.shape[0] != yy.size:
        raise ModelError("x and y differ in length")
    if center is None or scale is None:
        center, scale = standardise(x)
    z = (x - center) / scale
    z1 = np.hstack([np.ones((z.shape[0], 1)), z])
    beta, it = newton_ridge(z1, yy, lam, start=start, max_iter=max_iter, tol=tol)
    coef = beta[1:] / scale
    intercept = float(beta[0] - np.sum(beta[1:] * center / scale))
    return RidgeFit(intercept, coef, float(lam), center, scale, beta, it)


def newton_ridge(z1: FloatArray, y: FloatArray, lam: float, *, start: FloatArray | None = None,
                 max_iter: int = 50, tol: float = 1e-9) -> tuple[FloatArray, int]:
    """Newton's method with step halving for ``loglik - lam / 2 * |b[1:]|^2`` on a design
    whose first column is the intercept; returns (coefficients, iterations)."""
    p = z1.shape[1]
    pen = np.full(p, float(lam))
    pen[0] = 0.0
    beta = np.zeros(p) if start is None else start.astype(np.float64).copy()
    if start is None:
        ybar = min(max(float(y.mean()), 1e-6), 1 - 1e-6)
        beta[0] = math.log(ybar / (1 - ybar))

    def objective(b: FloatArray) -> tuple[float, FloatArray]:
        eta = z1 @ b
        ll = float(y @ eta - np.sum(np.logaddexp(0.0, eta)))
        return ll - 0.5 * float(np.sum(pen * b * b)), eta

    obj, eta = objective(beta)
    it = 0
    ridge = np.diag(pen) + 1e-10 * np.eye(p)
    for it in range(1, max_iter + 1):  # noqa: B007 (returned)
        pr = expit(eta)
        grad = z1.T @ (y - pr) - pen * beta
        w = pr * (1.0 - pr)
        hess = (z1.T * w) @ z1 + ridge
        step = np.linalg.solve(hess, grad)
        t = 1.0
        while True:
            cand = beta + t * step
            new, eta_c = objective(cand)
            if new >= obj - 1e-12 or t < 1e-4:
                break
            t *= 0.5
        beta, eta, done = cand, eta_c, abs(new - obj) < tol * (abs(obj) + 1.0)
        obj = new
        if done or float(np.max(np.abs(t * step))) < 1e-8:
            break
    return beta, it


def grouped_folds(groups: npt.ArrayLike, k: int = 5, seed: int = 1) -> IntArray:
    """Fold number (0..k-1) per row; every row of a group (patient) in the same fold."""
    g = pd.Index(np.asarray(groups).astype(str))
    codes, uniq = pd.factorize(g)
    if len(uniq) < k:
        raise ModelError(f"{k}-fold grouped cross-validation needs >= {k} patients")
    rng = np.random.default_rng(seed)
    fold_of_group = np.empty(len(uniq), dtype=np.int64)
    fold_of_group[rng.permutation(len(uniq))] = np.arange(len(uniq)) % k
    out: IntArray = fold_of_group[codes]
    return out


def choose_penalty(x: FloatArray, y: npt.ArrayLike, groups: npt.ArrayLike, *,
                   lambdas: Sequence[float] = DEFAULT_LAMBDAS, k: int = 5,
                   seed: int = 1) -> tuple[float, pd.DataFrame]:
    """Penalty with the smallest patient-grouped cross-validated deviance, and the table."""
    yy = np.asarray(y, dtype=np.float64)
    folds = grouped_folds(groups, k, seed)
    lams = np.asarray(lambdas, dtype=np.float64)
    dev = np.zeros(len(lams))
    for f in range(k):
        tr, te = folds != f, folds == f
        if yy[tr].sum() == 0 or yy[tr].sum() == tr.sum():
            continue
        start = None
        for jj in np.argsort(lams)[::-1]:  # strongest penalty first, warm starts
            fit = ridge_logistic(x[tr], yy[tr], float(lams[jj]), start=start)
            start = fit.beta_std
            eta = fit.linear_predictor(x[te])
            dev[jj] += -2.0 * float(np.sum(yy[te] * eta - np.logaddexp(0.0, eta)))
    table = pd.DataFrame({"lambda": list(lambdas), "cv_deviance": dev})
    best = float(lams[int(np.argmin(dev))])
    return best, table


# ---------------------------------------------------------------------------------------------
# the dynamic model
# ---------------------------------------------------------------------------------------------

@dataclass
class DynamicModel:
    """A fitted dynamic model: spline, predictors and one ridge fit per horizon."""

    spline: DaySpline
    predictors: list[DynPredictor]
    fits: dict[int, RidgeFit]
    comparator: dict[int, RidgeFit]
    cv: dict[int, pd.DataFrame]
    counts: pd.DataFrame
    pdays_info: dict[str, Any]
    seed: int
    notes: list[str] = field(default_factory=list)
    baseline: dict[int, RidgeFit] = field(default_factory=dict)
    baseline_predictors: list[DynPredictor] = field(default_factory=list)

    @property
    def horizons(self) -> list[int]:
        return sorted(self.fits)

    def design(self, frame: pd.DataFrame) -> FloatArray:
        return design_matrix(frame, self.spline, self.predictors)

    def predict(self, frame: pd.DataFrame, horizon: int) -> FloatArray:
        """Risk of severe onset within ``horizon`` days for each row of ``frame``."""
        return self.fits[horizon].predict(self.design(frame))

    def predict_comparator(self, frame: pd.DataFrame, horizon: int) -> FloatArray:
        x = design_matrix(frame, self.spline, comparator_predictors())[:, len(
            self.spline.knots) - 1:]
        return self.comparator[horizon].predict(x)

    def predict_baseline(self, frame: pd.DataFrame, horizon: int) -> FloatArray:
        """Risk from the static baseline comparator (day spline + baseline covariates)."""
        x = design_matrix(frame, self.spline, self.baseline_predictors)
        return self.baseline[horizon].predict(x)

    # -------------------------------------------------------------------------------------
    # the model renders itself (the CLI and the report only show these)
    def penalties(self) -> dict[int, float]:
        """The ridge penalty chosen by patient-grouped cross-validation, per horizon."""
        return {h: float(self.fits[h].lam) for h in self.horizons}

    def to_frame(self) -> pd.DataFrame:
        """One row per horizon and term: the coefficient on the predictor's own (transformed)
        scale, the standardised one the penalty acts on, and the horizon's penalty; the
        intercept first (not penalised, no standardised value)."""
        terms = self.spline.term_names + [p.name for p in self.predictors]
        rows: list[dict[str, Any]] = []
        for h in self.horizons:
            fit = self.fits[h]
            rows.append({"horizon": h, "term": "Intercept", "coef": float(fit.intercept),
                         "coef_standardised": math.nan, "penalty": float(fit.lam)})
            rows += [{"horizon": h, "term": t, "coef": float(b), "coef_standardised": float(z),
                      "penalty": float(fit.lam)}
                     for t, b, z in zip(terms, fit.coef, fit.beta_std[1:], strict=True)]
        return pd.DataFrame(rows)

    def summary(self) -> ResultSummary:
        """Horizons, penalties, seed and person-day counts, with the coefficient table and the
        cross-validated deviance of every penalty tried."""
        info: dict[str, Any] = {
            "horizons": self.horizons,
            "penalty": ", ".join(f"h={h}: {v:g}" for h, v in self.penalties().items()),
            "predictors": [p.name for p in self.predictors],
            "day spline knots": [float(k) for k in self.spline.knots],
            "seed": self.seed, "censoring": self.pdays_info.get("censoring", "")}
        cv = pd.concat([t.assign(horizon=h) for h, t in sorted(self.cv.items())],
                       ignore_index=True) if self.cv else pd.DataFrame()
        tables = {"person-days": self.counts, "coefficients": self.to_frame(),
                  "penalty choice (patient-grouped CV deviance)": cv}
        return ResultSummary(title="Dynamic model of severe CRS within h days (ridge logistic, "
                             "stacked person-days)", info=info, tables=tables,
                             notes=tuple(self.notes))

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_()

    def plot(self, ax: Any = None) -> Any:
        """Standardised coefficients (what the penalty shrinks), one marker style per
        horizon, on ``ax`` (a new Axes when None); returns the Axes."""
        if ax is None:
            import matplotlib.pyplot as plt

            _, ax = plt.subplots(figsize=(5.5, 0.3 * len(self.predictors) + 2.0))
        frame = self.to_frame()
        frame = frame[frame["term"] != "Intercept"]
        terms = list(dict.fromkeys(frame["term"]))
        ypos = {t: i for i, t in enumerate(terms)}
        for k, (h, sub) in enumerate(frame.groupby("horizon", sort=True)):
            off = (k - (len(self.horizons) - 1) / 2) * 0.2
            ax.plot(sub["coef_standardised"], [ypos[t] + off for t in sub["term"]],
                    "osD^v"[k % 5], color=("0.0", "0.4", "0.65")[k % 3], ms=4, ls="none",
                    label=f"h = {h} day(s)")
        ax.axvline(0.0, color="0.6", lw=0.8, ls=":")
        ax.set_yticks(range(len(terms)))
        ax.set_yticklabels(terms)
        ax.invert_yaxis()
        ax.set_xlabel("Standardised coefficient (log-odds per SD)")
        ax.legend(frameon=False, fontsize=7)
        return ax

    def to_card(self, *, card_id: str = "dynamic-severe-crs",
                name: str = "Daily risk of severe CRS within h days",
                validation: dict[str, Any] | None = None,
                points: Sequence[Any] | None = None) -> DynamicScoreCard:
        from crsscore import __version__

        terms = self.spline.term_names + [p.name for p in self.predictors]
        counts = {int(r["horizon"]): r for r in self.counts.to_dict(orient="records")}
        models = []
        for h in self.horizons:
            fit = self.fits[h]
            c = counts[h]
            models.append(HorizonModel(
                horizon=h, intercept=fit.intercept,
                coefficients={t: float(b) for t, b in zip(terms, fit.coef, strict=True)},
                penalty=fit.lam, n_person_days=int(c["person_days"]),
                n_events=int(c["events"]), n_patients=int(c["patients"]),
                censored_removed=int(c["censored_removed"])))
        comp = {"name": COMPARATOR_NAME, "terms": ["crs_grade_1", "crs_grade_2"],
                "models": {str(h): {"intercept": f.intercept,
                                    "coefficients": [float(v) for v in f.coef]}
                           for h, f in self.comparator.items()}}
        if self.baseline:
            comp["baseline"] = {
                "name": BASELINE_NAME,
                "terms": self.spline.term_names + [p.name for p in self.baseline_predictors],
                "predictors": [p.model_dump() for p in self.baseline_predictors],
                "models": {str(h): {"intercept": f.intercept,
                                    "coefficients": [float(v) for v in f.coef]}
                           for h, f in self.baseline.items()}}
        info = self.pdays_info
        return DynamicScoreCard(
            id=card_id, name=name, horizons=self.horizons,
            censoring_method=info["censoring"], censoring_code=info["censoring_code"],
            day_range=(int(info["days"][0]), int(info["days"][1])),
            window_days=float(info["window_days"]), analytes=list(info["analytes"]),
            spline=self.spline, predictors=self.predictors, models=models, comparator=comp,
            points=list(points or []), validation=validation or {},
            synthetic=bool(info["synthetic"]),
            data_hash=str(info["data_hash"]), seed=self.seed, software_version=__version__,
            created=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), notes=list(self.notes))


def fit_dynamic(pdays: PersonDays, *, horizons: Sequence[int] | None = None,
                predictors: Sequence[DynPredictor] | None = None,
                lambdas: Sequence[float] = DEFAULT_LAMBDAS, folds: int = 5, nk: int = 4,
                seed: int = 1) -> DynamicModel:
    """Fit the dynamic model on a person-day table (see the module docstring).

    The knots and the values used for missing predictors come from all person-days; the
    penalty of each horizon from patient-grouped ``folds``-fold cross-validation.
    """
    from crsscore.modeling.persondays import CENSORING_CODE

    hs = list(pdays.horizons if horizons is None else horizons)
    data = pdays.data
    if len(data) == 0:
        raise ModelError("the person-day table is empty")
    day = data["day"].to_numpy(dtype=np.float64)
    knots = [float(v) for v in rcs_knots(day, nk)]
    spline = DaySpline(knots=knots)
    preds = with_imputes(default_predictors(pdays) if predictors is None else predictors, data)
    x_all = design_matrix(data, spline, preds)
    comp_preds = comparator_predictors()
    xc_all = design_matrix(data, spline, comp_preds)[:, len(knots) - 1:]
    base_preds = [p for p in preds if p.kind == "baseline"]
    xb_all = design_matrix(data, spline, base_preds)
    fits: dict[int, RidgeFit] = {}
    comps: dict[int, RidgeFit] = {}
    bases: dict[int, RidgeFit] = {}
    cvs: dict[int, pd.DataFrame] = {}
    notes: list[str] = []
    for h in hs:
        known, y = pdays.outcome(h)
        if int(y.sum()) < 2:
            raise ModelError(f"horizon {h}: {int(y.sum())} event(s); at least 2 are needed")
        x = x_all[known]
        groups = data.loc[known, "patient_id"].to_numpy()
        with single_thread_blas():
            lam, table = choose_penalty(x, y, groups, lambdas=lambdas, k=folds, seed=seed)
        if lam in (min(lambdas), max(lambdas)):
            notes.append(f"horizon {h}: the chosen penalty {lam:g} is at the end of the grid")
        fits[h] = ridge_logistic(x, y, lam)
        comps[h] = ridge_logistic(xc_all[known], y, 1e-3)
        with single_thread_blas():
            lam_b, _ = choose_penalty(xb_all[known], y, groups, lambdas=lambdas, k=folds,
                                      seed=seed)
        bases[h] = ridge_logistic(xb_all[known], y, lam_b)
        cvs[h] = table
    info = pdays.to_dict()
    info["censoring_code"] = CENSORING_CODE
    return DynamicModel(spline=spline, predictors=preds, fits=fits, comparator=comps, cv=cvs,
                        counts=pdays.counts(), pdays_info=info, seed=seed, notes=notes,
                        baseline=bases, baseline_predictors=base_preds)


# ---------------------------------------------------------------------------------------------
# integer points for the bedside
# ---------------------------------------------------------------------------------------------

#: Banded predictors of the points version: (name, column, label, unit, fixed cuts or None
#: for clinically rounded quantile cuts at 50 / 75 / 90 %, band labels for fixed cuts).
_POINT_SPECS: Final[tuple[tuple[str, str, str, str | None, tuple[float, ...] | None,
                               tuple[str, ...]], ...]] = (
    ("crs_grade", "crs_grade", "CRS grade today", None, (1.0, 2.0), ("0", "1", "2")),
    ("crs_max", "crs_max", "maximum CRS grade so far", None, (1.0, 2.0), ("0", "1", "2")),
    ("day", "day", "day since infusion", "days", (3.0, 6.0, 9.0),
     ("0-2", "3-5", "6-8", ">= 9")),
    ("toci", "toci_doses", "tocilizumab given", None, (1.0,), ("no", "yes")),
    ("steroids", "steroids", "corticosteroid given", None, (1.0,), ("no", "yes")),
    ("icans", "icans_grade", "ICANS grade today", None, (1.0,), ("0", ">= 1")),
    ("temp", "temp", "latest temperature", "C", (38.0,), ("< 38", ">= 38")),
    ("il6", "il6", "latest IL-6", "pg/mL", None, ()),
    ("crp", "crp", "latest CRP", "mg/L", None, ()),
    ("ferritin", "ferritin", "latest ferritin", "ng/mL", None, ()),
    ("il6_rise", "il6_chg2", "IL-6 change over 2 days", None,
     (math.log10(2.0), 1.0), ("< x2", "x2 to x10", ">= x10")),
    ("crp_rise", "crp_chg2", "CRP change over 2 days", None,
     (math.log10(2.0), 1.0), ("< x2", "x2 to x10", ">= x10")),
    ("ferritin_rise", "ferritin_chg2", "ferritin change over 2 days", None,
     (math.log10(2.0),), ("< x2", ">= x2")),
    ("cd28", "cd28", "CD28 costimulation", None, (1.0,), ("4-1BB", "CD28")),
)


def _quantile_cuts(x: FloatArray) -> list[float]:
    from crsscore.modeling.points import clinical_round

    v = x[np.isfinite(x)]
    if v.size < 20:
        return []
    cuts = sorted({clinical_round(float(q)) for q in np.quantile(v, [0.5, 0.75, 0.9])})
    return [c for c in cuts if c > v.min()]


def fit_points(pdays: PersonDays, horizon: int, *, lam: float | None = None,
               max_points: int = 10, continuous: DynamicModel | None = None,
               seed: int = 1) -> Any:
    """Integer-points version for one horizon (bedside): banded predictors (missing = band 0),
    ridge logistic on the band indicators (penalty ``lam``, or chosen by patient-grouped
    5-fold CV when None), points = coefficient / (largest |coefficient| / ``max_points``)
    rounded, and a logistic map from the total to the risk.

    Returns a :class:`crsscore.scores.dynamic_card.PointsModel` with the apparent AUC of the
    points and, given ``continuous``, of the continuous model on the same person-days.
    """
    from crsscore.scores.dynamic_card import PointsModel, PointsVariable

    known, y_int = pdays.outcome(horizon)
    y = y_int.astype(np.float64)
    frame = pdays.data[known]
    variables: list[tuple[str, str, str, str | None, list[float], list[str]]] = []
    for name, col, label, unit_s, fixed, spec_labels in _POINT_SPECS:
        if col not in frame.columns:
            continue
        x = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=np.float64,
                                                                 na_value=np.nan)
        cuts = list(fixed) if fixed is not None else _quantile_cuts(x)
        if not cuts:
            continue
        band = np.searchsorted(np.asarray(cuts), x[np.isfinite(x)], side="right")
        if np.unique(band).size < 2:
            continue
        blabels = list(spec_labels)
        if fixed is None:
            edges = [f"{c:g}" for c in cuts]
            blabels = [f"< {edges[0]}", *(f"{a} to < {b}" for a, b in itertools.pairwise(edges)),
                       f">= {edges[-1]}"]
        variables.append((name, col, label, unit_s, cuts, blabels))
    cols, owners = [], []
    for k, (_, col, _, _, cuts, _) in enumerate(variables):
        x = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=np.float64,
                                                                 na_value=np.nan)
        b = np.where(np.isnan(x), 0, np.searchsorted(np.asarray(cuts), x, side="right"))
        for j in range(1, len(cuts) + 1):
            cols.append((b == j).astype(np.float64))
            owners.append((k, j))
    if not cols:
        raise ModelError("no predictor could be banded for the points version")
    xb = np.column_stack(cols)
    with single_thread_blas():
        if lam is None:
            lam, _ = choose_penalty(xb, y, frame["patient_id"].to_numpy(), seed=seed)
        fit = ridge_logistic(xb, y, lam)
    unit = float(np.max(np.abs(fit.coef))) / max_points if np.any(fit.coef) else 1.0
    pts = np.rint(fit.coef / unit).astype(np.int64)
    pvars = []
    for k, (name, col, label, unit_txt, cuts, blabels) in enumerate(variables):
        points = [0] + [int(pts[i]) for i, (kk, _) in enumerate(owners) if kk == k]
        pvars.append(PointsVariable(name=name, column=col, label=label, unit=unit_txt,
                                    cuts=[float(c) for c in cuts], points=points,
                                    band_labels=blabels))
    total = np.zeros(y.size)
    for v in pvars:
        total += v.score(frame)
    beta, _ = newton_ridge(np.column_stack([np.ones(y.size), total]), y, 0.0, max_iter=50)
    auc_points = rank_auc(y_int, total) if 0 < y.sum() < y.size else None
    auc_cont = None
    if continuous is not None and 0 < y.sum() < y.size:
        auc_cont = rank_auc(y_int, continuous.predict(frame, horizon))
    return PointsModel(horizon=horizon, variables=pvars, intercept=float(beta[0]),
                       slope=float(beta[1]), logodds_per_point=unit, auc_points=auc_points,
                       auc_continuous=auc_cont,
                       note=f"band coefficients ridge-penalised (lambda {lam:g}); apparent "
                            "AUCs on the derivation person-days (not optimism-corrected); a "
                            "missing value scores 0 points")


__all__ = ["BASELINE_NAME", "COMPARATOR_NAME", "DEFAULT_LAMBDAS", "DynamicModel", "RidgeFit", "choose_penalty",
           "comparator_predictors", "default_predictors", "fit_dynamic", "fit_points", "grouped_folds",
           "newton_ridge",
           "ridge_logistic", "single_thread_blas", "standardise", "with_imputes"]
