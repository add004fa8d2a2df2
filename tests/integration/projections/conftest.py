"""Fixtures for the projection tests: the scripted program published to a fresh topic exactly as the workflow
publishes it (key = relationship id, value = ``envelope.to_bytes()``, headers event_id/type/schema_version/seq), and
a plain reader of the topic that knows nothing of the projector's code."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from domain import Envelope
from tests.conftest import temporary_topic
from tests.unit.projections.scenarios import golden_v1, program
from workers.settings import Settings

Record = tuple[str, bytes, list[tuple[str, bytes]]]


def program_records(count: int = 200) -> list[Record]:
    """The program's envelopes in publication order (by occurred_at; per-key order kept), plus the golden v1
    history (a check-in published with schema_version 1)."""
    envelopes: list[Envelope] = [e for h in program(count) for e in h]
    envelopes.sort(key=lambda e: (e.occurred_at, e.relationship_id, e.seq))
    records = [(e.relationship_id, e.to_bytes(), headers_of(json.loads(e.to_bytes()))) for e in envelopes]
    for line in golden_v1():
        records.append(("r-1", line, headers_of(json.loads(line))))
    return records


def headers_of(data: dict[str, object]) -> list[tuple[str, bytes]]:
    return [(k, str(data[k]).encode()) for k in ("event_id", "type", "schema_version", "seq")]


async def publish(bootstrap: str, topic: str, records: Iterable[Record]) -> int:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, linger_ms=5)
    await producer.start()
    try:
        futures = [
            await producer.send(topic, key=key.encode(), value=value, headers=headers)
            for key, value, headers in records
        ]
        await asyncio.gather(*futures)
        return len(futures)
    finally:
        await producer.stop()


@dataclass(frozen=True)
class TopicMessage:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes]


async def read_topic(bootstrap: str, topic: str) -> list[TopicMessage]:
    """Every message of ``topic`` up to its end offsets (no group)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        out: list[TopicMessage] = []
        async with asyncio.timeout(60):
            while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    out.extend(
                        TopicMessage(r.partition, r.offset, r.key, r.value, dict(r.headers or ())) for r in records
                    )
        return out
    finally:
        await consumer.stop()


async def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        return {tp.partition: off for tp, off in (await consumer.end_offsets(tps)).items()}
    finally:
        await consumer.stop()


@pytest.fixture
async def dead_letter_topic(stack: Settings, kafka_topic: str) -> AsyncIterator[str]:
    async with temporary_topic(stack.kafka.bootstrap_servers, f"{kafka_topic}.dlt", 1) as name:
        yield name


@pytest.fixture
def bootstrap(stack: Settings) -> str:
    return stack.kafka.bootstrap_servers
