"""What the audit reads and what it finds: one envelope as a store holds it (:class:`StoredRecord`) and one finding
(:class:`Difference`). Pure data; nothing here does I/O.

A store may hold anything under a relationship's key (the topic is open to every producer): decoding never raises.
Bytes that are not JSON, JSON nested deeper than :data:`MAX_NESTING`, or JSON that is not an object become a record
with ``data=None`` and ``error`` saying why, so the caller can report the entry and verify the rest.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import orjson

from domain import Envelope, canonical_json
from domain.envelope import sha256_hex
from projections.canonical import canonical_or_none, fast_envelope, fast_envelope_data

__all__ = [
    "MAX_NESTING",
    "Difference",
    "StoredRecord",
    "location",
    "render",
    "short",
    "vouched_data",
]

MAX_NESTING = 32
"""Deepest JSON nesting the audit decodes. An envelope is 3 levels deep with a flat payload (lists of goals: 4); a
deeper value is not an envelope, and refusing it keeps every later step (hashing, field diffs) clear of Python's
recursion limit."""


def _canonical(value: Any) -> bytes:
    """:func:`domain.canonical_json`, through orjson where that provably gives the same bytes."""
    fast = canonical_or_none(value)
    return canonical_json(value) if fast is None else fast


def short(h: Any) -> str:
    """A hash as people read it: the first 10 hex digits."""
    return f"{str(h)[:10]}…" if h is not None else "-"


def render(value: Any, limit: int = 80) -> str:
    """A value in a one-line message, cut at ``limit`` characters."""
    try:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    except (ValueError, RecursionError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def nested_deeper_than(value: Any, limit: int = MAX_NESTING) -> bool:
    """Whether a decoded JSON value nests containers more than ``limit`` deep (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


def vouched_data(raw: bytes) -> dict[str, Any] | None:
    """The envelope object of ``raw`` when the fast path (:func:`projections.canonical.fast_envelope`: orjson parse,
    canonical re-encode, sha256 over the received bytes) proves ``raw`` a valid envelope's canonical JSON whose hash
    is right, and it nests no deeper than :data:`MAX_NESTING`; else None (the reference decoding decides)."""
    try:
        verified = fast_envelope(raw)
    except Exception:  # anything unexpected: the reference path decides, and says why
        return None
    if verified is None:
        return None
    data = verified[0]
    if raw.count(b"{") + raw.count(b"[") > MAX_NESTING and nested_deeper_than(data):
        return None
    return data


def _parsed(raw: bytes) -> dict[str, Any] | None:
    """The object of bytes that :func:`vouched_data` accepted elsewhere, as it returns it (``hash`` last), without
    the checks; None if they do not parse after all (the reference decides)."""
    try:
        data = orjson.loads(raw)
        data["hash"] = data.pop("hash")
    except Exception:
        return None
    return data if type(data) is dict else None


def _decode(raw: bytes) -> tuple[Any, str | None]:
    """(the JSON object, None) or (None, why it is not one)."""
    # bytes.count is C-fast: a value with no more brackets than the limit cannot nest deeper than it
    brackets = raw.count(b"{") + raw.count(b"[")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        return None, f"not valid JSON ({exc})"
    except RecursionError:
        return None, f"JSON nested deeper than {MAX_NESTING} levels"
    if brackets > MAX_NESTING and nested_deeper_than(data):
        return None, f"JSON nested deeper than {MAX_NESTING} levels"
    if not isinstance(data, dict):
        return None, f"not a JSON object (a JSON {type(data).__name__})"
    return data, None


@dataclass(frozen=True)
class StoredRecord:
    """One envelope as a store holds it. ``data`` is the decoded JSON object (None when undecodable, then ``error``
    says why); ``raw`` the exact bytes when the store keeps bytes (Kafka value, event_log text); ``columns`` the
    event_log's indexed columns beside the envelope text.

    Where a store's own layout says something about the order: ``position`` = (partition, offset) on Kafka, whose
    per-key order within a partition is the publishing order (DESIGN §5); ``key_seq`` = the seq the event_log files
    the row under (its key). A Temporal history has neither: where an envelope first appears there says nothing
    about its place in the chain (a timer event can sit in the outbox while a later command's result is written)."""

    store: str
    where: str
    data: Mapping[str, Any] | None
    raw: bytes | None = None
    error: str | None = None
    columns: Mapping[str, Any] | None = None
    position: tuple[int, int] | None = None
    key_seq: int | None = None

    @cached_property
    def seq(self) -> int | None:
        if self.data is None:
            return None
        seq = self.data.get("seq")
        return seq if isinstance(seq, int) and not isinstance(seq, bool) else None

    @cached_property
    def hash(self) -> str | None:
        return None if self.data is None else self.data.get("hash")

    @cached_property
    def recomputed_hash(self) -> str | None:
        if self.data is None:
            return None
        return sha256_hex(_canonical({k: v for k, v in self.data.items() if k != "hash"}))

    @property
    def self_consistent(self) -> bool:
        return self.data is not None and self.hash == self.recomputed_hash

    @cached_property
    def canonical(self) -> bytes:
        return _canonical(dict(self.data or {}))

    @cached_property
    def vouched(self) -> bool:
        """Whether the fast path proves ``data`` a valid envelope whose hash is right
        (:func:`projections.canonical.fast_envelope_data`): its chain then needs only its links checked."""
        return self.data is not None and fast_envelope_data(self.data)

    @classmethod
    def from_bytes(
        cls,
        store: str,
        where: str,
        raw: bytes,
        columns: Mapping[str, Any] | None = None,
        *,
        position: tuple[int, int] | None = None,
        key_seq: int | None = None,
        vouched: bool | None = None,
    ) -> StoredRecord:
        """``vouched``: None decodes ``raw`` through the fast path (:func:`vouched_data`), falling back to the
        reference; True trusts a verdict of :func:`vouched_data` on these very bytes made elsewhere (a second
        process) and only parses them; False takes the reference decoding at once."""
        data = vouched_data(raw) if vouched is None else _parsed(raw) if vouched else None
        if data is not None:  # the fast path: what the reference would compute is known already
            record = cls(store, where, data, raw=raw, columns=columns, position=position, key_seq=key_seq)
            stored = data["hash"]  # the cached values (what the reference computes on first use):
            record.__dict__.update(seq=data["seq"], hash=stored, canonical=raw, recomputed_hash=stored, vouched=True)
            return record
        data, error = _decode(raw)
        return cls(store, where, data, raw=raw, error=error, columns=columns, position=position, key_seq=key_seq)

    @classmethod
    def from_data(cls, store: str, where: str, data: Mapping[str, Any]) -> StoredRecord:
        """A JSON object already decoded (a Temporal payload): refused like bytes when nested too deep."""
        if nested_deeper_than(data):
            return cls(store, where, None, error=f"JSON nested deeper than {MAX_NESTING} levels")
        return cls(store, where, data)

    @classmethod
    def from_envelope(cls, store: str, where: str, envelope: Envelope) -> StoredRecord:
        return cls(store, where, envelope.to_json_dict(), raw=envelope.to_bytes())


@dataclass(frozen=True)
class Difference:
    """One finding. ``kind``: ``missing | extra | differs | tampered | chain | order | duplicate | invalid | foreign
    | column | unavailable | replay``. ``severity`` ``error`` fails verification; ``warning`` does not."""

    kind: str
    store: str
    seq: int | None
    message: str
    where: str | None = None
    expected: str | None = None
    found: str | None = None
    severity: str = "error"
    fields: tuple[str, ...] = field(default=())

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "severity": self.severity,
            "store": self.store,
            "seq": self.seq,
            "where": self.where,
            "expected": self.expected,
            "found": self.found,
            "fields": list(self.fields),
            "message": self.message,
        }


def location(record: StoredRecord) -> str:
    return f"{record.store} ({record.where})"
