"""The publishing activity: the workflow's outbox, out to the Kafka topic (DESIGN §5).

One long-lived idempotent producer per worker (``enable_idempotence=True`` forces ``acks="all"``). A batch is sent
in seq order (key = relationship id, so one partition and per-key order; value = the envelope's canonical JSON;
headers ``event_id``, ``type``, ``schema_version``, ``seq``, and with tracing on the W3C ``traceparent`` of the
activity's span: never inside the hash-chained value) and the activity returns only after Kafka
acknowledged every record. Any failure fails the whole attempt: the workflow retries the same batch (unlimited
attempts, backoff capped at 5 s), so a record may reach the topic twice, never out of order and never not at all;
consumers skip ``seq <= last_seq``. A batch Kafka refuses for its size is the exception: an alarm (a logged error,
a non-retryable ``MessageTooLarge``) that the workflow parks instead of retrying. After a failure the producer is
discarded and a fresh one is made for the next attempt, so no half-failed producer state (idempotence sequence
numbers, expired batches) leaks into it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError
from opentelemetry import propagate
from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.names import ACTIVITY_PUBLISH
from domain import Envelope
from domain.limits import KAFKA_MAX_REQUEST_BYTES
from projections.kafka_access import KafkaAddress, kafka_options

__all__ = [
    "MESSAGE_TOO_LARGE",
    "KafkaPublisher",
    "PublishObserver",
    "PublishReceipt",
    "headers_for",
    "trace_headers",
]

log = logging.getLogger(__name__)


class PublishReceipt(BaseModel):
    """Where the batch landed: the partition and the offsets of its first and last record."""

    published: int
    first_seq: int
    last_seq: int
    partition: int
    first_offset: int
    last_offset: int


def headers_for(envelope: Envelope) -> list[tuple[str, bytes]]:
    return [
        ("event_id", envelope.event_id.encode()),
        ("type", envelope.type.encode()),
        ("schema_version", str(envelope.schema_version).encode()),
        ("seq", str(envelope.seq).encode()),
    ]


def trace_headers() -> list[tuple[str, bytes]]:
    """The current trace context as Kafka headers (``traceparent``, ``tracestate``); none when nothing is traced."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return [(key, value.encode()) for key, value in carrier.items()]


def _check_batch(batch: list[Envelope]) -> None:
    if not batch:
        raise ApplicationError("empty batch", type="InvalidBatch", non_retryable=True)
    first = batch[0]
    for offset, envelope in enumerate(batch):
        if envelope.relationship_id != first.relationship_id:
            raise ApplicationError(
                f"batch mixes relationships {first.relationship_id} and {envelope.relationship_id}",
                type="InvalidBatch",
                non_retryable=True,
            )
        if envelope.seq != first.seq + offset:
            raise ApplicationError(
                f"batch is not in seq order: seq {envelope.seq} at position {offset} after seq {first.seq}",
                type="InvalidBatch",
                non_retryable=True,
            )


MESSAGE_TOO_LARGE = "MessageTooLarge"
"""The ApplicationError type of a batch Kafka refuses for its size: non-retryable, so the workflow parks the batch
(PUBLISH_PARKED) instead of retrying it in a tight loop."""


def _too_large(
    batch: list[Envelope], records: list[tuple[bytes, bytes, list[tuple[str, bytes]]]], exc: Exception
) -> ApplicationError:
    """An alarm, not an outage: logged as an error naming the envelope, and non-retryable. ``decide`` refuses a
    command whose events would not fit (MAX_ENVELOPE_BYTES), so this means the broker's limit was lowered or an
    envelope predates the limits."""
    largest = max(range(len(batch)), key=lambda i: len(records[i][1]))
    envelope, size = batch[largest], len(records[largest][1])
    message = (
        f"Kafka refuses seq {batch[0].seq}..{batch[-1].seq} of relationship {envelope.relationship_id} for its "
        f"size: the largest envelope (seq {envelope.seq}, {envelope.type}) is {size} bytes ({exc}); the outbox "
        f"keeps the batch and tries again later; raise the broker's and the producer's message limits to deliver it"
    )
    log.error(message)
    return ApplicationError(message, type=MESSAGE_TOO_LARGE, non_retryable=True)


