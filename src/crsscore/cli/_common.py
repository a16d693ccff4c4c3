"""Shared pieces of the command line: the app, the console, errors and ``--json`` output."""

from __future__ import annotations

import functools
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console

from crsscore.errors import CrsscoreError, DataError

if TYPE_CHECKING:  # numpy and pandas load where used: `--help` starts without them
    import pandas as pd

app = typer.Typer(
    name="crsscore",
    help="Build, validate and use prognostic scores for severe CRS after anti-CD19 CAR-T.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

F = TypeVar("F", bound=Callable[..., Any])

EXIT_DATA_ERROR = 2


def friendly_errors(func: F) -> F:
    """Turn crsscore's own errors into a clear message and exit status 2, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except DataError as exc:
            err_console.print(f"[bold red]Data error[/] ({len(exc.problems)} problem(s)):")
            err_console.print(str(exc), markup=False)
            raise typer.Exit(EXIT_DATA_ERROR) from None
        except CrsscoreError as exc:
            err_console.print("[bold red]Error:[/] ", end="")
            err_console.print(str(exc), markup=False)
            raise typer.Exit(EXIT_DATA_ERROR) from None
        except ValueError as exc:
            # parameter validation in the core raises ValueError naming the parameter
            # (scikit-learn's convention): a usage error, shown as such
            err_console.print("[bold red]Error:[/] ", end="")
            err_console.print(str(exc), markup=False)
            raise typer.Exit(EXIT_DATA_ERROR) from None
        except FileNotFoundError as exc:
            err_console.print("[bold red]Error:[/] ", end="")
            err_console.print(f"file not found: {exc.filename}", markup=False)
            raise typer.Exit(EXIT_DATA_ERROR) from None
        except OSError as exc:
            # the last line of defence: a folder or file the system refuses (permission,
            # a folder where a file is expected, a full disk) is a message, not a traceback
            what = f" {exc.filename}" if exc.filename else ""
            reason = ("permission denied" if isinstance(exc, PermissionError)
                      else "it is a folder" if isinstance(exc, IsADirectoryError)
                      else exc.strerror or type(exc).__name__)
            err_console.print("[bold red]Error:[/] ", end="")
            err_console.print(f"cannot read or write{what}: {reason}", markup=False)
            raise typer.Exit(EXIT_DATA_ERROR) from None

    return wrapper  # type: ignore[return-value]


def _jsonable(obj: Any) -> Any:
    import numpy as np
    import pandas as pd

    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, pd.DataFrame):
        return [_jsonable(r) for r in obj.to_dict(orient="records")]
    if isinstance(obj, pd.Series):
        return _jsonable(obj.to_dict())
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "model_dump"):
        return _jsonable(obj.model_dump())
    if hasattr(obj, "to_dict") and callable(obj.to_dict):
        return _jsonable(obj.to_dict())
    if obj is pd.NA or obj is pd.NaT:
        return None
    return obj


def write_json(path: Path | None, payload: dict[str, Any], *, command: str) -> None:
    """Write machine-readable output with the software version; nothing when path is None."""
    if path is None:
        return
    from crsscore import __version__
    from crsscore.atomicio import write_text

    body = {"crsscore_version": __version__, "command": command, **payload}
    text = json.dumps(_jsonable(body), indent=2, sort_keys=False)
    if str(path) == "-":
        sys.stdout.write(text + "\n")
    else:
        write_text(path, text + "\n")


def frame_table(frame: pd.DataFrame, title: str | None = None, *, digits: int = 3,
                max_rows: int = 60, compact: bool = False,
                no_wrap: tuple[str, ...] = ()) -> Any:
    """A rich Table of a DataFrame (numbers rounded to ``digits`` decimals; whole numbers,
    such as counts and totals, printed as integers).

    ``compact`` draws a light frame (no vertical rules, narrow padding) so that more columns
    fit in 80; ``no_wrap`` columns are never wrapped (rich folds the others, it never cuts a
    cell with an ellipsis).
    """
    import numpy as np
    import pandas as pd
    from rich import box
    from rich.table import Table

    table = Table(title=title, title_justify="left", header_style="bold", show_lines=False,
                  box=box.SIMPLE_HEAD if compact else box.HEAVY_HEAD,
                  padding=(0, 1) if not compact else (0, 0, 0, 1), pad_edge=not compact)
    shown = frame.head(max_rows)
    integral = {c for c in frame.columns if pd.api.types.is_float_dtype(frame[c])
                and _counts_column(str(c))
                and bool(np.all(np.isnan(x := frame[c].to_numpy(dtype=np.float64))
                                | (np.mod(np.where(np.isfinite(x), x, 0.0), 1.0) == 0.0)))}
    rows: list[list[str]] = []
    for _, row in shown.iterrows():
        cells = []
        for col, v in zip(frame.columns, row, strict=True):
            if isinstance(v, float | np.floating) and col in integral and math.isfinite(float(v)):
                cells.append(f"{int(v)}")
            elif isinstance(v, float | np.floating):
                cells.append("" if not math.isfinite(float(v)) else f"{float(v):.{digits}f}")
            elif v is None or v is pd.NA:
                cells.append("")
            else:
                cells.append(str(v))
        rows.append(cells)
    for j, col in enumerate(frame.columns):
        numeric = pd.api.types.is_numeric_dtype(frame[col])
        # a column is never narrower than its longest word: cells wrap between words, not
        # inside a number or a name
        words = [len(w) for text in [str(col), *(r[j] for r in rows)] for w in text.split()]
        table.add_column(str(col), justify="right" if numeric else "left",
                         overflow="fold", no_wrap=str(col) in no_wrap,
                         min_width=min(max(words, default=1), 30))
    for cells in rows:
        table.add_row(*cells)
    if len(frame) > max_rows:
        table.caption = f"... {len(frame) - max_rows} more rows"
    return table


def _counts_column(name: str) -> bool:
    """Columns holding counts or point totals (whole numbers printed without decimals)."""
    low = name.lower()
    return (low in {"n", "events", "ev", "total", "points", "n scored", "n unscored", "patients",
                    "non-events", "missing", "n missing"}
            or low.startswith(("n ", "n_", "events", "total", "points")))


SYNTHETIC_BANNER = ("[bold yellow]SYNTHETIC DATA[/]: simulated patients calibrated to published "
                    "summary figures; not real patients, not for clinical use.")


#: ``--implausible`` of every command that loads a cohort (one definition, so they agree).
IMPLAUSIBLE_HELP = ("refuse|exclude: values outside the physiological range stop the command "
                    "(refuse), or are set missing and each listed in the check report, --json "
                    "and the report (exclude).")
Implausible = Annotated[str, typer.Option("--implausible", help=IMPLAUSIBLE_HELP)]


def load_data(data: Path, mapping: Path | None, implausible: str = "refuse") -> Any:
    """Load a cohort for a command, with its ``--implausible`` policy checked."""
    from crsscore.data.check import IMPLAUSIBLE_POLICIES
    from crsscore.data.io import load_cohort

    if implausible not in IMPLAUSIBLE_POLICIES:
        raise CrsscoreError(f"--implausible must be one of {', '.join(IMPLAUSIBLE_POLICIES)}; "
                            f"got {implausible!r}")
    return load_cohort(data, mapping, implausible=implausible)
