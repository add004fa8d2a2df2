"""The differential property of the event builders (``projections/fast_event.py``) against pydantic's
``model_validate``, for every event class: whatever a builder accepts, ``model_validate`` accepts with the same
value (compared by ``repr``, which keeps ``1``/``True``/``Decimal('1')``, tuples/lists and enum members apart),
the same fields set and the same dump; every event as the domain writes it (``model_dump(mode="json")`` of an
accepted one) is accepted by its builder, so the fast path is really taken. Payloads: generated from each class's
JSON schema (valid and invalid), the real payloads of the scenarios, and both with fields dropped, added or replaced
by arbitrary JSON. Runs in CI (``make test``); ``MENTORFLOW_TEST_LONG=1`` runs 25 times the examples."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from domain import EVENT_CLASSES, upcast
from projections.fast_event import BUILDERS, build_event
from tests.unit.projections.helpers import as_topic
from tests.unit.projections.scenarios import golden_v1, program

_SETTINGS = settings(
    max_examples=300 if os.environ.get("MENTORFLOW_TEST_LONG") else 12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

# Strings the declared types could disagree on: instants in and out of the one format, durations, decimals.
_ODD_STRINGS = [
    "",
    "x",
    "1",
    "0.81",
    "1.50",
    "-3",
    "1e5",
    " 1",
    "NaN",
    "Infinity",
    "P3D",
    "PT0.5S",
    "P0D",
    "P1Y2M",
    "P",
    "2026-01-05T09:00:00.000000Z",
    "2026-02-30T09:00:00.000000Z",
    "2026-01-05T09:00:00Z",
    "2026-01-05T09:00:00.000000+00:00",
    "2026-01-05T09:00:00.000000+01:00",
    "2026-01-05 09:00:00.000000Z",
    "2026-01-05T24:00:00.000000Z",
    "mentor",
    "MENTOR",
    "coaching",
    "cultivation",
    "active",
    "command",
]
_TEXT = st.one_of(st.sampled_from(_ODD_STRINGS), st.text(max_size=8))
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-3, 12), st.integers(), st.floats(allow_nan=False), _TEXT)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_TEXT, inner, max_size=3)),
    max_leaves=8,
)
_INSTANTS = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)).map(
    lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
)


def _from_schema(schema: dict[str, Any], defs: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values shaped by a JSON schema, one in four an odd scalar (the builder must refuse what pydantic refuses)."""
    shaped = _shaped(schema, defs)
    return st.one_of(shaped, shaped, shaped, _SCALARS)


def _shaped(schema: dict[str, Any], defs: dict[str, Any]) -> st.SearchStrategy[Any]:
    if "$ref" in schema:
        return _from_schema(defs[schema["$ref"].rsplit("/", 1)[1]], defs)
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "anyOf" in schema:
        return st.one_of([_from_schema(s, defs) for s in schema["anyOf"]])
    kind = schema.get("type")
    if kind == "string":
        return _INSTANTS | _TEXT if schema.get("format") == "date-time" else _TEXT
    if kind == "integer":
        low, high = schema.get("minimum", -5), schema.get("maximum", 100)
        return st.integers(low - 2, high + 2)
    if kind == "number":
        return st.one_of(st.integers(-5, 5), st.floats(allow_nan=False, allow_infinity=False))
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "array":
        return st.lists(_from_schema(schema.get("items", {}), defs), max_size=schema.get("maxItems", 3) + 1)
    if kind == "object" and "properties" in schema:
        return _object(schema, defs)
    if kind == "object":
        values = schema.get("additionalProperties")
        return st.dictionaries(_TEXT, _from_schema(values, defs) if isinstance(values, dict) else _JSON, max_size=3)
    return _JSON


