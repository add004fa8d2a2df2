"""The request body limit: an ASGI middleware that refuses a body larger than ``MAX_REQUEST_BODY_BYTES`` with 413,
before it is read into memory (a declared ``Content-Length``) or as soon as the bytes received pass it (chunked).

1 MiB is about twice the largest valid command: 20 goals of 2,000 characters, each written as a 12-byte JSON escape
(domain/limits.py), is under 0.5 MB.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import ErrorBody, ErrorDetail

__all__ = ["MAX_REQUEST_BODY_BYTES", "BodyLimit"]

MAX_REQUEST_BODY_BYTES = 1024 * 1024
"""The largest request body the API reads."""

_MESSAGE = f"the request body is larger than {MAX_REQUEST_BODY_BYTES} bytes (MAX_REQUEST_BODY_BYTES)"


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int = MAX_REQUEST_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            body = ErrorBody(error=ErrorDetail(type="PayloadTooLarge", message=_MESSAGE, field="body"))
            await JSONResponse(body.model_dump(), status_code=413)(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(413, _MESSAGE)  # the app's handler answers it like any 4xx
            return message

        await self.app(scope, limited, send)
