"""crsscore: build, validate and use prognostic scores for severe CRS after CAR-T in B-ALL."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("crsscore")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
