"""The envelope and the hash chain (DESIGN §3).

The hashed form of an envelope is the JSON object with the keys ``event_id, relationship_id, program_id, seq, type,
schema_version, occurred_at, actor{id, role}, causation_id, payload, prev_hash``; ``hash`` is the sha256 hex of its
canonical JSON (:func:`canonical_json`). ``to_bytes()`` is the canonical JSON of the hashed form plus ``hash``: the
Kafka message value. Re-verifying needs nothing but a JSON library and sha256::

    prev = "0" * 64
    for n, line in enumerate(lines, 1):
        env = json.loads(line); h = env.pop("hash")
        assert env["seq"] == n and env["prev_hash"] == prev
        assert hashlib.sha256(json.dumps(env, sort_keys=True, separators=(",", ":"),
                              ensure_ascii=False).encode()).hexdigest() == h
        prev = h
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from domain._time import UtcDatetime, format_instant
from domain.actors import Actor
from domain.catalog import EVENT_CLASSES, PROGRAM_EVENT_CLASSES
from domain.events import Event, EventBase, RelationshipProposed, event_adapter
from domain.programs.events import ProgramEvent
from domain.state import GENESIS_HASH
from domain.upcasting import upcast

__all__ = [
    "GENESIS_HASH",
    "ChainReport",
    "Envelope",
    "canonical_json",
    "event_from_envelope",
    "event_to_payload",
    "seal",
    "sha256_hex",
    "verify_chain",
]

_HEX64 = r"^[0-9a-f]{64}$"


# ``json.dumps(obj, **kwargs)`` builds this very encoder on every call; one shared instance gives the same bytes
# (its ``encode`` keeps no state between calls) without that cost, which matters at projection rates.
_CANONICAL_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(obj: Any) -> bytes:
    """The one JSON encoding that is hashed and published:
    ``json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")``."""
    return _CANONICAL_ENCODER.encode(obj).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def event_to_payload(event: EventBase) -> dict[str, Any]:
    """The event's own fields, JSON-native (instants as ``...ffffffZ``, decimals and enums as strings,
    durations as ISO strings), without ``type`` and ``at``."""
    return event.model_dump(mode="json", exclude={"type", "at"})


class Envelope(BaseModel):
    """One event in transit and at rest. Build with :func:`seal`; never edit."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: str
    relationship_id: str
    program_id: str
    seq: int = Field(ge=1)
    type: str
    schema_version: int = Field(ge=1)
    occurred_at: UtcDatetime
    actor: Actor
    causation_id: str | None = None
    payload: dict[str, Any]
    prev_hash: str = Field(pattern=_HEX64)
    hash: str = Field(pattern=_HEX64)

    @field_validator("event_id")
    @classmethod
    def _uuid(cls, v: str) -> str:
        try:
            canonical = str(uuid.UUID(v))
        except ValueError:
            raise ValueError(f"event_id {v!r} is not a UUID") from None
        if canonical != v:
            raise ValueError(f"event_id {v!r} must be a lowercase hyphenated UUID ({canonical})")
        return v

    def hashed_dict(self) -> dict[str, Any]:
        """The exact object that is hashed: every field but ``hash``."""
        return {
            "event_id": self.event_id,
            "relationship_id": self.relationship_id,
            "program_id": self.program_id,
            "seq": self.seq,
            "type": self.type,
            "schema_version": self.schema_version,
            "occurred_at": format_instant(self.occurred_at),
            "actor": {"id": self.actor.id, "role": self.actor.role.value},
            "causation_id": self.causation_id,
            "payload": self.payload,
            "prev_hash": self.prev_hash,
        }

    def compute_hash(self) -> str:
        return sha256_hex(canonical_json(self.hashed_dict()))

    def to_json_dict(self) -> dict[str, Any]:
        return {**self.hashed_dict(), "hash": self.hash}

    def to_bytes(self) -> bytes:
        return canonical_json(self.to_json_dict())

    @classmethod
    def from_json_dict(cls, data: Mapping[str, Any]) -> Envelope:
        return cls.model_validate(dict(data))

    @classmethod
    def from_bytes(cls, data: bytes) -> Envelope:
        return cls.from_json_dict(json.loads(data.decode("utf-8")))


class ChainHead(Protocol):
    """What sealing needs of the state before the event: a relationship's or a program's."""

    @property
    def relationship_id(self) -> str: ...
    @property
    def program_id(self) -> str | None: ...
    @property
    def seq(self) -> int: ...
    @property
    def last_hash(self) -> str: ...


def seal(
    state: ChainHead,
    event: EventBase,
    *,
    event_id: str,
    actor: Actor,
    causation_id: str | None = None,
) -> Envelope:
    """Wrap ``event`` as the next envelope after ``state`` (``seq = state.seq + 1``,
    ``prev_hash = state.last_hash``). ``state`` is the state BEFORE the event. ``event_id`` is normalised to the
    lowercase hyphenated form."""
    program_id = state.program_id
    if program_id is None:
        if not isinstance(event, RelationshipProposed):
            raise ValueError(f"relationship {state.relationship_id} has no program yet; cannot seal {event}")
        program_id = event.program_id
    try:
        eid = str(uuid.UUID(event_id))
    except ValueError:
        raise ValueError(f"event_id {event_id!r} is not a UUID") from None
    body: dict[str, Any] = {
        "event_id": eid,
        "relationship_id": state.relationship_id,
        "program_id": program_id,
        "seq": state.seq + 1,
        "type": type(event).__name__,
        "schema_version": type(event).schema_version,
        "occurred_at": format_instant(event.at),
        "actor": {"id": actor.id, "role": actor.role.value},
        "causation_id": causation_id,
        "payload": event_to_payload(event),
        "prev_hash": state.last_hash,
    }
    digest = sha256_hex(canonical_json(body))
    return Envelope.model_construct(
        event_id=eid,
        relationship_id=state.relationship_id,
        program_id=program_id,
        seq=state.seq + 1,
        type=body["type"],
        schema_version=body["schema_version"],
        occurred_at=event.at,
        actor=actor,
        causation_id=causation_id,
        payload=body["payload"],
        prev_hash=state.last_hash,
        hash=digest,
    )


def event_from_envelope(envelope: Envelope) -> Event | ProgramEvent:
    """Decode an envelope into the current-schema event (upcasting old payloads); ``at = occurred_at``. A program
    chain's events (:mod:`domain.programs.events`) decode to their own classes."""
    cls = EVENT_CLASSES.get(envelope.type)
    if cls is None:
        raise ValueError(f"seq {envelope.seq}: unknown event type {envelope.type!r}")
    _, payload = upcast(envelope.type, envelope.schema_version, envelope.payload)
    data = {**payload, "type": envelope.type, "at": envelope.occurred_at}
    if envelope.type in PROGRAM_EVENT_CLASSES:
        event: ProgramEvent = cls.model_validate(data)  # type: ignore[assignment]
        return event
    return event_adapter().validate_python(data)


