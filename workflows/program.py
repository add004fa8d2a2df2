"""``ProgramWorkflow``: one Temporal workflow per program (issue 14, DESIGN §10).

The single writer of the program's hash chain (``program:<P>``). Orchestration only: ``decide_program`` /
``execute_program`` (domain/programs/core.py) decide; the workflow feeds them ``workflow.now()`` and
``workflow.uuid4()``, keeps the chain head with ids and counters (:class:`~domain.programs.state.ProgramState`), and
publishes every envelope in seq order through the same publishing activity as a relationship (key = the chain id).

Commands are one update, ``command``: the validator runs ``decide_program`` (a refusal is an ``ApplicationError``
whose type is the ``DomainError`` class name, or ``ProgramNotFound``; nothing reaches the history); the handler is
synchronous. The command id is the update id, remembered with its seq span, so a re-sent command appends nothing.
After ``ProgramLimits.updates_per_run`` updates (or when Temporal suggests it) the run continues as new, carrying
the state, the remembered command ids and a short outbox. After ``CycleClosed`` and the last publication, it ends.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain import DomainError, Envelope, RelationshipNotFound
    from domain.programs.commands import ProgramCommand
    from domain.programs.core import decide_program, execute_program
    from domain.programs.state import ProgramState
    from workflows.models import ACTIVITY_PUBLISH
    from workflows.program_models import ProgramCommandResult, ProgramWorkflowInput
    from workflows.relationship import PUBLISH_PARKED, PUBLISH_RETRY, PUBLISH_TIMEOUT

__all__ = ["PROGRAM_NOT_FOUND", "WITHDRAW_OWN_ROLE_PATCH", "ProgramWorkflow"]

PROGRAM_NOT_FOUND = "ProgramNotFound"
WITHDRAW_OWN_ROLE_PATCH = "program-withdraw-own-role"
"""A participant withdraws only their own enrollment in their own role. Histories recorded before it accepted
``mentee:X`` withdrawing X's mentor enrollment; they replay under the first rule (``legacy``)."""


# ``ConfigureProgram`` / ``ProgramConfigured`` (a new command) needs no patch: no recorded history holds one (the
# older code could not decode it), and what the workflow does for every older command is unchanged.


def _legacy(command: ProgramCommand) -> bool:
    """Whether this accepted command is decided under the first rules (only a withdrawal differs)."""
    return command.type == "WithdrawParticipant" and not workflow.patched(WITHDRAW_OWN_ROLE_PATCH)


def _rejection(error: DomainError | RelationshipNotFound) -> ApplicationError:
    if isinstance(error, RelationshipNotFound):
        return ApplicationError(str(error), type=PROGRAM_NOT_FOUND, non_retryable=True)
    return ApplicationError(error.rule, type=error.code, non_retryable=True)


@workflow.defn(name="ProgramWorkflow")
class ProgramWorkflow:
    @workflow.init
    def __init__(self, input: ProgramWorkflowInput) -> None:
        self._limits = input.limits
        self._state = input.state or ProgramState.new(input.program_id)
        self._outbox: list[Envelope] = list(input.outbox)
        self._commands: dict[str, tuple[int, int]] = dict(input.commands)
        self._published_through = input.published_through
        self._run = input.run
        self._updates = 0
        self._publishing = False
        self._draining = False

    @workflow.run
    async def run(self, input: ProgramWorkflowInput) -> ProgramState:
        await workflow.wait_condition(workflow.all_handlers_finished)
        if not self._state.exists:
            # the create that started this run was refused: end, so the id can be created again
            raise ApplicationError(f"program {input.program_id} was not created", type=PROGRAM_NOT_FOUND)
        publisher = asyncio.create_task(self._publish_loop())
        await workflow.wait_condition(lambda: self._finished() or self._continue_as_new_due())
        self._draining = True
        await workflow.wait_condition(lambda: workflow.all_handlers_finished() and not self._publishing)
        publisher.cancel()
        if self._finished():
            return self._state
        workflow.continue_as_new(
            ProgramWorkflowInput(
                program_id=self._state.program_id,
                state=self._state,
                outbox=self._outbox,
                commands=self._commands,
                published_through=self._published_through,
                limits=self._limits,
                run=self._run + 1,
            )
        )

    def _finished(self) -> bool:
        return self._state.closed and not self._outbox and not self._publishing

    def _continue_as_new_due(self) -> bool:
        if len(self._outbox) > self._limits.max_carried_outbox:
            return False  # publish first: the carried input must stay small
        info = workflow.info()
        return (
            self._updates >= self._limits.updates_per_run
            or info.get_current_history_size() >= self._limits.history_bytes_per_run
            or info.is_continue_as_new_suggested()
        )

    async def _publish_loop(self) -> None:
        while True:
            await workflow.wait_condition(lambda: bool(self._outbox) and not self._draining)
            batch = self._outbox[: self._limits.publish_batch]
            self._publishing = True
            try:
                await workflow.execute_activity(
                    ACTIVITY_PUBLISH, batch, start_to_close_timeout=PUBLISH_TIMEOUT, retry_policy=PUBLISH_RETRY
                )
            except ActivityError as error:
                workflow.logger.error("publishing program seq %d failed (%s); retried later", batch[0].seq, error)
                self._publishing = False
                await workflow.sleep(PUBLISH_PARKED)
                continue
            finally:
                self._publishing = False
            del self._outbox[: len(batch)]
            self._published_through = batch[-1].seq

    @workflow.update
    def command(self, command: ProgramCommand) -> ProgramCommandResult:
        known = self._commands.get(command.command_id)
        if known is not None:
            return self._result(command.command_id, known, duplicate=True)
        try:
            state, envelopes = execute_program(
                self._state, command, workflow.now(), lambda: str(workflow.uuid4()), legacy=_legacy(command)
            )
        except (DomainError, RelationshipNotFound) as error:
            raise _rejection(error) from None
        span = (self._state.seq + 1, state.seq)
        self._state = state
        self._outbox.extend(envelopes)
        self._commands[command.command_id] = span
        while len(self._commands) > self._limits.command_records:
            del self._commands[next(iter(self._commands))]
        self._updates += 1
        return self._result(command.command_id, span, duplicate=False)

    @command.validator
    def _validate(self, command: ProgramCommand) -> None:
        if command.command_id in self._commands:
            return
        # a validator runs only for a new update (never on replay): always the current rules
        try:
            decide_program(self._state, command, workflow.now())
        except (DomainError, RelationshipNotFound) as error:
            raise _rejection(error) from None

    def _result(self, command_id: str, span: tuple[int, int], *, duplicate: bool) -> ProgramCommandResult:
        s = self._state
        return ProgramCommandResult(
            command_id=command_id,
            program_id=s.program_id,
            duplicate=duplicate,
            first_seq=span[0],
            last_seq=span[1],
            mentors=s.mentors,
            mentees=s.mentees,
            rounds=s.rounds,
            closed=s.closed,
        )

    @workflow.query
    def state(self) -> ProgramState:
        return self._state
