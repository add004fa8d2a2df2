"""The projector process's series: its counters (events applied, dead letters, gaps, ...), consumer lag per
partition, and relationships by program, stage and health from the read model (a gauge refreshed periodically)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from projections.projector import Projector, ProjectorMetrics
from projections.read_model import stage_health_counts

__all__ = ["COUNTERS", "ProjectorCollector", "ProjectorGauges", "sample_projector"]

COUNTERS: tuple[tuple[str, str, str], ...] = (
    # (series, ProjectorMetrics field, help) — one table, read at scrape time
    ("mentorflow_projector_messages", "messages", "Kafka messages the projector consumed"),
    ("mentorflow_projector_events_applied", "applied", "Events applied to the reporting tables"),
    ("mentorflow_projector_duplicates", "duplicates", "Redelivered events skipped (seq <= last seq)"),
    ("mentorflow_projector_dead_letters", "dead_letters_published", "Messages sent to the dead-letter topic"),
    ("mentorflow_projector_poison", "poison", "Messages the projector could not apply (dead-lettered)"),
    ("mentorflow_projector_gaps", "gaps", "Events whose seq skipped ahead of the relationship's last seq (alarm)"),
    ("mentorflow_projector_conflicts", "conflicts", "A seq seen twice with different hashes (alarm)"),
    ("mentorflow_projector_batch_errors", "errors", "Batches rolled back and retried (database or broker away)"),
    ("mentorflow_projector_fenced", "fenced", "Batches refused because another writer moved the stored offsets"),
    ("mentorflow_projector_batches", "batches", "Batches committed"),
)


class ProjectorCollector(Collector):
    """Reads the running projector's counters at scrape time (no second copy of each count)."""

    def __init__(self) -> None:
        self.metrics: ProjectorMetrics | None = None

    def collect(self) -> Iterator[CounterMetricFamily]:
        current = self.metrics or ProjectorMetrics()
        for name, field, documentation in COUNTERS:
            family = CounterMetricFamily(name, documentation)
            family.add_metric([], float(getattr(current, field)))
            yield family


class ProjectorGauges:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.lag = Gauge(
            "mentorflow_projector_lag",
            "Messages between this consumer's position and the end of each assigned partition",
            ["topic", "partition"],
            registry=registry,
        )
        self.relationships = Gauge(
            "mentorflow_relationships",
            "Relationships in the read model by program, stage and health",
            ["program", "stage", "health"],
            registry=registry,
        )


async def sample_projector(gauges: ProjectorGauges, projector: Projector) -> None:
    """One refresh: the lag of the partitions assigned now (a revoked one disappears) and the read model's counts
    (a combination that emptied disappears)."""
    lag = await projector.lag()
    gauges.lag.clear()
    for partition, behind in sorted(lag.items()):
        gauges.lag.labels(projector.topic, str(partition)).set(behind)

    def counts() -> list[tuple[str, str, str, int]]:
        with projector.engine.connect() as conn:
            return stage_health_counts(conn)

    rows = await asyncio.to_thread(counts)
    gauges.relationships.clear()
    for program, stage, health, n in rows:
        gauges.relationships.labels(program, stage, health).set(n)
