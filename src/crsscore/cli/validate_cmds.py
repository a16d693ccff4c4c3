"""Validation commands: for now ``crsscore samplesize`` (Riley et al. 2020 minimum sample size)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from crsscore.cli._common import (
    EXIT_DATA_ERROR,
    app,
    console,
    err_console,
    friendly_errors,
    write_json,
)


@app.command()
@friendly_errors
def samplesize(
    prevalence: float = typer.Option(..., "--prevalence",
                                     help="Anticipated proportion with the outcome (e.g. 0.136)."),
    parameters: int = typer.Option(..., "--parameters",
                                   help="Candidate predictor parameters (a spline or a 3-level "
                                        "factor counts 2)."),
    r2: float | None = typer.Option(None, "--r2", help="Anticipated Cox-Snell R2."),
    nagelkerke: float | None = typer.Option(None, "--nagelkerke",
                                            help="Anticipated Nagelkerke R2 (instead of --r2)."),
    c_statistic: float | None = typer.Option(None, "--auc", "--c-statistic",
                                             help="Anticipated C statistic / AUC (instead of "
                                                  "--r2); default 0.75 when nothing is given."),
    shrinkage: float = typer.Option(0.9, "--shrinkage", help="Target expected shrinkage."),
    json_path: Path | None = typer.Option(None, "--json", help="Also write the result as JSON "
                                                               "('-' for standard output)."),
) -> None:
    """Minimum sample size to develop a logistic prediction model (Riley et al. BMJ 2020)."""
    from crsscore.validation.samplesize import DEFAULT_C_STATISTIC, sample_size

    given = [name for name, v in (("--r2", r2), ("--nagelkerke", nagelkerke),
                                  ("--auc", c_statistic)) if v is not None]
    if len(given) > 1:
        err_console.print(f"[bold red]Error:[/] give only one of --r2, --nagelkerke and --auc "
                          f"(got {', '.join(given)}).")
        raise typer.Exit(EXIT_DATA_ERROR)
    assumed = not given
    if assumed:
        c_statistic = DEFAULT_C_STATISTIC
    try:
        res = sample_size(prevalence, parameters, r2_cs=r2, r2_nagelkerke=nagelkerke,
                          c_statistic=c_statistic, shrinkage=shrinkage)
    except ValueError as exc:
        err_console.print("[bold red]Error:[/] ", end="")
        err_console.print(str(exc), markup=False)
        raise typer.Exit(EXIT_DATA_ERROR) from None

    quiet = json_path is not None and str(json_path) == "-"  # keep stdout pure JSON
    if assumed:
        err_console.print(f"note: no --r2/--nagelkerke/--auc given; assuming C statistic "
                          f"{DEFAULT_C_STATISTIC} (a modest model).", markup=False)
    table = Table(title="Minimum sample size (Riley et al. 2020, as pmsampsize)")
    for col in ("Criterion", "Requirement", "n", "Events", "EPP", "Shrinkage"):
        table.add_column(col, justify="left" if col in ("Criterion", "Requirement") else "right")
    for c in res.criteria:
        table.add_row(c.name, c.description, str(c.n), f"{c.events:.1f}", f"{c.epp:.2f}",
                      f"{c.shrinkage:.3f}")
    table.add_row("Final", f"largest ({res.binding.name})", str(res.n), f"{res.events:.1f}",
                  f"{res.epp:.2f}", f"{res.shrinkage:.3f}", style="bold")
    if not quiet:
        console.print(table)
        for line in res.summary().splitlines()[:2]:
            console.print(line, markup=False)
    write_json(json_path, {
        "prevalence": res.prevalence, "parameters": res.n_parameters,
        "r2_cs": res.r2_cs, "r2_nagelkerke": res.r2_nagelkerke, "max_r2_cs": res.max_r2,
        "r2_source": res.r2_source, "c_statistic": res.c_statistic, "assumed": assumed,
        "target_shrinkage": res.target_shrinkage, "sample_size": res.n, "events": res.events,
        "epp": res.epp, "final_shrinkage": res.shrinkage,
        "criteria": [
            {"criterion": c.name, "description": c.description, "n": c.n, "events": c.events,
             "epp": c.epp, "shrinkage": c.shrinkage} for c in res.criteria
        ],
        "reference": "Riley RD et al. BMJ 2020;368:m441",
    }, command="samplesize")
