"""The reporting tables (DESIGN §6) as SQLAlchemy 2 typed models.

The schema is owned by the Alembic migrations in :mod:`projections.migrations` (``projections.db.migrate``);
``Base.metadata.create_all`` is for unit tests only. A test checks that the migrations and these models agree.

Keys are natural (relationship id + the ``seq`` of the event that produced the row, or another business key), never
autoincrement ids: a rebuild, a restart after ``kill -9`` and a replay of duplicated messages all produce the same
rows, so two projections of the same topic can be compared row by row. The one exception is ``dead_letters``
(an alarm log: one row per bad message as it was met).

Instants are stored as naive UTC (``timestamp without time zone`` on PostgreSQL, ISO text on SQLite) and come back
as aware UTC datetimes (:class:`UtcDateTime`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = [
    "FUNNEL_COLUMNS",
    "PROJECTION_TABLES",
    "Base",
    "CheckIn",
    "DeadLetter",
    "EventLog",
    "FunctionTag",
    "Goal",
    "Meeting",
    "Nudge",
    "Program",
    "ProgramEnrollment",
    "ProgramFunnel",
    "ProgramRoundEntry",
    "ProjectionOffset",
    "RedefinitionOutcome",
    "Relationship",
    "Separation",
    "StageDuration",
    "StageTransition",
    "SurveyRequest",
    "SurveyResponse",
    "UtcDateTime",
    "table_of",
]


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out; stored naive UTC on every backend."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        instant: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
        return instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant.astimezone(UTC)


NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Id = String(200)
Name = String(64)
Hash = String(64)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UtcDateTime(), str: Text()}


class Relationship(Base):
    """One row per relationship: where it is now and its running totals."""

    __tablename__ = "relationships"

    relationship_id: Mapped[str] = mapped_column(Id, primary_key=True)
    program_id: Mapped[str] = mapped_column(Id, index=True)
    mentor_id: Mapped[str] = mapped_column(Id)
    mentee_id: Mapped[str] = mapped_column(Id)
    proposed_by: Mapped[str] = mapped_column(Id)
    proposed_by_role: Mapped[str] = mapped_column(Name)
    match_method: Mapped[str] = mapped_column(Name)
    match_score: Mapped[str | None] = mapped_column(Name)
    predecessor_id: Mapped[str | None] = mapped_column(Id)
    policy_name: Mapped[str] = mapped_column(Name)
    policy_version: Mapped[str] = mapped_column(Name)

    stage: Mapped[str] = mapped_column(Name, index=True)
    substate: Mapped[str] = mapped_column(Name)
    health: Mapped[str] = mapped_column(Name)
    health_reason: Mapped[str | None]  # the reason of the last HealthChanged (issue 15: at-risk says why)
    marginal: Mapped[bool] = mapped_column(Boolean)
    outcome: Mapped[str | None] = mapped_column(Name)
    close_reason: Mapped[str | None]

    opened_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]  # every needed acceptance in (funnel: accepted)
    kicked_off_at: Mapped[datetime | None]  # TrialStarted (funnel: kicked off)
    cultivation_at: Mapped[datetime | None]  # first entered cultivation
    separation_at: Mapped[datetime | None]  # first entered separation
    redefinition_at: Mapped[datetime | None]  # first entered redefinition
    closed_at: Mapped[datetime | None]
    stage_entered_at: Mapped[datetime | None]
    stage_entered_seq: Mapped[int | None] = mapped_column(Integer)
    substate_entered_at: Mapped[datetime | None]
    trial_ends_at: Mapped[datetime | None]
    term_ends_at: Mapped[datetime | None]
    last_event_at: Mapped[datetime]

    meetings: Mapped[int] = mapped_column(Integer)
    last_meeting_at: Mapped[datetime | None]
    goals_set: Mapped[int] = mapped_column(Integer)
    goals_completed: Mapped[int] = mapped_column(Integer)
    check_ins: Mapped[int] = mapped_column(Integer)
    mentor_satisfaction: Mapped[int | None] = mapped_column(Integer)  # latest check-in score, 1-5
    mentee_satisfaction: Mapped[int | None] = mapped_column(Integer)
    pauses: Mapped[int] = mapped_column(Integer)
    renewals: Mapped[int] = mapped_column(Integer)
    separation_seq: Mapped[int | None] = mapped_column(Integer)  # the open row of ``separations``, if any

    last_seq: Mapped[int] = mapped_column(Integer)
    last_hash: Mapped[str] = mapped_column(Hash)


class StageTransition(Base):
    """Every ``StageChanged``: from where to where, by what (trigger) and why (reason)."""

    __tablename__ = "stage_transitions"
    __table_args__ = (Index(None, "program_id", "occurred_at"),)

    relationship_id: Mapped[str] = mapped_column(Id, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    program_id: Mapped[str] = mapped_column(Id)
    occurred_at: Mapped[datetime]
    from_stage: Mapped[str] = mapped_column(Name)
    from_substate: Mapped[str] = mapped_column(Name)
    to_stage: Mapped[str] = mapped_column(Name)
    to_substate: Mapped[str] = mapped_column(Name)
    trigger: Mapped[str] = mapped_column(Name)
    reason: Mapped[str]
    policy_version: Mapped[str] = mapped_column(Name)
    actor_id: Mapped[str] = mapped_column(Id)
    causation_id: Mapped[str | None] = mapped_column(Id)


class StageDuration(Base):
    """One row per visit of a stage (cultivation can be visited twice: a reconciled separation). ``exited_at`` and
    ``seconds`` stay NULL while the relationship is still in the stage. The ``closed`` bookend has no visits."""

    __tablename__ = "stage_durations"
    __table_args__ = (Index(None, "program_id", "stage"),)

    relationship_id: Mapped[str] = mapped_column(Id, primary_key=True)
    entered_seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    program_id: Mapped[str] = mapped_column(Id)
    stage: Mapped[str] = mapped_column(Name)
    entered_at: Mapped[datetime]
    exited_at: Mapped[datetime | None]
    exited_seq: Mapped[int | None] = mapped_column(Integer)
    seconds: Mapped[float | None] = mapped_column(Float)


class Meeting(Base):
    __tablename__ = "meetings"

    relationship_id: Mapped[str] = mapped_column(Id, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    program_id: Mapped[str] = mapped_column(Id, index=True)
    held_at: Mapped[datetime]
    logged_at: Mapped[datetime]
    logged_by: Mapped[str] = mapped_column(Id)
    role: Mapped[str] = mapped_column(Name)
    duration_minutes: Mapped[int] = mapped_column(Integer)
    backfill: Mapped[bool] = mapped_column(Boolean)
    notes: Mapped[str]


class Goal(Base):
    __tablename__ = "goals"

    relationship_id: Mapped[str] = mapped_column(Id, primary_key=True)
    goal_id: Mapped[str] = mapped_column(Id, primary_key=True)
    program_id: Mapped[str] = mapped_column(Id, index=True)
    text: Mapped[str]
    set_by: Mapped[str] = mapped_column(Id)
    set_at: Mapped[datetime]
    set_seq: Mapped[int] = mapped_column(Integer)
    completed_at: Mapped[datetime | None]
    completed_by: Mapped[str | None] = mapped_column(Id)
    completed_seq: Mapped[int | None] = mapped_column(Integer)


class CheckIn(Base):
    __tablename__ = "check_ins"

    relationship_id: Mapped[str] = mapped_column(Id, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    program_id: Mapped[str] = mapped_column(Id, index=True)
    submitted_at: Mapped[datetime]
    submitted_by: Mapped[str] = mapped_column(Id)
    role: Mapped[str] = mapped_column(Name)
    satisfaction: Mapped[int] = mapped_column(Integer)  # 1-5 (upcast from v1's 1-10 score)
    marginal: Mapped[bool] = mapped_column(Boolean)  # satisfaction == 3 (Ragins et al. 2000)
    comment: Mapped[str]
    schema_version: Mapped[int] = mapped_column(Integer)  # as published


class SurveyRequest(Base):
    """A survey request (rules v3): how many were asked, when it was reminded and when it expired (its responses
    are the ``survey_responses`` rows with its ``request_id``)."""

    __tablename__ = "survey_requests"

    relationship_id: Mapped[str] = mapped_column(Id, primary_key=True)
    request_id: Mapped[str] = mapped_column(Id, primary_key=True)
    program_id: Mapped[str] = mapped_column(Id, index=True)
    instrument: Mapped[str] = mapped_column(Name, index=True)
    version: Mapped[int] = mapped_column(Integer)
    stage: Mapped[str] = mapped_column(Name)
    requested_at: Mapped[datetime]
    requested_seq: Mapped[int] = mapped_column(Integer)
    asked: Mapped[int] = mapped_column(Integer)
    reminded_at: Mapped[datetime | None]
    expired_at: Mapped[datetime | None]


class SurveyResponse(Base):
    """A response (``SurveySubmitted``; a ``CheckInSubmitted`` reads as a pulse v1 response with no request).
    ``answers`` is the canonical JSON of the answers, free text included: reads for a partner leave it out
    (``domain.confidential``)."""

    __tablename__ = "survey_responses"

    relationship_id: Mapped[str] = mapped_column(Id, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    program_id: Mapped[str] = mapped_column(Id, index=True)
    request_id: Mapped[str | None] = mapped_column(Id)
    instrument: Mapped[str] = mapped_column(Name, index=True)
    version: Mapped[int] = mapped_column(Integer)
    stage: Mapped[str] = mapped_column(Name)
    submitted_at: Mapped[datetime]
    submitted_by: Mapped[str] = mapped_column(Id)
    role: Mapped[str] = mapped_column(Name)
    satisfaction: Mapped[int | None] = mapped_column(Integer)
    answers: Mapped[str]


class FunctionTag(Base):
    """One Kram function served, as a meeting, a goal or a survey answer said (``source``), in the stage then."""

    __tablename__ = "function_tags"

    relationship_id: Mapped[str] = mapped_column(Id, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    function: Mapped[str] = mapped_column(Name, primary_key=True)
    program_id: Mapped[str] = mapped_column(Id, index=True)
    family: Mapped[str] = mapped_column(Name)
    source: Mapped[str] = mapped_column(Name)
    stage: Mapped[str] = mapped_column(Name)


class Nudge(Base):
    """The automatic prompts: acceptance reminders, kickoff nudges, escalations, inactivity warnings."""

    __tablename__ = "nudges"

    relationship_id: Mapped[str] = mapped_column(Id, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    program_id: Mapped[str] = mapped_column(Id, index=True)
    sent_at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(Name)  # the event type
    rule: Mapped[str] = mapped_column(Name)
    recipients: Mapped[str]  # comma-separated person ids ("" for the manager)
    message: Mapped[str]


class Separation(Base):
    """One row per separation episode, keyed by the seq that started it: a participant's proposal
    (``kind='proposed'``) or a timer moving cultivation to winding down (``kind='timer'``: term end, inactivity)."""

    __tablename__ = "separations"

    relationship_id: Mapped[str] = mapped_column(Id, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    program_id: Mapped[str] = mapped_column(Id, index=True)
    kind: Mapped[str] = mapped_column(Name)
    initiated_by: Mapped[str] = mapped_column(Id)
    reason: Mapped[str]
    started_at: Mapped[datetime]
    consent_due_at: Mapped[datetime | None]
    consented_at: Mapped[datetime | None]
    consented_by: Mapped[str | None] = mapped_column(Id)
    contested_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(Id)
    resolution: Mapped[str | None] = mapped_column(Name)
    winding_down_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    result: Mapped[str | None] = mapped_column(Name)  # redefinition | reconciled | closed


class RedefinitionOutcome(Base):
    __tablename__ = "redefinition_outcomes"

    relationship_id: Mapped[str] = mapped_column(Id, primary_key=True)
    person_id: Mapped[str] = mapped_column(Id, primary_key=True)
    program_id: Mapped[str] = mapped_column(Id, index=True)
    role: Mapped[str] = mapped_column(Name)
    outcome: Mapped[str] = mapped_column(Name)
    note: Mapped[str]
    recorded_at: Mapped[datetime]
    seq: Mapped[int] = mapped_column(Integer)


class ProgramFunnel(Base):
    """Per program: how many relationships reached each step (each counted once), and how the closed ones ended."""

    __tablename__ = "program_funnel"

    program_id: Mapped[str] = mapped_column(Id, primary_key=True)
    proposed: Mapped[int] = mapped_column(Integer, default=0)
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    kicked_off: Mapped[int] = mapped_column(Integer, default=0)
    cultivation: Mapped[int] = mapped_column(Integer, default=0)
    separation: Mapped[int] = mapped_column(Integer, default=0)
    redefinition: Mapped[int] = mapped_column(Integer, default=0)
    closed: Mapped[int] = mapped_column(Integer, default=0)
    declined: Mapped[int] = mapped_column(Integer, default=0)
    expired: Mapped[int] = mapped_column(Integer, default=0)
    rematched: Mapped[int] = mapped_column(Integer, default=0)
    terminated: Mapped[int] = mapped_column(Integer, default=0)
    did_not_start: Mapped[int] = mapped_column(Integer, default=0)
    collegial: Mapped[int] = mapped_column(Integer, default=0)
    friendship: Mapped[int] = mapped_column(Integer, default=0)
    ended: Mapped[int] = mapped_column(Integer, default=0)


FUNNEL_COLUMNS: tuple[str, ...] = tuple(c.name for c in ProgramFunnel.__table__.columns if c.name != "program_id")


class Program(Base):
    """One row per program chain; ``last_seq``/``last_hash`` are the chain's as for a relationship."""

    __tablename__ = "programs"

    program_id: Mapped[str] = mapped_column(Id, primary_key=True)
    name: Mapped[str]
    created_by: Mapped[str] = mapped_column(Id)
    policy_name: Mapped[str] = mapped_column(Name)
    policy_version: Mapped[str] = mapped_column(Name)
    policy: Mapped[str]  # the default policy's JSON (pinned on each relationship the program proposes)
    matching_version: Mapped[str] = mapped_column(Name)
    matching: Mapped[str]  # the matching configuration's JSON
    cycle_start: Mapped[str | None] = mapped_column(Name)  # ISO date
    cycle_end: Mapped[str | None] = mapped_column(Name)
    retention_days: Mapped[int | None] = mapped_column(Integer)  # ProgramConfigured; None: the global retention
    created_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    mentors: Mapped[int] = mapped_column(Integer)
    mentees: Mapped[int] = mapped_column(Integer)
    withdrawn: Mapped[int] = mapped_column(Integer)
    rounds: Mapped[int] = mapped_column(Integer)
    last_seq: Mapped[int] = mapped_column(Integer)
    last_hash: Mapped[str] = mapped_column(Hash)
    last_event_at: Mapped[datetime]


