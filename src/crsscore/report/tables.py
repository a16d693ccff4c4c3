"""The report's tables: pure functions from result objects to DataFrames (raw numbers).

Each function takes the run (:class:`crsscore.workflow.DerivationRun`) and the other result
objects and returns a DataFrame with raw values (written as CSV beside the report) or a small
dataclass; formatting for the page is :func:`fmt`.  Nothing here draws or writes files.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from crsscore._numeric import expit

__all__ = [
    "AnalysisSet",
    "Limitation",
    "analysis_set",
    "calibration_table",
    "comparison_table",
    "decision_table",
    "flow_table",
    "fmt",
    "fmt_p",
    "limitations",
    "missingness_table",
    "multivariable_table",
    "onset_table",
    "outcome_grade_table",
    "risk_group_table",
    "risk_table",
    "sample_size_table",
    "score_sheet_table",
    "subgroup_table",
    "tripod_table",
    "univariable_report_table",
    "validation_table",
]


# ------------------------------------------------------------------------------------------
# formatting
# ------------------------------------------------------------------------------------------
def fmt(value: Any, digits: int = 3) -> str:
    """A number for the page: ``digits`` decimals, integers as integers, missing as ''."""
    if value is None or value is pd.NA:
        return ""
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        v = float(value)
        if math.isnan(v):
            return ""
        if math.isinf(v):
            return "∞" if v > 0 else "-∞"
        return f"{v:.{digits}f}"
    return str(value)


def fmt_p(p: Any) -> str:
    """A p-value: '<0.001' below 0.001, else 3 decimals."""
    if p is None or (isinstance(p, float | np.floating) and math.isnan(float(p))):
        return ""
    try:
        v = float(p)
    except (TypeError, ValueError):
        return str(p)
    return "<0.001" if v < 0.001 else f"{v:.3f}"


# ------------------------------------------------------------------------------------------
# the analysed patients and their apparent predictions
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AnalysisSet:
    """The analysed patients of a run with their outcome and apparent predictions.

    ``p_points`` is the point score's probability and ``p_continuous`` the continuous
    reference model's; missing inputs are filled by the model's prediction imputer, as in the
    bootstrap validation.  ``total`` is the point total with the same imputation.
    """

    data: pd.DataFrame
    y: np.ndarray
    total: np.ndarray
    p_points: np.ndarray
    p_continuous: np.ndarray
    prior_outcome: np.ndarray  # True where severe CRS began before the landmark


def analysis_set(run: Any) -> AnalysisSet:
    lt = run.landmark
    data = lt.data[lt.data["severe_crs"].notna()].reset_index(drop=True)
    y = data["severe_crs"].to_numpy(dtype=np.int_)
    m = run.model
    total = np.asarray(m.total(data, impute=True), dtype=np.float64)
    p_points = np.asarray(m.predict_proba(data, impute=True), dtype=np.float64)
    p_cont = np.asarray(expit(m.predict_lp_continuous(data, impute=True)), dtype=np.float64)
    prior = np.zeros(len(data), dtype=bool)
    onset = run.outcomes.frame.set_index("patient_id")["crs_severe_onset_day"]
    if "outcome_before_landmark" in data.columns:
        prior = data["outcome_before_landmark"].fillna(False).to_numpy(dtype=bool)
    elif "patient_id" in data.columns:
        od = pd.to_numeric(data["patient_id"].map(onset), errors="coerce").to_numpy(dtype=np.float64)
        prior = np.asarray(~np.isnan(od) & (od < float(lt.landmark_day)), dtype=bool)
    return AnalysisSet(data, y, total, p_points, p_cont, prior)


# ------------------------------------------------------------------------------------------
# flow, missingness, outcome
# ------------------------------------------------------------------------------------------
_REASON_TEXT = {
    "no_outcome": "no outcome information",
    "outcome_before_landmark": "severe CRS began before the landmark",
    "onset_unknown": "severe CRS with no onset day",
    "died_before_landmark": "died before the landmark",
}


def flow_table(run: Any) -> pd.DataFrame:
    """Cohort flow: patients in the cohort -> with an outcome -> excluded (by reason) ->
    analysed.  Exclusions come from the landmark table (``excluded`` with reason codes)."""
    lt = run.landmark
    oc = run.outcomes.frame
    n_cohort = int(run.n_patients_cohort)
    reasons: dict[str, int] = dict(lt.reasons()) if hasattr(lt, "reasons") else {}
    graded = int(oc["severe_crs"].notna().sum())
    no_outcome = reasons.pop("no_outcome", n_cohort - graded)
    with_outcome = n_cohort - no_outcome
    if "outcome_before_landmark" not in reasons and lt.policy == "exclude":
        reasons["outcome_before_landmark"] = int(lt.n_prior_outcome)
    reasons.setdefault("outcome_before_landmark", 0)
    rows: list[dict[str, Any]] = [
        {"step": "patients in cohort", "n": n_cohort, "note": "one row per infusion"},
        {"step": "excluded: no outcome information", "n": no_outcome,
         "note": "CRS grade not derivable or recorded"},
        {"step": "with an outcome", "n": with_outcome,
         "note": f"{int(oc['severe_crs'].fillna(0).sum())} with severe CRS at any time"},
    ]
    order = ["outcome_before_landmark", "onset_unknown", "died_before_landmark"]
    for code in [*order, *sorted(set(reasons) - set(order))]:
        if code not in reasons:
            continue
        note = f"landmark day {float(lt.landmark_day):g}, policy '{lt.policy}'"
        if code == "outcome_before_landmark" and lt.policy == "keep":
            note += f"; {int(lt.n_prior_outcome)} such patients kept and flagged"
        rows.append({"step": f"excluded: {_REASON_TEXT.get(code, code)}", "n": int(reasons[code]),
                     "note": note})
    other = with_outcome - sum(int(v) for v in reasons.values()) - int(run.n_analysed)
    if other != 0:
        rows.append({"step": "excluded: other reasons", "n": other,
                     "note": "not in the analysed landmark table"})
    rows.append({"step": "analysed", "n": int(run.n_analysed),
                 "note": (f"{int(run.events)} with severe CRS (ASTCT grade >= 3) after the landmark"
                          if lt.policy == "exclude" else
                          f"{int(run.events)} with severe CRS (ASTCT grade >= 3), "
                          f"{int(lt.n_prior_outcome)} of them with onset before the landmark")})
    out = pd.DataFrame(rows)
    out.insert(2, "events", [math.nan] * (len(out) - 1) + [int(run.events)])
    return out


def missingness_table(run: Any) -> pd.DataFrame:
    """Missing values per candidate among the analysed patients."""
    aset_data = run.landmark.data[run.landmark.data["severe_crs"].notna()]
    n = len(aset_data)
    rows = []
    for c in run.model.candidates_:
        col = aset_data[c.name] if c.name in aset_data.columns else pd.Series([np.nan] * n)
        miss = int(pd.to_numeric(col, errors="coerce").isna().sum())
        rows.append({"variable": c.name, "label": c.label, "unit": c.unit or "",
                     "source": c.source, "transform": c.transform, "n": n, "missing": miss,
                     "missing %": 100.0 * miss / n if n else math.nan,
                     "selected": c.name in run.model.selected_})
    return pd.DataFrame(rows)


def outcome_grade_table(run: Any) -> pd.DataFrame:
    """Maximum CRS grade per patient (cohort patients with an outcome and the analysed)."""
    oc = run.outcomes.frame
    analysed_ids = set(run.landmark.data.loc[run.landmark.data["severe_crs"].notna(), "patient_id"])
    g_all = oc["crs_max_grade"]
    g_an = oc.loc[oc["patient_id"].isin(analysed_ids), "crs_max_grade"]
    rows = []
    for g in range(6):
        rows.append({"max CRS grade": str(g), "cohort n": int((g_all == g).sum()),
                     "cohort %": 100.0 * float((g_all == g).sum()) / max(1, len(g_all)),
                     "analysed n": int((g_an == g).sum()),
                     "analysed %": 100.0 * float((g_an == g).sum()) / max(1, len(g_an))})
    rows.append({"max CRS grade": "not gradable", "cohort n": int(g_all.isna().sum()),
                 "cohort %": 100.0 * float(g_all.isna().sum()) / max(1, len(g_all)),
                 "analysed n": int(g_an.isna().sum()),
                 "analysed %": 100.0 * float(g_an.isna().sum()) / max(1, len(g_an))})
    return pd.DataFrame(rows)


def onset_table(run: Any) -> pd.DataFrame:
    """Onset day (days since infusion) of any CRS by maximum grade, and of severe CRS."""
    oc = run.outcomes.frame
    rows = []

    def row(label: str, s: pd.Series) -> dict[str, Any]:
        v = pd.to_numeric(s, errors="coerce").dropna().to_numpy(dtype=np.float64)
        if v.size == 0:
            return {"onset of": label, "n": 0, "median": math.nan, "Q1": math.nan,
                    "Q3": math.nan, "min": math.nan, "max": math.nan}
        q1, med, q3 = np.quantile(v, [0.25, 0.5, 0.75])
        return {"onset of": label, "n": int(v.size), "median": float(med), "Q1": float(q1),
                "Q3": float(q3), "min": float(v.min()), "max": float(v.max())}

    for g in range(1, 6):
        sel = oc["crs_max_grade"] == g
        if sel.any():
            rows.append(row(f"any CRS, max grade {g}", oc.loc[sel, "crs_onset_day"]))
    rows.append(row("severe CRS (grade >= 3)", oc["crs_severe_onset_day"]))
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------
# models
# ------------------------------------------------------------------------------------------
def univariable_report_table(run: Any) -> pd.DataFrame:
    uni = run.univariable
    keep = [c for c in uni.columns if c in ("variable", "transform", "n", "n_missing", "events",
                                             "OR", "p", "p_lr", "AUC", "note")
            or c.startswith("OR lower") or c.startswith("OR upper")]
    out: pd.DataFrame = uni[keep].copy()
    return out


def multivariable_table(run: Any) -> pd.DataFrame | None:
    """The continuous reference model's coefficients (None for a score learned directly)."""
    tab: pd.DataFrame | None = run.model.coefficients()
    return tab


