"""``RelationshipState``: the fold of ``evolve`` over a relationship's events.

A frozen pydantic model that round-trips through JSON (``model_dump(mode="json")`` / ``model_validate``): the
Temporal workflow carries it across continue-as-new and returns it from queries. Updates are immutable
(``model_copy(update=...)``). ``seq`` and ``last_hash`` follow the envelopes (``seal`` / ``apply_envelope``), not
``evolve``.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from domain._time import Duration, UtcDatetime
from domain.actors import Role
from domain.policy import LifecyclePolicy
from domain.stages import Health, Outcome, Stage, Substate

__all__ = ["GENESIS_HASH", "Goal", "MeetingEntry", "OpenSurvey", "RelationshipState", "Signature"]

GENESIS_HASH = "0" * 64
"""``prev_hash`` of seq 1 and ``last_hash`` of a relationship with no events."""


class Signature(BaseModel):
    model_config = ConfigDict(frozen=True)

    role: Role
    goals: tuple[str, ...]
    cadence: Duration
    term: Duration
    at: UtcDatetime


class Goal(BaseModel):
    model_config = ConfigDict(frozen=True)

    text: str
    set_by: str
    set_at: UtcDatetime
    completed_at: UtcDatetime | None = None
    completed_by: str | None = None

    @property
    def completed(self) -> bool:
        return self.completed_at is not None


class MeetingEntry(BaseModel):
    """A logged meeting (rules v2 keeps them to confirm or dispute): ``meeting-<n>`` in log order."""

    model_config = ConfigDict(frozen=True)

    by: str
    held_at: UtcDatetime
    status: Literal["logged", "confirmed", "disputed"] = "logged"
    anchor_before: UtcDatetime | None = None  # the inactivity clock before this meeting moved it


class OpenSurvey(BaseModel):
    """A survey request still open (rules v3): who was asked, who answered, its reminder and expiry."""

    model_config = ConfigDict(frozen=True)

    instrument: str
    version: int
    to: tuple[str, ...]
    requested_at: UtcDatetime
    remind_at: UtcDatetime
    expires_at: UtcDatetime
    answered_by: tuple[str, ...] = ()
    reminded: bool = False

    @property
    def unanswered(self) -> tuple[str, ...]:
        return tuple(p for p in self.to if p not in self.answered_by)


class RelationshipState(BaseModel):
    model_config = ConfigDict(frozen=True)

    relationship_id: str
    program_id: str | None = None
    mentor_id: str | None = None
    mentee_id: str | None = None
    proposed_by: str | None = None
    proposed_by_role: Role | None = None
    match_method: str | None = None
    match_score: Decimal | None = None
    predecessor_id: str | None = None
    policy: LifecyclePolicy | None = None
    rules_version: int = 1  # pinned at the proposal (domain/rules.py)
    successor_id: str | None = None  # a manager reassigned the pair to this relationship

    stage: Stage = Stage.NONE
    substate: Substate = Substate.NONE
    health: Health = Health.GREEN
    marginal: bool = False
    outcome: Outcome | None = None
    close_reason: str | None = None

    opened_at: UtcDatetime | None = None
    closed_at: UtcDatetime | None = None
    stage_entered_at: UtcDatetime | None = None
    substate_entered_at: UtcDatetime | None = None
    last_event_at: UtcDatetime | None = None

    # initiation
    acceptances_needed: tuple[str, ...] = ()
    accepted_by: tuple[str, ...] = ()
    accepted_at: UtcDatetime | None = None  # everyone needed accepted: kickoff pending since
    signatures: dict[str, Signature] = Field(default_factory=dict)
    cadence: Duration | None = None
    term: Duration | None = None
    trial_started_at: UtcDatetime | None = None  # the kickoff
    trial_ends_at: UtcDatetime | None = None
    term_ends_at: UtcDatetime | None = None
    trial_failed_at: UtcDatetime | None = None  # v2: the trial ended with too few meetings; grace runs
    trial_grace_ends_at: UtcDatetime | None = None

    # activity
    meetings: int = 0
    last_meeting_at: UtcDatetime | None = None
    activity_anchor: UtcDatetime | None = None  # inactivity clock origin, shifted forward by paused time
    goals: dict[str, Goal] = Field(default_factory=dict)
    check_ins: int = 0
    latest_satisfaction: dict[str, int] = Field(default_factory=dict)
    recent_satisfaction: dict[str, tuple[int, ...]] = Field(default_factory=dict)  # v2: last few per person
    meetings_logged: int = 0  # every MeetingLogged, disputed or not: numbers meeting-<n>
    meeting_log: dict[str, MeetingEntry] = Field(default_factory=dict)  # v2
    function_mix: dict[str, int] = Field(default_factory=dict)  # Kram function -> times tagged or answered

    # surveys (rules v3, the policy's [surveys] schedule)
    surveys_requested: int = 0  # numbers survey-<n>
    survey_last: dict[str, UtcDatetime] = Field(default_factory=dict)  # instrument -> its last request
    surveys_open: dict[str, OpenSurvey] = Field(default_factory=dict)
    surveys_closed: dict[str, Literal["answered", "expired"]] = Field(default_factory=dict)  # the last few

    # pause
    paused_at: UtcDatetime | None = None
    paused_by: str | None = None
    pauses: int = 0
    total_paused: timedelta = timedelta(0)

    # renewal
    renewals: int = 0
    renewal_requests: tuple[str, ...] = ()

    # separation
    separation_proposed_by: str | None = None
    separation_proposed_at: UtcDatetime | None = None
    separation_reason: str | None = None
    separation_consents: tuple[str, ...] = ()
    separation_resolution: str | None = None
    winding_down_since: UtcDatetime | None = None
    contested_escalations: int = 0  # v2: escalations to the manager since the case became contested

    # redefinition
    redefinition: dict[str, Outcome] = Field(default_factory=dict)

    # one-shot timer rules that already fired (tick idempotency), e.g. "acceptance_reminder"
    fired: tuple[str, ...] = ()

    # the envelope chain
    seq: int = 0
    last_hash: str = GENESIS_HASH

    @classmethod
    def new(cls, relationship_id: str) -> RelationshipState:
        """The not-yet-proposed state (stage ``none``): only ``ProposeRelationship`` is accepted."""
        return cls(relationship_id=relationship_id)

    @property
    def is_closed(self) -> bool:
        return self.stage is Stage.CLOSED

    @property
    def participants(self) -> tuple[str, ...]:
        return tuple(p for p in (self.mentor_id, self.mentee_id) if p is not None)

    @property
    def goals_completed(self) -> int:
        return sum(1 for g in self.goals.values() if g.completed)

    def role_of(self, person_id: str) -> Role | None:
        if person_id == self.mentor_id:
            return Role.MENTOR
        if person_id == self.mentee_id:
            return Role.MENTEE
        return None

    def other_participant(self, person_id: str) -> str | None:
        if person_id == self.mentor_id:
            return self.mentee_id
        if person_id == self.mentee_id:
            return self.mentor_id
        return None
