"""Thousands of commands to one relationship: it continues as new when Temporal suggests it, loses no event and no
outbox entry; the idempotency records carried are the newest that fit their byte budget, and a re-sent command among
them appends nothing.

Two sizes of the same path (the workflow asks ``is_continue_as_new_suggested()``, the server answers from its history
count). CI: 600 commands on a dev server of the test's own that suggests continue-as-new at 200 history events
(~35 commands a run: many runs), with a record budget of 300 records, so the re-sent commands below were applied
several runs back. ``make test-long`` (``MENTORFLOW_TEST_LONG=1``): 5,100 commands
on the session's dev server at its default suggestion (~4,096 events) and the production budgets.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from temporalio.client import WorkflowExecutionStatus

from domain import verify_chain
from tests.conftest import own_dev_server
from tests.integration.devserver.conftest import World
from tests.integration.topic import by_key, read_topic
from workers.worker import WORKFLOW_CACHE
from workflows.client import EventsTruncated
from workflows.models import (
    FINGERPRINT_OVERHEAD_BYTES,
    RECORD_OVERHEAD_BYTES,
    Limits,
    RelationshipWorkflowInput,
    workflow_id,
)

LONG = os.environ.get("MENTORFLOW_TEST_LONG") == "1"
COMMANDS = 5_100 if LONG else 600
CONCURRENCY = 10  # the in-flight update limit per workflow
SUGGEST_AT = 200  # history events: CI's own dev server suggests continue-as-new this early
PER_RECORD = 2 * len(str(uuid.uuid4())) + RECORD_OVERHEAD_BYTES + FINGERPRINT_OVERHEAD_BYTES  # a uuid command id
LIMITS = Limits() if LONG else Limits(command_records_bytes=300 * PER_RECORD)


async def continue_as_new_inputs(world: World, rid: str) -> list[RelationshipWorkflowInput]:
    """What each finished run handed to the next one, read back from the runs' histories."""
    inputs: list[tuple[object, RelationshipWorkflowInput]] = []
    async for execution in world.temporal.list_workflows(f"WorkflowId = '{workflow_id(rid)}'"):
        if execution.status != WorkflowExecutionStatus.CONTINUED_AS_NEW:
            continue
        history = await world.temporal.get_workflow_handle(workflow_id(rid), run_id=execution.run_id).fetch_history()
        last = history.events[-1]
        assert last.HasField("workflow_execution_continued_as_new_event_attributes")
        payloads = last.workflow_execution_continued_as_new_event_attributes.input.payloads
        [carried] = await world.temporal.data_converter.decode(payloads, [RelationshipWorkflowInput])
        inputs.append((execution.start_time, carried))
    return [carried for _, carried in sorted(inputs, key=lambda pair: pair[0])]  # type: ignore[arg-type,return-value]


@pytest.fixture
async def world(world_factory: Callable[..., World]) -> AsyncIterator[World]:
    """The production workflow cache: thousands of commands with a full replay per task would cost O(n²) (minutes);
    what this test proves is volume and continue-as-new, and the runs it makes replay in CI through the saved
    ``continued-as-new`` history."""
    if LONG:
        w = world_factory(limits=LIMITS, max_cached_workflows=WORKFLOW_CACHE)
        async with w.run_worker():
            yield w
        return
    suggest = f"limit.historyCount.suggestContinueAsNew={SUGGEST_AT}"
    async with own_dev_server(suggest) as env:
        w = world_factory(limits=LIMITS, max_cached_workflows=WORKFLOW_CACHE, temporal=env.client)  # type: ignore[attr-defined]
        async with w.run_worker():
            yield w


