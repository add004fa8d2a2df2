"""Events: facts, past tense, frozen. Once published they never change meaning; a new shape is a new
``schema_version`` with a pure upcaster (see :mod:`domain.upcasting`).

Every event has ``type`` (Literal = class name, the discriminator of :data:`Event`) and ``at`` (the UTC instant the
fact happened). In an envelope, ``type`` and ``at`` travel as the envelope's ``type`` and ``occurred_at``; the
payload holds the other fields (:func:`domain.envelope.event_to_payload`). ``schema_version`` is a ClassVar.

Fields named ``by``/``role`` identify the person behind the fact (the envelope's actor says the same; the payload
repeats it so ``evolve`` needs nothing but the event).
"""

from __future__ import annotations

from decimal import Decimal
from functools import cache
from typing import Annotated, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    TypeAdapter,
    model_serializer,
)

from domain._time import Duration, UtcDatetime
from domain.actors import Role
from domain.kram import TaggedWithFunctions
from domain.policy import LifecyclePolicy
from domain.stages import Health, Outcome, Stage, Substate

__all__ = [
    "RELATIONSHIP_EVENT_CLASSES",
    "AcceptanceReminderSent",
    "AgreementSigned",
    "CheckInSubmitted",
    "EscalatedToManager",
    "Event",
    "EventBase",
    "GoalCompleted",
    "GoalSet",
    "HealthChanged",
    "InactivityWarningSent",
    "MatchAccepted",
    "MatchDeclined",
    "MatchExpired",
    "MeetingConfirmed",
    "MeetingDisputed",
    "MeetingLogged",
    "NoticeSent",
    "NudgeSent",
    "Paused",
    "Reassigned",
    "RedefinitionRecorded",
    "RelationshipClosed",
    "RelationshipLeft",
    "RelationshipProposed",
    "RematchRequested",
    "RenewalRequested",
    "Resumed",
    "SeparationConsented",
    "SeparationContested",
    "SeparationObjected",
    "SeparationProposed",
    "SeparationResolved",
    "SeparationWithdrawn",
    "StageChanged",
    "SurveyAnswer",
    "SurveyExpired",
    "SurveyReminded",
    "SurveyRequested",
    "SurveySubmitted",
    "TermEndingSoon",
    "TermExtended",
    "TermRenewed",
    "Terminated",
    "TrialFailed",
    "TrialStarted",
    "event_adapter",
]


