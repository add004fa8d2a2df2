"""The tracing interceptor changes no workflow decision: every saved history (tests/histories) replays with
temporalio's OpenTelemetry ``TracingInterceptor`` configured and an SDK tracer provider recording."""

from __future__ import annotations

from collections.abc import AsyncIterator

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import WorkflowHistory
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from tests.workflow.test_replay import HISTORIES, PROGRAM_HISTORIES, load
from workers.settings import Settings
from workers.telemetry import setup_tracing, tracing_on
from workflows.relationship import RelationshipWorkflow


async def test_every_saved_history_replays_with_the_tracing_interceptor() -> None:
    setup_tracing(Settings(), "replay-test", exporter=InMemorySpanExporter())
    assert tracing_on()
    replayer = Replayer(
        workflows=[RelationshipWorkflow], data_converter=pydantic_data_converter, interceptors=[TracingInterceptor()]
    )
    paths = HISTORIES + PROGRAM_HISTORIES

    async def histories() -> AsyncIterator[WorkflowHistory]:
        for path in paths:
            yield load(path)

    results = await replayer.replay_workflows(histories(), raise_on_replay_failure=False)
    failures = {run_id: str(failure) for run_id, failure in results.replay_failures.items()}
    assert len(paths) >= 20
    assert failures == {}
