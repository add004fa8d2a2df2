"""``mentorflow worker``: runs RelationshipWorkflow and its activities on the task queue.

Composition only: connect (pydantic data converter), make sure the events topic exists, build the long-lived Kafka
producer and the notification sink, run the Temporal worker until SIGTERM/SIGINT, then shut down gracefully
(``Worker.shutdown``: no new tasks are polled, in-flight activities get ``graceful_shutdown_timeout`` to finish;
whatever does not finish is retried by Temporal on the next worker, so nothing is lost).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

from temporalio.client import Client
from temporalio.runtime import Runtime
from temporalio.worker import Worker

from activities.notifications import LogSink, Notifier, NotifySink, WebhookSink
from activities.publishing import KafkaPublisher, PublishReceipt
from domain import Envelope
from projections.kafka_access import kafka_options
from workers.connect import temporal_client, warn_if_plaintext
from workers.metrics.common import periodically, serve_registry
from workers.metrics.process_worker import WorkerMetrics, sdk_runtime
from workers.settings import Settings, load_settings
from workflows.client import MentorflowClient
from workflows.program import ProgramWorkflow
from workflows.relationship import RelationshipWorkflow
from workflows.sandbox import WORKFLOW_RUNNER

__all__ = ["WORKFLOW_CACHE", "WorkerConfig", "build_worker", "connect", "make_sink", "run_worker"]

log = logging.getLogger("mentorflow.worker")

GRACEFUL_SHUTDOWN = timedelta(seconds=15)
WORKFLOW_CACHE = 1000
"""Workflows kept in memory between tasks (the SDK's default). 0 replays every task from its history: slower, and
the strictest proof that the workflow decides from history alone (the test tiers run with 0)."""


async def connect(settings: Settings, *, runtime: Runtime | None = None) -> Client:
    """A Temporal client with the pydantic data converter (the one converter client, worker and Replayer share)."""
    return await temporal_client(settings, runtime=runtime)


def make_sink(settings: Settings, webhook_url: str | None = None, log_path: Path | None = None) -> NotifySink:
    if webhook_url:
        return WebhookSink(webhook_url)
    return LogSink(log_path or settings.run_dir / "logs" / "notifications.jsonl")


class Publisher(Protocol):
    """What the worker registers as the publishing activity: ``KafkaPublisher``, or the workflow tier's test activity
    of the same name (tests/workflow/conftest.py)."""

    @property
    def publish(self) -> Callable[[list[Envelope]], Awaitable[PublishReceipt]]: ...


def build_worker(
    client: Client,
    *,
    task_queue: str,
    publisher: Publisher,
    notifier: Notifier,
    graceful_shutdown_timeout: timedelta = GRACEFUL_SHUTDOWN,
    max_concurrent_activities: int = 100,
    max_cached_workflows: int = WORKFLOW_CACHE,
) -> Worker:
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[RelationshipWorkflow, ProgramWorkflow],
        workflow_runner=WORKFLOW_RUNNER,  # the workflows package imported once, not per workflow run (memory)
        activities=[publisher.publish, notifier.notify],
        graceful_shutdown_timeout=graceful_shutdown_timeout,
        max_concurrent_activities=max_concurrent_activities,
        max_cached_workflows=max_cached_workflows,
    )


@dataclass
class WorkerConfig:
    settings: Settings
    topic: str | None = None  # default: settings.kafka.events_topic
    task_queue: str | None = None  # default: settings.temporal.task_queue
    webhook_url: str | None = None
    notification_log: Path | None = None
    create_topic: bool = True
    # Archive each closed relationship's workflow history into the audit store (DESIGN §7: verify must still work
    # after the namespace's retention has deleted it). Every worker may run it: an archived run is never rewritten.
    archive_interval: float | None = 60.0
    # Erase, by itself, the people whose relationships all closed longer ago than their program's retention
    # (projections/privacy/retention.py). None: settings.privacy.retention_interval_seconds; 0: off.
    retention_interval: float | None = None
    database_url: str | None = None  # default: settings.database_url
    max_cached_workflows: int = WORKFLOW_CACHE
    # Serve /metrics (settings.metrics: worker_port, worker_sdk_port); `mentorflow worker` turns it on. Off here so
    # that a test running many workers in one process does not fight over the ports.
    metrics: bool = False


async def ensure_events_topic(settings: Settings, topic: str) -> list[str]:
    """Create the events topic (and its dead-letter topic) if missing; fail clearly if Kafka cannot be reached."""
    from aiokafka.admin import AIOKafkaAdminClient

    from workers.services.kafka import ensure_topics

    wanted = {topic: settings.kafka.partitions}
    if topic == settings.kafka.events_topic:
        wanted[settings.kafka.dead_letter_topic] = 1

    async def ensure() -> list[str]:
        # ensure_topics also waits until a topic has at least the partitions asked for: an existing topic keeps
        # the partitions it was made with, so only ask for them when creating.
        admin = AIOKafkaAdminClient(**kafka_options(settings.kafka.access), request_timeout_ms=10_000)
        await admin.start()
        try:
            existing = set(await admin.list_topics())
        finally:
            await admin.close()
        minimum = {name: 1 if name in existing else count for name, count in wanted.items()}
        return await ensure_topics(settings.kafka.access, minimum)

    try:
        return await asyncio.wait_for(ensure(), timeout=30)
    except Exception as exc:
        raise RuntimeError(
            f"cannot reach Kafka at {settings.kafka.bootstrap_servers} to create topic {topic!r}: "
            f"{type(exc).__name__}: {exc} (is the broker up? `mentorflow services up`)"
        ) from exc


async def run_worker(
    config: WorkerConfig,
    *,
    stop: asyncio.Event | None = None,
    signals: Sequence[signal.Signals] = (signal.SIGTERM, signal.SIGINT),
    ready: asyncio.Event | None = None,
) -> None:
    """Run until ``stop`` is set or a signal arrives, then shut down gracefully."""
    settings = config.settings
    warn_if_plaintext(settings)
    topic = config.topic or settings.kafka.events_topic
    task_queue = config.task_queue or settings.temporal.task_queue
    if config.create_topic:
        created = await ensure_events_topic(settings, topic)
        if created:
            log.info("created topics %s", created)
    m = settings.metrics
    runtime = sdk_runtime(m.host, m.worker_sdk_port, settings.temporal.core_log_level) if config.metrics else None
    try:
        client = await connect(settings, runtime=runtime)
    except Exception as exc:
        raise RuntimeError(
            f"cannot reach Temporal at {settings.temporal.address}: {exc} (is it up? `mentorflow services up`)"
        ) from exc
    metrics = WorkerMetrics()
    publisher = KafkaPublisher(settings.kafka.access, topic, observer=metrics.observe_publish)
    notifier = Notifier(make_sink(settings, config.webhook_url, config.notification_log))
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in signals:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    worker = build_worker(
        client,
        task_queue=task_queue,
        publisher=publisher,
        notifier=notifier,
        max_cached_workflows=config.max_cached_workflows,
    )
    archiver, engine, sampler = None, None, None
    server = serve_registry(metrics.registry, m.host, m.worker_port) if config.metrics else None
    if server is not None and m.outbox_sample:
        facade = MentorflowClient(client, task_queue=task_queue)
        sample = lambda: metrics.sample_outboxes(facade, task_queue=task_queue, limit=m.outbox_sample)  # noqa: E731
        sampler = asyncio.create_task(periodically(stop, m.sample_seconds, sample))
    if config.archive_interval:
        from audit.archive import run_archiver
        from projections.db import make_engine

        engine = make_engine(config.database_url or settings.database_url)
        archiver = asyncio.create_task(
            run_archiver(client, engine, stop, config.archive_interval, task_queue=task_queue)
        )
    retention = _retention_task(config, engine, stop)
    try:
        async with worker:
            log.info("worker on task queue %r, publishing to %r", task_queue, topic)
            if ready is not None:
                ready.set()
            await stop.wait()
            log.info("stopping: finishing in-flight tasks (up to %s)", GRACEFUL_SHUTDOWN)
        # leaving the context awaits worker.shutdown()
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
        await publisher.close()
        stop.set()
        for task in (archiver, retention, sampler):
            if task is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(task, timeout=10)
        if engine is not None:
            engine.dispose()
        if server is not None:
            server.shutdown()
            server.server_close()


def _retention_task(config: WorkerConfig, engine: Any, stop: asyncio.Event) -> asyncio.Task[None] | None:
    """The retention timer next to the worker (on the archiver's engine), or None when off."""
    privacy = config.settings.privacy
    interval = privacy.retention_interval_seconds if config.retention_interval is None else config.retention_interval
    if not interval or engine is None:
        return None
    from projections.privacy.keystore import SqlKeyStore
    from projections.privacy.retention import run_retention

    keep = timedelta(days=privacy.retention_days) if privacy.retention_days else None

    async def retain() -> None:
        # the key store creates its tables: off the event loop (a SQLite write waits for the lock, up to 60 s), so
        # the worker polls its task queue meanwhile
        store = await asyncio.to_thread(SqlKeyStore, engine)
        await run_retention(engine, store, stop, interval, keep)

    return asyncio.create_task(retain())


def main(config: WorkerConfig | None = None) -> None:
    from workers.telemetry import flush_tracing, setup_tracing

    config = config or WorkerConfig(settings=load_settings())
    setup_tracing(config.settings, "worker")
    try:
        asyncio.run(run_worker(config))
    finally:
        flush_tracing()
