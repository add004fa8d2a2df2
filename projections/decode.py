"""Decode a Kafka message into a verified envelope and its current-schema event (DESIGN §3, §5).

:func:`decode` is the one entry point: a fast path (one parse, one canonical encoding, no pydantic where
:mod:`projections.fast_event` vouches for the event)
accepts the ordinary messages; anything else goes through :func:`decode_strict`, the reference, which gives the
precise reason. A message that fails is *poison* (:class:`Poison`, with the reason and what could be read of the
envelope): JSON, envelope shape, canonical bytes, hash, key, event type and upcast are all checked here.
The process-wide cache of validated pinned policies is :mod:`projections.fast_event`'s (a nested model's cache).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from pydantic import ValidationError

from domain import EVENT_CLASSES, Envelope, event_from_envelope, upcast
from projections.canonical import fast_envelope
from projections.fast_event import build_event

__all__ = [
    "Decoded",
    "Head",
    "Message",
    "Poison",
    "decode",
    "decode_strict",
    "decode_verified",
    "fast_accepts",
    "fast_event_of",
]


@dataclass(frozen=True, slots=True)
class Message:
    """One Kafka record, as the projector sees it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()


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
    except RecursionError:  # the C parser gives up on nesting deeper than the interpreter's recursion limit
        raise Poison("undecodable: JSON nested too deeply") from None
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
    if _NUL_ESCAPE in raw and _has_nul(data):
        raise Poison("shape: a NUL character (U+0000) in a string (no database column can hold it)", info)
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


def _has_nul(value: Any) -> bool:
    """Whether a NUL character is in any string (key or value) of a parsed JSON value."""
    stack = [value]
    while stack:
        v = stack.pop()
        if type(v) is str:
            if "\x00" in v:
                return True
        elif type(v) is dict:
            stack.extend(v.keys())
            stack.extend(v.values())
        elif type(v) is list:
            stack.extend(v)
    return False


# --- the fast path ---------------------------------------------------------------------------------------------
#
# :func:`projections.canonical.fast_envelope` (orjson parse and canonical re-encode, sha256 over the received bytes
# with the hash cut out, the envelope's shape without pydantic: its docstring says why each step is exactly the
# reference's), then the key, the NUL check, the type, the upcast and the event
# (:func:`projections.fast_event.build_event`: no pydantic where its builder vouches, else pydantic's validation; a
# proposal's pinned policy is validated once per distinct policy). Anything else (and any unexpected exception)
# returns None: the strict path decides, with its precise reason. A message whose content is authentic
# (its hash is right) but whose bytes are not the canonical JSON stays poison: DESIGN §5 makes the value the
# canonical JSON, the event log keeps the bytes verbatim, and an auditor's verifier of those bytes
# (``domain.verify_chain``) requires them canonical.

_NUL_ESCAPE = b"\\u0000"  # how canonical JSON writes U+0000, which PostgreSQL text cannot hold (DESIGN §11)


def _decode_fast(message: Message, raw: bytes) -> Decoded | None:
    try:
        return _decode_fast_or_none(message, raw)
    except Exception:  # anything unexpected: the strict path decides, and says why
        return None


def _decode_fast_or_none(message: Message, raw: bytes) -> Decoded | None:
    verified = fast_envelope(raw)
    if verified is None:
        return None
    data, at = verified
    return _decoded_of(message, raw, data, at)


def _decoded_of(message: Message, raw: bytes, data: dict[str, Any], at: datetime) -> Decoded | None:
    """The rest of the fast path, after the envelope was verified: key, NUL, type, upcast, event, head."""
    rid = data["relationship_id"]
    if message.key is not None and message.key != rid.encode("utf-8"):
        return None
    if _NUL_ESCAPE in raw:  # maybe a NUL (or an escaped backslash before "u0000"): the strict path looks closer
        return None
    event = fast_event_of(data, at)
    if event is None:
        return None
    event_type = data["type"]
    version = data["schema_version"]
    actor = data["actor"]
    head = Head(
        event_id=data["event_id"],
        relationship_id=rid,
        program_id=data["program_id"],
        seq=data["seq"],
        type=event_type,
        schema_version=version,
        occurred_at=at,
        actor_id=actor["id"],
        actor_role=actor["role"],
        causation_id=data["causation_id"],
        prev_hash=data["prev_hash"],
        hash=data["hash"],
    )
    return Decoded(message, head, event, raw.decode("utf-8"))


def fast_event_of(data: Mapping[str, Any], at: datetime) -> Any:
    """The current-schema event of a verified envelope object (``at``: its instant): the type, the upcast, the event
    (:func:`projections.fast_event.build_event`), as ``domain.event_from_envelope`` makes it; None for an unknown
    type. Raises what pydantic raises on a payload it refuses."""
    event_type = data["type"]
    cls = EVENT_CLASSES.get(event_type)
    if cls is None:
        return None
    version = data["schema_version"]
    payload = data["payload"]
    if version != cls.schema_version:
        _, payload = upcast(event_type, version, payload)
    return build_event(cls, {**payload, "type": event_type, "at": at})


def fast_accepts(message: Message) -> bool:
    """Whether :func:`decode` takes its fast path for ``message`` (the verdict a decode process sends along with the
    bytes, so that the writer can use :func:`decode_verified`)."""
    return message.value is not None and _decode_fast(message, message.value) is not None


def decode_verified(message: Message) -> Decoded:
    """:func:`decode` of a message whose very bytes :func:`fast_accepts` already accepted (in a decode process): the
    parse and the event again, without re-checking what the fast path proved of the bytes (canonical form, hash,
    envelope shape). The same value as :func:`decode`; anything unexpected decodes it in full."""
    raw = message.value
    try:
        assert raw is not None
        data = orjson.loads(raw)
        decoded = _decoded_of(message, raw, data, datetime.fromisoformat(data["occurred_at"]))
    except Exception:  # not what the fast path accepted after all: the full decoder decides
        decoded = None
    return decoded if decoded is not None else decode(message)
