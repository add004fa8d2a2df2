"""The fast decoder (one parse, one canonical encoding, no pydantic for the envelope) against the strict one
(``decode_strict``: pydantic ``Envelope``, canonical bytes, hash, key, upcast): on every message they must agree,
either on the same decoded values or on the same poison reason. Every ordinary message must take the fast path."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest

from domain import canonical_json
from projections import decode as decode_module
from projections.decode import Decoded, Message, Poison, decode, decode_strict, decode_verified, fast_accepts
from tests.unit.projections.helpers import TOPIC, as_topic, messages_of
from tests.unit.projections.scenarios import golden_v1, program


def _messages() -> list[Message]:
    return as_topic(program()[:60]) + messages_of([("r-1", line) for line in golden_v1()])


def _outcome(fn: Any, message: Message) -> tuple[str, Any]:
    try:
        d: Decoded = fn(message)
    except Poison as exc:
        return ("poison", (exc.error, exc.info))
    h = d.head
    head = {name: getattr(h, name) for name in type(h).__slots__}
    return ("ok", (head, d.event, d.text))


def assert_same(message: Message) -> tuple[str, Any]:
    strict = _outcome(decode_strict, message)
    assert _outcome(decode, message) == strict
    return strict


def _fast_accepts(message: Message) -> bool:
    assert message.value is not None
    return decode_module._decode_fast(message, message.value) is not None


def test_every_published_message_takes_the_fast_path_and_decodes_as_the_strict_path_does() -> None:
    messages = _messages()
    assert all(_fast_accepts(m) for m in messages)
    for m in messages:
        assert assert_same(m)[0] == "ok"


def _reseal(data: dict[str, Any], raw_hash: bool = False) -> bytes:
    """The object with a correct hash (the chain check passes): what a buggy producer or a forger could publish."""
    body = {k: v for k, v in data.items() if k != "hash"}
    return canonical_json({**body, "hash": hashlib.sha256(canonical_json(body)).hexdigest()})


def _with(message: Message, value: bytes, key: bytes | None = None) -> Message:
    return Message(TOPIC, 0, 0, message.key if key is None else key, value)


def _sample() -> list[Message]:
    messages = _messages()
    wanted = {"RelationshipProposed", "StageChanged", "MeetingLogged", "AgreementSigned", "CheckInSubmitted"}
    seen: dict[str, Message] = {}
    for m in messages:
        assert m.value is not None
        kind = json.loads(m.value)["type"]
        if kind in wanted and kind not in seen:
            seen[kind] = m
    seen["v1"] = messages[-3] if json.loads(messages[-3].value or b"")["schema_version"] == 1 else messages[-1]
    return list(seen.values())


ODD_VALUES: list[Any] = [None, True, 1, 2.0, "", "x", "1", [], {}, -1, 0, "P1D", "2026-01-05T09:00:00Z"]


def _variants(data: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for key in data:
        if key == "hash":
            continue
        for odd in ODD_VALUES:
            yield {**data, key: odd}
        yield {k: v for k, v in data.items() if k != key}
    yield {**data, "extra": 1}
    yield {**data, "event_id": data["event_id"].upper()}
    yield {**data, "occurred_at": data["occurred_at"].replace(".000000Z", "Z").replace("Z", "+00:00")}
    yield {**data, "occurred_at": "2026-02-30T09:00:00.000000Z"}  # no such day
    yield {**data, "actor": {**data["actor"], "role": "Mentor"}}
    yield {**data, "actor": {**data["actor"], "extra": "x"}}
    yield {**data, "actor": {"id": 'a "event_id":"' + data["event_id"] + '","hash":"', "role": "manager"}}
    yield {**data, "causation_id": 'c","event_id":"x'}
    yield {**data, "schema_version": 99}
    yield {**data, "type": "MatchTeleported"}
    for key in data["payload"]:
        for odd in ODD_VALUES:
            yield {**data, "payload": {**data["payload"], key: odd}}
    yield {**data, "payload": {**data["payload"], "extra": "x"}}
    yield {**data, "payload": {**data["payload"], "hash": "0" * 64, "event_id": data["event_id"]}}
    policy = data["payload"].get("policy")
    if isinstance(policy, dict):
        for key in policy:
            for odd in ODD_VALUES:
                yield {**data, "payload": {**data["payload"], "policy": {**policy, key: odd}}}


def test_fast_and_strict_agree_on_resealed_variants() -> None:
    """Every field set to odd values (bools for ints, floats, empty strings, other instant spellings, unknown
    types and versions, nested lookalikes of the top-level ``event_id``/``hash``), each with a correct hash:
    the two decoders accept and reject exactly the same messages, for the same reason."""
    outcomes = set()
    for m in _sample():
        assert m.value is not None
        for variant in _variants(json.loads(m.value)):
            outcomes.add(assert_same(_with(m, _reseal(variant)))[0])
    assert outcomes == {"ok", "poison"}


def test_the_writer_of_a_two_process_rebuild_decodes_as_decode_does() -> None:
    """``decode_verified`` (what a rebuild's writer runs on the bytes its decode process accepted) gives the same
    values as ``decode`` (the writer runs ``decode`` itself on any other message: projections/pipeline.py)."""
    verified = declined = 0
    for m in _sample()[:2]:  # a proposal and a stage change: every field of both, odd values included
        assert m.value is not None
        for variant in [json.loads(m.value), *_variants(json.loads(m.value))]:
            message = _with(m, _reseal(variant))
            if fast_accepts(message):
                verified += 1
                assert _outcome(decode_verified, message) == _outcome(decode, message)
            else:
                declined += 1
    assert verified and declined
    for m in _messages():
        assert fast_accepts(m)
        assert _outcome(decode_verified, m) == _outcome(decode, m)


def test_a_tampered_payload_is_caught() -> None:
    m = _sample()[1]
    assert m.value is not None
    data = json.loads(m.value)
    tampered = canonical_json({**data, "payload": {**data["payload"], "reason": "tampered"}})
    kind, (error, _) = assert_same(_with(m, tampered))
    assert kind == "poison" and error.startswith("chain: hash mismatch")
    flipped = bytearray(m.value)
    flipped[m.value.index(b'"hash":"') + 8] ^= 1  # one bit of the stored hash
    assert assert_same(_with(m, bytes(flipped)))[0] == "poison"


def test_an_authentic_but_non_canonical_message_is_poison() -> None:
    """The content is authentic (its hash is the hash of its canonical form) but the bytes are not that form:
    indented, keys in another order, non-ASCII escaped. DESIGN §5 says the value IS the canonical JSON, the
    event log stores the bytes verbatim and an auditor re-verifies those bytes, so such a message stays poison
    (dead-lettered with the reason), exactly as before the fast path."""
    m = _sample()[0]  # a proposal: its policy description has a non-ASCII character
    assert m.value is not None
    data = json.loads(m.value)
    for value in (
        json.dumps(data, indent=1).encode(),
        json.dumps(dict(reversed(data.items())), separators=(",", ":"), ensure_ascii=False).encode(),  # key order
        json.dumps(data, sort_keys=True, separators=(",", ":")).encode(),  # "§" escaped as \u00a7
        m.value + b"\n",
        b" " + m.value,
    ):
        assert not _fast_accepts(_with(m, value))
        kind, (error, _) = assert_same(_with(m, value))
        assert (kind, error) == ("poison", "shape: the bytes are not the canonical JSON of the envelope")


def test_a_hash_over_non_canonical_bytes_is_caught() -> None:
    """A producer that hashed its own (non-canonical) bytes: the hash is not the one of the canonical form."""
    m = _sample()[1]
    assert m.value is not None
    data = json.loads(m.value)
    body = {k: v for k, v in data.items() if k != "hash"}
    loose = json.dumps(body, sort_keys=True, separators=(", ", ": "), ensure_ascii=False).encode()
    kind, (error, _) = assert_same(_with(m, canonical_json({**body, "hash": hashlib.sha256(loose).hexdigest()})))
    assert kind == "poison" and error.startswith("chain: hash mismatch")


@pytest.mark.parametrize(
    "value",
    [
        b"",
        b"\xff",
        b"[]",
        b"null",
        b'{"seq": 2}',
        b'{"a": "\\ud800"}',
        "é".encode("utf-16"),
    ],
)
def test_undecodable_values_are_poison_with_the_strict_reason(value: bytes) -> None:
    m = _sample()[0]
    assert assert_same(_with(m, value))[0] == "poison"


def test_a_lone_surrogate_is_poison_not_a_crash() -> None:
    """``"\\ud800"`` parses to a str that has no UTF-8: no canonical JSON exists for it. (Before, re-encoding it
    raised UnicodeEncodeError out of the batch, and the projector retried that batch forever.)"""
    m = _sample()[1]
    assert m.value is not None
    data = json.loads(m.value)
    value = m.value.replace(json.dumps(data["causation_id"]).encode(), b'"\\ud800"')
    kind, (error, _) = assert_same(_with(m, value))
    assert kind == "poison" and "canonical" in error


def test_the_key_must_be_the_relationship_id() -> None:
    m = _sample()[0]
    assert m.value is not None
    kind, (error, _) = assert_same(_with(m, m.value, key=b"someone-else"))
    assert kind == "poison" and error.startswith("shape: message key")
    assert assert_same(Message(TOPIC, 0, 0, None, m.value))[0] == "ok"  # no key: nothing to compare


def test_the_policy_cache_keeps_json_types_apart() -> None:
    """``true`` and ``1`` are equal (and hash alike) in Python: the cache key keeps their JSON types apart, so a
    proposal is validated exactly as if there were no cache."""
    m = _sample()[0]
    assert m.value is not None
    data = json.loads(m.value)
    policy = data["payload"]["policy"]
    for key, odd in (("max_renewals", True), ("max_renewals", 1.0), ("trial_meetings_needed", "2")):
        variant = {**data, "payload": {**data["payload"], "policy": {**policy, key: odd}}}
        assert_same(_with(m, _reseal(variant)))
        assert assert_same(m)[0] == "ok"


def test_a_nul_character_is_poison_on_both_paths_but_the_text_backslash_u0000_is_not() -> None:
    """PostgreSQL text cannot hold U+0000, so no projection can: poison, with the reason, on every database. The
    six characters ``\\u0000`` (an escaped backslash in the JSON) are ordinary text."""
    m = _sample()[0]
    assert m.value is not None
    data = json.loads(m.value)
    nul = _reseal({**data, "payload": {**data["payload"], "match_method": "a\u0000b"}})
    kind, (error, _) = assert_same(_with(m, nul))
    assert kind == "poison" and error.startswith("shape: a NUL character")
    in_a_key = _reseal({**data, "payload": {**data["payload"], "policy": {"\u0000": 1}}})
    kind, (error, _) = assert_same(_with(m, in_a_key))
    assert kind == "poison" and error.startswith("shape: a NUL character")
    backslash = _reseal({**data, "payload": {**data["payload"], "match_method": "a\\u0000b"}})
    assert b"\\\\u0000" in backslash
    assert assert_same(_with(m, backslash))[0] == "ok"


@pytest.mark.parametrize("depth", [300, 5_000, 200_000])
def test_deeply_nested_json_is_poison_not_a_crash(depth: int) -> None:
    """(Before, ``json.loads`` raised RecursionError out of the batch, and the projector retried it forever.)"""
    m = _sample()[0]
    value = b'{"seq":1,"payload":' + b"[" * depth + b"]" * depth + b"}"
    kind, (error, _) = assert_same(_with(m, value))
    assert kind == "poison" and error.startswith(("undecodable", "shape"))
