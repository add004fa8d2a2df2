"""What the application service raises besides the domain's errors and ``domain.RelationshipNotFound``."""

from __future__ import annotations

__all__ = ["InvalidArgument", "ServiceUnavailable"]


class ServiceUnavailable(RuntimeError):
    """A store did not answer (Temporal busy, unreachable or silent; the service not started): a 503 over HTTP,
    exit 5 in the CLI. The message says which and what to check."""


class InvalidArgument(ValueError):
    """An argument the service refuses before touching any store (``field`` names it, the message the rule): a 422
    over HTTP, exit 2 in the CLI."""

    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"{field}: {rule}")
        self.field = field
        self.rule = rule
