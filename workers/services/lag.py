"""The operator's figures that ``mentorflow services status`` adds (issue 18): consumer lag per group, from Kafka's
committed offsets against the end offsets, and a bounded sample of the running workflows' outboxes.

The projector's offsets live in its database (DESIGN §6); after every batch it also commits them to Kafka, best
effort, so that this view (and any Kafka tool) sees its lag. A figure here can be a batch behind the database, never
ahead of it.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from projections.kafka_access import KafkaAddress, kafka_options

if TYPE_CHECKING:
    from workers.settings import Settings

__all__ = ["MAX_GROUPS", "consumer_lag", "outbox_status"]

MAX_GROUPS = 50
"""Consumer groups looked at per status call (the names sorted); ``consumer_groups_truncated`` says when there were
more."""
STATUS_TIMEOUT = 15.0
OUTBOX_SAMPLE = 100


async def _group_lag(bootstrap: KafkaAddress, topics: list[str]) -> dict[str, object]:
    from aiokafka import AIOKafkaConsumer
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(**kafka_options(bootstrap), request_timeout_ms=10_000)
    await admin.start()
    try:
        groups = sorted(str(g[0]) for g in await admin.list_consumer_groups())
        committed = {group: await admin.list_consumer_group_offsets(group) for group in groups[:MAX_GROUPS]}
    finally:
        await admin.close()
    wanted = {tp for offsets in committed.values() for tp in offsets if tp.topic in topics}
    if not wanted:  # (and aiokafka's stop() right after start() raises CancelledError: never start one for nothing)
        return {"consumer_groups": [], "consumer_groups_truncated": len(groups) > MAX_GROUPS}
    consumer = AIOKafkaConsumer(**kafka_options(bootstrap), enable_auto_commit=False)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(list(wanted))
    finally:
        await consumer.stop()
    rows: list[dict[str, object]] = []
    for group, offsets in committed.items():
        per_topic: dict[str, dict[int, int]] = {}
        for tp, o in sorted(offsets.items(), key=lambda item: (item[0].topic, item[0].partition)):
            if tp in ends and o.offset >= 0:
                per_topic.setdefault(tp.topic, {})[tp.partition] = max(0, ends[tp] - o.offset)
        rows.extend({"group": group, "topic": t, "lag": sum(p.values()), "partitions": p} for t, p in per_topic.items())
    return {"consumer_groups": rows, "consumer_groups_truncated": len(groups) > MAX_GROUPS}


def consumer_lag(settings: Settings) -> dict[str, object]:
    """``consumer_groups``: every group with committed offsets on the events topic or its dead-letter topic, with
    its total lag and the lag of each partition; or ``consumer_lag_error`` saying why that is unknown."""
    topics = [settings.kafka.events_topic, settings.kafka.dead_letter_topic]
    try:
        return asyncio.run(asyncio.wait_for(_group_lag(settings.kafka.access, topics), STATUS_TIMEOUT))
    except (Exception, asyncio.CancelledError) as exc:
        return {"consumer_groups": None, "consumer_lag_error": f"{type(exc).__name__}: {exc}"}


def outbox_status(settings: Settings) -> dict[str, object]:
    """``outbox``: the sampled outboxes of the running relationships on the task queue (workflows/outbox_sample.py);
    or ``outbox_error``."""
    from workers.connect import connect_client
    from workflows.outbox_sample import sample_outboxes

    async def sample() -> dict[str, object]:
        client = await connect_client(settings)
        found = await sample_outboxes(client, task_queue=settings.temporal.task_queue, limit=OUTBOX_SAMPLE)
        return {"outbox": found.model_dump()}

    try:
        return asyncio.run(asyncio.wait_for(sample(), STATUS_TIMEOUT))
    except Exception as exc:
        return {"outbox": None, "outbox_error": f"{type(exc).__name__}: {exc}"}
