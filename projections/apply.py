"""Apply a batch of Kafka messages to the projection tables, inside the caller's transaction.

:func:`apply_batch` knows nothing of Kafka clients: it takes :class:`~projections.decode.Message` values and an open
:class:`~sqlalchemy.Connection` in a transaction, and

1. reads the stored offsets of the batch's partitions (:mod:`projections.offsets`) and, when the caller says which
   offsets it expects, raises :class:`~projections.offsets.OffsetsMoved` if another writer (a second projector of the
   group after a rebalance, or a rebuild swapping its tables in) moved them: the caller rolls back and seeks to the
   stored offsets. Messages below the stored offset were applied already and are skipped;
2. decodes every message (:func:`projections.decode.decode`); a failure is *poison*: a dead letter, the partition
   goes on;
3. loads the relationship rows of the batch once, applies the events in order in memory (``seq <= last_seq``:
   a duplicate, skipped; its hash is compared with the applied one and a different hash is a ``conflict`` alarm;
   ``seq > last_seq + 1``: a ``gap`` alarm, not applied; ``prev_hash`` not the last hash, a stage change from
   another position than the projected one: poison), each event type through its entry in
   :data:`projections.handlers.HANDLERS`;
4. writes everything with one executemany per table and statement shape (:mod:`projections.writer`; a changed
   relationship row updates only its changed columns), plus the new offsets and the ``dead_letters`` rows.

The caller commits (after publishing the poison messages to the dead-letter topic, so none is lost).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select, tuple_

from projections.decode import Decoded, Message, Poison, decode
from projections.handlers import HANDLERS
from projections.models import DeadLetter, EventLog, Relationship, table_of
from projections.offsets import OffsetsMoved, TopicPartition, read_offsets, write_offsets
from projections.writer import PendingWrites, writer_for

__all__ = ["BatchResult", "Rejected", "apply_batch"]

log = logging.getLogger("mentorflow.projections")

_REL = table_of(Relationship)
_CHUNK = 500
_INFO_KEYS = ("relationship_id", "seq", "event_id", "event_type")


@dataclass(frozen=True, slots=True)
class Rejected:
    """A message that was not applied: ``kind`` is ``poison``, ``gap`` or ``conflict``."""

    message: Message
    kind: str
    error: str
    relationship_id: str | None = None
    seq: int | None = None
    event_id: str | None = None
    event_type: str | None = None


@dataclass(slots=True)
class BatchResult:
    applied: int = 0
    duplicates: int = 0
    already_applied: int = 0  # below the stored offset (a redelivery after a crash or a re-seek)
    rejected: list[Rejected] = field(default_factory=list)
    next_offsets: dict[TopicPartition, int] = field(default_factory=dict)
    applied_seqs: dict[str, int] = field(default_factory=dict)  # relationship -> last seq applied in this batch

    def count(self, kind: str) -> int:
        return sum(1 for r in self.rejected if r.kind == kind)

    @property
    def poison(self) -> list[Rejected]:
        return [r for r in self.rejected if r.kind == "poison"]


def _conflict(seq: int, known: str, got: str) -> str:
    return f"conflict: a second seq {seq} with hash {got[:12]}… (applied: {known[:12]}…); not applied"


def _info(d: Decoded) -> dict[str, Any]:
    h = d.head
    return {"relationship_id": h.relationship_id, "seq": h.seq, "event_id": h.event_id, "event_type": h.type}


class _Apply:
    """The unit of work of one batch: the rows it touches, in memory, and what it will write."""

    def __init__(self, conn: Connection, group_id: str, now: datetime) -> None:
        self.conn = conn
        self.group_id = group_id
        self.now = now
        self.rows: dict[str, dict[str, Any]] = {}
        self.loaded: dict[str, Mapping[str, Any]] = {}  # the rows as read: the flush updates what changed
        self.new_rows: set[str] = set()
        self.dirty: set[str] = set()
        self.writes = PendingWrites()
        self.event_log: list[dict[str, Any]] = []
        self.batch_hashes: dict[tuple[str, int], str] = {}
        self.duplicates_to_check: list[tuple[Decoded, str]] = []
        self.result = BatchResult()

    # -- loading ------------------------------------------------------------------------------------------
    def load(self, relationship_ids: Iterable[str]) -> None:
        ids = sorted(set(relationship_ids))
        writer = writer_for(self.conn)
        for i in range(0, len(ids), _CHUNK):
            for values in writer.select_in(self.conn, _REL, "relationship_id", ids[i : i + _CHUNK]):
                self.loaded[values["relationship_id"]] = values
                self.rows[values["relationship_id"]] = dict(values)

    # -- rejection ----------------------------------------------------------------------------------------
    def reject(self, message: Message, kind: str, error: str, **info: Any) -> None:
        rejected = Rejected(message, kind, error, **{k: info.get(k) for k in _INFO_KEYS})
        self.result.rejected.append(rejected)
        level = logging.WARNING if kind == "poison" else logging.ERROR
        log.log(
            level,
            "%s at %s[%d]@%d (relationship %s seq %s): %s",
            kind,
            message.topic,
            message.partition,
            message.offset,
            rejected.relationship_id,
            rejected.seq,
            error,
        )

    # -- one message --------------------------------------------------------------------------------------
    def handle(self, d: Decoded) -> None:
        env = d.head
        rid = env.relationship_id
        row = self.rows.get(rid)
        last_seq = row["last_seq"] if row is not None else 0
        if env.seq <= last_seq:
            self._duplicate(d, row, last_seq)
            return
        refusal = self._refusal(d, row, last_seq)
        if refusal is not None:
            kind, error = refusal
            self.reject(d.message, kind, error, **_info(d))
            return
        if row is None:
            row = self.rows[rid] = {}
            self.new_rows.add(rid)
        HANDLERS[env.type](self.writes, row, d)
        row["last_seq"] = env.seq
        row["last_hash"] = env.hash
        row["last_event_at"] = env.occurred_at
        self.dirty.add(rid)
        self.batch_hashes[(rid, env.seq)] = env.hash
        self.result.applied += 1
        self.result.applied_seqs[rid] = env.seq
        self._log_event(d)

    def _duplicate(self, d: Decoded, row: dict[str, Any] | None, last_seq: int) -> None:
        env = d.head
        self.result.duplicates += 1
        known = row["last_hash"] if (row is not None and env.seq == last_seq) else None
        known = known or self.batch_hashes.get((env.relationship_id, env.seq))
        if known is None:
            self.duplicates_to_check.append((d, env.relationship_id))
        elif known != env.hash:
            self.reject(d.message, "conflict", _conflict(env.seq, known, env.hash), **_info(d))

    @staticmethod
    def _refusal(d: Decoded, row: dict[str, Any] | None, last_seq: int) -> tuple[str, str] | None:
        """Why the next event of the relationship cannot be applied (``(kind, error)``), or None."""
        env = d.head
        if env.seq > last_seq + 1:
            return "gap", (
                f"gap: relationship {env.relationship_id} seq {env.seq} arrived but the projection has seq "
                f"{last_seq} (missing {last_seq + 1}..{env.seq - 1}); not applied"
            )
        prev = row["last_hash"] if row is not None else "0" * 64
        if env.prev_hash != prev:
            return "poison", f"chain: prev_hash of seq {env.seq} is not the hash of seq {last_seq}"
        if (env.seq == 1) != (env.type == "RelationshipProposed"):
            return "poison", f"shape: seq {env.seq} is a {env.type}"
        if row is not None and env.type == "StageChanged":
            e = d.event
            if (row["stage"], row["substate"]) != (e.from_stage.value, e.from_substate.value):
                return "poison", (
                    f"shape: StageChanged from {e.from_stage.value}/{e.from_substate.value} but the relationship "
                    f"is at {row['stage']}/{row['substate']}"
                )
        return None

    def _log_event(self, d: Decoded) -> None:
        env, m = d.head, d.message
        self.event_log.append(
            {
                "relationship_id": env.relationship_id,
                "seq": env.seq,
                "event_id": env.event_id,
                "program_id": env.program_id,
                "type": env.type,
                "schema_version": env.schema_version,
                "occurred_at": env.occurred_at,
                "actor_id": env.actor_id,
                "actor_role": env.actor_role,
                "causation_id": env.causation_id,
                "prev_hash": env.prev_hash,
                "hash": env.hash,
                "envelope": d.text,
                "kafka_topic": m.topic,
                "kafka_partition": m.partition,
                "kafka_offset": m.offset,
            }
        )

    # -- the end of the batch -----------------------------------------------------------------------------
    def check_duplicates(self) -> None:
        if not self.duplicates_to_check:
            return
        t = table_of(EventLog)
        pairs = sorted({(d.head.relationship_id, d.head.seq) for d, _ in self.duplicates_to_check})
        stored: dict[tuple[str, int], str] = {}
        for i in range(0, len(pairs), _CHUNK):
            chunk = pairs[i : i + _CHUNK]
            stmt = select(t.c.relationship_id, t.c.seq, t.c.hash).where(tuple_(t.c.relationship_id, t.c.seq).in_(chunk))
            stored.update({(r, s): h for r, s, h in self.conn.execute(stmt)})
        for d, rid in self.duplicates_to_check:
            env = d.head
            known = stored.get((rid, env.seq))
            if known is not None and known != env.hash:
                self.reject(d.message, "conflict", _conflict(env.seq, known, env.hash), **_info(d))

    def flush(self) -> None:
        conn = self.conn
        writer = writer_for(conn)
        writer.insert(conn, _REL, [self.rows[rid] for rid in sorted(self.new_rows)])
        changed = []
        for rid in sorted(self.dirty - self.new_rows):
            row, before = self.rows[rid], self.loaded[rid]
            values = {k: v for k, v in row.items() if before[k] != v}
            if values:
                changed.append(((rid,), values))
        writer.update(conn, _REL, changed)
        self.writes.flush(conn, writer)
        writer.insert(conn, table_of(EventLog), self.event_log)
        if self.result.rejected:
            conn.execute(insert(table_of(DeadLetter)), [self._dead_letter(r) for r in self.result.rejected])

    def _dead_letter(self, r: Rejected) -> dict[str, Any]:
        return {
            "group_id": self.group_id,
            "topic": r.message.topic,
            "partition": r.message.partition,
            "offset": r.message.offset,
            "kind": r.kind,
            "error": r.error,
            "relationship_id": r.relationship_id,
            "seq": r.seq,
            "event_id": r.event_id,
            "event_type": r.event_type,
            "message_key": None if r.message.key is None else r.message.key.decode("utf-8", "replace"),
            "message_value": r.message.value,
            "recorded_at": self.now,
        }


def apply_batch(
    conn: Connection,
    messages: Sequence[Message],
    *,
    group_id: str,
    expected_offsets: Mapping[TopicPartition, int | None] | None = None,
    now: datetime | None = None,
) -> BatchResult:
    """Apply ``messages`` (in order) inside ``conn``'s open transaction; see the module docstring."""
    now = now or datetime.now(UTC)
    partitions = {(m.topic, m.partition) for m in messages}
    stored = read_offsets(conn, group_id, {tp[0] for tp in partitions}, for_update=True)
    if expected_offsets is not None and any(stored.get(tp) != expected_offsets.get(tp) for tp in partitions):
        raise OffsetsMoved(stored)
    work = _Apply(conn, group_id, now)
    next_offsets = {tp: stored[tp] for tp in partitions if tp in stored}
    fresh: list[Message] = []
    for m in messages:
        tp = (m.topic, m.partition)
        if m.offset < stored.get(tp, 0):
            work.result.already_applied += 1
            continue
        fresh.append(m)
        next_offsets[tp] = max(next_offsets.get(tp, 0), m.offset + 1)
    decoded: list[Decoded] = []
    for m in fresh:
        try:
            decoded.append(decode(m))
        except Poison as exc:
            work.reject(m, "poison", exc.error, **exc.info)
    work.load(d.head.relationship_id for d in decoded)
    for d in decoded:
        work.handle(d)
    work.check_duplicates()
    work.flush()
    write_offsets(conn, group_id, next_offsets, stored, now)
    work.result.next_offsets = next_offsets
    return work.result