def _object(schema: dict[str, Any], defs: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    required = set(schema.get("required", ()))
    fields = {name: _from_schema(s, defs) for name, s in schema["properties"].items()}
    return st.fixed_dictionaries(
        {k: v for k, v in fields.items() if k in required},
        optional={k: v for k, v in fields.items() if k not in required},
    )


def _real_payloads() -> dict[str, list[dict[str, Any]]]:
    """The current-schema payloads of the scenarios' envelopes, by event type."""
    out: dict[str, list[dict[str, Any]]] = {}
    values = [m.value for m in as_topic(program()[:60])] + golden_v1()
    for raw in values:
        assert raw is not None
        data = orjson.loads(raw)
        _, payload = upcast(data["type"], data["schema_version"], data["payload"])
        out.setdefault(data["type"], []).append(payload)
    return out


_REAL = _real_payloads()


def _mutated(base: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    @st.composite
    def mutate(draw: st.DrawFn) -> dict[str, Any]:
        payload = dict(draw(base))
        for _ in range(draw(st.integers(0, 2))):
            action = draw(st.sampled_from(["drop", "replace", "add"]))
            if action == "drop" and payload:
                payload.pop(draw(st.sampled_from(sorted(payload))))
            elif action == "replace" and payload:
                payload[draw(st.sampled_from(sorted(payload)))] = draw(_JSON)
            elif action == "add":
                payload[draw(_TEXT)] = draw(_JSON)
        return payload

    return mutate()


def _payloads(cls: type[BaseModel]) -> st.SearchStrategy[dict[str, Any]]:
    schema = cls.model_json_schema(mode="validation")
    generated = _object(schema, schema.get("$defs", {}))
    real = _REAL.get(cls.__name__)
    base = st.one_of(generated, st.sampled_from(real)) if real else generated
    return st.one_of(base, _mutated(base))


def _reference(cls: type[BaseModel], values: dict[str, Any]) -> BaseModel | None:
    try:
        return cls.model_validate(values)
    except ValidationError:
        return None


def _assert_same(fast: BaseModel, ref: BaseModel) -> None:
    assert type(fast) is type(ref)
    assert repr(fast) == repr(ref)
    assert fast == ref
    assert list(fast.__dict__) == list(ref.__dict__)
    assert fast.model_fields_set == ref.model_fields_set
    assert fast.model_dump_json() == ref.model_dump_json()


def _values(cls: type[BaseModel], payload: dict[str, Any], at: datetime) -> dict[str, Any]:
    return {**payload, "type": cls.__name__, "at": at}


_AT = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)
# the envelope's instant as decode passes it, and what the builder must not take for it
_ATS = [
    _AT,
    _AT.astimezone(timezone(timedelta(hours=1))),
    _AT.replace(tzinfo=None),
    "2026-03-04T05:06:07.890123Z",
    "2026-03-04T05:06:07Z",
]


@pytest.mark.parametrize("name", sorted(EVENT_CLASSES))
@_SETTINGS
@given(data=st.data())
def test_whatever_a_builder_accepts_model_validate_accepts_the_same(name: str, data: st.DataObject) -> None:
    cls = EVENT_CLASSES[name]
    builder = BUILDERS.get(cls)
    payload = data.draw(_payloads(cls))
    at = data.draw(st.sampled_from(_ATS))
    values = _values(cls, payload, at)  # type: ignore[arg-type]  # a string instant too: the builder must cope
    ref = _reference(cls, values)
    fast = builder(values) if builder is not None else None
    if fast is not None:
        assert ref is not None, f"the builder accepted what model_validate refuses: {values!r}"
        _assert_same(fast, ref)
    if ref is not None:
        # the event as the domain writes it: the builder must take it (the fast path is really the path taken)
        written = {k: v for k, v in ref.model_dump(mode="json").items() if k not in ("type", "at")}
        again = _values(cls, written, ref.at)  # type: ignore[attr-defined]
        if builder is not None:
            rebuilt = builder(again)
            assert rebuilt is not None, f"the builder declined an event as written: {again!r}"
            _assert_same(rebuilt, _reference(cls, again))  # type: ignore[arg-type]
        _assert_same(build_event(cls, again), ref.model_validate(again))
    elif builder is not None:
        with pytest.raises(ValidationError):
            build_event(cls, values)


def test_every_event_class_but_the_listed_has_a_builder() -> None:
    """A class that loses its builder (a new declaration the compiler does not translate) is a decision."""
    without = sorted(name for name, cls in EVENT_CLASSES.items() if cls not in BUILDERS)
    assert without == ["ProgramConfigured", "ProgramCreated", "SurveySubmitted"]


def test_every_real_payload_takes_the_builder() -> None:
    for name, payloads in _REAL.items():
        cls = EVENT_CLASSES[name]
        if cls not in BUILDERS:
            continue
        for payload in payloads:
            values = _values(cls, payload, _AT)
            fast = BUILDERS[cls](values)
            assert fast is not None, f"{name}: the builder declined a real payload"
            _assert_same(fast, cls.model_validate(values))


def test_the_nested_policy_cache_keeps_json_types_apart() -> None:
    """``true`` and ``1`` are equal (and hash alike) in Python: a cached policy must not stand for another JSON."""
    cls = EVENT_CLASSES["RelationshipProposed"]
    payload = _REAL["RelationshipProposed"][0]
    policy = payload["policy"]
    for key, odd in (("max_renewals", True), ("max_renewals", 1.0), ("max_renewals", 1), ("trial_window", "P0D")):
        values = _values(cls, {**payload, "policy": {**policy, key: odd}}, _AT)
        ref = _reference(cls, values)
        fast = BUILDERS[cls](values)
        if fast is None:
            assert ref is None or type(odd) is not int, f"{key}={odd!r}: declined what the domain writes"
        else:
            assert ref is not None
            _assert_same(fast, ref)


# Every field of every class with a builder, replaced in turn by each of these (and dropped, and an extra key).
ODD_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    1,
    -1,
    6,
    2.0,
    10**20,
    *_ODD_STRINGS,
    [],
    ["x"],
    [True],
    [1],
    ["coaching", "coaching"],
    {},
    {"x": "1"},
    {"x": 1.5},
]
_CANDIDATES: dict[str, list[Any]] = {"string": ["x", "P1D", "1", "mentor"], "integer": [1], "boolean": [False]}


