"""Build the parts of a derived score card that every derivation shares (one place for each).

A derivation (Sullivan points from a continuous model, or integer points learned directly)
knows its variables and numbers; how they become a :class:`~crsscore.scores.scorecard.ScoreCard`
is a rule of the card format and lives here: how a candidate predictor is described on a card,
how risk groups are recorded, the synthetic-data note, and which cards carry the
tocilizumab warning.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from crsscore.scores.evaluate import TOCILIZUMAB_SENSITIVE
from crsscore.scores.scorecard import RiskGroup

#: The first note of every card derived on the simulated cohort.
SYNTHETIC_NOTE = "DERIVED ON SYNTHETIC (SIMULATED) DATA: not for clinical use"


class CandidateLike(Protocol):
    """What a card needs to know of a candidate predictor (``modeling.candidates.Candidate``)."""

    @property
    def name(self) -> str: ...

    @property
    def label(self) -> str: ...

    @property
    def source(self) -> str: ...

    @property
    def unit(self) -> str | None: ...

    @property
    def unit_kind(self) -> str | None: ...

    @property
    def loinc(self) -> str | None: ...


class RiskGroupLike(Protocol):
    """A risk group as a derivation summarises it (``modeling.points.RiskGroupSummary``)."""

    @property
    def name(self) -> str: ...

    @property
    def min_total(self) -> float | None: ...

    @property
    def max_total(self) -> float | None: ...

    @property
    def n(self) -> int: ...

    @property
    def events(self) -> int: ...

    @property
    def rate(self) -> float: ...

    @property
    def ci_low(self) -> float: ...

    @property
    def ci_high(self) -> float: ...


def variable_fields(candidate: CandidateLike, day_window: tuple[float, float]) -> dict[str, Any]:
    """A candidate's description on a card: label, source, units, LOINC and how it is read.

    Observation variables are read at the landmark, nearest value within ``day_window`` (days
    relative to the landmark, inclusive), the window of the landmark table the model was
    fitted on; patient variables have no window.
    """
    return {"label": candidate.label, "source": candidate.source, "unit": candidate.unit,
            "unit_kind": candidate.unit_kind, "loinc": candidate.loinc, "aggregate": "nearest",
            "day_window": day_window if candidate.source == "observation" else None}


def _or_none(x: float) -> float | None:
    return None if math.isnan(x) else x


def card_risk_groups(groups: Iterable[RiskGroupLike]) -> list[RiskGroup]:
    """The card's risk groups, with observed rates and Wilson intervals (None where undefined)."""
    return [RiskGroup(name=g.name, min_total=g.min_total, max_total=g.max_total,
                      observed_rate=_or_none(g.rate), ci_low=_or_none(g.ci_low),
                      ci_high=_or_none(g.ci_high), n=g.n, events=g.events) for g in groups]


def derived_notes(notes: Sequence[str], *, synthetic: bool) -> list[str]:
    """A derived card's notes, headed by the synthetic-data warning when it applies."""
    return [SYNTHETIC_NOTE, *notes] if synthetic else list(notes)


def uses_cytokines(variable_names: Iterable[str]) -> bool:
    """Whether a card reads a value that tocilizumab lowers (CRP, IL-6): it then carries the warning."""
    return any(n in TOCILIZUMAB_SENSITIVE for n in variable_names)
