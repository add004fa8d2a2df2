"""The big topic of benchmarks 3 and 4: N envelopes (1,000,000 in the full run) produced once per run.

Produced by a raw aiokafka producer with large batches (the topic is input, not what is measured), with the key,
value and headers the publishing activity writes (DESIGN §5)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from benchmarks.common import delete_topics, settings, unique
from benchmarks.data import Replicator, templates
from projections.kafka_access import kafka_options

__all__ = ["Dataset", "dataset", "drop_dataset", "produce"]


@dataclass
class Dataset:
    topic: str
    events: int
    relationships: int
    produce_seconds: float
    replicator: Replicator


_CACHE: dict[int, Dataset] = {}


def _headers(value: bytes, seq: int) -> list[tuple[str, bytes]]:
    # event_id and type sit at fixed places in the canonical JSON; cheap to cut out without parsing
    eid_at = value.index(b'"event_id":"') + 12
    type_at = value.rindex(b'"type":"') + 8
    return [
        ("event_id", value[eid_at : eid_at + 36]),
        ("type", value[type_at : value.index(b'"', type_at)]),
        ("schema_version", b"1"),
        ("seq", str(seq).encode()),
    ]


async def produce(topic: str, replicator: Replicator, events: int) -> tuple[int, int]:
    """Produce copies until ``events`` envelopes; returns (events, relationships)."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        **kafka_options(settings().kafka.access),
        linger_ms=50,
        max_batch_size=1 << 20,
        acks=1,
        request_timeout_ms=60_000,
    )
    await producer.start()
    sent = rels = 0
    try:
        pending: list[asyncio.Future[object]] = []
        for rid, values in replicator.copies_for(events):
            key = rid.encode()
            for seq, value in enumerate(values, 1):
                pending.append(await producer.send(topic, value, key=key, headers=_headers(value, seq)))
            sent += len(values)
            rels += 1
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return sent, rels


async def dataset(events: int) -> Dataset:
    """The topic of ``events`` envelopes for this run (made on first use)."""
    if events not in _CACHE:
        topic = unique("events")
        from workers.services.kafka import ensure_topics

        await ensure_topics(settings().kafka.access, {topic: settings().kafka.partitions})
        replicator = Replicator(unique("rel"), templates())
        started = time.perf_counter()
        sent, rels = await produce(topic, replicator, events)
        _CACHE[events] = Dataset(topic, sent, rels, time.perf_counter() - started, replicator)
    return _CACHE[events]


async def drop_dataset() -> None:
    if _CACHE:
        await delete_topics([d.topic for d in _CACHE.values()])
        _CACHE.clear()
