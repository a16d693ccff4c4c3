"""A ``monitor serve`` process: h11 with Nagle's algorithm off, and a heap frozen before serving.

``monitor serve --workers N`` (N > 1) runs uvicorn's multiprocess supervisor, which binds the
listening socket itself and hands it to the workers with ``proto`` 0; asyncio turns
``TCP_NODELAY`` on only for accepted sockets whose ``proto`` is ``IPPROTO_TCP``, so with
several workers every response on a kept-alive connection waited for the client's delayed
ACK: about 40 ms on Linux, more than the update itself (uvicorn issue #3149, open when this
was written). :class:`NoDelayH11Protocol` sets ``TCP_NODELAY`` on each connection, whatever
path created the listener; it is passed to uvicorn by import path (``http=``), so the
spawned workers load it too.

:func:`prepare_process` runs once in each serving process before the first request: it imports
what the first update and page would import, collects once and freezes the heap
(``gc.freeze``), and raises the first generation's threshold. The ~150,000 objects of the
loaded libraries are then never scanned again: without it a full collection came about once
every 200 updates and took ~110 ms (the p99 of a ward under load), and the young collections
~0.6 ms an update.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import socket
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

#: ``uvicorn.Config(http=...)`` of every monitor server (one process or several workers).
HTTP_PROTOCOL = "crsscore.monitor.serving:NoDelayH11Protocol"


#: Modules an update or a page imports on first use (imported before the heap is frozen).
WARM_MODULES = ("crsscore.data.check", "crsscore.grading", "crsscore.modeling.persondays",
                "crsscore.monitor.views", "crsscore.monitor.charts")
#: Allocations between young collections (Python's default is 700; one update allocates
#: several thousand short-lived objects).
GC_THRESHOLD0 = 10_000


def prepare_process() -> None:
    """Make this process ready to serve: warm imports, one collection, the heap frozen."""
    for name in WARM_MODULES:
        importlib.import_module(name)
    gc.collect()
    gc.freeze()
    _gen0, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_THRESHOLD0, gen1, gen2)


def set_nodelay(transport: asyncio.BaseTransport) -> None:
    """Turn Nagle's algorithm off on the transport's TCP socket (not on a Unix socket)."""
    sock: Any = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:  # pragma: no cover - a closed or exotic socket: leave it as it is
            pass


class NoDelayH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with ``TCP_NODELAY`` set on the connection."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        set_nodelay(transport)
        super().connection_made(transport)


__all__ = ["GC_THRESHOLD0", "HTTP_PROTOCOL", "WARM_MODULES", "NoDelayH11Protocol",
           "prepare_process", "set_nodelay"]
