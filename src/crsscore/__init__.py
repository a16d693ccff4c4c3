"""crsscore: build, validate and use prognostic scores for severe CRS after CAR-T in B-ALL."""

from __future__ import annotations

from typing import Any

__all__ = ["__version__"]


def __getattr__(name: str) -> Any:
    # The version is read from the installed metadata on first use: importlib.metadata costs
    # about 0.1 s at import, which `crsscore --help` need not pay (issue 18, item 4).
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            value = version("crsscore")
        except PackageNotFoundError:  # pragma: no cover - running from a source tree
            value = "0.0.0+unknown"
        globals()["__version__"] = value
        return value
    raise AttributeError(f"module 'crsscore' has no attribute {name!r}")
