"""The activities' registered names: owned here, referenced by name from the workflow (workflows/models.py), so the
workflow module never imports aiokafka or the notification sinks. Standard library only."""

from __future__ import annotations

__all__ = ["ACTIVITY_NOTIFY", "ACTIVITY_PUBLISH", "NOTIFY_TYPES"]

ACTIVITY_PUBLISH = "publish_events"
"""The publishing activity (``activities.publishing.KafkaPublisher.publish``)."""
ACTIVITY_NOTIFY = "notify"
"""The notification activity (``activities.notifications.Notifier.notify``)."""
NOTIFY_TYPES = frozenset({"NudgeSent", "EscalatedToManager", "NoticeSent"})
"""Envelopes the notification activity delivers: the workflow queues exactly these for it, and it refuses others.
``NoticeSent`` (every other prompt) exists from rules version 2 on, so relationships pinned to version 1 schedule
exactly the notification activities they always did."""
