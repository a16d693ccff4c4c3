"""``crsscore check``: a data-quality report on a cohort folder or a centre's export.

Exit status: 0 when the data can be used, 1 when the report lists errors, 2 when the input
cannot be read at all (missing file, invalid mapping, missing columns, unknown units).
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich import box
from rich.table import Table

from crsscore.cli._common import (
    EXIT_DATA_ERROR,
    IMPLAUSIBLE_HELP,
    app,
    console,
    err_console,
    friendly_errors,
    write_json,
)

EXIT_CHECK_ERRORS = 1

_STYLE = {"error": "red", "warning": "yellow", "info": "dim"}


def _fmt(value: object) -> str:
    if isinstance(value, float):
        if value != value:
            return ""
        if value.is_integer() or abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.3g}"
    return "" if value is None else str(value)


@app.command()
@friendly_errors
def check(
    data: Path = typer.Argument(..., help="Cohort folder in the canonical format, or a centre's "
                                          "export (file or folder) with --mapping."),
    mapping: Path | None = typer.Option(None, "--mapping", help="Mapping file (TOML) from the "
                                                                "centre's export to the format."),
    json_path: Path | None = typer.Option(None, "--json", help="Write the full report as JSON "
                                                               "('-' for standard output)."),
    show: int = typer.Option(30, "--show", min=0, help="Problems listed on screen (--json "
                                                       "lists every one)."),
    implausible: str = typer.Option("refuse", "--implausible", help=IMPLAUSIBLE_HELP),
) -> None:
    """Check a cohort: counts, missingness, implausible values, duplicates, every exclusion."""
    from crsscore.data.check import IMPLAUSIBLE_POLICIES, check_cohort
    from crsscore.data.io import IMPLAUSIBLE_HINT
    from crsscore.problems import MAX_LISTED

    if implausible not in IMPLAUSIBLE_POLICIES:
        raise typer.BadParameter(f"--implausible must be one of "
                                 f"{', '.join(IMPLAUSIBLE_POLICIES)}; got {implausible!r}")
    try:
        # --json lists every problem; on screen, problems of one kind are counted beyond
        # MAX_LISTED (and --show of them printed), which the output says.
        report = check_cohort(data, mapping=mapping, implausible=implausible,
                              max_listed=None if json_path is not None else MAX_LISTED)
    except (OSError, MemoryError) as exc:  # pragma: no cover - the loaders wrap OS errors
        err_console.print(f"[bold red]Error:[/] cannot read the data ({type(exc).__name__})")
        raise typer.Exit(EXIT_DATA_ERROR) from None

    # With --json -, standard output carries the JSON only; the summary goes to stderr.
    out = err_console if json_path is not None and str(json_path) == "-" else console
    if report.synthetic:
        out.print("[bold magenta]SYNTHETIC DATA[/]: simulated patients, not real ones.")
    out.print(f"Cohort: {report.source}", markup=False)
    counts = Table(show_header=False)
    counts.add_column("item")
    counts.add_column("value", justify="right")
    for key, value in report.counts.items():
        counts.add_row(key, f"{value:,}")
    out.print(counts)

    if len(report.analytes):
        missing = report.missing_by_variable.set_index("variable")["pct_missing"]
        # 80 columns: a light frame, short headers (explained in the title), no cell cut
        table = Table(title="Observations per analyte (canonical units; pts: patients with a "
                            "value; % miss: patients without; impl.: implausible)",
                      title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
                      padding=(0, 0, 0, 1))
        for name in ("analyte", "unit", "rows", "pts", "% miss", "median", "min", "max",
                     "impl."):
            table.add_column(name, justify="left" if name in ("analyte", "unit") else "right",
                             no_wrap=True)
        for rec in report.analytes.to_dict(orient="records"):
            pct = missing.get(rec["analyte"])  # % of patients with no value at all
            table.add_row(str(rec["analyte"]), str(rec["unit"]), f"{rec['n_rows']:,}",
                          f"{rec['n_patients']:,}", _fmt(pct), _fmt(rec["median"]),
                          _fmt(rec["min"]), _fmt(rec["max"]),
                          f"[red]{rec['n_out_of_range']}[/]" if rec["n_out_of_range"] else "0")
        out.print(table)

    patient_missing = report.missing_by_variable
    patient_missing = patient_missing[(patient_missing["table"] == "patients")
                                      & (patient_missing["n_missing"] > 0)]
    if len(patient_missing):
        out.print("Missing patient values: " + ", ".join(
            f"{r['variable']} {r['n_missing']} ({r['pct_missing']:.0f} %)"
            for r in patient_missing.to_dict(orient="records")))

    tally = report.problem_counts()
    if len(tally):
        table = Table(title="Problems by kind", title_justify="left", box=box.SIMPLE_HEAD)
        for name in ("severity", "table", "code", "n"):
            table.add_column(name, justify="right" if name == "n" else "left")
        for rec in tally.to_dict(orient="records"):
            style = _STYLE.get(str(rec["severity"]), "")
            table.add_row(f"[{style}]{rec['severity']}[/]", str(rec["table"]), str(rec["code"]),
                          str(rec["n"]))
        out.print(table)
        ordered = sorted(report.problems, key=lambda p: ("error", "warning", "info").index(
            p.severity) if p.severity in ("error", "warning", "info") else 3)
        for problem in ordered[:show]:
            style = _STYLE.get(problem.severity, "")
            out.print(f"[{style}]{problem.severity}[/] ", end="")
            out.print(str(problem), markup=False, highlight=False)
        if len(ordered) > show:
            out.print(f"... {len(ordered) - show} more: use --json FILE for the list")
        for t in report.truncated:
            out.print(f"[dim]{t['code']} in {t['table']}: {t['total']} in total, the first "
                      f"{t['listed']} listed here; --json FILE lists every one[/]")

    excluded = report.exclusions
    implausible_rows = excluded[excluded["reason"] == "out_of_range"]
    if len(implausible_rows):
        per = implausible_rows["analyte"].fillna("patients").value_counts().sort_index()
        out.print(f"[yellow]{len(implausible_rows)} implausible value(s) set missing[/] "
                  "(--implausible exclude): " + ", ".join(f"{a} {n}" for a, n in per.items())
                  + "; each is in --json (exclusions)")

    n_err, n_warn, n_excl = len(report.errors), len(report.warnings), len(report.exclusions)
    verdict = "[bold red]NOT USABLE as is[/]" if report.has_errors else "[bold green]usable[/]"
    n_range = report.n_implausible
    if not report.has_errors and report.missing_tables:
        lost = (["CRS cannot be graded from raw data"] if "events" in report.missing_tables
                else []) + (["no observations"] if "observations" in report.missing_tables
                            else [])
        verdict = f"[bold yellow]usable, but {'; '.join(lost)} (see the warnings)[/]"
    out.print(f"{n_err} error(s), {n_warn} warning(s), {n_excl} row(s) or cell(s) left out: "
              f"{verdict}")
    if n_range:
        out.print(f"Next step: {n_range} implausible value(s) among the errors: "
                  f"{IMPLAUSIBLE_HINT}.", markup=False)
    write_json(json_path, report.to_dict(), command="check")
    if report.has_errors:
        raise typer.Exit(EXIT_CHECK_ERRORS)
