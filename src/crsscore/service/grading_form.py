"""Whether ASTCT grading (``crsscore.grading``) is available to the service."""

from __future__ import annotations

import importlib


def grading_available() -> bool:
    try:
        module = importlib.import_module("crsscore.grading")
    except ImportError:
        return False
    return hasattr(module, "grade_crs_day") and hasattr(module, "grade_icans_day")
