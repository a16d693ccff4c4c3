"""Printable summaries of fitted results: headline quantities and tables, as text or HTML."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

__all__ = ["ResultSummary"]


@dataclass(frozen=True)
class ResultSummary:
    """A fitted result for reading: headline quantities and the tables behind them.

    ``info`` maps a quantity's name to its value; ``tables`` maps a caption to a frame of raw
    numbers; ``notes`` are plain sentences.  ``str()`` gives plain text and ``_repr_html_``
    HTML (notebooks), as a statsmodels ``Summary``; shells (CLI, report, service) format the
    same ``info`` and ``tables`` their own way and never reach into the model.
    """

    title: str
    info: dict[str, Any]
    tables: dict[str, pd.DataFrame]
    notes: tuple[str, ...] = ()

    def info_frame(self) -> pd.DataFrame:
        """``info`` as a two-column frame (quantity, value)."""
        return pd.DataFrame({"quantity": list(self.info),
                             "value": [", ".join(map(str, v)) if isinstance(v, list | tuple)
                                       else v for v in self.info.values()]})

    def __str__(self) -> str:
        parts = [self.title, self.info_frame().to_string(index=False)]
        for name, tab in self.tables.items():
            parts += ["", name, tab.to_string(index=False)]
        parts += [f"- {n}" for n in self.notes]
        return "\n".join(parts)

    def _repr_html_(self) -> str:
        import html

        out = [f"<h4>{html.escape(self.title)}</h4>", self.info_frame().to_html(index=False)]
        for name, tab in self.tables.items():
            out += [f"<h5>{html.escape(name)}</h5>", tab.to_html(index=False)]
        if self.notes:
            out.append("<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in self.notes) + "</ul>")
        return "\n".join(out)
