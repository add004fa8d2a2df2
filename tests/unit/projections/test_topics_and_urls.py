"""One owner for the topic names (projections/topics.py) and nothing prints a database password."""

from __future__ import annotations

from projections.db import redacted
from projections.projector import DEFAULT_GROUP
from projections.topics import dead_letter_topic, events_topic, projector_group
from workers.settings import KafkaSettings


def test_topic_names() -> None:
    assert events_topic("acme") == "acme.relationship-events"
    assert dead_letter_topic("acme.relationship-events") == "acme.relationship-events.dlt"


def test_settings_ask_the_owner() -> None:
    kafka = KafkaSettings(topic_prefix="acme")
    assert kafka.events_topic == events_topic("acme")
    assert kafka.dead_letter_topic == dead_letter_topic(events_topic("acme"))


def test_each_deployment_has_its_own_projector_group() -> None:
    """Projectors of deployments (or test runs) sharing a broker never sit in one group: any projector joining or
    leaving a group pauses all its members while it rebalances (seen: a demo's projection 2 events behind at its
    final verification while other runs' projectors came and went)."""
    assert KafkaSettings().projector_group_id == DEFAULT_GROUP == "mentorflow-projector"  # unchanged default
    assert KafkaSettings(topic_prefix="acme").projector_group_id == projector_group("acme") == "acme-projector"
    assert KafkaSettings(topic_prefix="acme", projector_group="legacy").projector_group_id == "legacy"


def test_redacted_hides_the_password_only() -> None:
    shown = redacted("postgresql+psycopg://mentorflow:s3cret@127.0.0.1:5432/mentorflow")
    assert "s3cret" not in shown
    assert shown == "postgresql+psycopg://mentorflow:***@127.0.0.1:5432/mentorflow"
    assert redacted("sqlite:///.run/mentorflow.db") == "sqlite:///.run/mentorflow.db"
