"""Published scores shipped with crsscore as score-card files (data, not code).

Each built-in score lives in ``crsscore/scores/builtin/<id>.json`` and is loaded, validated
and cached here.  The cards carry their citation, DOI, intended population, timepoint
(landmark and per-variable day windows), outcome, units, verification status and the
boundary conventions chosen where the papers leave equality undefined.

>>> sorted(builtin_scorecards())[:3]
['car-hematotox', 'easix', 'easix-log2']
>>> get_builtin("m-easix").variable("crp").unit
'mg/dL'
"""

from __future__ import annotations

import functools
from importlib.resources import files

from crsscore.errors import ScoreCardError
from crsscore.scores.scorecard import ScoreCard

_PACKAGE = "crsscore.scores"
_FOLDER = "builtin"


@functools.cache
def _load_all() -> dict[str, ScoreCard]:
    cards: dict[str, ScoreCard] = {}
    folder = files(_PACKAGE).joinpath(_FOLDER)
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".json"):
            continue
        try:
            card = ScoreCard.from_json(entry.read_text(encoding="utf-8"))
        except ScoreCardError as exc:
            raise ScoreCardError(f"built-in score card {entry.name}: {exc}") from None
        if f"{card.id}.json" != entry.name:
            raise ScoreCardError(f"built-in score card {entry.name} has id '{card.id}'; "
                                 "the file name must be '<id>.json'")
        cards[card.id] = card
    return cards


def builtin_ids() -> list[str]:
    """Identifiers of the built-in score cards, sorted."""
    return sorted(_load_all())


def builtin_scorecards() -> dict[str, ScoreCard]:
    """Every built-in score card by id (a new dict each call; the cards are frozen)."""
    return dict(_load_all())


def get_builtin(card_id: str) -> ScoreCard:
    """One built-in score card by id; :class:`ScoreCardError` listing the ids if unknown."""
    cards = _load_all()
    try:
        return cards[card_id]
    except KeyError:
        raise ScoreCardError(f"no built-in score card '{card_id}'; available: "
                             f"{', '.join(sorted(cards))}") from None


__all__ = ["builtin_ids", "builtin_scorecards", "get_builtin"]
