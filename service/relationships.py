"""The application service (DESIGN §2): commands and the current state through the Temporal client
(:mod:`workflows.client`), lists and reports from the read model (:mod:`projections.read_model`), audit through
:class:`service.audit.AuditService`. The HTTP API serves it (it is the routes' ``api.backend.Backend``) and the CLI's
reports call it; built by the composition root (``mentorflow api``, ``mentorflow report``), which knows the settings.

Raises the domain's errors, :class:`domain.RelationshipNotFound`, :class:`service.errors.ServiceUnavailable` and
:class:`service.errors.InvalidArgument`: each adapter maps them once (HTTP status, CLI exit code)."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, TypeVar, get_args

from sqlalchemy import Connection, Engine
from temporalio.service import RPCError, RPCStatusCode

from audit.history import participant_view
from domain import Command, DomainError, Envelope, ProposeRelationship, RelationshipNotFound, RelationshipState
from projections import read_model as reads
from projections.db import make_engine, migrate, wait_for_seq_async
from projections.kafka_access import KafkaAddress
from projections.read_model import REPORTS
from service.audit import AuditService
from service.errors import InvalidArgument, ServiceUnavailable
from workflows.client import RelationshipBusy
from workflows.models import CommandIdConflict, StateView

log = logging.getLogger(__name__)

__all__ = ["REPORT_NAMES", "CommandClient", "CommandOutcome", "ListFilter", "MentorflowService", "ReportName"]

T = TypeVar("T")

ReportName = Literal["stages", "transitions", "funnel", "at-risk", "feedback"]
REPORT_NAMES: tuple[str, ...] = get_args(ReportName)
assert set(REPORT_NAMES) == set(REPORTS), "every report of the read model, and only those"


@dataclass(frozen=True, slots=True)
class CommandOutcome:
    """The relationship after an accepted command (``view``: seq, stage, substate, health, outcome), and the
    envelopes the command appended (oldest first); from the workflow also the command id, whether it was a re-send
    (``duplicate``: applied once, the first result) and the seqs it appended (``first_seq..last_seq``; empty when
    ``last_seq < first_seq``). ``state`` is the whole state, only when asked for (``with_state``: the CLI prints
    it) or when the worker still sent it; ``view`` is built from it when not given."""

    state: RelationshipState | None = None
    events: list[Envelope] = field(default_factory=list)
    command_id: str | None = None
    duplicate: bool = False
    first_seq: int | None = None
    last_seq: int | None = None
    view: StateView | None = None
    state_error: str | None = None
    """Asked ``with_state``, the whole state could not be read after the command: why. The command is committed all
    the same (its view says where it left the relationship); re-sending it would apply nothing new only with the
    same command id."""

    def __post_init__(self) -> None:
        if self.view is None:
            if self.state is None:
                raise ValueError("a command outcome needs its view or its state")
            object.__setattr__(self, "view", StateView.of(self.state))

    @property
    def summary(self) -> StateView:
        """The view (always set after construction)."""
        assert self.view is not None
        return self.view


@dataclass(frozen=True, slots=True)
class ListFilter:
    program: str | None = None
    stage: str | None = None
    substate: str | None = None
    health: str | None = None
    person: str | None = None  # mentor or mentee
    limit: int = 100
    offset: int = 0


class CommandClient(Protocol):
    """The part of :class:`workflows.client.MentorflowClient` the API uses."""

    async def propose(self, command: ProposeRelationship, *, with_state: bool = ...) -> Any: ...

    async def send(self, relationship_id: str, command: Command, *, with_state: bool = ...) -> Any: ...

    async def state(self, relationship_id: str) -> RelationshipState: ...

    async def events_page(self, relationship_id: str, after_seq: int = 0) -> Any: ...

    async def status(self, relationship_id: str) -> Any: ...

    async def list(self, *args: Any, **kwargs: Any) -> Any:
        """Temporal visibility: ``list(program, stage, *, substate, health, limit)``."""


_UNAVAILABLE_STATUSES = frozenset({RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED})


def _unavailable(exc: BaseException) -> bool:
    """Temporal busy (10 updates in flight for longer than the client waits), unreachable or too slow — including a
    query that no worker answered before the client's RPC timeout (the bridge reports it as CANCELLED "Timeout
    expired": a workflow whose task queue has no worker polling)."""
    if isinstance(exc, RelationshipBusy | ConnectionError | TimeoutError):
        return True
    return isinstance(exc, RPCError) and exc.status in _UNAVAILABLE_STATUSES


