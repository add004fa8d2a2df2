"""The explicit handler table: every event type of the domain has its entry, and nothing else does."""

from __future__ import annotations

from domain import EVENT_CLASSES
from projections.handlers import HANDLERS


def test_every_event_type_has_exactly_one_handler() -> None:
    assert set(HANDLERS) == set(EVENT_CLASSES)