async def test_five_thousand_commands_continue_as_new_and_lose_nothing(world: World) -> None:
    rid, began = await world.propose_in_trial()
    start_seq = (await world.client.state(rid)).seq
    ids = [str(uuid.uuid4()) for _ in range(COMMANDS)]
    queue: asyncio.Queue[str] = asyncio.Queue()
    for command_id in ids:
        queue.put_nowait(command_id)

    first_seq: dict[str, int] = {}

    async def sender() -> None:
        while not queue.empty():
            command_id = queue.get_nowait()
            first_seq[command_id] = (await world.meeting(rid, began, command_id)).first_seq

    started = time.monotonic()
    await asyncio.gather(*(sender() for _ in range(CONCURRENCY)))
    sent_in = time.monotonic() - started

    state = await world.client.state(rid)
    status = await world.client.status(rid)
    print(f"\n{COMMANDS} commands in {sent_in:.1f}s; runs: {status.run + 1}")
    assert state.meetings == COMMANDS and state.seq == start_seq + COMMANDS
    assert status.run >= 1, "expected at least one continue-as-new"
    # The records carried across continue-as-new are the newest that fit their byte budget (each one: its id, its
    # seqs and its fingerprint); all ids here are uuids, so each costs the same and the count is exact.
    fits = min(LIMITS.command_records_bytes // PER_RECORD, LIMITS.command_records)
    assert fits < COMMANDS  # the window is exercised: older records were dropped
    assert min(fits, COMMANDS + 5) <= status.commands_remembered <= COMMANDS + 5  # 5 setup commands

    # Idempotency records survived every continue-as-new: re-sent commands from each run append nothing.
    by_seq = sorted(first_seq, key=first_seq.__getitem__)
    oldest_carried = by_seq[-(fits - 10)]  # well inside the carried window, applied several runs ago
    for command_id in (oldest_carried, by_seq[-(fits // 2)], by_seq[-1]):
        again = await world.meeting(rid, began, command_id)
        assert again.first_seq == again.last_seq == first_seq[command_id]
        # Within the run that applied it, Temporal's update-id dedup answers with the original result (the state as
        # it was then); after a continue-as-new the workflow's records answer. Either way nothing was appended.
        assert (await world.client.state(rid)).seq == state.seq
    resent = await world.meeting(rid, began, oldest_carried)  # answered from the carried records
    assert resent.duplicate and resent.first_seq == first_seq[oldest_carried]
    assert (await world.client.state(rid)).seq == state.seq

    # The events query holds the tail (256 carried) and this run; older ones are on Kafka.
    with pytest.raises(EventsTruncated):
        await world.client.events(rid, after_seq=0)
    tail = await world.client.events(rid, after_seq=state.seq - 10)
    assert [e.seq for e in tail] == list(range(state.seq - 9, state.seq + 1))

    # Every continue-as-new carried a contiguous outbox (published_through+1 .. seq) and the newest records that fit.
    # The re-sent commands add history too (a later continue-as-new may follow them), and visibility lags a little:
    # the runs listed must come to equal the runs the workflow counts.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while True:
        runs = (await world.client.status(rid)).run
        carried = await continue_as_new_inputs(world, rid)
        if len(carried) == runs or loop.time() > deadline:
            break
        await asyncio.sleep(0.5)
    assert len(carried) == runs >= status.run
    for handed in carried:
        assert handed.state is not None
        outbox = [e.seq for e in handed.outbox]
        assert outbox == list(range(handed.published_through + 1, handed.state.seq + 1))
        assert len(handed.commands) == min(handed.state.seq - start_seq + 5, fits)
        assert handed.tail[-1].seq == handed.state.seq
    print("outbox entries carried at each continue-as-new:", [len(h.outbox) for h in carried])

    # Kafka has every event once, in seq order, chained.
    deadline = loop.time() + 30
    while (await world.client.status(rid)).published_through < state.seq:
        assert loop.time() < deadline
        await asyncio.sleep(0.2)
    records = by_key(await read_topic(world.settings.kafka.bootstrap_servers, world.topic, state.seq), rid)
    assert [int(dict(r.headers)["seq"]) for r in records] == list(range(1, state.seq + 1))
    report = verify_chain(r.value for r in records)
    assert report.ok and report.last_hash == state.last_hash, report
