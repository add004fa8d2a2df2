"""A server span per HTTP request (OpenTelemetry; a no-op until the process installs the SDK: workers/telemetry.py).

The span continues a caller's trace (a W3C ``traceparent`` header) and is current while the route runs, so the
Temporal client's tracing interceptor makes the update a child of it. The response names the trace in
``X-Trace-Id`` when one is recorded. The span's name is the method only: paths hold relationship ids (unbounded).
"""

from __future__ import annotations

from opentelemetry import propagate, trace
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["TRACE_ID_HEADER", "TraceRequests"]

TRACE_ID_HEADER = "x-trace-id"
_tracer = trace.get_tracer("mentorflow.api")


class TraceRequests:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers") or []}
        method = scope.get("method", "HTTP")
        with _tracer.start_as_current_span(
            f"HTTP {method}",
            context=propagate.extract(carrier),
            kind=trace.SpanKind.SERVER,
            attributes={"http.request.method": method, "url.path": scope.get("path", "")},
        ) as span:
            context = span.get_span_context()

            async def send_traced(message: Message) -> None:
                if message["type"] == "http.response.start":
                    span.set_attribute("http.response.status_code", message["status"])
                    if context.is_valid:
                        headers = [*message.get("headers", []), (TRACE_ID_HEADER.encode(), _hex(context.trace_id))]
                        message = {**message, "headers": headers}
                await send(message)

            await self.app(scope, receive, send_traced)


def _hex(trace_id: int) -> bytes:
    return format(trace_id, "032x").encode()
