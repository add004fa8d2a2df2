"""``RelationshipWorkflow``: one Temporal workflow per mentoring relationship (DESIGN §4).

Orchestration only: every decision comes from ``domain`` (``decide``/``execute`` for commands, ``advance`` for the
timer rules, ``next_deadline`` for when to wake up). The workflow feeds it ``workflow.now()`` and
``workflow.uuid4()``, keeps the state, and moves the sealed envelopes out through two queues:

* the **outbox**: every envelope, published to Kafka in seq order, in batches, by the publishing activity. An entry
  leaves the queue only when the activity returned, i.e. Kafka acknowledged it. Commands never wait on it, so they
  are accepted while Kafka is away.
* the **notifications**: ``NudgeSent`` and ``EscalatedToManager`` envelopes, delivered by the notification activity.

Commands are one update, ``command``, taking the domain's ``Command`` union: the validator runs ``decide`` on the
caught-up state (a rejection is an ``ApplicationError`` whose type is the ``DomainError`` class name; nothing reaches
the history), the handler (synchronous, so it never interleaves with anything) ticks then executes. The command id
is the update id, and the workflow also remembers command id -> (first seq, last seq) across continue-as-new, so a
re-sent command returns the first result and appends nothing.

The main loop (``_run_ordered``) is the one coroutine that issues timer and activity commands: each pass ticks, then
sets the timer, starts the next publication and the next notification, in that order; the activities' completions
only change fields and wake it. So a task's commands follow from the state it leaves, never from how its jobs were
grouped into activations (which differs between a live task and its replay). Runs recorded before
``ORDERED_COMMANDS_PATCH`` keep their orchestration: workflows/two_loops.py.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeKey, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError

from workflows.handover import CALLER_PUBLISHES_PATCH, Handover
from workflows.two_loops import (
    MIN_SLEEP,
    NOTIFY_RETRY,
    NOTIFY_TIMEOUT,
    PUBLISH_PARKED,
    PUBLISH_RETRY,
    PUBLISH_TIMEOUT,
    TwoLoops,
)

with workflow.unsafe.imports_passed_through():
    # Pure and deterministic (stdlib + pydantic only): passed through, not re-imported per run by the sandbox.
    from activities.names import NOTIFY_TYPES
    from domain import (
        RULES_V1,
        RULES_V2,
        RULES_V3,
        Command,
        DomainError,
        Envelope,
        ProposeRelationship,
        RelationshipState,
        advance,
        catch_up,
        decide,
        execute,
        next_deadline,
    )
    from workflows.models import (
        ACTIVITY_NOTIFY,
        ACTIVITY_PUBLISH,
        FINGERPRINT_OVERHEAD_BYTES,
        RECORD_OVERHEAD_BYTES,
        CommandResult,
        EventsPage,
        Limits,
        PublisherCommand,
        RelationshipWorkflowInput,
        StateView,
        WorkflowStatus,
        command_fingerprint,
        newest_within,
    )

__all__ = [
    "CALLER_PUBLISHES_PATCH",
    "NOTIFY_TYPES",
    "ORDERED_COMMANDS_PATCH",
    "PATCH_HISTORY_LENGTH_FROM_COMMANDS",
    "PATCH_SEARCH_FROM_HISTORY",
    "PUBLISH_PARKED",
    "PUBLISH_RETRY",
    "PUBLISH_TIMEOUT",
    "RULES_V2_PATCH",
    "SEARCH_KEYS",
    "SLIM_RESULT_PATCH",
    "SURVEYS_PATCH",
    "RelationshipWorkflow",
]

STAGE = SearchAttributeKey.for_keyword("MentorflowStage")
SUBSTATE = SearchAttributeKey.for_keyword("MentorflowSubstate")
PROGRAM = SearchAttributeKey.for_keyword("MentorflowProgram")
HEALTH = SearchAttributeKey.for_keyword("MentorflowHealth")
SEARCH_KEYS = (STAGE, SUBSTATE, PROGRAM, HEALTH)

RULES_V2_PATCH = "lifecycle-rules-v2"
"""New proposals pin the current rules version; a history recorded before it replays its proposal as version 1."""

OUTBOX_BYTES_PATCH = "outbox-bytes-bound"
"""From this patch on, continue-as-new also waits while the outbox is over ``Limits.max_carried_outbox_bytes``: the
unpublished envelopes are carried whole (nothing is dropped), so the input stays under Temporal's payload limit."""