PublishObserver = Callable[[str, int, float], None]
"""Told of every attempt: ``(outcome, records, seconds)`` with outcome ``published`` or ``failed`` and the seconds
from the first send to the last acknowledgement (or the failure). The worker's metrics hang here (workers/metrics)."""


class KafkaPublisher:
    """Register ``publisher.publish`` as an activity; call :meth:`close` when the worker stops."""

    def __init__(
        self,
        bootstrap_servers: KafkaAddress,
        topic: str,
        *,
        request_timeout_ms: int = 10_000,
        linger_ms: int = 2,
        producer_options: dict[str, Any] | None = None,
        observer: PublishObserver | None = None,
    ) -> None:
        self.observer = observer
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self._options: dict[str, Any] = {
            "request_timeout_ms": request_timeout_ms,
            "linger_ms": linger_ms,
            "retry_backoff_ms": 200,
            "max_request_size": KAFKA_MAX_REQUEST_BYTES,
            **(producer_options or {}),
        }
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def _get_producer(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    **kafka_options(self.bootstrap_servers),
                    enable_idempotence=True,  # forces acks="all"
                    acks="all",
                    **self._options,
                )
                try:
                    await producer.start()
                except BaseException:
                    await producer.stop()
                    raise
                self._producer = producer
            return self._producer

    async def _discard(self, producer: AIOKafkaProducer) -> None:
        async with self._lock:
            if self._producer is producer:
                self._producer = None
        try:
            await asyncio.wait_for(producer.stop(), timeout=5)
        except Exception as exc:  # the broker is away; the next attempt makes a fresh producer
            log.debug("discarding producer: %s", exc)

    async def close(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    @activity.defn(name=ACTIVITY_PUBLISH)
    async def publish(self, batch: list[Envelope]) -> PublishReceipt:
        return await self.send_batch(batch)

    async def send_batch(self, batch: list[Envelope]) -> PublishReceipt:
        """The activity's body, also what a caller that publishes its commands' envelopes calls
        (workflows/caller_publisher.py): one relationship's contiguous range, returning once Kafka acknowledged all."""
        _check_batch(batch)
        try:
            traced = trace_headers()
            records = [(e.relationship_id.encode(), e.to_bytes(), headers_for(e) + traced) for e in batch]
        except Exception as exc:
            raise ApplicationError(
                f"cannot serialise seq {batch[0].seq}..{batch[-1].seq}: {exc}",
                type="SerializationError",
                non_retryable=True,
            ) from exc
        started = time.perf_counter()
        try:
            receipt = await self._send(batch, records)
        except BaseException:
            self._observe("failed", len(batch), started)
            raise
        self._observe("published", len(batch), started)
        log.debug(
            "published seq %d..%d to partition %d",
            batch[0].seq,
            batch[-1].seq,
            receipt.partition,
            extra={"relationship_id": batch[0].relationship_id, "seq": batch[-1].seq},
        )
        return receipt

    def _observe(self, outcome: str, records: int, started: float) -> None:
        if self.observer is not None:
            self.observer(outcome, records, time.perf_counter() - started)

    async def _send(
        self, batch: list[Envelope], records: list[tuple[bytes, bytes, list[tuple[str, bytes]]]]
    ) -> PublishReceipt:
        producer = await self._get_producer()
        try:
            futures = [
                await producer.send(self.topic, key=key, value=value, headers=headers)
                for key, value, headers in records
            ]
            metadata = await asyncio.gather(*futures)
        except MessageSizeTooLargeError as exc:
            await self._discard(producer)
            raise _too_large(batch, records, exc) from exc
        except BaseException:
            await self._discard(producer)
            raise
        return PublishReceipt(
            published=len(batch),
            first_seq=batch[0].seq,
            last_seq=batch[-1].seq,
            partition=metadata[0].partition,
            first_offset=metadata[0].offset,
            last_offset=metadata[-1].offset,
        )
