"""The fast path to a verified envelope: orjson parse, orjson canonical re-encode, sha256 over the received bytes with
the ``hash`` field cut out. It accepts a message only where that is provably what the reference accepts
(:func:`domain.canonical_json`, ``json.loads``, the pydantic :class:`~domain.Envelope`); anything else returns None
and the caller takes the reference path, which gives the precise reason.

Why the bytes orjson writes are the reference's bytes (held by ``tests/unit/projections/test_canonical.py``, a
differential Hypothesis property over arbitrary JSON values):

* only ``dict``, ``list``, ``str``, ``int``, ``bool`` and ``None`` reach the encoder (a parse of JSON makes nothing
  else; subclasses, datetimes and dataclasses are refused by the ``PASSTHROUGH`` options: no ``default``, so they
  raise);
* strings: both write UTF-8 unescaped except ``"``, ``\\`` and the C0 controls, with the same short escapes
  (``\\n``, ``\\t``, …) and lowercase ``\\u00XX`` for the rest; U+2028/U+2029 and DEL raw. A lone surrogate has no
  UTF-8: orjson raises (on parse and on encode) where the reference's canonical form does not exist;
* ``OPT_SORT_KEYS`` orders keys by their UTF-8 bytes, which is code-point order (the reference's ``sort_keys``)
  for every string without surrogates;
* integers: orjson refuses more than 64 bits on encode, and parses a longer integer literal as a float;
* floats: both write the shortest round-trip digits but not always in the same form (``1e-05`` vs ``0.00001``),
  so ANY float sends the message to the reference path: the ``_FLOAT_*`` patterns find every number token with a
  fraction or an exponent (in canonical JSON a number follows a key's ``":``, ``[`` or ``,`` in an array, or starts
  the text); a string that merely looks like one (``"a\\":1.5"``, ``"1,5.0"``) only costs the slow path, and an
  instant's ``:00.`` does not;
* nesting deeper than orjson's limit raises.

The received bytes with ``,"hash":"<64 hex>"`` cut out after the top-level ``event_id`` are exactly the canonical
JSON of the hashed form when they equal orjson's encoding of the parsed object without ``hash`` (sorted keys put
``hash`` between ``event_id`` and ``occurred_at``; before ``event_id`` come only ``actor`` — exactly ``id`` and
``role``, checked — and ``causation_id``; inside a JSON string every ``"`` is escaped, so the first
``"event_id":"`` is the key), so the sha256 of the cut bytes is the envelope's hash and the whole message is its
canonical JSON: one encoding, one comparison, one hash.
"""

from __future__ import annotations

import re
from datetime import datetime
from hashlib import sha256
from typing import Any

import orjson

from domain import Envelope, Role

__all__ = ["canonical_or_none", "envelope_shape", "fast_envelope", "fast_envelope_data", "parse_or_none"]

_OPTIONS = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
)
# One search per literal prefix: the engine skips ahead to each occurrence (one alternation scans ten times slower).
_FLOAT_IN_OBJECT = re.compile(rb'":-?[0-9]+[.eE]').search
_FLOAT_FIRST_IN_ARRAY = re.compile(rb"\[-?[0-9]+[.eE]").search
_FLOAT_NEXT_IN_ARRAY = re.compile(rb",-?[0-9]+[.eE]").search
_FLOAT_ALONE = re.compile(rb"-?[0-9]+[.eE]").match

_ENVELOPE_KEYS = frozenset(Envelope.model_fields)
_ACTOR_KEYS = frozenset({"id", "role"})
_ROLES = frozenset(role.value for role in Role)
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").fullmatch
_HEX64 = re.compile(r"[0-9a-f]{64}").fullmatch
_INSTANT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z").fullmatch
_EVENT_ID_KEY = b'"event_id":"'
_HASH_AT = len(_EVENT_ID_KEY) + 36 + 1  # after the key, the 36-character UUID and its closing quote
_HASH_FIELD = len(b',"hash":"') + 64 + 1


