"""The Python client for platform engineers: commands, state, events and lists of relationships over Temporal.

::

    client = await MentorflowClient.connect("127.0.0.1:7233", "default")
    result = await client.propose(program="p1", mentor="ana", mentee="bo", by=Actor(id="mgr", role="manager"))
    await client.send(result.relationship_id, AcceptMatch(command_id=new_command_id(), actor=ana))

* A refused command raises the domain's ``DomainError`` subclass (``IllegalTransition``, ``NotAParticipant``, ...)
  with the rule that was broken; nothing was appended.
* Every command carries a ``command_id``; it is the Temporal update id, so re-sending a command (after a timeout, a
  crash) returns the first result and appends nothing (``CommandResult.duplicate``). The id is bound to its command:
  re-sent with other content (another relationship, actor or payload) it raises ``CommandIdConflict``.
* Temporal admits at most 10 updates in flight per workflow and refuses the 11th with ``RESOURCE_EXHAUSTED``; the
  client retries such refusals, RPC timeouts (a worker restarting: the same command id is applied once) and a
  workflow that is between two runs of continue-as-new, with capped exponential backoff and full jitter, for up to
  ``busy_timeout`` seconds, then raises :class:`RelationshipBusy`. Queries are retried the same way.
* A command to a relationship whose workflow has completed (closed, everything published) raises
  ``RelationshipClosedError`` with the outcome, unless it is a re-sent command the workflow remembers.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any, TypeVar

from temporalio.client import (
    Client,
    Interceptor,
    WithStartWorkflowOperation,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from domain import (
    Actor,
    Command,
    Envelope,
    IllegalTransition,
    InvalidCommand,
    LifecyclePolicy,
    ProposeRelationship,
    Reassign,
    RelationshipClosedError,
    RelationshipNotFound,
    RelationshipState,
    SignAgreement,
    SubmitSurvey,
    builtin_policy,
    parse_command,
)
from domain.confidential import requested_instrument
from projections.privacy.cipher import FieldCipher
from workflows.caller_publisher import CallerPublisher
from workflows.connection import TemporalAccess
from workflows.connection import connect as connect_temporal
from workflows.listing import RelationshipSummary, list_relationships
from workflows.models import (
    CommandIdConflict,
    CommandResult,
    EventsPage,
    Limits,
    PublisherCommand,
    RelationshipWorkflowInput,
    WorkflowStatus,
    check_binding,
    workflow_id,
)
from workflows.outcomes import (
    COMMAND_OUTCOMES,
    CommandObserver,
    EventsTruncated,
    RelationshipBusy,
    command_outcome,
    domain_error,
    new_command_id,
)
from workflows.relationship import PROGRAM, RelationshipWorkflow

__all__ = [
    "COMMAND_OUTCOMES",
    "CommandIdConflict",
    "CommandObserver",
    "CommandResult",
    "EventsTruncated",
    "MentorflowClient",
    "RelationshipBusy",
    "RelationshipNotFound",
    "RelationshipSummary",
    "command_outcome",
    "domain_error",
    "new_command_id",
]

T = TypeVar("T")

_RETRYABLE = {
    RPCStatusCode.RESOURCE_EXHAUSTED,
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.ABORTED,
    RPCStatusCode.DEADLINE_EXCEEDED,  # an RPC timeout (a worker restarting, a loaded server): outcome unknown
}
"""RPC failures a command (same command id: idempotent by its fingerprint) or a query is tried again after, for up to
``busy_timeout`` seconds."""

_RETRYABLE_READS = _RETRYABLE | {RPCStatusCode.CANCELLED}
"""A query also after the client's own RPC timeout ("Timeout expired", status CANCELLED): it changes nothing, and a
loaded server or a worker replaying a long history after a restart can take longer than one RPC to answer (seen:
a demo story failing on it right after its worker was killed)."""


def _unknown_update(exc: WorkflowUpdateFailedError) -> bool:
    """The workflow has no handler for the update (a worker from before it): the SDK's words for it."""
    cause = exc.cause
    return isinstance(cause, ApplicationError) and "expected but not found" in str(cause.message)


