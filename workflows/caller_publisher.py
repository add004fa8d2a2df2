"""The caller's side of the hand-over (workflows/handover.py): publish what a command's result hands over, and
remember how far, per relationship, to confirm it with the next command.

:class:`MentorflowClient` sends ``command_by_publisher`` instead of ``command`` when it has a
:class:`CallerPublisher`. Publishing is best effort by design: the update has returned, so the command is committed
whatever happens here; a failed or slow publication is logged and left to the workflow's backstop, which publishes
every unconfirmed envelope itself after ``Limits.caller_publish_grace``. After a failure the caller stops publishing
for ``pause_after_failure`` seconds (Kafka is likely away: commands must not each wait for it). What a caller did
publish is confirmed with its next command to the relationship, or, when none follows within ``confirm_after``
seconds, by the ``confirm_published`` signal.

The Kafka side is injected (``publish``: the publishing activity's producer, workers/connect.py), so this module
knows no Kafka client.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from domain import Envelope
from workflows.models import CommandResult

__all__ = ["CallerPublisher", "Confirm", "EnvelopePublisher"]

log = logging.getLogger(__name__)

EnvelopePublisher = Callable[[list[Envelope]], Awaitable[object]]
"""Publishes one contiguous range of one relationship's envelopes in seq order, returning once Kafka acknowledged
every one of them (raising otherwise)."""

Confirm = Callable[[str, int], Awaitable[object]]
"""Tells a relationship's workflow how far this caller published it, outside a command (the ``confirm_published``
signal: :meth:`workflows.client.MentorflowClient` attaches it)."""


class CallerPublisher:
    def __init__(
        self,
        publish: EnvelopePublisher,
        *,
        timeout: float = 5.0,
        pause_after_failure: float = 10.0,
        remembered: int = 10_000,
        confirm_after: float | None = 1.0,
        background: bool = False,
        close: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self._publish = publish
        self._close = close
        self._confirm: Confirm | None = None
        self.confirm_after = confirm_after  # None: confirmations ride on the next command only
        self._told: dict[str, int] = {}  # relationship id -> how far its workflow was told (command or signal)
        self._pending: dict[str, asyncio.Task[None]] = {}  # relationship id -> its confirmation to come
        self.background = background  # publish after the command returned to its caller, not before
        self._publishing: set[asyncio.Task[bool]] = set()
        self.timeout = timeout
        self.pause_after_failure = pause_after_failure
        self.remembered = remembered
        self._confirmed: OrderedDict[str, int] = OrderedDict()  # relationship id -> published through (LRU)
        self._paused_until = 0.0
        self.published = 0  # envelopes this caller published (acknowledged by Kafka)
        self.failed = 0  # ranges left to the backstop after a failure or a timeout

    def confirmed(self, relationship_id: str) -> int:
        """How far this caller published the relationship: the ``published_through`` of its next command."""
        return self._confirmed.get(relationship_id, 0)

    def attach(self, confirm: Confirm) -> None:
        """How to confirm outside a command (the client that sends this caller's commands attaches it)."""
        self._confirm = confirm

    def told(self, relationship_id: str, seq: int) -> None:
        """A command about to leave carries ``published_through=seq``: no separate confirmation needed up to it."""
        if relationship_id in self._confirmed:
            self._told[relationship_id] = max(seq, self._told.get(relationship_id, 0))

    @property
    def paused(self) -> bool:
        return time.monotonic() < self._paused_until

    async def after_command(self, result: CommandResult) -> None:
        """What the client does once a command returned: publish its hand-over now (awaited), or, ``background``,
        in a task of its own so the caller's next command does not wait for Kafka's acknowledgement (the order on
        the topic holds either way: every range starts at the outbox's head)."""
        if not self.background:
            await self.hand_over(result)
            return
        if not result.to_publish:
            return
        task = asyncio.get_running_loop().create_task(self.hand_over(result))
        self._publishing.add(task)
        task.add_done_callback(self._publishing.discard)

    async def hand_over(self, result: CommandResult) -> bool:
        """Publish what ``result`` hands over (nothing unless ``publish_by_caller``); True once Kafka acknowledged
        all of it. Never raises for Kafka: the workflow publishes what is not confirmed."""
        batch = result.to_publish
        if not batch or self.paused:
            return False
        try:
            await asyncio.wait_for(self._publish(batch), timeout=self.timeout)
        except Exception as exc:  # the command is committed; the backstop publishes the range
            self.failed += 1
            self._paused_until = time.monotonic() + self.pause_after_failure
            log.warning(
                "publishing seq %d..%d of relationship %s failed (%s); its workflow publishes it after its grace, "
                "and this caller leaves publishing to the workflows for %gs",
                batch[0].seq,
                batch[-1].seq,
                result.relationship_id,
                exc or type(exc).__name__,
                self.pause_after_failure,
            )
            return False
        self.published += len(batch)
        self._remember(result.relationship_id, batch[-1].seq)
        self._confirm_later(result.relationship_id)
        return True

    def _confirm_later(self, relationship_id: str) -> None:
        """Unless a command of this caller carries the confirmation first, send it after ``confirm_after`` seconds:
        a relationship in a quiet spell then costs one signal instead of the backstop's timer and activity."""
        if self._confirm is None or self.confirm_after is None or relationship_id in self._pending:
            return
        task = asyncio.get_running_loop().create_task(self._confirm_after_a_while(relationship_id))
        self._pending[relationship_id] = task
        task.add_done_callback(lambda _: self._pending.pop(relationship_id, None))

    async def _confirm_after_a_while(self, relationship_id: str) -> None:
        await asyncio.sleep(self.confirm_after or 0)
        await self._send_confirmation(relationship_id)

    async def _send_confirmation(self, relationship_id: str) -> None:
        seq = self._confirmed.get(relationship_id, 0)
        if self._confirm is None or seq <= self._told.get(relationship_id, 0):
            return
        try:
            await asyncio.wait_for(self._confirm(relationship_id, seq), timeout=self.timeout)
        except Exception as exc:  # the backstop publishes it again: a duplicate, nothing lost
            log.info(
                "confirming seq %d of relationship %s failed (%s); its workflow publishes it", seq, relationship_id, exc
            )
            return
        self.told(relationship_id, seq)

    def _remember(self, relationship_id: str, seq: int) -> None:
        self._confirmed[relationship_id] = max(seq, self._confirmed.get(relationship_id, 0))
        self._confirmed.move_to_end(relationship_id)
        while len(self._confirmed) > self.remembered:
            forgotten, _ = self._confirmed.popitem(last=False)
            self._told.pop(forgotten, None)

    async def close(self) -> None:
        """Finish the publications under way, send the confirmations still to come now (bounded waits), then close
        the producer."""
        if self._publishing:
            await asyncio.wait(list(self._publishing), timeout=self.timeout)
        pending = list(self._pending)
        for task in list(self._pending.values()):
            task.cancel()
        await asyncio.gather(*(self._send_confirmation(rid) for rid in pending), return_exceptions=True)
        if self._close is not None:
            await self._close()
