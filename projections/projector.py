"""The projector: Kafka → the projection tables, exactly once (DESIGN §6).

- A consumer group with ``enable_auto_commit=False``. The database is the source of truth for offsets: on partition
  assignment (a :class:`~aiokafka.ConsumerRebalanceListener`) every partition is sought to its stored
  ``projection_offsets.next_offset`` (the beginning when there is none). Committing to Kafka after each batch is
  best-effort, for lag monitoring only.
- Each ``getmany`` batch is applied in ONE database transaction together with its offsets
  (:func:`projections.apply.apply_batch`). The batch also checks that the stored offsets are the ones this
  projector expects; when another writer moved them (a second member after a rebalance, a rebuild swapped in), the
  batch is rolled back and the partitions are sought to the stored offsets. A crash anywhere loses nothing and
  applies nothing twice; a redelivered event (``seq <= last_seq``) is skipped anyway.
- Poison messages go to the dead-letter topic (error in the headers) *before* the transaction that records them in
  ``dead_letters`` commits, so none is lost (a crash in between may publish one twice). Any per-message failure
  (decoding, validation, a database refusing the row) is poison: ``apply_batch`` isolates the culprit and applies its
  neighbours. Gaps and conflicting duplicates are logged at ERROR, counted in :class:`ProjectorMetrics` and recorded
  in ``dead_letters``.
- A failure that is not a message's (the database down, unreachable or locked, the dead-letter topic unreachable)
  rolls the batch back; the projector waits a second, seeks back to the stored offsets (retrying that too until the
  database answers) and applies the batch again. Nothing is skipped: no batch is fetched before the seek succeeded.
- ``stop`` (SIGTERM/SIGINT in :func:`run_projector`) ends the loop after the current batch.

Without ``group_id`` (``None``) the projector assigns itself every partition of the topic (what a rebuild and the
tests' reference projection use); :meth:`Projector.run` with ``until_caught_up=True`` returns once every partition
is at its end offset.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.structs import OffsetAndMetadata
from sqlalchemy import Engine

from projections import topics
from projections.apply import BatchResult, Rejected, apply_batch
from projections.db import make_engine, migrate, redacted
from projections.decode import Message
from projections.kafka_access import KafkaAddress, kafka_options, reader_options
from projections.offsets import OffsetsMoved, read_offsets
from projections.tracing import trace_applied

__all__ = ["DEFAULT_GROUP", "Projector", "ProjectorMetrics", "run_projector"]

log = logging.getLogger("mentorflow.projector")

DEFAULT_GROUP = topics.projector_group("mentorflow")  # the default prefix's; settings derive a deployment's own
ASSIGNED_GROUP = "mentorflow-assigned"  # the projection_offsets key of a projector without a consumer group


@dataclass
class ProjectorMetrics:
    """Counters since start. ``gaps`` and ``conflicts`` are alarms: anything but 0 needs a look."""

    batches: int = 0
    messages: int = 0
    applied: int = 0
    duplicates: int = 0
    already_applied: int = 0
    poison: int = 0
    gaps: int = 0
    conflicts: int = 0
    dead_letters_published: int = 0
    fenced: int = 0
    errors: int = 0
    seconds_in_batches: float = 0.0
    started_at: float = field(default_factory=time.monotonic)

    def add(self, result: BatchResult, messages: int, seconds: float) -> None:
        self.batches += 1
        self.messages += messages
        self.applied += result.applied
        self.duplicates += result.duplicates
        self.already_applied += result.already_applied
        self.poison += result.count("poison")
        self.gaps += result.count("gap")
        self.conflicts += result.count("conflict")
        self.seconds_in_batches += seconds

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("started_at")
        elapsed = max(time.monotonic() - self.started_at, 1e-9)
        out["events_per_second"] = round(self.messages / elapsed, 1)
        out["seconds_in_batches"] = round(self.seconds_in_batches, 3)
        return out


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, projector: Projector) -> None:
        self.projector = projector

    async def on_partitions_revoked(self, revoked: Any) -> None:
        for tp in revoked:
            self.projector._expected.pop((tp.topic, tp.partition), None)

    async def on_partitions_assigned(self, assigned: Any) -> None:
        try:
            await self.projector._seek_to_stored(list(assigned))
        except Exception:  # the database does not answer: the loop seeks before it fetches anything
            log.exception("cannot read the stored offsets of the assigned partitions; seeking before the next batch")
            self.projector._must_reseek = True


class Projector:
    def __init__(
        self,
        *,
        database_url: str | None = None,
        engine: Engine | None = None,
        bootstrap_servers: KafkaAddress,
        topic: str,
        group_id: str | None = DEFAULT_GROUP,
        dead_letter_topic: str | None = "",
        max_records: int = 5000,
        commit_to_kafka: bool = True,
        client_id: str = "mentorflow-projector",
        session_timeout_ms: int = 10_000,
        on_batch: Callable[[BatchResult, int], None] | None = None,
    ) -> None:
        """``dead_letter_topic``: ``""`` (default) means ``<topic>.dlt``; ``None`` publishes nothing (the
        ``dead_letters`` rows are still written)."""
        if engine is None:
            if database_url is None:
                raise ValueError("Projector needs database_url or engine")
            engine = make_engine(database_url, writer=True)
            self._own_engine = True
        else:
            self._own_engine = False
        self.engine = engine
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self.group_id = group_id
        self.offsets_group = group_id or ASSIGNED_GROUP
        self.dead_letter_topic = topics.dead_letter_topic(topic) if dead_letter_topic == "" else dead_letter_topic
        self.max_records = max_records
        self.commit_to_kafka = commit_to_kafka and group_id is not None
        self.client_id = client_id
        self.session_timeout_ms = session_timeout_ms
        self.on_batch = on_batch
        self.metrics = ProjectorMetrics()
        self._expected: dict[tuple[str, int], int | None] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._must_reseek = False  # a batch failed (or a seek did): seek to the stored offsets before fetching

    # -- lifecycle --------------------------------------------------------------------------------------------
    async def start(self) -> None:
        consumer = AIOKafkaConsumer(
            **reader_options(self.bootstrap_servers),
            group_id=self.group_id,
            client_id=self.client_id,
            session_timeout_ms=self.session_timeout_ms,
            heartbeat_interval_ms=max(self.session_timeout_ms // 3, 100),
        )
        await consumer.start()
        self._consumer = consumer
        if self.dead_letter_topic:
            self._producer = AIOKafkaProducer(
                **kafka_options(self.bootstrap_servers), enable_idempotence=True, client_id=f"{self.client_id}-dlt"
            )
            await self._producer.start()
        if self.group_id is None:
            partitions = consumer.partitions_for_topic(self.topic)
            if not partitions:
                await consumer._client.force_metadata_update()  # a topic the client has not seen yet
                partitions = consumer.partitions_for_topic(self.topic) or set()
            if not partitions:
                raise RuntimeError(f"topic {self.topic} does not exist")
            tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
            consumer.assign(tps)
            await self._seek_to_stored(tps)
        else:
            consumer.subscribe([self.topic], listener=_Rebalance(self))

    async def stop(self) -> None:
        if self._consumer is not None:
            with contextlib.suppress(Exception):
                await self._consumer.stop()
            self._consumer = None
        if self._producer is not None:
            with contextlib.suppress(Exception):
                await self._producer.stop()
            self._producer = None
        if self._own_engine:
            self.engine.dispose()

    async def __aenter__(self) -> Projector:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- offsets ----------------------------------------------------------------------------------------------
    def _stored(self) -> dict[tuple[str, int], int]:
        with self.engine.connect() as conn:
            return read_offsets(conn, self.offsets_group, [self.topic])

    async def _seek_to_stored(self, tps: list[TopicPartition]) -> None:
        assert self._consumer is not None
        stored = await asyncio.to_thread(self._stored)
        for tp in tps:
            key = (tp.topic, tp.partition)
            offset = stored.get(key)
            self._expected[key] = offset
            if offset is None:
                await self._consumer.seek_to_beginning(tp)
            else:
                self._consumer.seek(tp, offset)
        log.info("partitions %s sought to stored offsets %s", sorted(tp.partition for tp in tps), stored)

    async def positions(self) -> dict[TopicPartition, int]:
        assert self._consumer is not None
        return {tp: await self._consumer.position(tp) for tp in self._consumer.assignment()}

    async def lag(self) -> dict[int, int]:
        """Messages behind the end of each assigned partition: its end offset minus this consumer's position."""
        if self._consumer is None:
            return {}
        assigned = list(self._consumer.assignment())
        if not assigned:
            return {}
        ends = await self._consumer.end_offsets(assigned)
        positions = await self.positions()
        return {tp.partition: max(0, ends[tp] - positions[tp]) for tp in assigned if tp in positions and tp in ends}

    async def caught_up(self) -> bool:
        """Every assigned partition is at its end offset (and there is an assignment)."""
        assert self._consumer is not None
        assigned = self._consumer.assignment()
        if not assigned:
            return False
        ends = await self._consumer.end_offsets(list(assigned))
        positions = await self.positions()
        return all(positions[tp] >= ends[tp] for tp in assigned)

    # -- the loop ---------------------------------------------------------------------------------------------
    async def run(
        self,
        stop: asyncio.Event | None = None,
        *,
        until_caught_up: bool = False,
        poll_ms: int = 500,
        report_every: float = 10.0,
    ) -> ProjectorMetrics:
        """Consume and apply until ``stop`` is set (after the current batch) or, with ``until_caught_up``, until
        every assigned partition is at its end offset."""
        if self._consumer is None:
            await self.start()
        assert self._consumer is not None
        stop = stop or asyncio.Event()
        last_report = time.monotonic()
        while not stop.is_set():
            if self._must_reseek and not await self._try_reseek():
                continue
            batch = await self._consumer.getmany(timeout_ms=poll_ms, max_records=self.max_records)
            messages = [
                Message(r.topic, r.partition, r.offset, r.key, r.value, tuple(r.headers or ()))
                for records in batch.values()
                for r in records
            ]
            if messages:
                await self._process(messages)
            if until_caught_up and not self._must_reseek and await self.caught_up():
                break
            if time.monotonic() - last_report >= report_every:
                last_report = time.monotonic()
                log.info("projector %s", self.metrics.as_dict())
        return self.metrics

    async def _process(self, messages: list[Message]) -> None:
        started = time.perf_counter()
        started_ns = time.time_ns()
        try:
            result = await self._apply_and_commit(messages)
        except OffsetsMoved as moved:
            self.metrics.fenced += 1
            log.warning("offsets moved under this projector (%s); seeking to the stored offsets", moved.stored)
            self._must_reseek = True
            return
        except Exception:
            self.metrics.errors += 1
            log.exception("batch of %d messages failed; rolled back, retrying from the stored offsets", len(messages))
            await asyncio.sleep(1.0)
            self._must_reseek = True
            return
        self._expected.update(result.next_offsets)
        trace_applied(messages, started_ns, time.time_ns())
        self.metrics.add(result, len(messages), time.perf_counter() - started)
        if self.on_batch is not None:
            self.on_batch(result, len(messages))
        if self.commit_to_kafka and self._consumer is not None:
            offsets = {TopicPartition(t, p): OffsetAndMetadata(o, "") for (t, p), o in result.next_offsets.items()}
            try:
                await self._consumer.commit(offsets)
            except Exception as exc:  # best effort: the database holds the truth
                log.debug("kafka commit skipped: %s", exc)

    async def _apply_and_commit(self, messages: list[Message]) -> BatchResult:
        """One transaction: the batch, its offsets and its dead letters (published before the commit). Connecting and
        beginning are inside too: a database that is down fails the batch, it does not end the projector."""
        conn = await asyncio.to_thread(self.engine.connect)
        try:
            tx = await asyncio.to_thread(conn.begin)
            try:
                result = await asyncio.to_thread(
                    apply_batch, conn, messages, group_id=self.offsets_group, expected_offsets=dict(self._expected)
                )
                poison = result.poison
                if poison and self._producer is not None and self.dead_letter_topic:
                    await self._publish_dead_letters(poison)
                await asyncio.to_thread(tx.commit)
            except BaseException:
                with contextlib.suppress(Exception):  # a lost connection cannot roll back; the server already did
                    await asyncio.to_thread(tx.rollback)
                raise
            return result
        finally:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(conn.close)

    async def _reseek(self) -> None:
        if self._consumer is not None:
            await self._seek_to_stored(list(self._consumer.assignment()))

    async def _try_reseek(self) -> bool:
        """Seek to the stored offsets; when the database does not answer, wait a second and say so."""
        try:
            await self._reseek()
        except Exception:
            self.metrics.errors += 1
            log.exception("cannot read the stored offsets; retrying")
            await asyncio.sleep(1.0)
            return False
        self._must_reseek = False
        return True

    async def _publish_dead_letters(self, rejected: list[Rejected]) -> None:
        assert self._producer is not None and self.dead_letter_topic
        futures = []
        for r in rejected:
            m = r.message
            headers = [
                ("error", r.error.encode("utf-8")[:4000]),
                ("kind", r.kind.encode()),
                ("source_topic", m.topic.encode()),
                ("source_partition", str(m.partition).encode()),
                ("source_offset", str(m.offset).encode()),
                ("projector_group", self.offsets_group.encode()),
                *[(f"original_{k}", v) for k, v in m.headers],
            ]
            futures.append(await self._producer.send(self.dead_letter_topic, key=m.key, value=m.value, headers=headers))
        await asyncio.gather(*futures)
        self.metrics.dead_letters_published += len(rejected)


