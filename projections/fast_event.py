"""Events without pydantic validation on the hot path: a builder per event class, compiled once from the class's own
field declarations, that turns a payload of plain JSON values into the event exactly as ``cls.model_validate``
would, or declines (None) where it cannot vouch for that. A declined payload goes to ``model_validate``, which
accepts it (then the event is pydantic's) or raises (the strict decoder then names the poison).

What a builder accepts, per field (anything else, for any field, declines the whole payload):

* ``str``: a ``str``; ``int``: an ``int`` (not a ``bool``); ``bool``: a ``bool``; each unchanged, as pydantic's lax
  mode returns them;
* a ``Literal`` of strings: one of them; a ``str`` ``Enum``: one of its values, as the member;
* ``UtcDatetime``: exactly ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` of a real instant (the one form the domain writes), as
  an aware UTC ``datetime`` (``to_utc`` of pydantic's parse is the same instant with ``timezone.utc``); the
  envelope's own instant is passed in already parsed;
* ``Duration``: a ``str`` through the class's own validator (what pydantic calls too);
* ``Decimal``: a ``str`` of decimal digits with an optional ``E±n`` (the forms pydantic writes), as ``Decimal(text)``;
* ``tuple[X, ...]``: a ``list`` whose items X accepts, as a tuple; ``dict[str, X]``: an object whose values X
  accepts; ``X | None``: None or what X accepts;
* a nested model (a proposal's pinned ``LifecyclePolicy``): pydantic's ``model_validate``, once per distinct JSON
  object (a bounded cache keyed by the object's sorted JSON, which keeps every value's JSON type);
* ``Ge``/``Le``/``Gt``/``Lt``/``MinLen``/``MaxLen`` constraints, checked as pydantic checks them;
* field validators in ``after`` mode that take only the value (``TaggedWithFunctions._distinct``): called as
  pydantic calls them, a ``ValueError``/``AssertionError`` declines.

Absent fields take ``FieldInfo.get_default`` (what ``model_validate`` and ``model_construct`` use); an unknown key
declines (``extra="forbid"``). A class is compiled only if everything it declares is in that list: no model
validators, no aliases, no post-init, no other config than ``frozen`` and ``extra``, no ``validate_default``; so
``SurveySubmitted`` (a union of answers) and the program chain's events (model validators) have no builder and
always take ``model_validate``. The instance is made as ``model_construct`` makes it (its
``__dict__`` in field order, ``__pydantic_fields_set__`` the keys given), so it equals pydantic's and dumps the same.
``tests/unit/projections/test_fast_event.py`` holds builder and ``model_validate`` together on generated payloads
of every event class.
"""

from __future__ import annotations

import inspect
import operator
import re
import types
import typing
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any, Literal, get_args, get_origin

import annotated_types
import orjson
from pydantic import BaseModel, ValidationError

from domain import EVENT_CLASSES
from domain._time import Duration, UtcDatetime

__all__ = ["BUILDERS", "Builder", "build_event", "compile_builder"]

Builder = Callable[[Mapping[str, Any]], Any]
"""``values`` (the payload with ``type`` and ``at``) → the event, or None: ``model_validate`` decides."""

_Convert = Callable[[Any], Any]  # a value → the field's value; raises _Decline when it cannot vouch


class _Decline(Exception):
    """The builder cannot vouch for this value (the payload goes to ``model_validate``)."""


class _Unsupported(Exception):
    """A declaration the compiler does not translate: the class gets no builder."""


_DECLINE = _Decline()
_INSTANT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z").fullmatch
_CONFIG_KEYS = frozenset({"frozen", "extra", "title"})


def _str(v: Any) -> Any:
    if type(v) is not str:
        raise _DECLINE
    return v


def _int(v: Any) -> Any:
    if type(v) is not int:
        raise _DECLINE
    return v


def _bool(v: Any) -> Any:
    if type(v) is not bool:
        raise _DECLINE
    return v


def _instant(v: Any) -> Any:
    if type(v) is datetime:  # the envelope's instant, parsed by the envelope check
        if v.tzinfo is not UTC:
            raise _DECLINE
        return v
    if type(v) is not str or not _INSTANT(v):
        raise _DECLINE
    try:
        return datetime.fromisoformat(v)  # the exact format: the same instant, tzinfo timezone.utc
    except ValueError:  # no such day or time
        raise _DECLINE from None


def _duration(v: Any) -> Any:
    if type(v) is not str:
        raise _DECLINE
    try:
        return Duration._validate(v)
    except ValueError:
        raise _DECLINE from None


