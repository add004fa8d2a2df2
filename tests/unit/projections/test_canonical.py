"""The differential property of the fast path (``projections/canonical.py``) against the reference
(``domain.canonical_json``, ``json.loads``, the pydantic ``Envelope``): whatever the fast path accepts, the reference
accepts with the same bytes and values; whatever orjson would get wrong (floats in any spelling, lone surrogates,
integers beyond 64 bits) is left to the reference. Runs in CI (``make test``), a few seconds;
``MENTORFLOW_TEST_LONG=1`` runs 20 times the examples."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain import Envelope, canonical_json
from projections.canonical import canonical_or_none, fast_envelope, parse_or_none
from tests.unit.projections.helpers import as_topic
from tests.unit.projections.scenarios import program

# Every code point, surrogates included; the characters the encoders could disagree on made likely.
_CHARS = st.one_of(
    st.characters(codec=None, exclude_categories=()),
    st.sampled_from(['"', "\\", "/", "\x00", "\x1f", "\x7f", "\u2028", "\u2029", "\ud800", "\udfff", "é", "😀"]),
)
_TEXT = st.text(_CHARS, max_size=12)
_INTS = st.one_of(
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1]),
)
_FLOATS = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1e16, 1e-5, 1e-4, 1e15, 1e22, 1e-7, 0.1, -0.0, 5e-324, 1.7976931348623157e308, 123456789.123]),
)
_SCALARS = st.one_of(st.none(), st.booleans(), _INTS, _FLOATS, _TEXT)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_TEXT, inner, max_size=4)),
    max_leaves=12,
)
_FAST = settings(
    max_examples=2000 if os.environ.get("MENTORFLOW_TEST_LONG") else 100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _reference(value: Any) -> bytes | None:
    try:
        return canonical_json(value)
    except UnicodeEncodeError:  # a lone surrogate: no canonical JSON exists
        return None


def _typed(value: Any) -> Any:
    """The value with every JSON type kept apart (``1``, ``1.0`` and ``true`` are equal in Python)."""
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    return (type(value).__name__, repr(value))


@_FAST
@given(_JSON)
def test_orjson_canonical_bytes_are_the_reference_bytes_or_none(value: Any) -> None:
    fast = canonical_or_none(value)
    if fast is not None:
        assert fast == _reference(value)


@_FAST
@given(st.one_of(_JSON, st.dictionaries(_TEXT, _JSON, max_size=6)))
def test_parsing_what_the_fast_path_accepts_gives_the_reference_values(value: Any) -> None:
    """The bytes on the wire: the reference encoding (when there is one) and orjson's own spellings of it. Where
    the fast path accepts bytes (parse, then re-encode equal to the bytes), ``json.loads`` reads the same values
    and the reference encoding is the same bytes."""
    candidates = [
        json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8", "replace")
    ]
    reference = _reference(value)
    if reference is not None:
        candidates.append(reference)
    for raw in candidates:
        parsed = parse_or_none(raw)
        if parsed is None and raw != b"null":
            continue
        if canonical_or_none(parsed) == raw:
            assert _typed(json.loads(raw)) == _typed(parsed)
            assert canonical_json(json.loads(raw)) == raw


@pytest.mark.parametrize(
    ("raw", "fast_accepts"),
    [
        (b'{"a":1e16}', False),
        (b'{"a":1e+16}', False),
        (b'{"a":0.00001}', False),  # orjson's spelling; the reference writes 1e-05
        (b'{"a":1e-05}', False),
        (b'{"a":[1,2.5]}', False),
        (b'{"a":18446744073709551616}', False),  # beyond 64 bits: orjson reads a float
        (b'{"a":18446744073709551615}', True),
        (b'{"a":"\\ud800"}', False),  # a lone surrogate
        (b'{"a":"\\u0000\\u001f\\n\\t\\"\\\\\x7f"}', True),
        ('{"a":"\u2028\u2029é😀"}'.encode(), True),
        ('{"b":1,"é":2,"😀":3}'.encode(), True),
        ('{"é":2,"b":1}'.encode(), False),  # key order
        (b'{"a":"09:00:00.000000Z","b":"x\\":1.5"}', False),  # looks like a float inside a string: slow path only
        (b'{"a":"09:00:00.000000Z"}', True),
        (b'{"a":NaN}', False),
        (b'{"a":-0}', False),
        (b'{"a": 1}', False),
        (b'{"a":"\\u00e9"}', False),
    ],
)
def test_the_cases_orjson_differs_on_take_the_reference_path(raw: bytes, fast_accepts: bool) -> None:
    parsed = parse_or_none(raw)
    accepted = parsed is not None and canonical_or_none(parsed) == raw
    assert accepted is fast_accepts
    if accepted:
        assert canonical_json(json.loads(raw)) == raw


def _sealed(data: dict[str, Any]) -> bytes:
    body = {k: v for k, v in data.items() if k != "hash"}
    return canonical_json({**body, "hash": hashlib.sha256(canonical_json(body)).hexdigest()})


def _reference_envelope(raw: bytes) -> Envelope | None:
    try:
        envelope = Envelope.model_validate(json.loads(raw))
        ok = envelope.to_bytes() == raw and envelope.compute_hash() == envelope.hash
    except (ValueError, UnicodeEncodeError):
        return None
    return envelope if ok else None


_TEMPLATES = [json.loads(m.value or b"") for m in as_topic(program()[:12])]


@_FAST
@given(st.sampled_from(_TEMPLATES), st.dictionaries(_TEXT, _JSON, max_size=4), st.sampled_from(["payload", "top"]))
def test_fast_envelope_accepts_only_what_the_reference_envelope_accepts(
    template: dict[str, Any], extra: dict[str, Any], where: str
) -> None:
    """Resealed envelopes (a correct hash over whatever they hold) with arbitrary JSON in the payload or beside the
    envelope's own keys: the fast path accepts only what the pydantic envelope accepts with the same bytes, and
    reads the same instant."""
    data = {**template, "payload": {**template["payload"], **extra}} if where == "payload" else {**template, **extra}
    try:
        raw = _sealed(data)
    except UnicodeEncodeError:  # a lone surrogate: there are no canonical bytes to publish
        return
    fast = fast_envelope(raw)
    reference = _reference_envelope(raw)
    if fast is not None:
        assert reference is not None
        parsed, at = fast
        assert _typed(parsed) == _typed(reference.to_json_dict())
        assert at == reference.occurred_at
    elif reference is not None:  # the fast path may decline only for a float (or its lookalike) somewhere
        assert canonical_or_none(json.loads(raw)) is None


def test_every_ordinary_message_takes_the_fast_path() -> None:
    for m in as_topic(program()[:60]):
        assert m.value is not None and fast_envelope(m.value) is not None