class MentorflowService:
    def __init__(
        self,
        connect: Callable[[], Awaitable[CommandClient]],
        database_url: str,
        *,
        kafka_bootstrap: KafkaAddress | None = None,
        topic: str | None = None,
        call_timeout: float = 45.0,
    ) -> None:
        self.call_timeout = call_timeout
        self._connect = connect
        self._database_url = database_url
        self._kafka = kafka_bootstrap
        self._topic = topic
        self._client: CommandClient | None = None
        self._engine: Engine | None = None

    # --- lifecycle -----------------------------------------------------------------------------------------------
    async def start(self) -> None:
        await asyncio.to_thread(migrate, self._database_url)  # an empty current schema on a fresh install
        self._engine = make_engine(self._database_url)

    async def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
        client, self._client = self._client, None
        close = getattr(client, "close", None)  # a MentorflowClient owns a Kafka producer when it publishes
        if close is not None:
            await close()

    async def _c(self) -> CommandClient:
        if self._client is None:
            try:
                self._client = await self._connect()
            except Exception as exc:
                raise ServiceUnavailable(f"cannot reach Temporal: {exc}") from exc
        return self._client

    async def participant_events(
        self,
        events: Sequence[Envelope],
        person_id: str,
        dump: Callable[[Envelope], dict[str, Any]] | None = None,
    ) -> list[dict[str, Any]]:
        """``events`` as participant ``person_id`` sees them (``audit.history.participant_view``): the partner's
        private free text withheld; with sealing on, the participant's own sealed text opened (``opened``), the
        partner's left sealed."""
        client: Any = await self._c()
        cipher = getattr(client, "privacy", None)
        opener = None if cipher is None else functools.partial(cipher.open_own, person_id=person_id)
        return await asyncio.to_thread(participant_view, list(events), person_id, dump, opener)

    async def _call(self, call: Callable[[CommandClient], Awaitable[T]]) -> T:
        client = await self._c()
        try:
            async with asyncio.timeout(self.call_timeout):  # no worker polling: an answer, not a hung request
                return await call(client)
        except (DomainError, RelationshipNotFound, CommandIdConflict):
            raise
        except TimeoutError as exc:
            raise ServiceUnavailable(
                f"no answer from the relationship workflow within {self.call_timeout:.0f} s (is a worker running? "
                f"`mentorflow worker`)"
            ) from exc
        except Exception as exc:
            if _unavailable(exc):
                raise ServiceUnavailable(f"Temporal did not answer: {exc}") from exc
            raise

    def _read(self, fn: Callable[[Connection], T]) -> Awaitable[T]:
        engine = self._engine
        if engine is None:
            raise ServiceUnavailable("the service is not started")

        def run() -> T:
            with engine.connect() as conn:
                return fn(conn)

        return asyncio.to_thread(run)

    # --- commands ------------------------------------------------------------------------------------------------
    async def _outcome(self, relationship_id: str, result: Any, with_state: bool) -> CommandOutcome:
        """The outcome of a command's result; with ``with_state`` and no state in the result (the workflow answers
        with its view since ``slim-command-result``), the whole state read by a query after the command."""
        state: RelationshipState | None = getattr(result, "state", None)
        state_error = None
        if with_state and state is None:
            try:
                state = await self.state(relationship_id)
            except Exception as exc:  # committed already: a read that fails after it is not the command's failure
                state_error = f"the command is applied; reading the whole state after it failed: {exc}"
                log.warning("%s (relationship %s)", state_error, relationship_id)
        return CommandOutcome(
            state=state,
            events=list(getattr(result, "events", None) or []),
            command_id=getattr(result, "command_id", None),
            duplicate=bool(getattr(result, "duplicate", False)),
            first_seq=getattr(result, "first_seq", None),
            last_seq=getattr(result, "last_seq", None),
            view=getattr(result, "view", None),
            state_error=state_error,
        )

    async def propose(self, command: ProposeRelationship, *, with_state: bool = False) -> CommandOutcome:
        """Propose; ``with_state`` also reads the whole state (one query more), else the outcome has its view."""
        result = await self._call(lambda c: c.propose(command, with_state=False))
        return await self._outcome(command.relationship_id, result, with_state)

    async def send(self, relationship_id: str, command: Command, *, with_state: bool = False) -> CommandOutcome:
        """Send; ``with_state`` also reads the whole state (one query more), else the outcome has its view."""
        result = await self._call(lambda c: c.send(relationship_id, command, with_state=False))
        return await self._outcome(relationship_id, result, with_state)

    async def state(self, relationship_id: str) -> RelationshipState:
        return await self._call(lambda c: c.state(relationship_id))

    async def publishing(self, relationship_id: str) -> Any:
        """How far the workflow's publishing got (``workflows.models.WorkflowStatus``)."""
        return await self._call(lambda c: c.status(relationship_id))

    async def events_held(self, relationship_id: str) -> Any:
        """The envelopes the workflow still holds (``workflows.models.EventsPage``; :meth:`history` adds the older
        ones from the audit store)."""
        return await self._call(lambda c: c.events_page(relationship_id))

    async def running(self, flt: ListFilter) -> list[Any]:
        """Relationships by their workflows' search attributes (Temporal visibility, about a second behind; rows
        ``workflows.client.RelationshipSummary``). :meth:`list_relationships` reads the projections instead."""
        return list(
            await self._call(
                lambda c: c.list(flt.program, flt.stage, substate=flt.substate, health=flt.health, limit=flt.limit)
            )
        )

    # --- audit ---------------------------------------------------------------------------------------------------
    async def history(self, relationship_id: str) -> list[Envelope]:
        page = await self._call(lambda c: c.events_page(relationship_id))
        events: list[Envelope] = list(page.events)
        first = int(page.first_available_seq)
        if first > 1:  # the workflow continued as new: the older events are in the audit store
            from audit.sources import envelopes_of, event_log_records

            engine = self._engine
            assert engine is not None
            stored = await asyncio.to_thread(lambda: envelopes_of(event_log_records(engine, relationship_id)))
            older = [e for e in stored if e.seq < first]
            events = older + events
        return events

    async def state_at(self, relationship_id: str, at: datetime) -> RelationshipState:
        from audit.history import state_at

        events = await self.history(relationship_id)
        try:
            return state_at(events, at)
        except ValueError as exc:  # before the first event
            raise RelationshipNotFound(relationship_id, str(exc)) from None

    async def verify(self, relationship_id: str | None, program: str | None = None) -> dict[str, Any]:
        """The three stores (event_log, Kafka topic, Temporal history + replay) of one relationship, or of all (of
        ``program``)."""
        from audit.verify import Auditor, checked_program

        if program is not None:
            try:
                checked_program(program)
            except ValueError as exc:
                raise InvalidArgument("program", str(exc)) from None
        client = await self._c()
        auditor = AuditService(
            Auditor(
                engine=self._engine,
                bootstrap_servers=self._kafka,
                topic=self._topic,
                temporal=getattr(client, "client", None),
                task_queue=getattr(client, "task_queue", None),
            )
        )
        if relationship_id is not None:
            return dict((await auditor.verify(relationship_id)).to_dict())
        # one scan of the topic and one query of the event log for all of them, not one per relationship
        summary = await auditor.verify_all(program=program, concurrency=8)
        reports = [r.to_dict() for r in summary.reports]
        return {
            "ok": summary.ok,
            "checked": len(reports),
            "failed": summary.failed,
            "program": program,
            "reports": reports,
            "seconds": round(summary.seconds, 3),
        }

    # --- projections ---------------------------------------------------------------------------------------------
    async def list_relationships(self, flt: ListFilter) -> list[dict[str, Any]]:
        return await self._read(
            lambda conn: reads.list_relationships(
                conn,
                program=flt.program,
                stage=flt.stage,
                substate=flt.substate,
                health=flt.health,
                person=flt.person,
                limit=flt.limit,
                offset=flt.offset,
            )
        )

    async def programs(self) -> list[str]:
        return await self._read(reads.programs)

    async def report(self, name: ReportName, program: str | None) -> list[dict[str, Any]]:
        fn = REPORTS[name]
        return await self._read(lambda conn: fn(conn, program=program))

    async def contested(self, program: str | None) -> list[dict[str, Any]]:
        return await self._read(lambda conn: reads.contested(conn, program))

    async def latest_transitions(self, program: str | None, trigger: str | None, limit: int) -> list[dict[str, Any]]:
        return await self._read(lambda conn: reads.latest_transitions(conn, program, trigger, limit))

    async def time_in_stage(self, program: str | None) -> list[dict[str, Any]]:
        return await self._read(lambda conn: reads.time_in_stage(conn, program))

    async def wait_for_projection(self, relationship_id: str, seq: int, seconds: float) -> None:
        assert self._engine is not None
        await wait_for_seq_async(self._engine, relationship_id, seq, seconds)
