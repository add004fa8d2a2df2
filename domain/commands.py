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

from pydantic import BaseModel, ConfigDict, Field, StrictInt, TypeAdapter, ValidationError, field_validator

from domain._time import Duration, UtcDatetime
from domain.actors import Actor
from domain.errors import InvalidCommand
from domain.kram import TaggedWithFunctions
from domain.limits import (
    ACTOR,
    CADENCE,
    COMMAND_ID,
    DURATION,
    GOAL_ID,
    GOAL_TEXT,
    GOALS,
    LONG_TEXT,
    MAX_EXPLANATION_ITEMS,
    MAX_NAME_LENGTH,
    MAX_RENEWALS,
    MEETING_ID,
    NAME,
    NOTE,
    PERSON_ID,
    POLICY,
    PROGRAM_ID,
    REASON,
    RELATIONSHIP_ID,
    REQUEST_ID,
)
from domain.policy import LifecyclePolicy
from domain.rules import CURRENT_RULES_VERSION

__all__ = [
    "COMMAND_CLASSES",
    "COMMAND_NAMES_KEBAB",
    "AcceptMatch",
    "Command",
    "CommandBase",
    "CompleteGoal",
    "ConfirmMeeting",
    "ConsentSeparation",
    "DeclineMatch",
    "DisputeMeeting",
    "LeaveRelationship",
    "LogMeeting",
    "MatchScore",
    "ObjectSeparation",
    "Pause",
    "ProposeRelationship",
    "ProposeSeparation",
    "Reassign",
    "RecordRedefinition",
    "RequestRematch",
    "RequestRenewal",
    "ResolveSeparation",
    "Resume",
    "SetGoal",
    "SignAgreement",
    "SubmitCheckIn",
    "SubmitSurvey",
    "Terminate",
    "WithdrawSeparation",
    "command_adapter",
    "command_from_kebab",
    "parse_command",
]

MAX_SURVEY_ANSWERS = 50
MAX_SURVEY_CHOICES = 30

# Every field carries its limit (domain/limits.py), enforced here and again in ``decide``.
RelationshipId = Annotated[str, RELATIONSHIP_ID]
ProgramId = Annotated[str, PROGRAM_ID]
PersonId = Annotated[str, PERSON_ID]
GoalId = Annotated[str, GOAL_ID]
MeetingId = Annotated[str, MEETING_ID]
Reason = Annotated[str, REASON]
Note = Annotated[str, NOTE]
LongText = Annotated[str, LONG_TEXT]
MatchScore = Annotated[Decimal | None, Field(ge=0, le=1000, max_digits=12, decimal_places=6)]
"""0 to 1000, at most 6 decimals (it is stored as text in a ``String(64)`` column)."""
Contribution = Annotated[Decimal, Field(ge=-1000, le=1000, max_digits=12, decimal_places=6)]
MatchExplanation = Annotated[dict[Annotated[str, NAME], Contribution] | None, Field(max_length=MAX_EXPLANATION_ITEMS)]
"""``{criterion: contribution}`` of the score (domain/matching): at most ``MAX_EXPLANATION_ITEMS`` criteria."""
SurveyValue = Annotated[
    StrictInt | Annotated[str, LONG_TEXT] | Annotated[list[Annotated[str, NAME]], Field(max_length=MAX_SURVEY_CHOICES)],
    Field(union_mode="left_to_right"),
]
SurveyAnswers = Annotated[dict[Annotated[str, NAME], SurveyValue], Field(max_length=MAX_SURVEY_ANSWERS)]
"""A response's answers as sent: shapes and sizes here; the instrument's own rules in ``decide``."""


