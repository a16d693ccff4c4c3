"""End-to-end analyses composed from the core: what the CLI, the report and the demo run.

Each function takes a :class:`~crsscore.data.cohort.Cohort` and options, calls the pure core
(grading, landmark table, derivation, validation, comparison) and returns one result object
holding every intermediate table, the counts used at each step, the seed and the data hash.
Nothing here prints or writes files.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from crsscore import __version__
from crsscore.data.cohort import Cohort
from crsscore.data.landmark import LandmarkTable, build_landmark_table
from crsscore.data.table1 import Table1, table_one
from crsscore.errors import (
    CrsscoreError,
    CrsscoreWarning,
    LowEventsWarning,
    ModelError,
    SampleSizeWarning,
)
from crsscore.grading import grade_cohort
from crsscore.modeling.candidates import Candidate
from crsscore.modeling.candidates import candidates as make_candidates
from crsscore.modeling.derivation import (
    DerivationSettings,
    DerivationSummary,
    PointScoreModel,
    resampling_fit,
)
from crsscore.modeling.univariable import univariable_table
from crsscore.scores.scorecard import Performance, SampleSizeVerdict, ScoreCard


@dataclass(frozen=True)
class Outcomes:
    """Per-patient outcomes and where they came from."""

    frame: pd.DataFrame  # patient_id, severe_crs, crs_max_grade, crs_onset_day, crs_severe_onset_day, ...
    daily: pd.DataFrame
    system: str
    source_counts: dict[str, int]
    notes: list[str]


def cohort_outcomes(cohort: Cohort, *, system: str = "astct", require: bool = True) -> Outcomes:
    """Grade the cohort (from raw events, or recorded grades) and return per-patient outcomes.

    With ``require`` (the default: every analysis needs the outcome) a cohort whose severe
    CRS cannot be known, e.g. one without an events table and without recorded grades, is
    refused with a message naming the table, never analysed as if nobody had severe CRS.
    """
    from crsscore.grading import require_crs_outcomes

    res = grade_cohort(cohort, system=system)
    if require:
        require_crs_outcomes(res)
    out = res.outcomes.copy()
    counts = {str(k): int(v) for k, v in out["grade_source"].value_counts().items()}
    return Outcomes(frame=out, daily=res.daily, system=system, source_counts=counts,
                    notes=list(res.notes))


@dataclass
class DerivationRun:
    """Everything a derivation produced, for printing, JSON and the report."""

    landmark: LandmarkTable
    outcomes: Outcomes
    table1: Table1
    univariable: pd.DataFrame
    model: Any  # PointScoreModel or LearnedPointScoreModel
    scorecard: ScoreCard
    settings: DerivationSettings
    validation: Any | None
    sample_size: SampleSizeCheck
    data_hash: str
    synthetic: bool
    seed: int
    n_patients_cohort: int
    n_analysed: int
    events: int
    warnings: list[str] = field(default_factory=list)
    version: str = __version__
    points: str = "sullivan"
    max_features: int = 5
    analysis_data: pd.DataFrame | None = None  # the rows the bootstrap resamples
    analysis_y: np.ndarray | None = None
    #: bias-corrected calibration and ROC band read from ``validation`` (the same resamples)
    calibration: Any | None = None  # BootstrapCalibration
    roc_band: Any | None = None  # RocBand
    calibration_failure: str | None = None  # why ``calibration`` is missing despite a bootstrap

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready headline of the run (what ``--json`` writes)."""
        h = self.model.headline()
        out: dict[str, Any] = {
            "synthetic": self.synthetic, "data_hash": self.data_hash, "seed": self.seed,
            "crsscore_version": self.version, "landmark": self.landmark.landmark_day,
            "n_cohort": self.n_patients_cohort, "n_analysed": self.n_analysed,
            "events": self.events, "method": h["method"], "method_reason": h["method_reason"],
            "selected": h["selected"], "auc_points_apparent": h["auc_points_apparent"],
            "auc_continuous_apparent": h["auc_continuous_apparent"],
            "scored": h["scored"], "auc_loss_points": h["auc_loss_points"],
            "shrinkage": h["shrinkage"], "max_total": h["max_total"],
            "sample_size": (self.scorecard.sample_size.model_dump()
                            if self.scorecard.sample_size is not None else None),
            "notes": list(self.model.notes_), "warnings": list(self.warnings),
        }
        if self.validation is not None:
            out["validation"] = self.validation.to_frame().reset_index().to_dict(orient="records")
            out["bootstrap_seconds"] = self.validation.options.get("seconds")
        return out

    def summary(self) -> DerivationSummary:
        """The model's summary with the run's own lines (cohort, landmark, seed, data hash)
        and, when validated, the optimism-corrected indexes."""
        base = self.model.summary()
        info = {"landmark day": self.landmark.landmark_day, "patients in cohort":
                self.n_patients_cohort, "analysed": self.n_analysed, "events": self.events,
                "seed": self.seed, "data hash": self.data_hash, "synthetic": self.synthetic,
                **base.info}
        tables = dict(base.tables)
        if self.validation is not None:
            tables["validation"] = self.validation.to_frame().reset_index()
        return DerivationSummary(title=base.title, info=info, tables=tables,
                                 notes=(*base.notes, *self.warnings))

    def to_frame(self) -> pd.DataFrame:
        """The derived score, one row per band (:meth:`PointScoreModel.to_frame`)."""
        out: pd.DataFrame = self.model.to_frame()
        return out

    def plot(self, ax: Any = None) -> Any:
        """The derived score's points-to-risk map (:meth:`PointScoreModel.plot`)."""
        return self.model.plot(ax)

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_()


