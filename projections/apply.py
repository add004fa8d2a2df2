"""Apply a batch of Kafka messages to the projection tables, inside the caller's transaction.

:func:`apply_batch` knows nothing of Kafka clients: it takes :class:`~projections.decode.Message` values and an open
:class:`~sqlalchemy.Connection` in a transaction, and

1. reads the stored offsets of the batch's partitions (:mod:`projections.offsets`) and, when the caller says which
   offsets it expects, raises :class:`~projections.offsets.OffsetsMoved` if another writer (a second projector of the
   group after a rebalance, or a rebuild swapping its tables in) moved them: the caller rolls back and seeks to the
   stored offsets. Messages below the stored offset were applied already and are skipped;
2. decodes every message (:func:`projections.decode.decode`); a failure is *poison*: a dead letter, the partition
   goes on (decoding touches no database, so whatever it raises is the message's fault);
3. loads the relationship rows of the batch once, applies the events in order in memory (``seq <= last_seq``:
   a duplicate, skipped; its hash is compared with the applied one and a different hash is a ``conflict`` alarm;
   ``seq > last_seq + 1``: a ``gap`` alarm, not applied; ``prev_hash`` not the last hash, a stage change from
   another position than the projected one: poison), each event type through its entry in
   :data:`projections.handlers.HANDLERS`;
4. writes everything with one executemany per table and statement shape (:mod:`projections.writer`; a changed
   relationship row updates only its changed columns), plus the new offsets and the ``dead_letters`` rows.

Steps 3 and 4 run in a savepoint. When they fail for a reason that is a message's fault (:func:`message_fault`:
anything but a database that is down, unreachable, locked or missing its schema), the savepoint is rolled back and
the batch is applied again in halves, each in its own savepoint, down to the one message that fails alone: that
message is *poison* (dead-lettered with the error) and its neighbours are applied. A batch with one culprit costs
about three applies of the batch. A failure that is not the message's fault propagates: the caller rolls back and
retries the batch. Either way the offsets are written in the same transaction as the rows.

The caller commits (after publishing the poison messages to the dead-letter topic, so none is lost).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, String, insert, select, tuple_
from sqlalchemy import exc as sa_exc

from domain.catalog import PROGRAM_EVENT_CLASSES
from domain.programs.events import CHAIN_PREFIX, is_program_chain
from projections.decode import Decoded, Message, Poison, decode
from projections.handlers import HANDLERS
from projections.models import DeadLetter, EventLog, Relationship, table_of
from projections.offsets import OffsetsMoved, TopicPartition, read_offsets, write_offsets
from projections.program_handlers import PROGRAM_TABLE
from projections.writer import PendingWrites, writer_for

__all__ = ["BatchResult", "Rejected", "apply_batch", "message_fault"]

log = logging.getLogger("mentorflow.projections")

_REL = table_of(Relationship)
_CHUNK = 500
_INFO_KEYS = ("relationship_id", "seq", "event_id", "event_type")
_DEAD = table_of(DeadLetter)
_ERROR_MAX = 2000  # characters of an error kept in dead_letters and the dead-letter topic's headers
_INT32 = range(-(2**31), 2**31)  # dead_letters.seq is an INTEGER
# Failures that are not the message's fault: the batch is retried, never dead-lettered. Connection lost, database
# down, locked, in deadlock or out of time (OperationalError and friends); the schema or the SQL (ProgrammingError);
# the connection's own state. Everything else (DataError, IntegrityError, a RecursionError, a handler's exception,
# a value the SQLite writer refuses) is the message's.
_NOT_THE_MESSAGE: tuple[type[BaseException], ...] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.InternalError,
    sa_exc.ProgrammingError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,
    sa_exc.PendingRollbackError,
    sa_exc.ResourceClosedError,
    OffsetsMoved,
)


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

    def merge(self, part: BatchResult) -> None:
        """Add what a part of the batch (applied in its own savepoint) did."""
        self.applied += part.applied
        self.duplicates += part.duplicates
        self.rejected.extend(part.rejected)
        self.applied_seqs.update(part.applied_seqs)

    @property
    def poison(self) -> list[Rejected]:
        return [r for r in self.rejected if r.kind == "poison"]


def _conflict(seq: int, known: str, got: str) -> str:
    return f"conflict: a second seq {seq} with hash {got[:12]}… (applied: {known[:12]}…); not applied"


def _info(d: Decoded) -> dict[str, Any]:
    h = d.head
    return {"relationship_id": h.relationship_id, "seq": h.seq, "event_id": h.event_id, "event_type": h.type}


def message_fault(exc: BaseException) -> bool:
    """Whether a failure while applying messages is theirs (dead-letter the culprit) rather than the database's
    (retry the batch)."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return False
    return isinstance(exc, Exception) and not isinstance(exc, _NOT_THE_MESSAGE)


