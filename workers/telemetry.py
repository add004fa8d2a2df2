"""Tracing and log lines for every process (docs/operations.md, "Tracing and logs").

* **Tracing** is off unless ``MENTORFLOW_TELEMETRY__OTLP_ENDPOINT`` names an OTLP/HTTP collector: then each process
  installs the OpenTelemetry SDK with a batch exporter to it, its Temporal client carries temporalio's
  ``TracingInterceptor`` (client calls, and — through the client — the worker's workflow and activity spans), the
  publish activity puts the W3C ``traceparent`` in each Kafka record's headers (never in the hash-chained value) and
  the projector opens its apply span under it. Off, nothing is installed: the OpenTelemetry API stays a no-op.
* **Log lines** carry ``relationship_id`` and ``seq`` where the code knows them (``extra=``) and the current trace id;
  ``MENTORFLOW_TELEMETRY__JSON_LOGS=true`` writes one JSON object per line instead of text.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from opentelemetry import trace

from workers.settings import Settings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from temporalio.client import Interceptor

__all__ = [
    "JsonFormatter",
    "StderrHandler",
    "TextFormatter",
    "cli_span",
    "flush_tracing",
    "setup_logging",
    "setup_tracing",
    "temporal_interceptors",
    "tracing_on",
]

LOG_FIELDS = ("relationship_id", "seq", "trace_id", "span_id")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_tracing(settings: Settings, process: str, *, exporter: SpanExporter | None = None) -> bool:
    """Install the SDK tracer provider for ``process`` (worker, projector, api, cli) when an OTLP endpoint is set or
    an ``exporter`` is given (tests: an in-memory one, exported at once); True when tracing is on."""
    if tracing_on():
        if exporter is not None:  # a test's exporter joins the provider a process already has
            from opentelemetry.sdk.trace.export import SimpleSpanProcessor

            trace.get_tracer_provider().add_span_processor(SimpleSpanProcessor(exporter))  # type: ignore[attr-defined]
        return True
    endpoint = settings.telemetry.otlp_endpoint
    if exporter is None and not endpoint:
        return False
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    provider = TracerProvider(
        resource=Resource.create({"service.name": f"{settings.telemetry.service_name}-{process}"})
    )
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    trace.set_tracer_provider(provider)
    return True


def cli_span() -> AbstractContextManager[object]:
    """The root span of a CLI command, named by its command path (``mentorflow relationship do``); a no-op span
    when tracing is off. The Temporal client's interceptor makes the update its child."""
    import click

    context = click.get_current_context(silent=True)
    name = context.command_path if context is not None else "mentorflow"
    return trace.get_tracer("mentorflow.cli").start_as_current_span(name, kind=trace.SpanKind.CLIENT)


def tracing_on() -> bool:
    from opentelemetry.sdk.trace import TracerProvider

    return isinstance(trace.get_tracer_provider(), TracerProvider)


def flush_tracing(timeout_millis: int = 5000) -> None:
    """Export what is buffered (a CLI command ends without finalizers: workers/cli exit_without_finalization)."""
    provider = trace.get_tracer_provider()
    if tracing_on():
        sdk: TracerProvider = provider  # type: ignore[assignment]
        sdk.force_flush(timeout_millis)


def temporal_interceptors() -> Sequence[Interceptor]:
    """temporalio's OpenTelemetry interceptor when tracing is on (on the client: also every worker built on it)."""
    if not tracing_on():
        return ()
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return (TracingInterceptor(),)


def _trace_fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = {name: getattr(record, name) for name in ("relationship_id", "seq") if getattr(record, name, None)}
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        fields["trace_id"] = format(context.trace_id, "032x")
        fields["span_id"] = format(context.span_id, "016x")
    return fields


class TextFormatter(logging.Formatter):
    """The usual text line, then ``relationship_id=… seq=… trace_id=…`` for those the record knows."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = _trace_fields(record)
        fields.pop("span_id", None)
        return line + "".join(f" {k}={v}" for k, v in fields.items())


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts, level, logger, message`` and ``relationship_id, seq, trace_id, span_id`` when
    known, ``exception`` with the traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_trace_fields(record),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to ``sys.stderr`` as it is at each line (as ``logging.lastResort`` does), not the stream of the
    moment it was made: a replaced or closed stderr (an in-process CLI run) never turns into a logging error."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self) -> Any:
        return sys.stderr


def setup_logging(settings: Settings, level: str = "INFO") -> None:
    """The root logger's one handler (stderr) with the text or JSON formatter of the settings."""
    handler = StderrHandler()
    handler.setFormatter(JsonFormatter() if settings.telemetry.json_logs else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
