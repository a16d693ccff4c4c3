"""The TRIPOD+AI report: sections, numbers (checked against the result objects), files,
self-containment, escaping and the rendered page in headless Chromium."""

from __future__ import annotations

import base64
import copy
import math
import re
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from crsscore import __version__
from crsscore.report import tables as T
from crsscore.report.build import render_pdf
from headless import CHROMIUM, CHROMIUM_ARGS, needs_chromium
from report_html import parse

SECTIONS = ("data", "flow", "table1", "predictors", "missing", "outcome", "methods", "samplesize",
            "univariable", "multivariable", "scoresheet", "riskgroups", "performance",
            "calibration", "decision", "validation", "limitations", "tripod", "reproducibility")
FIGURES = ("fig-onset", "fig-points", "fig-roc", "fig-calibration", "fig-decision")


def f3(x: float) -> str:
    return f"{x:.3f}"


def f4(x: float) -> str:
    return f"{x:.4f}"


# ------------------------------------------------------------------------------------------
def test_every_section_figure_and_tripod_anchor_is_present(built: Any) -> None:
    p = parse(built.html)
    for sid in SECTIONS:
        assert sid in p.ids, sid
    for fid in FIGURES:
        assert fid in p.ids, fid
    anchors = {item[2] for item in T.TRIPOD_ITEMS if item[2]}
    assert anchors <= set(p.ids), anchors - set(p.ids)
    # every internal link resolves
    for href in p.links:
        assert href.startswith("#") and href[1:] in p.ids, href
    # items software cannot fill are said to be so
    rows = p.tables["tripod-links"]
    unfilled = [r for r in rows if r[2] == "not filled by software"]
    sub = T.subgroup_table(T.analysis_set(built.run))
    expected = T.tripod_table(subgroups=() if sub is None else tuple(dict.fromkeys(sub["subgroup"])))
    assert {r[0] for r in unfilled} == set(expected.loc[expected["section"] == "", "item"])
    assert built.run.synthetic and "synthetic-banner" in p.ids


def test_page_is_self_contained(built: Any) -> None:
    html = built.html
    p = parse(html)
    assert not {"script", "link", "iframe", "object", "embed"} & p.tags
    assert "@import" not in html and not re.search(r"url\(\s*['\"]?(https?:|//)", html)
    for tag, attrs in p.attrs_by_tag:
        for key in ("src", "href"):
            v = attrs.get(key)
            if v is not None:
                assert v.startswith(("data:image/png;base64,", "#")), (tag, key, v[:40])
    assert len(p.images) == len(FIGURES)
    for img in p.images:
        png = base64.b64decode(img["src"].split(",", 1)[1])
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
        assert img["alt"].strip()


def test_key_numbers_and_flow_match_the_run(built: Any) -> None:
    run, p = built.run, parse(built.html)
    lt = run.landmark
    assert p.ids["n-analysed"] == str(run.n_analysed)
    assert p.ids["n-events"] == str(run.events)
    tab = run.validation.to_frame()
    assert p.ids["auc-corrected"] == f3(tab.loc["AUC", "index.corrected"])
    assert p.ids["slope-corrected"] == f3(tab.loc["Slope", "index.corrected"])
    from crsscore.validation.discrimination import auc

    aset = T.analysis_set(run)
    assert p.ids["auc-apparent"] == f3(auc(aset.y, aset.total).auc)

    flow = {r[0]: r for r in p.tables["flow"]}
    assert flow["patients in cohort"][1] == str(built.cohort.n_patients)
    assert flow["analysed"][1] == str(run.n_analysed)
    assert flow["analysed"][2] == str(run.events)
    assert lt.policy == "exclude" and lt.n_prior_outcome > 0  # the fixture exercises exclusion
    assert flow["excluded: severe CRS began before the landmark"][1] == str(lt.n_prior_outcome)
    with_outcome = int(flow["with an outcome"][1])
    excluded = sum(int(r[1]) for k, r in flow.items() if k.startswith("excluded") and k != "excluded: no outcome information")
    assert with_outcome - excluded == run.n_analysed
    assert int(flow["excluded: no outcome information"][1]) + with_outcome == built.cohort.n_patients


