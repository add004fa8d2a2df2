"""Who issues a command: ``Actor{id, role}``."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["SYSTEM", "Actor", "Role"]


class Role(StrEnum):
    MENTOR = "mentor"
    MENTEE = "mentee"
    MANAGER = "manager"
    SYSTEM = "system"


class Actor(BaseModel):
    """A person (or the system, for timers) acting on a relationship."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1)
    role: Role

    def __str__(self) -> str:
        return f"{self.role.value} {self.id}"


SYSTEM = Actor(id="system", role=Role.SYSTEM)
