"""The caller's side of the hand-over (workflows/caller_publisher.py): it publishes exactly what a result hands over,
remembers how far per relationship, and never fails a committed command for Kafka."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest

from domain import Actor, RelationshipState, Role, builtin_policy, execute
from domain.commands import ProposeRelationship
from workflows.caller_publisher import CallerPublisher
from workflows.models import CommandResult, StateView

MANAGER = Actor(id="mgr", role=Role.MANAGER)
NOW = datetime(2026, 1, 5, tzinfo=UTC)


def _result(*, by_caller: bool, backlog_len: int = 0, relationship_id: str = "r-1") -> CommandResult:
    """A real chain (the proposal's sealed envelopes) cut into a result: the first ``backlog_len`` as its backlog."""
    ids = (str(uuid.UUID(int=i)) for i in range(1, 1000))
    state, envelopes = execute(
        RelationshipState.new(relationship_id),
        ProposeRelationship(
            command_id="c-1",
            actor=MANAGER,
            relationship_id=relationship_id,
            program_id="p",
            mentor_id="ana",
            mentee_id="bo",
            policy=builtin_policy("mentoring-12m"),
        ),
        NOW,
        lambda: next(ids),
    )
    backlog, events = envelopes[:backlog_len], envelopes[backlog_len:]
    return CommandResult(
        command_id="c-1",
        relationship_id=relationship_id,
        first_seq=events[0].seq,
        last_seq=events[-1].seq,
        events=events,
        view=StateView.of(state),
        publish_by_caller=by_caller,
        backlog=backlog,
    )


async def test_it_publishes_the_backlog_then_the_events_and_remembers_how_far() -> None:
    sent: list[list[int]] = []

    async def publish(batch: list) -> None:  # type: ignore[type-arg]
        sent.append([e.seq for e in batch])

    caller = CallerPublisher(publish)
    result = _result(by_caller=True, backlog_len=1)
    assert await caller.hand_over(result)
    assert sent == [list(range(1, result.last_seq + 1))]  # one contiguous range from the outbox's head
    assert caller.confirmed("r-1") == result.last_seq and caller.confirmed("r-2") == 0
    assert caller.published == result.last_seq

    assert not await caller.hand_over(_result(by_caller=False))  # the workflow publishes those itself
    assert len(sent) == 1


async def test_a_failure_or_a_timeout_is_left_to_the_backstop_and_pauses_the_caller() -> None:
    calls = 0

    async def away(batch: list) -> None:  # type: ignore[type-arg]
        nonlocal calls
        calls += 1
        raise ConnectionError("kafka is away")

    caller = CallerPublisher(away, pause_after_failure=60)
    assert not await caller.hand_over(_result(by_caller=True))  # never raises: the command is committed
    assert caller.failed == 1 and caller.paused and caller.confirmed("r-1") == 0
    assert not await caller.hand_over(_result(by_caller=True))  # paused: Kafka is not asked again for a while
    assert calls == 1

    async def hangs(batch: list) -> None:  # type: ignore[type-arg]
        await asyncio.sleep(60)

    slow = CallerPublisher(hangs, timeout=0.05)
    assert not await slow.hand_over(_result(by_caller=True))
    assert slow.failed == 1 and slow.confirmed("r-1") == 0


async def test_it_remembers_a_bounded_number_of_relationships_newest_kept() -> None:
    async def publish(batch: list) -> None:  # type: ignore[type-arg]
        return None

    caller = CallerPublisher(publish, remembered=2)
    for rid in ("r-1", "r-2", "r-3"):
        assert await caller.hand_over(_result(by_caller=True, relationship_id=rid))
    assert caller.confirmed("r-1") == 0  # forgotten: its next command confirms nothing, the backstop publishes
    assert caller.confirmed("r-2") > 0 and caller.confirmed("r-3") > 0


@pytest.mark.parametrize("confirmed", [0, 3])
def test_a_confirmation_never_goes_backwards(confirmed: int) -> None:
    async def publish(batch: list) -> None:  # type: ignore[type-arg]
        return None

    caller = CallerPublisher(publish)
    caller._remember("r-1", confirmed)
    caller._remember("r-1", 2)
    assert caller.confirmed("r-1") == max(confirmed, 2)


async def test_a_confirmation_follows_unless_a_command_carried_it_and_close_sends_what_is_due() -> None:
    async def publish(batch: list) -> None:  # type: ignore[type-arg]
        return None

    signals: list[tuple[str, int]] = []

    async def confirm(relationship_id: str, seq: int) -> None:
        signals.append((relationship_id, seq))

    caller = CallerPublisher(publish, confirm_after=0.01)
    caller.attach(confirm)
    quiet = _result(by_caller=True, relationship_id="r-quiet")
    busy = _result(by_caller=True, relationship_id="r-busy")
    await caller.hand_over(quiet)
    await caller.hand_over(busy)
    caller.told("r-busy", busy.last_seq)  # its next command left with the confirmation
    await asyncio.sleep(0.2)
    assert signals == [("r-quiet", quiet.last_seq)]

    slow = CallerPublisher(publish, confirm_after=60)
    slow.attach(confirm)
    await slow.hand_over(_result(by_caller=True, relationship_id="r-closing"))
    await slow.close()  # a process stopping confirms now rather than leave a duplicate to the backstop
    assert signals[-1][0] == "r-closing"


async def test_in_the_background_the_command_returns_first_and_close_waits_for_the_publication() -> None:
    release = asyncio.Event()
    sent: list[int] = []

    async def slow(batch: list) -> None:  # type: ignore[type-arg]
        await release.wait()
        sent.append(batch[-1].seq)

    caller = CallerPublisher(slow, background=True, confirm_after=None)
    result = _result(by_caller=True)
    await asyncio.wait_for(caller.after_command(result), timeout=1)  # returns without waiting for Kafka
    assert sent == [] and caller.confirmed("r-1") == 0
    asyncio.get_running_loop().call_later(0.05, release.set)
    await caller.close()  # a stopping process finishes what is under way
    assert sent == [result.last_seq] and caller.confirmed("r-1") == result.last_seq
