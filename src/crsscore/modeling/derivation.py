"""The study's method, done right: from candidates at a landmark to a bedside point score.

:class:`PointScoreModel` is a scikit-learn style estimator holding the whole derivation
pipeline, so that the bootstrap can refit all of it in every resample:

1. transform candidates (log10 with a floor for right-skewed labs and MRD);
2. multiple imputation by chained equations (default; complete cases only when asked);
3. choose the fitting method: Firth when events per candidate parameter are fewer than 10 or
   maximum likelihood shows separation (``method="auto"``), else maximum likelihood;
4. select variables on the continuous scale (backward elimination by AIC or p, LASSO, or
   none); with imputation a variable is kept when selected in at least half of the imputed
   data sets (Wood, White & Royston, Stat Med 2008);
5. the continuous reference model on the selected variables, pooled by Rubin's rules;
6. cut-points for each selected variable (clinically rounded quantiles by default), a
   logistic model on the bands, Sullivan points, a logistic map from total points to
   probability, and risk groups with observed rates.

:meth:`PointScoreModel.to_scorecard` writes the result as a :class:`ScoreCard`; scoring with
the card gives exactly what :meth:`PointScoreModel.predict_proba` gives.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from crsscore import __version__
from crsscore.errors import LowEventsWarning, ModelError, SeparationWarning
from crsscore.modeling.candidates import STUDY_CANDIDATES, Candidate, candidates, design_matrix
from crsscore.modeling.imputation import (
    FittedImputer,
    fit_prediction_imputer,
    impute_chained,
    rubin_pool,
)
from crsscore.modeling.logistic import LogisticFit, fit_logistic
from crsscore.modeling.points import (
    RiskGroupSummary,
    categorise,
    choose_cutpoints,
    probability_table,
    risk_groups,
    sullivan_points,
)
from crsscore.modeling.selection import backward_select, lasso_cv
from crsscore.scores.scorecard import (
    Band,
    Performance,
    ProbabilityMap,
    Provenance,
    RiskGroup,
    ScoreCard,
    Variable,
)

FloatArray = npt.NDArray[np.float64]
Method = Literal["auto", "ml", "firth"]
Select = Literal["backward", "lasso", "none"]


@dataclass(frozen=True)
class DerivationSettings:
    """Every choice of the derivation, recorded in the score card."""

    candidates: tuple[str, ...] = STUDY_CANDIDATES
    method: Method = "auto"
    select: Select = "backward"
    rule: Literal["aic", "p"] = "aic"
    alpha: float = 0.05
    force: tuple[str, ...] = ()
    cutpoints: Literal["clinical", "quantile", "youden"] = "clinical"
    n_bands: int = 3
    given_cutpoints: Mapping[str, Sequence[float]] = field(default_factory=dict)
    max_points: int | None = None
    missing: Literal["mice", "complete"] = "mice"
    n_imputations: int = 5
    risk_group_boundaries: tuple[float, ...] | None = None
    epv_firth_threshold: float = 10.0
    seed: int = 0


@dataclass(frozen=True)
class PooledFit:
    """A logistic model pooled over imputations (or a single fit when m = 1)."""

    names: tuple[str, ...]
    coef: FloatArray
    se: FloatArray
    cov: FloatArray
    m: int
    method: str
    fmi: FloatArray

    def summary(self) -> pd.DataFrame:
        from scipy import stats

        z = self.coef / self.se
        p = 2 * stats.norm.sf(np.abs(z))
        lo, hi = self.coef - 1.959964 * self.se, self.coef + 1.959964 * self.se
        return pd.DataFrame({
            "term": list(self.names), "coef": self.coef, "se": self.se, "z": z, "p": p,
            "OR": np.exp(self.coef), "OR 2.5%": np.exp(lo), "OR 97.5%": np.exp(hi),
            "fmi": self.fmi,
        })


def _expit(x: FloatArray) -> FloatArray:
    out: FloatArray = 0.5 * (1.0 + np.tanh(0.5 * x))
    return out


def _fit(X: FloatArray, y: npt.NDArray[np.int_], names: Sequence[str], firth: bool) -> LogisticFit:
    return fit_logistic(X, y, names=list(names), firth=firth)


def _fit_safe(X: FloatArray, y: npt.NDArray[np.int_], names: Sequence[str], firth: bool,
              notes: list[str], what: str) -> LogisticFit:
    """Fit by ``firth`` or ML; an ML fit that separates is refitted by Firth, with a note."""
    if firth:
        return _fit(X, y, names, True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SeparationWarning)
        try:
            return _fit(X, y, names, False)
        except SeparationWarning:
            pass
    msg = f"{what}: separation under maximum likelihood, refitted by Firth's method"
    if msg not in notes:
        notes.append(msg)
    return _fit(X, y, names, True)


def _pool(fits: Sequence[LogisticFit], method: str) -> PooledFit:
    pooled = rubin_pool([f.coef for f in fits], [f.cov for f in fits])
    return PooledFit(names=tuple(fits[0].names), coef=pooled.coef, se=pooled.se, cov=pooled.cov,
                     m=pooled.m, method=method, fmi=pooled.fmi)


def _auc(y: npt.ArrayLike, score: npt.ArrayLike) -> float:
    from sklearn.metrics import roc_auc_score

    yy = np.asarray(y)
    s = np.asarray(score, dtype=np.float64)
    ok = ~np.isnan(s)
    if len(np.unique(yy[ok])) < 2:
        return math.nan
    return float(roc_auc_score(yy[ok], s[ok]))


class PointScoreModel:
    """The whole derivation pipeline as an estimator (``fit(frame, y) -> self``).

    ``frame`` holds one row per patient and a column per candidate in canonical units (a
    landmark table); ``y`` the 0/1 outcome.  Attributes after fitting end in ``_``.
    """

    def __init__(self, settings: DerivationSettings | None = None) -> None:
        self.settings = settings or DerivationSettings()

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"settings": self.settings}

    def set_params(self, **params: Any) -> PointScoreModel:
        if "settings" in params:
            self.settings = params.pop("settings")
        if params:
            self.settings = replace(self.settings, **params)
        return self

    # ------------------------------------------------------------------------------------
    def fit(self, frame: pd.DataFrame, y: npt.ArrayLike, *, seed: int | None = None) -> PointScoreModel:
        s = self.settings
        seed = s.seed if seed is None else seed
        yv = np.asarray(y, dtype=np.float64)
        if yv.ndim != 1 or len(yv) != len(frame):
            raise ModelError(f"outcome has {len(yv)} values for {len(frame)} patients")
        if np.isnan(yv).any():
            raise ModelError(f"outcome missing for {int(np.isnan(yv).sum())} patient(s); "
                             "exclude them explicitly before deriving")
        if not np.isin(yv, (0.0, 1.0)).all():
            raise ModelError("outcome must be 0/1")
        yi = yv.astype(np.int_)
        events = int(yi.sum())
        if events == 0 or events == len(yi):
            raise ModelError(f"outcome has {events} events among {len(yi)} patients: "
                             "a model needs both events and non-events")
        self.notes_: list[str] = []
        cands = candidates(list(s.candidates))
        X = design_matrix(frame, cands)
        names = [c.name for c in cands]
        self._check_columns(X, names)
        self.candidates_ = cands
        self.n_input_ = len(yi)

        # --- missing data -------------------------------------------------------------
        miss_any: npt.NDArray[np.bool_] = np.asarray(np.isnan(X).any(axis=1), dtype=bool)
        # completes new patients' data at prediction time (no outcome in its model); fitted on
        # every training row, also under complete-case analysis
        self.imputer_: FittedImputer = fit_prediction_imputer(X, seed=seed)
        if s.missing == "complete":
            keep = ~miss_any
            X, yi = X[keep], yi[keep]
            self.notes_.append(f"complete-case analysis: {int(keep.sum())} of {len(keep)} patients "
                               f"used, {int((~keep).sum())} excluded for missing predictors")
            if yi.sum() == 0 or yi.sum() == len(yi):
                raise ModelError("no events (or no non-events) left among complete cases")
            imputed = [X]
        else:
            imputed = impute_chained(X, y=yi, m=s.n_imputations, seed=seed)
            if len(imputed) > 1:
                self.notes_.append(f"multiple imputation (chained equations, m={len(imputed)}): "
                                   f"{int(miss_any.sum())} of {len(miss_any)} patients had at least "
                                   "one missing predictor; estimates pooled by Rubin's rules")
        self.n_used_ = len(yi)
        self.events_ = int(yi.sum())
        self.m_ = len(imputed)

        # --- method ---------------------------------------------------------------------
        epv = self.events_ / max(1, len(names))
        firth = s.method == "firth"
        reason = "forced by the user" if s.method != "auto" else ""
        if s.method == "auto":
            if epv < s.epv_firth_threshold:
                firth, reason = True, (f"{self.events_} events for {len(names)} candidate "
                                       f"parameters ({epv:.1f} per parameter < "
                                       f"{s.epv_firth_threshold:g}): Firth's penalised likelihood")
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("error", SeparationWarning)
                    try:
                        _fit(imputed[0], yi, names, False)
                        reason = f"{epv:.1f} events per parameter: maximum likelihood"
                    except SeparationWarning:
                        firth, reason = True, "separation under maximum likelihood: Firth"
        if epv < 10:
            warnings.warn(f"only {epv:.1f} events per candidate parameter ({self.events_} events, "
                          f"{len(names)} candidates): estimates are unstable and the apparent "
                          "performance optimistic; validate by bootstrap", LowEventsWarning,
                          stacklevel=2)
        self.method_ = "firth" if firth else "ml"
        self.method_reason_ = reason
        self.notes_.append(f"method: {reason}")

        # --- selection ----------------------------------------------------------------
        selected = self._select(imputed, yi, names, firth, seed)
        if not selected:
            raise ModelError("variable selection removed every candidate; no score can be built "
                             "(try --select none or fewer candidates)")
        self.selected_ = selected
        idx = [names.index(n) for n in selected]

        # --- continuous reference model -----------------------------------------------
        fits = [_fit_safe(Xi[:, idx], yi, selected, firth, self.notes_, "continuous model")
                for Xi in imputed]
        self.continuous_ = _pool(fits, self.method_)

        # --- bands and points ---------------------------------------------------------
        raw_imputed = [self._raw(Xi, cands) for Xi in imputed]
        raw_observed = self._raw(X, cands)
        self.cuts_: dict[str, list[float]] = {}
        for j, name in zip(idx, selected, strict=True):
            obs = raw_observed[:, j]
            given = s.given_cutpoints.get(name)
            self.cuts_[name] = choose_cutpoints(obs[~np.isnan(obs)], yi[~np.isnan(obs)],
                                                method=s.cutpoints, n_bands=s.n_bands,
                                                given=list(given) if given is not None else None)
        band_fits = []
        for R in raw_imputed:
            D, dnames = self._dummies(R, idx, selected)
            band_fits.append(_fit_safe(D, yi, dnames, firth, self.notes_, "banded model"))
        pooled_bands = _pool(band_fits, self.method_)
        self.band_model_ = pooled_bands
        band_coefs: dict[str, list[float]] = {}
        k = 1
        for name in selected:
            nb = len(self.cuts_[name]) + 1
            band_coefs[name] = [0.0, *[float(v) for v in pooled_bands.coef[k:k + nb - 1]]]
            k += nb - 1
        self.band_coefs_ = band_coefs
        self.points_, self.constant_ = sullivan_points(band_coefs, max_points=s.max_points)

        totals = [self._total_raw(R, idx, selected) for R in raw_imputed]
        tfits = [_fit_safe(t[:, None], yi, ["total"], False, self.notes_, "points-to-risk map")
                 for t in totals]
        self.prob_intercept_ = float(np.mean([f.coef[0] for f in tfits]))
        self.prob_slope_ = float(np.mean([f.coef[1] for f in tfits]))

        complete = ~np.isnan(raw_observed[:, idx]).any(axis=1)
        t_obs = self._total_raw(raw_observed[complete], idx, selected)
        self.risk_groups_: list[RiskGroupSummary] = risk_groups(
            t_obs, yi[complete],
            boundaries=list(s.risk_group_boundaries) if s.risk_group_boundaries else None)
        self.risk_group_n_ = int(complete.sum())
        self.probability_table_ = probability_table(
            np.concatenate(totals), self.prob_intercept_, self.prob_slope_)
        self.training_ranges_ = {
            name: (float(np.nanmin(raw_observed[:, j])), float(np.nanmax(raw_observed[:, j])))
            for j, name in zip(idx, selected, strict=True)}

        # apparent performance of the reported model on the patients it was fitted on, with
        # missing inputs completed by the prediction imputer: the same predictions that the
        # bootstrap's index.orig and the report evaluate
        self.seed_ = seed
        used = frame if s.missing != "complete" else frame[~miss_any]
        self.auc_points_apparent_ = _auc(yi, self.total(used.reset_index(drop=True), impute=True))
        lp_cont = [fit.predict_lp(Xi[:, idx]) for fit, Xi in zip(fits, imputed, strict=True)]
        self.auc_continuous_apparent_ = float(np.mean([_auc(yi, lp) for lp in lp_cont]))
        self.seed_ = seed
        return self

    # ------------------------------------------------------------------------------------
    def _check_columns(self, X: FloatArray, names: list[str]) -> None:
        empty = [n for j, n in enumerate(names) if np.isnan(X[:, j]).all()]
        if empty:
            raise ModelError(f"candidate(s) with no observed value at this landmark: {', '.join(empty)}; "
                             "drop them from --candidates")
        const = [n for j, n in enumerate(names)
                 if np.unique(X[~np.isnan(X[:, j]), j]).size < 2]
        if const:
            raise ModelError(f"candidate(s) constant in these data, carrying no information: "
                             f"{', '.join(const)}")

    def _select(self, imputed: list[FloatArray], y: npt.NDArray[np.int_], names: list[str],
                firth: bool, seed: int) -> list[str]:
        s = self.settings
        if s.select == "none":
            return list(names)
        votes = dict.fromkeys(names, 0)
        for i, Xi in enumerate(imputed):
            if s.select == "backward":
                res = backward_select(Xi, y, names, rule=s.rule, alpha=s.alpha, firth=firth,
                                      force=tuple(s.force))
                kept = list(res.kept)
            else:
                res2 = lasso_cv(Xi, y, names, seed=seed + i)
                kept = list(res2.kept)
            for n in kept:
                votes[n] += 1
        need = math.ceil(len(imputed) / 2)
        chosen = [n for n in names if votes[n] >= need or n in s.force]
        self.selection_votes_ = votes
        self.notes_.append(
            f"selection: {s.select}{' by ' + s.rule.upper() if s.select == 'backward' else ''}; kept "
            + (", ".join(chosen) or "none")
            + (f" (selected in >= {need} of {len(imputed)} imputations)" if len(imputed) > 1 else ""))
        return chosen

    @staticmethod
    def _raw(X: FloatArray, cands: Sequence[Candidate]) -> FloatArray:
        R = X.copy()
        for j, c in enumerate(cands):
            if c.transform == "log10":
                R[:, j] = 10.0 ** X[:, j]
        return R

    def _dummies(self, R: FloatArray, idx: list[int], selected: list[str]) -> tuple[FloatArray, list[str]]:
        cols, dnames = [], []
        for j, name in zip(idx, selected, strict=True):
            band = categorise(R[:, j], self.cuts_[name])
            for b in range(1, len(self.cuts_[name]) + 1):
                cols.append((band == b).astype(np.float64))
                dnames.append(f"{name}[band {b}]")
        return np.column_stack(cols), dnames

    def _total_raw(self, R: FloatArray, idx: list[int], selected: list[str]) -> FloatArray:
        total = np.zeros(R.shape[0])
        for j, name in zip(idx, selected, strict=True):
            band = categorise(R[:, j], self.cuts_[name])
            pts = np.asarray(self.points_[name], dtype=np.float64)
            b = np.where(np.isnan(band), 0, band).astype(np.int_)
            total = total + np.where(np.isnan(band), np.nan, pts[b])
        return total

    # ------------------------------------------------------------------------------------
    def _design(self, frame: pd.DataFrame, impute: bool) -> tuple[FloatArray, list[int]]:
        """Transformed candidate columns (completed if ``impute``) and the selected columns."""
        X = design_matrix(frame, self.candidates_)
        if impute:
            X = self.imputer_.transform(X)
        names = [c.name for c in self.candidates_]
        return X, [names.index(n) for n in self.selected_]

    def _raw_selected(self, frame: pd.DataFrame, impute: bool) -> tuple[FloatArray, list[int]]:
        X, idx = self._design(frame, impute)
        return self._raw(X, self.candidates_), idx

    def total(self, frame: pd.DataFrame, *, impute: bool = False) -> FloatArray:
        """Total points per patient; NaN where an input is missing (unless ``impute``)."""
        R, idx = self._raw_selected(frame, impute)
        return self._total_raw(R, idx, self.selected_)

    def predict_proba(self, frame: pd.DataFrame, *, impute: bool = False) -> FloatArray:
        """Probability of the outcome from the point score (``expit(a + b * total)``)."""
        return _expit(self.prob_intercept_ + self.prob_slope_ * self.total(frame, impute=impute))

    def decision_function(self, frame: pd.DataFrame, *, impute: bool = False) -> FloatArray:
        return self.prob_intercept_ + self.prob_slope_ * self.total(frame, impute=impute)

    def predict_lp_continuous(self, frame: pd.DataFrame, *, impute: bool = False) -> FloatArray:
        X, idx = self._design(frame, impute)
        lp: FloatArray = self.continuous_.coef[0] + X[:, idx] @ self.continuous_.coef[1:]
        return lp

    # ------------------------------------------------------------------------------------
    def score_sheet(self) -> pd.DataFrame:
        """One row per band: variable, range (canonical unit), points."""
        rows = []
        by_name = {c.name: c for c in self.candidates_}
        for name in self.selected_:
            c = by_name[name]
            cuts = self.cuts_[name]
            edges = [-math.inf, *cuts, math.inf]
            for b in range(len(edges) - 1):
                lo, hi = edges[b], edges[b + 1]
                if not math.isfinite(lo):
                    rng = f"< {hi:g}"
                elif not math.isfinite(hi):
                    rng = f">= {lo:g}"
                else:
                    rng = f"{lo:g} to < {hi:g}"
                rows.append({"variable": c.label, "name": name, "unit": c.unit or "",
                             "range": rng, "points": int(self.points_[name][b]),
                             "log_odds_vs_reference": self.band_coefs_[name][b]
                             - min(self.band_coefs_[name])})
        return pd.DataFrame(rows)

    def risk_table(self) -> pd.DataFrame:
        return pd.DataFrame([{"total": t, "probability": p} for t, p in self.probability_table_])

    def to_scorecard(self, *, id: str = "derived-score", name: str = "Derived severe-CRS score",
                     landmark: str | None = None, data_hash: str | None = None,
                     synthetic: bool = False, description: str = "",
                     performance: Performance | None = None, window: float = 1.0) -> ScoreCard:
        """The fitted score as a :class:`ScoreCard`.

        Observation variables are read at the landmark, nearest value within ``+-window``
        days (ties to the earlier), as the landmark table did.
        """
        s = self.settings
        by_name = {c.name: c for c in self.candidates_}
        variables = []
        for vname in self.selected_:
            c = by_name[vname]
            edges: list[float | None] = [None, *self.cuts_[vname], None]
            bands = [Band(lower=edges[b], upper=edges[b + 1], points=float(self.points_[vname][b]))
                     for b in range(len(edges) - 1)]
            variables.append(Variable(
                name=vname, label=c.label, kind="bands", source=c.source, unit=c.unit,
                unit_kind=c.unit_kind, loinc=c.loinc, bands=bands,
                training_range=self.training_ranges_[vname],
                day_window=(-window, window) if c.source == "observation" else None,
                aggregate="nearest", description=f"cut-points: {s.cutpoints}"))
        groups = [RiskGroup(name=g.name, min_total=g.min_total, max_total=g.max_total,
                            observed_rate=None if math.isnan(g.rate) else g.rate,
                            ci_low=None if math.isnan(g.ci_low) else g.ci_low,
                            ci_high=None if math.isnan(g.ci_high) else g.ci_high,
                            n=g.n, events=g.events) for g in self.risk_groups_]
        perf = performance or Performance(n=self.n_used_, events=self.events_,
                                          auc_apparent=self.auc_points_apparent_)
        notes = [*self.notes_, f"points constant B = {self.constant_:.4f} log-odds per point"]
        if synthetic:
            notes.insert(0, "DERIVED ON SYNTHETIC (SIMULATED) DATA: not for clinical use")
        return ScoreCard(
            id=id, name=name, description=description, kind="points", landmark=landmark,
            population="B-ALL, anti-CD19 CAR-T (derivation cohort)",
            variables=variables,
            probability=ProbabilityMap(kind="logistic", intercept=self.prob_intercept_,
                                       slope=self.prob_slope_),
            risk_groups=groups,
            uses_cytokines_after_tocilizumab_warning=any(n in ("crp", "il6") for n in self.selected_),
            provenance=Provenance(
                software_version=__version__, data_hash=data_hash, seed=self.seed_,
                synthetic_data=synthetic, verification="derived_locally",
                method=(f"{'Firth' if self.method_ == 'firth' else 'ML'} logistic regression; "
                        f"selection {s.select}"
                        + (f" ({s.rule})" if s.select == "backward" else "")
                        + f"; cut-points {s.cutpoints}; Sullivan points; missing data {s.missing}"
                        + (f" (m={self.m_})" if s.missing == "mice" else "")),
                notes=notes),
            performance=perf,
        )
