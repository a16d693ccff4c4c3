"""ASGI middleware: request body size limits and error responses that never leak inputs."""

from __future__ import annotations

import json
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("crsscore.service")

#: Limits in bytes: JSON and form bodies, and file uploads (multipart).
MAX_JSON_BYTES = 1_000_000
MAX_UPLOAD_BYTES = 10_000_000


async def _send_json(send: Send, status: int, payload: dict[str, object]) -> None:
    body = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class BodySizeLimitMiddleware:
    """Refuse request bodies over the limit with 413, before the application reads them.

    The declared Content-Length is checked first; chunked bodies are counted as they stream.
    """

    def __init__(self, app: ASGIApp, *, max_json: int = MAX_JSON_BYTES,
                 max_upload: int = MAX_UPLOAD_BYTES) -> None:
        self.app = app
        self.max_json = max_json
        self.max_upload = max_upload

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        ctype = headers.get(b"content-type", b"").decode("latin-1").lower()
        limit = self.max_upload if ctype.startswith("multipart/") else self.max_json
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                size = -1
            if size > limit:
                await self._refuse(send, limit)
                return
        received = 0
        started = False
        refused = False

        async def limited_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    if not started:
                        await self._refuse(send, limit)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 has been sent; drop the application's response
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not refused:
                raise  # a real error: SafeErrorMiddleware deals with it

    @staticmethod
    async def _refuse(send: Send, limit: int) -> None:
        await _send_json(send, 413, {"detail": [{
            "loc": ["body"], "msg": "request body too large", "type": "too_large",
            "expected": f"at most {limit} bytes"}]})


class SafeErrorMiddleware:
    """Turn an unexpected exception into a plain 500 and log only its type and the route.

    Exception messages can quote input values; they are neither logged nor returned.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            log.error("internal error %s on %s %s", type(exc).__name__, scope.get("method"),
                      scope.get("path"))
            if not started:
                await _send_json(send, 500, {"detail": "internal error"})