def test_model_tables_match_the_fitted_model(built: Any) -> None:
    run, p = built.run, parse(built.html)
    m = run.model
    sheet = m.score_sheet()
    assert p.column("scoresheet", "points") == [str(int(v)) for v in sheet["points"]]
    assert p.column("scoresheet", "range") == list(sheet["range"])
    rt = m.risk_table()
    heads = p.headers["risktable"]
    pairs = []  # the table is folded into (total, risk %) column pairs; read them back in order
    for j in range(0, len(heads), 2):
        pairs += [(r[j], r[j + 1]) for r in p.tables["risktable"] if r[j] != ""]
    assert pairs == [(str(int(t)), f"{100 * pr:.1f}") for t, pr in zip(rt["total"], rt["probability"], strict=True)]
    assert len(p.tables["risktable"]) <= 25
    groups = m.risk_groups_
    assert p.column("riskgroups", "n") == [str(g.n) for g in groups]
    assert p.column("riskgroups", "events") == [str(g.events) for g in groups]
    assert p.column("riskgroups", "observed rate") == [f3(g.rate) for g in groups]
    summ = m.continuous_.summary()
    assert p.column("multivariable", "term") == list(summ["term"])
    assert p.column("multivariable", "coef") == [f4(v) for v in summ["coef"]]
    uni = run.univariable
    assert p.column("univariable", "variable") == list(uni["variable"])
    assert p.column("univariable", "OR") == [f3(v) for v in uni["OR"]]
    # missingness: counted from the landmark table, equal to the univariable table's count
    miss = dict(zip(p.column("missing", "variable"), p.column("missing", "missing"), strict=True))
    for name, n_missing in zip(uni["variable"], uni["n_missing"], strict=True):
        assert miss[name] == str(int(n_missing))
    # Table 1 group sizes
    n_row = p.tables["table1"][0]
    assert n_row[0] == "n" and str(run.n_analysed) in n_row
    assert all(str(v) in n_row for v in run.table1.groups.values())


def test_validation_calibration_and_comparison_match(built: Any) -> None:
    run, p, bc = built.run, parse(built.html), built.boot_cal
    tab = run.validation.to_frame()
    for name in ("AUC", "Slope", "Intercept", "R2", "Emax"):
        row = p.row("validation", name)
        assert row["index.orig"] == f4(tab.loc[name, "index.orig"])
        assert row["index.corrected"] == f4(tab.loc[name, "index.corrected"])
        assert row["n"] == str(int(tab.loc[name, "n"]))
    assert f"B = {run.validation.B}" in p.ids["validation"]
    assert f"{bc.mean_abs_error:.3f}" in p.ids["biascal-summary"]
    shown = p.column("biascal", "calibrated.corrected")
    assert shown[0] == f4(bc.calibrated_corrected[0])
    assert shown[-1] == f4(bc.calibrated_corrected[-1])
    # subgroups: sex has two levels in the simulated cohort
    from crsscore.validation.discrimination import auc

    aset = T.analysis_set(run)
    for r in p.tables["subgroups"]:
        assert r[0] == "sex"
        sel = (aset.data["sex"] == r[1]).to_numpy() & ~np.isnan(aset.total)
        assert r[2] == str(int(sel.sum())) and r[3] == str(int(aset.y[sel].sum()))
        assert r[4] == f3(auc(aset.y[sel], aset.total[sel]).auc)
    assert len(p.tables["subgroups"]) == aset.data["sex"].nunique()
    comp = built.comparison
    got = dict(zip(p.column("comparison", "card_id"), p.column("comparison", "AUC"), strict=True))
    for e in comp.evaluations:
        assert got[e.card_id] == ("" if math.isnan(e.auc) else f3(e.auc))
    assert p.row("comparison", "Derived score (this report)")["card_id"] == run.scorecard.id


def test_comparison_says_the_derived_auc_is_apparent_and_shows_the_corrected_one(built: Any) -> None:
    """Issue 14.11 (optimism) and 14.8 (a yes/no rule evaluated as yes/no) in the report."""
    run, p = built.run, parse(built.html)
    corrected = float(run.validation.to_frame().loc["AUC", "index.corrected"])
    caveat = p.ids["comparison-caveat"]
    assert "fitted on these same patients" in caveat and "optimistic" in caveat
    assert f"{corrected:.3f}" in caveat
    derived = p.row("comparison", "Derived score (this report)")
    assert derived[f"AUC optimism-corrected (bootstrap B={run.validation.B})"] == f3(corrected)
    assert derived["AUC is"].startswith("apparent")
    ids = p.column("comparison", "card_id")
    kinds = dict(zip(ids, p.column("comparison", "AUC is"), strict=True))
    assert kinds["m-easix"].startswith("external")
    rules = dict(zip(ids, p.column("comparison", "evaluated as"), strict=True))
    assert rules["easix-preld-4.67"] == "yes/no rule" and rules["easix"] == "score"
    rule = next(e for e in built.comparison.evaluations if e.card_id == "easix-preld-4.67")
    if rule.n_scored:
        sens = dict(zip(ids, p.column("comparison", "sensitivity"), strict=True))
        assert sens["easix-preld-4.67"] == f3(rule.sensitivity)
    assert "except those marked DEVIATION" not in built.html  # nothing moved here


