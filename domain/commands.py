"""Commands: what actors ask for. Pydantic models validated at the boundary (field shapes only);
``decide`` validates them against the state and the pinned policy.

Every command has ``command_id`` (the idempotency key; also the ``causation_id`` of the events it causes),
``actor`` and ``type`` (a Literal equal to the class name: the discriminator of the :data:`Command` union).
"""

from __future__ import annotations

import re
from decimal import Decimal
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from domain._time import Duration, UtcDatetime
from domain.actors import Actor
from domain.errors import InvalidCommand
from domain.policy import LifecyclePolicy

__all__ = [
    "COMMAND_CLASSES",
    "COMMAND_NAMES_KEBAB",
    "AcceptMatch",
    "Command",
    "CommandBase",
    "CompleteGoal",
    "ConsentSeparation",
    "DeclineMatch",
    "LogMeeting",
    "Pause",
    "ProposeRelationship",
    "ProposeSeparation",
    "RecordRedefinition",
    "RequestRematch",
    "RequestRenewal",
    "ResolveSeparation",
    "Resume",
    "SetGoal",
    "SignAgreement",
    "SubmitCheckIn",
    "Terminate",
    "command_adapter",
    "command_from_kebab",
    "parse_command",
]

NonBlank = Annotated[str, Field(min_length=1, pattern=r"\S")]


class CommandBase(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    command_id: NonBlank
    actor: Actor


class ProposeRelationship(CommandBase):
    """Start a relationship. A manager, or a participant proposing themself (self-match)."""

    type: Literal["ProposeRelationship"] = "ProposeRelationship"
    relationship_id: NonBlank
    program_id: NonBlank
    mentor_id: NonBlank
    mentee_id: NonBlank
    policy: LifecyclePolicy
    match_method: NonBlank = "manual"
    match_score: Decimal | None = Field(default=None, ge=0, le=1000)
    predecessor_id: str | None = None

    @field_validator("mentee_id")
    @classmethod
    def _distinct(cls, v: str, info: Any) -> str:
        if info.data.get("mentor_id") == v:
            raise ValueError("mentor_id and mentee_id must be different people")
        return v


class AcceptMatch(CommandBase):
    type: Literal["AcceptMatch"] = "AcceptMatch"


class DeclineMatch(CommandBase):
    type: Literal["DeclineMatch"] = "DeclineMatch"
    reason: NonBlank


class SignAgreement(CommandBase):
    """Each participant signs the agreement: goals (≥ 1), meeting cadence and term (both must sign the same
    cadence and term; goals of both signatures are unioned)."""

    type: Literal["SignAgreement"] = "SignAgreement"
    goals: list[NonBlank] = Field(min_length=1)
    cadence: Duration = Field(description="meeting cadence, ISO-8601 (P1W, P2W, P1M)")
    term: Duration | None = Field(default=None, description="ISO-8601; default: the policy's term")

    @field_validator("cadence", "term")
    @classmethod
    def _positive(cls, v: Duration | None) -> Duration | None:
        if v is not None and not v.is_positive:
            raise ValueError("must be a positive duration")
        return v


class LogMeeting(CommandBase):
    """A meeting was held. Participants log; a manager may backfill (the event is flagged ``backfill``)."""

    type: Literal["LogMeeting"] = "LogMeeting"
    held_at: UtcDatetime
    duration_minutes: int = Field(default=60, ge=1, le=24 * 60)
    notes: str = ""


class SetGoal(CommandBase):
    type: Literal["SetGoal"] = "SetGoal"
    text: NonBlank
    goal_id: str | None = Field(default=None, description="default: goal-<n>, numbered per relationship")


class CompleteGoal(CommandBase):
    type: Literal["CompleteGoal"] = "CompleteGoal"
    goal_id: NonBlank


class SubmitCheckIn(CommandBase):
    """Satisfaction 1-5; a middle score (3) marks the relationship *marginal* (Ragins et al. 2000)."""

    type: Literal["SubmitCheckIn"] = "SubmitCheckIn"
    satisfaction: int = Field(ge=1, le=5, description="1 (very dissatisfied) to 5 (very satisfied)")
    comment: str = ""


class RequestRematch(CommandBase):
    type: Literal["RequestRematch"] = "RequestRematch"
    reason: NonBlank


class Pause(CommandBase):
    type: Literal["Pause"] = "Pause"
    reason: str = ""


class Resume(CommandBase):
    type: Literal["Resume"] = "Resume"


class RequestRenewal(CommandBase):
    type: Literal["RequestRenewal"] = "RequestRenewal"


class ProposeSeparation(CommandBase):
    type: Literal["ProposeSeparation"] = "ProposeSeparation"
    reason: NonBlank


class ConsentSeparation(CommandBase):
    type: Literal["ConsentSeparation"] = "ConsentSeparation"


class ResolveSeparation(CommandBase):
    """Manager: ``end`` (winding down) or ``reconcile`` (back to cultivation)."""

    type: Literal["ResolveSeparation"] = "ResolveSeparation"
    resolution: Literal["end", "reconcile"]
    note: str = ""


class RecordRedefinition(CommandBase):
    type: Literal["RecordRedefinition"] = "RecordRedefinition"
    outcome: Literal["collegial", "friendship", "ended"]
    note: str = ""


class Terminate(CommandBase):
    """Manager, any open stage; a reason code is required (``[a-z0-9_.-]+``, e.g. ``conduct``)."""

    type: Literal["Terminate"] = "Terminate"
    reason_code: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.\-]*$")
    note: str = ""


