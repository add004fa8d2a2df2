"""The trace doors take hostile input: a caller's ``traceparent`` that is garbage, huge or binary-ish is ignored
(the request is served, no 500), a well-formed one is continued and named back in ``X-Trace-Id``."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from api.tracing import TRACE_ID_HEADER
from projections.decode import Message
from projections.tracing import trace_applied
from tests.unit.api.conftest import bearer, propose
from workers.settings import Settings
from workers.telemetry import setup_tracing

HOSTILE: list[str | bytes] = [
    "garbage",
    "00-" + "0" * 32 + "-" + "0" * 16 + "-01",  # the all-zero (invalid) ids
    "ff-" + "a" * 32 + "-" + "b" * 16 + "-01",  # version ff is forbidden
    "00-" + "g" * 32 + "-" + "b" * 16 + "-01",
    "00-" + "a" * 5000,
    b"\xe9\xe9\xff",  # not ASCII
]
CALLER = "00-" + "4bf92f3577b34da6a3ce929d0e0e4736" + "-" + "00f067aa0ba902b7" + "-01"


@pytest.fixture(scope="module")
def spans() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    setup_tracing(Settings(), "unit-api", exporter=exporter)
    return exporter


@pytest.mark.parametrize("value", HOSTILE)
def test_a_hostile_traceparent_is_ignored(client: TestClient, spans: InMemorySpanExporter, value: str | bytes) -> None:
    propose(client, "rel-trace-1")
    response = client.get(
        "/relationships/rel-trace-1", headers={**bearer("t-manager"), "traceparent": value, "tracestate": value}
    )
    assert response.status_code == 200, response.text
    assert response.headers[TRACE_ID_HEADER] != "0" * 32


def test_a_callers_trace_is_continued(client: TestClient, spans: InMemorySpanExporter) -> None:
    propose(client, "rel-trace-2")
    response = client.get("/relationships/rel-trace-2", headers={**bearer("t-manager"), "traceparent": CALLER})
    assert response.status_code == 200
    assert response.headers[TRACE_ID_HEADER] == "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.mark.parametrize("value", [b"garbage", b"\xff\xfe", b"00-" + b"a" * 10_000])
def test_a_hostile_traceparent_in_a_kafka_record_is_a_root_span_not_a_crash(
    spans: InMemorySpanExporter, value: bytes
) -> None:
    spans.clear()
    message = Message("t", 0, 7, b"r-1", b"{}", (("seq", b"3"), ("traceparent", value), ("type", b"MeetingLogged")))
    untraced = Message("t", 0, 8, b"r-1", b"{}", (("seq", b"4"),))
    assert trace_applied([message, untraced], 1, 2) == 1
    [span] = spans.get_finished_spans()
    assert span.name == "ApplyEvent" and span.parent is None
    assert span.attributes is not None and span.attributes["mentorflow.seq"] == 3
