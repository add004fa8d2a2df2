"""The metrics adapters (workers/metrics): bounded labels, outcomes named as the client sees them, counters read
from the projector at scrape time."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from domain.errors import IllegalTransition, RelationshipNotFound
from projections.projector import ProjectorMetrics
from workers.metrics.process_api import COMMAND_TYPES, ApiMetrics
from workers.metrics.process_projector import COUNTERS, ProjectorCollector
from workers.metrics.process_worker import WorkerMetrics
from workflows.client import RelationshipBusy, command_outcome


def _samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_command_outcomes_name_what_the_client_was_told() -> None:
    assert command_outcome(None) == "accepted"
    assert command_outcome(IllegalTransition("no")) == "refused"
    assert command_outcome(RelationshipNotFound("r-1")) == "refused"
    assert command_outcome(RelationshipBusy("busy", command_id="c", outcome_unknown=True)) == "busy"
    assert command_outcome(TimeoutError()) == "error"


def test_command_counter_starts_at_zero_for_every_type_and_bounds_its_labels() -> None:
    metrics = ApiMetrics()
    assert "ProposeRelationship" in COMMAND_TYPES and "LogMeeting" in COMMAND_TYPES
    metrics.observe("LogMeeting", "accepted")
    metrics.observe("LogMeeting", "accepted")
    metrics.observe("LogMeeting", "refused")
    metrics.observe("<script>", "whatever")
    samples = _samples(metrics.registry)
    key = "mentorflow_commands_total"
    assert samples[(key, (("command", "LogMeeting"), ("outcome", "accepted")))] == 2
    assert samples[(key, (("command", "LogMeeting"), ("outcome", "refused")))] == 1
    assert samples[(key, (("command", "Terminate"), ("outcome", "busy")))] == 0
    assert samples[(key, (("command", "other"), ("outcome", "other")))] == 1
    assert len([k for k in samples if k[0] == key]) == len(COMMAND_TYPES) * 4 + 1


def test_projector_counters_are_read_at_scrape_time() -> None:
    registry = CollectorRegistry()
    collector = ProjectorCollector()
    registry.register(collector)
    assert _samples(registry)[("mentorflow_projector_events_applied_total", ())] == 0
    collector.metrics = ProjectorMetrics(applied=7, gaps=1, dead_letters_published=2)
    samples = _samples(registry)
    assert samples[("mentorflow_projector_events_applied_total", ())] == 7
    assert samples[("mentorflow_projector_gaps_total", ())] == 1
    assert samples[("mentorflow_projector_dead_letters_total", ())] == 2
    assert {name for name, _ in samples} == {f"{name}_total" for name, _, _ in COUNTERS}


@pytest.mark.parametrize("process", [WorkerMetrics, ApiMetrics])  # the API publishes its commands' envelopes too
def test_publish_observer_counts_acknowledged_envelopes_only(process: type[WorkerMetrics | ApiMetrics]) -> None:
    metrics = process()
    metrics.observe_publish("published", 3, 0.02)
    metrics.observe_publish("failed", 5, 10.0)
    samples = _samples(metrics.registry)
    assert samples[("mentorflow_published_events_total", ())] == 3
    assert samples[("mentorflow_publish_seconds_count", (("outcome", "published"),))] == 1
    assert samples[("mentorflow_publish_seconds_count", (("outcome", "failed"),))] == 1
    assert samples[("mentorflow_publish_seconds_sum", (("outcome", "failed"),))] == 10.0
