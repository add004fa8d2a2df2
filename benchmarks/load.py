"""Load for benchmarks 1, 2 and 5: relationships brought to the trial through the real client, and a stream of
commands that are legal there forever (LogMeeting, SubmitCheckIn, SetGoal)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from domain import (
    AcceptMatch,
    Actor,
    CommandBase,
    LogMeeting,
    ProposeRelationship,
    Role,
    SetGoal,
    SignAgreement,
    SubmitCheckIn,
    builtin_policy,
)
from domain.limits import MAX_GOALS_PER_RELATIONSHIP

__all__ = ["Pair", "bare_send", "bare_start", "command", "open_relationship", "proposal", "retrying"]

T = TypeVar("T")


class Pair:
    def __init__(self, relationship_id: str) -> None:
        self.relationship_id = relationship_id
        self.manager = Actor(id="pm-bench", role=Role.MANAGER)
        self.mentor = Actor(id=f"m-{relationship_id}", role=Role.MENTOR)
        self.mentee = Actor(id=f"e-{relationship_id}", role=Role.MENTEE)
        self.goals_set = 0  # SetGoal commands of the stream so far (a relationship holds at most 100 goals)


def _cid() -> str:
    return str(uuid.uuid4())


GOALS_IN_STREAM = MAX_GOALS_PER_RELATIONSHIP // 2
"""SetGoal commands per relationship at most; after them the stream's third command is a LogMeeting. A relationship
holds at most MAX_GOALS_PER_RELATIONSHIP goals (the agreement's one included), and a 20-second run at one client
sends more commands than three times that: the stream must stay legal however long it runs."""


def command(pair: Pair, i: int) -> LogMeeting | SubmitCheckIn | SetGoal:
    """The i-th command of the stream: legal in the trial and in cultivation, any number of times."""
    kind = i % 3
    if kind == 2 and pair.goals_set >= GOALS_IN_STREAM:
        kind = 0
    if kind == 0:
        held = datetime.now(UTC)  # after the proposal (same clock), not after the workflow task starts
        return LogMeeting(command_id=_cid(), actor=pair.mentee, held_at=held, duration_minutes=45)
    if kind == 1:
        return SubmitCheckIn(command_id=_cid(), actor=pair.mentor, satisfaction=4, comment="on track")
    pair.goals_set += 1
    return SetGoal(command_id=_cid(), actor=pair.mentee, text=f"goal {i}")


def proposal(pair: Pair, program: str) -> ProposeRelationship:
    return ProposeRelationship(
        command_id=_cid(),
        actor=pair.manager,
        relationship_id=pair.relationship_id,
        program_id=program,
        mentor_id=pair.mentor.id,
        mentee_id=pair.mentee.id,
        policy=builtin_policy("mentoring-12m"),
        match_method="algorithmic",
    )


async def open_relationship(client: Any, pair: Pair, program: str) -> int:
    """Propose, accept (both), sign (both) through ``MentorflowClient``: the relationship is in its trial.
    Returns its last seq."""
    await client.propose(proposal(pair, program))
    for actor in (pair.mentor, pair.mentee):
        await client.send(pair.relationship_id, AcceptMatch(command_id=_cid(), actor=actor))
    result = None
    for actor in (pair.mentor, pair.mentee):
        result = await client.send(
            pair.relationship_id,
            SignAgreement(command_id=_cid(), actor=actor, goals=["grow as an engineer"], cadence="P2W"),
        )
    assert result is not None
    return int(result.last_seq)


async def retrying(attempt: Callable[[], Awaitable[T]], tries: int = 20) -> T:
    """For the bare workflow: retry what Temporal refuses for load or during continue-as-new (the real client
    does the same in ``MentorflowClient._with_retries``)."""
    from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError
    from temporalio.service import RPCError

    delay = 0.02
    for n in range(tries):
        try:
            return await attempt()
        except (RPCError, WorkflowUpdateRPCTimeoutOrCancelledError):
            if n == tries - 1:
                raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)
    raise AssertionError("unreachable")


async def bare_start(client: Any, task_queue: str, relationship_id: str, first: CommandBase) -> None:
    """Update-with-start of the bare workflow (the same Temporal operation ``propose`` makes)."""
    from temporalio.client import WithStartWorkflowOperation
    from temporalio.common import WorkflowIDConflictPolicy

    from benchmarks.bare import BareWorkflow
    from workflows.models import RelationshipWorkflowInput

    async def attempt() -> None:
        op = WithStartWorkflowOperation(
            BareWorkflow.run,
            RelationshipWorkflowInput(relationship_id=relationship_id),
            id=f"bare-{relationship_id}",
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        await client.execute_update_with_start_workflow(
            BareWorkflow.command, first, start_workflow_operation=op, id=first.command_id
        )

    await retrying(attempt)


async def bare_send(client: Any, relationship_id: str, cmd: CommandBase) -> None:
    from benchmarks.bare import BareWorkflow

    handle = client.get_workflow_handle(f"bare-{relationship_id}")
    await retrying(lambda: handle.execute_update(BareWorkflow.command, cmd, id=cmd.command_id))
