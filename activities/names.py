"""The activities' registered names: owned here, referenced by name from the workflow (workflows/models.py), so the
workflow module never imports aiokafka or the notification sinks. Standard library only."""

from __future__ import annotations

__all__ = ["ACTIVITY_NOTIFY", "ACTIVITY_PUBLISH"]

ACTIVITY_PUBLISH = "publish_events"
"""The publishing activity (``activities.publishing.KafkaPublisher.publish``)."""
ACTIVITY_NOTIFY = "notify"
"""The notification activity (``activities.notifications.Notifier.notify``)."""
