"""The score cards a running service offers: built-in cards plus a folder of ``*.json``.

A card file that fails validation is recorded in :attr:`CardRegistry.rejected` (and
reported at start-up) instead of stopping the service.
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from crsscore.errors import ScoreCardError
from crsscore.scores.scorecard import ScoreCard

log = logging.getLogger("crsscore.service")

#: At most this many bytes are read from a score card file.
MAX_CARD_BYTES = 2_000_000
#: A score card id the service accepts: it goes into URLs, file names (Content-Disposition),
#: HTML and log lines, so only ASCII letters, digits, '.', '_' and '-' (no quote, no CR/LF,
#: no path separator), starting with a letter or digit, at most 100 characters.
CARD_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
CARD_ID_RULE = ("letters A-Z a-z, digits, '.', '_' and '-', starting with a letter or digit, "
                "at most 100 characters")


def card_id_problem(card_id: str) -> str | None:
    """Why ``card_id`` cannot be served, or None if it can."""
    if CARD_ID.fullmatch(card_id):
        return None
    return f"score card id {card_id[:100]!r} is not allowed: use {CARD_ID_RULE}"


@dataclass(frozen=True)
class Rejected:
    source: str
    error: str


@dataclass
class CardRegistry:
    cards: dict[str, ScoreCard] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    rejected: list[Rejected] = field(default_factory=list)

    def add(self, card: ScoreCard, source: str) -> None:
        bad_id = card_id_problem(card.id)
        if bad_id is not None:
            self.rejected.append(Rejected(source, bad_id))
            return
        if card.id in self.cards:
            self.rejected.append(Rejected(source, f"duplicate score card id '{card.id}' "
                                                  f"(already loaded from {self.sources[card.id]})"))
            return
        self.cards[card.id] = card
        self.sources[card.id] = source


def builtin_cards(reg: CardRegistry) -> None:
    """Add the package's built-in score cards (none if that module is not available)."""
    try:
        module = importlib.import_module("crsscore.scores.builtin")
        loader = module.builtin_scorecards
        cards: Mapping[str, ScoreCard] = loader()
    except (ImportError, AttributeError):
        return
    except ScoreCardError as exc:
        reg.rejected.append(Rejected("builtin", str(exc)))
        return
    for card in cards.values():
        reg.add(card, "builtin")


def load_registry(scorecard_dir: str | Path | None = None, *, builtin: bool = True,
                  extra: Iterable[ScoreCard] = ()) -> CardRegistry:
    """Collect the built-in cards, ``extra`` cards and every ``*.json`` in ``scorecard_dir``."""
    reg = CardRegistry()
    if builtin:
        builtin_cards(reg)
    for card in extra:
        reg.add(card, "extra")
    if scorecard_dir is not None:
        folder = Path(scorecard_dir)
        if not folder.is_dir():
            reg.rejected.append(Rejected(str(folder), "not a folder"))
        else:
            for path in sorted(folder.glob("*.json")):
                _load_file(reg, path)
    for bad in reg.rejected:
        log.warning("score card rejected: %s: %s", bad.source, bad.error)
    log.info("%d score card(s) loaded, %d rejected", len(reg.cards), len(reg.rejected))
    return reg


def _load_file(reg: CardRegistry, path: Path) -> None:
    try:
        if path.stat().st_size > MAX_CARD_BYTES:
            raise ScoreCardError(f"file larger than {MAX_CARD_BYTES} bytes")
        card = ScoreCard.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(x) for x in first["loc"]) or "document"
        reg.rejected.append(Rejected(str(path), f"invalid score card ({loc}): {first['msg']}"))
        return
    except (ScoreCardError, OSError) as exc:
        reg.rejected.append(Rejected(str(path), str(exc)))
        return
    reg.add(card, str(path))
