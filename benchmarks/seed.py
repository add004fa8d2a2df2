"""Seeding many verified histories into Kafka and the event log, for ``verify --all`` at scale (tests and
``benchmarks/``). The histories come from the pure core (:func:`benchmarks.data.full_lifecycle`); they are published
to a topic as the workflow publishes them (key = relationship id, value = canonical JSON, the §5 headers) and
projected into the event log by the real projection code (:func:`projections.apply.apply_batch`), with the
partitions and offsets Kafka gave them."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Engine

from benchmarks.data import T0, full_lifecycle
from domain import Envelope

__all__ = ["SeedResult", "benchmark_verify_all", "seed"]


@dataclass
class SeedResult:
    relationships: int
    events: int
    seconds: float


async def publish(bootstrap_servers: str, topic: str, envelopes: list[Envelope]) -> list[tuple[int, int]]:
    """Publish in order (idempotent producer, acks=all); returns each envelope's (partition, offset)."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers, enable_idempotence=True, linger_ms=5, max_batch_size=1 << 20
    )
    await producer.start()
    try:
        futures = []
        for env in envelopes:
            headers = [
                ("event_id", env.event_id.encode()),
                ("type", env.type.encode()),
                ("schema_version", str(env.schema_version).encode()),
                ("seq", str(env.seq).encode()),
            ]
            futures.append(
                await producer.send(topic, env.to_bytes(), key=env.relationship_id.encode(), headers=headers)
            )
        metas = await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return [(m.partition, m.offset) for m in metas]


def project(engine: Engine, topic: str, envelopes: list[Envelope], positions: list[tuple[int, int]]) -> None:
    """The real projection of the published messages (event_log and the reporting tables), 5,000 a transaction."""
    from projections.apply import apply_batch
    from projections.decode import Message

    messages = [
        Message(topic, partition, offset, env.relationship_id.encode(), env.to_bytes())
        for env, (partition, offset) in zip(envelopes, positions, strict=True)
    ]
    messages.sort(key=lambda m: (m.partition, m.offset))
    for i in range(0, len(messages), 5000):
        with engine.begin() as conn:
            apply_batch(conn, messages[i : i + 5000], group_id="audit-seed")


async def seed(n: int, *, engine: Engine, bootstrap_servers: str, topic: str, prefix: str = "bench") -> SeedResult:
    """``n`` relationships through all four stages, published and projected (``engine``: migrated)."""
    started = time.perf_counter()
    envelopes: list[Envelope] = []
    for i in range(n):
        envelopes.extend(full_lifecycle(f"{prefix}-{i:05d}", start=T0 + timedelta(hours=i)))
    positions = await publish(bootstrap_servers, topic, envelopes)
    await asyncio.to_thread(project, engine, topic, envelopes, positions)
    return SeedResult(n, len(envelopes), time.perf_counter() - started)


async def benchmark_verify_all(
    n: int, *, database_url: str, bootstrap_servers: str, topic: str
) -> dict[str, float | int | bool]:
    """Seed ``n`` relationships, then ``verify --all`` over event_log + Kafka (no Temporal: these histories were not
    made by workflows). Returns the numbers for the benchmark table."""
    from audit.verify import Auditor
    from projections.db import make_engine, migrate

    migrate(database_url)
    engine = make_engine(database_url, writer=True)
    try:
        seeded = await seed(n, engine=engine, bootstrap_servers=bootstrap_servers, topic=topic)
        auditor = Auditor(engine=engine, bootstrap_servers=bootstrap_servers, topic=topic)
        summary = await auditor.verify_all()
    finally:
        engine.dispose()
    return {
        "relationships": n,
        "events": seeded.events,
        "seed_seconds": round(seeded.seconds, 3),
        "verify_seconds": round(summary.seconds, 3),
        "scan_seconds": round(summary.scan_seconds, 3),
        "relationships_per_second": round(summary.rate, 1),
        "events_per_second": round(seeded.events / summary.seconds, 1),
        "ok": summary.ok,
    }
