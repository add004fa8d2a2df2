"""One scan of the topic for the audit, and the scan process's work (:mod:`audit.scan`). Lean on purpose: the spawned
scan process imports this module (the records, aiokafka, the pipe), not the database layer."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from audit.records import StoredRecord, vouched_data
from projections.kafka_access import KafkaAddress, kafka_options
from projections.processes import send

__all__ = ["Row", "records_by_key", "scan_and_vouch", "scan_topic"]

Row = tuple[int, int, bytes | None, bytes | None]
"""One message of a scan: (partition, offset, key, value)."""


async def scan_topic(
    bootstrap_servers: KafkaAddress, topic: str, on_rows: Callable[[list[Row]], Awaitable[None]]
) -> None:
    """One scan of every partition of ``topic`` from its beginning to the end offsets taken when the scan starts (no
    consumer group, nothing committed). ``on_rows`` gets each fetched batch (maybe empty), each partition's messages
    in offset order."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(
        **kafka_options(bootstrap_servers),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        group_id=None,
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    await consumer.start()
    try:
        # the consumer only keeps metadata of the topics it follows: ask the cluster
        cluster = await consumer._client.fetch_all_metadata()
        partitions = cluster.partitions_for_topic(topic)
        if not partitions:
            raise LookupError(f"Kafka topic {topic!r} does not exist at {bootstrap_servers}")
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        begins = await consumer.beginning_offsets(tps)
        pending = {tp for tp in tps if ends[tp] > begins[tp]}
        while pending:
            batch = await consumer.getmany(*pending, timeout_ms=1000, max_records=10_000)
            rows: list[Row] = []
            for tp, messages in batch.items():
                rows.extend((tp.partition, m.offset, m.key, m.value) for m in messages if m.offset < ends[tp])
                if messages and messages[-1].offset >= ends[tp] - 1:
                    pending.discard(tp)
            for tp in list(pending):
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
            await on_rows(rows)
    finally:
        await consumer.stop()


def records_by_key(
    rows: Iterable[tuple[int, int, bytes | None, bytes | None, bool | None]], wanted: set[bytes] | None = None
) -> dict[str, list[StoredRecord]]:
    """The scanned messages (a row with the verdict of :func:`audit.records.vouched_data` on its value made
    elsewhere, or None) as records grouped by key, in partition then offset order (only the keys ``wanted``)."""
    per_partition: dict[int, list[tuple[int, bytes | None, bytes | None, bool | None]]] = defaultdict(list)
    for partition, offset, key, value, vouched in rows:
        per_partition[partition].append((offset, key, value, vouched))
    grouped: dict[str, list[StoredRecord]] = defaultdict(list)
    for partition in sorted(per_partition):
        for offset, key, value, vouched in per_partition[partition]:
            if key is None or (wanted is not None and key not in wanted):
                continue
            where = f"partition {partition} offset {offset}"
            grouped[key.decode("utf-8", "replace")].append(
                StoredRecord.from_bytes(
                    "kafka", where, value if value is not None else b"", position=(partition, offset), vouched=vouched
                )
            )
    return dict(grouped)


async def scan_and_vouch(bootstrap_servers: KafkaAddress, topic: str, out: Any) -> None:
    """The scan process's work: :func:`scan_topic`, each batch sent with the verdict of
    :func:`audit.records.vouched_data` on each value."""

    async def forward(rows: list[Row]) -> None:
        if rows:
            vouched = [(p, o, k, v, v is not None and vouched_data(v) is not None) for p, o, k, v in rows]
            await asyncio.to_thread(send, out, ("batch", vouched))  # the fetcher keeps prefetching meanwhile

    await scan_topic(bootstrap_servers, topic, forward)
