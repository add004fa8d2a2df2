"""What a program's workflow holds (issue 14): the chain head, its configuration, counters and who is enrolled.

No profile and no id: who is enrolled in which role is kept as a 16-hex-digit digest of ``role:person``
(:func:`member_key`), so a program of 5,000 mentees and 5,000 mentors holds about 190 KB here whatever the length
of their ids, and every query and continue-as-new input stays far under Temporal's 2 MB payload limit. The ids and
profiles are in the projection (``program_enrollments``).
"""

from __future__ import annotations

import hashlib
from datetime import date

from pydantic import BaseModel, ConfigDict, field_serializer

from domain.matching import MatchingConfig
from domain.policy import LifecyclePolicy
from domain.programs.events import ParticipantRole, program_chain_id
from domain.state import GENESIS_HASH

__all__ = ["ProgramState", "member_key"]


def member_key(role: ParticipantRole, person_id: str) -> str:
    """The digest of a person in a role (64 bits: a collision among 10,000 people has odds of about 1 in 10^11)."""
    return hashlib.sha256(f"{role}:{person_id}".encode()).hexdigest()[:16]


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
    retention_days: int | None = None  # ProgramConfigured: days personal data of closed relationships is kept
    members: frozenset[str] = frozenset()  # member_key(role, person) of everyone enrolled now
    withdrawn: frozenset[str] = frozenset()  # member_key(role, person) of everyone who withdrew
    mentors: int = 0
    mentees: int = 0
    rounds: int = 0
    closed: bool = False

    @classmethod
    def new(cls, program_id: str) -> ProgramState:
        return cls(program_id=program_id, relationship_id=program_chain_id(program_id))

    @property
    def exists(self) -> bool:
        return self.seq > 0

    def is_enrolled(self, role: ParticipantRole, person_id: str) -> bool:
        return member_key(role, person_id) in self.members

    @field_serializer("members", "withdrawn")
    def _sorted(self, ids: frozenset[str]) -> list[str]:
        """Sorted: the same state is the same JSON in every process (set order depends on the hash seed)."""
        return sorted(ids)
