"""The activity options of ``RelationshipWorkflow``, and the orchestration of its runs recorded before
``ORDERED_COMMANDS_PATCH`` (workflows/relationship.py), kept unchanged so those runs replay as they were recorded:
the main loop sleeps in ``wait_condition`` with a timeout (a command that wakes it cancels the timer), and two more
coroutines, the publish loop and the notify loop, schedule the activities. A run recorded since the patch never
calls this code."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from domain import Envelope, RelationshipState, next_deadline
    from workflows.models import ACTIVITY_NOTIFY, ACTIVITY_PUBLISH, Limits

__all__ = [
    "MIN_SLEEP",
    "NOTIFY_RETRY",
    "NOTIFY_TIMEOUT",
    "PUBLISH_PARKED",
    "PUBLISH_RETRY",
    "PUBLISH_TIMEOUT",
    "TwoLoops",
]

PUBLISH_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=5),
    maximum_attempts=0,  # unlimited: Kafka will come back; the outbox waits for it
    non_retryable_error_types=["InvalidBatch", "SerializationError"],
)
PUBLISH_TIMEOUT = timedelta(seconds=30)
PUBLISH_PARKED = timedelta(minutes=1)
"""After a non-retryable publishing failure (a bug, not an outage) the outbox keeps the batch and tries again this
much later: a fixed activity can still deliver it; nothing is skipped."""

NOTIFY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=20,
    non_retryable_error_types=["InvalidNotification"],
)
NOTIFY_TIMEOUT = timedelta(seconds=60)
MIN_SLEEP = timedelta(seconds=1)


class TwoLoops:
    """The main loop and the publish and notify loops of the runs recorded before ``ORDERED_COMMANDS_PATCH``."""

    if TYPE_CHECKING:  # what RelationshipWorkflow provides
        _state: RelationshipState
        _limits: Limits
        _outbox: list[Envelope]
        _notifications: list[Envelope]
        _published_through: int
        _publishing: bool
        _notifying: bool
        _draining: bool
        _wake: bool
        _sleeping_until: datetime | None

        def _drained_after_close(self) -> bool: ...

        def _continue_as_new_due(self) -> bool: ...

        async def _tick_or_end(
            self, timer_fired: bool, loops: tuple[asyncio.Task[None], ...]
        ) -> RelationshipState | None: ...

    async def _run_two_loops(self) -> RelationshipState:
        """The main loop of the runs recorded before :data:`ORDERED_COMMANDS_PATCH` (unchanged): the publish and
        notify loops run beside it."""
        publisher = asyncio.create_task(self._publish_loop())
        notifier = asyncio.create_task(self._notify_loop())
        timer_fired = False
        while True:
            if (final := await self._tick_or_end(timer_fired, (publisher, notifier))) is not None:
                return final
            deadline = next_deadline(self._state)
            now = workflow.now()
            timeout = None if deadline is None else max(deadline - now, MIN_SLEEP if deadline <= now else timedelta(0))
            self._sleeping_until = deadline
            self._wake = False
            timer_fired = False
            try:
                await workflow.wait_condition(
                    lambda: self._wake or self._drained_after_close() or self._continue_as_new_due(),
                    timeout=timeout,
                )
            except TimeoutError:  # the deadline came: the loop ticks
                timer_fired = True

    # --- the outbox and the notifications ----------------------------------------------------------------------

    async def _publish_loop(self) -> None:
        while True:
            await workflow.wait_condition(lambda: bool(self._outbox) and not self._draining)
            batch = self._outbox[: self._limits.publish_batch]
            self._publishing = True
            try:
                await workflow.execute_activity(
                    ACTIVITY_PUBLISH,
                    batch,
                    start_to_close_timeout=PUBLISH_TIMEOUT,
                    retry_policy=PUBLISH_RETRY,
                )
            except ActivityError as error:
                workflow.logger.error(
                    "publishing seq %d..%d failed without retry (%s); the outbox keeps them and tries again in %s",
                    batch[0].seq,
                    batch[-1].seq,
                    error.cause or error,
                    PUBLISH_PARKED,
                )
                self._publishing = False
                await workflow.sleep(PUBLISH_PARKED)
                continue
            finally:
                self._publishing = False
            # Acknowledged by Kafka: only now do the entries leave the queue (new ones were only appended behind).
            del self._outbox[: len(batch)]
            self._published_through = batch[-1].seq

    async def _notify_loop(self) -> None:
        while True:
            await workflow.wait_condition(lambda: bool(self._notifications) and not self._draining)
            envelope = self._notifications[0]
            self._notifying = True
            try:
                await workflow.execute_activity(
                    ACTIVITY_NOTIFY,
                    envelope,
                    start_to_close_timeout=NOTIFY_TIMEOUT,
                    retry_policy=NOTIFY_RETRY,
                )
            except ActivityError as error:
                # A notification is a courtesy; the event itself is in the log either way.
                workflow.logger.error("notification for seq %d given up: %s", envelope.seq, error.cause or error)
            finally:
                self._notifying = False
            del self._notifications[0]