def install_signal_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)


async def run_projector(
    *,
    database_url: str,
    bootstrap_servers: KafkaAddress,
    topic: str,
    group_id: str = DEFAULT_GROUP,
    dead_letter_topic: str | None = "",
    max_records: int = 5000,
    session_timeout_ms: int = 10_000,
    apply_migrations: bool = True,
    stop: asyncio.Event | None = None,
    report_every: float = 10.0,
    ready: Callable[[Mapping[str, Any]], None] | None = None,
    started: Callable[[Projector], None] | None = None,
) -> ProjectorMetrics:
    """The long-running process: migrations, then consume until SIGTERM/SIGINT (finishing the current batch).
    ``started`` receives the running projector (the process's metrics read its counters and lag)."""
    if apply_migrations:
        await asyncio.to_thread(migrate, database_url)
    stop = stop or asyncio.Event()
    install_signal_handlers(stop)
    projector = Projector(
        database_url=database_url,
        bootstrap_servers=bootstrap_servers,
        topic=topic,
        group_id=group_id,
        dead_letter_topic=dead_letter_topic,
        max_records=max_records,
        session_timeout_ms=session_timeout_ms,
    )
    async with projector:
        if started is not None:
            started(projector)
        if ready is not None:
            ready({"topic": topic, "group_id": group_id, "database_url": redacted(database_url)})
        log.info("projector started: topic %s, group %s", topic, group_id)
        metrics = await projector.run(stop, report_every=report_every)
    log.info("projector stopped: %s", metrics.as_dict())
    return metrics
