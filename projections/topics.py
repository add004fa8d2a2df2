"""The Kafka names (DESIGN §5), decided here once: the events topic of a prefix, the dead-letter topic of an events
topic and the projectors' consumer group of a prefix. Settings, the worker, the projector and ``services up`` all
ask these functions."""

from __future__ import annotations

__all__ = ["dead_letter_topic", "events_topic", "projector_group"]


def events_topic(prefix: str) -> str:
    """``<prefix>.relationship-events``: the business event log, key = relationship id."""
    return f"{prefix}.relationship-events"


def dead_letter_topic(topic: str) -> str:
    """``<topic>.dlt``: what a consumer of ``topic`` cannot process, with the error in headers."""
    return f"{topic}.dlt"


def projector_group(prefix: str) -> str:
    """``<prefix>-projector``: the consumer group of a deployment's projectors. A group shared by deployments (or test
    runs) on one broker would rebalance every projector whenever any of them starts or stops, stalling all of them."""
    return f"{prefix}-projector"