class MentorflowClient:
    def __init__(
        self,
        client: Client,
        *,
        task_queue: str = "mentorflow",
        limits: Limits | None = None,
        busy_timeout: float = 30.0,
        on_command: CommandObserver | None = None,
        privacy: FieldCipher | None = None,
        publisher: CallerPublisher | None = None,
    ) -> None:
        self.on_command = on_command
        self._publisher: CallerPublisher | None = None
        self.publisher = publisher  # with one, send() publishes what its commands append (workflows/handover.py)
        self._no_handover_update = False  # a worker turned out to have no command_by_publisher: stop asking
        self.privacy = privacy
        self.client = client
        self.task_queue = task_queue
        self.limits = limits
        self.busy_timeout = busy_timeout

    @classmethod
    async def connect(
        cls,
        address: str,
        namespace: str = "default",
        *,
        task_queue: str = "mentorflow",
        access: TemporalAccess | None = None,
        interceptors: Sequence[Interceptor] = (),
        **options: Any,
    ) -> MentorflowClient:
        """Connect to Temporal at ``address`` with the project's data converter, ``access`` (TLS, API key;
        workflows/connection.py) and ``interceptors`` (tracing). The composition root (workers/) reads the settings
        and passes them in."""
        client = await connect_temporal(address, namespace, access=access, interceptors=interceptors)
        return cls(client, task_queue=task_queue, **options)

    def handle(self, relationship_id: str) -> WorkflowHandle[Any, Any]:
        return self.client.get_workflow_handle(workflow_id(relationship_id), result_type=RelationshipState)

    # --- commands -------------------------------------------------------------------------------------------

    async def propose(
        self,
        command: ProposeRelationship | None = None,
        *,
        program: str | None = None,
        mentor: str | None = None,
        mentee: str | None = None,
        by: Actor | None = None,
        relationship_id: str | None = None,
        policy: LifecyclePolicy | str = "mentoring-12m",
        match_method: str = "manual",
        match_score: Decimal | float | None = None,
        predecessor_id: str | None = None,
        command_id: str | None = None,
        rules_version: int | None = None,
        renewals_used: int | None = None,
        with_state: bool = True,
    ) -> CommandResult:
        """Start a relationship (update-with-start). Pass a ready :class:`ProposeRelationship`, or its fields.

        A ``predecessor_id`` must name a relationship that exists (the domain is pure and cannot look): otherwise
        :class:`InvalidCommand` naming the field. ``rules_version`` None pins the current rules. ``with_state``: see
        :meth:`send`."""
        if command is None:
            if not (program and mentor and mentee and by):
                raise TypeError("propose() needs a ProposeRelationship, or program, mentor, mentee and by")
            command = ProposeRelationship(
                command_id=command_id or new_command_id(),
                actor=by,
                relationship_id=relationship_id or f"rel-{uuid.uuid4().hex[:12]}",
                program_id=program,
                mentor_id=mentor,
                mentee_id=mentee,
                policy=builtin_policy(policy) if isinstance(policy, str) else policy,
                match_method=match_method,
                match_score=Decimal(str(match_score)) if match_score is not None else None,
                predecessor_id=predecessor_id,
                rules_version=rules_version,
                renewals_used=renewals_used,
            )
        proposal = command
        if proposal.predecessor_id is not None:
            await self._check_predecessor(proposal.predecessor_id)
        rid = proposal.relationship_id
        start_input = RelationshipWorkflowInput(relationship_id=rid, program_id=proposal.program_id)
        if self.limits is not None:
            start_input = start_input.model_copy(update={"limits": self.limits})

        operations: list[WithStartWorkflowOperation[Any, Any]] = []

        async def attempt() -> CommandResult:
            operation = WithStartWorkflowOperation(
                RelationshipWorkflow.run,
                start_input,
                id=workflow_id(rid),
                task_queue=self.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                # A closed relationship keeps its id: never start a second run (seq would restart at 1).
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                search_attributes=TypedSearchAttributes([SearchAttributePair(PROGRAM, proposal.program_id)]),
            )
            operations.append(operation)
            result: CommandResult = await self.client.execute_update_with_start_workflow(
                RelationshipWorkflow.command, proposal, start_workflow_operation=operation, id=proposal.command_id
            )
            return result

        async def propose_once() -> CommandResult:
            return await self._with_retries(rid, proposal.command_id, attempt)

        async def propose_bound() -> CommandResult:
            # a re-sent command id must carry the same command (check_binding), whichever way the result came
            explained = await self._propose_or_explain(rid, proposal.command_id, propose_once, operations)
            return check_binding(proposal, explained)

        return await self._completed(rid, await self._observed(proposal.type, propose_bound()), with_state)

    async def _observed(self, command_type: str, call: Awaitable[T]) -> T:
        """Await ``call`` and tell :attr:`on_command` how it ended."""
        try:
            result = await call
        except BaseException as exc:
            if self.on_command is not None and not isinstance(exc, asyncio.CancelledError):
                self.on_command(command_type, command_outcome(exc))
            raise
        if self.on_command is not None:
            self.on_command(command_type, command_outcome(None))
        return result

    async def _propose_or_explain(
        self,
        rid: str,
        command_id: str,
        propose_once: Callable[[], Awaitable[CommandResult]],
        operations: list[WithStartWorkflowOperation[Any, Any]],
    ) -> CommandResult:
        try:
            return await propose_once()
        except WorkflowAlreadyStartedError:
            for operation in operations:  # retrieve the start's error too (else asyncio reports it as unretrieved)
                with contextlib.suppress(Exception):
                    await operation.workflow_handle()
            closed = await self._closed_outcome(rid, command_id)
            if isinstance(closed, CommandResult):
                return closed
            raise IllegalTransition(
                f"relationship {rid} already exists ({closed}); ProposeRelationship only starts a new one"
            ) from None

    async def _check_predecessor(self, predecessor_id: str) -> None:
        try:
            await self.handle(predecessor_id).describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise InvalidCommand(
                    f"predecessor_id: relationship {predecessor_id} does not exist (a successor must link to a real "
                    f"relationship)"
                ) from None
            raise

    async def reassign(
        self,
        relationship_id: str,
        *,
        by: Actor,
        reason: str,
        mentor: str,
        mentee: str,
        successor_id: str | None = None,
        match_method: str = "manual",
        with_state: bool = True,
    ) -> tuple[CommandResult, CommandResult]:
        """Manager rematch: close ``relationship_id`` as ``rematched`` with a link to its successor, then propose the
        successor (same program and policy, ``predecessor_id`` linking back). Lineage on both relationships.
        ``with_state``: see :meth:`send`."""
        old = await self.state(relationship_id)
        if old.policy is None or old.program_id is None:
            raise IllegalTransition(f"relationship {relationship_id} was never proposed; nothing to reassign")
        successor = successor_id or f"rel-{uuid.uuid4().hex[:12]}"
        closed = await self.send(
            relationship_id,
            Reassign(command_id=new_command_id(), actor=by, successor_id=successor, reason=reason),
            with_state=with_state,
        )
        started = await self.propose(
            program=old.program_id,
            mentor=mentor,
            mentee=mentee,
            by=by,
            relationship_id=successor,
            policy=old.policy,
            match_method=match_method,
            predecessor_id=relationship_id,
            renewals_used=old.renewals or None,  # the renewal cap holds across a rematch (issue 14)
            with_state=with_state,
        )
        return closed, started

    async def send(
        self, relationship_id: str, command: Command | Mapping[str, Any], *, with_state: bool = True
    ) -> CommandResult:
        """Send one command (a domain command, or its JSON-like mapping with ``type``). With a :attr:`privacy`
        cipher, its personal text is sealed under its author's key before it leaves (docs/privacy.md).

        The result's ``view`` is the relationship right after the command. ``with_state`` (default) also fills in
        ``state``, the whole state, with a ``state`` query after the update returned (so it may already show what
        came after the command: a timer's events, another caller's command); ``with_state=False`` skips that round
        trip (``state`` stays None unless a worker from before the slim result sent it)."""
        cmd: Command = parse_command(command) if isinstance(command, Mapping) else command
        cmd = await self._sealed(relationship_id, cmd)

        async def attempt() -> CommandResult:
            if self.publisher is not None and not self._no_handover_update:
                return await self._by_publisher(relationship_id, cmd, self.publisher)
            result: CommandResult = await self.handle(relationship_id).execute_update(
                RelationshipWorkflow.command, cmd, id=cmd.command_id
            )
            return result

        async def send_bound() -> CommandResult:
            return check_binding(cmd, await self._with_retries(relationship_id, cmd.command_id, attempt))

        result = await self._observed(cmd.type, send_bound())
        if self.publisher is not None:
            await self.publisher.after_command(result)
        return await self._completed(relationship_id, result, with_state)

    @property
    def publisher(self) -> CallerPublisher | None:
        return self._publisher

    @publisher.setter
    def publisher(self, publisher: CallerPublisher | None) -> None:
        self._publisher = publisher
        if publisher is not None:
            publisher.attach(self._confirm_published)  # its confirmations outside a command go through this client

    async def _confirm_published(self, relationship_id: str, published_through: int) -> None:
        """The ``confirm_published`` signal (a completed workflow needs none: NOT_FOUND is fine)."""
        try:
            await self.handle(relationship_id).signal(RelationshipWorkflow.confirm_published, published_through)
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise

    async def close(self) -> None:
        """Close what the client owns besides its Temporal connection (shared, closed with the process): the
        hand-over's Kafka producer."""
        if self.publisher is not None:
            await self.publisher.close()

    async def _by_publisher(self, relationship_id: str, cmd: Command, publisher: CallerPublisher) -> CommandResult:
        """The command as ``command_by_publisher``, confirming what this caller published of the relationship; a
        worker from before the hand-over has no such update: then ``command``, and this client stops asking."""
        request = PublisherCommand(command=cmd, published_through=publisher.confirmed(relationship_id))
        handle = self.handle(relationship_id)
        try:
            result: CommandResult = await handle.execute_update(
                RelationshipWorkflow.command_by_publisher, request, id=cmd.command_id
            )
        except WorkflowUpdateFailedError as exc:
            if not _unknown_update(exc):
                raise
            self._no_handover_update = True
            result = await handle.execute_update(RelationshipWorkflow.command, cmd, id=cmd.command_id)
        if not self._no_handover_update:
            publisher.told(relationship_id, request.published_through)  # accepted: its confirmation arrived
        return result

    async def _sealed(self, relationship_id: str, cmd: Command) -> Command:
        if self.privacy is None:
            return cmd
        privacy = self.privacy
        if isinstance(cmd, SignAgreement):
            # goals both participants signed alike stay one goal: reuse the sealed text already held
            state: RelationshipState = await self._query(relationship_id, RelationshipWorkflow.state)
            held = [g for sig in state.signatures.values() for g in sig.goals] + [g.text for g in state.goals.values()]
            cmd = await asyncio.to_thread(privacy.reuse_sealed, cmd, "goals", held)
        if isinstance(cmd, SubmitSurvey):  # its free-text answers: the instrument of the open request says which
            state = await self._query(relationship_id, RelationshipWorkflow.state)
            instrument = requested_instrument(state, cmd.request_id, cmd.version)
            cmd = await asyncio.to_thread(privacy.seal_answers, cmd, instrument)
        return await asyncio.to_thread(privacy.seal_command, cmd)

    async def _completed(self, relationship_id: str, result: CommandResult, with_state: bool) -> CommandResult:
        """The result with its whole state opened for display: the one it carried (workers from before the slim
        result, a closed workflow's remembered result), else, ``with_state``, the one a query reads (opened by
        :meth:`state`). Its envelopes stay as recorded: they are the chain."""
        if result.state is not None:
            return result.model_copy(update={"state": await self._open_state(result.state)})
        if not with_state:
            return result
        return result.model_copy(update={"state": await self.state(relationship_id)})

    async def _open_state(self, state: RelationshipState) -> RelationshipState:
        if self.privacy is None:
            return state
        return await asyncio.to_thread(self.privacy.open_model, state)

    async def _with_retries(
        self, relationship_id: str, command_id: str, attempt: Callable[[], Awaitable[T]]
    ) -> T | CommandResult:
        """Run ``attempt``; map errors to the domain's; retry what Temporal refuses for load (same update id ⇒
        idempotent)."""
        loop = asyncio.get_running_loop()
        deadline: float | None = None  # the busy budget starts at the first refusal, not while admitted and waiting
        delay = 0.05
        last: Exception | None = None
        maybe_admitted = False
        while True:
            try:
                return await attempt()
            except WorkflowUpdateFailedError as exc:
                cause = exc.cause
                if isinstance(cause, ApplicationError):
                    error = domain_error(cause)
                    if error is not None:
                        raise error from None
                raise
            except WorkflowUpdateRPCTimeoutOrCancelledError as exc:
                last = exc
                maybe_admitted = True
            except RPCError as exc:
                if exc.status == RPCStatusCode.NOT_FOUND:
                    closed = await self._closed_outcome(relationship_id, command_id)
                    if isinstance(closed, CommandResult):
                        return closed
                    raise RelationshipClosedError(
                        f"relationship {relationship_id} is closed ({closed}); no command is accepted"
                    ) from None
                if exc.status not in _RETRYABLE:
                    raise
                last = exc
                maybe_admitted = maybe_admitted or exc.status != RPCStatusCode.RESOURCE_EXHAUSTED
            if deadline is None:
                deadline = loop.time() + self.busy_timeout
            elif loop.time() >= deadline:
                outcome = (
                    "it may still be applied" if maybe_admitted else "nothing was appended"
                ) + "; re-send it with the same command id (idempotent) to get its result"
                raise RelationshipBusy(
                    f"relationship {relationship_id}: command {command_id} not accepted within {self.busy_timeout:g}s "
                    f"of being refused (last: {last}); {outcome}",
                    command_id=command_id,
                    outcome_unknown=maybe_admitted,
                ) from last
            # capped exponential backoff, full jitter
            await asyncio.sleep(random.uniform(0, delay))
            delay = min(delay * 2, 2.0)

    async def _closed_outcome(self, relationship_id: str, command_id: str) -> CommandResult | str:
        """For a workflow that is not running: the remembered result of ``command_id``, or a description of how the
        relationship ended. Raises RelationshipNotFound when there is no such workflow."""
        handle = self.handle(relationship_id)
        try:
            description = await handle.describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise RelationshipNotFound(relationship_id) from None
            raise
        if description.status == WorkflowExecutionStatus.COMPLETED:
            try:
                remembered = await handle.query(RelationshipWorkflow.command_result, command_id)
            except (WorkflowQueryFailedError, RPCError):
                remembered = None
            if remembered is not None:
                return remembered
            final: RelationshipState = await handle.result()
            outcome = final.outcome.value if final.outcome else "unknown"
            return f"outcome: {outcome}"
        status = description.status.name.lower() if description.status else "unknown"
        return f"workflow {status}"

    # --- reads ----------------------------------------------------------------------------------------------

    async def _query(self, relationship_id: str, query: Any, *args: Any) -> Any:
        """A query; RPC timeouts and refusals for load are retried for up to ``busy_timeout`` seconds."""
        deadline = asyncio.get_running_loop().time() + self.busy_timeout
        delay = 0.05
        while True:
            try:
                return await self.handle(relationship_id).query(query, *args)
            except RPCError as exc:
                if exc.status == RPCStatusCode.NOT_FOUND:
                    raise RelationshipNotFound(relationship_id) from None
                if exc.status not in _RETRYABLE_READS or asyncio.get_running_loop().time() >= deadline:
                    raise
            await asyncio.sleep(random.uniform(0, delay))
            delay = min(delay * 2, 2.0)

    async def state(self, relationship_id: str) -> RelationshipState:
        """The authoritative current state (a query on the workflow; a closed one is replayed by a worker), its
        sealed text opened when a :attr:`privacy` cipher is set."""
        state: RelationshipState = await self._query(relationship_id, RelationshipWorkflow.state)
        return await self._open_state(state)

    async def events_page(self, relationship_id: str, after_seq: int = 0) -> EventsPage:
        page: EventsPage = await self._query(relationship_id, RelationshipWorkflow.events, after_seq)
        return page

    async def events(self, relationship_id: str, after_seq: int = 0) -> list[Envelope]:
        """The envelopes after ``after_seq``, in seq order. Raises :class:`EventsTruncated` when the workflow no
        longer holds some of them (read those from the Kafka topic or the audit store)."""
        page = await self.events_page(relationship_id, after_seq)
        if after_seq < page.complete_after:
            raise EventsTruncated(
                f"relationship {relationship_id}: the workflow holds seq {page.first_available_seq}..{page.last_seq}; "
                f"seq {after_seq + 1}..{page.complete_after} are in the Kafka topic and the audit store"
            )
        return page.events

    async def status(self, relationship_id: str) -> WorkflowStatus:
        status: WorkflowStatus = await self._query(relationship_id, RelationshipWorkflow.status)
        return status

    async def wait_closed(self, relationship_id: str) -> RelationshipState:
        """Wait until the workflow completed (closed and everything published); its final state."""
        final: RelationshipState = await self.handle(relationship_id).result()
        return await self._open_state(final)

    async def list(
        self,
        program: str | None = None,
        stage: str | None = None,
        *,
        substate: str | None = None,
        health: str | None = None,
        limit: int | None = None,
    ) -> list[RelationshipSummary]:
        """Relationships by search attributes (Temporal visibility: lags about a second behind commands)."""
        return await list_relationships(self.client, program, stage, substate=substate, health=health, limit=limit)
