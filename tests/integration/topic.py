"""Reading a topic back with a plain Kafka consumer (knows nothing of mentorflow's code)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaConsumer


async def read_topic(bootstrap: str, topic: str, count: int, wait: float = 30.0) -> list[Any]:
    """Read ``count`` records from the beginning of ``topic`` (all partitions), or give up after ``wait`` s."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    records: list[Any] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while len(records) < count and loop.time() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for batch in batches.values():
                records.extend(batch)
    finally:
        await consumer.stop()
    return records


def by_key(records: list[Any], relationship_id: str) -> list[Any]:
    return [r for r in records if r.key == relationship_id.encode()]
