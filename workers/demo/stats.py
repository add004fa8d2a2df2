"""What the demo counts while it runs: commands, refusals (by command, error and rule), errors, latencies."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from domain import CommandBase, DomainError, InvalidCommand

__all__ = ["Stats", "rejection"]


@dataclass
class Stats:
    commands: int = 0
    rejected: int = 0
    rejections: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)  # seconds per command round trip

    def latency(self) -> dict[str, float]:
        if not self.latencies:
            return {}
        ordered = sorted(self.latencies)

        def ms(q: float) -> float:
            return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)

        return {"p50_ms": ms(0.5), "p95_ms": ms(0.95), "max_ms": ms(1.0)}

    def recent(self, q: float = 0.9, last: int = 50) -> float:
        """Seconds within which the ``q`` share of the ``last`` commands came back (0 before any): how long an
        answer takes now, on this machine's load."""
        window = sorted(self.latencies[-last:])
        return window[min(len(window) - 1, int(q * len(window)))] if window else 0.0


def rejection(command: CommandBase, error: DomainError) -> str:
    """How a refusal is counted: the command, the error and, for an invalid command, the rule or field it names
    (``SubmitSurvey: InvalidCommand (survey_expiry)``), so a report tells a race with a timer from a demo bug."""
    key = f"{type(command).__name__}: {error.code}"
    if isinstance(error, InvalidCommand):
        key += f" ({error.rule.split(':', 1)[0][:40]})"
    return key
