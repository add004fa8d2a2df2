"""The API process's series: commands accepted and refused by type (the command path is the workflow client)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from domain.commands import COMMAND_CLASSES
from workers.metrics.process_worker import PublishSeries
from workflows.client import COMMAND_OUTCOMES

__all__ = ["COMMAND_TYPES", "CONTENT_TYPE_LATEST", "ApiMetrics"]

COMMAND_TYPES: tuple[str, ...] = tuple(str(cls.model_fields["type"].default) for cls in COMMAND_CLASSES)


class ApiMetrics(PublishSeries):
    """``mentorflow_commands_total{command, outcome}``; register :meth:`observe` as the client's ``on_command``.
    And, as the API publishes its commands' envelopes itself (workflows/handover.py), the publishing series
    (:class:`PublishSeries`: register :meth:`observe_publish` as its publisher's observer)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        super().__init__(self.registry, "Publishing by the API's commands")
        self.commands = Counter(
            "mentorflow_commands",
            "Commands sent through the workflow client, by type and outcome (accepted, refused, busy, error)",
            ["command", "outcome"],
            registry=self.registry,
        )
        for command in COMMAND_TYPES:  # every series exists from the start: a rate over a missing series is empty
            for outcome in COMMAND_OUTCOMES:
                self.commands.labels(command, outcome)

    def observe(self, command: str, outcome: str) -> None:
        # Label values stay bounded: a type or outcome nobody declared is counted as "other".
        self.commands.labels(
            command if command in COMMAND_TYPES else "other", outcome if outcome in COMMAND_OUTCOMES else "other"
        ).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
