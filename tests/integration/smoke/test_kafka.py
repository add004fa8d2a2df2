"""Kafka: an idempotent aiokafka producer writes to a harness-created topic; a consumer group reads it back."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from workers.settings import Settings


async def test_idempotent_produce_then_consumer_group_reads_back(stack: Settings, kafka_topic: str) -> None:
    bootstrap = stack.kafka.bootstrap_servers
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        for i in range(30):
            await producer.send_and_wait(kafka_topic, key=f"r-{i % 3}".encode(), value=f"{i}".encode())
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        kafka_topic,
        bootstrap_servers=bootstrap,
        group_id=f"group-{kafka_topic}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    seen: dict[str, list[int]] = {}
    try:
        async with asyncio.timeout(30):
            while sum(len(v) for v in seen.values()) < 30:
                batch = await consumer.getmany(timeout_ms=1000)
                for records in batch.values():
                    for record in records:
                        assert record.key is not None and record.value is not None
                        seen.setdefault(record.key.decode(), []).append(int(record.value))
        await consumer.commit()
        partitions = consumer.assignment()
        committed = {tp: await consumer.committed(tp) for tp in partitions}
    finally:
        await consumer.stop()
    # Same key ⇒ same partition ⇒ order kept per key.
    assert seen == {f"r-{k}": [i for i in range(30) if i % 3 == k] for k in range(3)}
    assert sum(offset or 0 for offset in committed.values()) == 30
