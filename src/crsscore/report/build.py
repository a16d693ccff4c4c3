"""Build the TRIPOD+AI report: one self-contained HTML file (and optionally a PDF).

:func:`build_report` assembles the tables (:mod:`crsscore.report.tables`) and figures
(:mod:`crsscore.report.figures`) of a derivation run and a head-to-head comparison, renders
``templates/report.html.j2`` with Jinja2 (autoescaped), embeds every figure as a base64 PNG
(the page loads nothing from anywhere), writes each table as CSV into
``<out_dir>/report_tables/`` and, on request, prints the page to PDF with headless Chromium.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crsscore import __version__
from crsscore._numeric import expit
from crsscore.errors import CrsscoreError
from crsscore.report import figures as F
from crsscore.report import tables as T

__all__ = ["CHROMIUM", "HtmlTable", "build_report", "pipeline_calibration", "render_pdf"]

#: Debian's Chromium, used for the PDF (never downloaded).
CHROMIUM = "/usr/bin/chromium"


# ------------------------------------------------------------------------------------------
# tables for the page
# ------------------------------------------------------------------------------------------
_P_COLUMNS = ("p", "p_lr", "P-Value")
_INT_LIKE = ("n", "events", "missing", "n_missing", "n scored", "n unscored", "points",
             "after tocilizumab", "total", "cohort n", "analysed n", "parameters", "points from",
             "points to")


@dataclass(frozen=True)
class HtmlTable:
    """A table for the page: raw frame (for CSV) and per-column formatting."""

    id: str
    caption: str
    frame: pd.DataFrame
    digits: dict[str, int] = field(default_factory=dict)
    note: str = ""
    display: pd.DataFrame | None = None  # what the page shows when not the whole frame

    @property
    def csv_name(self) -> str:
        return f"{self.id}.csv"

    @property
    def shown(self) -> pd.DataFrame:
        return self.frame if self.display is None else self.display

    @property
    def columns(self) -> list[str]:
        return [str(c) for c in self.shown.columns]

    def cell(self, col: str, value: Any) -> str:
        if col in _P_COLUMNS or col.startswith("p vs"):
            if isinstance(value, str):
                return value
            return T.fmt_p(value)
        if col in _INT_LIKE and isinstance(value, float | np.floating) and math.isfinite(float(value)) \
                and float(value).is_integer():
            return str(int(value))
        return T.fmt(value, self.digits.get(col, 1 if col.endswith(" %") else 3))

    @property
    def rows(self) -> list[list[str]]:
        cols = self.columns
        return [[self.cell(c, v) for c, v in zip(cols, row, strict=True)]
                for row in self.shown.itertuples(index=False, name=None)]

    @property
    def numeric(self) -> list[bool]:
        f = self.shown
        return [pd.api.types.is_numeric_dtype(f[c]) and not pd.api.types.is_bool_dtype(f[c])
                for c in f.columns]


def wide_risk_table(risk: pd.DataFrame, *, max_rows: int = 25) -> pd.DataFrame:
    """The score-to-risk table folded into side-by-side column pairs (total, risk %) so that a
    long points scale still prints on one page; every total is kept."""
    n = len(risk)
    k = max(1, -(-n // max_rows))
    rows = -(-n // k)
    parts = []
    for j in range(k):
        chunk = risk.iloc[j * rows:(j + 1) * rows].reset_index(drop=True)
        parts.append(pd.DataFrame({
            f"total ({j + 1})" if k > 1 else "total": chunk["total"].astype("Int64"),
            f"risk % ({j + 1})" if k > 1 else "risk %": 100.0 * chunk["probability"]}))
    return pd.concat(parts, axis=1)


def _opt(id: str, caption: str, frame: pd.DataFrame | None, **kw: Any) -> HtmlTable | None:
    return None if frame is None else HtmlTable(id, caption, frame, **kw)


# ------------------------------------------------------------------------------------------
# bias-corrected calibration of the whole pipeline
# ------------------------------------------------------------------------------------------
def pipeline_calibration(run: Any, *, B: int, seed: int | None = None) -> Any:
    """The bias-corrected calibration (rms ``calibrate``) of the run's whole pipeline, as
    recorded by its one validation bootstrap (:func:`crsscore.workflow.pipeline_curves`):
    no resample is drawn or refitted here.  ``B`` and ``seed`` must be the validation's (the
    curve shown is the procedure reported).  Raises ``ModelError``
    with the reason when the run could not form the curve."""
    from crsscore.errors import ModelError

    v = run.validation
    if v is None:
        raise ModelError("the run has no bootstrap validation (B = 0): no bias-corrected "
                         "calibration curve")
    if int(B) != int(v.B) or (seed is not None and seed != v.seed):
        raise ModelError(f"the run was validated with B = {v.B}, seed {v.seed}; the report shows "
                         "that bootstrap's calibration (derive again for other resamples)")
    if run.calibration is None:
        raise ModelError(run.calibration_failure or "no calibration curve was recorded")
    return run.calibration


# ------------------------------------------------------------------------------------------
# reproducibility
# ------------------------------------------------------------------------------------------
def _git_hash() -> str | None:
    here = Path(__file__).resolve().parent
    git = shutil.which("git")
    if git is None:
        return None
    try:
        res = subprocess.run([git, "rev-parse", "--short=12", "HEAD"], cwd=here, capture_output=True,
                             text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    out = res.stdout.strip()
    return out if res.returncode == 0 and out else None


# ------------------------------------------------------------------------------------------
def _data_section(cohort: Any, run: Any) -> list[tuple[str, str]]:
    pat = cohort.patients
    items: list[tuple[str, str]] = [
        ("Source", str(getattr(cohort, "source", "") or "not recorded")),
        ("Synthetic (simulated) data", "YES: not real patients" if run.synthetic else "no"),
        ("Patients in cohort", str(run.n_patients_cohort)),
        ("Data hash (SHA-256 of the canonical tables)", run.data_hash),
    ]
    if "centre" in pat.columns:
        centres = sorted(str(c) for c in pat["centre"].dropna().unique())
        items.append(("Centres", f"{len(centres)}: {', '.join(centres[:10])}"
                      + (" ..." if len(centres) > 10 else "")))
    if "infusion_date" in pat.columns:
        d = pd.to_datetime(pat["infusion_date"], errors="coerce").dropna()
        if len(d):
            items.append(("Infusion dates", f"{d.min().date()} to {d.max().date()}"))
    card = run.scorecard
    items.append(("Population", str(card.population)))
    return items


def _methods(run: Any, boot_cal: Any) -> list[str]:
    m, s = run.model, run.settings
    h = m.headline()
    lt = run.landmark
    out = [
        f"Outcome: severe CRS (ASTCT 2019 grade >= 3) graded by crsscore from the recorded data "
        f"(system '{run.outcomes.system}'); grade sources: "
        + ", ".join(f"{k} {v}" for k, v in run.outcomes.source_counts.items()) + ".",
        f"Landmark: day {float(lt.landmark_day):g} after infusion; patients with severe CRS before "
        f"the landmark: {int(lt.n_prior_outcome)} (policy '{lt.policy}').",
        f"Candidates ({len(m.candidates_)}): " + ", ".join(
            f"{c.name} ({c.transform}{'' if c.floor is None else f', floor {c.floor:g}'})"
            for c in m.candidates_) + ".",
        f"Missing data: {s.missing}" + (f" (chained equations, m = {m.m_})" if s.missing == "mice" else "")
        + ".",
        f"Fitting: {m.method_reason_}.",
        f"Selection: {s.select}" + (f" by {s.rule.upper()}" if s.select == "backward" else "")
        + f"; kept: {', '.join(m.selected_)}.",
        (f"Points: Sullivan's method from the continuous model (constant "
         f"{h['points_constant']:.4f} log-odds per point, total 0 to {h['max_total']}, bound "
         f"{s.max_points}; bands '{s.cutpoints}'); total points mapped to risk by logistic "
         f"regression, slope shrunk by the heuristic factor {h['shrinkage']:.3f} (intercept "
         f"{h['prob_intercept']:.4f}, slope {h['prob_slope']:.4f}); AUC lost to the points "
         f"{h['auc_loss_points']:.3f} (apparent)."
         if h["shrinkage"] is not None else
         f"Points learned directly as integers; total mapped to risk by logistic regression "
         f"(intercept {h['prob_intercept']:.4f}, slope {h['prob_slope']:.4f})."),
    ]
    v = run.validation
    if v is not None:
        out.append(f"Internal validation: Harrell's bootstrap of the whole pipeline (imputation, "
                   f"selection, cut-points and points redone in every resample), B = {v.B}, "
                   f"{'stratified by outcome, ' if v.stratified else ''}seed {v.seed}; "
                   f"{v.n_failed} resample(s) failed.")
    if boot_cal is not None:
        out.append(f"Bias-corrected calibration: rms calibrate-style, from the resamples and "
                   f"pipeline refits of the internal validation (B = {boot_cal.B}, "
                   f"seed {boot_cal.seed}), lowess span {boot_cal.frac:.3g}; "
                   f"{boot_cal.n_failed} resample(s) failed.")
    out.append("No resampling or reweighting for class imbalance: probabilities keep the "
               "cohort's prevalence.")
    out.extend(f"Note: {n}" for n in m.notes_ if not n.startswith(("method:", "selection:")))
    return out


def _predictors(run: Any) -> pd.DataFrame:
    lt = run.landmark
    earliest, latest = getattr(lt, "earliest", None), getattr(lt, "latest", None)
    rows = []
    for c in run.model.candidates_:
        timing = ("recorded before infusion (patient table)" if c.source == "patient"
                  else f"value nearest to day {float(lt.landmark_day):g}"
                  + (f", measured from day {float(earliest):g} to {float(latest):g}"
                     if earliest is not None and latest is not None else ""))
        rows.append({"variable": c.name, "label": c.label, "unit": c.unit or "",
                     "LOINC": c.loinc or "", "timing": timing,
                     "transform": c.transform + ("" if c.floor is None else f" (floor {c.floor:g})"),
                     "selected": c.name in run.model.selected_})
    return pd.DataFrame(rows)


def build_report(cohort: Any, out_path: str | Path, *, run: Any, comparison: Any = None,
                 pdf: bool = False, bias_corrected_calibration: Any = None,
                 dynamic: Any = None) -> Path:
    """Write the TRIPOD+AI report of ``run`` (and ``comparison``) to ``out_path``.

    Parameters
    ----------
    cohort : the :class:`~crsscore.data.cohort.Cohort` the run was derived on.
    out_path : the HTML file to write; tables go to ``<its folder>/report_tables/*.csv``.
    run : a :class:`crsscore.workflow.DerivationRun`.
    comparison : a :class:`crsscore.validation.compare.Comparison` (optional).
    pdf : also print the page to ``<out_path>.pdf`` with headless Chromium.
    bias_corrected_calibration : a :class:`~crsscore.validation.calibration_curve.BootstrapCalibration`
        to show; ``None`` shows the one the run's validation bootstrap recorded (same
        resamples as the optimism-corrected indexes); ``False`` leaves it out.
    dynamic : a :class:`crsscore.validation.dynamic.DynamicReport` (optional): adds the
        dynamic-model section (trajectories, AUC by horizon and day, calibration, replay).

    Returns the path of the HTML file.
    """
    from crsscore.atomicio import ensure_folder, write_csv, write_text

    out = Path(out_path)
    ensure_folder(out.parent)
    boot_cal = bias_corrected_calibration
    cal_failure: str | None = None
    if boot_cal is None and run.validation is not None:
        try:
            boot_cal = pipeline_calibration(run, B=int(run.validation.B), seed=run.validation.seed)
        except CrsscoreError as exc:  # the report is still worth writing; say why it is missing
            boot_cal, cal_failure = None, str(exc)
    if boot_cal is False:
        boot_cal = None

    ctx = report_context(cohort, run=run, comparison=comparison, boot_cal=boot_cal,
                         calibration_failure=cal_failure)
    tables_dir = out.parent / "report_tables"
    ensure_folder(tables_dir)
    for tab in ctx["all_tables"]:
        write_csv(tables_dir / tab.csv_name, tab.frame)
    ctx["tables_dir"] = tables_dir.name
    html = render_html(ctx)
    if dynamic is not None:  # optional section before the limitations (issue 16)
        html = html.replace('<section id="limitations">',
                            render_dynamic_section(dynamic) + '<section id="limitations">', 1)
    write_text(out, html)
    if pdf:
        render_pdf(out, out.with_suffix(".pdf"))
    return out


def render_html(ctx: dict[str, Any]) -> str:
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(loader=PackageLoader("crsscore.report", "templates"),
                      autoescape=select_autoescape(["html", "j2", "html.j2"], default=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return env.get_template("report.html.j2").render(**ctx)


def render_dynamic_section(dynamic: Any) -> str:
    """HTML of the dynamic-model section (``templates/_dynamic.html.j2``)."""
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(loader=PackageLoader("crsscore.report", "templates"),
                      autoescape=select_autoescape(["html", "j2", "html.j2"], default=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return env.get_template("_dynamic.html.j2").render(d=dynamic.context())


def _exclusion_tables(cohort: Any) -> dict[str, HtmlTable | None]:
    """Data quality: every row or cell the loader left out, and implausible values per analyte
    (``--implausible exclude``), as listed by ``crsscore check``."""
    excl = getattr(cohort, "exclusions", None)
    if excl is None or len(excl) == 0:
        return {"excluded": None, "excluded_counts": None}
    frame = excl[["table", "row", "column", "value", "reason", "analyte"]].copy()
    frame["analyte"] = frame["analyte"].fillna("")
    counts = (frame.assign(analyte=frame["analyte"].replace("", "(row)"))
              .groupby(["reason", "analyte"], sort=True).size().rename("n").reset_index())
    return {
        "excluded_counts": HtmlTable("excluded_counts", "Values and rows left out while loading, "
                                     "per reason and analyte", counts),
        "excluded": HtmlTable("excluded", f"Every value or row left out while loading "
                              f"({len(frame)}): table and file, row as in the file, column, the "
                              "cell as written and the reason", frame),
    }


def report_context(cohort: Any, *, run: Any, comparison: Any = None, boot_cal: Any = None,
                   calibration_failure: str | None = None) -> dict[str, Any]:
    """Everything the template shows: tables, figures, text; all computed from the results."""
    from crsscore.validation.calibration import calibration
    from crsscore.validation.decision import decision_curve
    from crsscore.validation.discrimination import auc

    aset = T.analysis_set(run)
    m = run.model
    lt = run.landmark

    # discrimination on the analysed patients (apparent)
    a_pts = auc(aset.y, aset.total)
    a_cont = auc(aset.y, aset.p_continuous)
    disc_rows = [
        {"score": "Derived point score (apparent)", "n": a_pts.n, "events": a_pts.events,
         "AUC": a_pts.auc, "AUC 2.5%": a_pts.ci_low, "AUC 97.5%": a_pts.ci_high, "method": "DeLong"},
        {"score": "Continuous reference model (apparent)", "n": a_cont.n, "events": a_cont.events,
         "AUC": a_cont.auc, "AUC 2.5%": a_cont.ci_low, "AUC 97.5%": a_cont.ci_high, "method": "DeLong"},
    ]
    if run.validation is not None:
        vt = run.validation.to_frame()
        disc_rows.append({"score": "Derived point score (optimism-corrected)", "n": run.validation.n,
                          "events": run.validation.events, "AUC": float(vt.loc["AUC", "index.corrected"]),
                          "AUC 2.5%": math.nan, "AUC 97.5%": math.nan,
                          "method": f"bootstrap B={run.validation.B}"})
    disc = pd.DataFrame(disc_rows)

    cal = calibration(aset.y, np.clip(aset.p_points, 1e-9, 1 - 1e-9), hl_groups=None)
    dc = decision_curve(aset.y, {"points": aset.p_points, "continuous": aset.p_continuous},
                        labels={"points": "Point score", "continuous": "Continuous model"})

    # figures
    deriv_series = [
        F.RocSeries("Point score", aset.y, aset.total, a_pts.auc, a_pts.ci),
        F.RocSeries("Continuous model", aset.y, aset.p_continuous, a_cont.auc, a_cont.ci),
    ]
    comp_series: list[F.RocSeries] = []
    if comparison is not None:
        for e in comparison.evaluations:
            sc = e.scores
            if sc is None or sc.empty:
                continue
            # the marker the AUC was computed on: the total, or a yes/no rule's yes/no call
            col = "marker" if "marker" in sc.columns else "total"
            ok = sc[col].notna() & sc["y"].notna()
            yy = sc.loc[ok, "y"].to_numpy(dtype=np.int_)
            if len(yy) < 3 or not 0 < yy.sum() < len(yy):
                continue
            label = ("Derived score (this report, apparent)" if e.card_id == run.scorecard.id
                     else e.name + (" (yes/no)" if e.binary else "")
                     + (f" [at {e.evaluated_at}: DEVIATION]" if e.deviation else ""))
            comp_series.append(F.RocSeries(label, yy, sc.loc[ok, col].to_numpy(dtype=np.float64),
                                           e.auc, e.auc_ci))

    def model_prob(t: np.ndarray) -> np.ndarray:
        return expit(m.prob_intercept_ + m.prob_slope_ * t)

    figs = {
        "onset": F.onset_figure(run.outcomes.frame, float(lt.landmark_day)),
        "roc": F.roc_figure(deriv_series, comp_series, band=run.roc_band),
        "calibration": F.calibration_figure(aset.y, aset.p_points, boot_cal=boot_cal,
                                            groups=m.risk_groups_, totals=aset.total,
                                            model_prob=model_prob),
        "decision": F.decision_figure(dc),
        "points": F.points_chart(m.score_sheet(), m.prob_intercept_, m.prob_slope_),
    }

    corrected = (float(run.validation.to_frame().loc["AUC", "index.corrected"])
                 if run.validation is not None else None)
    comp_tab = T.comparison_table(comparison, derived_id=run.scorecard.id,
                                  corrected_auc=corrected,
                                  bootstrap_B=run.validation.B if run.validation is not None else None)
    comp_notes: list[tuple[str, str]] = []
    if comp_tab is not None:
        comp_notes = [(str(r["score"]), str(r["note"])) for r in comp_tab.to_dict(orient="records")
                      if str(r.get("note", "") or "")]
    comp_caveat = T.comparison_caveat(comparison, derived_id=run.scorecard.id,
                                      corrected_auc=corrected)
    boot_display = None
    if boot_cal is not None:
        bf = boot_cal.to_frame()
        boot_display = bf.iloc[sorted({*range(0, len(bf), 5), len(bf) - 1})].reset_index(drop=True)
    val_tab = T.validation_table(run)
    sub_tab = T.subgroup_table(aset)
    wide_risk = wide_risk_table(m.risk_table())
    headline = m.headline()
    fit_name = (f"{'Firth' if headline['method'] == 'firth' else 'maximum likelihood'}, "
                f"m = {headline['imputations']}")
    tabs: dict[str, HtmlTable | None] = {
        "flow": HtmlTable("flow", "Cohort flow", T.flow_table(run)),
        "table1": HtmlTable("table1", f"Table 1: analysed patients by outcome (n = {run.table1.n})",
                            run.table1.to_frame()),
        "predictors": HtmlTable("predictors", "Candidate predictors: definition and timing",
                                _predictors(run)),
        "missing": HtmlTable("missing", "Missing values per candidate (analysed patients)",
                             T.missingness_table(run)),
        **_exclusion_tables(cohort),
        "grades": HtmlTable("grades", "Maximum CRS grade (ASTCT 2019)", T.outcome_grade_table(run)),
        "onset": HtmlTable("onset", "Onset day of CRS (days since infusion)", T.onset_table(run),
                           digits={"median": 1, "Q1": 1, "Q3": 1, "min": 1, "max": 1}),
        "univariable": HtmlTable("univariable", "Univariable logistic regression per candidate",
                                 T.univariable_report_table(run)),
        "multivariable": _opt("multivariable", "Multivariable continuous reference model on the "
                                   f"selected variables ({fit_name}; pooled by Rubin's rules; "
                                   "coefficients on the transformed scale)",
                                   T.multivariable_table(run), digits={"coef": 4, "se": 4}),
        "scoresheet": HtmlTable("scoresheet", "Score sheet: points per band", T.score_sheet_table(run)),
        "risktable": HtmlTable("risktable", "Total points -> probability of severe CRS (%)",
                               T.risk_table(run), display=wide_risk,
                               digits={c: 1 for c in wide_risk.columns if c.startswith("risk %")}),
        "riskgroups": HtmlTable("riskgroups",
                                f"Risk groups with observed rates (n = {m.risk_group_n_} with every "
                                "input measured; Wilson 95% CI)", T.risk_group_table(run)),
        "discrimination": HtmlTable("discrimination", "Discrimination on the analysed patients", disc,
                                    note="apparent rows: the reported model, missing inputs filled "
                                    "by its imputer; the optimism-corrected row starts from the "
                                    "pipeline refitted exactly as reported (index.orig in section 16)"),
        "comparison": _opt("comparison", "Head-to-head comparison ("
                           + ("each score at its own timepoint" if comparison is None
                              or not comparison.deviations else
                              "each score at its own timepoint except those marked DEVIATION")
                           + "; paired DeLong test against the reference; the derived score's "
                           "AUC is apparent: see the optimism-corrected column)", comp_tab,
                           display=None if comp_tab is None else comp_tab.drop(columns=["note"]),
                           note="notes per score below the table"),
        "calibration": HtmlTable("calibration", "Apparent calibration and overall performance of "
                                 "the point score's probability", T.calibration_table(cal)),
        "biascal": _opt("biascal", "Bias-corrected calibration (rms calibrate layout; every 5th "
                        "grid point shown, all in the CSV)",
                        None if boot_cal is None else boot_cal.to_frame(), display=boot_display,
                        digits={"predy": 4, "calibrated.orig": 4, "calibrated.corrected": 4,
                                "optimism": 4}),
        "decision": HtmlTable("decision", "Net benefit at selected thresholds", T.decision_table(dc),
                              digits={"threshold": 2, "Point score": 4, "Continuous model": 4,
                                      "Treat All": 4, "Treat None": 4}),
        "validation": _opt("validation", "Optimism-corrected indexes (rms validate layout; MC se: "
                           "Monte Carlo standard error of the optimism)", val_tab,
                           digits={c: 4 for c in ("index.orig", "training", "test", "optimism",
                                                  "index.corrected", "MC se")}),
        "samplesize": _opt("samplesize", "Riley et al. (2020) minimum sample size at this prevalence",
                           T.sample_size_table(run)),
        "subgroups": _opt("subgroups", "Apparent discrimination of the point score by subgroup "
                          "(DeLong 95% CI)", sub_tab),
        "tripod": HtmlTable("tripod", "TRIPOD+AI items filled by this report",
                            T.tripod_table(subgroups=() if sub_tab is None
                                           else tuple(dict.fromkeys(sub_tab["subgroup"])))),
    }
    lims = T.limitations(run, aset=aset, comparison=comparison, boot_cal=boot_cal, auc_ci=a_pts.ci)
    if calibration_failure is not None:
        lims.append(T.Limitation("calibration-bootstrap-failed", (
            "The bias-corrected calibration curve could not be computed: " + calibration_failure)))
    tabs["limitations"] = HtmlTable("limitations", "Limitations raised from the numbers",
                                    pd.DataFrame([{"code": x.code, "limitation": x.text} for x in lims]))
    v = run.validation
    repro = [
        ("crsscore version", str(run.version)),
        ("Report built by crsscore", __version__),
        ("Git commit", _git_hash() or "not a git checkout"),
        ("Python", sys.version.split()[0]),
        ("Seed", str(run.seed)),
        ("Data hash", str(run.data_hash)),
        ("Bootstrap resamples (validation) B", str(v.B) if v is not None else "0 (not run)"),
        ("Bootstrap resamples (calibration) B", str(boot_cal.B) if boot_cal is not None else "0 (not run)"),
    ]
    all_tables = [t for t in tabs.values() if t is not None]
    all_tables.append(HtmlTable("decision_full", "Decision curve (all thresholds)", dc.to_frame()))
    return {
        "title": f"Severe CRS after anti-CD19 CAR-T: point score at day {float(lt.landmark_day):g}",
        "synthetic": bool(run.synthetic),
        "run": run,
        "n_cohort": run.n_patients_cohort,
        "n_analysed": run.n_analysed,
        "events": run.events,
        "landmark_day": float(lt.landmark_day),
        "data_items": _data_section(cohort, run),
        "methods": _methods(run, boot_cal),
        "sample_size_message": run.sample_size.message,
        "sample_size_ok": bool(run.sample_size.ok),
        "t": tabs,
        "fig": figs,
        "limitations": lims,
        "boot_cal": boot_cal,
        "calibration_failure": calibration_failure,
        "validation": v,
        "cal_summary": cal.summary(),
        "decision_summary": dc.summary(),
        "comparison": comparison,
        "comparison_notes": comp_notes,
        "comparison_caveat": comp_caveat,
        "repro": repro,
        "all_tables": all_tables,
        "selected": list(m.selected_),
        "auc_points": a_pts,
        "fmt": T.fmt,
    }


def render_pdf(html_path: str | Path, pdf_path: str | Path, *, chromium: str | None = None,
               timeout: float = 180.0) -> Path:
    """Print ``html_path`` to ``pdf_path`` with headless Chromium (Debian's /usr/bin/chromium)."""
    exe = chromium or (CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"))
    if exe is None or not Path(exe).exists():
        raise CrsscoreError(
            f"PDF output needs Chromium at {CHROMIUM} (Debian package 'chromium'); it was not "
            "found. Install it (apt-get install chromium) or omit --pdf; the HTML report is "
            "complete without it.")
    html = Path(html_path).resolve()
    pdf = Path(pdf_path).resolve()
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--no-pdf-header-footer",
           f"--print-to-pdf={pdf}", html.as_uri()]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise CrsscoreError(f"Chromium did not finish printing the PDF within {timeout:g} s") from None
    if res.returncode != 0 or not pdf.exists() or pdf.stat().st_size == 0:
        raise CrsscoreError(f"Chromium failed to print the PDF (exit {res.returncode}): "
                            f"{res.stderr.strip()[-400:]}")
    return pdf
