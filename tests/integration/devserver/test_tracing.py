"""One trace from an HTTP request to the projector's apply of its event, through the real components in-process:
the API app (``build_app``, the one ``mentorflow api`` serves), the Temporal client and worker (temporalio's tracing
interceptor, as ``workers.worker.connect`` configures it) on the dev server, the publish activity to a real Kafka
topic and the real Projector into SQLite. Spans go to an in-memory exporter; the trace context travels in the Kafka
record headers, and the record's value stays the envelope's hash-chained bytes."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import secrets
import uuid
from pathlib import Path

import httpx
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import select

from activities.notifications import LogSink, Notifier
from activities.publishing import KafkaPublisher
from domain import verify_chain
from projections.db import make_engine, migrate
from projections.models import EventLog
from projections.projector import Projector
from tests.cache import TEST_WORKFLOW_CACHE
from workers.cli.api import build_app
from workers.settings import ApiSettings, DatabaseSettings, Settings
from workers.telemetry import JsonFormatter, setup_tracing
from workers.worker import build_worker, connect

TOKEN = f"trace-{secrets.token_urlsafe(24)}"


async def test_one_trace_id_from_the_api_request_to_the_projectors_apply(
    stack: Settings, kafka_topic: str, tmp_path: Path
) -> None:
    exporter = InMemorySpanExporter()
    assert setup_tracing(stack, "trace-test", exporter=exporter)
    queue = f"trace-{uuid.uuid4().hex[:8]}"
    database_url = f"sqlite:///{tmp_path / 'mentorflow.db'}"
    settings = stack.model_copy(
        update={
            "run_dir": tmp_path,
            "temporal": stack.temporal.model_copy(update={"task_queue": queue}),
            "database": DatabaseSettings(url=database_url),
            "api": ApiSettings(tokens={TOKEN: "platform:trace-test"}),
        }
    )
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(JsonFormatter())
    apply_log = logging.getLogger("mentorflow.projector.apply")
    apply_log.addHandler(handler)
    apply_log.setLevel(logging.DEBUG)

    client = await connect(settings)  # with the tracing interceptor: tracing is on
    publisher = KafkaPublisher(stack.kafka.bootstrap_servers, kafka_topic)
    worker = build_worker(
        client,
        task_queue=queue,
        publisher=publisher,
        notifier=Notifier(LogSink(tmp_path / "notifications.jsonl")),
        max_cached_workflows=TEST_WORKFLOW_CACHE,
    )
    app = build_app(settings)
    rid = f"trace-{uuid.uuid4().hex[:10]}"
    try:
        async with worker, app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
                response = await http.post(
                    "/relationships",
                    headers={"Authorization": f"Bearer {TOKEN}"},
                    json={
                        "relationship_id": rid,
                        "program_id": "trace-program",
                        "mentor_id": "ana",
                        "mentee_id": "bo",
                        "policy": "mentoring-12m",
                        "actor": {"id": "mgr-1", "role": "manager"},
                    },
                    timeout=60,
                )
            assert response.status_code == 201, response.text
            trace_id = response.headers["x-trace-id"]
            await asyncio.to_thread(migrate, database_url)
            async with Projector(
                database_url=database_url,
                bootstrap_servers=stack.kafka.bootstrap_servers,
                topic=kafka_topic,
                group_id=None,
                dead_letter_topic=None,
            ) as projector:
                deadline = asyncio.get_running_loop().time() + 60
                while not [s for s in exporter.get_finished_spans() if s.name == "ApplyEvent"]:
                    assert asyncio.get_running_loop().time() < deadline, "the event was never applied"
                    await projector.run(until_caught_up=True, poll_ms=200)
                    await asyncio.sleep(0.2)
    finally:
        apply_log.removeHandler(handler)
        await publisher.close()

    spans = [s for s in exporter.get_finished_spans() if format(s.context.trace_id, "032x") == trace_id]
    names = [s.name for s in spans]
    assert "HTTP POST" in names
    assert any(n.startswith("StartUpdateWithStartWorkflow") for n in names), names
    assert any(n.startswith("RunWorkflow") for n in names), names
    publish = next(s for s in spans if s.name == "RunActivity:publish_events")
    apply = next(s for s in spans if s.name == "ApplyEvent")
    assert apply.parent is not None and apply.parent.span_id == publish.context.span_id
    assert apply.attributes is not None
    assert apply.attributes["mentorflow.relationship_id"] == rid and apply.attributes["mentorflow.seq"] == 1

    # The trace rode in the headers: the stored envelope is the hash-chained bytes, nothing added.
    engine = make_engine(database_url)
    with engine.connect() as conn:
        stored = conn.execute(select(EventLog.envelope).where(EventLog.relationship_id == rid)).scalars().all()
    engine.dispose()
    assert stored and all("traceparent" not in text for text in stored)
    assert verify_chain(text.encode() for text in stored).ok

    logged = [json.loads(line) for line in lines.getvalue().splitlines()]
    assert any(
        line.get("relationship_id") == rid and line.get("seq") == "1" and line.get("trace_id") == trace_id
        for line in logged
    ), logged