def _describe(exc: BaseException) -> str:
    """The failure in one line, without the statement and its parameters (a database error names its driver's)."""
    cause = exc.orig if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None else exc
    first = (str(cause).strip().splitlines() or [""])[0]
    return f"{type(cause).__name__}: {first}" if first else type(cause).__name__


def _clean(text: str | None, limit: int | None) -> str | None:
    """Text any database and any Kafka header can hold: no NUL, no lone surrogate, at most ``limit`` characters."""
    if text is None:
        return None
    text = text.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")
    return text if limit is None else text[:limit]


def _limit(column: str) -> int | None:
    kind = _DEAD.c[column].type
    return kind.length if isinstance(kind, String) else None


def _rejection(message: Message, kind: str, error: str, info: Mapping[str, Any]) -> Rejected:
    """A :class:`Rejected` whose every field fits ``dead_letters`` on both databases and the dead-letter topic's
    headers (a message with a 300-character relationship id or a NUL in it is poison, and its dead letter must not
    fail the same way)."""
    seq = info.get("seq")
    return Rejected(
        message,
        kind,
        _clean(error, _ERROR_MAX) or "",
        relationship_id=_clean(info.get("relationship_id"), _limit("relationship_id")),
        seq=seq if isinstance(seq, int) and seq in _INT32 else None,
        event_id=_clean(info.get("event_id"), _limit("event_id")),
        event_type=_clean(info.get("event_type"), _limit("event_type")),
    )


def _dead_letter_row(r: Rejected, group_id: str, now: datetime) -> dict[str, Any]:
    key = None if r.message.key is None else r.message.key.decode("utf-8", "replace")
    return {
        "group_id": group_id,
        "topic": r.message.topic,
        "partition": r.message.partition,
        "offset": r.message.offset,
        "kind": r.kind,
        "error": r.error,
        "relationship_id": r.relationship_id,
        "seq": r.seq,
        "event_id": r.event_id,
        "event_type": r.event_type,
        "message_key": _clean(key, None),
        "message_value": r.message.value,
        "recorded_at": now,
    }


def _log_rejected(rejected: Sequence[Rejected]) -> None:
    for r in rejected:
        m = r.message
        level = logging.WARNING if r.kind == "poison" else logging.ERROR
        log.log(
            level,
            "%s at %s[%d]@%d (relationship %s seq %s): %s",
            *(r.kind, m.topic, m.partition, m.offset, r.relationship_id, r.seq, r.error),
        )


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
        """The rows of the batch's chains: a relationship's in ``relationships``, a program's (``program:<P>``) in
        ``programs``, both kept by chain id."""
        chains = set(relationship_ids)
        programs = sorted(c.removeprefix(CHAIN_PREFIX) for c in chains if is_program_chain(c))
        self._load(_REL, "relationship_id", sorted(c for c in chains if not is_program_chain(c)), "")
        self._load(PROGRAM_TABLE, "program_id", programs, CHAIN_PREFIX)

    def _load(self, table: Any, column: str, keys: list[str], prefix: str) -> None:
        writer = writer_for(self.conn)
        for i in range(0, len(keys), _CHUNK):
            for values in writer.select_in(self.conn, table, column, keys[i : i + _CHUNK]):
                chain = prefix + values[column]
                self.loaded[chain] = values
                self.rows[chain] = dict(values)

    # -- rejection ----------------------------------------------------------------------------------------
    def reject(self, message: Message, kind: str, error: str, **info: Any) -> None:
        self.result.rejected.append(_rejection(message, kind, error, info))

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
        program_chain = is_program_chain(env.relationship_id)
        if program_chain != (env.type in PROGRAM_EVENT_CLASSES):
            kind = "program" if program_chain else "relationship"
            return "poison", f"shape: a {env.type} on {kind} chain {env.relationship_id}"
        if (env.seq == 1) != (env.type == ("ProgramCreated" if program_chain else "RelationshipProposed")):
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
        for table, is_kind in ((_REL, lambda c: not is_program_chain(c)), (PROGRAM_TABLE, is_program_chain)):
            writer.insert(conn, table, [self.rows[c] for c in sorted(self.new_rows) if is_kind(c)])
            changed = []
            for chain in sorted(self.dirty - self.new_rows):
                if not is_kind(chain):
                    continue
                row, before = self.rows[chain], self.loaded[chain]
                values = {k: v for k, v in row.items() if before[k] != v}
                if values:
                    key = row["program_id"] if table is PROGRAM_TABLE else chain
                    changed.append(((key,), values))
            writer.update(conn, table, changed)
        self.writes.flush(conn, writer)
        writer.insert(conn, table_of(EventLog), self.event_log)
        if self.result.rejected:
            conn.execute(insert(_DEAD), [_dead_letter_row(r, self.group_id, self.now) for r in self.result.rejected])