SURVEYS_PATCH = "surveys-v1"
"""New proposals pin rules version 3 (surveys); a history recorded before it replays its proposal as before."""


def _pinned_rules_version() -> int:
    """The rules version a proposal pins, by the patches this history was recorded with (newest first)."""
    if workflow.patched(SURVEYS_PATCH):
        return RULES_V3
    return RULES_V2 if workflow.patched(RULES_V2_PATCH) else RULES_V1


PATCH_SEARCH_FROM_HISTORY = "search-attributes-from-history"
"""Since this patch the workflow knows which search-attribute values it set only from what this run upserted
itself (history), never from ``workflow.info()``: every run upserts all four once, then only what changed."""

PATCH_HISTORY_LENGTH_FROM_COMMANDS = "history-length-from-commands"
"""Since this patch the continue-as-new decision reads the history length and Temporal's suggestion only as they
were in a workflow task that issues commands anyway (a command's update; the main loop woken by its timer when it
sets the next one), kept in the workflow: ``workflow.info()`` reports them for the activation, and an activation is
not the same on replay. A task that issued no command (a publication done with nothing left to send, a refused
command's empty task) is replayed together with the empty tasks after it (sdk-core folds such a chain into one
activation), where ``workflow.info()`` reports the length at the END of the chain: code that asked it at every
wake-up continued-as-new there on replay where the live run, with a shorter history, had gone on waiting
("nondeterminism" on a history the code wrote itself). A task that issues commands is never folded into a later one,
so what it saw is what its replay sees. Both values only grow, so a later look can only confirm a decision."""

ORDERED_COMMANDS_PATCH = "ordered-commands"
"""Since this patch the main loop alone issues the timer and activity commands, in a fixed order; it cancels its timer
only for a sooner deadline (or none), and a notification waits for its event's publication. Before it, two coroutines
(the main loop cancelling its timer, the publish loop scheduling) did so in one task in an order that followed how
its jobs were grouped into activations, which differs between the live task and its replay
(tests/workflow/test_timer_cancel_race.py)."""

FINGERPRINTS_PATCH = "command-fingerprints"
"""From this patch on, a command id is remembered with its command's fingerprint, and every result carries it: the
client refuses a re-sent id whose content differs (``workflows.models.check_binding``)."""
SLIM_RESULT_PATCH = "slim-command-result"
"""From this patch on, a command's update result carries a :class:`~workflows.models.StateView` (seq, stage,
substate, health, outcome, last hash: ~0.3 kB) instead of the whole state (~3 kB and growing with goals, meetings,
surveys), which Temporal wrote into the history with every command. The whole state stays a query away; the
``command_result`` query (not history) still answers it whole."""


def _rejection(error: DomainError) -> ApplicationError:
    """The one shape of a refused command: the DomainError class name as type, its rule as message."""
    return ApplicationError(error.rule, type=error.code, non_retryable=True)


