"""Shared ``Depends`` callables: the score card registry, one card, the templates."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi import Path as PathParam
from fastapi.templating import Jinja2Templates

from crsscore import __version__
from crsscore.scores.scorecard import ScoreCard
from crsscore.service.registry import CardRegistry

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"

templates = Jinja2Templates(directory=str(TEMPLATES_DIR))

_PRETTY_UNITS = [("10^9/L", "×10⁹/L"), ("10^3/uL", "×10³/µL"), ("uL", "µL"), ("ug", "µg"),
                 ("umol", "µmol"), ("ukat", "µkat")]


def pretty_unit(unit: object) -> str:
    """A unit as printed on a lab report (``10^9/L`` -> ``×10⁹/L``, ``ug`` -> ``µg``)."""
    text = "" if unit is None else str(unit)
    for ascii_unit, shown in _PRETTY_UNITS:
        text = text.replace(ascii_unit, shown)
    return text


def significant(value: object, digits: int = 3) -> str:
    """A number with ``digits`` significant digits and no float noise
    (``99.79999999999997`` -> ``99.8``, ``0.001`` -> ``0.001``, ``12345.6`` -> ``12346``)."""
    import math

    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "" if value is None else str(value)
    if not math.isfinite(x):
        return str(x)
    if x == 0:
        return "0"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(x))))
    text = f"{round(x, decimals):.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


templates.env.filters["unit"] = pretty_unit
templates.env.filters["sig"] = significant
templates.env.globals["version"] = __version__


async def get_registry(request: Request) -> CardRegistry:
    # async: a sync dependency would wait for a worker thread, which batch scoring may hold
    registry: CardRegistry = request.app.state.registry
    return registry


Registry = Annotated[CardRegistry, Depends(get_registry)]
CardId = Annotated[str, PathParam(min_length=1, max_length=100, description="score card id")]


def get_card(card_id: CardId, registry: Registry) -> ScoreCard:
    card = registry.cards.get(card_id)
    if card is None:
        raise HTTPException(404, f"no score card with id '{card_id[:100]}'; "
                                 "GET /api/v1/scorecards lists them")
    return card


Card = Annotated[ScoreCard, Depends(get_card)]