def _first_valid(schema: dict[str, Any], defs: dict[str, Any]) -> list[Any]:
    """Candidate values of one property, most likely first."""
    if "$ref" in schema:
        return _first_valid(defs[schema["$ref"].rsplit("/", 1)[1]], defs)
    if "const" in schema:
        return [schema["const"]]
    if "enum" in schema:
        return list(schema["enum"])
    if "anyOf" in schema:
        return [v for s in schema["anyOf"] for v in _first_valid(s, defs)]
    if schema.get("format") == "date-time":
        return ["2026-01-05T09:00:00.000000Z"]
    if schema.get("type") == "array":
        return [["x"]] if schema.get("minItems") else [[]]
    if schema.get("type") == "object" and "properties" in schema:  # a nested model: its required fields
        props = schema["properties"]
        return [{k: _first_valid(props[k], defs)[0] for k in schema.get("required", ())}]
    if schema.get("type") == "object":
        return [{}]
    return _CANDIDATES.get(schema.get("type", ""), [None])


def _valid_base(cls: type[BaseModel]) -> dict[str, Any]:
    """A payload ``model_validate`` accepts: a real one, else one built from the schema, repaired field by field."""
    if cls.__name__ in _REAL:
        return _REAL[cls.__name__][0]
    schema = cls.model_json_schema(mode="validation")
    defs = schema.get("$defs", {})
    options = {name: _first_valid(s, defs) for name, s in schema["properties"].items() if name not in ("type", "at")}
    payload = {name: values[0] for name, values in options.items() if name in schema.get("required", ())}
    tried = dict.fromkeys(payload, 0)
    for _ in range(50):
        try:
            cls.model_validate(_values(cls, payload, _AT))
            return payload
        except ValidationError as exc:
            name = str(exc.errors()[0]["loc"][0])
            tried[name] += 1
            payload[name] = options[name][tried[name] % len(options[name])]
    raise AssertionError(f"no valid payload for {cls.__name__}")


@pytest.mark.parametrize("name", sorted(n for n, c in EVENT_CLASSES.items() if c in BUILDERS))
def test_every_field_replaced_by_odd_values_the_builder_agrees_or_declines(name: str) -> None:
    cls = EVENT_CLASSES[name]
    builder = BUILDERS[cls]
    base = _valid_base(cls)
    _assert_same(builder(_values(cls, base, _AT)), cls.model_validate(_values(cls, base, _AT)))
    variants = [{**base, "unknown": 1}] + [{k: v for k, v in base.items() if k != field} for field in base]
    fields = [f for f in cls.model_fields if f not in ("type", "at")]
    variants += [{**base, field: odd} for field in fields for odd in ODD_VALUES]
    for payload in variants:
        values = _values(cls, payload, _AT)
        fast = builder(values)
        ref = _reference(cls, values)
        if fast is not None:
            assert ref is not None, f"the builder accepted what model_validate refuses: {payload!r}"
            _assert_same(fast, ref)