def canonical_or_none(value: Any) -> bytes | None:
    """``domain.canonical_json(value)`` when orjson provably writes the same bytes (see the module docstring), else
    None (a float, a lone surrogate, an integer beyond 64 bits, a non-JSON type, too deep)."""
    try:
        out = orjson.dumps(value, option=_OPTIONS)
    except (TypeError, orjson.JSONEncodeError):
        return None
    if _FLOAT_IN_OBJECT(out) or _FLOAT_FIRST_IN_ARRAY(out) or _FLOAT_NEXT_IN_ARRAY(out) or _FLOAT_ALONE(out):
        return None
    return out


def parse_or_none(raw: bytes) -> Any:
    """The JSON value of ``raw`` if orjson parses it (None for anything it refuses: the caller's reference parser
    decides). Only meaningful together with :func:`canonical_or_none` on the result."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


def envelope_shape(data: Any) -> datetime | None:
    """The instant of a parsed envelope object (with ``hash``) whose shape the pydantic :class:`~domain.Envelope`
    accepts unchanged, else None: exactly the envelope's keys; every field of exactly the JSON type the envelope
    wants; the strings pydantic would re-serialise already in their one serialised form (lowercase hyphenated UUID,
    ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` of a real day, a role name, 64 lowercase hex digits)."""
    if type(data) is not dict or data.keys() != _ENVELOPE_KEYS:
        return None
    actor = data["actor"]
    seq = data["seq"]
    version = data["schema_version"]
    causation_id = data["causation_id"]
    event_id = data["event_id"]
    prev_hash = data["prev_hash"]
    stored_hash = data["hash"]
    occurred = data["occurred_at"]
    if not (
        type(event_id) is str
        and _UUID(event_id)
        and type(data["relationship_id"]) is str
        and type(data["program_id"]) is str
        and type(seq) is int
        and seq >= 1
        and type(data["type"]) is str
        and type(version) is int
        and version >= 1
        and type(occurred) is str
        and _INSTANT(occurred)
        and type(actor) is dict
        and actor.keys() == _ACTOR_KEYS
        and type(actor["id"]) is str
        and actor["id"]
        and type(actor["role"]) is str
        and actor["role"] in _ROLES
        and (causation_id is None or type(causation_id) is str)
        and type(data["payload"]) is dict
        and type(prev_hash) is str
        and _HEX64(prev_hash)
        and type(stored_hash) is str
        and _HEX64(stored_hash)
    ):
        return None
    try:
        return datetime.fromisoformat(occurred)  # the exact format, so the same instant
    except ValueError:  # no such day
        return None


def fast_envelope(raw: bytes) -> tuple[dict[str, Any], datetime] | None:
    """The parsed envelope object (with ``hash``) and its instant, when ``raw`` is provably a valid envelope's
    canonical JSON whose hash is right — what ``Envelope.model_validate(json.loads(raw))`` accepts, with
    ``to_bytes() == raw`` and ``compute_hash() == hash``. None otherwise: the reference path decides and says why."""
    data = parse_or_none(raw)
    at = envelope_shape(data)
    if at is None:
        return None
    stored_hash = data["hash"]
    cut = raw.find(_EVENT_ID_KEY) + _HASH_AT
    if raw[cut : cut + _HASH_FIELD] != b',"hash":"' + stored_hash.encode() + b'"':
        return None
    body = raw[:cut] + raw[cut + _HASH_FIELD :]
    if sha256(body).hexdigest() != stored_hash:
        return None
    del data["hash"]
    canonical = canonical_or_none(data)
    data["hash"] = stored_hash
    if canonical != body:
        return None
    return data, at


def fast_envelope_data(data: Any) -> bool:
    """Whether a parsed envelope object (with ``hash``, as a store that keeps JSON objects holds it) is provably
    what ``Envelope.model_validate`` accepts unchanged with ``compute_hash() == hash`` (False: the reference
    decides)."""
    if envelope_shape(data) is None:
        return False
    body = canonical_or_none({k: v for k, v in data.items() if k != "hash"})
    return body is not None and sha256(body).hexdigest() == data["hash"]