class EventBase(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: ClassVar[int] = 1
    at: UtcDatetime


class RelationshipProposed(EventBase):
    type: Literal["RelationshipProposed"] = "RelationshipProposed"
    relationship_id: str
    program_id: str
    mentor_id: str
    mentee_id: str
    proposed_by: str
    proposed_by_role: Role
    match_method: str
    match_score: Decimal | None = None
    predecessor_id: str | None = None
    policy: LifecyclePolicy
    acceptances_needed: tuple[str, ...]
    rules_version: int = 1  # domain/rules.py; absent from proposals recorded before rules versions existed
    # The matching decision (issue 14): absent when the proposal carries none.
    match_explanation: dict[str, Decimal] | None = None
    matching_version: str | None = None
    # Renewals the mentee already used this cycle (issue 14: the cap holds across a rematch); absent = none.
    renewals_used: int | None = None

    @model_serializer(mode="wrap")
    def _omit_rules_v1(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> dict[str, object]:
        """Version 1 is left out, and so is a missing matching decision, so a proposal recorded before rules
        versions or matching decisions existed re-seals to the same bytes."""
        data: dict[str, object] = handler(self)
        if data.get("rules_version") == 1:
            del data["rules_version"]
        for name in ("match_explanation", "matching_version", "renewals_used"):
            if data.get(name, 0) is None:
                del data[name]
        return data


class MatchAccepted(EventBase):
    type: Literal["MatchAccepted"] = "MatchAccepted"
    by: str
    role: Role


class MatchDeclined(EventBase):
    type: Literal["MatchDeclined"] = "MatchDeclined"
    by: str
    role: Role
    reason: str


class AcceptanceReminderSent(EventBase):
    type: Literal["AcceptanceReminderSent"] = "AcceptanceReminderSent"
    to: tuple[str, ...]


class MatchExpired(EventBase):
    type: Literal["MatchExpired"] = "MatchExpired"
    not_accepted_by: tuple[str, ...]


class AgreementSigned(EventBase):
    type: Literal["AgreementSigned"] = "AgreementSigned"
    by: str
    role: Role
    goals: tuple[str, ...]
    cadence: Duration
    term: Duration


class TrialStarted(EventBase):
    """Both signed: the kickoff. The trial window and the term start now."""

    type: Literal["TrialStarted"] = "TrialStarted"
    trial_ends_at: UtcDatetime
    term_ends_at: UtcDatetime
    cadence: Duration
    term: Duration


class MeetingLogged(EventBase, TaggedWithFunctions):
    type: Literal["MeetingLogged"] = "MeetingLogged"
    by: str
    role: Role
    held_at: UtcDatetime
    duration_minutes: int
    notes: str = ""
    backfill: bool = False


class GoalSet(EventBase, TaggedWithFunctions):
    type: Literal["GoalSet"] = "GoalSet"
    goal_id: str
    text: str
    by: str


class GoalCompleted(EventBase):
    type: Literal["GoalCompleted"] = "GoalCompleted"
    goal_id: str
    by: str


class CheckInSubmitted(EventBase):
    """v2: ``satisfaction`` 1-5. (v1 had ``score`` 1-10; see the upcaster.)"""

    schema_version: ClassVar[int] = 2
    type: Literal["CheckInSubmitted"] = "CheckInSubmitted"
    by: str
    role: Role
    satisfaction: int = Field(ge=1, le=5)
    comment: str = ""


class HealthChanged(EventBase):
    type: Literal["HealthChanged"] = "HealthChanged"
    from_health: Health
    to_health: Health
    reason: str


class NudgeSent(EventBase):
    type: Literal["NudgeSent"] = "NudgeSent"
    rule: str
    to: tuple[str, ...]
    message: str


class EscalatedToManager(EventBase):
    type: Literal["EscalatedToManager"] = "EscalatedToManager"
    rule: str
    reason: str


class InactivityWarningSent(EventBase):
    type: Literal["InactivityWarningSent"] = "InactivityWarningSent"
    last_meeting_at: UtcDatetime | None = None
    separation_at: UtcDatetime


class RematchRequested(EventBase):
    type: Literal["RematchRequested"] = "RematchRequested"
    by: str
    role: Role
    reason: str


class Paused(EventBase):
    type: Literal["Paused"] = "Paused"
    by: str
    role: Role
    reason: str = ""
    resumes_at_latest: UtcDatetime


class Resumed(EventBase):
    type: Literal["Resumed"] = "Resumed"
    by: str
    role: Role
    automatic: bool = False


class RenewalRequested(EventBase):
    type: Literal["RenewalRequested"] = "RenewalRequested"
    by: str
    role: Role


class TermRenewed(EventBase):
    type: Literal["TermRenewed"] = "TermRenewed"
    renewal: int
    previous_term_ends_at: UtcDatetime
    term_ends_at: UtcDatetime


class SeparationProposed(EventBase):
    type: Literal["SeparationProposed"] = "SeparationProposed"
    by: str
    role: Role
    reason: str
    consent_due_at: UtcDatetime


class SeparationConsented(EventBase):
    type: Literal["SeparationConsented"] = "SeparationConsented"
    by: str
    role: Role


class SeparationContested(EventBase):
    type: Literal["SeparationContested"] = "SeparationContested"
    proposed_by: str
    not_consented_by: str


class SeparationResolved(EventBase):
    type: Literal["SeparationResolved"] = "SeparationResolved"
    by: str
    resolution: Literal["end", "reconcile"]
    note: str = ""


class SeparationWithdrawn(EventBase):
    """v2: the proposer takes the separation proposal back (awaiting consent or contested)."""

    type: Literal["SeparationWithdrawn"] = "SeparationWithdrawn"
    by: str
    role: Role


class SeparationObjected(EventBase):
    """v2: the other participant objects explicitly (no need to wait for the consent window)."""

    type: Literal["SeparationObjected"] = "SeparationObjected"
    by: str
    role: Role
    reason: str


class TermExtended(EventBase):
    """v2: a manager's reconcile after the term end sets a new term end (it is not a renewal)."""

    type: Literal["TermExtended"] = "TermExtended"
    by: str
    previous_term_ends_at: UtcDatetime
    term_ends_at: UtcDatetime


class TermEndingSoon(EventBase):
    """v2: the term ends within the policy's ``term_ending_notice``."""

    type: Literal["TermEndingSoon"] = "TermEndingSoon"
    term_ends_at: UtcDatetime
    renewals_left: int


class RelationshipLeft(EventBase):
    """v2: a participant leaves before cultivation (kickoff pending or trial)."""

    type: Literal["RelationshipLeft"] = "RelationshipLeft"
    by: str
    role: Role
    reason: str


class TrialFailed(EventBase):
    """v2: the trial window ended with too few meetings; a grace period runs until ``grace_ends_at``."""

    type: Literal["TrialFailed"] = "TrialFailed"
    meetings: int
    needed: int
    grace_ends_at: UtcDatetime


class Reassigned(EventBase):
    """v2: a manager rematched the pair; ``successor_id`` is the relationship that replaces this one (its
    ``RelationshipProposed.predecessor_id`` links back)."""

    type: Literal["Reassigned"] = "Reassigned"
    by: str
    successor_id: str
    reason: str


class MeetingConfirmed(EventBase):
    type: Literal["MeetingConfirmed"] = "MeetingConfirmed"
    meeting_id: str
    by: str
    role: Role


class MeetingDisputed(EventBase):
    """v2: the other participant says the meeting did not happen: it no longer counts."""

    type: Literal["MeetingDisputed"] = "MeetingDisputed"
    meeting_id: str
    by: str
    role: Role
    reason: str


class NoticeSent(EventBase):
    """v2: a prompt: who is told (``audience`` and ``to``) what (``kind``, ``message``), at ``at``. The workflow
    delivers each one through the notification activity."""

    type: Literal["NoticeSent"] = "NoticeSent"
    kind: str
    audience: Literal["participants", "program_manager"]
    to: tuple[str, ...]
    message: str


SurveyAnswer = int | str | tuple[str, ...]


class SurveyRequested(EventBase):
    """Rules v3: the policy's survey schedule asks ``to`` to answer ``instrument`` (its ``version`` pinned here);
    reminded at ``remind_at``, expired at ``expires_at``. ``request_id`` is ``survey-<n>``, numbered per
    relationship."""

    type: Literal["SurveyRequested"] = "SurveyRequested"
    request_id: str
    instrument: str
    version: int
    to: tuple[str, ...]
    remind_at: UtcDatetime
    expires_at: UtcDatetime


class SurveyReminded(EventBase):
    type: Literal["SurveyReminded"] = "SurveyReminded"
    request_id: str
    to: tuple[str, ...]


class SurveySubmitted(EventBase):
    """A response, validated against the instrument version pinned in its request. Free-text answers are
    confidential: never shown to the partner (``domain.confidential``)."""

    type: Literal["SurveySubmitted"] = "SurveySubmitted"
    request_id: str
    instrument: str
    version: int
    by: str
    role: Role
    answers: dict[str, SurveyAnswer]


class SurveyExpired(EventBase):
    type: Literal["SurveyExpired"] = "SurveyExpired"
    request_id: str
    not_answered_by: tuple[str, ...]


class StageChanged(EventBase):
    """Every stage or sub-state change, with why (``reason``) and by what (``trigger``)."""

    type: Literal["StageChanged"] = "StageChanged"
    from_stage: Stage
    to_stage: Stage
    from_substate: Substate
    to_substate: Substate
    trigger: Literal["command", "timer"]
    reason: str
    policy_version: str


class RedefinitionRecorded(EventBase):
    type: Literal["RedefinitionRecorded"] = "RedefinitionRecorded"
    by: str
    role: Role
    outcome: Literal["collegial", "friendship", "ended"]
    note: str = ""


class Terminated(EventBase):
    type: Literal["Terminated"] = "Terminated"
    by: str
    reason_code: str
    note: str = ""


class RelationshipClosed(EventBase):
    """The last event of every relationship."""

    type: Literal["RelationshipClosed"] = "RelationshipClosed"
    outcome: Outcome
    reason: str


Event = Annotated[
    RelationshipProposed
    | MatchAccepted
    | MatchDeclined
    | AcceptanceReminderSent
    | MatchExpired
    | AgreementSigned
    | TrialStarted
    | MeetingLogged
    | GoalSet
    | GoalCompleted
    | CheckInSubmitted
    | HealthChanged
    | NudgeSent
    | EscalatedToManager
    | InactivityWarningSent
    | RematchRequested
    | Paused
    | Resumed
    | RenewalRequested
    | TermRenewed
    | SeparationProposed
    | SeparationConsented
    | SeparationContested
    | SeparationResolved
    | StageChanged
    | RedefinitionRecorded
    | Terminated
    | RelationshipClosed
    | SeparationWithdrawn
    | SeparationObjected
    | TermExtended
    | TermEndingSoon
    | RelationshipLeft
    | TrialFailed
    | Reassigned
    | MeetingConfirmed
    | MeetingDisputed
    | NoticeSent
    | SurveyRequested
    | SurveyReminded
    | SurveySubmitted
    | SurveyExpired,
    Field(discriminator="type"),
]

RELATIONSHIP_EVENT_CLASSES: dict[str, type[EventBase]] = {
    cls.__name__: cls
    for cls in (
        RelationshipProposed,
        MatchAccepted,
        MatchDeclined,
        AcceptanceReminderSent,
        MatchExpired,
        AgreementSigned,
        TrialStarted,
        MeetingLogged,
        GoalSet,
        GoalCompleted,
        CheckInSubmitted,
        HealthChanged,
        NudgeSent,
        EscalatedToManager,
        InactivityWarningSent,
        RematchRequested,
        Paused,
        Resumed,
        RenewalRequested,
        TermRenewed,
        SeparationProposed,
        SeparationConsented,
        SeparationContested,
        SeparationResolved,
        StageChanged,
        RedefinitionRecorded,
        Terminated,
        RelationshipClosed,
        SeparationWithdrawn,
        SeparationObjected,
        TermExtended,
        TermEndingSoon,
        RelationshipLeft,
        TrialFailed,
        Reassigned,
        MeetingConfirmed,
        MeetingDisputed,
        NoticeSent,
        SurveyRequested,
        SurveyReminded,
        SurveySubmitted,
        SurveyExpired,
    )
}


@cache
def event_adapter() -> TypeAdapter[Event]:
    return TypeAdapter(Event)
