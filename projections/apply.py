"""Apply a batch of Kafka messages to the projection tables, inside the caller's transaction.

:func:`apply_batch` is the whole of the projection logic and knows nothing of Kafka clients: it takes
:class:`Message` values (topic, partition, offset, key, value, headers) and an open :class:`~sqlalchemy.Connection`
in a transaction, and

1. reads the stored offsets of the batch's partitions (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite's writer
   engine already holds the write lock) and, when the caller says which offsets it expects, raises
   :class:`OffsetsMoved` if another writer (a second projector of the group after a rebalance, or a rebuild swapping
   its tables in) moved them: the caller rolls back and seeks to the stored offsets. Messages below the stored
   offset were applied already and are skipped;
2. decodes every message (:func:`decode`): JSON, envelope shape, canonical bytes, hash, key, event type and upcast
   (``domain.event_from_envelope``). A failure is *poison*: a dead letter, the partition goes on. A fast path
   (one parse, one canonical encoding, pydantic only for the event) accepts the ordinary messages; anything else
   goes through :func:`decode_strict`, the reference, which gives the precise reason;
3. loads the relationship rows of the batch once, applies the events in order in memory (``seq <= last_seq``:
   a duplicate, skipped; its hash is compared with the applied one and a different hash is a ``conflict`` alarm;
   ``seq > last_seq + 1``: a ``gap`` alarm, not applied; ``prev_hash`` not the last hash, a stage change from
   another position than the projected one: poison);
4. writes everything with one executemany per table and statement shape (driver-level, :class:`_Sql`; a changed
   relationship row updates only its changed columns), plus the new offsets and the ``dead_letters`` rows.

The caller commits (after publishing the poison messages to the dead-letter topic, so none is lost).
"""

from __future__ import annotations

import json
import logging
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from hashlib import sha256
from operator import itemgetter
from typing import Any

from pydantic import ValidationError
from pydantic_core import from_json
from sqlalchemy import Connection, Dialect, Table, bindparam, insert, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite

from domain import EVENT_CLASSES, Envelope, LifecyclePolicy, Role, event_from_envelope, upcast
from projections.models import (
    FUNNEL_COLUMNS,
    CheckIn,
    DeadLetter,
    EventLog,
    Goal,
    Meeting,
    Nudge,
    ProgramFunnel,
    ProjectionOffset,
    RedefinitionOutcome,
    Relationship,
    Separation,
    StageDuration,
    StageTransition,
    UtcDateTime,
    table_of,
)

__all__ = [
    "BatchResult",
    "Decoded",
    "Head",
    "Message",
    "OffsetsMoved",
    "Poison",
    "Rejected",
    "apply_batch",
    "decode",
    "decode_strict",
    "read_offsets",
]

log = logging.getLogger("mentorflow.projections")

TopicPartition = tuple[str, int]