class CommandBase(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    command_id: Annotated[str, COMMAND_ID]
    actor: Annotated[Actor, ACTOR]


class ProposeRelationship(CommandBase):
    """Start a relationship. A manager, or a participant proposing themself (self-match)."""

    type: Literal["ProposeRelationship"] = "ProposeRelationship"
    relationship_id: RelationshipId
    program_id: ProgramId
    mentor_id: PersonId
    mentee_id: PersonId
    policy: Annotated[LifecyclePolicy, POLICY]
    match_method: Annotated[str, NAME] = "manual"
    match_score: MatchScore = None
    match_explanation: MatchExplanation = None
    matching_version: Annotated[str | None, NAME] = None
    predecessor_id: Annotated[str | None, RELATIONSHIP_ID] = None
    renewals_used: int | None = Field(
        default=None,
        ge=0,
        le=MAX_RENEWALS,
        description="renewals the mentee already used this cycle (a rematch's predecessors): they count against the "
        "policy's max_renewals",
    )
    rules_version: int | None = Field(
        default=None, ge=1, le=CURRENT_RULES_VERSION, description="default: the current rules version"
    )

    @field_validator("relationship_id")
    @classmethod
    def _not_a_program_chain(cls, v: str) -> str:
        if v.startswith("program:"):  # domain.programs.events.CHAIN_PREFIX: a program's chain, never a relationship's
            raise ValueError("must not start with 'program:' (the prefix of program chains)")
        return v

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
    reason: Reason


class SignAgreement(CommandBase):
    """Each participant signs the agreement: goals (≥ 1), meeting cadence and term (both must sign the same
    cadence and term; goals of both signatures are unioned)."""

    type: Literal["SignAgreement"] = "SignAgreement"
    goals: Annotated[list[str], GOALS] = Field(min_length=1)
    cadence: Annotated[Duration, CADENCE] = Field(description="meeting cadence, ISO-8601 (P1W, P2W, P1M)")
    term: Annotated[Duration | None, DURATION] = Field(default=None, description="ISO-8601; default: the policy's term")


class LogMeeting(CommandBase, TaggedWithFunctions):
    """A meeting was held. Participants log; a manager may backfill (the event is flagged ``backfill``)."""

    type: Literal["LogMeeting"] = "LogMeeting"
    held_at: UtcDatetime
    duration_minutes: int = Field(default=60, ge=1, le=24 * 60)
    notes: LongText = ""


class SetGoal(CommandBase, TaggedWithFunctions):
    type: Literal["SetGoal"] = "SetGoal"
    text: Annotated[str, GOAL_TEXT]
    goal_id: Annotated[str | None, GOAL_ID] = Field(
        default=None, description="default: goal-<n>, numbered per relationship"
    )


class CompleteGoal(CommandBase):
    type: Literal["CompleteGoal"] = "CompleteGoal"
    goal_id: GoalId


class SubmitCheckIn(CommandBase):
    """Satisfaction 1-5; a middle score (3) marks the relationship *marginal* (Ragins et al. 2000)."""

    type: Literal["SubmitCheckIn"] = "SubmitCheckIn"
    satisfaction: int = Field(ge=1, le=5, description="1 (very dissatisfied) to 5 (very satisfied)")
    comment: LongText = ""


class SubmitSurvey(CommandBase):
    """Answer a survey request (rules v3): ``answers`` maps question ids to values, checked against the instrument
    version pinned in the request; ``version``, when given, must be that version. A response after the request's
    expiry, or a second one by the same person, is refused with the rule named."""

    type: Literal["SubmitSurvey"] = "SubmitSurvey"
    request_id: Annotated[str, REQUEST_ID]
    answers: SurveyAnswers
    version: int | None = Field(default=None, ge=1, le=1000, description="the instrument version answered")


class RequestRematch(CommandBase):
    type: Literal["RequestRematch"] = "RequestRematch"
    reason: Reason


class Pause(CommandBase):
    type: Literal["Pause"] = "Pause"
    reason: Note = ""


class Resume(CommandBase):
    type: Literal["Resume"] = "Resume"


class RequestRenewal(CommandBase):
    type: Literal["RequestRenewal"] = "RequestRenewal"


class ProposeSeparation(CommandBase):
    type: Literal["ProposeSeparation"] = "ProposeSeparation"
    reason: Reason


class ConsentSeparation(CommandBase):
    type: Literal["ConsentSeparation"] = "ConsentSeparation"


class ResolveSeparation(CommandBase):
    """Manager: ``end`` (winding down) or ``reconcile`` (back to cultivation)."""

    type: Literal["ResolveSeparation"] = "ResolveSeparation"
    resolution: Literal["end", "reconcile"]
    note: Note = ""
    term_ends_at: UtcDatetime | None = Field(
        default=None, description="reconcile after the term end: the new term end (required then, rules v2)"
    )


class RecordRedefinition(CommandBase):
    type: Literal["RecordRedefinition"] = "RecordRedefinition"
    outcome: Literal["collegial", "friendship", "ended"]
    note: Note = ""


class Terminate(CommandBase):
    """Manager, any open stage; a reason code is required (``[a-z0-9_.-]+``, e.g. ``conduct``)."""

    type: Literal["Terminate"] = "Terminate"
    reason_code: str = Field(min_length=1, max_length=MAX_NAME_LENGTH, pattern=r"^[a-z0-9][a-z0-9_.\-]*$")
    note: Note = ""


class WithdrawSeparation(CommandBase):
    """The proposer takes a separation proposal back (awaiting consent or contested; rules v2)."""

    type: Literal["WithdrawSeparation"] = "WithdrawSeparation"


class ObjectSeparation(CommandBase):
    """The other participant objects to a separation proposal: contested at once (rules v2)."""

    type: Literal["ObjectSeparation"] = "ObjectSeparation"
    reason: Reason


class LeaveRelationship(CommandBase):
    """A participant leaves before cultivation (kickoff pending or trial; rules v2): closed ``did_not_start``."""

    type: Literal["LeaveRelationship"] = "LeaveRelationship"
    reason: Reason


class Reassign(CommandBase):
    """Manager rematch (rules v2): closes this relationship ``rematched`` with a link to ``successor_id``; the
    caller proposes the successor with ``predecessor_id`` set to this relationship."""

    type: Literal["Reassign"] = "Reassign"
    successor_id: RelationshipId
    reason: Reason


class ConfirmMeeting(CommandBase):
    """The other participant confirms a meeting (``meeting-<n>``, numbered per relationship; rules v2)."""

    type: Literal["ConfirmMeeting"] = "ConfirmMeeting"
    meeting_id: MeetingId


class DisputeMeeting(CommandBase):
    """The other participant disputes a meeting: it stops counting (rules v2)."""

    type: Literal["DisputeMeeting"] = "DisputeMeeting"
    meeting_id: MeetingId
    reason: Reason


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
    | Terminate
    | WithdrawSeparation
    | ObjectSeparation
    | LeaveRelationship
    | Reassign
    | ConfirmMeeting
    | DisputeMeeting
    | SubmitSurvey,
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
    WithdrawSeparation,
    ObjectSeparation,
    LeaveRelationship,
    Reassign,
    ConfirmMeeting,
    DisputeMeeting,
    SubmitSurvey,
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
