"""What a program's workflow holds (issue 14): the chain head, its configuration, counters and the enrolled ids.

No profile: a program of 5,000 people holds about 10,000 ids here (some 150 KB of JSON), so every query and every
continue-as-new input stays far under Temporal's 2 MB payload limit. The profiles are in the projection.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, field_serializer

from domain.matching import MatchingConfig
from domain.policy import LifecyclePolicy
from domain.programs.events import ParticipantRole, program_chain_id
from domain.state import GENESIS_HASH

__all__ = ["ProgramState", "member_key"]


def member_key(role: ParticipantRole, person_id: str) -> str:
    return f"{role}:{person_id}"


class ProgramState(BaseModel):
    model_config = ConfigDict(frozen=True)

    program_id: str
    relationship_id: str  # the chain id, program:<P>
    seq: int = 0
    last_hash: str = GENESIS_HASH
    name: str | None = None
    default_policy: LifecyclePolicy | None = None
    matching: MatchingConfig | None = None
    cycle_start: date | None = None
    cycle_end: date | None = None
    mentors: frozenset[str] = frozenset()
    mentees: frozenset[str] = frozenset()
    withdrawn: frozenset[str] = frozenset()  # member_key(role, person) of everyone who withdrew
    rounds: int = 0
    closed: bool = False

    @classmethod
    def new(cls, program_id: str) -> ProgramState:
        return cls(program_id=program_id, relationship_id=program_chain_id(program_id))

    @property
    def exists(self) -> bool:
        return self.seq > 0

    def enrolled(self, role: ParticipantRole) -> frozenset[str]:
        return self.mentors if role == "mentor" else self.mentees

    @field_serializer("mentors", "mentees", "withdrawn")
    def _sorted(self, ids: frozenset[str]) -> list[str]:
        """Sorted: the same state is the same JSON in every process (set order depends on the hash seed)."""
        return sorted(ids)
