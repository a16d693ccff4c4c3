"""A live uvicorn server for browser and logging tests, shared by the service and the monitor.

:class:`LiveServer` runs uvicorn in a thread on a free loopback port with the configuration
its subclass builds (as ``crsscore serve`` or ``crsscore monitor serve`` does);
:func:`restored_logging` puts back the loggers that uvicorn's logging configuration changes.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """uvicorn in a thread on a free loopback port; ``config`` builds its uvicorn Config."""

    def __init__(self, fastapi_app: Any) -> None:
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(self.config(fastapi_app, self.port))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def config(self, fastapi_app: Any, port: int) -> Any:
        raise NotImplementedError

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


#: The loggers ``crsscore serve`` configures (restored after a test that starts it).
SERVICE_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "crsscore.service")


@contextlib.contextmanager
def restored_logging(names: Sequence[str]) -> Iterator[None]:
    """Undo what a server's logging configuration did to the loggers ``names``."""
    saved = {}
    for name in names:
        lg = logging.getLogger(name)
        saved[name] = (list(lg.handlers), list(lg.filters), lg.level, lg.propagate)
    try:
        yield
    finally:
        for name, (handlers, filters, level, propagate) in saved.items():
            lg = logging.getLogger(name)
            lg.handlers[:] = handlers
            lg.filters[:] = filters
            lg.setLevel(level)
            lg.propagate = propagate