def _transform_fn(cand: Candidate) -> Any:
    """The candidate's transform as a named function (for the univariable table)."""
    if cand.transform == "none":
        return "identity"

    def fn(x: np.ndarray) -> np.ndarray:
        return cand.transform_values(x)

    fn.__name__ = f"log10 (values below {cand.floor:g} set to {cand.floor:g})"
    return fn


TABLE1_COLUMNS = ("age_years", "sex", "prior_lines", "prior_hsct", "bridging", "costim",
                  "mrd_baseline_pct", "mrd_post_ld_pct")


@dataclass(frozen=True)
class SampleSizeCheck:
    ok: bool
    message: str
    n: int
    events: int
    n_parameters: int


def _sample_size(n: int, events: int, n_params: int) -> SampleSizeCheck:
    from crsscore.validation.samplesize import check_sample_size

    ok, text = check_sample_size(n=n, events=events, n_parameters=n_params)
    return SampleSizeCheck(ok=ok, message=text, n=n, events=events, n_parameters=n_params)


#: Fewer events than this and crsscore refuses to write a score card without an override.
MIN_EVENTS = 10
#: ... and likewise when Riley's minimum sample size is more than this many times the cohort.
RILEY_FAR = 10.0


def _riley_required(n: int, events: int, n_params: int) -> int | None:
    from crsscore.validation.samplesize import DEFAULT_C_STATISTIC, sample_size

    if events in (0, n):
        return None
    try:
        return int(sample_size(events / n, n_params, c_statistic=DEFAULT_C_STATISTIC).n)
    except (ValueError, ModelError):
        return None


def sample_size_floor(n: int, events: int, n_params: int, *,
                      required: int | None = None) -> str | None:
    """Why this cohort is below crsscore's floor for writing a score card, or None.

    The floor: at least :data:`MIN_EVENTS` events, and Riley's minimum sample size no more
    than :data:`RILEY_FAR` times the cohort.  Below it a card's apparent and even its
    optimism-corrected performance are too unstable to be served at the bedside.
    ``required`` is Riley's minimum when the caller has it already (computed here otherwise).
    """
    if events < MIN_EVENTS:
        return (f"{events} event(s) among {n} patients: fewer than {MIN_EVENTS}, too few to "
                "derive a score anyone should use")
    need = _riley_required(n, events, n_params) if required is None else required
    if need is not None and need > RILEY_FAR * n:
        return (f"Riley's minimum sample size for {n_params} candidate parameters is {need} "
                f"patients, more than {RILEY_FAR:g} times the {n} available")
    return None


