"""``verify --all`` reading in two processes (the machine has two cores): a scan process reads the topic and proves
each message through the fast path while this process reads the event log; then this process builds the topic's
records, parsing only the bytes the scan process vouched for.

* **The scan process** (:func:`audit.topic.scan_and_vouch`, spawned by :func:`projections.processes.child_process`,
  importing only what it needs): one scan of the topic (:func:`audit.topic.scan_topic`); for each message the
  verdict of :func:`audit.records.vouched_data` (orjson parse, canonical re-encode, sha256 over the received bytes,
  envelope shape, nesting) is sent with its partition, offset, key and value (plain bytes and a boolean: cheap to
  pickle; a parsed object would cost as much to pickle as to parse) through the pipe, which is the bounded queue.
* **This process** reads the event log meanwhile (in a thread), while another thread receives the batches; then a
  vouched message is only parsed (:meth:`audit.records.StoredRecord.from_bytes` with ``vouched=True``) and any other
  is decoded by the reference, which names what is wrong. The verdict is a function of the very bytes, so the records
  and the report are the one-process ones (``tests/integration/audit/test_verify_processes.py``).
* **Failure**: the scan process failing, dying or stalling raises :class:`projections.processes.PipelineFailed`; the
  caller then reads the topic itself (:func:`audit.sources.kafka_records_by_key`), so a failure reads exactly as
  in one process.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from audit.records import StoredRecord
from audit.sources import kafka_records_by_key
from audit.topic import records_by_key, scan_and_vouch
from projections.kafka_access import KafkaAddress
from projections.processes import PipelineFailed, child_process, receive, second_process_pays

__all__ = ["SCAN_PROCESS", "VERIFY_MIN_MESSAGES", "Grouped", "kafka_records_by_key_beside", "scan_stores"]

SCAN_PROCESS = "mentorflow-audit-scan"  # the scan process's name (multiprocessing.active_children)
VERIFY_MIN_MESSAGES = 100_000
"""Below this a ``verify --all`` reads the topic in its own process: the scan process needs about a second and a
half to start (an interpreter, its imports, a Kafka connection) and saves about 15 µs of this process's CPU per
message (issue 16, notes of verify2)."""

T = TypeVar("T")
Grouped = dict[str, list[StoredRecord]]
"""A store's records grouped by relationship (by message key on the topic)."""


def _receive_all(items: Any, process: Any) -> list[tuple[int, int, bytes | None, bytes | None, bool]]:
    rows: list[tuple[int, int, bytes | None, bytes | None, bool]] = []
    while True:
        kind, payload = receive(items, process)
        if kind == "done":
            return rows
        if kind == "error":
            raise PipelineFailed(f"the scan process failed: {payload}")
        rows.extend(payload)


async def kafka_records_by_key_beside(
    bootstrap_servers: KafkaAddress, topic: str, meanwhile: Callable[[], Awaitable[T]]
) -> tuple[dict[str, list[StoredRecord]], T]:
    """:func:`audit.sources.kafka_records_by_key` of the whole topic with the scan in a second process, and the
    result of ``meanwhile()`` awaited here in the meantime. Raises :class:`~projections.processes.PipelineFailed`
    when the scan process fails (``meanwhile`` is awaited to its end first)."""
    with child_process(scan_and_vouch, (bootstrap_servers, topic), SCAN_PROCESS) as (items, process):
        receiving = asyncio.ensure_future(asyncio.to_thread(_receive_all, items, process))
        try:
            other = await meanwhile()
        except BaseException:
            receiving.cancel()  # its thread ends when the pipe closes, on the way out
            raise
        rows = await receiving
    return records_by_key(rows), other


async def scan_stores(
    bootstrap_servers: KafkaAddress | None,
    topic: str | None,
    read_event_log: Callable[[], Awaitable[Grouped | str]] | None,
    processes: int | None,
) -> dict[str, Grouped | str]:
    """What ``verify --all`` reads in bulk: ``kafka`` (the topic grouped by key) and ``event_log`` (what
    ``read_event_log`` gives: grouped by relationship, or why not), each left out when not given, or why it could not
    be read. ``processes`` 1: the topic, then the event log (upstream first); 2: both at once
    (:func:`kafka_records_by_key_beside`: an event log row beyond the topic's scan is then a store behind at its
    tail, which ``verify --all`` reads again); None: 2 when the topic holds :data:`VERIFY_MIN_MESSAGES` or more and
    a core is idle (:func:`projections.processes.second_process_pays`)."""
    out: dict[str, Grouped | str] = {}
    log: Grouped | str | None = None
    if topic and bootstrap_servers:
        if processes is None and read_event_log is not None:
            from projections.rebuild import topic_size

            processes = 2 if second_process_pays(await topic_size(bootstrap_servers, topic), VERIFY_MIN_MESSAGES) else 1
        try:
            if (processes or 1) >= 2 and read_event_log is not None:
                try:
                    out["kafka"], log = await kafka_records_by_key_beside(bootstrap_servers, topic, read_event_log)
                except PipelineFailed:  # read here: a failure then reads as in one process
                    out["kafka"] = await kafka_records_by_key(bootstrap_servers, topic)
            else:
                out["kafka"] = await kafka_records_by_key(bootstrap_servers, topic)
        except Exception as exc:
            out["kafka"] = f"{type(exc).__name__}: {exc}"
    if read_event_log is not None:
        out["event_log"] = log if log is not None else await read_event_log()
    return out