Command = Annotated[
    ProposeRelationship
    | AcceptMatch
    | DeclineMatch
    | SignAgreement
    | LogMeeting
    | SetGoal
    | CompleteGoal
    | SubmitCheckIn
    | RequestRematch
    | Pause
    | Resume
    | RequestRenewal
    | ProposeSeparation
    | ConsentSeparation
    | ResolveSeparation
    | RecordRedefinition
    | Terminate,
    Field(discriminator="type"),
]

COMMAND_CLASSES: tuple[type[CommandBase], ...] = (
    ProposeRelationship,
    AcceptMatch,
    DeclineMatch,
    SignAgreement,
    LogMeeting,
    SetGoal,
    CompleteGoal,
    SubmitCheckIn,
    RequestRematch,
    Pause,
    Resume,
    RequestRenewal,
    ProposeSeparation,
    ConsentSeparation,
    ResolveSeparation,
    RecordRedefinition,
    Terminate,
)


def _kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


COMMAND_NAMES_KEBAB: tuple[str, ...] = tuple(_kebab(c.__name__) for c in COMMAND_CLASSES)
"""Kebab-case command names for the CLI, in table order: ``propose-relationship``, ``accept-match``, ..."""


def command_from_kebab(name: str) -> type[CommandBase]:
    """``"log-meeting"`` → :class:`LogMeeting`. Raises :class:`InvalidCommand` for an unknown name."""
    for cls in COMMAND_CLASSES:
        if _kebab(cls.__name__) == name:
            return cls
    raise InvalidCommand(f"unknown command {name!r} (known: {', '.join(COMMAND_NAMES_KEBAB)})")


@cache
def command_adapter() -> TypeAdapter[Command]:
    return TypeAdapter(Command)


def parse_command(data: Any) -> Command:
    """Validate a JSON-like mapping into a :data:`Command`; shape errors become :class:`InvalidCommand`."""
    try:
        return command_adapter().validate_python(data)
    except ValidationError as exc:
        parts = []
        for err in exc.errors(include_url=False):
            loc = ".".join(str(x) for x in err["loc"])
            parts.append(f"{loc}: {err['msg'].removeprefix('Value error, ')}")
        raise InvalidCommand("invalid command: " + "; ".join(parts)) from None