def derive(cohort: Cohort, *, landmark: str = "day7", window: float = 1.0,
           prior_outcome: str = "exclude", settings: DerivationSettings | None = None,
           bootstrap: int = 0, seed: int | None = None, n_jobs: int = 1,
           scheduler: str | None = None, progress: bool = False, outcomes: Outcomes | None = None,
           points: str = "sullivan", max_features: int = 5, certify: float = 0.0,
           allow_small_sample: bool = False) -> DerivationRun:
    """Grade, build the landmark table, and derive (and optionally validate) the point score.

    ``points="sullivan"`` rounds the continuous (Firth) logistic model into Sullivan points;
    ``points="learned"`` learns integer points directly (at most ``max_features`` thresholds).
    ``certify > 0`` (learned points only) checks the reported score exactly by mixed-integer
    programming within that many seconds (not repeated inside the bootstrap).  ``seed``, when
    given, replaces ``settings.seed``: one seed drives every random step and is recorded.
    Below the sample-size floor (:func:`sample_size_floor`) no card is derived unless
    ``allow_small_sample``; the verdict travels in the card either way.
    """
    if prior_outcome not in ("exclude", "keep"):
        raise ModelError(f"prior_outcome must be 'exclude' or 'keep'; got {prior_outcome!r}")
    if points not in ("sullivan", "learned"):
        raise ModelError(f"points must be 'sullivan' or 'learned'; got {points!r}")
    if certify < 0 or (certify > 0 and points != "learned"):
        raise ModelError("certify (seconds of exact MIP check, >= 0) applies to learned points only")
    if bootstrap < 0:
        raise ModelError(f"the number of bootstrap resamples must be >= 0; got {bootstrap}")
    settings = settings or DerivationSettings()
    if seed is not None:
        settings = settings.with_(seed=seed)
    seed = settings.seed
    caught: list[str] = []
    outcomes = outcomes or cohort_outcomes(cohort)
    cands = make_candidates(list(settings.candidates))
    analytes = [c.name for c in cands if c.source == "observation"]
    lt = build_landmark_table(cohort, landmark, window=window, analytes=analytes or None,
                              outcomes=outcomes.frame,
                              prior_outcome="keep" if prior_outcome == "keep" else "exclude")
    data = lt.data
    if "severe_crs" not in data.columns:
        raise ModelError("the landmark table has no outcome column 'severe_crs'")
    data = data[data["severe_crs"].notna()].reset_index(drop=True)
    if len(data) == 0:
        raise ModelError(f"no patients with an outcome at landmark {landmark}")
    y = data["severe_crs"].to_numpy(dtype=np.int_)
    n_params = len(cands)
    required_n = _riley_required(len(y), int(y.sum()), n_params)
    floor = sample_size_floor(len(y), int(y.sum()), n_params, required=required_n)
    hopeless = min(int(y.sum()), len(y) - int(y.sum())) < 2
    if floor is not None and (not allow_small_sample or hopeless):
        why = ""
        if lt.policy == "exclude" and lt.n_prior_outcome:
            why = (f" {lt.n_prior_outcome} patient(s) whose severe CRS began before the landmark "
                   "were excluded (--prior-outcome exclude); --prior-outcome keep counts them "
                   "(as concurrent markers), or an earlier landmark (--landmark day3, day0, "
                   "pre-ld) predicts before most onsets.")
        raise ModelError(
            f"no score card derived at landmark {landmark}: {floor}.{why} "
            + ("No model can be fitted or validated with fewer than 2 events (or non-events)."
               if hopeless else
               "Use fewer candidates, pool more patients, or pass --allow-small-sample to "
               "derive anyway (the card then carries the warning)."))

    empty = [c.name for c in cands
             if c.name not in data.columns or pd.to_numeric(data[c.name], errors="coerce").isna().all()]
    if empty:
        raise ModelError(f"no observed value at landmark {landmark} (window +-{window:g} days) for "
                         f"candidate(s) {', '.join(empty)}; choose another --landmark or drop them "
                         "from --candidates")
    t1cols = [c for c in (*TABLE1_COLUMNS, *[c.name for c in cands]) if c in data.columns]
    t1cols = [c for c in t1cols if data[c].notna().any()]
    t1cols = list(dict.fromkeys(t1cols))
    t1 = table_one(data, "severe_crs", columns=t1cols,
                   categorical=[c for c in ("sex", "prior_hsct", "bridging", "costim") if c in t1cols],
                   group_labels={0: "no severe CRS", 1: "severe CRS"})
    uni = univariable_table(data, "severe_crs", [c.name for c in cands],
                            {c.name: _transform_fn(c) for c in cands})
    ss = _sample_size(len(y), int(y.sum()), n_params)

    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always", CrsscoreWarning)
        model = _model(settings, points, max_features, certify).fit(data, y)
    caught += [str(w.message) for w in rec if issubclass(w.category, (LowEventsWarning, SampleSizeWarning))]
    if not ss.ok:
        caught.append(ss.message)
    if floor is not None:
        caught.append(f"below crsscore's sample-size floor ({floor}); derived only because "
                      "--allow-small-sample was given")

    validation = None
    vdata, vy = data, y
    if settings.missing == "complete":  # validate on the analysis population
        from crsscore.modeling.candidates import design_matrix

        cc = ~np.isnan(design_matrix(data, cands)).any(axis=1)
        vdata, vy = pd.DataFrame(data[cc]).reset_index(drop=True), y[cc]
    calibration = roc_band = None
    calibration_failure = None
    if bootstrap > 0:
        validation = validate_pipeline(vdata, vy, settings, B=bootstrap, seed=seed, n_jobs=n_jobs,
                                       scheduler=scheduler, progress=progress, points=points,
                                       max_features=max_features, reported=model)
        try:
            calibration, roc_band = pipeline_curves(validation, model, vdata, vy)
        except CrsscoreError as exc:  # the run stands; the report says why the curve is missing
            calibration_failure = str(exc)
    perf = Performance(n=len(y), events=int(y.sum()), auc_apparent=model.auc_points_apparent_)
    if validation is not None:
        tab = validation.to_frame()
        perf = Performance(n=len(y), events=int(y.sum()), auc_apparent=model.auc_points_apparent_,
                           auc_optimism_corrected=float(tab.loc["AUC", "index.corrected"]),
                           calibration_slope_corrected=float(tab.loc["Slope", "index.corrected"]),
                           bootstrap_B=bootstrap)
    verdict = SampleSizeVerdict(ok=ss.ok and floor is None, message=floor or ss.message,
                                n=len(y), events=int(y.sum()), n_parameters=n_params,
                                required_n=required_n,
                                override=floor is not None)
    data_hash = cohort.data_hash()  # once: hashing a large cohort is not free
    card = model.to_scorecard(
        id=f"derived-{landmark}", name=f"Severe-CRS point score at {landmark}",
        landmark=landmark, data_hash=data_hash, synthetic=cohort.synthetic,
        day_window=(-lt.window[0], lt.window[1]), performance=perf, sample_size=verdict,
        description=(f"Derived by crsscore on {len(y)} patients ({int(y.sum())} events) "
                     f"at landmark {landmark}"))
    return DerivationRun(
        landmark=lt, outcomes=outcomes, table1=t1, univariable=uni, model=model, scorecard=card,
        settings=settings, validation=validation, sample_size=ss, data_hash=data_hash,
        synthetic=cohort.synthetic, seed=seed, n_patients_cohort=cohort.n_patients,
        n_analysed=len(y), events=int(y.sum()), warnings=caught, points=points,
        max_features=max_features, analysis_data=vdata, analysis_y=vy, calibration=calibration,
        roc_band=roc_band, calibration_failure=calibration_failure)


