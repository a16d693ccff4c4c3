"""``monitor serve``'s HTTP layer: TCP_NODELAY on every connection, and several workers serving.

uvicorn's multiprocess supervisor binds the listening socket with ``proto`` 0, so asyncio left
Nagle's algorithm on and every kept-alive response waited for the client's delayed ACK (about
40 ms on Linux); :mod:`crsscore.monitor.serving` sets ``TCP_NODELAY`` itself.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from crsscore.monitor.serving import HTTP_PROTOCOL
from live_server import free_port


async def _ok(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def _accepted_nodelay(http: str) -> int:
    """TCP_NODELAY of the server side of a kept-alive connection, the listener bound the way
    uvicorn's worker supervisor binds it (``Config.bind_socket``)."""
    config = uvicorn.Config(_ok, host="127.0.0.1", port=free_port(), http=http,
                            log_level="warning", lifespan="off")
    sock = config.bind_socket()
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
            time.sleep(0.02)
        with httpx.Client(base_url=f"http://127.0.0.1:{config.port}") as client:
            assert client.get("/").text == "ok"
            (conn,) = list(server.server_state.connections)
            accepted = conn.transport.get_extra_info("socket")
            return int(accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def test_connections_have_nodelay_on_a_supervisor_bound_socket() -> None:
    assert _accepted_nodelay(HTTP_PROTOCOL) == 1


def test_two_workers_serve_the_api(tmp_path: Path) -> None:
    """``monitor serve --workers 2`` (the default) starts, authenticates and stores."""
    exe = [str(Path(sys.executable).parent / "crsscore")]
    db = f"sqlite:///{tmp_path / 'ward.db'}"
    env = {**os.environ, "NO_COLOR": "1"}
    made = subprocess.run([*exe, "monitor", "token", "create", "ward-pc", "--db", db],
                          capture_output=True, text=True, env=env, check=True)
    token = made.stdout.split()[0]
    port = free_port()
    proc = subprocess.Popen([*exe, "monitor", "serve", "--db", db, "--port", str(port),
                             "--workers", "2"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=env)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("monitor serve --workers 2 did not start: "
                            + (proc.stderr.read().decode() if proc.stderr else ""))
            time.sleep(0.2)
        auth = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, headers=auth, timeout=30) as client:
            assert client.get("/api/v1/patients").status_code == 200
            r = client.post("/api/v1/patients", json={"patients": [
                {"patient_id": "W1", "infusion_date": "2024-03-01"}]})
            assert r.status_code == 200, r.text
            for k in range(4):  # kept alive, answered by either worker
                r = client.post("/api/v1/patients/W1/observations", json={"observations": [
                    {"day": k + 0.25, "analyte": "temp", "value": 38.5 + k / 10,
                     "unit": "C"}]})
                assert r.status_code == 200, r.text
            stored = client.get("/api/v1/patients/W1").json()
            assert len(stored["observations"]) == 4
        assert httpx.get(f"{base}/api/v1/patients").status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_prepare_process_freezes_a_warm_heap() -> None:
    """In a fresh interpreter (freezing this one would outlive the test): the lazily imported
    modules are loaded, the heap is frozen, young collections are rarer."""
    code = (
        "import gc, sys\n"
        "from crsscore.monitor.serving import GC_THRESHOLD0, WARM_MODULES, prepare_process\n"
        "assert gc.get_freeze_count() == 0\n"
        "prepare_process()\n"
        "print(gc.get_freeze_count(), gc.get_threshold()[0],"
        " all(m in sys.modules for m in WARM_MODULES), GC_THRESHOLD0)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    frozen, threshold, warm, wanted = int(out[0]), int(out[1]), out[2], int(out[3])
    assert frozen > 10_000
    assert threshold == wanted > 700
    assert warm == "True"
