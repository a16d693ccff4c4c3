"""The study's method, done as a biostatistician would sign it: from candidates to points.

:class:`PointScoreModel` is a scikit-learn style estimator holding the whole derivation
pipeline, so that the bootstrap refits every step of it, exactly as reported:

1. transform candidates (log10 with a floor for right-skewed labs and MRD) and, if asked,
   expand them into restricted cubic splines (knots by Harrell's rule, d.f. limited by the
   number of events);
2. multiple imputation by chained equations (``m`` data sets, outcome in the imputation
   model), or complete cases when asked;
3. the fitting method: Firth's penalised likelihood when events per candidate parameter are
   fewer than 10 or maximum likelihood shows separation (``method="auto"``);
4. variable selection on the continuous scale: backward elimination by likelihood-ratio
   tests (penalised LR with the full model's penalty for Firth fits, so the result does not
   depend on units) or, over several imputed data sets, by Rubin's-rules pooled Wald tests
   (Wood, White & Royston 2008); LASSO on the stacked imputations; or none;
5. the continuous reference model on the selected variables, pooled by Rubin's rules;
6. Sullivan points from that continuous model (:func:`~crsscore.modeling.points.points_from_effects`):
   a small integer scale (about ``0..max_points``), monotone wherever the fitted effect is;
7. a logistic map from total points to probability, shrunk by the heuristic shrinkage
   factor of the continuous model (van Houwelingen & le Cessie 1990) with the intercept
   re-estimated, and risk groups with observed rates.

The AUC lost from the continuous model to the points is computed on the same patients and
reported.  :meth:`PointScoreModel.to_scorecard` writes the result as a :class:`ScoreCard`;
scoring with the card gives exactly what :meth:`PointScoreModel.predict_proba` gives.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import warnings
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd

from crsscore import __version__
from crsscore._numeric import expit, rank_auc, row_dot
from crsscore._types import FloatArray, IntArray
from crsscore.errors import (
    ConvergenceWarning,
    CrsscoreError,
    LowEventsWarning,
    ModelError,
    SeparationWarning,
)
from crsscore.modeling._batched import ml_fit_stacked
from crsscore.modeling._newton import intercepts_given_offsets
from crsscore.modeling.candidates import STUDY_CANDIDATES, Candidate, candidates, design_matrix
from crsscore.modeling.imputation import (
    FittedImputer,
    _norm_draw_batch,
    fit_prediction_imputer_steps,
    impute_chained_steps,
    rubin_pool,
)
from crsscore.modeling.logistic import LogisticFit, fit_logistic
from crsscore.modeling.points import (
    PointsScale,
    RiskGroupSummary,
    categorise,
    points_from_effects,
    probability_table,
    risk_groups,
)
from crsscore.modeling.selection import (
    backward_select_pooled,
    backward_select_pooled_steps,
    lasso_cv,
)
from crsscore.modeling.summary import ResultSummary
from crsscore.scores.build import card_risk_groups, derived_notes, uses_cytokines, variable_fields
from crsscore.scores.scorecard import (
    Band,
    Performance,
    ProbabilityMap,
    Provenance,
    SampleSizeVerdict,
    ScoreCard,
    Variable,
)
from crsscore.splines import rcs_basis, rcs_knots

_T = TypeVar("_T")
Method = Literal["auto", "ml", "firth"]
Select = Literal["backward", "lasso", "none"]


#: The heuristic shrinkage factor is never taken below this: at (LR - df) / LR <= 0 the model
#: shows no prognostic value and its risks are flattened almost to the overall rate, while
#: the points still rank patients (so discrimination can still be validated).
MIN_SHRINKAGE = 0.05


class DerivationSettingsError(CrsscoreError, ValueError):
    """A derivation setting outside its allowed values."""


@dataclass(frozen=True)
class DerivationSettings:
    """Every choice of the derivation, recorded in the score card.

    Attributes
    ----------
    candidates : canonical names of the candidate predictors.
    method : ``"auto"`` (Firth below ``epv_firth_threshold`` events per candidate parameter
        or under separation, else maximum likelihood), ``"ml"`` or ``"firth"``.
    select : ``"backward"`` (likelihood-ratio / pooled Wald tests), ``"lasso"`` or ``"none"``.
    rule, alpha : backward elimination by AIC, or by p-value above ``alpha``.
    force : candidates never removed.
    splines : ``"none"`` (linear in the transformed value) or ``"rcs"`` (restricted cubic
        splines with ``knots`` knots, Harrell's placement).
    cutpoints : how the bands of the bedside card are placed: ``"points"`` (where the rounded
        points change, rounded to two significant figures), ``"clinical"`` (clinically rounded
        quantiles, ``n_bands`` bands) or ``"quantile"``; ``given_cutpoints`` overrides per
        variable.  Bands are the output format only: points come from the continuous model.
    max_points : bound of the total score (the scale is about ``0..max_points``).
    missing, n_imputations : multiple imputation (``"mice"``, ``m`` data sets) or complete cases.
    shrinkage : ``"heuristic"`` (the probability map is shrunk by ``(LR - df) / LR``) or
        ``"none"``.
    risk_group_boundaries : lowest totals of the 2nd, 3rd ... risk group (default: tertiles).
    epv_firth_threshold : events per candidate parameter below which ``auto`` uses Firth.
    seed : the seed of every random step (imputation, LASSO folds).
    """

    candidates: tuple[str, ...] = STUDY_CANDIDATES
    method: Method = "auto"
    select: Select = "backward"
    rule: Literal["aic", "p"] = "aic"
    alpha: float = 0.05
    force: tuple[str, ...] = ()
    splines: Literal["none", "rcs"] = "none"
    knots: int = 3
    cutpoints: Literal["points", "clinical", "quantile"] = "points"
    n_bands: int = 3
    given_cutpoints: Mapping[str, Sequence[float]] = field(default_factory=dict)
    max_points: int = 20
    missing: Literal["mice", "complete"] = "mice"
    n_imputations: int = 5
    shrinkage: Literal["heuristic", "none"] = "heuristic"
    risk_group_boundaries: tuple[float, ...] | None = None
    epv_firth_threshold: float = 10.0
    seed: int = 0

    def __post_init__(self) -> None:
        checks: list[tuple[str, bool, str]] = [
            ("candidates", len(self.candidates) > 0
             and all(isinstance(c, str) for c in self.candidates), "a non-empty tuple of names"),
            ("method", self.method in ("auto", "ml", "firth"), "one of 'auto', 'ml', 'firth'"),
            ("select", self.select in ("backward", "lasso", "none"),
             "one of 'backward', 'lasso', 'none'"),
            ("rule", self.rule in ("aic", "p"), "one of 'aic', 'p'"),
            ("alpha", isinstance(self.alpha, int | float) and 0.0 < self.alpha < 1.0,
             "a number in (0, 1)"),
            ("force", all(f in self.candidates for f in self.force), "a subset of the candidates"),
            ("splines", self.splines in ("none", "rcs"), "one of 'none', 'rcs'"),
            ("knots", isinstance(self.knots, int) and 3 <= self.knots <= 7, "an int in [3, 7]"),
            ("cutpoints", self.cutpoints in ("points", "clinical", "quantile"),
             "one of 'points', 'clinical', 'quantile'"),
            ("n_bands", isinstance(self.n_bands, int) and 2 <= self.n_bands <= 20,
             "an int in [2, 20]"),
            ("given_cutpoints", all(k in self.candidates for k in self.given_cutpoints),
             "a mapping from candidate names to cut-points"),
            ("max_points", isinstance(self.max_points, int) and 1 <= self.max_points <= 1000,
             "an int in [1, 1000]"),
            ("missing", self.missing in ("mice", "complete"), "one of 'mice', 'complete'"),
            ("n_imputations", isinstance(self.n_imputations, int) and 1 <= self.n_imputations <= 100,
             "an int in [1, 100]"),
            ("shrinkage", self.shrinkage in ("heuristic", "none"), "one of 'heuristic', 'none'"),
            ("epv_firth_threshold", isinstance(self.epv_firth_threshold, int | float)
             and self.epv_firth_threshold >= 0, "a number >= 0"),
            ("seed", isinstance(self.seed, int) and not isinstance(self.seed, bool) and self.seed >= 0,
             "an int >= 0"),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise DerivationSettingsError(
                    f"The {name!r} parameter of DerivationSettings must be {expected}. "
                    f"Got {getattr(self, name)!r} instead.")

    def with_(self, **changes: Any) -> DerivationSettings:
        """A copy with some settings changed (validated; unknown names refused)."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise DerivationSettingsError(
                f"Unknown derivation setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return replace(self, **changes)



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


def _fit_safe(X: FloatArray, y: IntArray, names: Sequence[str], firth: bool,
              notes: list[str], what: str) -> LogisticFit:
    """Fit by ``firth`` or ML; an ML fit that separates is refitted by Firth, with a note."""
    if firth:
        return fit_logistic(X, y, names=list(names), firth=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SeparationWarning)
        try:
            return fit_logistic(X, y, names=list(names), firth=False)
        except SeparationWarning:
            pass
    msg = f"{what}: separation under maximum likelihood, refitted by Firth's method"
    if msg not in notes:
        notes.append(msg)
    return fit_logistic(X, y, names=list(names), firth=True)


#: Whether the m imputations are processed stacked (MICE chains in lock-step, the Firth fits
#: of every selection step and of the continuous model at once); False runs the reference
#: path, one imputation at a time.  Both give the same results to rounding
#: (tests/modeling/test_stacked.py); see :func:`reference_path`.
_STACKED: contextvars.ContextVar[bool] = contextvars.ContextVar("crsscore_stacked", default=True)


#: Set by the pipeline bootstrap (:func:`resampling_fit`): ``fit`` stops once the predictor
#: is complete, skipping what only describes a reported model (the same predictions).
_LEAN: contextvars.ContextVar[bool] = contextvars.ContextVar("crsscore_lean", default=False)


@contextlib.contextmanager
def resampling_fit() -> Iterator[None]:
    """Within this block ``PointScoreModel.fit`` builds the predictor only (for resamples)."""
    token = _LEAN.set(True)
    try:
        yield
    finally:
        _LEAN.reset(token)


def stacked_enabled() -> bool:
    """False inside :func:`reference_path`."""
    return _STACKED.get()


@contextlib.contextmanager
def reference_path() -> Iterator[None]:
    """Within this block, derivations run the per-imputation reference path (for tests)."""
    token = _STACKED.set(False)
    try:
        yield
    finally:
        _STACKED.reset(token)


def _fit_all(designs: Sequence[FloatArray], y: IntArray, names: Sequence[str], firth: bool,
             notes: list[str], what: str,
             checked: bool = False) -> Generator[Request, Any, list[LogisticFit]]:
    """:func:`_fit_safe` on every imputed design (a generator, see :meth:`PointScoreModel.fit`);
    Firth fits of the m designs are requested stacked
    (:func:`~crsscore.modeling._batched.firth_fit_stacked`, equal to the single fits to rounding)."""
    if not firth or len(designs) < 2 or not _STACKED.get():
        return [_fit_safe(D, y, names, firth, notes, what) for D in designs]
    from crsscore.modeling._batched import check_stacked
    from crsscore.modeling.logistic import _null_loglik

    ya = np.asarray(y, dtype=np.float64)
    w = np.ones_like(ya)
    pnames = ["Intercept", *[str(c) for c in names]]
    X = np.stack(designs)
    if checked:  # column subsets of designs the selection validated (fit_logistic's checks)
        stack = np.empty((X.shape[0], X.shape[1], X.shape[2] + 1))
        stack[:, :, 0] = 1.0
        stack[:, :, 1:] = X
    else:  # checked as fit_logistic checks each (the same errors)
        stack = check_stacked(X, ya, [str(c) for c in names])
    st = yield "firth", (stack, ya)
    if not st.converged.all():
        warnings.warn("Firth logistic regression did not converge in 50 iterations",
                      ConvergenceWarning, stacklevel=2)
    ll0 = _null_loglik(ya, w, True)
    return [LogisticFit(coef=st.coef[k], se=np.sqrt(np.diag(st.cov[k])), cov=st.cov[k],
                        loglik=float(st.loglik[k]), loglik_penalised=float(st.loglik_penalised[k]),
                        loglik_null=ll0, n=float(w.sum()), events=float(np.sum(w * ya)),
                        converged=bool(st.converged[k]), n_iter=int(st.n_iter[k]),
                        method="firth", names=tuple(pnames), intercept=True, separation=False)
            for k in range(len(designs))]


def _pool(fits: Sequence[LogisticFit], method: str) -> PooledFit:
    pooled = rubin_pool([f.coef for f in fits], [f.cov for f in fits])
    return PooledFit(names=tuple(fits[0].names), coef=pooled.coef, se=pooled.se, cov=pooled.cov,
                     m=pooled.m, method=method, fmi=pooled.fmi)


def _auc(y: npt.ArrayLike, score: npt.ArrayLike) -> float:
    """AUC (ties count one half) of the patients with a score; NaN without both classes.

    The project's AUC (:func:`crsscore._numeric.rank_auc`): sklearn
    ``roc_auc_score``'s value without its input validation (a large share of a bootstrap
    resample's time)."""
    s = np.asarray(score, dtype=np.float64)
    ok = ~np.isnan(s)
    return rank_auc(np.asarray(y, dtype=np.float64)[ok], s[ok])


@dataclass(frozen=True)
class _Term:
    """How one candidate enters the model: its columns in the design and its knots."""

    name: str
    columns: tuple[str, ...]
    knots: tuple[float, ...] | None  # None: linear


# ----------------------------------------------------------------------------------------------
# results that render themselves (statsmodels / lifelines style): the CLI, the report and the
# service only show these, never reach into a model's attributes
# ----------------------------------------------------------------------------------------------
#: A derived score's printable summary (:class:`~crsscore.modeling.summary.ResultSummary`).
DerivationSummary = ResultSummary


class ScoreResults:
    """What a fitted point score shows of itself: :meth:`summary`, :meth:`to_frame`,
    :meth:`plot` and ``_repr_html_``.  Mixed into :class:`PointScoreModel` and
    :class:`~crsscore.modeling.learned.LearnedPointScoreModel`, which provide the fitted
    attributes used here (``method_``, ``risk_groups_``, :meth:`score_sheet`, ...)."""

    method_: str
    method_reason_: str
    selected_: list[str]
    scored_: list[str]
    n_used_: int
    events_: int
    m_: int
    auc_points_apparent_: float
    auc_continuous_apparent_: float
    auc_loss_: float
    prob_intercept_: float
    prob_slope_: float
    risk_groups_: list[RiskGroupSummary]
    risk_group_n_: int
    notes_: list[str]

    def score_sheet(self) -> pd.DataFrame:
        raise NotImplementedError

    def risk_table(self) -> pd.DataFrame:
        raise NotImplementedError

    def coefficients(self) -> pd.DataFrame | None:
        """The continuous reference model's coefficient table (None: the score has none)."""
        return None

    def headline(self) -> dict[str, Any]:
        """The derivation's headline quantities, by name (JSON-ready values)."""
        rt = self.risk_table()
        return {"method": self.method_, "method_reason": self.method_reason_,
                "selected": list(self.selected_), "scored": list(self.scored_),
                "n": int(self.n_used_), "events": int(self.events_), "imputations": int(self.m_),
                "risk_group_n": int(self.risk_group_n_),
                "auc_points_apparent": float(self.auc_points_apparent_),
                "auc_continuous_apparent": float(self.auc_continuous_apparent_),
                "auc_loss_points": float(self.auc_loss_), "shrinkage": None,
                "max_total": int(rt["total"].max()) if len(rt) else None,
                "prob_intercept": float(self.prob_intercept_),
                "prob_slope": float(self.prob_slope_)}

    def risk_group_frame(self) -> pd.DataFrame:
        """One row per risk group: name, points range, n, events, observed rate, Wilson CI."""
        cols = ["name", "min_total", "max_total", "n", "events", "rate", "ci_low", "ci_high"]
        return pd.DataFrame([{c: getattr(g, c) for c in cols} for g in self.risk_groups_],
                            columns=cols)

    def to_frame(self) -> pd.DataFrame:
        """The score as a frame: one row per band (variable, unit, range, points)."""
        return self.score_sheet()

    def summary(self) -> DerivationSummary:
        """Headline quantities and the coefficient, score-sheet, risk-group and risk tables."""
        tables: dict[str, pd.DataFrame] = {}
        coef = self.coefficients()
        if coef is not None:
            tables["coefficients"] = coef
        tables["score sheet"] = self.score_sheet()
        tables["risk groups"] = self.risk_group_frame()
        tables["risk table"] = self.risk_table()
        return DerivationSummary(title=f"Point score ({self.method_reason_})",
                                 info=self.headline(), tables=tables, notes=tuple(self.notes_))

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_()

    def plot(self, ax: Any = None) -> Any:
        """Points-to-risk map on ``ax`` (a new Axes when None): the probability of each
        reachable total, and each risk group's observed rate with its Wilson 95% CI drawn
        over the group's totals.  Returns the Axes."""
        if ax is None:
            import matplotlib.pyplot as plt

            _, ax = plt.subplots(figsize=(5.0, 3.6))
        rt = self.risk_table()
        ax.plot(rt["total"], rt["probability"], color="0.0", lw=1.5, marker="o", ms=3,
                label="Model: risk at each total")
        for k, g in enumerate(self.risk_groups_):
            if not math.isfinite(g.rate):
                continue
            lo = (float(g.min_total) if g.min_total is not None and math.isfinite(g.min_total)
                  else float(rt["total"].min()))
            hi = (float(g.max_total) if g.max_total is not None and math.isfinite(g.max_total)
                  else float(rt["total"].max()))
            mid = (lo + hi) / 2
            err = [[max(0.0, g.rate - g.ci_low)], [max(0.0, g.ci_high - g.rate)]]
            ax.errorbar([mid], [g.rate], xerr=[[mid - lo], [hi - mid]], yerr=err,
                        fmt="s^Dvo"[k % 5], color="0.35", mfc="white", capsize=3, lw=1,
                        label=f"{g.name}: {g.events}/{g.n} observed")
        ax.set_xlabel("Total points")
        ax.set_ylabel("Probability of the outcome")
        ax.set_ylim(0, 1)
        ax.legend(frameon=False, fontsize=7)
        return ax


class PointScoreModel(ScoreResults):
    """The whole derivation pipeline as an estimator (``fit(frame, y) -> self``).

    ``frame`` holds one row per patient and a column per candidate in canonical units (a
    landmark table); ``y`` the 0/1 outcome.  Every setting, including the seed, is in
    :class:`DerivationSettings`.  Attributes after fitting end in ``_``.
    """

    def __init__(self, settings: DerivationSettings | None = None) -> None:
        self.settings = settings or DerivationSettings()

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"settings": self.settings}

    def set_params(self, **params: Any) -> PointScoreModel:
        if "settings" in params:
            self.settings = params.pop("settings")
        if params:
            self.settings = self.settings.with_(**params)
        return self

    # ------------------------------------------------------------------------------------
    def fit(self, frame: pd.DataFrame, y: npt.ArrayLike) -> PointScoreModel:
        return _drive(self.fit_steps(frame, y))

    def fit_steps(self, frame: pd.DataFrame | None, y: npt.ArrayLike,
                  arrays: tuple[FloatArray, FloatArray] | None = None
                  ) -> Generator[Request, Any, PointScoreModel]:
        """``fit`` as a generator of stacked Firth fit requests (``(designs, y)``, answered with
        a :class:`~crsscore.modeling._batched.StackedFit`), so the bootstrap can answer the
        requests of many resamples in one batch (:func:`fit_many`)."""
        s = self.settings
        yv = np.asarray(y, dtype=np.float64)
        if frame is None and arrays is None:
            raise ModelError("fit_steps needs the frame or its precomputed arrays")
        n_rows = len(frame) if frame is not None else len(arrays[0])  # type: ignore[index]
        if yv.ndim != 1 or len(yv) != n_rows:
            raise ModelError(f"outcome has {len(yv)} values for {n_rows} patients")
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
        # ``arrays``: this frame's design and raw matrices, precomputed (the bootstrap slices
        # them from the whole data's instead of converting every resample's frame)
        if arrays is None:
            assert frame is not None
            X = design_matrix(frame, cands)
        else:
            X = np.array(arrays[0], copy=True)
        names = [c.name for c in cands]
        self._check_columns(X, names)
        self.candidates_ = cands
        self.n_input_ = len(yi)
        self.seed_ = s.seed

        # --- missing data -------------------------------------------------------------
        miss_any: npt.NDArray[np.bool_] = np.asarray(np.isnan(X).any(axis=1), dtype=bool)
        # completes new patients' data at prediction time (no outcome in its model); fitted on
        # every training row, also under complete-case analysis
        self.imputer_: FittedImputer = yield from fit_prediction_imputer_steps(
            X, seed=s.seed, stacked=_STACKED.get())
        if s.missing == "complete":
            keep = ~miss_any
            X, yi = X[keep], yi[keep]
            self.notes_.append(f"complete-case analysis: {int(keep.sum())} of {len(keep)} patients "
                               f"used, {int((~keep).sum())} excluded for missing predictors")
            if yi.sum() == 0 or yi.sum() == len(yi):
                raise ModelError("no events (or no non-events) left among complete cases")
            imputed = [X]
        else:
            imputed = yield from impute_chained_steps(X, y=yi, m=s.n_imputations, seed=s.seed,
                                                      stacked=_STACKED.get())
            if len(imputed) > 1:
                self.notes_.append(f"multiple imputation (chained equations, m={len(imputed)}): "
                                   f"{int(miss_any.sum())} of {len(miss_any)} patients had at least "
                                   "one missing predictor; estimates pooled by Rubin's rules")
        self.n_used_ = len(yi)
        self.events_ = int(yi.sum())
        self.m_ = len(imputed)
        if arrays is None:
            assert frame is not None
            raw_frame = _raw_matrix(frame, cands)
        else:
            raw_frame = np.array(arrays[1], copy=True)
        if s.missing == "complete":
            raw_frame = raw_frame[~miss_any]
        self._observed_raw = raw_frame

        # --- terms (linear or spline) -----------------------------------------------------
        self.terms_ = self._terms(X, cands)
        designs = [self._expand(Xi) for Xi in imputed]
        columns = [c for t in self.terms_ for c in t.columns]
        groups = {t.name: list(t.columns) for t in self.terms_ if len(t.columns) > 1}
        n_params = len(columns)
        self.n_candidate_parameters_ = n_params

        # --- method ---------------------------------------------------------------------
        epv = self.events_ / max(1, n_params)
        firth = s.method == "firth"
        reason = "forced by the user" if s.method != "auto" else ""
        if s.method == "auto":
            if epv < s.epv_firth_threshold:
                firth, reason = True, (f"{self.events_} events for {n_params} candidate "
                                       f"parameters ({epv:.1f} per parameter < "
                                       f"{s.epv_firth_threshold:g}): Firth's penalised likelihood")
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("error", SeparationWarning)
                    try:
                        fit_logistic(designs[0], yi, names=columns, firth=False)
                        reason = f"{epv:.1f} events per parameter: maximum likelihood"
                    except SeparationWarning:
                        firth, reason = True, "separation under maximum likelihood: Firth"
        if epv < 10:
            warnings.warn(f"only {epv:.1f} events per candidate parameter ({self.events_} events, "
                          f"{n_params} parameters): estimates are unstable and the apparent "
                          "performance optimistic; validate by bootstrap", LowEventsWarning,
                          stacklevel=2)
        self.method_ = "firth" if firth else "ml"
        self.method_reason_ = reason
        self.notes_.append(f"method: {reason}")

        # --- selection ----------------------------------------------------------------
        selected = yield from self._select(designs, yi, columns, groups, firth)
        if not selected:
            raise ModelError("variable selection removed every candidate; no score can be built "
                             "(try --select none, or other candidates)")
        self.selected_ = selected
        sel_terms = [t for t in self.terms_ if t.name in selected]
        sel_cols = [c for t in sel_terms for c in t.columns]
        col_idx = [columns.index(c) for c in sel_cols]

        # --- continuous reference model -----------------------------------------------
        # backward elimination's first step validated the full designs (stacked Firth path)
        validated = (s.select == "backward" and len(designs) > 1 and firth and not s.force)
        fits = yield from _fit_all([D[:, col_idx] for D in designs], yi, sel_cols, firth,
                                   self.notes_, "continuous model", checked=validated)
        self.continuous_ = _pool(fits, self.method_)
        lr = float(np.mean([2.0 * (f.loglik - f.loglik_null) for f in fits]))
        self.lr_chi2_ = lr
        if s.shrinkage == "heuristic":
            shrink = (lr - n_params) / lr if lr > 0 else 0.0
            self.shrinkage_ = float(min(1.0, max(MIN_SHRINKAGE, shrink)))
            self.notes_.append(
                f"shrinkage: heuristic factor {self.shrinkage_:.3f} = (LR {lr:.1f} - {n_params} "
                "candidate d.f.) / LR, applied to the points-to-risk slope (intercept re-estimated)")
            if shrink < MIN_SHRINKAGE:
                self.notes_.append(
                    f"WARNING: the model's likelihood-ratio chi-square ({lr:.1f}) barely exceeds or "
                    f"does not exceed its {n_params} candidate degrees of freedom: no evidence of "
                    f"prognostic value; the slope is shrunk to {MIN_SHRINKAGE:g} of its fitted "
                    "value, so every patient gets nearly the overall risk")
        else:
            self.shrinkage_ = 1.0

        # --- points from the continuous model ------------------------------------------
        effects = {t.name: self._effect(t) for t in sel_terms}
        values = {t.name: self._observed_raw[:, names.index(t.name)] for t in sel_terms}
        self.scale_: PointsScale = points_from_effects(
            effects, values, max_points=s.max_points, bands=s.cutpoints, n_bands=s.n_bands,
            given={k: list(v) for k, v in s.given_cutpoints.items()})
        # a variable whose whole effect rounds to 0 points is not an input of the card
        self.scored_ = [n for n in selected if self.scale_.variables[n].max_points > 0]
        if not self.scored_:
            raise ModelError("no selected variable is worth a point at this scale; raise --max-points")
        self.points_ = {n: p for n, p in self.scale_.points.items() if n in self.scored_}
        self.cuts_ = {n: c for n, c in self.scale_.cuts.items() if n in self.scored_}
        self.constant_ = self.scale_.constant
        self.notes_.extend(self.scale_.notes)
        self.notes_.append(
            f"points: Sullivan's method from the continuous model, {self.constant_:.4f} log-odds "
            f"per point (OR {math.exp(self.constant_):.3f}); bands {s.cutpoints}; total 0 to "
            f"{self.scale_.max_total}")

        # --- points-to-risk map ---------------------------------------------------------
        # the m completed data sets at once: (m, n) totals
        totals = self._total_raw(self._complete_raw(raw_frame, np.stack(imputed)))
        if _STACKED.get() and len(totals) > 1:
            # the m maximum-likelihood fits at once; a fit that separates (or a singular step)
            # is redone by _fit_safe, which refits it by Firth with its note
            from crsscore.modeling._batched import check_stacked

            yf = yi.astype(np.float64)
            tD = check_stacked(totals[:, :, None], yf, ["total"])
            tcoef, exact = yield "ml", (tD, yf)
            coefs = [tcoef[k] if exact[k] else
                     _fit_safe(t[:, None], yi, ["total"], False, self.notes_,
                               "points-to-risk map").coef
                     for k, t in enumerate(totals)]
        else:
            coefs = [_fit_safe(t[:, None], yi, ["total"], False, self.notes_,
                               "points-to-risk map").coef for t in totals]
        self.prob_intercept_raw_ = float(np.mean([c[0] for c in coefs]))
        self.prob_slope_raw_ = float(np.mean([c[1] for c in coefs]))
        self.prob_slope_ = self.shrinkage_ * self.prob_slope_raw_
        if self.shrinkage_ < 1.0:
            self.prob_intercept_ = float(np.mean(
                intercepts_given_offsets(yi, self.prob_slope_ * totals)))
        else:
            self.prob_intercept_ = self.prob_intercept_raw_

        if _LEAN.get():
            # inside a resampling loop: the predictor is complete; risk groups, the risk
            # table, training ranges and apparent AUCs only describe the reported model
            return self
        if frame is None:
            raise ModelError("a fit outside resampling needs the frame (apparent performance)")
        complete = ~np.isnan(self._observed_raw[:, [names.index(n) for n in self.scored_]]).any(axis=1)
        t_obs = self._total_raw(self._observed_raw[complete])
        self.risk_groups_: list[RiskGroupSummary] = risk_groups(
            t_obs, yi[complete],
            boundaries=list(s.risk_group_boundaries) if s.risk_group_boundaries else None)
        self.risk_group_n_ = int(complete.sum())
        self.probability_table_ = probability_table(
            self.scale_.reachable_totals(), self.prob_intercept_, self.prob_slope_)
        self.training_ranges_ = {
            n: (float(np.nanmin(self._observed_raw[:, names.index(n)])),
                float(np.nanmax(self._observed_raw[:, names.index(n)]))) for n in self.scored_}

        # apparent performance on the patients the model was fitted on, missing inputs
        # completed by the prediction imputer: the same predictions the bootstrap's index.orig
        # and the report evaluate; the continuous model and the points on the same patients
        used = frame if s.missing != "complete" else frame[~miss_any]
        used = used.reset_index(drop=True)
        self.auc_points_apparent_ = _auc(yi, self.total(used, impute=True))
        self.auc_continuous_apparent_ = _auc(yi, self.predict_lp_continuous(used, impute=True))
        self.auc_loss_ = self.auc_continuous_apparent_ - self.auc_points_apparent_
        self.notes_.append(
            f"AUC lost from the continuous model to the points: {self.auc_loss_:.4f} "
            f"({self.auc_continuous_apparent_:.3f} -> {self.auc_points_apparent_:.3f}, apparent)")
        return self

    # ------------------------------------------------------------------------------------
    def _check_columns(self, X: FloatArray, names: list[str]) -> None:
        # fmin/fmax skip NaN: NaN only for a column without an observed value
        lo, hi = np.fmin.reduce(X, axis=0), np.fmax.reduce(X, axis=0)
        empty = [n for j, n in enumerate(names) if np.isnan(lo[j])]
        if empty:
            raise ModelError(f"candidate(s) with no observed value at this landmark: {', '.join(empty)}; "
                             "drop them from --candidates")
        const = [n for j, n in enumerate(names) if lo[j] == hi[j]]
        if const:
            raise ModelError(f"candidate(s) constant in these data, carrying no information: "
                             f"{', '.join(const)}; drop them from --candidates")

    def _terms(self, X: FloatArray, cands: Sequence[Candidate]) -> list[_Term]:
        s = self.settings
        if s.splines == "none":
            return [_Term(c.name, (c.name,), None) for c in cands]
        # Harrell: about 10-15 events per model d.f.; splines only where the events allow
        nonlin = s.knots - 2
        budget = self.events_ // 10 - len(cands)
        terms: list[_Term] = []
        for j, c in enumerate(cands):
            obs = X[~np.isnan(X[:, j]), j]
            if budget >= nonlin and np.unique(obs).size >= max(6, s.knots + 2):
                try:
                    knots = tuple(float(k) for k in rcs_knots(obs, s.knots))
                except ModelError:
                    knots = ()
                if len(knots) >= 3:
                    cols = (c.name, *[c.name + "'" * (i + 1) for i in range(len(knots) - 2)])
                    terms.append(_Term(c.name, cols, knots))
                    budget -= len(knots) - 2
                    continue
            terms.append(_Term(c.name, (c.name,), None))
        linear = [t.name for t in terms if t.knots is None]
        if linear:
            self.notes_.append(
                "restricted cubic splines limited by the events (about 10 per parameter): linear "
                "for " + ", ".join(linear))
        return terms

    def _expand(self, Xt: FloatArray) -> FloatArray:
        """Design columns (linear or spline terms) from transformed candidate values."""
        if all(t.knots is None for t in self.terms_):  # every term linear: the values as given
            return np.array(Xt, dtype=np.float64, order="C", copy=True)
        cols = []
        for j, t in enumerate(self.terms_):
            if t.knots is None:
                cols.append(Xt[:, j:j + 1])
            else:
                cols.append(rcs_basis(Xt[:, j], np.asarray(t.knots), inclx=True))
        return np.column_stack(cols)

    def _effect(self, term: _Term) -> Callable[[FloatArray], FloatArray]:
        """The fitted contribution of one candidate to the linear predictor, on raw values."""
        cand = next(c for c in self.candidates_ if c.name == term.name)
        names = list(self.continuous_.names)
        beta = np.array([self.continuous_.coef[names.index(c)] for c in term.columns])
        knots = None if term.knots is None else np.asarray(term.knots)

        def f(x: FloatArray) -> FloatArray:
            t = cand.transform_values(np.asarray(x, dtype=np.float64))
            basis = t[:, None] if knots is None else rcs_basis(t, knots, inclx=True)
            out: FloatArray = row_dot(basis, beta)
            return out

        return f

    def _select(self, designs: list[FloatArray], y: IntArray, columns: list[str],
                groups: dict[str, list[str]], firth: bool
                ) -> Generator[Request, Any, list[str]]:
        s = self.settings
        names = [t.name for t in self.terms_]
        if s.select == "none":
            self.notes_.append("selection: none (all candidates pre-specified)")
            return names
        if s.select == "backward":
            if len(designs) > 1:
                res = yield from backward_select_pooled_steps(
                    designs, y, columns, rule=s.rule, alpha=s.alpha, stacked=_STACKED.get(),
                    firth=firth, force=tuple(s.force), groups=groups)
            else:
                res = backward_select_pooled(designs, y, columns, rule=s.rule, alpha=s.alpha,
                                             firth=firth, force=tuple(s.force), groups=groups)
            self.selection_ = res
            kept = [n for n in names if n in res.kept]
            self.notes_.append(
                f"selection: backward elimination by {s.rule.upper()} using {res.test} tests; kept "
                + (", ".join(kept) or "none"))
            return kept
        # LASSO on the stacked imputations (weight 1/m each), folds by patient
        m = len(designs)
        stacked = np.vstack(designs)
        res2 = lasso_cv(stacked, np.tile(y, m), columns, seed=s.seed,
                        weights=np.full(stacked.shape[0], 1.0 / m),
                        groups=np.tile(np.arange(len(y)), m))
        kept_cols = set(res2.kept)
        kept = [t.name for t in self.terms_
                if any(c in kept_cols for c in t.columns) or t.name in s.force]
        self.notes_.append("selection: LASSO (cross-validated"
                           + (f", on {m} stacked imputations" if m > 1 else "") + "); kept "
                           + (", ".join(kept) or "none"))
        return kept

    def _complete_raw(self, raw: FloatArray, Xt: FloatArray) -> FloatArray:
        """Raw values with the missing ones filled from completed transformed values ``Xt``.

        Observed values are used as given (never through ``10 ** log10(x)``, which is not
        exact and would move a value sitting on a cut-point into the band below).
        ``Xt`` may carry leading axes (the m completed data sets stacked, ``(m, n, p)``); the
        result then has them too.
        """
        miss = np.isnan(raw)
        if not miss.any():
            return np.array(np.broadcast_to(raw, Xt.shape))
        back = Xt.copy()
        for j, c in enumerate(self.candidates_):
            if c.transform == "log10":
                back[..., j] = 10.0 ** Xt[..., j]
        R: FloatArray = np.where(miss, back, raw)
        return R

    def _total_raw(self, R: FloatArray) -> FloatArray:
        """Total points from raw (canonical-unit) candidate values ``R`` (..., n, p); NaN where
        one is missing."""
        names = [c.name for c in self.candidates_]
        total = np.zeros(R.shape[:-1])
        for name in self.scored_:
            band = categorise(R[..., names.index(name)], self.cuts_[name])
            pts = np.asarray(self.points_[name], dtype=np.float64)
            b = np.where(np.isnan(band), 0, band).astype(np.int_)
            total = total + np.where(np.isnan(band), np.nan, pts[b])
        return total

    # ------------------------------------------------------------------------------------
    def _design(self, frame: pd.DataFrame, impute: bool) -> FloatArray:
        """Transformed candidate columns (completed if ``impute``)."""
        X = design_matrix(frame, self.candidates_)
        if impute:
            X = self.imputer_.transform(X)
        return X

    def total(self, frame: pd.DataFrame, *, impute: bool = False) -> FloatArray:
        """Total points per patient; NaN where an input is missing (unless ``impute``)."""
        raw = _raw_matrix(frame, self.candidates_)
        if impute and np.isnan(raw).any():
            raw = self._complete_raw(raw, self._design(frame, True))
        return self._total_raw(raw)

    def decision_function_arrays(self, X: FloatArray, raw: FloatArray) -> FloatArray:
        """``decision_function(frame, impute=True)`` from the frame's precomputed design
        (``design_matrix``) and raw (``_raw_matrix``) matrices, for the candidates fitted."""
        if np.isnan(raw).any():
            raw = self._complete_raw(raw, self.imputer_.transform(X))
        out: FloatArray = self.prob_intercept_ + self.prob_slope_ * self._total_raw(raw)
        return out

    def decision_function(self, frame: pd.DataFrame, *, impute: bool = False) -> FloatArray:
        """The card's linear predictor ``a + b * total`` (shrunk slope)."""
        out: FloatArray = self.prob_intercept_ + self.prob_slope_ * self.total(frame, impute=impute)
        return out

    def predict_proba(self, frame: pd.DataFrame, *, impute: bool = False) -> FloatArray:
        """Probability of the outcome from the point score (``expit(a + b * total)``)."""
        return expit(self.decision_function(frame, impute=impute))

    def predict_lp_continuous(self, frame: pd.DataFrame, *, impute: bool = False) -> FloatArray:
        """Linear predictor of the continuous reference model (before shrinkage)."""
        D = self._expand(self._design(frame, impute))
        columns = [c for t in self.terms_ for c in t.columns]
        sel = [columns.index(c) for c in self.continuous_.names[1:]]
        lp: FloatArray = self.continuous_.coef[0] + D[:, sel] @ self.continuous_.coef[1:]
        return lp

    # ------------------------------------------------------------------------------------
    def coefficients(self) -> pd.DataFrame:
        """The continuous reference model (pooled by Rubin's rules): term, coef, se, z, p,
        OR with its 95% CI, fraction of missing information."""
        return self.continuous_.summary()

    def headline(self) -> dict[str, Any]:
        return {**super().headline(), "shrinkage": float(self.shrinkage_),
                "max_total": int(self.scale_.max_total), "points_constant": float(self.constant_)}

    @property
    def monotone_(self) -> dict[str, bool]:
        """Whether each variable's points are monotone in its value."""
        return {k: v.monotone_points for k, v in self.scale_.variables.items()}

    def score_sheet(self) -> pd.DataFrame:
        """One row per band: variable, range (canonical unit), representative value, points."""
        rows = []
        by_name = {c.name: c for c in self.candidates_}
        for name in self.scored_:
            c = by_name[name]
            vp = self.scale_.variables[name]
            edges = [-math.inf, *vp.cuts, math.inf]
            for b in range(len(edges) - 1):
                rows.append({"variable": c.label, "name": name, "unit": c.unit or "",
                             "range": band_text(edges[b], edges[b + 1]),
                             "representative": vp.representative[b],
                             "points": int(vp.points[b]),
                             "log_odds_vs_reference": vp.contribution[b]})
        return pd.DataFrame(rows)

    def risk_table(self) -> pd.DataFrame:
        """Each reachable total once, with its probability."""
        return pd.DataFrame([{"total": int(t), "probability": p} for t, p in self.probability_table_])

    def to_scorecard(self, *, id: str = "derived-score", name: str = "Derived severe-CRS score",
                     landmark: str | None = None, data_hash: str | None = None,
                     synthetic: bool = False, description: str = "",
                     performance: Performance | None = None,
                     day_window: tuple[float, float] = (-1.0, 1.0),
                     sample_size: SampleSizeVerdict | None = None) -> ScoreCard:
        """The fitted score as a :class:`ScoreCard`.

        Observation variables are read at the landmark, nearest value within ``day_window``
        (days relative to the landmark, inclusive; ties to the earlier), which must be the
        window of the landmark table the model was fitted on.
        """
        s = self.settings
        by_name = {c.name: c for c in self.candidates_}
        variables = []
        for vname in self.scored_:
            c = by_name[vname]
            vp = self.scale_.variables[vname]
            edges: list[float | None] = [None, *vp.cuts, None]
            bands = [Band(lower=edges[b], upper=edges[b + 1], points=float(vp.points[b]))
                     for b in range(len(edges) - 1)]
            variables.append(Variable(
                name=vname, kind="bands", bands=bands, **variable_fields(c, day_window),
                training_range=self.training_ranges_[vname],
                description=(f"points from the continuous model ({c.model_label}"
                             + (", restricted cubic spline" if self._term(vname).knots else "")
                             + f"); bands: {s.cutpoints}")))
        extra = self.performance_extra()
        if performance is None:
            perf = Performance(n=self.n_used_, events=self.events_,
                               auc_apparent=self.auc_points_apparent_, extra=extra)
        else:
            perf = performance.model_copy(update={"extra": {**extra, **performance.extra}})
        return ScoreCard(
            id=id, name=name, description=description, kind="points", landmark=landmark,
            population="B-ALL, anti-CD19 CAR-T (derivation cohort)",
            variables=variables,
            probability=ProbabilityMap(kind="logistic", intercept=self.prob_intercept_,
                                       slope=self.prob_slope_),
            risk_groups=card_risk_groups(self.risk_groups_),
            uses_cytokines_after_tocilizumab_warning=uses_cytokines(self.scored_),
            provenance=Provenance(
                software_version=__version__, data_hash=data_hash, seed=self.seed_,
                synthetic_data=synthetic, verification="derived_locally",
                method=self.method_text(), notes=derived_notes(self.notes_, synthetic=synthetic)),
            performance=perf,
            sample_size=sample_size,
        )

    def _term(self, name: str) -> _Term:
        return next(t for t in self.terms_ if t.name == name)

    def method_text(self) -> str:
        s = self.settings
        sel = {"none": "none (pre-specified)", "lasso": "LASSO",
               "backward": f"backward ({s.rule}"
                           + (f", alpha {s.alpha:g}" if s.rule == "p" else "") + ")"}[s.select]
        return (f"{'Firth' if self.method_ == 'firth' else 'ML'} logistic regression"
                + (f" with restricted cubic splines ({s.knots} knots)" if s.splines == "rcs" else "")
                + f"; selection {sel}; Sullivan points from the continuous model "
                f"(max {s.max_points}, bands {s.cutpoints}); shrinkage {s.shrinkage} "
                f"({self.shrinkage_:.3f}); missing data {s.missing}"
                + (f" (m={self.m_})" if s.missing == "mice" else "") + f"; seed {s.seed}")

    def performance_extra(self) -> dict[str, float]:
        return {"auc_continuous_apparent": self.auc_continuous_apparent_,
                "auc_loss_points": self.auc_loss_, "shrinkage": self.shrinkage_,
                "points_constant": self.constant_, "max_total": float(self.scale_.max_total),
                "events_per_parameter": self.events_ / max(1, self.n_candidate_parameters_)}

    def limitations(self) -> list[str]:
        """Plain statements for the report: non-monotone points, a capped scale, AUC loss."""
        out = []
        for name, ok in self.monotone_.items():
            if not ok:
                out.append(f"The points of {name} are not monotone: they follow the fitted "
                           "spline effect, which is not monotone over the training range.")
        if self.scale_.capped:
            out.append(f"The scale was capped at {self.settings.max_points} points; each point is "
                       f"{self.constant_:.3f} log-odds.")
        zero = [v.name for v in self.scale_.variables.values() if v.max_points == 0]
        if zero:
            out.append("At this scale " + ", ".join(zero) + " scores 0 points everywhere.")
        out.append(f"Rounding the continuous model into points loses {self.auc_loss_:.3f} of "
                   f"apparent AUC ({self.auc_continuous_apparent_:.3f} continuous, "
                   f"{self.auc_points_apparent_:.3f} points).")
        if self.shrinkage_ < 1.0:
            out.append(f"Predicted probabilities are shrunk by the heuristic factor "
                       f"{self.shrinkage_:.3f} to correct expected overfitting.")
        return out