@workflow.defn(name="RelationshipWorkflow")
class RelationshipWorkflow(TwoLoops, Handover):
    @workflow.init
    def __init__(self, input: RelationshipWorkflowInput) -> None:
        # Update-with-start runs the validator before run(): everything the handlers read is set here.
        self._input = input
        self._limits: Limits = input.limits
        self._state: RelationshipState = input.state or RelationshipState.new(input.relationship_id)
        self._outbox: list[Envelope] = list(input.outbox)
        self._notifications: list[Envelope] = list(input.notifications)
        self._commands: dict[str, tuple[int, int]] = dict(input.commands)
        self._fingerprints: dict[str, str] = dict(input.fingerprints)
        self._events: list[Envelope] = list(input.tail)  # contiguous by seq; the whole current run plus the tail
        self._published_through = input.published_through
        self._run = input.run
        self._publishing = False
        self._notifying = False
        self._draining = False  # continue-as-new pending: start no new activity
        self._wake = False
        self._sleeping_until = None if self._state.seq == 0 else next_deadline(self._state)
        self._search: dict[str, str] = {}
        self._bound_outbox_bytes = False  # set in run(): behind OUTBOX_BYTES_PATCH
        self._outbox_bytes_of: tuple[int, int, int] | None = None  # (first seq, last seq, bytes) last measured
        self._history_from_commands = False  # PATCH_HISTORY_LENGTH_FROM_COMMANDS, decided at the start of run()
        self._history_length = 0  # as seen in the last task that issued commands (the patch)
        self._continue_as_new_suggested = False
        # ORDERED_COMMANDS_PATCH: the main loop's own timer and what the activities' completions tell it
        self._timer: asyncio.TimerHandle | None = None
        self._timer_fired = False
        self._parked_until: datetime | None = None  # a publication failed without retry: the next try not before
        self._ordered = False  # this run is on the ordered main loop (set in run()): only then may it hand over
        self._init_handover()  # workflows/handover.py: the outbox ranges handed to callers that publish

    # --- the main loop (the runs recorded before ORDERED_COMMANDS_PATCH: workflows/two_loops.py) ------------------

    @workflow.run
    async def run(self, input: RelationshipWorkflowInput) -> RelationshipState:
        if not workflow.patched(PATCH_SEARCH_FROM_HISTORY):
            # Histories recorded before the patch seeded the known values from workflow.info(), which is not
            # history: a worker replaying from scratch may see other values there and decide other upserts.
            self._search = self._current_search_attributes()
        self._bound_outbox_bytes = workflow.patched(OUTBOX_BYTES_PATCH)
        self._upsert_search_attributes()
        self._history_from_commands = workflow.patched(PATCH_HISTORY_LENGTH_FROM_COMMANDS)
        if workflow.patched(ORDERED_COMMANDS_PATCH):
            self._ordered = True
            return await self._run_ordered()
        return await self._run_two_loops()

    async def _tick_or_end(self, timer_fired: bool, loops: tuple[asyncio.Task[None], ...]) -> RelationshipState | None:
        """A pass's start: tick; then the final state if the relationship is closed and everything is delivered, or
        continue-as-new when it is due (after the handlers and activities in flight finished); else None."""
        self._advance()
        if timer_fired and next_deadline(self._state) is not None:
            self._observe_history()  # this task sets the next timer or continues-as-new: it has commands
        if self._state.is_closed and self._drained():
            await workflow.wait_condition(workflow.all_handlers_finished)
            for loop in loops:
                loop.cancel()
            return self._state
        if self._continue_as_new_due():
            self._draining = True
            await workflow.wait_condition(
                lambda: workflow.all_handlers_finished() and not self._publishing and not self._notifying
            )
            for loop in loops:
                loop.cancel()
            workflow.continue_as_new(self._carry())
        return None

    # --- the main loop since ORDERED_COMMANDS_PATCH: the one coroutine that issues timer and activity commands ------

    async def _run_ordered(self) -> RelationshipState:
        """Each pass ticks, then decides, in this order, the timer, the next publication and the next notification.
        The activities report back through callbacks that only change fields (the loop wakes on them), so the commands
        of a task follow from the state the task leaves, never from how its jobs were grouped into activations."""
        while True:
            timer_fired, self._timer_fired = self._timer_fired, False
            self._backstop_fired = False
            if (final := await self._tick_or_end(timer_fired, ())) is not None:
                return final
            self._set_timer()
            self._set_backstop_timer()  # workflows/handover.py: a timer of its own, only while a hand-over waits
            self._start_publication()
            self._start_notification()
            self._wake = False
            await workflow.wait_condition(self._pass_due)

    def _pass_due(self) -> bool:
        return (
            self._wake
            or self._timer_fired
            or self._backstop_fired
            or self._can_publish()
            or self._can_notify()
            or self._drained_after_close()
            or self._continue_as_new_due()
        )

    def _set_timer(self) -> None:
        """A timer for the next deadline (or the parked publication's retry, if sooner). A timer that fires no later
        is kept (when it fires, the next pass sets the next one); a sooner deadline cancels it."""
        now = workflow.now()
        if self._parked_until is not None and now >= self._parked_until:
            self._parked_until = None
        deadline = next_deadline(self._state)
        if self._parked_until is not None:
            deadline = self._parked_until if deadline is None else min(deadline, self._parked_until)
        if self._timer is not None and self._sleeping_until is not None:
            if deadline is not None and self._sleeping_until <= deadline:
                return
            self._timer.cancel()  # a fired timer always sets the next one: a task with a timer event has commands
            self._timer = None
        self._sleeping_until = deadline
        if deadline is not None:
            delay = max(deadline - now, MIN_SLEEP if deadline <= now else timedelta(0))
            self._timer = asyncio.get_running_loop().call_later(delay.total_seconds(), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_fired = True

    def _can_publish(self) -> bool:
        """Something to publish, nothing in flight, and not all of it left to the callers it was handed to."""
        return (
            bool(self._outbox)
            and not self._publishing
            and not self._draining
            and self._parked_until is None
            and not self._held()
        )

    def _can_notify(self) -> bool:
        """A notification goes out once its event is published: a completion that leaves nothing to publish then
        leaves nothing to notify either (its task has no command, whatever the SDK groups it with)."""
        return (
            bool(self._notifications)
            and self._notifications[0].seq <= self._published_through
            and not self._notifying
            and not self._draining
        )

    def _start_publication(self) -> None:
        if not self._can_publish():
            return
        batch = self._outbox[: self._limits.publish_batch]
        self._publishing = True
        handle = workflow.start_activity(
            ACTIVITY_PUBLISH, batch, start_to_close_timeout=PUBLISH_TIMEOUT, retry_policy=PUBLISH_RETRY
        )
        handle.add_done_callback(lambda done: self._published(batch, done))

    def _published(self, batch: list[Envelope], done: asyncio.Future[Any]) -> None:
        self._publishing = False
        error = None if done.cancelled() else done.exception()
        if done.cancelled() or error is not None:
            if error is not None and not isinstance(error, ActivityError):
                raise error
            workflow.logger.error(
                "publishing seq %d..%d failed without retry (%s); the outbox keeps them and tries again in %s",
                batch[0].seq,
                batch[-1].seq,
                (error.cause or error) if isinstance(error, ActivityError) else "cancelled",
                PUBLISH_PARKED,
            )
            self._parked_until = workflow.now() + PUBLISH_PARKED
            self._wake = True  # the loop sets a timer for the retry
            return
        # Acknowledged by Kafka: only now do the entries leave the queue (by seq: a caller may have confirmed some).
        self._drop_published(batch[-1].seq)

    def _start_notification(self) -> None:
        if not self._can_notify():
            return
        envelope = self._notifications[0]
        self._notifying = True
        handle = workflow.start_activity(
            ACTIVITY_NOTIFY, envelope, start_to_close_timeout=NOTIFY_TIMEOUT, retry_policy=NOTIFY_RETRY
        )
        handle.add_done_callback(lambda done: self._notified(envelope, done))

    def _notified(self, envelope: Envelope, done: asyncio.Future[Any]) -> None:
        self._notifying = False
        error = None if done.cancelled() else done.exception()
        if error is not None:
            if not isinstance(error, ActivityError):
                raise error
            # A notification is a courtesy; the event itself is in the log either way.
            workflow.logger.error("notification for seq %d given up: %s", envelope.seq, error.cause or error)
        del self._notifications[0]

    # --- ticking -----------------------------------------------------------------------------------------------

    def _advance(self) -> None:
        """Apply the timer rules due now (``tick``): the only events that come without a command."""
        state, envelopes = advance(self._state, workflow.now(), self._new_id)
        if envelopes:
            self._append(state, envelopes)

    def _drained(self) -> bool:
        return not self._outbox and not self._notifications and not self._publishing and not self._notifying

    def _drained_after_close(self) -> bool:
        return self._state.is_closed and self._drained()

    def _continue_as_new_due(self) -> bool:
        if len(self._outbox) > self._limits.max_carried_outbox:
            return False  # too much to carry: publish first (Kafka is away; the history grows meanwhile)
        if self._history_from_commands:
            length, suggested = self._history_length, self._continue_as_new_suggested
        else:  # histories recorded before the patch: what the activation reports (may differ on replay, see there)
            info = workflow.info()
            length, suggested = info.get_current_history_length(), info.is_continue_as_new_suggested()
        trigger = self._limits.continue_as_new_after_events
        due = (trigger is not None and length >= trigger) or suggested
        return due and not (self._bound_outbox_bytes and self._outbox_bytes() > self._limits.max_carried_outbox_bytes)

    def _outbox_bytes(self) -> int:
        """The outbox's canonical JSON bytes, measured again only when its ends moved (it only grows at the tail
        and shrinks at the head, so the first and last seq say which envelopes it holds)."""
        if not self._outbox:
            return 0
        first, last = self._outbox[0].seq, self._outbox[-1].seq
        if self._outbox_bytes_of is None or self._outbox_bytes_of[:2] != (first, last):
            self._outbox_bytes_of = (first, last, sum(len(e.to_bytes()) for e in self._outbox))
        return self._outbox_bytes_of[2]

    def _observe_history(self) -> None:
        """Keep the history length and Temporal's suggestion as this task sees them. Only from tasks that issue
        commands in any case (:data:`PATCH_HISTORY_LENGTH_FROM_COMMANDS`)."""
        info = workflow.info()
        self._history_length = info.get_current_history_length()
        self._continue_as_new_suggested = info.is_continue_as_new_suggested()

    def _carry(self) -> RelationshipWorkflowInput:
        """The continue-as-new input. The tail and the idempotency records are cut to their byte budgets (newest
        kept), so long texts or long command ids cannot push the input past Temporal's payload limit."""
        limits = self._limits
        tail = self._events[-limits.events_tail :] if limits.events_tail else []
        tail = newest_within(tail, lambda e: len(e.to_bytes()), limits.events_tail_bytes)
        records = newest_within(
            list(self._commands.items()),
            self._record_bytes,
            limits.command_records_bytes,
        )
        return RelationshipWorkflowInput(
            relationship_id=self._state.relationship_id,
            program_id=self._state.program_id,
            state=self._state,
            outbox=self._outbox,
            notifications=self._notifications,
            commands=dict(records),
            fingerprints={cid: self._fingerprints[cid] for cid, _ in records if cid in self._fingerprints},
            tail=tail,
            published_through=self._published_through,
            limits=self._limits,
            run=self._run + 1,
        )

    def _record_bytes(self, record: tuple[str, tuple[int, int]]) -> int:
        """What one idempotency record costs in the carried JSON: its id and seqs, and its fingerprint (with the id
        once more) where it has one (only from the command-fingerprints patch on)."""
        size = len(record[0].encode()) + RECORD_OVERHEAD_BYTES
        if record[0] in self._fingerprints:
            size += len(record[0].encode()) + FINGERPRINT_OVERHEAD_BYTES
        return size

    @staticmethod
    def _new_id() -> str:
        return str(workflow.uuid4())

    def _append(self, state: RelationshipState, envelopes: list[Envelope]) -> None:
        """The one place state moves: keep the new state and queue its envelopes (outbox, notifications)."""
        self._state = state
        self._events.extend(envelopes)
        self._outbox.extend(envelopes)
        self._notifications.extend(e for e in envelopes if e.type in NOTIFY_TYPES)
        self._upsert_search_attributes()

    # --- search attributes -----------------------------------------------------------------------------------

    def _current_search_attributes(self) -> dict[str, str]:
        """Legacy only (histories recorded before ``PATCH_SEARCH_FROM_HISTORY``): the values ``workflow.info()``
        shows at the start of the run."""
        found: dict[str, str] = {}
        typed = workflow.info().typed_search_attributes
        for key in SEARCH_KEYS:
            value = typed.get(key)
            if value is not None:
                found[key.name] = value
        return found

    def _upsert_search_attributes(self) -> None:
        s = self._state
        if s.seq == 0:
            return
        wanted = {STAGE.name: s.stage.value, SUBSTATE.name: s.substate.value, HEALTH.name: s.health.value}
        if s.program_id:
            wanted[PROGRAM.name] = s.program_id
        updates: list[SearchAttributeUpdate[str]] = [
            key.value_set(wanted[key.name])
            for key in SEARCH_KEYS
            if key.name in wanted and self._search.get(key.name) != wanted[key.name]
        ]
        if updates:
            workflow.upsert_search_attributes(updates)
            self._search.update(wanted)

    # --- commands ------------------------------------------------------------------------------------------------

    @workflow.update
    def command(self, command: Command) -> CommandResult:
        """Apply one command. The update id is the command id."""
        return self._apply(command)

    def _apply(self, command: Command) -> CommandResult:
        self._observe_history()  # an accepted update is a command of its task
        whole = not workflow.patched(SLIM_RESULT_PATCH)
        known = self._commands.get(command.command_id)
        if known is not None:
            return self._result(command.command_id, known, duplicate=True, whole=whole)
        self._advance()  # the timer rules due before the command come first (as the validator assumed)
        sent = command  # what the caller sent (the id is bound to it), before the rules version is pinned in
        if isinstance(command, ProposeRelationship) and command.rules_version is None:
            pinned = _pinned_rules_version()
            command = command.model_copy(update={"rules_version": pinned})
        try:
            state, envelopes = execute(self._state, command, workflow.now(), self._new_id)
        except DomainError as error:
            # Possible when another update, accepted in the same task, changed the state after this validator ran.
            raise _rejection(error) from None
        before = self._state.seq
        self._append(state, envelopes)
        span = (before + 1, state.seq)
        self._remember(command.command_id, span)
        if workflow.patched(FINGERPRINTS_PATCH):
            self._fingerprints[command.command_id] = command_fingerprint(sent)
        if state.is_closed or self._deadline_moved_earlier():
            self._wake = True
        return self._result(command.command_id, span, duplicate=False, whole=whole)

    @workflow.update(name="command_by_publisher")
    def command_by_publisher(self, request: PublisherCommand) -> CommandResult:
        """``command`` from a caller that publishes the result's envelopes itself (workflows/handover.py), after
        dropping from the outbox what it confirms it published."""
        self._confirm(request.published_through)
        return self._hand_over(self._apply(request.command))

    @workflow.signal(name="confirm_published")
    def confirm_published(self, published_through: int) -> None:
        """A caller that publishes confirms its last hand-over when no command of its follows soon (a relationship
        in a quiet spell): one signal instead of the backstop's timer and activity (workflows/handover.py)."""
        if isinstance(published_through, int) and self._confirm(published_through):
            self._wake = True  # nothing left to wait for: the main loop puts its timer back on the next deadline

    @command_by_publisher.validator
    def _validate_command_by_publisher(self, request: PublisherCommand) -> None:
        self._validate_command(request.command)

    @command.validator
    def _validate_command(self, command: Command) -> None:
        if command.command_id in self._commands:
            return  # a re-sent command: the handler returns the first result
        now = workflow.now()
        try:
            decide(catch_up(self._state, now), command, now)
        except DomainError as error:
            raise _rejection(error) from None

    def _deadline_moved_earlier(self) -> bool:
        deadline = next_deadline(self._state)
        if deadline is None:
            return False
        return self._sleeping_until is None or deadline < self._sleeping_until

    def _remember(self, command_id: str, span: tuple[int, int]) -> None:
        self._commands[command_id] = span
        while len(self._commands) > self._limits.command_records:
            oldest = next(iter(self._commands))
            del self._commands[oldest]
            self._fingerprints.pop(oldest, None)

    def _slice(self, first: int, last: int) -> list[Envelope]:
        if not self._events or last < first:
            return []
        base = self._events[0].seq
        return self._events[max(first - base, 0) : max(last - base + 1, 0)]

    def _result(self, command_id: str, span: tuple[int, int], *, duplicate: bool, whole: bool) -> CommandResult:
        """``whole``: with the whole state (histories before :data:`SLIM_RESULT_PATCH`; the query); else its view."""
        first, last = span
        return CommandResult(
            command_id=command_id,
            relationship_id=self._state.relationship_id,
            duplicate=duplicate,
            first_seq=first,
            last_seq=last,
            events=self._slice(first, last),
            state=self._state if whole else None,
            view=StateView.of(self._state),
            fingerprint=self._fingerprints.get(command_id),
        )

    # --- queries -----------------------------------------------------------------------------------------------

    @workflow.query
    def state(self) -> RelationshipState:
        return self._state

    @workflow.query
    def events(self, after_seq: int = 0) -> EventsPage:
        first = self._events[0].seq if self._events else self._state.seq + 1
        return EventsPage(
            events=self._slice(max(after_seq + 1, first), self._state.seq),
            first_available_seq=first,
            last_seq=self._state.seq,
        )

    @workflow.query
    def command_result(self, command_id: str) -> CommandResult | None:
        known = self._commands.get(command_id)
        return None if known is None else self._result(command_id, known, duplicate=True, whole=True)

    @workflow.query
    def status(self) -> WorkflowStatus:
        return WorkflowStatus(
            relationship_id=self._state.relationship_id,
            seq=self._state.seq,
            published_through=self._published_through,
            outbox=len(self._outbox),
            notifications=len(self._notifications),
            commands_remembered=len(self._commands),
            run=self._run,
            closed=self._state.is_closed,
            outbox_oldest_at=self._outbox[0].occurred_at if self._outbox else None,
        )
