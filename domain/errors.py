"""Typed domain errors. Each message names the rule that was broken; ``code`` is the class name."""

from __future__ import annotations

__all__ = [
    "ChainBroken",
    "DomainError",
    "IllegalTransition",
    "InvalidCommand",
    "InvalidInstrument",
    "InvalidPolicy",
    "NotAParticipant",
    "NotAllowedForRole",
    "RelationshipClosedError",
    "RelationshipNotFound",
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


class RelationshipNotFound(LookupError):
    """No relationship has this id (or it had no event yet at the instant asked for). Not a broken rule: the one
    exception for this meaning, raised by the Temporal client and the audit reads, a 404 over HTTP, exit 4 in the
    CLI."""

    def __init__(self, relationship_id: str, detail: str | None = None) -> None:
        super().__init__(detail or f"relationship {relationship_id} does not exist")
        self.relationship_id = relationship_id
        self.detail = detail

    def __reduce__(self) -> tuple[type[RelationshipNotFound], tuple[str, str | None]]:
        return (type(self), (self.relationship_id, self.detail))


class InvalidPolicy(DomainError):
    """A lifecycle policy failed validation."""


class InvalidInstrument(InvalidPolicy):
    """A survey instrument file failed validation (a data file like a policy: the same exit code and HTTP status)."""


class ChainBroken(DomainError):
    """An envelope does not continue the chain it is applied to (seq or prev_hash)."""
