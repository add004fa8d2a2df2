"""Upcasters: pure functions from one payload schema version to the next.

``UPCASTERS[(type, v)]`` turns a payload of schema version ``v`` into version ``v + 1``. :func:`upcast` chains them
up to the event class's current ``schema_version``. Stored envelopes are never rewritten: hashes cover the stored
bytes, upcasting happens only when an envelope is decoded into an event.

The one real upcast so far: ``CheckInSubmitted`` v1 had ``score`` on a 1-10 scale; v2 has ``satisfaction`` 1-5,
``satisfaction = ceil(score / 2)`` (1-2 → 1, 3-4 → 2, 5-6 → 3, 7-8 → 4, 9-10 → 5).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from domain.catalog import EVENT_CLASSES

__all__ = ["UPCASTERS", "Payload", "Upcaster", "current_schema_version", "upcast"]

Payload = dict[str, Any]
Upcaster = Callable[[Payload], Payload]


def _check_in_v1_to_v2(payload: Payload) -> Payload:
    out = {k: v for k, v in payload.items() if k != "score"}
    score = int(payload["score"])
    if not 1 <= score <= 10:
        raise ValueError(f"CheckInSubmitted v1 score must be 1-10, got {score}")
    out["satisfaction"] = (score + 1) // 2
    return out


UPCASTERS: dict[tuple[str, int], Upcaster] = {
    ("CheckInSubmitted", 1): _check_in_v1_to_v2,
}


def current_schema_version(event_type: str) -> int:
    cls = EVENT_CLASSES.get(event_type)
    if cls is None:
        raise ValueError(f"unknown event type {event_type!r}")
    return cls.schema_version


def upcast(event_type: str, version: int, payload: Payload) -> tuple[int, Payload]:
    """Bring ``payload`` of ``(event_type, version)`` to the current schema version: ``(current, payload)``.
    Does not mutate ``payload``."""
    current = current_schema_version(event_type)
    if version > current:
        raise ValueError(f"{event_type} schema_version {version} is newer than this code knows ({current})")
    if version < 1:
        raise ValueError(f"{event_type} schema_version must be >= 1, got {version}")
    out = dict(payload)
    while version < current:
        step = UPCASTERS.get((event_type, version))
        if step is None:
            raise ValueError(f"no upcaster for {event_type} v{version} -> v{version + 1}")
        out = step(out)
        version += 1
    return version, out