def _literal(values: tuple[Any, ...]) -> _Convert:
    if not all(type(x) is str for x in values):
        raise _Unsupported(f"Literal{values!r}")
    allowed = frozenset(values)

    def convert(v: Any) -> Any:
        if type(v) is not str or v not in allowed:
            raise _DECLINE
        return v

    return convert


def _enum(cls: type[Enum]) -> _Convert:
    members = {m.value: m for m in cls}
    if not all(type(k) is str for k in members):
        raise _Unsupported(f"enum {cls.__name__}")

    def convert(v: Any) -> Any:
        if type(v) is not str:
            raise _DECLINE
        member = members.get(v)
        if member is None:
            raise _DECLINE
        return member

    return convert


def _tuple_of(item: _Convert) -> _Convert:
    def convert(v: Any) -> Any:
        if type(v) is not list:
            raise _DECLINE
        return tuple([item(x) for x in v])

    return convert


def _optional(inner: _Convert) -> _Convert:
    def convert(v: Any) -> Any:
        return None if v is None else inner(v)

    return convert


def _constrained(inner: _Convert, check: Callable[[Any], bool]) -> _Convert:
    def convert(v: Any) -> Any:
        out = inner(v)
        if not check(out):
            raise _DECLINE
        return out

    return convert


_BOUNDS: dict[type[Any], tuple[str, Callable[[Any, Any], bool]]] = {
    annotated_types.Ge: ("ge", operator.ge),
    annotated_types.Le: ("le", operator.le),
    annotated_types.Gt: ("gt", operator.gt),
    annotated_types.Lt: ("lt", operator.lt),
}
_LENGTHS: dict[type[Any], tuple[str, Callable[[Any, Any], bool]]] = {
    annotated_types.MinLen: ("min_length", operator.ge),
    annotated_types.MaxLen: ("max_length", operator.le),
}


def _constraint(meta: Any) -> Callable[[Any], bool]:
    if type(meta) in _BOUNDS:
        attr, compare = _BOUNDS[type(meta)]
        bound = getattr(meta, attr)
        return lambda v: bool(compare(v, bound))
    if type(meta) in _LENGTHS:
        attr, compare = _LENGTHS[type(meta)]
        length = getattr(meta, attr)
        return lambda v: bool(compare(len(v), length))
    raise _Unsupported(f"metadata {meta!r}")


_DECIMAL = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:E[+-][0-9]+)?").fullmatch


def _decimal(v: Any) -> Any:
    if type(v) is not str or not _DECIMAL(v):  # the form pydantic writes a finite Decimal in
        raise _DECLINE
    return Decimal(v)


def _dict_of(value: _Convert) -> _Convert:
    def convert(v: Any) -> Any:
        if type(v) is not dict:
            raise _DECLINE
        return {k: value(x) for k, x in v.items()}  # the keys of parsed JSON are str

    return convert


_MODELS_MAX = 256  # distinct nested objects kept per class (a program pins a handful of policies)


def _model(cls: type[BaseModel]) -> _Convert:
    """A nested model (a proposal's pinned policy): validated by pydantic once per distinct JSON object. The key is
    the object's JSON with sorted keys, which keeps every value's JSON type (``1``, ``1.0`` and ``true`` are equal
    in Python, not in JSON); the value is a pure function of it, so sharing between threads is safe."""
    cache: dict[bytes, BaseModel] = {}

    def convert(v: Any) -> Any:
        if type(v) is not dict:
            raise _DECLINE
        try:
            key = orjson.dumps(v, option=orjson.OPT_SORT_KEYS)
        except (TypeError, orjson.JSONEncodeError):
            raise _DECLINE from None
        model = cache.get(key)
        if model is None:
            try:
                model = cls.model_validate(v)
            except ValidationError:
                raise _DECLINE from None
            if len(cache) >= _MODELS_MAX:
                cache.clear()
            cache[key] = model
        return model

    return convert


_PLAIN: dict[Any, _Convert] = {str: _str, int: _int, bool: _bool, Duration: _duration, Decimal: _decimal}


