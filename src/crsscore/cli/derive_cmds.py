"""``crsscore derive`` and ``crsscore score``: build a score card, and use it on a cohort."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from crsscore.cli import _derive_options as O
from crsscore.cli._common import (
    SYNTHETIC_BANNER,
    Implausible,
    app,
    console,
    frame_table,
    friendly_errors,
    load_data,
    write_json,
)
from crsscore.errors import CrsscoreError, CrsscoreWarning

STUDY_AUC = 0.875

#: What a bootstrap worker of ``derive`` imports before its first resample.
BOOTSTRAP_WORKER_MODULES = ("crsscore.workflow", "crsscore.validation.pipeline_curves",
                            "statsmodels.nonparametric.smoothers_lowess")

Mapping = Annotated[Path | None, typer.Option("--mapping", help="TOML mapping file for a centre's own export.")]
JsonOut = Annotated[Path | None, typer.Option("--json", help="Write machine-readable output here ('-' for stdout).")]

if TYPE_CHECKING:
    import pandas as pd


def risk_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The score-to-risk table as printed: each reachable total once, risk as a readable %."""
    import pandas as pd

    def pct(p: float) -> str:
        if p < 0.001:
            return "< 0.1 %"
        if p > 0.999:
            return "> 99.9 %"
        return f"{100 * p:.1f} %"

    return pd.DataFrame({"total": [str(int(t)) for t in table["total"]],
                         "risk": [pct(float(p)) for p in table["probability"]]})


def _num(x: float) -> str:
    """An odds ratio or bound, readable at any size (no float noise, no 14-digit cells)."""
    if x != x:
        return "n/a"
    if x == 0 or abs(x) < 0.005:
        return f"{x:.1g}"
    if abs(x) >= 1000:
        return f"{x:.3g}"
    return f"{x:.2f}" if abs(x) < 100 else f"{x:.0f}"


def _p(x: float) -> str:
    return "" if x != x else ("<0.001" if x < 0.001 else f"{x:.3f}")


def univariable_rows(uni: pd.DataFrame) -> tuple[pd.DataFrame, list[str], str]:
    """The univariable table in 80 columns: short headers, OR and its CI in one cell, the
    transforms as notes below (long texts never squeezed into a column)."""
    import pandas as pd

    kind = "profile" if "OR lower 95% (profile)" in uni.columns else "Wald"
    lo, hi = uni[f"OR lower 95% ({kind})"], uni[f"OR upper 95% ({kind})"]
    frame = pd.DataFrame({
        "variable": uni["variable"].astype(str),
        "n": uni["n"].astype(int), "miss": uni["n_missing"].astype(int),
        "ev": uni["events"].astype(int),
        "OR (95% CI)": [f"{_num(o)} ({_num(a)}-{_num(b)})" for o, a, b in zip(uni["OR"], lo, hi, strict=True)],
        "p": [_p(float(x)) for x in uni["p"]],
        "AUC": [f"{float(a):.3f}" if a == a else "" for a in uni["AUC"]],
    })
    notes: dict[str, list[str]] = {}
    for var, tr in zip(uni["variable"], uni["transform"], strict=True):
        if str(tr) not in ("none", "", "nan"):
            notes.setdefault(str(tr), []).append(str(var))
    lines = [f"{', '.join(v)}: OR per unit of {t}" for t, v in notes.items()]
    return frame, lines, ("profile-likelihood" if kind == "profile" else "Wald")


def _short_stat(text: object) -> str:
    """``1752.5 [735.2,3986.8]`` -> ``1752 [735,3987]``: values >= 100 without decimals."""
    import re

    def fix(m: re.Match[str]) -> str:
        x = float(m.group(0))
        return f"{x:.0f}" if abs(x) >= 100 else m.group(0)

    return re.sub(r"-?\d+\.\d+", fix, str(text))


