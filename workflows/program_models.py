"""The data the program workflow takes, carries and returns (pydantic, through the pydantic data converter)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from domain import Envelope
from domain.programs.state import ProgramState

__all__ = [
    "PROGRAM_WORKFLOW_TYPE",
    "ProgramCommandResult",
    "ProgramLimits",
    "ProgramWorkflowInput",
    "program_workflow_id",
]

PROGRAM_WORKFLOW_TYPE = "ProgramWorkflow"


def program_workflow_id(program_id: str) -> str:
    return f"program-{program_id}"


class ProgramLimits(BaseModel):
    """What one run of a program workflow holds before it continues as new (Temporal: 2 MB per payload, 50 MB and
    51,200 events per history). The state is digests and counters (about 190 KB for 10,000 enrollments); an
    update's result is a few counters; the idempotency records and the outbox carried over are bounded."""

    model_config = ConfigDict(frozen=True)

    updates_per_run: int = Field(1_000, ge=1, description="accepted updates before continue-as-new")
    history_bytes_per_run: int = Field(
        1_000_000,
        ge=1,
        description="history size before continue-as-new: a worker that lost its cache replays at most this much "
        "(a 4 MB program history took 6 to 11 s to replay on a loaded 2-core machine, against the 10 s task timeout)",
    )
    command_records: int = Field(1_000, ge=1, description="command ids remembered for idempotency (oldest evicted)")
    publish_batch: int = Field(100, ge=1, description="envelopes per publishing activity call (≤ 1.4 MB)")
    max_carried_outbox: int = Field(50, ge=0, description="continue-as-new waits until the outbox is this short")


class ProgramWorkflowInput(BaseModel):
    program_id: str
    state: ProgramState | None = None
    outbox: list[Envelope] = Field(default_factory=list)
    commands: dict[str, tuple[int, int]] = Field(default_factory=dict)
    published_through: int = 0
    limits: ProgramLimits = ProgramLimits()
    run: int = 1


class ProgramCommandResult(BaseModel):
    """What an accepted program command did: small on purpose (a 5,000-person program sends many of them, and each
    result is written to the history)."""

    command_id: str
    program_id: str
    duplicate: bool
    first_seq: int
    last_seq: int
    mentors: int
    mentees: int
    rounds: int
    closed: bool