def score_sheet_table(run: Any) -> pd.DataFrame:
    sheet: pd.DataFrame = run.model.score_sheet()
    return sheet.drop(columns=["log_odds_vs_reference"])


def risk_table(run: Any) -> pd.DataFrame:
    tab: pd.DataFrame = run.model.risk_table().copy()
    tab["probability %"] = 100.0 * tab["probability"]
    return tab


def risk_group_table(run: Any) -> pd.DataFrame:
    out: pd.DataFrame = run.model.risk_group_frame().rename(columns={
        "name": "group", "min_total": "points from", "max_total": "points to",
        "rate": "observed rate", "ci_low": "95% CI low", "ci_high": "95% CI high"})
    return out


def validation_table(run: Any) -> pd.DataFrame | None:
    if run.validation is None:
        return None
    tab: pd.DataFrame = run.validation.summary().reset_index()
    return tab.rename(columns={tab.columns[0]: "index"})


def calibration_table(cal: Any) -> pd.DataFrame:
    tab: pd.DataFrame = cal.to_frame().reset_index()
    return tab


def comparison_table(comparison: Any, *, derived_id: str | None = None,
                     corrected_auc: float | None = None,
                     bootstrap_B: int | None = None) -> pd.DataFrame | None:
    """The head-to-head table; the derived score (fitted on these patients) is labelled
    apparent, with its optimism-corrected AUC beside the others' AUC."""
    if comparison is None:
        return None
    tab: pd.DataFrame = comparison.to_frame()
    fitted_here = (tab["verification"] == "refit").to_numpy()  # refitted in this comparison
    if derived_id is not None:
        is_derived = (tab["card_id"] == derived_id).to_numpy()
        tab.loc[is_derived, "score"] = "Derived score (this report)"
        fitted_here = fitted_here | is_derived
    tab.insert(list(tab.columns).index("AUC"), "AUC is", np.where(
        fitted_here, "apparent (fitted on these patients)", "external (not fitted here)"))
    col = "AUC optimism-corrected" + (f" (bootstrap B={bootstrap_B})" if bootstrap_B else "")
    tab.insert(list(tab.columns).index("AUC 97.5%") + 1, col, np.nan)
    if derived_id is not None and corrected_auc is not None:
        tab.loc[tab["card_id"] == derived_id, col] = corrected_auc
    return tab