class ChainReport(BaseModel):
    """Result of :func:`verify_chain`. ``checked`` = envelopes verified good before the first problem (all of
    them when ``ok``); ``first_bad_seq`` = the seq at which the chain stops being valid (the position's expected
    seq); ``problem`` says why."""

    model_config = ConfigDict(frozen=True)

    ok: bool
    checked: int
    first_bad_seq: int | None = None
    problem: str | None = None
    last_hash: str | None = None


def _short(h: Any) -> str:
    return f"{str(h)[:7]}…"


def verify_chain(envelopes: Iterable[Envelope | Mapping[str, Any] | bytes | str]) -> ChainReport:
    """Recompute every hash, every prev link and the seq continuity (gapless from 1, one relationship).

    Accepts :class:`Envelope` objects, JSON dicts (as stored) or the canonical bytes/str (as on Kafka). For raw
    bytes, the record must also be exactly the canonical JSON of what it contains."""
    prev = GENESIS_HASH
    relationship_id: Any = None
    checked = 0
    for index, record in enumerate(envelopes):
        expected = index + 1

        def bad(problem: str, expected: int = expected, checked: int = checked) -> ChainReport:
            return ChainReport(ok=False, checked=checked, first_bad_seq=expected, problem=problem)

        data: Any
        if isinstance(record, Envelope):
            data = record.to_json_dict()
        elif isinstance(record, bytes | str):
            raw = record.encode("utf-8") if isinstance(record, str) else record
            try:
                data = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as exc:
                return bad(f"seq {expected}: not valid JSON ({exc})")
            if not isinstance(data, dict):
                return bad(f"seq {expected}: not a JSON object")
            if canonical_json(data) != raw:
                return bad(f"seq {expected}: bytes are not canonical JSON")
        else:
            data = dict(record)
        label = data.get("seq", "?")
        if not isinstance(data.get("seq"), int) or isinstance(data.get("seq"), bool):
            return bad(f"seq {expected}: missing or non-integer seq ({label!r})")
        stored_hash = data.get("hash")
        if not isinstance(stored_hash, str):
            return bad(f"seq {label}: missing hash")
        if relationship_id is None:
            relationship_id = data.get("relationship_id")
        elif data.get("relationship_id") != relationship_id:
            return bad(f"seq {label}: belongs to relationship {data.get('relationship_id')!r}, not {relationship_id!r}")
        if data["seq"] != expected:
            why = "duplicate" if data["seq"] < expected else "gap"
            return bad(f"seq {label}: expected seq {expected} ({why})")
        if data.get("prev_hash") != prev:
            what = "genesis hash" if expected == 1 else f"hash of seq {expected - 1}"
            return bad(f"seq {label}: prev_hash does not match {what}")
        recomputed = sha256_hex(canonical_json({k: v for k, v in data.items() if k != "hash"}))
        if recomputed != stored_hash:
            return bad(f"seq {label}: hash mismatch (stored {_short(stored_hash)}, recomputed {_short(recomputed)})")
        if isinstance(record, bytes | str | Mapping):
            try:
                Envelope.from_json_dict(data)
            except ValidationError as exc:
                return bad(
                    f"seq {label}: not a valid envelope ({exc.error_count()} problems: {exc.errors()[0]['msg']})"
                )
        prev = stored_hash
        checked += 1
    return ChainReport(ok=True, checked=checked, last_hash=prev if checked else GENESIS_HASH)
