"""Logging of the monitor: the service's configuration plus redaction of patient ids in paths.

Access lines name the route, never the patient: ``/api/v1/patients/SIM0001/observations`` is
logged as ``/api/v1/patients/{id}/observations`` (and ``/ward/patients/{id}``).  Bodies and
query strings are never logged (see :mod:`crsscore.service.logconfig`).
"""

from __future__ import annotations

import logging
import re
from typing import Any

_PATIENT_PATH = re.compile(r"(/patients/)[^/?\s]+")


def redact_path(path: str) -> str:
    return _PATIENT_PATH.sub(r"\1{id}", path.split("?", 1)[0])


class RedactPatientIds(logging.Filter):
    """Replace patient ids in uvicorn access records (``args[2]`` is the path)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_path(args[2]), *args[3:])
        return True


class RedactPathsInArgs(logging.Filter):
    """Redact patient ids in any path-like argument (the service's error line names the path
    of a failed request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and any(isinstance(a, str) and "/patients/" in a
                                           for a in args):
            record.args = tuple(redact_path(a) if isinstance(a, str) and "/patients/" in a
                                else a for a in args)
        return True


def monitor_log_config(level: str = "INFO") -> dict[str, Any]:
    from crsscore.service.logconfig import log_config

    cfg = log_config(level)
    cfg["filters"]["redact_ids"] = {"()": "crsscore.monitor.logconfig.RedactPatientIds"}
    cfg["handlers"]["access"]["filters"] = ["drop_query", "redact_ids"]
    cfg["loggers"]["uvicorn.access"]["filters"] = ["drop_query", "redact_ids"]
    cfg["filters"]["redact_args"] = {"()": "crsscore.monitor.logconfig.RedactPathsInArgs"}
    cfg["loggers"]["crsscore.service"]["filters"] = ["redact_args"]
    cfg["loggers"]["uvicorn.error"]["filters"] = ["redact_args"]
    cfg["loggers"]["crsscore.monitor"] = {"handlers": ["default"], "level": level,
                                          "propagate": False, "filters": ["redact_args"]}
    return cfg


def monitor_uvicorn_config(fastapi_app: Any, *, host: str = "127.0.0.1", port: int = 8001,
                           log_level: str = "info") -> Any:
    import uvicorn

    from crsscore.monitor.serving import HTTP_PROTOCOL

    return uvicorn.Config(fastapi_app, host=host, port=port, http=HTTP_PROTOCOL,
                          log_config=monitor_log_config(log_level.upper()),
                          log_level=log_level, access_log=True, server_header=False,
                          proxy_headers=False, timeout_graceful_shutdown=5)


__all__ = ["RedactPathsInArgs", "RedactPatientIds", "monitor_log_config", "monitor_uvicorn_config", "redact_path"]
