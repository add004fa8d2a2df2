"""Simulated topics for the apply logic: envelopes laid out over partitions as the workflow publishes them
(key = relationship id, one partition per key, per-key order kept)."""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence

from sqlalchemy import Engine, StaticPool

from domain import Envelope
from projections.apply import BatchResult, apply_batch
from projections.db import make_engine
from projections.decode import Message
from projections.models import Base

TOPIC = "unit.relationship-events"
GROUP = "unit"


def memory_engine() -> Engine:
    engine = make_engine("sqlite://", writer=True, poolclass=StaticPool)
    Base.metadata.create_all(engine)
    return engine


def partition_of(key: str, partitions: int) -> int:
    return zlib.crc32(key.encode()) % partitions


def as_topic(histories: Iterable[Sequence[Envelope]], partitions: int = 3) -> list[Message]:
    """All envelopes in publication order (by occurred_at, per-key order kept) as messages with offsets."""
    envelopes = [e for h in histories for e in h]
    envelopes.sort(key=lambda e: (e.occurred_at, e.relationship_id, e.seq))
    return messages_of([(e.relationship_id, e.to_bytes()) for e in envelopes], partitions)


def messages_of(
    records: Iterable[tuple[str, bytes]], partitions: int = 3, start: dict[int, int] | None = None
) -> list[Message]:
    next_offset = dict(start or {})
    out = []
    for key, value in records:
        p = partition_of(key, partitions)
        offset = next_offset.get(p, 0)
        next_offset[p] = offset + 1
        out.append(Message(TOPIC, p, offset, key.encode(), value))
    return out


def project(engine: Engine, messages: Sequence[Message], batch: int = 500, group: str = GROUP) -> list[BatchResult]:
    results = []
    for i in range(0, len(messages), batch):
        with engine.begin() as conn:
            results.append(apply_batch(conn, messages[i : i + batch], group_id=group))
    return results
