"""The worker process's series: publish latency (the publishing activity), the sampled outboxes, and the Temporal
SDK's own runtime metrics on their own port (the SDK core serves them itself)."""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from temporalio.runtime import PrometheusConfig, Runtime

from workflows.client import MentorflowClient
from workflows.connection import CoreLogLevel, core_runtime
from workflows.outbox_sample import sample_outboxes

__all__ = ["OUTBOX_GAUGES", "PUBLISH_BUCKETS", "PublishSeries", "WorkerMetrics", "sdk_runtime"]

log = logging.getLogger("mentorflow.metrics")

PUBLISH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
"""Seconds from the first send to the last acknowledgement of a batch: milliseconds on a healthy broker, up to the
producer's request timeout (10 s) when it struggles."""


OUTBOX_GAUGES: tuple[tuple[str, str, str], ...] = (
    # (series, OutboxSample field, help) — the sampled outboxes of running workflows (workflows/outbox_sample.py)
    ("mentorflow_outbox_depth", "depth", "Unpublished envelopes in the sampled running workflows' outboxes"),
    (
        "mentorflow_outbox_oldest_age_seconds",
        "oldest_age_seconds",
        "Age of the oldest unpublished envelope in the sample (0 when every sampled outbox is empty)",
    ),
    ("mentorflow_outbox_backlogged_workflows", "backlogged", "Sampled workflows with an unpublished envelope"),
    ("mentorflow_outbox_sampled_workflows", "sampled", "Running workflows whose status the last sample asked"),
    ("mentorflow_outbox_unanswered_workflows", "unanswered", "Sampled workflows that did not answer in time"),
    ("mentorflow_outbox_sample_truncated", "truncated", "1 when more workflows run than the sample covers"),
)


def sdk_runtime(host: str, port: int, core_log_level: CoreLogLevel = "WARN") -> Runtime | None:
    """A Temporal runtime whose core serves the SDK's metrics (``temporal_*``: workflow and activity task latencies,
    slots, polls, sticky cache, request failures) at ``http://host:port/metrics``; None when the port is 0 or the
    runtime cannot bind it (logged; the shared runtime is used then). Its core log lines go to Python logging at
    ``core_log_level`` (workflows/connection.py: core_runtime)."""
    if port == 0:
        return None
    config = PrometheusConfig(
        bind_address=f"{host}:{port}", counters_total_suffix=True, unit_suffix=True, durations_as_seconds=True
    )
    try:
        return core_runtime(core_log_level, metrics=config)
    except Exception as exc:
        log.error(
            "metrics: the Temporal SDK cannot serve /metrics on %s:%d (%s); running on without it", host, port, exc
        )
        return None


class PublishSeries:
    """``mentorflow_publish_seconds{outcome}`` and ``mentorflow_published_events``: every process that publishes
    envelopes has them (the worker's publishing activity; the API, which publishes its commands' envelopes itself).
    Register :meth:`observe_publish` as the :class:`~activities.publishing.KafkaPublisher` observer."""

    def __init__(self, registry: CollectorRegistry, who: str) -> None:
        self.publish_seconds = Histogram(
            "mentorflow_publish_seconds",
            f"{who}: seconds from a batch's first send to Kafka's last acknowledgement",
            ["outcome"],
            buckets=PUBLISH_BUCKETS,
            registry=registry,
        )
        self.published = Counter(
            "mentorflow_published_events",
            f"{who}: envelopes Kafka acknowledged (a retried batch counts again)",
            registry=registry,
        )
        for outcome in ("published", "failed"):
            self.publish_seconds.labels(outcome)

    def observe_publish(self, outcome: str, records: int, seconds: float) -> None:
        """The :class:`~activities.publishing.KafkaPublisher` observer."""
        self.publish_seconds.labels("published" if outcome == "published" else "failed").observe(seconds)
        if outcome == "published":
            self.published.inc(records)


class WorkerMetrics(PublishSeries):
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        super().__init__(self.registry, "Publishing activity")
        self.outbox = {
            field: Gauge(name, documentation, registry=self.registry) for name, field, documentation in OUTBOX_GAUGES
        }

    async def sample_outboxes(self, client: MentorflowClient, *, task_queue: str, limit: int) -> None:
        sample = await sample_outboxes(client, task_queue=task_queue, limit=limit)
        figures = sample.model_dump()
        for field, gauge in self.outbox.items():
            gauge.set(float(figures[field] or 0))  # oldest_age_seconds is None when every outbox is empty: 0