_REL = table_of(Relationship)
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class Message:
    """One Kafka record, as the projector sees it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()


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


class OffsetsMoved(RuntimeError):
    """The stored offsets are not the ones this writer expected: someone else wrote this partition."""

    def __init__(self, stored: dict[TopicPartition, int]) -> None:
        super().__init__(f"stored offsets moved under this writer: {stored}")
        self.stored = stored


class Poison(ValueError):
    """A message that cannot be decoded into a current-schema event."""

    def __init__(self, error: str, info: Mapping[str, Any] | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.info = dict(info or {})


class Head:
    """The envelope fields the apply logic reads (the envelope without its payload), as plain attributes."""

    __slots__ = (
        "actor_id",
        "actor_role",
        "causation_id",
        "event_id",
        "hash",
        "occurred_at",
        "prev_hash",
        "program_id",
        "relationship_id",
        "schema_version",
        "seq",
        "type",
    )

    def __init__(
        self,
        *,
        event_id: str,
        relationship_id: str,
        program_id: str,
        seq: int,
        type: str,
        schema_version: int,
        occurred_at: datetime,
        actor_id: str,
        actor_role: str,
        causation_id: str | None,
        prev_hash: str,
        hash: str,
    ) -> None:
        self.event_id = event_id
        self.relationship_id = relationship_id
        self.program_id = program_id
        self.seq = seq
        self.type = type
        self.schema_version = schema_version
        self.occurred_at = occurred_at
        self.actor_id = actor_id
        self.actor_role = actor_role
        self.causation_id = causation_id
        self.prev_hash = prev_hash
        self.hash = hash

    @classmethod
    def of(cls, envelope: Envelope) -> Head:
        return cls(
            event_id=envelope.event_id,
            relationship_id=envelope.relationship_id,
            program_id=envelope.program_id,
            seq=envelope.seq,
            type=envelope.type,
            schema_version=envelope.schema_version,
            occurred_at=envelope.occurred_at,
            actor_id=envelope.actor.id,
            actor_role=envelope.actor.role.value,
            causation_id=envelope.causation_id,
            prev_hash=envelope.prev_hash,
            hash=envelope.hash,
        )


class Decoded:
    """A message whose hash was verified, decoded into its envelope fields and its current-schema event."""

    __slots__ = ("event", "head", "message", "text")

    def __init__(self, message: Message, head: Head, event: Any, text: str) -> None:
        self.message = message
        self.head = head
        self.event = event
        self.text = text


def _info(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        return {}
    seq = data.get("seq")
    return {
        "relationship_id": data.get("relationship_id") if isinstance(data.get("relationship_id"), str) else None,
        "seq": seq if isinstance(seq, int) and not isinstance(seq, bool) else None,
        "event_id": str(data.get("event_id"))[:64] if data.get("event_id") is not None else None,
        "event_type": str(data.get("type"))[:64] if data.get("type") is not None else None,
    }


def decode(message: Message) -> Decoded:
    """The message as an envelope and its current-schema event; raises :class:`Poison` with the reason.

    Every message goes through :func:`_decode_fast` first; whatever it does not accept (anything unusual, every bad
    message) goes through :func:`decode_strict`, which gives the precise reason. Both accept the same messages and
    decode them to the same values (``tests/unit/projections/test_decode.py``)."""
    if message.value is not None:
        decoded = _decode_fast(message, message.value)
        if decoded is not None:
            return decoded
    return decode_strict(message)


def decode_strict(message: Message) -> Decoded:
    """The reference decoder: pydantic :class:`~domain.Envelope`, the canonical bytes, the hash, the key, the event
    type and upcast, checked in that order, with a precise reason for the first that fails."""
    raw = message.value
    if raw is None:
        raise Poison("empty message value (tombstone)")
    try:
        text = raw.decode("utf-8")
        data = json.loads(text)
    except (UnicodeDecodeError, ValueError) as exc:
        raise Poison(f"undecodable: not UTF-8 JSON ({exc})") from None
    if not isinstance(data, dict):
        raise Poison("undecodable: not a JSON object")
    info = _info(data)
    try:
        envelope = Envelope.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(x) for x in first["loc"])
        raise Poison(
            f"shape: not a valid envelope ({exc.error_count()} problems; {where}: {first['msg']})", info
        ) from None
    try:
        canonical = envelope.to_bytes()
    except UnicodeEncodeError:  # a lone surrogate (a "\\ud800" escape) has no UTF-8, so no canonical JSON
        canonical = None
    if canonical != raw:
        raise Poison("shape: the bytes are not the canonical JSON of the envelope", info)
    recomputed = envelope.compute_hash()
    if recomputed != envelope.hash:
        raise Poison(f"chain: hash mismatch (stored {envelope.hash[:12]}…, recomputed {recomputed[:12]}…)", info)
    if message.key is not None and message.key != envelope.relationship_id.encode("utf-8"):
        raise Poison(f"shape: message key {message.key[:80]!r} is not the relationship id", info)
    try:
        event = event_from_envelope(envelope)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(x) for x in first["loc"])
        raise Poison(
            f"upcast: {envelope.type} v{envelope.schema_version} payload is not valid ({where}: {first['msg']})", info
        ) from None
    except (ValueError, KeyError, TypeError) as exc:
        raise Poison(f"upcast: {exc}", info) from None
    return Decoded(message, Head.of(envelope), event, text)


# --- the fast path ---------------------------------------------------------------------------------------------
#
# One JSON parse, ONE canonical encoding (of the hashed form) and one sha256 per message, no pydantic for the
# envelope, pydantic only for the event (with the pinned policy of a RelationshipProposed validated once per distinct
# policy). The fast path accepts a message only when all of these hold, and each makes the strict path accept it too
# and decode it to the same values:
#
# * the bytes parse (pydantic-core's parser, about twice as fast as ``json.loads``; whatever it makes of odd input
#   cannot matter: the bytes must equal the standard library's canonical re-encoding of the result, below, so the
#   result is what ``json.loads`` gives);
# * the JSON object has exactly the envelope's keys, every field has exactly the JSON type the envelope wants, and
#   the strings that pydantic would parse and re-serialise are already in their one serialised form (lowercase
#   hyphenated UUID, ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` for a valid instant, a role name, 64 lowercase hex digits): so
#   the strict ``Envelope``'s hashed form IS the parsed object without ``hash``;
# * sha256(canonical JSON of that hashed form) == ``hash``: the content is what was hashed (the chain check);
# * the message bytes == that same encoding with ``,"hash":"<hash>"`` spliced in after the top-level ``event_id``,
#   which is exactly the canonical JSON of the whole object (sorted keys put ``hash`` between ``event_id`` and
#   ``occurred_at``, and a hex string needs no escaping): so the "bytes are canonical" check costs no second
#   encoding. The first ``"event_id":"`` in the encoding is the top-level key: inside a JSON string every ``"`` is
#   escaped, and before ``event_id`` there are only ``actor`` (exactly ``id`` and ``role``) and ``causation_id``;
# * the key is the relationship id, the type is known, the upcast and the event's pydantic validation succeed.
#
# Anything else (and any unexpected exception) returns None: the strict path decides, with its precise reason.
# A message whose content is authentic (its hash is right) but whose bytes are not the canonical JSON stays poison,
# as before: DESIGN §5 makes the value the canonical JSON, the event log keeps the bytes verbatim, and an auditor's
# verifier of those bytes (``domain.verify_chain``) requires them canonical.

_ENVELOPE_KEYS = frozenset(Envelope.model_fields)
_HASHED_KEYS = tuple(sorted(_ENVELOPE_KEYS - {"hash"}))
_ACTOR_KEYS = frozenset({"id", "role"})
_ROLES = frozenset(role.value for role in Role)
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").fullmatch
_HEX64 = re.compile(r"[0-9a-f]{64}").fullmatch
_INSTANT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z").fullmatch
_EVENT_ID_KEY = b'"event_id":"'
_HASH_AT = len(_EVENT_ID_KEY) + 36 + 1  # after the key, the 36-character UUID and its closing quote
_ENCODE = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode  # = canonical_json
_POLICIES: dict[tuple[Any, ...], LifecyclePolicy] = {}
_POLICIES_MAX = 256


def _policy(raw: Any) -> Any:
    """The validated :class:`LifecyclePolicy` of a proposal's ``policy`` object, validated once per distinct object
    (a program pins a handful of policies). The key keeps the JSON type of every value (``1``, ``1.0`` and ``true``
    are equal in Python). Anything but a flat object is returned as it is, for pydantic to validate."""
    if type(raw) is not dict:
        return raw
    try:
        key = tuple(sorted((k, type(v), v) for k, v in raw.items()))
        hash(key)
    except TypeError:  # a nested value: not a policy the cache knows how to key
        return raw
    policy = _POLICIES.get(key)
    if policy is None:
        policy = LifecyclePolicy.model_validate(raw)  # a ValidationError: the caller falls back to the strict path
        if len(_POLICIES) >= _POLICIES_MAX:
            _POLICIES.clear()
        _POLICIES[key] = policy
    return policy


def _decode_fast(message: Message, raw: bytes) -> Decoded | None:
    try:
        return _decode_fast_or_none(message, raw)
    except Exception:  # anything unexpected: the strict path decides, and says why
        return None


def _decode_fast_or_none(message: Message, raw: bytes) -> Decoded | None:
    data = from_json(raw)  # invalid JSON raises: the strict path says why (with the standard library's parser)
    if type(data) is not dict or data.keys() != _ENVELOPE_KEYS:
        return None
    event_id = data["event_id"]
    rid = data["relationship_id"]
    program_id = data["program_id"]
    seq = data["seq"]
    event_type = data["type"]
    version = data["schema_version"]
    occurred = data["occurred_at"]
    actor = data["actor"]
    causation_id = data["causation_id"]
    payload = data["payload"]
    prev_hash = data["prev_hash"]
    stored_hash = data["hash"]
    if not (
        type(event_id) is str
        and _UUID(event_id)
        and type(rid) is str
        and type(program_id) is str
        and type(seq) is int
        and seq >= 1
        and type(event_type) is str
        and type(version) is int
        and version >= 1
        and type(occurred) is str
        and type(actor) is dict
        and actor.keys() == _ACTOR_KEYS
        and (causation_id is None or type(causation_id) is str)
        and type(payload) is dict
        and type(prev_hash) is str
        and _HEX64(prev_hash)
        and type(stored_hash) is str
        and _HEX64(stored_hash)
    ):
        return None
    actor_id = actor["id"]
    actor_role = actor["role"]
    if not (type(actor_id) is str and actor_id and type(actor_role) is str and actor_role in _ROLES):
        return None
    if _INSTANT(occurred) is None:
        return None
    at = datetime.fromisoformat(occurred)  # the exact format, so the same instant; ValueError (no such day): strict
    body = _ENCODE({k: data[k] for k in _HASHED_KEYS}).encode("utf-8")
    if sha256(body).hexdigest() != stored_hash:
        return None
    cut = body.find(_EVENT_ID_KEY) + _HASH_AT
    if raw != b"".join((body[:cut], b',"hash":"', stored_hash.encode(), b'"', body[cut:])):
        return None
    if message.key is not None and message.key != rid.encode("utf-8"):
        return None
    cls = EVENT_CLASSES.get(event_type)
    if cls is None:
        return None
    if version != cls.schema_version:
        _, payload = upcast(event_type, version, payload)
    if event_type == "RelationshipProposed":
        payload = {**payload, "policy": _policy(payload.get("policy"))}
    event = cls.model_validate({**payload, "type": event_type, "at": at})
    head = Head(
        event_id=event_id,
        relationship_id=rid,
        program_id=program_id,
        seq=seq,
        type=event_type,
        schema_version=data["schema_version"],
        occurred_at=at,
        actor_id=actor_id,
        actor_role=actor_role,
        causation_id=causation_id,
        prev_hash=prev_hash,
        hash=stored_hash,
    )
    return Decoded(message, head, event, raw.decode("utf-8"))


# --- offsets -------------------------------------------------------------------------------------------------


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
    if for_update and conn.dialect.name == "postgresql":
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


# --- the unit of work of one batch ---------------------------------------------------------------------------


def _sqlite_instant(value: datetime | None) -> str | None:
    """What :class:`UtcDateTime` + SQLAlchemy's SQLite ``DATETIME`` bind an instant as (naive UTC, microseconds
    always), without their per-parameter machinery. ``test_fast_sql_writes_the_same_bytes_as_sqlalchemy`` holds
    the two together."""
    if value is None:
        return None
    text = _INSTANT_TEXT.get(value)  # equal datetimes are the same instant (or the same naive value): the same text
    if text is None:
        utc = value if value.tzinfo is None or value.tzinfo is UTC else value.astimezone(UTC)
        text = utc.isoformat(" ", "microseconds")[:26]  # "YYYY-MM-DD HH:MM:SS.ffffff" (+ "+00:00", cut)
        if len(_INSTANT_TEXT) >= 65_536:
            _INSTANT_TEXT.clear()
        _INSTANT_TEXT[value] = text
    return text


_INSTANT_TEXT: dict[datetime, str] = {}  # an instant is bound several times per batch (event log, row, child rows)


class _Sql:
    """executemany with positional parameters straight to the driver (``exec_driver_sql``): the statements are
    plain ``INSERT``/``UPDATE`` strings built once per table and column set, and every value goes through the
    bind processor SQLAlchemy itself would use for its column (instants on SQLite through
    :func:`_sqlite_instant`, the same bytes), so the rows are identical to ``conn.execute(insert(table), rows)``
    at a fraction of the per-parameter cost (SQLAlchemy's ``construct_params`` was a quarter of the batch)."""

    _cache: dict[tuple[str, str], _Sql] = {}

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.mark = "?" if dialect.paramstyle == "qmark" else "%s"
        self.quote = dialect.identifier_preparer.quote
        self.processors: dict[Table, dict[str, Callable[[Any], Any] | None]] = {}
        self.result_processors: dict[Table, list[tuple[int, Callable[[Any], Any]]]] = {}
        self.statements: dict[tuple[Table, str, tuple[str, ...], tuple[str, ...]], str] = {}

    @classmethod
    def of(cls, conn: Connection) -> _Sql:
        dialect = conn.dialect
        key = (dialect.name, dialect.driver)
        sql = cls._cache.get(key)
        if sql is None or sql.dialect.paramstyle != dialect.paramstyle:
            sql = cls._cache[key] = cls(dialect)
        return sql

    def _processors(self, table: Table) -> dict[str, Callable[[Any], Any] | None]:
        procs = self.processors.get(table)
        if procs is None:
            procs = {}
            for col in table.columns:
                if isinstance(col.type, UtcDateTime) and self.dialect.name == "sqlite":
                    procs[col.name] = _sqlite_instant
                else:
                    procs[col.name] = col.type.dialect_impl(self.dialect).bind_processor(self.dialect)
            self.processors[table] = procs
        return procs

    def _params(self, table: Table, names: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[tuple[Any, ...]]:
        procs = self._processors(table)
        convert = [(i, proc) for i, name in enumerate(names) if (proc := procs[name]) is not None]
        if not convert:
            return [tuple(row) for row in rows]
        out = []
        for row in rows:
            values = list(row)
            for i, proc in convert:
                if (value := values[i]) is not None:
                    values[i] = proc(value)
            out.append(tuple(values))
        return out

    def select_in(self, conn: Connection, table: Table, column: str, keys: Sequence[Any]) -> list[dict[str, Any]]:
        """Every row of ``table`` whose ``column`` is in ``keys``, as dicts of the values SQLAlchemy would return
        (each column through its result processor)."""
        if not keys:
            return []
        names = tuple(c.name for c in table.columns)
        procs = self.result_processors.get(table)
        if procs is None:
            procs = self.result_processors[table] = [
                (i, proc)
                for i, col in enumerate(table.columns)
                if (proc := col.type.dialect_impl(self.dialect).result_processor(self.dialect, None)) is not None
            ]
        cols = ", ".join(self.quote(n) for n in names)
        marks = ", ".join([self.mark] * len(keys))
        stmt = f"SELECT {cols} FROM {self.quote(table.name)} WHERE {self.quote(column)} IN ({marks})"
        out = []
        for raw in conn.exec_driver_sql(stmt, tuple(keys)):
            values = list(raw)
            for i, process in procs:
                values[i] = process(values[i])
            out.append(dict(zip(names, values, strict=True)))
        return out

    def insert(self, conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
        """``INSERT`` every row (each with the keys of the first, as SQLAlchemy's executemany wants)."""
        if not rows:
            return
        names = tuple(c.name for c in table.columns if c.name in rows[0])
        key = (table, "insert", names, ())
        stmt = self.statements.get(key)
        if stmt is None:
            cols = ", ".join(self.quote(n) for n in names)
            marks = ", ".join([self.mark] * len(names))
            stmt = self.statements[key] = f"INSERT INTO {self.quote(table.name)} ({cols}) VALUES ({marks})"
        get = itemgetter(*names)
        values = (get(row) for row in rows) if len(names) > 1 else ((get(row),) for row in rows)
        conn.exec_driver_sql(stmt, self._params(table, names, values))

    def update(
        self, conn: Connection, table: Table, changes: Iterable[tuple[tuple[Any, ...], Mapping[str, Any]]]
    ) -> None:
        """``UPDATE`` the given columns of the rows with the given primary keys, one executemany per column set."""
        pk_names = tuple(c.name for c in table.primary_key.columns)
        by_shape: dict[tuple[str, ...], list[tuple[Any, ...]]] = defaultdict(list)
        for pk, values in changes:
            shape = tuple(sorted(values))
            by_shape[shape].append((*(values[n] for n in shape), *pk))
        for shape, rows in by_shape.items():
            key = (table, "update", shape, pk_names)
            stmt = self.statements.get(key)
            if stmt is None:
                sets = ", ".join(f"{self.quote(n)} = {self.mark}" for n in shape)
                where = " AND ".join(f"{self.quote(n)} = {self.mark}" for n in pk_names)
                stmt = self.statements[key] = f"UPDATE {self.quote(table.name)} SET {sets} WHERE {where}"
            conn.exec_driver_sql(stmt, self._params(table, shape + pk_names, rows))


class _Writes:
    """Pending inserts and updates per table, keyed by primary key, so an update of a row inserted in the same
    batch folds into the insert, and every table is written with executemany."""

    def __init__(self) -> None:
        self.inserts: dict[Table, dict[tuple[Any, ...], dict[str, Any]]] = defaultdict(dict)
        self.updates: dict[Table, dict[tuple[Any, ...], dict[str, Any]]] = defaultdict(dict)

    def insert(self, table: Table, pk: tuple[Any, ...], row: dict[str, Any]) -> None:
        self.inserts[table][pk] = row

    def update(self, table: Table, pk: tuple[Any, ...], values: dict[str, Any]) -> None:
        pending = self.inserts[table].get(pk)
        if pending is not None:
            pending.update(values)
        else:
            self.updates[table].setdefault(pk, {}).update(values)

    def flush(self, conn: Connection, sql: _Sql) -> None:
        for table, rows in self.inserts.items():
            if rows:
                sql.insert(conn, table, list(rows.values()))
        for table, changes in self.updates.items():
            if changes:
                sql.update(conn, table, changes.items())


_NUDGE_TYPES = {
    "AcceptanceReminderSent": "acceptance_reminder",
    "NudgeSent": None,  # the event carries its rule
    "EscalatedToManager": None,
    "InactivityWarningSent": "inactivity_warning",
}
_FIRST_REACHED = {"cultivation": "cultivation_at", "separation": "separation_at", "redefinition": "redefinition_at"}


class _Apply:
    def __init__(self, conn: Connection, group_id: str, now: datetime) -> None:
        self.conn = conn
        self.group_id = group_id
        self.now = now
        self.rows: dict[str, dict[str, Any]] = {}
        self.loaded: dict[str, Mapping[str, Any]] = {}  # the rows as read: the flush updates what changed
        self.new_rows: set[str] = set()
        self.dirty: set[str] = set()
        self.writes = _Writes()
        self.event_log: list[dict[str, Any]] = []
        self.funnel: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(FUNNEL_COLUMNS, 0))
        self.batch_hashes: dict[tuple[str, int], str] = {}
        self.duplicates_to_check: list[tuple[Decoded, str]] = []
        self.result = BatchResult()

    # -- loading ------------------------------------------------------------------------------------------
    def load(self, relationship_ids: Iterable[str]) -> None:
        ids = sorted(set(relationship_ids))
        sql = _Sql.of(self.conn)
        for i in range(0, len(ids), _CHUNK):
            for values in sql.select_in(self.conn, _REL, "relationship_id", ids[i : i + _CHUNK]):
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
        info = {"relationship_id": rid, "seq": env.seq, "event_id": env.event_id, "event_type": env.type}
        if env.seq <= last_seq:
            self.result.duplicates += 1
            known = row["last_hash"] if (row is not None and env.seq == last_seq) else None
            known = known or self.batch_hashes.get((rid, env.seq))
            if known is None:
                self.duplicates_to_check.append((d, rid))
            elif known != env.hash:
                self.reject(d.message, "conflict", _conflict(env.seq, known, env.hash), **info)
            return
        if env.seq > last_seq + 1:
            self.reject(
                d.message,
                "gap",
                f"gap: relationship {rid} seq {env.seq} arrived but the projection has seq {last_seq} "
                f"(missing {last_seq + 1}..{env.seq - 1}); not applied",
                **info,
            )
            return
        prev = row["last_hash"] if row is not None else "0" * 64
        if env.prev_hash != prev:
            self.reject(
                d.message, "poison", f"chain: prev_hash of seq {env.seq} is not the hash of seq {last_seq}", **info
            )
            return
        if (env.seq == 1) != (env.type == "RelationshipProposed"):
            self.reject(d.message, "poison", f"shape: seq {env.seq} is a {env.type}", **info)
            return
        if row is None:
            row = self._new_row(d)
        elif env.type == "StageChanged":
            e = d.event
            if (row["stage"], row["substate"]) != (e.from_stage.value, e.from_substate.value):
                self.reject(
                    d.message,
                    "poison",
                    f"shape: StageChanged from {e.from_stage.value}/{e.from_substate.value} but the relationship is "
                    f"at {row['stage']}/{row['substate']}",
                    **info,
                )
                return
        getattr(self, "on_" + env.type, _noop)(row, d)
        row["last_seq"] = env.seq
        row["last_hash"] = env.hash
        row["last_event_at"] = env.occurred_at
        self.dirty.add(rid)
        self.batch_hashes[(rid, env.seq)] = env.hash
        self.result.applied += 1
        self.result.applied_seqs[rid] = env.seq
        m = d.message
        self.event_log.append(
            {
                "relationship_id": rid,
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

    def _new_row(self, d: Decoded) -> dict[str, Any]:
        e = d.event
        env = d.head
        row: dict[str, Any] = {
            "relationship_id": env.relationship_id,
            "program_id": env.program_id,
            "mentor_id": e.mentor_id,
            "mentee_id": e.mentee_id,
            "proposed_by": e.proposed_by,
            "proposed_by_role": e.proposed_by_role.value,
            "match_method": e.match_method,
            "match_score": None if e.match_score is None else str(e.match_score),
            "predecessor_id": e.predecessor_id,
            "policy_name": e.policy.name,
            "policy_version": e.policy.version,
            "stage": "none",
            "substate": "none",
            "health": "green",
            "marginal": False,
            "outcome": None,
            "close_reason": None,
            "opened_at": e.at,
            "accepted_at": None,
            "kicked_off_at": None,
            "cultivation_at": None,
            "separation_at": None,
            "redefinition_at": None,
            "closed_at": None,
            "stage_entered_at": None,
            "stage_entered_seq": None,
            "substate_entered_at": None,
            "trial_ends_at": None,
            "term_ends_at": None,
            "last_event_at": e.at,
            "meetings": 0,
            "last_meeting_at": None,
            "goals_set": 0,
            "goals_completed": 0,
            "check_ins": 0,
            "mentor_satisfaction": None,
            "mentee_satisfaction": None,
            "pauses": 0,
            "renewals": 0,
            "separation_seq": None,
            "last_seq": 0,
            "last_hash": "0" * 64,
        }
        self.rows[env.relationship_id] = row
        self.new_rows.add(env.relationship_id)
        self.funnel[env.program_id]["proposed"] += 1
        return row

    # -- per event type -----------------------------------------------------------------------------------
    def on_StageChanged(self, row: dict[str, Any], d: Decoded) -> None:
        e, env = d.event, d.head
        rid, seq, at = env.relationship_id, env.seq, e.at
        frm, to = e.from_stage.value, e.to_stage.value
        to_sub = e.to_substate.value
        self.writes.insert(
            table_of(StageTransition),
            (rid, seq),
            {
                "relationship_id": rid,
                "seq": seq,
                "program_id": row["program_id"],
                "occurred_at": at,
                "from_stage": frm,
                "from_substate": e.from_substate.value,
                "to_stage": to,
                "to_substate": to_sub,
                "trigger": e.trigger,
                "reason": e.reason,
                "policy_version": e.policy_version,
                "actor_id": env.actor_id,
                "causation_id": env.causation_id,
            },
        )
        funnel = self.funnel[row["program_id"]]
        if to != frm:
            if row["stage_entered_seq"] is not None:
                entered = row["stage_entered_at"]
                self.writes.update(
                    table_of(StageDuration),
                    (rid, row["stage_entered_seq"]),
                    {"exited_at": at, "exited_seq": seq, "seconds": (at - entered).total_seconds()},
                )
            if to != "closed":
                self.writes.insert(
                    table_of(StageDuration),
                    (rid, seq),
                    {
                        "relationship_id": rid,
                        "entered_seq": seq,
                        "program_id": row["program_id"],
                        "stage": to,
                        "entered_at": at,
                        "exited_at": None,
                        "exited_seq": None,
                        "seconds": None,
                    },
                )
            row["stage_entered_at"] = at
            row["stage_entered_seq"] = seq
            first = _FIRST_REACHED.get(to)
            if first is not None and row[first] is None:
                row[first] = at
                funnel[to] += 1
        if to_sub == "kickoff_pending" and row["accepted_at"] is None:
            row["accepted_at"] = at
            funnel["accepted"] += 1
        if to_sub == "paused":
            row["pauses"] += 1
        # separations
        sep = row["separation_seq"]
        if to == "separation" and sep is None:  # a timer (term end, inactivity) starts winding down directly
            sep = seq
            row["separation_seq"] = seq
            self.writes.insert(
                table_of(Separation), (rid, seq), _separation(row, rid, seq, "timer", "system", e.reason, at)
            )
        if sep is not None:
            if to_sub == "winding_down":
                self.writes.update(table_of(Separation), (rid, sep), {"winding_down_at": at})
            if to != "separation":
                result = {"redefinition": "redefinition", "cultivation": "reconciled"}.get(to, to)
                self.writes.update(table_of(Separation), (rid, sep), {"ended_at": at, "result": result})
                row["separation_seq"] = None
        row["stage"] = to
        row["substate"] = to_sub
        row["substate_entered_at"] = at

    def on_TrialStarted(self, row: dict[str, Any], d: Decoded) -> None:
        e = d.event
        if row["kicked_off_at"] is None:
            self.funnel[row["program_id"]]["kicked_off"] += 1
            row["kicked_off_at"] = e.at
        row["trial_ends_at"] = e.trial_ends_at
        row["term_ends_at"] = e.term_ends_at

    def on_MeetingLogged(self, row: dict[str, Any], d: Decoded) -> None:
        e, env = d.event, d.head
        row["meetings"] += 1
        last = row["last_meeting_at"]
        row["last_meeting_at"] = e.held_at if last is None else max(last, e.held_at)
        self.writes.insert(
            table_of(Meeting),
            (env.relationship_id, env.seq),
            {
                "relationship_id": env.relationship_id,
                "seq": env.seq,
                "program_id": row["program_id"],
                "held_at": e.held_at,
                "logged_at": e.at,
                "logged_by": e.by,
                "role": e.role.value,
                "duration_minutes": e.duration_minutes,
                "backfill": e.backfill,
                "notes": e.notes,
            },
        )

    def on_GoalSet(self, row: dict[str, Any], d: Decoded) -> None:
        e, env = d.event, d.head
        row["goals_set"] += 1
        self.writes.insert(
            table_of(Goal),
            (env.relationship_id, e.goal_id),
            {
                "relationship_id": env.relationship_id,
                "goal_id": e.goal_id,
                "program_id": row["program_id"],
                "text": e.text,
                "set_by": e.by,
                "set_at": e.at,
                "set_seq": env.seq,
                "completed_at": None,
                "completed_by": None,
                "completed_seq": None,
            },
        )

    def on_GoalCompleted(self, row: dict[str, Any], d: Decoded) -> None:
        e, env = d.event, d.head
        row["goals_completed"] += 1
        self.writes.update(
            table_of(Goal),
            (env.relationship_id, e.goal_id),
            {"completed_at": e.at, "completed_by": e.by, "completed_seq": env.seq},
        )

    def on_CheckInSubmitted(self, row: dict[str, Any], d: Decoded) -> None:
        e, env = d.event, d.head
        row["check_ins"] += 1
        column = "mentor_satisfaction" if e.role.value == "mentor" else "mentee_satisfaction"
        row[column] = e.satisfaction
        row["marginal"] = 3 in (row["mentor_satisfaction"], row["mentee_satisfaction"])
        self.writes.insert(
            table_of(CheckIn),
            (env.relationship_id, env.seq),
            {
                "relationship_id": env.relationship_id,
                "seq": env.seq,
                "program_id": row["program_id"],
                "submitted_at": e.at,
                "submitted_by": e.by,
                "role": e.role.value,
                "satisfaction": e.satisfaction,
                "marginal": e.satisfaction == 3,
                "comment": e.comment,
                "schema_version": env.schema_version,
            },
        )

    def on_HealthChanged(self, row: dict[str, Any], d: Decoded) -> None:
        row["health"] = d.event.to_health.value

    def _nudge(self, row: dict[str, Any], d: Decoded) -> None:
        e, env = d.event, d.head
        rule = _NUDGE_TYPES[env.type] or e.rule
        recipients = ",".join(getattr(e, "to", ()) or ())
        if env.type == "EscalatedToManager":
            message = e.reason
        elif env.type == "InactivityWarningSent":
            message = f"separation for inactivity at {e.separation_at.isoformat()}"
        elif env.type == "AcceptanceReminderSent":
            message = "acceptance reminder"
        else:
            message = e.message
        self.writes.insert(
            table_of(Nudge),
            (env.relationship_id, env.seq),
            {
                "relationship_id": env.relationship_id,
                "seq": env.seq,
                "program_id": row["program_id"],
                "sent_at": e.at,
                "kind": env.type,
                "rule": rule,
                "recipients": recipients,
                "message": message,
            },
        )

    on_AcceptanceReminderSent = _nudge
    on_NudgeSent = _nudge
    on_EscalatedToManager = _nudge
    on_InactivityWarningSent = _nudge

    def on_TermRenewed(self, row: dict[str, Any], d: Decoded) -> None:
        row["renewals"] = d.event.renewal
        row["term_ends_at"] = d.event.term_ends_at

    def on_SeparationProposed(self, row: dict[str, Any], d: Decoded) -> None:
        e, env = d.event, d.head
        rid, seq = env.relationship_id, env.seq
        values = _separation(row, rid, seq, "proposed", e.by, e.reason, e.at)
        values["consent_due_at"] = e.consent_due_at
        self.writes.insert(table_of(Separation), (rid, seq), values)
        row["separation_seq"] = seq

    def on_SeparationConsented(self, row: dict[str, Any], d: Decoded) -> None:
        if row["separation_seq"] is not None:
            key = (row["relationship_id"], row["separation_seq"])
            self.writes.update(table_of(Separation), key, {"consented_at": d.event.at, "consented_by": d.event.by})

    def on_SeparationContested(self, row: dict[str, Any], d: Decoded) -> None:
        if row["separation_seq"] is not None:
            key = (row["relationship_id"], row["separation_seq"])
            self.writes.update(table_of(Separation), key, {"contested_at": d.event.at})

    def on_SeparationResolved(self, row: dict[str, Any], d: Decoded) -> None:
        e = d.event
        if row["separation_seq"] is not None:
            key = (row["relationship_id"], row["separation_seq"])
            self.writes.update(
                table_of(Separation), key, {"resolved_at": e.at, "resolved_by": e.by, "resolution": e.resolution}
            )

    def on_RedefinitionRecorded(self, row: dict[str, Any], d: Decoded) -> None:
        e, env = d.event, d.head
        self.writes.insert(
            table_of(RedefinitionOutcome),
            (env.relationship_id, e.by),
            {
                "relationship_id": env.relationship_id,
                "person_id": e.by,
                "program_id": row["program_id"],
                "role": e.role.value,
                "outcome": e.outcome,
                "note": e.note,
                "recorded_at": e.at,
                "seq": env.seq,
            },
        )

    def on_RelationshipClosed(self, row: dict[str, Any], d: Decoded) -> None:
        e = d.event
        row["outcome"] = e.outcome.value
        row["close_reason"] = e.reason
        row["closed_at"] = e.at
        funnel = self.funnel[row["program_id"]]
        funnel["closed"] += 1
        funnel[e.outcome.value] += 1

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
                info = {"relationship_id": rid, "seq": env.seq, "event_id": env.event_id, "event_type": env.type}
                self.reject(d.message, "conflict", _conflict(env.seq, known, env.hash), **info)

    def flush(self) -> None:
        conn = self.conn
        sql = _Sql.of(conn)
        sql.insert(conn, _REL, [self.rows[rid] for rid in sorted(self.new_rows)])
        changed = []
        for rid in sorted(self.dirty - self.new_rows):
            row, before = self.rows[rid], self.loaded[rid]
            values = {k: v for k, v in row.items() if before[k] != v}
            if values:
                changed.append(((rid,), values))
        sql.update(conn, _REL, changed)
        self.writes.flush(conn, sql)
        sql.insert(conn, table_of(EventLog), self.event_log)
        if self.funnel:
            _upsert_funnel(conn, self.funnel)
        if self.result.rejected:
            conn.execute(
                insert(table_of(DeadLetter)),
                [
                    {
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
                    for r in self.result.rejected
                ],
            )


_INFO_KEYS = ("relationship_id", "seq", "event_id", "event_type")


def _noop(row: dict[str, Any], d: Decoded) -> None:
    return None


def _conflict(seq: int, known: str, got: str) -> str:
    return f"conflict: a second seq {seq} with hash {got[:12]}… (applied: {known[:12]}…); not applied"


def _separation(
    row: dict[str, Any], rid: str, seq: int, kind: str, by: str, reason: str, at: datetime
) -> dict[str, Any]:
    return {
        "relationship_id": rid,
        "seq": seq,
        "program_id": row["program_id"],
        "kind": kind,
        "initiated_by": by,
        "reason": reason,
        "started_at": at,
        "consent_due_at": None,
        "consented_at": None,
        "consented_by": None,
        "contested_at": None,
        "resolved_at": None,
        "resolved_by": None,
        "resolution": None,
        "winding_down_at": None,
        "ended_at": None,
        "result": None,
    }


def _upsert_funnel(conn: Connection, funnel: Mapping[str, Mapping[str, int]]) -> None:
    t = table_of(ProgramFunnel)
    rows = [{"program_id": program, **counts} for program, counts in sorted(funnel.items())]
    dialect = conn.dialect.name
    if dialect == "postgresql":
        pg_stmt = postgresql.insert(t)
        stmt: Any = pg_stmt.on_conflict_do_update(
            index_elements=[t.c.program_id],
            set_={c: t.c[c] + pg_stmt.excluded[c] for c in FUNNEL_COLUMNS},
        )
    elif dialect == "sqlite":
        lite_stmt = sqlite.insert(t)
        stmt = lite_stmt.on_conflict_do_update(
            index_elements=[t.c.program_id],
            set_={c: t.c[c] + lite_stmt.excluded[c] for c in FUNNEL_COLUMNS},
        )
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise NotImplementedError(f"program_funnel upsert on {dialect}")
    conn.execute(stmt, rows)


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
