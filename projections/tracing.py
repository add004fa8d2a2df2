"""The projector's side of a trace: an ``ApplyEvent`` span per applied record that carries a trace context.

The publish activity puts the W3C ``traceparent`` (and ``tracestate``) of its span in each record's Kafka headers —
never in the hash-chained value, whose bytes stay the envelope's. After the batch's transaction commits, each such
record gets a span under that context, timed as the batch (start to commit), with the relationship id, seq and
offset, and a DEBUG log line under it (so the line carries the trace id). Records without the header cost one scan
of their headers; with no OpenTelemetry SDK installed the spans are no-ops.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from opentelemetry import propagate, trace

from projections.decode import Message

__all__ = ["TRACE_HEADERS", "trace_applied"]

TRACE_HEADERS = ("traceparent", "tracestate")
log = logging.getLogger("mentorflow.projector.apply")
_tracer = trace.get_tracer("mentorflow.projector")


def _header(message: Message, name: str) -> str | None:
    for key, value in message.headers:
        if key == name:
            return value.decode("latin-1")
    return None


def trace_applied(messages: Sequence[Message], started_ns: int, ended_ns: int) -> int:
    """Record the apply span of each traced message of a committed batch; returns how many were traced."""
    traced = 0
    for message in messages:
        carrier = {name: value for name in TRACE_HEADERS if (value := _header(message, name)) is not None}
        if "traceparent" not in carrier:
            continue
        relationship_id = message.key.decode("utf-8", "replace") if message.key else ""
        seq = _header(message, "seq") or ""
        span = _tracer.start_span(
            "ApplyEvent",
            context=propagate.extract(carrier),
            kind=trace.SpanKind.CONSUMER,
            start_time=started_ns,
            attributes={
                "mentorflow.relationship_id": relationship_id,
                "mentorflow.seq": int(seq) if seq.isdigit() else -1,
                "mentorflow.event_type": _header(message, "type") or "",
                "messaging.destination.name": message.topic,
                "messaging.kafka.partition": message.partition,
                "messaging.kafka.offset": message.offset,
            },
        )
        with trace.use_span(span, end_on_exit=False):
            log.debug("applied %s", _header(message, "type"), extra={"relationship_id": relationship_id, "seq": seq})
        span.end(end_time=ended_ns)
        traced += 1
    return traced
