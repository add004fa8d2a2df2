"""Continue-as-new carries the events tail and the idempotency records within their byte budgets, newest kept: texts
as long as the domain's limits allow and long command ids cannot push the input past Temporal's payload limit."""

from __future__ import annotations

from collections.abc import Callable

from tests.cache import replay_from_scratch
from tests.integration.devserver.conftest import MENTOR, World, command
from tests.integration.devserver.test_continue_as_new import continue_as_new_inputs
from workers.worker import WORKFLOW_CACHE
from workflows.models import RECORD_OVERHEAD_BYTES, Limits

TAIL_BYTES = 16 * 1024
RECORD_BYTES = 4 * 1024


async def test_long_texts_and_long_command_ids_are_carried_within_their_byte_budgets(
    world_factory: Callable[..., World],
) -> None:
    limits = Limits(continue_as_new_after_events=100, events_tail_bytes=TAIL_BYTES, command_records_bytes=RECORD_BYTES)
    # 4 kB envelopes: a full replay per task (tests/cache.py) would cost minutes; the replay is made once at the end
    world = world_factory(limits=limits, max_cached_workflows=WORKFLOW_CACHE)
    notes = "\U0001f600" * 1_000  # a 4 kB envelope
    async with world.run_worker():
        rid, began = await world.propose_in_trial()
        ids = [f"{i:03d}-" + "c" * 150 for i in range(60)]
        for command_id in ids:
            last = await world.client.send(
                rid, command("LogMeeting", MENTOR, command_id, held_at=began.isoformat(), notes=notes)
            )
        status = await world.client.status(rid)
        assert status.run >= 2, "expected continue-as-new"
        for handed in await continue_as_new_inputs(world, rid):
            assert handed.state is not None
            seqs = [e.seq for e in handed.tail]
            assert seqs and seqs == list(range(seqs[0], handed.state.seq + 1))  # the newest, contiguous
            assert sum(len(e.to_bytes()) for e in handed.tail) <= TAIL_BYTES
            assert len(handed.tail) < handed.state.seq  # cut by bytes, not by the 256 envelopes count
            records = list(handed.commands)
            assert records and sum(len(c) + RECORD_OVERHEAD_BYTES for c in records) <= RECORD_BYTES
            assert handed.commands[records[-1]][1] == handed.state.seq  # the newest record is kept
        again = await world.client.send(
            rid, command("LogMeeting", MENTOR, ids[-1], held_at=began.isoformat(), notes=notes)
        )
        assert (again.first_seq, again.view.seq) == (last.first_seq, last.view.seq)  # applied once
    assert await replay_from_scratch(world.temporal, rid) >= status.run + 1  # every run, with the current code