def _model(settings: DerivationSettings, points: str, max_features: int,
           certify: float = 0.0) -> Any:
    if points == "learned":
        from crsscore.modeling.learned import LearnedPointScoreModel

        return LearnedPointScoreModel(settings, max_features=max_features, certify=certify)
    return PointScoreModel(settings)


def pipeline_fit_fn(data: pd.DataFrame, settings: DerivationSettings, *, points: str = "sullivan",
                    max_features: int = 5, reported: Any | None = None) -> Any:
    """The whole derivation pipeline as a resampling ``fit_fn`` over row numbers of ``data``.

    ``fit_fn(rows, y, weights) -> predictor``; ``predictor(rows)`` gives the linear predictor
    (missing inputs completed by the fitted model's imputer).  Used by the bootstrap
    (``optimism_bootstrap``) and the bias-corrected calibration curve alike, so both refit
    exactly the same pipeline, and it is the reported procedure itself: the same settings,
    the same number of imputations, the same selection rule.  When ``reported`` is given, a
    call on the original rows in order returns the reported model.
    """
    boot_settings = settings

    def predictor(model: Any) -> Any:
        def predict(X_eval: Any) -> Any:
            ev = np.asarray(X_eval, dtype=np.int_).ravel()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return model.decision_function(data.iloc[ev].reset_index(drop=True), impute=True)

        return predict

    def fit_fn(X_idx: Any, y_train: Any, weights: Any = None) -> Any:
        rows = np.asarray(X_idx, dtype=np.int_).ravel()
        yy = np.asarray(y_train)
        if (reported is not None and weights is None and len(rows) == len(data)
                and np.array_equal(rows, np.arange(len(data)))):
            return predictor(reported)  # the original data: the reported model itself
        if weights is not None:
            reps = np.asarray(weights, dtype=np.int_)
            rows, yy = np.repeat(rows, reps), np.repeat(yy, reps)
        with warnings.catch_warnings(), resampling_fit():
            warnings.simplefilter("ignore")
            model = _model(boot_settings, points, max_features).fit(
                data.iloc[rows].reset_index(drop=True), yy)
        return predictor(model)

    def fit_many_fn(rows_list: list[Any], ys: list[Any]) -> list[Any]:
        """``fit_fn`` on many resamples at once (the bootstrap's chunks): the Firth fits of all
        of them are batched (:func:`crsscore.modeling.derivation.fit_many`); each entry is
        the predictor ``fit_fn`` would return, or the exception it would raise."""
        from crsscore.modeling.candidates import candidates, design_matrix
        from crsscore.modeling.derivation import _raw_matrix, fit_many, stacked_enabled

        if not stacked_enabled():  # the reference path: one resample at a time, from frames
            done: list[Any] = []
            for X_idx, yy in zip(rows_list, ys, strict=True):
                try:
                    done.append(fit_fn(X_idx, yy))
                except Exception as exc:  # raised again where fit_fn would have raised it
                    done.append(exc)
            return done

        # the design and raw matrices of every row, once: resamples slice them
        cands = candidates(list(boot_settings.candidates))
        all_X, all_raw = design_matrix(data, cands), _raw_matrix(data, cands)

        def array_predictor(model: Any) -> Any:
            # the prediction is a function of each row alone: computed once for every row of
            # ``data``, then read for the rows asked (the resample's own, then all of them)
            lp_all: list[np.ndarray] = []

            def predict(X_eval: Any) -> Any:
                ev = np.asarray(X_eval, dtype=np.int_).ravel()
                if not lp_all:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        lp_all.append(np.asarray(model.decision_function_arrays(all_X, all_raw),
                                                 dtype=np.float64))
                return lp_all[0][ev]

            return predict

        out: list[Any] = [None] * len(rows_list)
        todo: list[int] = []
        for i, X_idx in enumerate(rows_list):
            rows = np.asarray(X_idx, dtype=np.int_).ravel()
            if (reported is not None and len(rows) == len(data)
                    and np.array_equal(rows, np.arange(len(data)))):
                out[i] = predictor(reported)
            else:
                todo.append(i)
        # resamples fitted together: about 10^5 patient rows at a time bounds the memory
        group = max(1, 100_000 // max(1, len(data)))
        for g0 in range(0, len(todo), group):
            part = todo[g0:g0 + group]
            idx = [np.asarray(rows_list[i], dtype=np.int_).ravel() for i in part]
            with warnings.catch_warnings(), resampling_fit():
                warnings.simplefilter("ignore")
                fitted = fit_many([PointScoreModel(boot_settings) for _ in part], [None] * len(part),
                                  [np.asarray(ys[i]) for i in part],
                                  [(all_X[r], all_raw[r]) for r in idx])
            for i, got in zip(part, fitted, strict=True):
                out[i] = got if isinstance(got, Exception) else array_predictor(got)
        return out

    if points == "sullivan":
        fit_fn.fit_many = fit_many_fn  # type: ignore[attr-defined]
    return fit_fn


def validate_pipeline(data: pd.DataFrame, y: np.ndarray, settings: DerivationSettings, *,
                      B: int = 200, seed: int = 0, n_jobs: int = 1, scheduler: str | None = None,
                      progress: bool = False, points: str = "sullivan", max_features: int = 5,
                      reported: Any | None = None) -> Any:
    """Harrell's optimism bootstrap of the WHOLE derivation pipeline (every step refitted).

    Every resample repeats the reported procedure (all ``m`` imputations, the same selection
    and points).  ``index.orig`` is the performance of ``reported`` (the model actually
    reported) when given, so ``index.corrected`` is the reported model's apparent
    performance minus the pipeline's optimism.  With ``reported``, each resample also records
    its calibration optimism and the reported score's ROC on the resampled patients
    (:class:`~crsscore.validation.pipeline_curves.PipelineCurves`), read back by
    :func:`pipeline_curves`.
    """
    import time

    from crsscore.validation.internal import optimism_bootstrap

    t0 = time.perf_counter()
    fit_fn = pipeline_fit_fn(data, settings, points=points, max_features=max_features,
                             reported=reported)
    idx = np.arange(len(data)).reshape(-1, 1)
    curves = None
    if reported is not None:
        try:
            curves = _curves_statistic(reported, data, y)
        except CrsscoreError:  # constant predictions: the indexes still, no curves
            curves = None
    res = optimism_bootstrap(fit_fn, idx, y, B=B, seed=seed, n_jobs=n_jobs,
                             scheduler=scheduler, progress=progress, per_resample=curves)
    # wall time of the bootstrap stage (issue 18: `derive --json` reports it)
    res.options["seconds"] = time.perf_counter() - t0
    return res


def _reported_predictions(reported: Any, data: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The reported model's linear predictor and point total on ``data`` (inputs imputed)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return (np.asarray(reported.decision_function(data, impute=True), dtype=np.float64),
                np.asarray(reported.total(data, impute=True), dtype=np.float64))


def _curves_statistic(reported: Any, data: pd.DataFrame, y: np.ndarray) -> Any:
    from crsscore.validation.pipeline_curves import PipelineCurves

    lp, total = _reported_predictions(reported, data)
    return PipelineCurves.for_reported(y, lp, total)


def pipeline_curves(validation: Any, reported: Any, data: pd.DataFrame,
                    y: np.ndarray) -> tuple[Any, Any]:
    """The bias-corrected calibration curve (rms ``calibrate``) and the point score's ROC band
    recorded by ``validation`` (:func:`validate_pipeline` with ``reported``): the same
    resamples, seed and fits as its optimism-corrected indexes.  ``ModelError`` when they
    cannot be formed (constant predictions, every fit failed)."""
    from crsscore.validation.pipeline_curves import PipelineCurves, curves_from_validation

    if validation.per_resample is None:
        raise ModelError("the bootstrap recorded no calibration curve (the reported model's "
                         "predictions are constant)")
    lp, total = _reported_predictions(reported, data)
    return curves_from_validation(validation, PipelineCurves.for_reported(y, lp, total), lp)


@dataclass
class ExternalRun:
    """A frozen score card validated on another cohort, with updating compared."""

    card_id: str
    n_patients: int
    n_scored: int
    n_unscored: int
    n_no_outcome: int
    events: int
    validation: Any | None  # ExternalValidation (cards giving probabilities)
    auc: Any  # AUCResult (always)
    updates: Any  # UpdateComparison
    recalibrated: Any | None  # UpdatedModel chosen by --recalibrate
    notes: list[str]
    synthetic: bool
    data_hash: str
    seed: int


def external_validation(cohort: Cohort, card: ScoreCard, *, outcomes: Outcomes | None = None,
                        recalibrate: str | None = None, B: int = 500, seed: int = 0) -> ExternalRun:
    """Validate a frozen score card on ``cohort``; optionally update it (intercept, logistic, refit).

    Patients without the card's inputs or without an outcome are counted, not dropped
    silently.  Cards without a probability map are validated for discrimination only (their
    total is the predictor), and updating then means fitting a probability to the total.
    """
    from crsscore.scores.cohort_inputs import card_inputs, score_cohort
    from crsscore.scores.evaluate import score_frame
    from crsscore.validation.discrimination import auc as auc_fn
    from crsscore.validation.external import compare_updates, update_model, validate_predictions

    if recalibrate not in (None, "intercept", "logistic", "refit"):
        raise ModelError(f"--recalibrate must be intercept, logistic or refit; got {recalibrate!r}")
    outcomes = outcomes or cohort_outcomes(cohort)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CrsscoreWarning)
        inputs = card_inputs(card, cohort)
        scored = score_cohort(card, cohort, inputs=inputs)
    merged = scored.merge(outcomes.frame[["patient_id", "severe_crs"]], on="patient_id", how="left")
    no_y = merged["severe_crs"].isna()
    ok = merged["total"].notna() & ~no_y
    notes: list[str] = []
    if no_y.any():
        notes.append(f"{int(no_y.sum())} patient(s) without an outcome were left out")
    if (~merged["total"].notna()).any():
        notes.append(f"{int((~merged['total'].notna()).sum())} patient(s) lacked the score's inputs")
    y = merged.loc[ok, "severe_crs"].to_numpy(dtype=np.int_)
    if len(y) < 10 or y.sum() == 0 or y.sum() == len(y):
        raise ModelError(f"external validation needs scored patients with both outcomes; "
                         f"found {len(y)} with {int(y.sum())} event(s)")
    total = merged.loc[ok, "total"].to_numpy(dtype=np.float64)
    prob = merged.loc[ok, "probability"].to_numpy(dtype=np.float64)
    auc_res = auc_fn(y, total)
    validation = None
    if card.probability.kind != "none" and np.isfinite(prob).all():
        validation = validate_predictions(y, np.clip(prob, 1e-12, 1 - 1e-12), B=max(B, 20), seed=seed)
        lp = np.log(np.clip(prob, 1e-12, 1 - 1e-12) / np.clip(1 - prob, 1e-12, 1))
    else:
        notes.append("the card gives no probability: discrimination only; updating fits a "
                     "probability to the total")
        lp = total - float(np.mean(total))

    # refit: per-variable points (or contributions) as predictors, re-estimated here
    frame = inputs.values.reset_index(drop=True)[ok.to_numpy()]
    pts = score_frame(card, frame.reset_index(drop=True))
    P = pts[[c for c in pts.columns if c.startswith("pts_")]].to_numpy(dtype=np.float64)
    P = P[:, np.nanstd(P, axis=0) > 0] if P.size else P

    def refit(yy: np.ndarray) -> np.ndarray:
        from crsscore.modeling.logistic import fit_logistic

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CrsscoreWarning)
            return np.asarray(fit_logistic(P, yy, firth=True).predict_lp(P), dtype=np.float64)

    has_refit = P.shape[1] > 0
    updates = compare_updates(y, lp, refit=refit if has_refit else None,
                              refit_parameters=P.shape[1] + 1 if has_refit else None)
    chosen = None
    if recalibrate is not None:
        if recalibrate == "refit" and not has_refit:
            raise ModelError("this card has no per-variable points to refit")
        chosen = update_model(y, lp, recalibrate,  # type: ignore[arg-type]
                              refit=refit if has_refit else None,
                              refit_parameters=P.shape[1] + 1 if has_refit else None)
    return ExternalRun(card_id=card.id, n_patients=len(merged), n_scored=int(ok.sum()),
                       n_unscored=int((merged["total"].isna() & ~no_y).sum()),
                       n_no_outcome=int(no_y.sum()), events=int(y.sum()), validation=validation,
                       auc=auc_res, updates=updates, recalibrated=chosen, notes=notes,
                       synthetic=cohort.synthetic, data_hash=cohort.data_hash(), seed=seed)