class ProgramEnrollment(Base):
    """A person in a role in a program, with the profile the score reads."""

    __tablename__ = "program_enrollments"

    program_id: Mapped[str] = mapped_column(Id, primary_key=True)
    person_id: Mapped[str] = mapped_column(Id, primary_key=True)
    role: Mapped[str] = mapped_column(Name, primary_key=True)
    profile: Mapped[str]  # JSON
    capacity: Mapped[int | None] = mapped_column(Integer)
    preferences: Mapped[str]  # JSON list, best first
    enrolled_by: Mapped[str] = mapped_column(Id)
    enrolled_at: Mapped[datetime]
    enrolled_seq: Mapped[int] = mapped_column(Integer)
    withdrawn_at: Mapped[datetime | None]
    withdrawn_reason: Mapped[str | None]


class ProgramRoundEntry(Base):
    """One mentee's outcome in one round: proposed to a mentor (with the score and the relationship), or unmatched
    with the reason."""

    __tablename__ = "program_round_entries"

    program_id: Mapped[str] = mapped_column(Id, primary_key=True)
    round_id: Mapped[str] = mapped_column(Id, primary_key=True)
    mentee_id: Mapped[str] = mapped_column(Id, primary_key=True)
    mentor_id: Mapped[str | None] = mapped_column(Id)
    score: Mapped[str | None] = mapped_column(Name)
    relationship_id: Mapped[str | None] = mapped_column(Id)
    reason: Mapped[str | None] = mapped_column(Name)
    method: Mapped[str] = mapped_column(Name)
    matching_version: Mapped[str] = mapped_column(Name)
    recorded_at: Mapped[datetime]
    seq: Mapped[int] = mapped_column(Integer)