def _converter(tp: Any) -> _Convert:
    """The converter of a declared type (raises :class:`_Unsupported` for anything not in the module docstring)."""
    if tp == UtcDatetime:
        return _instant
    if isinstance(tp, type) and tp in _PLAIN:
        return _PLAIN[tp]
    origin, args = get_origin(tp), get_args(tp)
    if origin is Annotated:
        convert = _converter(args[0])
        for meta in tp.__metadata__:
            convert = _constrained(convert, _constraint(meta))
        return convert
    if origin in (typing.Union, types.UnionType) and len(args) == 2 and type(None) in args:
        (inner,) = [a for a in args if a is not type(None)]
        return _optional(_converter(inner))
    if origin is Literal:
        return _literal(args)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return _tuple_of(_converter(args[0]))
    if origin is dict and args[0] is str:
        return _dict_of(_converter(args[1]))
    if inspect.isclass(tp) and issubclass(tp, Enum):
        return _enum(tp)
    if inspect.isclass(tp) and issubclass(tp, BaseModel):
        return _model(tp)
    raise _Unsupported(f"type {tp!r}")


def _field_validator(cls: type[BaseModel], func: Any) -> _Convert:
    params = inspect.signature(func).parameters  # a classmethod bound to the class: the value alone
    if len(params) != 1:
        raise _Unsupported(f"{cls.__name__}: a field validator that takes more than the value")

    def convert(v: Any) -> Any:
        try:
            return func(v)
        except (ValueError, AssertionError):
            raise _DECLINE from None

    return convert


def _field_converters(cls: type[BaseModel]) -> dict[str, _Convert]:
    validators: dict[str, list[Any]] = {}
    decorators = cls.__pydantic_decorators__
    if decorators.model_validators or decorators.root_validators or decorators.validators:
        raise _Unsupported(f"{cls.__name__}: model validators")
    for dec in decorators.field_validators.values():
        if dec.info.mode != "after":
            raise _Unsupported(f"{cls.__name__}: a {dec.info.mode} field validator")
        for name in dec.info.fields:
            validators.setdefault(name, []).append(dec.func)
    out: dict[str, _Convert] = {}
    for name, field in cls.model_fields.items():
        if field.alias or field.validation_alias or field.validate_default or field.discriminator:
            raise _Unsupported(f"{cls.__name__}.{name}: alias, discriminator or validate_default")
        tp = Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
        convert = _converter(tp)
        for func in validators.pop(name, []):
            convert = _then(convert, _field_validator(cls, func))
        out[name] = convert
    if validators:
        raise _Unsupported(f"{cls.__name__}: validators of unknown fields {sorted(validators)}")
    return out


def _then(first: _Convert, second: _Convert) -> _Convert:
    return lambda v: second(first(v))


def _immutable(value: Any) -> bool:
    if value is None or type(value) in (str, int, bool) or isinstance(value, Enum):
        return True
    return type(value) is tuple and all(_immutable(v) for v in value)


def compile_builder(cls: type[BaseModel]) -> Builder | None:
    """The builder of ``cls``, or None when it declares anything the module docstring does not list."""
    if set(cls.model_config) - _CONFIG_KEYS or cls.model_config.get("extra") != "forbid":
        return None
    if cls.__pydantic_post_init__ or cls.__pydantic_root_model__:
        return None
    try:
        converters = _field_converters(cls)
    except _Unsupported:
        return None
    defaults = {}
    for name, field in cls.model_fields.items():
        if not field.is_required():
            if field.default_factory is not None or not _immutable(field.default):
                return None
            defaults[name] = field.default  # get_default copies nothing immutable
    fields = tuple(converters.items())
    names = frozenset(converters)
    new = cls.__new__
    setattr_ = object.__setattr__

    def build(values: Mapping[str, Any]) -> Any:
        if not names.issuperset(values.keys()):
            return None  # an unknown key: extra="forbid"
        out: dict[str, Any] = {}
        try:
            for name, convert in fields:
                if name in values:
                    out[name] = convert(values[name])
                elif name in defaults:
                    out[name] = defaults[name]
                else:
                    return None  # a required field is missing
        except _Decline:
            return None
        event = new(cls)
        setattr_(event, "__dict__", out)
        setattr_(event, "__pydantic_fields_set__", set(values.keys()))
        setattr_(event, "__pydantic_extra__", None)
        setattr_(event, "__pydantic_private__", None)
        return event

    return build


BUILDERS: dict[type[BaseModel], Builder] = {
    cls: builder for cls in EVENT_CLASSES.values() if (builder := compile_builder(cls)) is not None
}


def build_event(cls: type[BaseModel], values: Mapping[str, Any]) -> Any:
    """The event of ``values`` (the payload with ``type`` and ``at``): the builder's when it vouches, else
    ``cls.model_validate`` (which raises ``ValidationError`` on what it refuses)."""
    builder = BUILDERS.get(cls)
    if builder is not None:
        event = builder(values)
        if event is not None:
            return event
    return cls.model_validate(values)