def test_a_score_moved_with_at_is_labelled_a_deviation_in_the_report(built: Any, tmp_path: Path) -> None:
    """Issue 14.7: --at is labelled in the report too."""
    import warnings

    from crsscore.cli.compare_cmd import run_comparison
    from crsscore.errors import CrsscoreWarning
    from crsscore.report import build_report
    from crsscore.scores.builtin import get_builtin

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CrsscoreWarning)
        comp, _, _ = run_comparison(built.cohort, [built.run.scorecard, get_builtin("m-easix")],
                                    landmark=None, reference=built.run.scorecard.id,
                                    refits=False, at={"m-easix": "day0"})
        path = build_report(built.cohort, tmp_path / "r.html", run=built.run, comparison=comp,
                            bias_corrected_calibration=built.boot_cal)
    html = path.read_text(encoding="utf-8")
    p = parse(html)
    at = dict(zip(p.column("comparison", "card_id"), p.column("comparison", "evaluated at"),
                  strict=True))
    assert at["m-easix"] == "day0 (DEVIATION: published pre-ld)"
    assert "DEVIATION" not in at[built.run.scorecard.id]
    assert "except those marked DEVIATION" in html
    assert "not at its published timepoint pre-ld" in html  # the note below the table


def test_limitations_are_generated_from_the_numbers(built: Any) -> None:
    run, p = built.run, parse(built.html)
    text = p.ids["limitations"]
    n_cand = len(run.model.candidates_)
    assert f"Only {run.events} events among {run.n_analysed}" in text
    assert f"({run.events / n_cand:.1f} events per candidate)" in text
    assert f"{run.landmark.n_prior_outcome} patients had severe CRS before the landmark" in text
    assert "SYNTHETIC" in text
    assert "Complete-case" not in text  # imputation was used
    slope = float(run.validation.to_frame().loc["Slope", "index.corrected"])
    assert (f"calibration slope is {slope:.3f}" in text) == (slope < 0.9)

    # the same function on altered numbers: the text follows the numbers
    other = copy.copy(run)
    other.synthetic = False
    table = run.validation.to_frame()
    table.loc["Slope", "index.corrected"] = 0.95
    other.validation = SimpleNamespace(to_frame=lambda: table, n_failed=3, B=20)
    codes = {x.code: x.text for x in T.limitations(other)}
    assert "synthetic" not in codes and "calibration-slope" not in codes
    assert codes["failed-resamples"].startswith("3 of 20 bootstrap resamples failed")
    table2 = table.copy()
    table2.loc["Slope", "index.corrected"] = 0.7
    other.validation = SimpleNamespace(to_frame=lambda: table2, n_failed=0, B=20)
    codes = {x.code: x.text for x in T.limitations(other, auc_ci=(0.55, 0.9))}
    assert "0.700 (< 0.9)" in codes["calibration-slope"]
    assert "width 0.350" in codes["wide-ci"]
    other.validation = None
    assert "no-internal-validation" in {x.code for x in T.limitations(other)}


def test_reproducibility_footer(built: Any) -> None:
    import html as html_mod

    run = built.run
    foot = {k: html_mod.unescape(v) for k, v in
            re.findall(r'<dd data-key="([^"]*)">([^<]*)</dd>', built.html)}
    assert foot["crsscore version"] == __version__ == run.version
    assert foot["Seed"] == str(run.seed)
    assert foot["Data hash"] == run.data_hash == built.cohort.data_hash()
    assert foot["Bootstrap resamples (validation) B"] == str(run.validation.B)
    assert foot["Bootstrap resamples (calibration) B"] == str(built.boot_cal.B)
    assert re.fullmatch(r"[0-9a-f]{7,40}|not a git checkout", foot["Git commit"])