class EventLog(Base):
    """The audit store: every envelope verbatim (``envelope`` = the exact canonical JSON published, as text) plus
    indexed columns and where it was read from Kafka."""

    __tablename__ = "event_log"

    relationship_id: Mapped[str] = mapped_column(Id, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36), index=True)
    program_id: Mapped[str] = mapped_column(Id, index=True)
    type: Mapped[str] = mapped_column(Name)
    schema_version: Mapped[int] = mapped_column(Integer)
    occurred_at: Mapped[datetime]
    actor_id: Mapped[str] = mapped_column(Id)
    actor_role: Mapped[str] = mapped_column(Name)
    causation_id: Mapped[str | None] = mapped_column(Id)
    prev_hash: Mapped[str] = mapped_column(Hash)
    hash: Mapped[str] = mapped_column(Hash)
    envelope: Mapped[str]
    kafka_topic: Mapped[str] = mapped_column(String(249))
    kafka_partition: Mapped[int] = mapped_column(Integer)
    kafka_offset: Mapped[int] = mapped_column(BigInteger)


class ProjectionOffset(Base):
    """The consumer positions, written in the same transaction as the rows they produced (the DB, not Kafka, is
    the source of truth): ``next_offset`` = the offset of the next message to apply."""

    __tablename__ = "projection_offsets"

    group_id: Mapped[str] = mapped_column(String(249), primary_key=True)
    topic: Mapped[str] = mapped_column(String(249), primary_key=True)
    partition: Mapped[int] = mapped_column(Integer, primary_key=True)
    next_offset: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime]