def comparison_caveat(comparison: Any, *, derived_id: str | None,
                      corrected_auc: float | None) -> str:
    """The optimism caveat of a head-to-head comparison on the derivation data ("" if none)."""
    if comparison is None or derived_id is None:
        return ""
    ev = next((e for e in comparison.evaluations if e.card_id == derived_id), None)
    if ev is None:
        return ""
    refits = [e.name for e in comparison.evaluations
              if e.verification == "refit" and e.card_id != derived_id]
    text = (f"The derived score was fitted on these same patients: its AUC here ({ev.auc:.3f}) is "
            "apparent and optimistic, while the published scores were fitted elsewhere, so the "
            "head-to-head comparison favours the derived score")
    if corrected_auc is not None:
        text += (f"; its optimism-corrected AUC ({corrected_auc:.3f}, bootstrap of the whole "
                 "pipeline) is the fairer figure beside theirs")
    else:
        text += "; no bootstrap was run, so no optimism-corrected AUC is available"
    if refits:
        text += (f". The refits ({', '.join(refits)}) were also fitted on these patients and "
                 "are equally optimistic")
    text += (". The paired DeLong tests compare apparent AUCs and do not correct for this; "
             "only an external validation compares them fairly.")
    return text


def decision_table(dc: Any, thresholds: Sequence[float] = (0.05, 0.10, 0.15, 0.20, 0.30)) -> pd.DataFrame:
    """Net benefit at a few thresholds, one column per strategy (the full curve is a CSV)."""
    f = dc.to_frame()
    f = f[np.isclose(f["threshold"].to_numpy()[:, None], np.asarray(thresholds)[None, :]).any(axis=1)]
    wide = f.pivot_table(index="threshold", columns="label", values="net_benefit", sort=False)
    out: pd.DataFrame = wide.reset_index()
    out.columns.name = None
    return out


