"""Typed domain errors. Each message names the rule that was broken; ``code`` is the class name."""

from __future__ import annotations

__all__ = [
    "ChainBroken",
    "DomainError",
    "IllegalTransition",
    "InvalidCommand",
    "InvalidPolicy",
    "NotAParticipant",
    "NotAllowedForRole",
    "RelationshipClosedError",
]


class DomainError(Exception):
    """Base class. ``code`` is the class name (stable, for APIs and ApplicationError types); ``rule`` is the
    human-readable message naming the broken rule (also ``str(error)``)."""

    def __init__(self, rule: str) -> None:
        super().__init__(rule)
        self.rule = rule

    @property
    def code(self) -> str:
        return type(self).__name__

    @property
    def message(self) -> str:
        return self.rule

    def __reduce__(self) -> tuple[type[DomainError], tuple[str]]:
        return (type(self), (self.rule,))


class IllegalTransition(DomainError):
    """The command is not allowed in the relationship's current stage / sub-state."""


class NotAParticipant(DomainError):
    """A mentor or mentee acted on a relationship that is not theirs."""


class NotAllowedForRole(DomainError):
    """The actor's role may not issue this command."""


class InvalidCommand(DomainError):
    """The command is well-formed but breaks a rule given the state (duplicate, in the future, cap reached...)."""


class RelationshipClosedError(DomainError):
    """The relationship is closed; nothing is accepted any more."""


class InvalidPolicy(DomainError):
    """A lifecycle policy failed validation."""


class ChainBroken(DomainError):
    """An envelope does not continue the chain it is applied to (seq or prev_hash)."""