def test_tables_are_written_as_csv_beside_the_report(built: Any) -> None:
    out = built.html_path.parent / "report_tables"
    names = {f.stem for f in out.glob("*.csv")}
    assert {"flow", "table1", "missing", "univariable", "multivariable", "scoresheet", "risktable",
            "riskgroups", "discrimination", "comparison", "calibration", "biascal", "decision",
            "decision_full", "validation", "samplesize", "limitations", "tripod", "grades",
            "onset", "predictors"} <= names
    val = pd.read_csv(out / "validation.csv").set_index("index")
    ref = built.run.validation.to_frame()
    np.testing.assert_allclose(val.loc[ref.index, "index.corrected"], ref["index.corrected"], rtol=1e-12)
    cal = pd.read_csv(out / "biascal.csv")
    np.testing.assert_allclose(cal["calibrated.corrected"], built.boot_cal.calibrated_corrected,
                               rtol=1e-12, equal_nan=True)
    assert len(cal) == len(built.boot_cal.predy)  # the whole grid, though the page shows every 5th
    sheet = pd.read_csv(out / "scoresheet.csv")
    assert sheet["points"].tolist() == built.run.model.score_sheet()["points"].tolist()


def test_everything_on_the_page_is_escaped(built: Any, tmp_path: Path) -> None:
    from dataclasses import replace

    from crsscore.report import build_report

    evil = replace(built.cohort, source='<script>alert("x")</script>&<img src=x>')
    out = build_report(evil, tmp_path / "r.html", run=built.run, comparison=None,
                       bias_corrected_calibration=False)
    html = out.read_text(encoding="utf-8")
    assert "<script" not in html and "<img src=x>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&amp;&lt;img src=x&gt;" in html
    p = parse(html)
    assert "tbl-comparison" not in p.ids and "biascal-summary" not in p.ids  # nothing to show


def test_failed_calibration_bootstrap_is_reported_not_fatal(built: Any, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from crsscore.errors import ModelError
    from crsscore.report import build as build_mod

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise ModelError("all 20 resample fits failed; first failure: test")

    monkeypatch.setattr(build_mod, "pipeline_calibration", fail)
    out = build_mod.build_report(built.cohort, tmp_path / "r.html", run=built.run, comparison=None)
    p = parse(out.read_text(encoding="utf-8"))
    assert "all 20 resample fits failed" in p.ids["biascal-failed"]
    assert "calibration-bootstrap-failed" in out.read_text(encoding="utf-8")
    assert "tbl-biascal" not in p.ids


def test_same_inputs_give_the_same_file(built: Any, tmp_path: Path) -> None:
    from crsscore.report import build_report

    again = build_report(built.cohort, tmp_path / "again.html", run=built.run,
                         comparison=built.comparison, bias_corrected_calibration=built.boot_cal)

    def strip(text: str) -> str:  # HEAD may move while tests run in a shared tree
        return re.sub(r'(<dd data-key="Git commit">)[^<]*', r"\1", text)

    assert strip(again.read_text(encoding="utf-8")) == strip(built.html)


def test_pdf_needs_chromium(tmp_path: Path) -> None:
    from crsscore.errors import CrsscoreError

    html = tmp_path / "a.html"
    html.write_text("<p>x</p>", encoding="utf-8")
    with pytest.raises(CrsscoreError, match="PDF output needs Chromium"):
        render_pdf(html, tmp_path / "a.pdf", chromium=str(tmp_path / "no-chromium"))


# ------------------------------------------------------------------------------------------


@needs_chromium
def test_page_renders_in_chromium_without_errors_or_broken_images(built: Any, tmp_path: Path) -> None:
    import os

    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(built.html_path.resolve().as_uri())
            page.wait_for_load_state("load")
            images = page.evaluate(
                "Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth])")
            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=True)
            width = page.evaluate("document.documentElement.scrollWidth")
        finally:
            browser.close()
    assert errors == []
    assert len(images) == len(FIGURES)
    assert all(complete and w > 0 for _, complete, w in images), images
    assert all(u.startswith(("file:", "data:")) for u in requests), requests
    assert width <= 1200  # no horizontal overflow of the page body
    assert shot.stat().st_size > 100_000
    keep = os.environ.get("CRSSCORE_REPORT_SCREENSHOT")
    if keep:
        shutil.copy(shot, keep)


@needs_chromium
def test_pdf_is_printed_by_chromium(built: Any, tmp_path: Path) -> None:
    html = tmp_path / "report.html"
    shutil.copy(built.html_path, html)
    pdf = render_pdf(html, tmp_path / "report.pdf")
    data = pdf.read_bytes()
    assert data[:5] == b"%PDF-" and len(data) > 50_000
    assert len(re.findall(rb"/Type\s*/Page[^s]", data)) >= 5
