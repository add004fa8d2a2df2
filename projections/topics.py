"""The Kafka topic names (DESIGN §5), decided here once: the events topic of a prefix and the dead-letter topic of
an events topic. Settings, the worker, the projector and ``services up`` all ask these functions."""

from __future__ import annotations

__all__ = ["dead_letter_topic", "events_topic"]


def events_topic(prefix: str) -> str:
    """``<prefix>.relationship-events``: the business event log, key = relationship id."""
    return f"{prefix}.relationship-events"


def dead_letter_topic(topic: str) -> str:
    """``<topic>.dlt``: what a consumer of ``topic`` cannot process, with the error in headers."""
    return f"{topic}.dlt"