def table1_rows(t1: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Table 1 in 80 columns: the statistic and the test named once below, not on every row."""
    import pandas as pd

    tests = {"Kruskal-Wallis": "KW", "Chi-squared": "chi2", "Fisher's exact": "Fisher",
             "Two Sample T-test": "t", "": ""}
    labels = []
    for var, level in zip(t1["variable"], t1["level"], strict=True):
        name = str(var).replace(", median [Q1,Q3]", "").replace(", n (%)", "").replace(", mean (SD)", "")
        labels.append(f"{name} = {level}" if str(level) else name)
    frame = pd.DataFrame({
        "variable": labels,
        "miss": [str(x) if str(x) not in ("", "0") else "" for x in t1["missing"]],
        "overall": [_short_stat(x) for x in t1["overall"]],
        "no severe": [_short_stat(x) for x in t1["no severe CRS"]],
        "severe": [_short_stat(x) for x in t1["severe CRS"]],
        "p": t1["p"].astype(str),
        "test": [tests.get(str(t), str(t)) for t in t1["test"]],
    })
    used = sorted({str(t) for t in t1["test"] if str(t)})
    notes = ["continuous: median [Q1,Q3]; categorical: n (%)",
             "tests: " + ", ".join(f"{tests.get(t, t)} = {t}" for t in used)] if used else []
    return frame, notes


def print_derivation(run: Any, *, show_table1: bool = True, banner: bool = True) -> None:
    """Print a derivation run (shared by ``derive`` and ``demo``), readable at 80 columns."""
    import pandas as pd

    m = run.model
    if run.synthetic and banner:
        console.print(SYNTHETIC_BANNER)
    lt = run.landmark
    console.print(
        f"Landmark [bold]{lt.landmark_day:g}[/] (day since infusion): {run.n_analysed} patients "
        f"analysed, {run.events} with severe CRS; {lt.n_prior_outcome} had severe CRS before the "
        f"landmark and were {'excluded' if lt.policy == 'exclude' else 'kept (flagged)'}.")
    if show_table1:
        t1, t1_notes = table1_rows(run.table1.to_frame().fillna(""))
        console.print(frame_table(t1, "Table 1 by outcome", compact=True, no_wrap=("variable",)))
        for note in t1_notes:
            console.print(f"  {note}", style="dim", markup=False)
    uni, uni_notes, ci_kind = univariable_rows(run.univariable)
    console.print(frame_table(uni, f"Univariable logistic regression ({ci_kind} 95% CI)",
                              compact=True, no_wrap=("variable", "OR (95% CI)")))
    for note in uni_notes:
        console.print(f"  {note}", style="dim", markup=False)
    summ = m.summary()
    info = summ.info
    coef = summ.tables.get("coefficients")
    if coef is not None:
        multi = pd.DataFrame({
            "term": coef["term"].astype(str), "coef": coef["coef"], "se": coef["se"],
            "p": [_p(float(x)) for x in coef["p"]],
            "OR (95% CI)": [f"{_num(o)} ({_num(a)}-{_num(b)})" for o, a, b in
                            zip(coef["OR"], coef["OR 2.5%"], coef["OR 97.5%"], strict=True)],
        })
        if "fmi" in coef.columns:
            multi["fmi"] = coef["fmi"]
        console.print(frame_table(multi,
                                  f"Multivariable model ({'Firth' if info['method'] == 'firth' else 'ML'}, "
                                  f"continuous reference, m={info['imputations']} imputation(s))",
                                  compact=True, no_wrap=("term", "OR (95% CI)")))
    for note in summ.notes:
        console.print(f"  [dim]- {note}[/]")
    sheet = summ.tables["score sheet"]
    console.print(frame_table(sheet[[c for c in ("variable", "unit", "range", "points") if c in sheet]],
                              "Score sheet (points)", compact=True, no_wrap=("range",)))
    rg = summ.tables["risk groups"]
    if len(rg):
        def span(a: float, b: float) -> str:
            return f"{int(a)}-{int(b)}" if a == a and b == b else (f">= {int(a)}" if a == a else f"<= {int(b)}")

        rg = pd.DataFrame({
            "group": rg["name"].astype(str),
            "points": [span(float(a), float(b)) for a, b in zip(rg["min_total"], rg["max_total"], strict=True)],
            "n": rg["n"].astype(int), "events": rg["events"].astype(int),
            "rate": [f"{100 * float(r):.1f} %" for r in rg["rate"]],
            "95% CI": [f"{100 * float(a):.1f}-{100 * float(b):.1f} %"
                       for a, b in zip(rg["ci_low"], rg["ci_high"], strict=True)],
        })
    console.print(frame_table(rg, f"Risk groups (observed, n={info['risk_group_n']} with every input measured)",
                              compact=True, no_wrap=("group",)))
    console.print("Total points -> risk of severe CRS (each reachable total)", style="italic")
    console.print(frame_table(risk_rows(summ.tables["risk table"]), compact=True))
    cont = info["auc_continuous_apparent"]
    console.print(
        f"Apparent AUC: point score [bold]{info['auc_points_apparent']:.3f}[/]"
        + (f", continuous model {cont:.3f} (points lose {info['auc_loss_points']:.3f})"
           if cont == cont else "")
        # the study's figure belongs beside its simulated replica, never a centre's own results
        + (f"; the study reported {STUDY_AUC} (apparent)." if run.synthetic else "."))
    if run.validation is not None:
        v = run.validation
        tab = v.to_frame()
        console.print(frame_table(tab.reset_index().rename(columns={"index": "index"}),
                                  f"Bootstrap validation of the whole pipeline (B={v.B}, seed={v.seed}, "
                                  f"failed fits {v.n_failed})", digits=4, compact=True,
                                  no_wrap=("index",)))
        console.print(
            f"Optimism-corrected AUC [bold]{tab.loc['AUC', 'index.corrected']:.3f}[/] "
            f"(apparent {tab.loc['AUC', 'index.orig']:.3f}); calibration slope "
            f"[bold]{tab.loc['Slope', 'index.corrected']:.3f}[/].")
    verdict = run.scorecard.sample_size
    shown_verdict = verdict is not None and not verdict.ok
    if shown_verdict:
        console.print(f"[yellow]Sample size:[/] {verdict.message}")
    for w in dict.fromkeys(run.warnings):
        if verdict is not None and w == verdict.message:
            continue
        # the events-per-parameter warning says what the sample-size verdict already said
        if shown_verdict and "events per candidate parameter" in w:
            continue
        console.print(f"[yellow]Warning:[/] {w}")


@app.command()
@friendly_errors
@O.derive_options
def derive(
    data: Annotated[Path, typer.Argument(help="Cohort folder or file.")],
    out: Annotated[Path, typer.Option("--out", help="Score card JSON to write.")],
    mapping: Mapping = None,
    implausible: Implausible = "refuse",
    opts: O.DeriveOptions = O.DeriveOptions(),
    certify: Annotated[float, typer.Option(help="Learned points: seconds for an exact check that no integer score fits better (support enumeration, else MIP; 0: no check).")] = 0.0,
    bootstrap: Annotated[int, typer.Option(min=0, help="Bootstrap resamples for internal validation (0: none).")] = 0,
    jobs: O.Jobs = 1,
    scheduler: Annotated[str | None, typer.Option(help="Dask scheduler address (tcp://host:port).")] = None,
    json_out: JsonOut = None,
) -> None:
    """Derive a point score at a landmark (the study's method, done right) and write its score card."""
    opts.check()
    if bootstrap > 0 and jobs != 1 and scheduler is None:
        # the bootstrap's local workers import the pipeline while this process loads and fits
        from crsscore.validation import prestart_workers

        prestart_workers(jobs, BOOTSTRAP_WORKER_MODULES)
    try:
        from crsscore.workflow import derive as run_derive

        cohort = load_data(data, mapping, implausible)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CrsscoreWarning)
            run = run_derive(cohort, bootstrap=bootstrap, n_jobs=jobs, scheduler=scheduler,
                             progress=bootstrap > 0, certify=certify, **opts.derive_kwargs())
    except BaseException:
        from crsscore.validation import stop_prestarted_workers

        stop_prestarted_workers()  # failed before (or in) the bootstrap: exit without waiting
        raise
    card = O.record_options(run.scorecard, opts)
    run.scorecard = card
    card.to_json(out)
    print_derivation(run)
    console.print(f"Score card written to [bold]{out}[/]")
    write_json(json_out, {"scorecard": str(out), **run.to_dict(),
                          "univariable": run.univariable, "score_sheet": run.model.to_frame(),
                          "table1": run.table1.to_frame()}, command="derive")


@app.command()
@friendly_errors
def score(
    data: Annotated[Path, typer.Argument(help="Cohort folder or file.")],
    scorecard: Annotated[Path, typer.Option("--scorecard", help="Score card JSON (or a built-in id).")],
    out: Annotated[Path, typer.Option("--out", help="CSV of scores to write.")],
    mapping: Mapping = None,
    implausible: Implausible = "refuse",
    json_out: JsonOut = None,
) -> None:
    """Score every patient of a cohort with a score card (batch scoring)."""
    from crsscore.scores.cohort_inputs import card_inputs, score_cohort

    card = _load_card(scorecard)
    cohort = load_data(data, mapping, implausible)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CrsscoreWarning)
        inputs = card_inputs(card, cohort)
        scored = score_cohort(card, cohort, inputs=inputs)
    from crsscore.atomicio import write_csv

    write_csv(out, scored)  # atomic, formula cells neutralised
    n_scored = int(scored["total"].notna().sum())
    if cohort.synthetic:
        console.print(SYNTHETIC_BANNER)
    console.print(f"Scored {n_scored} of {len(scored)} patients with '{card.name}' -> {out}")
    for w in caught:
        console.print(f"[yellow]Warning:[/] {w.message}")
    groups = scored["risk_group"].value_counts(dropna=False)
    write_json(json_out, {"scorecard": card.id, "n": len(scored), "n_scored": n_scored,
                          "risk_groups": {str(k): int(v) for k, v in groups.items()},
                          "inputs": inputs.summary(), "out": str(out)}, command="score")


def _load_card(ref: Path) -> Any:
    from crsscore.scores.builtin import builtin_ids, get_builtin
    from crsscore.scores.scorecard import ScoreCard

    if not ref.exists() and str(ref) in builtin_ids():
        return get_builtin(str(ref))
    if not ref.exists():
        raise CrsscoreError(f"score card not found: {ref} (built-in ids: {', '.join(builtin_ids())})")
    return ScoreCard.from_json(ref)