def subgroup_table(aset: AnalysisSet, by: Sequence[str] = ("centre", "sex")) -> pd.DataFrame | None:
    """Apparent AUC of the point score (DeLong 95% CI) within each level of ``by`` columns
    that have at least two levels; None when there is nothing to split."""
    from crsscore.validation.discrimination import auc

    rows = []
    for col in by:
        if col not in aset.data.columns:
            continue
        levels = aset.data[col].dropna().unique()
        if len(levels) < 2:
            continue
        for lev in sorted(levels, key=str):
            sel = (aset.data[col] == lev).to_numpy(dtype=bool) & ~np.isnan(aset.total)
            yy, ss = aset.y[sel], aset.total[sel]
            row: dict[str, Any] = {"subgroup": col, "level": str(lev), "n": int(sel.sum()),
                                   "events": int(yy.sum()), "AUC": math.nan, "AUC 2.5%": math.nan,
                                   "AUC 97.5%": math.nan, "note": ""}
            if 0 < yy.sum() < yy.size:
                r = auc(yy, ss)
                row.update({"AUC": r.auc, "AUC 2.5%": r.ci_low, "AUC 97.5%": r.ci_high})
            else:
                row["note"] = "AUC undefined: one outcome class"
            rows.append(row)
    return pd.DataFrame(rows) if rows else None


def sample_size_table(run: Any) -> pd.DataFrame | None:
    """Riley's criteria at the cohort's prevalence (pmsampsize layout)."""
    from crsscore.validation.samplesize import DEFAULT_C_STATISTIC, sample_size

    ss = run.sample_size
    if ss.events <= 0 or ss.events >= ss.n:
        return None
    try:
        res = sample_size(ss.events / ss.n, ss.n_parameters, c_statistic=DEFAULT_C_STATISTIC)
    except ValueError:
        return None
    tab: pd.DataFrame = res.to_frame().reset_index()
    return tab


# ------------------------------------------------------------------------------------------
# limitations and TRIPOD+AI
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Limitation:
    code: str
    text: str


