"""The consumed offsets, stored in ``projection_offsets`` in the same transaction as the rows (DESIGN §6).

The database, not Kafka, holds a projector's position: a batch reads its partitions' stored ``next_offset`` first
(locking the rows where the dialect locks rows; SQLite's writer engine already holds the write lock), checks them
against what the projector expects (:class:`OffsetsMoved` if another writer moved them), and writes the new ones
just before its commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlalchemy import Connection, bindparam, insert, select, update

from projections.models import ProjectionOffset, table_of
from projections.writer import writer_for

__all__ = ["OffsetsMoved", "TopicPartition", "read_offsets", "write_offsets"]

TopicPartition = tuple[str, int]


class OffsetsMoved(RuntimeError):
    """The stored offsets are not the ones this writer expected: someone else wrote this partition."""

    def __init__(self, stored: dict[TopicPartition, int]) -> None:
        super().__init__(f"stored offsets moved under this writer: {stored}")
        self.stored = stored


def read_offsets(
    conn: Connection,
    group_id: str,
    topics: Iterable[str],
    *,
    for_update: bool = False,
) -> dict[TopicPartition, int]:
    """The stored ``next_offset`` of every partition of ``topics`` for ``group_id``."""
    t = table_of(ProjectionOffset)
    stmt = select(t.c.topic, t.c.partition, t.c.next_offset).where(
        t.c.group_id == group_id, t.c.topic.in_(sorted(set(topics)))
    )
    if for_update and writer_for(conn).locks_rows:
        stmt = stmt.with_for_update()
    return {(topic, partition): int(offset) for topic, partition, offset in conn.execute(stmt)}


def write_offsets(
    conn: Connection,
    group_id: str,
    offsets: Mapping[TopicPartition, int],
    stored: Mapping[TopicPartition, int],
    now: datetime,
) -> None:
    t = table_of(ProjectionOffset)
    new = [
        {"group_id": group_id, "topic": tp[0], "partition": tp[1], "next_offset": off, "updated_at": now}
        for tp, off in offsets.items()
        if tp not in stored
    ]
    changed = [
        {"b_group": group_id, "b_topic": tp[0], "b_partition": tp[1], "next_offset": off, "updated_at": now}
        for tp, off in offsets.items()
        if tp in stored and stored[tp] != off
    ]
    if new:
        conn.execute(insert(t), new)
    if changed:
        conn.execute(
            update(t).where(
                t.c.group_id == bindparam("b_group"),
                t.c.topic == bindparam("b_topic"),
                t.c.partition == bindparam("b_partition"),
            ),
            changed,
        )
