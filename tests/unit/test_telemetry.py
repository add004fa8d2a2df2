"""Log lines carry relationship id, seq and trace id (text or JSON); tracing stays off without an endpoint."""

from __future__ import annotations

import http.server
import io
import json
import logging
import os
import subprocess
import sys
import threading
from typing import ClassVar

import pytest
from opentelemetry.sdk.trace import TracerProvider

from workers.telemetry import JsonFormatter, StderrHandler, TextFormatter


def record(**extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("mentorflow.test", logging.INFO, __file__, 1, "applied %s", ("MeetingLogged",), None)
    for key, value in extra.items():
        setattr(rec, key, value)
    return rec


def test_json_lines_carry_the_relationship_seq_and_trace_of_the_current_span() -> None:
    tracer = TracerProvider().get_tracer("test")  # a recording span, without installing a global provider
    with tracer.start_as_current_span("apply") as span:
        line = json.loads(JsonFormatter().format(record(relationship_id="r-1", seq=7)))
    assert line["message"] == "applied MeetingLogged" and line["level"] == "INFO"
    assert line["relationship_id"] == "r-1" and line["seq"] == 7
    assert line["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert line["span_id"] == format(span.get_span_context().span_id, "016x")


def test_lines_outside_a_trace_say_only_what_they_know() -> None:
    line = json.loads(JsonFormatter().format(record()))
    assert set(line) == {"ts", "level", "logger", "message"}
    text = TextFormatter().format(record(relationship_id="r-2", seq=3))
    assert text.endswith("mentorflow.test: applied MeetingLogged relationship_id=r-2 seq=3")


def test_without_an_endpoint_nothing_is_installed() -> None:
    # A fresh interpreter: this test session may already hold a tracer provider (the tracing tests install one).
    code = (
        "from workers.settings import Settings, TelemetrySettings;"
        "from workers.telemetry import setup_tracing, temporal_interceptors, tracing_on;"
        "on = setup_tracing(Settings(telemetry=TelemetrySettings()), 'unit');"
        "print(on, tracing_on(), len(temporal_interceptors()))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MENTORFLOW_TELEMETRY")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split() == ["False", "False", "0"]


class _Collector(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, str, bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, self.headers["Content-Type"], body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_with_an_endpoint_spans_are_exported_by_otlp_http() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}/v1/traces"
    code = (
        "from opentelemetry import trace;"
        "from workers.settings import load_settings;"
        "from workers.telemetry import flush_tracing, setup_tracing, temporal_interceptors;"
        "on = setup_tracing(load_settings(), 'cli');"
        "trace.get_tracer('t').start_span('exported-span').end();"
        "flush_tracing();"
        "print(on, len(temporal_interceptors()))"
    )
    env = {**os.environ, "MENTORFLOW_TELEMETRY__OTLP_ENDPOINT": endpoint}
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    finally:
        server.shutdown()
        server.server_close()
    assert out.stdout.split() == ["True", "1"]
    [(path, content_type, body)] = _Collector.received
    assert path == "/v1/traces" and content_type == "application/x-protobuf"
    assert b"exported-span" in body and b"mentorflow-cli" in body  # the span and its service.name


def test_the_handler_writes_to_the_stderr_of_the_moment(monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = io.StringIO(), io.StringIO()
    handler = StderrHandler()
    handler.setFormatter(TextFormatter())
    monkeypatch.setattr(sys, "stderr", first)
    handler.handle(record(relationship_id="r-3", seq=1))
    first.close()  # an in-process CLI run ends and closes its captured stderr
    monkeypatch.setattr(sys, "stderr", second)
    handler.handle(record(relationship_id="r-3", seq=2))
    assert second.getvalue().rstrip().endswith("relationship_id=r-3 seq=2")
