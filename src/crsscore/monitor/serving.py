"""The monitor's HTTP protocol under uvicorn: h11 with Nagle's algorithm off on every connection.

``monitor serve --workers N`` (N > 1) runs uvicorn's multiprocess supervisor, which binds the
listening socket itself and hands it to the workers with ``proto`` 0; asyncio turns
``TCP_NODELAY`` on only for accepted sockets whose ``proto`` is ``IPPROTO_TCP``, so with
several workers every response on a kept-alive connection waited for the client's delayed
ACK: about 40 ms on Linux, more than the update itself (uvicorn issue #3149, open when this
was written). :class:`NoDelayH11Protocol` sets ``TCP_NODELAY`` on each connection, whatever
path created the listener; it is passed to uvicorn by import path (``http=``), so the
spawned workers load it too.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

#: ``uvicorn.Config(http=...)`` of every monitor server (one process or several workers).
HTTP_PROTOCOL = "crsscore.monitor.serving:NoDelayH11Protocol"


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


__all__ = ["HTTP_PROTOCOL", "NoDelayH11Protocol", "set_nodelay"]
