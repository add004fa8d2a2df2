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
import contextlib
import gc
import multiprocessing
import os
import time
import traceback
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

from sqlalchemy import Engine

from projections.apply import BatchResult, apply_batch
from projections.decode import Decoded, Message, decode, decode_verified, fast_accepts
from projections.kafka_access import KafkaAddress, reader_options

__all__ = [
    "DECODE_PROCESS",
    "PIPELINE_MIN_MESSAGES",
    "STALL_SECONDS",
    "PipelineFailed",
    "child_main",
    "child_process",
    "fewer_collections",
    "receive",
    "run_pipeline",
    "second_process_pays",
    "send",
]

DECODE_PROCESS = "mentorflow-rebuild-decode"  # the decode process's name (multiprocessing.active_children)
STALL_SECONDS = 300.0  # no batch and no word from the decode process for this long: it is stuck

_Row = tuple[int, int, bytes | None, bytes | None, tuple[tuple[str, bytes], ...], bool]


class PipelineFailed(RuntimeError):
    """The decode process failed, died or stalled: the rebuild stops before its swap."""


# --- when a second process pays -------------------------------------------------------------------------------

PIPELINE_MIN_MESSAGES = 20_000  # below this a rebuild decodes in its own process


def second_process_pays(messages: int, at_least: int = PIPELINE_MIN_MESSAGES) -> bool:
    """The one rule for the bulk readers (the rebuild, ``audit verify --all``) when ``--processes`` is not given:
    two processes for ``at_least`` messages or more (below that, starting the process costs more than it saves),
    on two cores or more with the 1-minute load leaving one idle. Measured (benchmark 3's A/B; issue 16, notes of
    rebuild16): the second process costs more CPU per event in all than it takes off the first (a second parse, the
    pipe), so with no idle core the work is slower in two processes than in one."""
    cores = os.cpu_count() or 1
    return messages >= at_least and cores >= 2 and os.getloadavg()[0] <= cores - 1


# --- the decode process ----------------------------------------------------------------------------------------


_THRESHOLDS = (50_000, 50, 100)  # young collections every 50,000 allocations, not 700: a batch makes a million


@contextlib.contextmanager
def fewer_collections() -> Iterator[None]:
    """The collector tuned for a bulk load: what exists now is frozen (never traversed again) and young collections
    run seldom. Decoding allocates many small containers and few cycles, and every collection of the default
    thresholds traversed the whole batch: about a third of the decode time (measured: issue 16, notes of rebuild16)."""
    old = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(*_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*old)
        gc.unfreeze()


def child_main(work: Callable[..., Coroutine[Any, Any, None]], args: tuple[Any, ...], out: Any) -> None:
    """A child process's entry point: ``asyncio.run(work(*args, out))`` under :func:`fewer_collections`; every
    outcome ends in one last item on ``out`` ("done" or "error"). ``work`` sends its items with :func:`send`."""
    try:
        with fewer_collections():
            asyncio.run(work(*args, out))
    except _ParentGone:
        return
    except BaseException as exc:  # reported to the parent, which fails its work
        with contextlib.suppress(_ParentGone):
            send(out, ("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=8)}"))
        return
    with contextlib.suppress(_ParentGone):
        send(out, ("done", None))


class _ParentGone(Exception):
    """The writer's process is gone (its end of the pipe is closed): nobody reads any more."""


def send(out: Any, item: Any) -> None:
    """Send ``item`` to the parent (a child process's only way to speak); raises when the parent is gone."""
    try:
        out.send(item)  # blocks while the pipe is full: the writer is behind
    except (BrokenPipeError, ConnectionResetError, EOFError):
        raise _ParentGone from None


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


def receive(items: Any, process: Any) -> Any:
    """The next item from a child process (:func:`child_process`); raises :class:`PipelineFailed` if it died or
    stalled. Only the child holds the pipe's writing end, so its death ends a message it was writing in EOF, never a
    hang."""
    deadline = time.monotonic() + STALL_SECONDS
    while True:
        if items.poll(0.5):
            try:
                return items.recv()
            except (EOFError, OSError):  # OSError: "got end of file during message" (it died mid-message)
                raise PipelineFailed(f"the {process.name} process died (exit code {_exit_code(process)})") from None
        if not process.is_alive() and not items.poll(0):
            raise PipelineFailed(f"the {process.name} process died (exit code {_exit_code(process)})")
        if time.monotonic() > deadline:
            raise PipelineFailed(f"the {process.name} process sent nothing for {STALL_SECONDS:.0f} s")


def _exit_code(process: Any) -> Any:
    process.join(1)
    return process.exitcode


@contextlib.contextmanager
def child_process(
    work: Callable[..., Coroutine[Any, Any, None]], args: tuple[Any, ...], name: str
) -> Iterator[tuple[Any, Any]]:
    """A spawned process running ``work(*args, out)`` (:func:`child_main`); yields (the pipe's reading end, the
    process) for :func:`receive`. On the way out the pipe is closed (a child still sending gets a broken pipe and
    ends) and the process is terminated if it still runs."""
    ctx = multiprocessing.get_context("spawn")  # no fork of a process with threads and an event loop
    items, sending = ctx.Pipe(duplex=False)
    process = ctx.Process(target=child_main, args=(work, args, sending), name=name, daemon=True)
    process.start()
    sending.close()  # the child holds the only writing end now
    try:
        yield items, process
    finally:
        items.close()
        if process.is_alive():
            process.terminate()
        process.join(10)


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