def limitations(run: Any, *, aset: AnalysisSet | None = None, comparison: Any = None,
                boot_cal: Any = None, auc_ci: tuple[float, float] | None = None) -> list[Limitation]:
    """Limitations raised from the numbers (never fixed text): events, EPV, sample size,
    calibration slope, CI width, landmark after onset, synthetic data, failed resamples,
    missing data, categorisation."""
    out: list[Limitation] = []
    n_cand = len(run.model.candidates_)
    epv = run.events / max(1, n_cand)
    if run.events < 100 or epv < 10:
        out.append(Limitation("few-events", (
            f"Only {run.events} events among {run.n_analysed} analysed patients for {n_cand} "
            f"candidate predictors ({epv:.1f} events per candidate); estimates are unstable "
            "and apparent performance is optimistic.")))
    if not run.sample_size.ok:
        out.append(Limitation("sample-size", run.sample_size.message))
    v = run.validation
    if v is not None:
        tab = v.to_frame()
        slope = float(tab.loc["Slope", "index.corrected"])
        if slope < 0.9:
            out.append(Limitation("calibration-slope", (
                f"The optimism-corrected calibration slope is {slope:.3f} (< 0.9): predictions "
                "are too extreme for new patients and should be shrunk.")))
        elif slope > 1.1:
            out.append(Limitation("calibration-slope", (
                f"The optimism-corrected calibration slope is {slope:.3f} (> 1.1): predictions "
                "look too moderate, or, with few events, the slope itself is unstable.")))
        if v.n_failed > 0:
            out.append(Limitation("failed-resamples", (
                f"{v.n_failed} of {v.B} bootstrap resamples failed to fit and were left out "
                "of the optimism estimate.")))
        auc_o = float(tab.loc["AUC", "index.orig"])
        auc_c = float(tab.loc["AUC", "index.corrected"])
        if auc_o - auc_c >= 0.05:
            out.append(Limitation("optimism", (
                f"Bootstrap validation: the pipeline's apparent AUC (index.orig) {auc_o:.3f} falls "
                f"to {auc_c:.3f} after optimism correction.")))
    else:
        out.append(Limitation("no-internal-validation", (
            "No bootstrap internal validation was run (B = 0): only apparent performance is "
            "shown, which is optimistic (PROBAST).")))
    if auc_ci is not None and all(math.isfinite(x) for x in auc_ci) and auc_ci[1] - auc_ci[0] > 0.2:
        out.append(Limitation("wide-ci", (
            f"The 95% CI of the point score's AUC is wide ({auc_ci[0]:.3f} to {auc_ci[1]:.3f}, "
            f"width {auc_ci[1] - auc_ci[0]:.3f}).")))
    if run.model.risk_groups_:
        wide = [g for g in run.model.risk_groups_
                if math.isfinite(g.ci_high) and math.isfinite(g.ci_low) and g.ci_high - g.ci_low > 0.3]
        if wide:
            out.append(Limitation("wide-ci-groups", (
                "Observed rates of risk group(s) " + ", ".join(f"'{g.name}'" for g in wide)
                + " have 95% CIs wider than 30 percentage points.")))
    lt = run.landmark
    if int(lt.n_prior_outcome) > 0:
        if lt.policy == "exclude":
            out.append(Limitation("landmark-after-onset", (
                f"{int(lt.n_prior_outcome)} patients had severe CRS before the landmark "
                f"(day {float(lt.landmark_day):g}) and were excluded: the score does not apply "
                "to them, and the analysed cohort is selected.")))
        else:
            out.append(Limitation("landmark-after-onset", (
                f"{int(lt.n_prior_outcome)} analysed patients had severe CRS before the landmark "
                f"(day {float(lt.landmark_day):g}): for them the predictors are concurrent "
                "markers, not predictors.")))
    if aset is not None:
        miss_any = int(np.sum(pd.isna(aset.data[[c.name for c in run.model.candidates_
                                                 if c.name in aset.data.columns]]).any(axis=1)))
        if miss_any and run.settings.missing == "complete":
            out.append(Limitation("complete-case", (
                f"Complete-case analysis: {miss_any} patients with a missing predictor were "
                "dropped (PROBAST).")))
    out.append(Limitation("categorisation", (
        f"The bedside score shows {len(run.model.scored_)} "
        "continuous predictor(s) in bands, which loses information; the continuous reference "
        "model is reported beside it.")))
    for i, text in enumerate(run.model.limitations()):
        out.append(Limitation(f"points-{i + 1}", text))
    verdict = getattr(run.scorecard, "sample_size", None)
    if verdict is not None and verdict.override:
        out.append(Limitation("sample-size-floor", (
            f"The cohort is below crsscore's sample-size floor ({verdict.message}); the score was "
            "derived only because --allow-small-sample was given, and must not be used "
            "clinically without external validation.")))
    if run.synthetic:
        out.append(Limitation("synthetic", (
            "The data are SYNTHETIC (simulated): every number in this report describes "
            "simulated patients and none may be used clinically.")))
    if comparison is not None:
        unscored = [e for e in comparison.evaluations if e.n_scored < 0.8 * max(1, e.n_patients)]
        if unscored:
            out.append(Limitation("comparator-coverage", (
                "Comparator(s) scored on fewer than 80% of patients: "
                + ", ".join(f"{e.name} ({e.n_scored}/{e.n_patients})" for e in unscored) + ".")))
    if boot_cal is not None and math.isfinite(boot_cal.mean_abs_error) and boot_cal.mean_abs_error > 0.05:
        out.append(Limitation("calibration-error", (
            f"The bias-corrected mean absolute calibration error is {boot_cal.mean_abs_error:.3f}.")))
    return out