def _raw_matrix(frame: pd.DataFrame, cands: Sequence[Candidate]) -> FloatArray:
    """Candidate values as given (canonical units, untransformed), NaN where missing."""
    missing = [c.name for c in cands if c.name not in frame.columns]
    if missing:
        raise ModelError(f"candidate column(s) not in the data: {', '.join(missing)}")
    cols = [pd.to_numeric(frame[c.name], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            for c in cands]
    return np.column_stack(cols) if cols else np.empty((len(frame), 0))


def band_text(lo: float, hi: float) -> str:
    """``< 12``, ``12 to < 30``, ``>= 30`` (the ``[lower, upper)`` convention)."""
    if not math.isfinite(lo) and not math.isfinite(hi):
        return "any value"
    if not math.isfinite(lo):
        return f"< {hi:g}"
    if not math.isfinite(hi):
        return f">= {lo:g}"
    return f"{lo:g} to < {hi:g}"


Request = tuple[str, Any]


def _drive(steps: Generator[Request, Any, _T]) -> _T:
    """Run a generator of stacked Firth and MICE requests, answering each at once."""
    from crsscore.modeling._batched import firth_fit_stacked

    try:
        req = next(steps)
        while True:
            kind, payload = req
            if kind == "mice":
                answer: Any = _norm_draw_batch(*payload)
            elif kind == "ml":
                answer = ml_fit_stacked(*payload)
            else:
                answer = firth_fit_stacked(*payload)
            req = steps.send(answer)
    except StopIteration as stop:
        out: _T = stop.value
        return out


def fit_many(models: Sequence[PointScoreModel], frames: Sequence[pd.DataFrame | None],
             ys: Sequence[npt.ArrayLike],
             arrays: Sequence[tuple[FloatArray, FloatArray]] | None = None
             ) -> list[PointScoreModel | Exception]:
    """Fit ``models[i]`` on ``frames[i], ys[i]`` for every i, answering the stacked Firth
    requests of all fits in one batch per step (grouped by design shape).

    Each element equals ``models[i].fit(frames[i], ys[i])`` to rounding (each fit in the batch
    runs its own iteration; ``tests/modeling/test_stacked.py``); a fit that raises gives its
    exception in place of the model.  If a batch cannot be solved (a singular information
    matrix in one fit), its requests are answered one by one so that only that fit fails.
    """
    from crsscore.modeling._batched import StackedFit, firth_fit_stacked

    results: list[PointScoreModel | Exception | None] = [None] * len(models)
    pending: dict[int, tuple[Generator[Request, Any, PointScoreModel], Request]] = {}

    def advance(i: int, gen: Generator[Request, Any, PointScoreModel],
                answer: Any, first: bool = False) -> None:
        try:
            if first:
                req = next(gen)
            elif isinstance(answer, Exception):
                req = gen.throw(answer)
            else:
                req = gen.send(answer)
            pending[i] = (gen, req)
        except StopIteration as stop:
            results[i] = stop.value
        except Exception as exc:  # handed back in place of this fit's model
            results[i] = exc

    for i, (model, frame, y) in enumerate(zip(models, frames, ys, strict=True)):
        advance(i, model.fit_steps(frame, y, None if arrays is None else arrays[i]), None,
                first=True)
    while pending:
        groups: dict[tuple[Any, ...], list[int]] = {}
        for i, (_, req) in pending.items():
            kind, payload = req
            key = (kind, payload[0].shape[1:], payload[3] if kind == "mice" else 0)
            groups.setdefault(key, []).append(i)
        todo = dict(pending)
        pending.clear()
        for key, members in groups.items():
            if key[0] == "mice":  # MICE chains of every resample in one batch
                mreqs = [todo[i][1][1] for i in members]
                try:
                    done = _norm_draw_batch(np.concatenate([r[0] for r in mreqs]),
                                            np.concatenate([r[1] for r in mreqs]),
                                            [sd for r in mreqs for sd in r[2]], key[2])
                except np.linalg.LinAlgError:
                    for i, r in zip(members, mreqs, strict=True):
                        try:
                            mone: Any = _norm_draw_batch(*r)
                        except np.linalg.LinAlgError as exc:
                            mone = exc
                        advance(i, todo[i][0], mone)
                    continue
                start = 0
                for i, r in zip(members, mreqs, strict=True):
                    k = r[0].shape[0]
                    advance(i, todo[i][0], done[start:start + k])
                    start += k
                continue
            if key[0] == "ml":  # points-to-risk maps of every resample in one batch
                lreqs = [todo[i][1][1] for i in members]
                coef, exact = ml_fit_stacked(
                    np.concatenate([r[0] for r in lreqs]),
                    np.concatenate([np.broadcast_to(r[1], r[0].shape[:2]) for r in lreqs]))
                start = 0
                for i, r in zip(members, lreqs, strict=True):
                    k = r[0].shape[0]
                    advance(i, todo[i][0], (coef[start:start + k], exact[start:start + k]))
                    start += k
                continue
            reqs = [todo[i][1][1] for i in members]
            sizes = [r[0].shape[0] for r in reqs]
            try:
                st = firth_fit_stacked(
                    np.concatenate([r[0] for r in reqs]),
                    np.concatenate([np.broadcast_to(r[1], r[0].shape[:2]) for r in reqs]))
            except (ModelError, np.linalg.LinAlgError):
                for i, r in zip(members, reqs, strict=True):
                    try:
                        one: StackedFit | Exception = firth_fit_stacked(r[0], r[1])
                    except (ModelError, np.linalg.LinAlgError) as exc:
                        one = exc
                    advance(i, todo[i][0], one)
                continue
            start = 0
            for i, k in zip(members, sizes, strict=True):
                sl = slice(start, start + k)
                start += k
                advance(i, todo[i][0], st.part(sl))
    return [r if r is not None else ModelError("fit did not finish") for r in results]
