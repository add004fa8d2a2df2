"""Bounded data files (policies, matching configurations, survey instruments): TOML text within the file limits of
:mod:`domain.limits`, a table checked before any model sees it, and pydantic errors as one line naming each field."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from domain.errors import InvalidPolicy
from domain.limits import MAX_FILE_BYTES, data_problem

__all__ = ["checked_table", "format_validation_error", "load_bounded_toml"]


def format_validation_error(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(x) for x in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


def checked_table(data: Any, key: str, what: str) -> dict[str, Any]:
    """``data`` as a mapping within the file limits (:func:`domain.limits.data_problem`), a lone top-level ``[key]``
    table unwrapped. Raises :class:`InvalidPolicy` starting ``invalid {what}:``."""
    if not isinstance(data, Mapping):
        raise InvalidPolicy(f"invalid {what}: expected a mapping, got {type(data).__name__}")
    if set(data) == {key} and isinstance(data[key], Mapping):
        data = data[key]
    problem = data_problem(dict(data))
    if problem:
        raise InvalidPolicy(f"invalid {what}: {problem}")
    return dict(data)


def load_bounded_toml(text: str, what: str) -> dict[str, Any]:
    """The mapping in TOML text (stdlib ``tomllib``) of at most ``MAX_FILE_BYTES`` of UTF-8; every failure is an
    :class:`InvalidPolicy` starting ``invalid {what} TOML:`` (policies, matching configurations)."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_FILE_BYTES:
        raise InvalidPolicy(f"invalid {what} TOML: {size} bytes, at most {MAX_FILE_BYTES} (MAX_FILE_BYTES)")
    try:
        return tomllib.loads(text)
    except RecursionError:
        raise InvalidPolicy(f"invalid {what} TOML: nested too deeply to parse (MAX_FILE_DEPTH)") from None
    except ValueError as exc:  # TOMLDecodeError, and integers beyond Python's digit limit
        raise InvalidPolicy(f"invalid {what} TOML: {exc}") from None