class DeadLetter(Base):
    """What could not be applied: ``kind`` = ``poison`` (undecodable, unknown type, failed upcast, chain or shape
    error; also sent to the dead-letter topic), ``gap`` (a seq is missing before this one) or ``conflict`` (a
    duplicate seq whose hash differs from the one applied)."""

    __tablename__ = "dead_letters"
    __table_args__ = (Index(None, "topic", "partition", "offset"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    group_id: Mapped[str] = mapped_column(String(249))
    topic: Mapped[str] = mapped_column(String(249))
    partition: Mapped[int] = mapped_column(Integer)
    offset: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(Name, index=True)
    error: Mapped[str]
    relationship_id: Mapped[str | None] = mapped_column(Id, index=True)
    seq: Mapped[int | None] = mapped_column(Integer)
    event_id: Mapped[str | None] = mapped_column(String(64))
    event_type: Mapped[str | None] = mapped_column(Name)
    message_key: Mapped[str | None]
    message_value: Mapped[bytes | None] = mapped_column(LargeBinary)
    recorded_at: Mapped[datetime]


PROJECTION_TABLES: tuple[str, ...] = (
    "relationships",
    "stage_transitions",
    "stage_durations",
    "meetings",
    "goals",
    "check_ins",
    "survey_requests",
    "survey_responses",
    "function_tags",
    "nudges",
    "separations",
    "redefinition_outcomes",
    "program_funnel",
    "programs",
    "program_enrollments",
    "program_round_entries",
    "event_log",
    "dead_letters",
)
"""The tables a rebuild replaces (``projection_offsets`` is handled on its own)."""


def table_of(model: type[Base]) -> Table:
    """The Core table of a model (typed for mypy)."""
    return cast(Table, model.__table__)
