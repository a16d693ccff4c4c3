"""Debian's Chromium for the browser tests: its path, the flags a closed machine needs, the marks."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

_F = TypeVar("_F", bound=Callable[..., Any])

CHROMIUM = "/usr/bin/chromium"
#: Without the background-networking flags Chromium's connections are refused by this
#: closed network, many at a time; a new, empty profile each launch.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-quic", "--no-first-run", "--disable-component-update",
                 "--disable-sync"]
#: ``pytestmark`` (or decorators) of a test that drives Chromium: skipped, with the reason,
#: where Debian's chromium is not installed.
NEEDS_CHROMIUM = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"needs {CHROMIUM}"),
]


def needs_chromium(test: _F) -> _F:
    """Decorator form of :data:`NEEDS_CHROMIUM` for one test."""
    for mark in NEEDS_CHROMIUM:
        test = mark(test)
    return test
