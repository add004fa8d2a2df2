"""What may be asked of a program (issue 14). Every field carries its limit (:mod:`domain.limits`); ``decide``
(:mod:`domain.programs.core`) checks them against the program."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from domain.actors import Actor
from domain.limits import (
    ACTOR,
    COMMAND_ID,
    MAX_CAPACITY,
    MAX_PREFERENCES,
    NAME,
    NOTE,
    PERSON_ID,
    POLICY,
    PROGRAM_ID,
    REASON,
)
from domain.matching import MatchingConfig, Profile
from domain.policy import LifecyclePolicy
from domain.programs.events import ParticipantRole, RoundPair, RoundUnmatched

__all__ = [
    "CONFIGURABLE",
    "MAX_ENROLL_BATCH",
    "MAX_RETENTION_DAYS",
    "MAX_ROUND_PART",
    "CloseCycle",
    "ConfigureMatching",
    "ConfigureProgram",
    "CreateProgram",
    "EnrollParticipants",
    "Participant",
    "ProgramCommand",
    "RecordMatchingRound",
    "WithdrawParticipant",
    "program_command_adapter",
]

MAX_ENROLL_BATCH = 100
"""Participants one enrollment command carries at most: a participant at every profile limit is about 14 KB, so 100
stay under 1.4 MB, inside Temporal's 2 MB payload; a bulk file of 5,000 people is sent as 50 commands (checked in
full before the first)."""
MAX_ROUND_PART = 1_000
"""Mentees (proposed and unmatched) one ``MatchingRoundCompleted`` carries at most: about 150 KB, well inside
``MAX_ENVELOPE_BYTES``."""

MAX_RETENTION_DAYS = 36_500
"""A program's retention is 1 day to 100 years."""
CONFIGURABLE = ("name", "default_policy", "matching", "cycle_start", "cycle_end", "retention_days")
"""What ``ConfigureProgram`` may change (each optional; ``ProgramConfigured`` carries the ones given)."""

ProgramId = Annotated[str, PROGRAM_ID]
PersonId = Annotated[str, PERSON_ID]


class _Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    command_id: Annotated[str, COMMAND_ID]
    actor: Annotated[Actor, ACTOR]
    program_id: ProgramId


class CreateProgram(_Command):
    type: Literal["CreateProgram"] = "CreateProgram"
    name: Annotated[str, REASON]
    default_policy: Annotated[LifecyclePolicy, POLICY]
    matching: MatchingConfig = MatchingConfig()
    cycle_start: date | None = None
    cycle_end: date | None = None

    @model_validator(mode="after")
    def _cycle(self) -> Self:
        if (self.cycle_start is None) != (self.cycle_end is None):
            raise ValueError("cycle_start, cycle_end: give both or neither")
        if self.cycle_start is not None and self.cycle_end is not None and self.cycle_end <= self.cycle_start:
            raise ValueError("cycle_end: must be after cycle_start")
        return self


class ConfigureMatching(_Command):
    type: Literal["ConfigureMatching"] = "ConfigureMatching"
    matching: MatchingConfig


class ConfigureProgram(_Command):
    """Change any of the program's name, default policy, matching configuration, cycle window and retention (at
    least one); ``decide`` checks the cycle window it leaves against the program's."""

    type: Literal["ConfigureProgram"] = "ConfigureProgram"
    name: Annotated[str, REASON] | None = None
    default_policy: Annotated[LifecyclePolicy, POLICY] | None = None
    matching: MatchingConfig | None = None
    cycle_start: date | None = None
    cycle_end: date | None = None
    retention_days: int | None = Field(default=None, ge=1, le=MAX_RETENTION_DAYS)

    @model_validator(mode="after")
    def _something(self) -> Self:
        if all(getattr(self, f) is None for f in CONFIGURABLE):
            raise ValueError(f"{', '.join(CONFIGURABLE)}: give at least one")
        return self


class Participant(BaseModel):
    """One person in one role: a mentor gives a capacity (1 to ``MAX_CAPACITY``), a mentee may rank up to
    ``MAX_PREFERENCES`` enrolled mentors."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    person_id: PersonId
    role: ParticipantRole
    profile: Profile
    capacity: int | None = Field(default=None, ge=1, le=MAX_CAPACITY)
    preferences: tuple[PersonId, ...] = Field(default=(), max_length=MAX_PREFERENCES)

    @model_validator(mode="after")
    def _role_fields(self) -> Self:
        if self.role == "mentor" and self.capacity is None:
            raise ValueError(f"capacity: a mentor must give one (1 to {MAX_CAPACITY}, MAX_CAPACITY)")
        if self.role == "mentee" and self.capacity is not None:
            raise ValueError("capacity: only a mentor has a capacity")
        if self.role == "mentor" and self.preferences:
            raise ValueError("preferences: only a mentee ranks mentors")
        if len(set(self.preferences)) != len(self.preferences):
            raise ValueError("preferences: must not name a mentor twice")
        if self.person_id in self.preferences:
            raise ValueError("preferences: must not name the mentee themself")
        return self


class EnrollParticipants(_Command):
    """One person (``mentorflow program enroll --person``) or a slice of a bulk file: all or nothing."""

    type: Literal["EnrollParticipants"] = "EnrollParticipants"
    participants: tuple[Participant, ...] = Field(min_length=1, max_length=MAX_ENROLL_BATCH)


class WithdrawParticipant(_Command):
    type: Literal["WithdrawParticipant"] = "WithdrawParticipant"
    person_id: PersonId
    role: ParticipantRole
    reason: Annotated[str, NOTE] = ""


class RecordMatchingRound(_Command):
    """Record one part of a round that was proposed (the relationships exist): the auditable decision."""

    type: Literal["RecordMatchingRound"] = "RecordMatchingRound"
    round_id: Annotated[str, COMMAND_ID]
    part: int = Field(ge=1)
    parts: int = Field(ge=1)
    method: Annotated[str, NAME] = "algorithmic"
    matching_version: Annotated[str, NAME]
    total_score: Decimal = Field(ge=0, max_digits=18, decimal_places=6)
    proposals: tuple[RoundPair, ...] = ()
    unmatched: tuple[RoundUnmatched, ...] = ()

    @model_validator(mode="after")
    def _part(self) -> Self:
        if self.part > self.parts:
            raise ValueError("part: must be at most parts")
        if len(self.proposals) + len(self.unmatched) > MAX_ROUND_PART:
            raise ValueError(f"proposals, unmatched: at most {MAX_ROUND_PART} mentees in one part (MAX_ROUND_PART)")
        return self


class CloseCycle(_Command):
    type: Literal["CloseCycle"] = "CloseCycle"


ProgramCommand = Annotated[
    CreateProgram
    | ConfigureMatching
    | ConfigureProgram
    | EnrollParticipants
    | WithdrawParticipant
    | RecordMatchingRound
    | CloseCycle,
    Field(discriminator="type"),
]


def program_command_adapter() -> TypeAdapter[ProgramCommand]:
    return TypeAdapter(ProgramCommand)
