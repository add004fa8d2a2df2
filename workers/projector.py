"""``mentorflow projector``: the long-running projection process (DESIGN §6), wired to the settings.

Ensures the events topic and its dead-letter topic exist (topics are never auto-created), applies the migrations, then
consumes until SIGTERM/SIGINT, finishing the current batch.
"""

from __future__ import annotations

import asyncio
import contextlib

from prometheus_client import CollectorRegistry

from projections.projector import Projector, ProjectorMetrics, run_projector
from projections.topics import dead_letter_topic
from workers.metrics.common import periodically, serve_registry
from workers.metrics.process_projector import ProjectorCollector, ProjectorGauges, sample_projector
from workers.services.kafka import ensure_topics
from workers.settings import Settings


async def serve(
    settings: Settings,
    *,
    topic: str | None = None,
    group_id: str | None = None,
    database_url: str | None = None,
    max_records: int = 5000,
    session_timeout_ms: int = 10_000,
    metrics: bool = True,
) -> ProjectorMetrics:
    """``metrics``: serve /metrics on ``settings.metrics.projector_port`` (docs/operations.md)."""
    topic = topic or settings.kafka.events_topic
    dead_letters = dead_letter_topic(topic)
    await ensure_topics(settings.kafka.access, {topic: settings.kafka.partitions, dead_letters: 1})
    registry = CollectorRegistry()
    collector = ProjectorCollector()
    registry.register(collector)
    gauges = ProjectorGauges(registry)
    server = serve_registry(registry, settings.metrics.host, settings.metrics.projector_port) if metrics else None
    stop = asyncio.Event()
    samplers: list[asyncio.Task[None]] = []

    def started(projector: Projector) -> None:
        collector.metrics = projector.metrics
        if server is not None:
            sample = lambda: sample_projector(gauges, projector)  # noqa: E731
            samplers.append(asyncio.create_task(periodically(stop, settings.metrics.sample_seconds, sample)))

    try:
        return await run_projector(
            database_url=database_url or settings.database_url,
            bootstrap_servers=settings.kafka.access,
            topic=topic,
            group_id=group_id or settings.kafka.projector_group_id,
            dead_letter_topic=dead_letters,
            max_records=max_records,
            session_timeout_ms=session_timeout_ms,
            stop=stop,
            started=started,
        )
    finally:
        stop.set()
        for task in samplers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, timeout=10)
        if server is not None:
            server.shutdown()
            server.server_close()


def main(settings: Settings, *, log_level: str = "INFO", **kwargs: object) -> ProjectorMetrics:
    from workers.telemetry import flush_tracing, setup_logging, setup_tracing

    setup_logging(settings, log_level)
    setup_tracing(settings, "projector")
    try:
        return asyncio.run(serve(settings, **kwargs))  # type: ignore[arg-type]
    finally:
        flush_tracing()
