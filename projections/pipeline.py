"""A rebuild in two processes (the machine has two cores): a decode process consumes the topic and checks every
message, and the writer (the calling process) applies the batches in order, through a bounded queue.

* **The decode process** (:func:`_consume` in a :func:`child_process`, started with ``spawn``): an aiokafka consumer
  without a group assigns itself every partition of the topic from the given offsets and reads, exactly as a
  projector without a group does, until every partition is at its end offset, twice (the second time picks up what
  arrived during the first). For each message it runs :func:`projections.decode.fast_accepts` — the fast path's
  whole check: parse, canonical bytes, hash, envelope shape, key, event — and sends the batch (partition, offset,
  key, value, headers and that verdict per message: plain bytes and booleans, cheap to pickle; a decoded event would
  cost as much to pickle as to decode) through a one-way pipe. The pipe is the bounded queue: a send blocks while it
  is full, so the decode process runs at most about a batch ahead of the writer (it decodes batch k+1 while the
  writer applies batch k).
* **The writer** applies each batch with :func:`projections.apply.apply_batch` in one transaction with its offsets,
  decoding a message the decode process accepted with :func:`~projections.decode.decode_verified` (the parse and the
  event, without the checks already made on those very bytes) and any other message with the full
  :func:`~projections.decode.decode` (which names the poison exactly as the single-process rebuild does).
* **Order**: one consumer, one FIFO queue, one writer applying batches in turn: per-partition (so per-chain) order
  is the topic's.
* **Failure**: the writer raises :class:`PipelineFailed` when the decode process reports an error, dies (its end of
  the pipe closes: even a message cut in half ends in EOF, not a hang) or sends nothing for ``STALL_SECONDS``; when
  the writer fails or dies, its end of the pipe closes, the decode process's next send fails and it ends (and a
  writer that fails terminates it). Either way the rebuild raises before the swap: the live tables are untouched
  (the generation is dropped by the next rebuild).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine

from projections.apply import BatchResult, apply_batch
from projections.decode import Decoded, Message, decode, decode_verified, fast_accepts
from projections.kafka_access import KafkaAddress, reader_options
from projections.processes import STALL_SECONDS, PipelineFailed, child_process, fewer_collections, receive, send

__all__ = ["DECODE_PROCESS", "STALL_SECONDS", "PipelineFailed", "fewer_collections", "run_pipeline"]

DECODE_PROCESS = "mentorflow-rebuild-decode"  # the decode process's name (multiprocessing.active_children)

_Row = tuple[int, int, bytes | None, bytes | None, tuple[tuple[str, bytes], ...], bool]


# --- the decode process ----------------------------------------------------------------------------------------


async def _consume(bootstrap: KafkaAddress, topic: str, start: dict[int, int], max_records: int, out: Any) -> None:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(**reader_options(bootstrap), client_id="mentorflow-rebuild-decode")
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        partitions = sorted(consumer.partitions_for_topic(topic) or ())
        if not partitions:
            raise RuntimeError(f"topic {topic} does not exist")
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        for tp in tps:
            if tp.partition in start:
                consumer.seek(tp, start[tp.partition])
            else:
                await consumer.seek_to_beginning(tp)
        for _ in range(2):  # the second pass: what arrived during the first
            await _until_caught_up(consumer, tps, max_records, out)
    finally:
        await consumer.stop()


async def _until_caught_up(consumer: Any, tps: list[Any], max_records: int, out: Any) -> None:
    while True:
        batch = await consumer.getmany(timeout_ms=200, max_records=max_records)
        rows: list[_Row] = []
        for records in batch.values():
            for r in records:
                m = Message(r.topic, r.partition, r.offset, r.key, r.value, tuple(r.headers or ()))
                rows.append((r.partition, r.offset, r.key, r.value, m.headers, fast_accepts(m)))
        if rows:
            await asyncio.to_thread(send, out, ("batch", rows))  # the fetcher keeps prefetching meanwhile
        ends = await consumer.end_offsets(tps)
        positions = [await consumer.position(tp) for tp in tps]
        if all(position >= ends[tp] for position, tp in zip(positions, tps, strict=True)):
            return


# --- the writer ------------------------------------------------------------------------------------------------


def _decoder(verdicts: dict[tuple[int, int], bool]) -> Callable[[Message], Decoded]:
    def decode_one(m: Message) -> Decoded:
        return decode_verified(m) if verdicts.get((m.partition, m.offset)) else decode(m)

    return decode_one


def _apply(engine: Engine, topic: str, rows: list[_Row], group_id: str) -> BatchResult:
    messages = [Message(topic, p, o, k, v, h) for p, o, k, v, h, _ in rows]
    verdicts = {(p, o): ok for p, o, _, _, _, ok in rows}
    with engine.begin() as conn:
        return apply_batch(conn, messages, group_id=group_id, decoder=_decoder(verdicts))


async def run_pipeline(
    *,
    engine: Engine,
    bootstrap_servers: KafkaAddress,
    topic: str,
    group_id: str,
    start: dict[int, int],
    max_records: int,
    on_batch: Callable[[BatchResult, int], None],
) -> None:
    """Read ``topic`` from ``start`` (partition → offset; absent: the beginning) to its end (twice, like
    ``Projector.run(until_caught_up=True)`` twice) and apply it to ``engine`` under ``group_id``'s offsets."""
    args = (bootstrap_servers, topic, start, max_records)
    with child_process(_consume, args, DECODE_PROCESS) as (items, process):
        while True:
            kind, payload = await asyncio.to_thread(receive, items, process)
            if kind == "done":
                return
            if kind == "error":
                raise PipelineFailed(f"the decode process failed: {payload}")
            result = await asyncio.to_thread(_apply, engine, topic, payload, group_id)
            on_batch(result, len(payload))
