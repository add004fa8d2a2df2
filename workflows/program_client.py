"""The Temporal facade for programs: create (update-with-start), send a command (update), read the state (query).

Raises the domain's errors: a ``DomainError`` subclass for a refused command (by the ``ApplicationError`` type),
:class:`domain.RelationshipNotFound` (for the program's chain id) when the program does not exist, and
:class:`workflows.client.RelationshipBusy` when Temporal keeps refusing for load.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from typing import Any

from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from domain import RelationshipNotFound
from domain.programs.commands import CreateProgram, EnrollParticipants, ProgramCommand, WithdrawParticipant
from domain.programs.events import program_chain_id
from domain.programs.state import ProgramState
from projections.privacy.cipher import FieldCipher
from workflows.client import MentorflowClient, RelationshipBusy, domain_error
from workflows.program import PROGRAM_NOT_FOUND, ProgramWorkflow
from workflows.program_models import ProgramCommandResult, ProgramLimits, ProgramWorkflowInput, program_workflow_id

__all__ = ["ProgramClient"]

_RETRY = frozenset({RPCStatusCode.RESOURCE_EXHAUSTED, RPCStatusCode.UNAVAILABLE, RPCStatusCode.ABORTED})


def _not_found(program_id: str) -> RelationshipNotFound:
    return RelationshipNotFound(program_chain_id(program_id), f"program {program_id} does not exist")


class ProgramClient:
    """``privacy``: the field cipher (``MENTORFLOW_PRIVACY__ENCRYPT``). Every command leaves through :meth:`send`,
    which seals what is personal first (an enrollment's profiles, a withdrawal's reason: :meth:`sealed`), so no door
    — the service, the CLI, the API or a script on this client — sends plaintext to the program workflow."""

    def __init__(
        self,
        client: Client,
        *,
        task_queue: str = "mentorflow",
        limits: ProgramLimits | None = None,
        busy_timeout: float = 30.0,
        privacy: FieldCipher | None = None,
    ) -> None:
        self.client = client
        self.task_queue = task_queue
        self.limits = limits or ProgramLimits()
        self.busy_timeout = busy_timeout
        self.privacy = privacy

    @classmethod
    def of(cls, relationships: MentorflowClient, **options: Any) -> ProgramClient:
        """The program client beside a relationship client: its Temporal client, task queue and field cipher."""
        return cls(relationships.client, task_queue=relationships.task_queue, privacy=relationships.privacy, **options)

    async def sealed(self, command: ProgramCommand) -> ProgramCommand:
        """``command`` with its personal fields sealed (docs/privacy.md): each enrolled profile under its person's
        key, a withdrawal's reason under the withdrawn person's key; as it is without a cipher. Idempotent: sealed
        text stays as it is, so a re-sent command keeps its command id's content."""
        if self.privacy is None:
            return command
        if isinstance(command, EnrollParticipants):
            return await asyncio.to_thread(self.privacy.seal_profiles, command)
        if isinstance(command, WithdrawParticipant):
            return await asyncio.to_thread(self.privacy.seal_withdrawal, command)
        return command

    def handle(self, program_id: str) -> Any:
        return self.client.get_workflow_handle(program_workflow_id(program_id), result_type=ProgramState)

    async def create(self, command: CreateProgram) -> ProgramCommandResult:
        """Start the program's workflow with its first command (a second create is refused by the rule)."""
        start = ProgramWorkflowInput(program_id=command.program_id, limits=self.limits)

        async def attempt() -> ProgramCommandResult:
            operation = WithStartWorkflowOperation(
                ProgramWorkflow.run,
                start,
                id=program_workflow_id(command.program_id),
                task_queue=self.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                # a refused create fails its run, so the id may be created again; a closed program never restarts
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
            )
            try:
                result: ProgramCommandResult = await self.client.execute_update_with_start_workflow(
                    ProgramWorkflow.command, command, start_workflow_operation=operation, id=command.command_id
                )
            finally:
                with contextlib.suppress(Exception):  # retrieved so asyncio does not report it; the update says why
                    await operation.workflow_handle()
            return result

        return await self._with_retries(command.program_id, attempt)

    async def send(self, command: ProgramCommand) -> ProgramCommandResult:
        command = await self.sealed(command)

        async def attempt() -> ProgramCommandResult:
            result: ProgramCommandResult = await self.handle(command.program_id).execute_update(
                ProgramWorkflow.command, command, id=command.command_id
            )
            return result

        return await self._with_retries(command.program_id, attempt)

    async def state(self, program_id: str) -> ProgramState:
        """The program's state (ids and counters; a closed program's final state)."""
        try:
            state: ProgramState = await self.handle(program_id).query(ProgramWorkflow.state)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise _not_found(program_id) from None
            raise
        except WorkflowQueryFailedError:
            raise _not_found(program_id) from None
        if not state.exists:
            raise _not_found(program_id)
        return state

    async def _with_retries(
        self, program_id: str, attempt: Callable[[], Awaitable[ProgramCommandResult]]
    ) -> ProgramCommandResult:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.busy_timeout
        delay = 0.05
        while True:
            try:
                return await attempt()
            except WorkflowUpdateFailedError as exc:
                cause = exc.cause
                if isinstance(cause, ApplicationError):
                    if cause.type == PROGRAM_NOT_FOUND:
                        raise _not_found(program_id) from None
                    error = domain_error(cause)
                    if error is not None:
                        raise error from None
                raise
            except WorkflowUpdateRPCTimeoutOrCancelledError as exc:
                last: Exception = exc
            except RPCError as exc:
                if exc.status == RPCStatusCode.NOT_FOUND:
                    raise _not_found(program_id) from None
                if exc.status not in _RETRY:
                    raise
                last = exc
            if loop.time() >= deadline:
                raise RelationshipBusy(
                    f"program {program_id}: not accepted within {self.busy_timeout:g}s (last: {last}); re-send it "
                    f"with the same command id (idempotent)",
                    command_id="",
                    outcome_unknown=True,
                ) from last
            await asyncio.sleep(random.uniform(0, delay))
            delay = min(delay * 2, 2.0)