#: TRIPOD+AI (Collins et al., BMJ 2024;385:e078378): item, topic, where this report fills it
#: (a section anchor) or why software cannot.
TRIPOD_ITEMS: tuple[tuple[str, str, str | None, str], ...] = (
    ("1", "Title", None, "authors: name the study as development of a prediction model"),
    ("2", "Abstract", None, "authors"),
    ("3a", "Background: healthcare context and rationale", None, "authors"),
    ("3b", "Target population and intended use", "data", "population from the score card; use: authors"),
    ("3c", "Known health inequalities", None, "authors"),
    ("4", "Objectives", None, "authors"),
    ("5a", "Data sources", "data", "cohort source, synthetic flag and data hash"),
    ("5b", "Dates of data collection", "data", "infusion date range when recorded"),
    ("6a", "Setting and centres", "data", "centres from the patient table"),
    ("6b", "Eligibility criteria", "flow", "exclusions applied by software; clinical eligibility: authors"),
    ("6c", "Treatments received", "table1", "CAR-T product, bridging as recorded"),
    ("7", "Data preparation", "missing", "unit conversion and checks; window of the landmark"),
    ("8a", "Outcome definition and horizon", "outcome", ""),
    ("8b", "Outcome assessors", None, "authors (grading here is algorithmic: ASTCT 2019)"),
    ("8c", "Blinding of outcome assessment", None, "authors"),
    ("9a", "Choice of candidate predictors", "predictors", "list; rationale: authors"),
    ("9b", "Predictor definitions and timing", "predictors", ""),
    ("9c", "Predictor assessors", None, "authors"),
    ("10", "Sample size", "samplesize", ""),
    ("11", "Missing data", "missing", ""),
    ("12a", "How data were used (development / evaluation)", "methods", ""),
    ("12b", "Predictor handling (transforms, cut-points)", "methods", ""),
    ("12c", "Model type, building and internal validation", "methods", ""),
    ("12d", "Heterogeneity across clusters", None, "single-cohort analysis; per-centre results not computed"),
    ("12e", "Performance measures", "performance", ""),
    ("12f", "Model updating", None, "not part of a derivation report"),
    ("12g", "How predictions were calculated", "scoresheet", ""),
    ("13", "Class imbalance", "methods", "no resampling or reweighting is used"),
    ("14", "Fairness", None, "authors (subgroup performance not computed)"),
    ("15", "Model output", "scoresheet", ""),
    ("16", "Training versus evaluation data", "validation", "internal validation only"),
    ("17", "Ethical approval", None, "authors"),
    ("18a-f", "Funding, conflicts, protocol, registration, data and code sharing", "reproducibility",
     "software and data hash here; the rest: authors"),
    ("19", "Patient and public involvement", None, "authors"),
    ("20a", "Participant flow", "flow", ""),
    ("20b", "Participant characteristics (Table 1)", "table1", ""),
    ("20c", "Development vs evaluation data", None, "no separate evaluation cohort"),
    ("21", "Numbers in each analysis", "flow", "see also n in every table"),
    ("22", "Full model specification", "scoresheet", "score sheet, score-to-risk table, coefficients"),
    ("23a", "Performance with confidence intervals", "performance", ""),
    ("23b", "Performance in subgroups", None, "no subgroup with two or more levels"),
    ("24", "Model updating results", None, "not applicable"),
    ("25", "Interpretation", None, "authors"),
    ("26", "Limitations", "limitations", "raised automatically from the numbers; authors to complete"),
    ("27a-c", "Usability in current care", None, "authors"),
)


def tripod_table(*, subgroups: Sequence[str] = ()) -> pd.DataFrame:
    """Items, where the report fills them, and which it cannot; ``subgroups`` names the
    columns the report split performance by (item 23b, and 12d when ``centre`` is one)."""
    rows = []
    for item, topic, anchor, note in TRIPOD_ITEMS:
        if subgroups and item == "23b":
            anchor, note = "performance", "apparent AUC by " + ", ".join(subgroups)
        if "centre" in subgroups and item == "12d":
            anchor, note = "performance", "apparent AUC per centre (no model per centre)"
        rows.append({"item": item, "topic": topic, "section": anchor or "",
                     "filled": "yes" if anchor else "no (software cannot)", "note": note})
    return pd.DataFrame(rows)