_Item = Decoded | Rejected  # a message decoded, or poison already


def _decode_all(messages: Iterable[Message], decoder: Callable[[Message], Decoded]) -> list[_Item]:
    out: list[_Item] = []
    for m in messages:
        try:
            out.append(decoder(m))
        except Poison as exc:
            out.append(_rejection(m, "poison", exc.error, exc.info))
        except Exception as exc:  # decoding touches no database: whatever it raises is this message's fault
            out.append(_rejection(m, "poison", f"undecodable: {_describe(exc)}", {}))
    return out


def _apply_items(conn: Connection, items: Sequence[_Item], group_id: str, now: datetime) -> BatchResult:
    """Steps 3 and 4 of the module docstring for ``items``, in the caller's savepoint."""
    work = _Apply(conn, group_id, now)
    decoded = [item for item in items if isinstance(item, Decoded)]
    work.result.rejected.extend(item for item in items if isinstance(item, Rejected))
    work.load(d.head.relationship_id for d in decoded)
    for d in decoded:
        work.handle(d)
    work.check_duplicates()
    work.flush()
    return work.result


def _apply_isolating(conn: Connection, items: Sequence[_Item], group_id: str, now: datetime, into: BatchResult) -> None:
    """Apply ``items`` in a savepoint; when that fails by a message's fault, apply each half the same way, down to
    the one message that fails alone, which is dead-lettered. Halves are applied in order, so per-key order holds."""
    if not items:
        return
    try:
        with conn.begin_nested():
            part = _apply_items(conn, items, group_id, now)
    except Exception as exc:
        if not message_fault(exc):
            raise
        if len(items) > 1:
            log.info("%d messages failed together (%s); applying them in halves", len(items), _describe(exc))
            half = len(items) // 2
            _apply_isolating(conn, items[:half], group_id, now, into)
            _apply_isolating(conn, items[half:], group_id, now, into)
            return
        (item,) = items
        info = _info(item) if isinstance(item, Decoded) else {k: getattr(item, k) for k in _INFO_KEYS}
        culprit = _rejection(item.message, "poison", f"apply: {_describe(exc)}", info)
        with conn.begin_nested():
            conn.execute(insert(_DEAD), [_dead_letter_row(culprit, group_id, now)])
        into.rejected.append(culprit)
        return
    into.merge(part)


def apply_batch(
    conn: Connection,
    messages: Sequence[Message],
    *,
    group_id: str,
    expected_offsets: Mapping[TopicPartition, int | None] | None = None,
    now: datetime | None = None,
    decoder: Callable[[Message], Decoded] = decode,
) -> BatchResult:
    """Apply ``messages`` (in order) inside ``conn``'s open transaction; see the module docstring. ``decoder``:
    :func:`~projections.decode.decode` or a decoder that returns the same (a rebuild's writer, whose decode process
    checked the bytes already: :mod:`projections.pipeline`)."""
    now = now or datetime.now(UTC)
    partitions = {(m.topic, m.partition) for m in messages}
    stored = read_offsets(conn, group_id, {tp[0] for tp in partitions}, for_update=True)
    if expected_offsets is not None and any(stored.get(tp) != expected_offsets.get(tp) for tp in partitions):
        raise OffsetsMoved(stored)
    result = BatchResult()
    next_offsets = {tp: stored[tp] for tp in partitions if tp in stored}
    fresh: list[Message] = []
    for m in messages:
        tp = (m.topic, m.partition)
        if m.offset < stored.get(tp, 0):
            result.already_applied += 1
            continue
        fresh.append(m)
        next_offsets[tp] = max(next_offsets.get(tp, 0), m.offset + 1)
    _apply_isolating(conn, _decode_all(fresh, decoder), group_id, now, result)
    write_offsets(conn, group_id, next_offsets, stored, now)
    result.next_offsets = next_offsets
    _log_rejected(result.rejected)
    return result
