"""The program's facts (issue 14, DESIGN §10): past tense, frozen, one hash chain per program.

A program's chain uses the relationship envelope and chain rules unchanged (:mod:`domain.envelope`): its
``relationship_id`` is ``program:<P>`` (:func:`program_chain_id`) and its ``program_id`` is ``P``. Profiles travel
once, in their ``ParticipantEnrolled``; the workflow keeps only ids and counters (:mod:`domain.programs.state`), the
projection keeps the profiles (``program_enrollments``).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, SerializationInfo, SerializerFunctionWrapHandler, model_serializer

from domain.events import EventBase
from domain.matching import MatchingConfig, Profile
from domain.policy import LifecyclePolicy

__all__ = [
    "CHAIN_PREFIX",
    "PROGRAM_EVENT_CLASSES",
    "CycleClosed",
    "MatchingConfigured",
    "MatchingRoundCompleted",
    "ParticipantEnrolled",
    "ParticipantRole",
    "ParticipantWithdrawn",
    "ProgramConfigured",
    "ProgramCreated",
    "ProgramEvent",
    "RoundPair",
    "RoundUnmatched",
    "is_program_chain",
    "program_chain_id",
]

CHAIN_PREFIX = "program:"
"""A program's chain id is this prefix and the program id (a relationship id never starts with it)."""

ParticipantRole = Literal["mentor", "mentee"]


def program_chain_id(program_id: str) -> str:
    return f"{CHAIN_PREFIX}{program_id}"


def is_program_chain(chain_id: str) -> bool:
    return chain_id.startswith(CHAIN_PREFIX)


class ProgramCreated(EventBase):
    """Seq 1 of every program chain."""

    type: Literal["ProgramCreated"] = "ProgramCreated"
    program_id: str
    name: str
    by: str
    default_policy: LifecyclePolicy
    matching: MatchingConfig
    cycle_start: date | None = None
    cycle_end: date | None = None


class MatchingConfigured(EventBase):
    type: Literal["MatchingConfigured"] = "MatchingConfigured"
    by: str
    matching: MatchingConfig


class ProgramConfigured(EventBase):
    """What a manager changed of the program's configuration: only the fields given are present (an absent field
    keeps its value and is left out of the payload, so the event seals the same bytes whatever fields later versions
    add). ``default_policy`` is pinned by the proposals made after it; running relationships keep theirs.
    ``retention_days``: how long personal data of the program's closed relationships is kept (issue 20)."""

    type: Literal["ProgramConfigured"] = "ProgramConfigured"
    by: str
    name: str | None = None
    default_policy: LifecyclePolicy | None = None
    matching: MatchingConfig | None = None
    cycle_start: date | None = None
    cycle_end: date | None = None
    retention_days: int | None = None

    @model_serializer(mode="wrap")
    def _omit_absent(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> dict[str, object]:
        data: dict[str, object] = handler(self)
        return {k: v for k, v in data.items() if v is not None}


class ParticipantEnrolled(EventBase):
    """One person in one role, with the profile the score reads (a mentor's capacity, a mentee's ranking)."""

    type: Literal["ParticipantEnrolled"] = "ParticipantEnrolled"
    person_id: str
    role: ParticipantRole
    by: str
    profile: Profile
    capacity: int | None = None
    preferences: tuple[str, ...] = ()


class ParticipantWithdrawn(EventBase):
    type: Literal["ParticipantWithdrawn"] = "ParticipantWithdrawn"
    person_id: str
    role: ParticipantRole
    by: str
    reason: str


class RoundPair(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    mentee: str
    mentor: str
    score: Decimal
    relationship_id: str


class RoundUnmatched(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    mentee: str
    reason: str


class MatchingRoundCompleted(EventBase):
    """One part of an algorithmic round (a round over more mentees than ``MAX_ROUND_PART`` is several parts, so no
    envelope passes ``MAX_ENVELOPE_BYTES``); ``total_score`` is the whole round's."""

    type: Literal["MatchingRoundCompleted"] = "MatchingRoundCompleted"
    round_id: str
    part: int
    parts: int
    by: str
    method: str
    matching_version: str
    total_score: Decimal
    proposals: tuple[RoundPair, ...] = ()
    unmatched: tuple[RoundUnmatched, ...] = ()


class CycleClosed(EventBase):
    """The last event of a program chain: no enrollment, round or configuration after it."""

    type: Literal["CycleClosed"] = "CycleClosed"
    by: str


ProgramEvent = (
    ProgramCreated
    | MatchingConfigured
    | ProgramConfigured
    | ParticipantEnrolled
    | ParticipantWithdrawn
    | MatchingRoundCompleted
    | CycleClosed
)

PROGRAM_EVENT_CLASSES: dict[str, type[EventBase]] = {
    cls.__name__: cls
    for cls in (
        ProgramCreated,
        MatchingConfigured,
        ProgramConfigured,
        ParticipantEnrolled,
        ParticipantWithdrawn,
        MatchingRoundCompleted,
        CycleClosed,
    )
}
