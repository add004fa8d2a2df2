"""Issue 16 item 1, step 3: a caller that publishes (``command_by_publisher``) takes the outbox's range with its
command's result, publishes it and confirms it with its next command; the workflow publishes only what a caller does
not confirm within its grace (the backstop), what nobody was handed (timer events) and what a closed relationship
leaves. Both publishers append to one list here, as both write to one partition of the topic."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowUpdateFailedError

from domain import AcceptMatch, Envelope, InvalidCommand
from domain.scripting import command
from tests.workflow.conftest import MENTEE, MENTOR, Lifecycle
from workflows.caller_publisher import CallerPublisher
from workflows.client import new_command_id
from workflows.handover import CALLER_PUBLISHES_PATCH
from workflows.models import CommandResult, Limits


class Topic:
    """The caller's side of the one partition: appends what the caller publishes to the list the workflow's
    publishing activity appends to (``RecordingPublisher.envelopes``), unless told to fail like an absent Kafka."""

    def __init__(self, shared: list[Envelope]) -> None:
        self.shared = shared
        self.fail = False
        self.calls: list[tuple[int, int]] = []

    async def publish(self, batch: list[Envelope]) -> None:
        self.calls.append((batch[0].seq, batch[-1].seq))
        if self.fail:
            raise ConnectionError("kafka is away")
        self.shared.extend(batch)


GRACE = Limits(caller_publish_grace=120.0)
"""The time-skipping server skips only while the test sleeps: between commands, workflow time runs in real time, and a
loaded machine could take the default 5 s between two of them (the backstop would publish what the test expects the
caller to). A longer grace costs nothing: the test sleeps past it, skipped."""


def _publishing_caller(lc: Lifecycle, **options: Any) -> Topic:
    """The lifecycle's client publishes through a :class:`Topic`; it confirms only with its next command unless
    ``confirm_after`` is given (then also by the signal, that many real seconds after publishing)."""
    assert lc.publisher is not None
    topic = Topic(lc.publisher.envelopes)
    lc.client.publisher = CallerPublisher(topic.publish, **{"confirm_after": None, **options})
    return topic


def assert_a_clean_partition(envelopes: list[Envelope], through: int) -> None:
    """What consumers need: the first copy of every seq comes in seq order with no gap, and every other copy of it
    is the same envelope (same hash)."""
    first_copies: dict[int, Envelope] = {}
    for e in envelopes:
        known = first_copies.setdefault(e.seq, e)
        assert known.hash == e.hash, f"seq {e.seq} published as two different envelopes"
    assert list(first_copies) == list(range(1, through + 1))


async def _history_counts(lc: Lifecycle) -> dict[str, int]:
    history = await lc.client.handle(lc.relationship_id).fetch_history()
    counts: dict[str, int] = {}
    for event in history.events:
        name = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")
        counts[name] = counts.get(name, 0) + 1
    return counts


async def test_a_stream_of_commands_is_published_by_its_caller_and_confirmed(lifecycle: Lifecycle) -> None:
    lc = lifecycle
    lc.client.limits = GRACE  # the backstop waits in workflow time, which runs in real time here
    await lc.propose()  # update-with-start: published by the workflow, as before
    await lc.sleep(seconds=10)
    topic = _publishing_caller(lc)
    before = await _history_counts(lc)

    first = await lc.do("AcceptMatch", MENTOR)
    assert first.publish_by_caller and first.to_publish == first.events
    await lc.do("AcceptMatch", MENTEE)
    await lc.do("SignAgreement", MENTOR, goals=["public speaking"], cadence="P2W")
    last = await lc.do("SignAgreement", MENTEE, goals=["promotion case"], cadence="P2W")

    after = await _history_counts(lc)
    # the three confirmed commands cost no publishing activity: the only one scheduled since is the last command's
    # backstop, which has not come yet (its grace is not over)
    assert after.get("ACTIVITY_TASK_SCHEDULED", 0) == before.get("ACTIVITY_TASK_SCHEDULED", 0)
    assert len(topic.calls) == 4 and all(a <= b for a, b in topic.calls)
    status = await lc.client.status(lc.relationship_id)
    assert status.outbox == len(last.events)  # only the last command waits: nothing confirmed it yet
    assert status.published_through == last.first_seq - 1

    await lc.sleep(seconds=GRACE.caller_publish_grace + 5)  # the backstop publishes the unconfirmed last command
    status = await lc.client.status(lc.relationship_id)
    assert status.outbox == 0 and status.published_through == last.last_seq
    published = lc.published()
    assert_a_clean_partition(published, last.last_seq)
    assert [e.seq for e in published].count(last.last_seq) == 2  # the caller's copy and the backstop's

    history = await lc.client.handle(lc.relationship_id).fetch_history()
    markers = [
        e.marker_recorded_event_attributes for e in history.events if e.HasField("marker_recorded_event_attributes")
    ]
    assert any(CALLER_PUBLISHES_PATCH.encode() in m.SerializeToString() for m in markers)


async def test_a_caller_that_cannot_publish_leaves_it_to_the_backstop(lifecycle: Lifecycle) -> None:
    lc = lifecycle
    lc.client.limits = GRACE  # the backstop waits in workflow time, which runs in real time here
    await lc.propose()
    await lc.sleep(seconds=10)
    topic = _publishing_caller(lc, pause_after_failure=0.0)
    topic.fail = True
    first = await lc.do("AcceptMatch", MENTOR)
    second = await lc.do("AcceptMatch", MENTEE)  # confirms nothing: its caller published nothing
    assert first.publish_by_caller and second.publish_by_caller
    assert second.backlog == first.events  # the outbox's head: the next caller publishes the range whole
    assert topic.calls == [(first.first_seq, first.last_seq), (first.first_seq, second.last_seq)]
    assert lc.client.publisher is not None and lc.client.publisher.failed == 2
    assert (await lc.client.status(lc.relationship_id)).outbox == len(first.events) + len(second.events)

    await lc.sleep(seconds=GRACE.caller_publish_grace + 5)
    status = await lc.client.status(lc.relationship_id)
    assert status.outbox == 0 and status.published_through == second.last_seq
    published = lc.published()
    assert_a_clean_partition(published, second.last_seq)
    assert len(published) == second.last_seq  # nobody else published: every seq exactly once


async def test_timer_events_are_published_at_once_with_the_range_before_them(lifecycle: Lifecycle) -> None:
    lc = lifecycle
    lc.client.limits = Limits(caller_publish_grace=10 * 86_400)  # a backstop that cannot be what publishes here
    await lc.propose()
    await lc.sleep(seconds=10)
    topic = _publishing_caller(lc, pause_after_failure=0.0)
    topic.fail = True  # the caller's Kafka is away: what it is handed stays in the outbox
    await lc.do("AcceptMatch", MENTOR)
    accepted = await lc.do("AcceptMatch", MENTEE)
    assert accepted.publish_by_caller and (await lc.client.status(lc.relationship_id)).outbox > 0
    await lc.sleep(days=8)  # day 7: the pair has not signed, the timer rules append a nudge: published at once
    nudge = [e for e in await lc.events() if e.type == "NudgeSent"]
    assert nudge, "the kickoff nudge is due after 7 days"
    status = await lc.client.status(lc.relationship_id)
    assert status.outbox == 0 and status.published_through == nudge[-1].seq
    assert_a_clean_partition(lc.published(), nudge[-1].seq)  # the held commands went out with it, in order

    topic.fail = False
    signed = await lc.do("SignAgreement", MENTOR, goals=["public speaking"], cadence="P2W")
    assert signed.publish_by_caller and signed.backlog == []  # the outbox's head had been published
    assert topic.calls[-1] == (signed.first_seq, signed.last_seq)


async def test_a_closing_command_is_published_by_the_workflow_without_waiting(lifecycle: Lifecycle) -> None:
    lc = lifecycle
    await lc.propose()
    await lc.sleep(seconds=10)
    _publishing_caller(lc)
    declined = await lc.do("DeclineMatch", MENTEE, reason="not now")
    assert not declined.publish_by_caller  # closed: it ends once its outbox is empty, nobody waits for a caller
    final = await lc.wait_closed()
    assert final.is_closed
    assert_a_clean_partition(lc.published(), declined.last_seq)


async def test_a_caller_with_nothing_more_to_send_confirms_by_a_signal(lifecycle: Lifecycle) -> None:
    lc = lifecycle
    lc.client.limits = GRACE  # the backstop waits in workflow time, which runs in real time here
    await lc.propose()
    await lc.sleep(seconds=10)
    _publishing_caller(lc, confirm_after=0.5)
    before = await _history_counts(lc)
    accepted = await lc.do("AcceptMatch", MENTOR)
    with pytest.raises(InvalidCommand):  # refused: the confirmation it carried did not arrive, the signal will
        await lc.do("AcceptMatch", MENTOR)
    for _ in range(600):  # real seconds: the signal leaves 0.05 s after the publication (a loaded machine: slower)
        status = await lc.client.status(lc.relationship_id)
        if status.outbox == 0:
            break
        await asyncio.sleep(0.1)
    assert status.outbox == 0 and status.published_through == accepted.last_seq
    after = await _history_counts(lc)
    assert after.get("WORKFLOW_EXECUTION_SIGNALED", 0) == before.get("WORKFLOW_EXECUTION_SIGNALED", 0) + 1
    assert after.get("ACTIVITY_TASK_SCHEDULED", 0) == before.get("ACTIVITY_TASK_SCHEDULED", 0)  # no backstop
    published = lc.published()
    assert_a_clean_partition(published, accepted.last_seq)
    assert len(published) == accepted.last_seq  # every seq once: the caller's copy only

    await lc.sleep(days=4)  # the mentee's acceptance reminder (3 days): the timer is back on the policy's deadline
    later = [e.type for e in await lc.events() if e.seq > accepted.last_seq]
    assert "AcceptanceReminderSent" in later, later


async def test_hostile_confirmations_are_refused_or_clamped_and_lose_nothing(lifecycle: Lifecycle) -> None:
    """What a caller with Temporal access can send beside the client: a confirmation that is no number, negative, or
    beyond anything handed out (the signal, or ``published_through`` on the update). A malformed one changes nothing
    (the update is refused before it is applied, nothing appended; the signal is dropped); a too-large one confirms
    only what was handed out, never a seq the workflow still has to publish; the workflow task never fails."""
    lc = lifecycle
    lc.client.limits = GRACE  # the backstop waits in workflow time, which runs in real time here
    await lc.propose()
    await lc.sleep(seconds=10)
    handle = lc.client.handle(lc.relationship_id)
    settled = await lc.client.status(lc.relationship_id)
    assert settled.outbox == 0
    for hostile in ("seven", None, -3, 10**30, 2**63, True, [1], {"seq": 1}):
        await handle.signal("confirm_published", hostile)
    accept_mentor = command(AcceptMatch, MENTOR, new_command_id())
    for published_through in (-1, "seven", 2.5, None):
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            raw = {"command": accept_mentor.model_dump(mode="json"), "published_through": published_through}
            await handle.execute_update(
                "command_by_publisher", raw, id=f"{accept_mentor.command_id}-{published_through}"
            )
        assert "Failed decoding arguments" in str(refused.value.cause)  # by the SDK, before the validator
    status = await lc.client.status(lc.relationship_id)
    assert status.seq == settled.seq and status.published_through == settled.published_through  # nothing appended

    topic = _publishing_caller(lc, pause_after_failure=0.0)
    topic.fail = True  # the caller's Kafka is away: the first hand-over is not published by anyone yet
    first = await lc.do("AcceptMatch", MENTOR)
    accept_mentee = command(AcceptMatch, MENTEE, new_command_id())
    raw = {"command": accept_mentee.model_dump(mode="json"), "published_through": 10**30}
    second = CommandResult.model_validate(
        await handle.execute_update("command_by_publisher", raw, id=accept_mentee.command_id, result_type=dict)
    )
    assert second.publish_by_caller and second.first_seq == first.last_seq + 1
    status = await lc.client.status(lc.relationship_id)
    # clamped to what was handed out before this command: the second command's envelopes wait for their caller
    assert status.published_through == first.last_seq and status.outbox == len(second.events)
    await lc.sleep(seconds=GRACE.caller_publish_grace + 5)  # nobody publishes the second range: the backstop does
    status = await lc.client.status(lc.relationship_id)
    assert status.outbox == 0 and status.published_through == second.last_seq
    assert [e.seq for e in lc.published() if e.seq > first.last_seq] == list(
        range(second.first_seq, second.last_seq + 1)
    )
    counts = await _history_counts(lc)
    assert counts.get("WORKFLOW_TASK_FAILED", 0) == 0
