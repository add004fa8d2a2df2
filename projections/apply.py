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
   (``domain.event_from_envelope``). A failure is *poison*: a dead letter, the partition goes on;
3. loads the relationship rows of the batch once, applies the events in order in memory (``seq <= last_seq``:
   a duplicate, skipped; its hash is compared with the applied one and a different hash is a ``conflict`` alarm;
   ``seq > last_seq + 1``: a ``gap`` alarm, not applied; ``prev_hash`` not the last hash, a stage change from
   another position than the projected one: poison);
4. writes everything with one executemany per table and statement shape, plus the new offsets and the
   ``dead_letters`` rows.

The caller commits (after publishing the poison messages to the dead-letter topic, so none is lost).
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection, Table, bindparam, insert, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite

from domain import Envelope, event_from_envelope
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
    table_of,
)

__all__ = [
    "BatchResult",
    "Decoded",
    "Message",
    "OffsetsMoved",
    "Poison",
    "Rejected",
    "apply_batch",
    "decode",
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


@dataclass(frozen=True, slots=True)
class Decoded:
    message: Message
    envelope: Envelope
    event: Any
    text: str


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
    """The message as an envelope and its current-schema event; raises :class:`Poison` with the reason."""
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
    if envelope.to_bytes() != raw:
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
    return Decoded(message, envelope, event, text)


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

    def flush(self, conn: Connection) -> None:
        for table, rows in self.inserts.items():
            if rows:
                conn.execute(insert(table), list(rows.values()))
        for table, changes in self.updates.items():
            if not changes:
                continue
            pk_cols = list(table.primary_key.columns)
            by_shape: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
            for pk, values in changes.items():
                params = dict(values)
                for col, value in zip(pk_cols, pk, strict=True):
                    params[f"b_{col.name}"] = value
                by_shape[tuple(sorted(values))].append(params)
            for shape, params_list in by_shape.items():
                stmt = (
                    update(table)
                    .where(*(col == bindparam(f"b_{col.name}") for col in pk_cols))
                    .values({name: bindparam(name) for name in shape})
                )
                conn.execute(stmt, params_list)


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
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i : i + _CHUNK]
            for row in self.conn.execute(select(_REL).where(_REL.c.relationship_id.in_(chunk))).mappings():
                self.rows[row["relationship_id"]] = dict(row)

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
        env = d.envelope
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
                "actor_id": env.actor.id,
                "actor_role": env.actor.role.value,
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
        env = d.envelope
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
        e, env = d.event, d.envelope
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
                "actor_id": env.actor.id,
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
        e, env = d.event, d.envelope
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
        e, env = d.event, d.envelope
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
        e, env = d.event, d.envelope
        row["goals_completed"] += 1
        self.writes.update(
            table_of(Goal),
            (env.relationship_id, e.goal_id),
            {"completed_at": e.at, "completed_by": e.by, "completed_seq": env.seq},
        )

    def on_CheckInSubmitted(self, row: dict[str, Any], d: Decoded) -> None:
        e, env = d.event, d.envelope
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
        e, env = d.event, d.envelope
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
        e, env = d.event, d.envelope
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
        e, env = d.event, d.envelope
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
        pairs = sorted({(d.envelope.relationship_id, d.envelope.seq) for d, _ in self.duplicates_to_check})
        stored: dict[tuple[str, int], str] = {}
        for i in range(0, len(pairs), _CHUNK):
            chunk = pairs[i : i + _CHUNK]
            stmt = select(t.c.relationship_id, t.c.seq, t.c.hash).where(tuple_(t.c.relationship_id, t.c.seq).in_(chunk))
            stored.update({(r, s): h for r, s, h in self.conn.execute(stmt)})
        for d, rid in self.duplicates_to_check:
            env = d.envelope
            known = stored.get((rid, env.seq))
            if known is not None and known != env.hash:
                info = {"relationship_id": rid, "seq": env.seq, "event_id": env.event_id, "event_type": env.type}
                self.reject(d.message, "conflict", _conflict(env.seq, known, env.hash), **info)

    def flush(self) -> None:
        conn = self.conn
        new = [self.rows[rid] for rid in sorted(self.new_rows)]
        if new:
            conn.execute(insert(_REL), new)
        changed = []
        for rid in sorted(self.dirty - self.new_rows):
            params = dict(self.rows[rid])
            params["b_relationship_id"] = params.pop("relationship_id")
            changed.append(params)
        if changed:
            columns = [c.name for c in _REL.columns if c.name != "relationship_id"]
            stmt = (
                update(_REL)
                .where(_REL.c.relationship_id == bindparam("b_relationship_id"))
                .values({c: bindparam(c) for c in columns})
            )
            conn.execute(stmt, changed)
        self.writes.flush(conn)
        if self.event_log:
            conn.execute(insert(table_of(EventLog)), self.event_log)
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
    work.load(d.envelope.relationship_id for d in decoded)
    for d in decoded:
        work.handle(d)
    work.check_duplicates()
    work.flush()
    write_offsets(conn, group_id, next_offsets, stored, now)
    work.result.next_offsets = next_offsets
    return work.result
