"""The outbox's hand-over to callers (issue 16: about one server write per command).

A caller that publishes (``command_by_publisher``) gets, with its command's result, every envelope of the outbox up
to its command's last seq (``CommandResult.backlog`` + ``events``): a contiguous range from the outbox's head. It
publishes the range to Kafka once the update returned (the envelopes are committed then, so only committed events
ever reach the topic) and confirms it with its next ``command_by_publisher`` (``published_through``); the confirmed
envelopes leave the outbox without a publishing activity, so a steady stream of commands costs one workflow task
each instead of two and an activity.

A caller that sends the relationship nothing more for a second confirms by the ``confirm_published`` signal instead
(one workflow task, where the backstop costs an activity and two tasks). The outbox stays the backstop: a
handed-over envelope not confirmed within ``Limits.caller_publish_grace`` (the caller crashed or lost Kafka) is
published by the activity as before; so is every envelope nobody was handed (timer events, the old ``command``
update), at once, and everything carried across continue-as-new. Kafka may then hold an envelope twice: consumers
skip ``seq <= last_seq`` after comparing hashes.

Why the order on the topic holds without a consumer-side hold: every publisher writes a contiguous range that starts
at the outbox's head, and everything before the head was acknowledged by Kafka already; so the first copy of seq N on
the topic always comes after a copy of N-1. Only duplicates remain, never gaps.

Only runs on the ordered main loop hand over (``ORDERED_COMMANDS_PATCH``): a run still on the two loops treats the
update like ``command`` and ignores the confirmation. Histories recorded before this module cannot hold the update,
whose name is new; ``CALLER_PUBLISHES_PATCH`` marks the first hand-over of a run all the same.
"""

from __future__ import annotations

import asyncio
from collections import deque
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain import Envelope, RelationshipState
    from workflows.models import CommandResult, Limits

__all__ = ["CALLER_PUBLISHES_PATCH", "Handover"]

CALLER_PUBLISHES_PATCH = "caller-publishes"
"""From this patch on, ``command_by_publisher`` hands the outbox's range over to its caller (see the module)."""


class Handover:
    """What ``RelationshipWorkflow`` knows of the ranges it handed to callers, and the outbox moves they cause."""

    if TYPE_CHECKING:  # what RelationshipWorkflow provides
        _state: RelationshipState
        _limits: Limits
        _outbox: list[Envelope]
        _published_through: int
        _wake: bool
        _ordered: bool

    def _init_handover(self) -> None:
        self._handovers: deque[tuple[int, datetime]] = deque()  # (last seq handed over, backstop deadline), in order
        self._handed_through = 0  # the highest seq handed to a caller in this run
        self._backstop_timer: asyncio.TimerHandle | None = None  # the main loop's second timer (see there)
        self._backstop_fired = False

    def _hand_over(self, result: CommandResult) -> CommandResult:
        """The result, handing the outbox's head through the command's last seq to the caller; unchanged (the
        workflow publishes) for a re-sent command, a run on the two loops, a closed relationship (it ends once its
        outbox is empty) and a backlog over one publishing batch (Kafka is likely away: the activity waits for it)."""
        if result.duplicate or not result.events or not self._ordered or self._state.is_closed:
            return result
        backlog = [e for e in self._outbox if e.seq < result.first_seq]
        if len(backlog) + len(result.events) > self._limits.publish_batch:
            return result
        if not self._outbox or self._outbox[-1].seq != result.last_seq:
            return result  # defensive: the command's envelopes are the outbox's tail when its handler returns
        if not workflow.patched(CALLER_PUBLISHES_PATCH):
            return result
        deadline = workflow.now() + timedelta(seconds=self._limits.caller_publish_grace)
        self._handovers.append((result.last_seq, deadline))
        self._handed_through = result.last_seq
        if self._backstop_timer is None:
            self._wake = True  # the main loop sets the backstop's timer in this very task
        return result.model_copy(update={"publish_by_caller": True, "backlog": backlog})

    def _confirm(self, published_through: int) -> bool:
        """A caller published everything through ``published_through`` it was handed (Kafka acknowledged it). True
        when that ended the last hand-over still waiting."""
        if not self._ordered or not self._handovers:
            return False
        self._drop_published(min(published_through, self._handed_through))
        return not self._handovers

    def _drop_published(self, through: int) -> None:
        """Everything through ``through`` is on the topic: it leaves the outbox (by seq: a caller's confirmation may
        have removed part of a batch in flight), and the hand-overs it covers are done."""
        if through <= self._published_through:
            return
        done = 0
        while done < len(self._outbox) and self._outbox[done].seq <= through:
            done += 1
        del self._outbox[:done]
        self._published_through = through
        while self._handovers and self._handovers[0][0] <= through:
            self._handovers.popleft()

    def _set_backstop_timer(self) -> None:
        """The main loop's second timer, after its first (the policy's deadlines, never moved for a hand-over): set
        while a hand-over waits for its caller, cancelled when none is left (a confirmation by signal: one command
        in that task, where a timer left to fire would cost a task of its own). A timer set for an earlier hand-over
        is kept (hand-overs only get later); when it fires, the pass publishes what is due or sets the next one."""
        deadline = self._backstop_deadline()
        if deadline is None:
            if self._backstop_timer is not None and not self._handovers:
                self._backstop_timer.cancel()
                self._backstop_timer = None
            return
        if self._backstop_timer is None:
            delay = max(deadline - workflow.now(), timedelta(0))
            self._backstop_timer = asyncio.get_running_loop().call_later(delay.total_seconds(), self._on_backstop)

    def _on_backstop(self) -> None:
        self._backstop_timer = None
        self._backstop_fired = True

    def _backstop_deadline(self) -> datetime | None:
        """When the oldest unconfirmed hand-over is due to be published by the workflow; None when nothing waits
        for a caller (or it is overdue: then the publication starts, no timer is needed for it)."""
        if not self._held():
            return None
        return self._handovers[0][1]

    def _held(self) -> bool:
        """The outbox waits for its callers: all of it was handed over and the oldest hand-over is not yet due."""
        return (
            bool(self._handovers)
            and bool(self._outbox)
            and self._outbox[-1].seq <= self._handed_through
            and not self._state.is_closed
            and workflow.now() < self._handovers[0][1]
        )
