"""Logging for the service: access lines without query strings, never bodies.

Patient values and identifiers must never reach a log.  Bodies are never logged by
uvicorn or by crsscore; query strings are cut from uvicorn's access lines by
:class:`DropQueryString` (the API takes no patient data in the query, but a client might).
"""

from __future__ import annotations

import logging
from typing import Any


class DropQueryString(logging.Filter):
    """Remove the query string from uvicorn access records (``args[2]`` is the path)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True


def log_config(level: str = "INFO") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` mapping for uvicorn and crsscore."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"drop_query": {"()": "crsscore.service.logconfig.DropQueryString"}},
        "formatters": {
            "default": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
            "access": {"format": '%(asctime)s %(levelname)s access: %(message)s'},
        },
        "handlers": {
            "default": {"class": "logging.StreamHandler", "formatter": "default",
                        "stream": "ext://sys.stderr"},
            "access": {"class": "logging.StreamHandler", "formatter": "access",
                       "filters": ["drop_query"], "stream": "ext://sys.stderr"},
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": ["access"], "level": level, "propagate": False,
                               "filters": ["drop_query"]},
            "crsscore.service": {"handlers": ["default"], "level": level, "propagate": False},
        },
    }