@dataclass(frozen=True)
class DynamicInputs:
    """A cohort's person-day table and the grading warnings met on the way."""

    pdays: Any  # PersonDays
    warnings: list[str]


def dynamic_person_days(cohort: Cohort, *, horizons: Sequence[int], analytes: Sequence[str] | None,
                        window: float, first_day: int, last_day: int,
                        require_outcomes: bool = True) -> DynamicInputs:
    """Grade the cohort and build its person-day table (:func:`build_person_days`).

    With ``require_outcomes`` (deriving, replaying) a cohort whose severe CRS cannot be known
    is refused (:func:`~crsscore.grading.require_crs_outcomes`); scoring does not need it.
    """
    from crsscore.grading import require_crs_outcomes
    from crsscore.modeling.persondays import build_person_days

    grading = grade_cohort(cohort)
    if require_outcomes:
        require_crs_outcomes(grading)
    pdays = build_person_days(cohort, grading, horizons=horizons, analytes=analytes,
                              window=window, first_day=first_day, last_day=last_day)
    return DynamicInputs(pdays=pdays, warnings=[str(w) for w in grading.warnings])


def card_person_days(cohort: Cohort, card: Any, *, require_outcomes: bool = True) -> DynamicInputs:
    """The person-day table a dynamic score card reads: its horizons, analytes, window and
    range of days (what ``score-dynamic`` scores and ``monitor replay`` replays)."""
    lo, hi = card.day_range
    return dynamic_person_days(cohort, horizons=card.horizons, analytes=card.analytes,
                               window=card.window_days, first_day=lo, last_day=hi,
                               require_outcomes=require_outcomes)
