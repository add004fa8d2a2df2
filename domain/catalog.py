"""Every event type a chain may hold, by name: a relationship's (:mod:`domain.events`) and a program's
(:mod:`domain.programs.events`). The decoder, the upcaster and the projection's handler table read this one table."""

from __future__ import annotations

from domain.events import RELATIONSHIP_EVENT_CLASSES, EventBase
from domain.programs.events import PROGRAM_EVENT_CLASSES

__all__ = ["EVENT_CLASSES", "PROGRAM_EVENT_CLASSES", "RELATIONSHIP_EVENT_CLASSES"]

EVENT_CLASSES: dict[str, type[EventBase]] = {**RELATIONSHIP_EVENT_CLASSES, **PROGRAM_EVENT_CLASSES}
assert len(EVENT_CLASSES) == len(RELATIONSHIP_EVENT_CLASSES) + len(PROGRAM_EVENT_CLASSES), "one name, one class"
