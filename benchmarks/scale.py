"""5. Scale: N open relationships on one worker and one dev server (N = 1,000 then 10,000) — the worker's resident
memory with all of them in its cache, the time to start them all, and how both grow from 1,000 to 10,000.

Each relationship is started with ``MentorflowClient.propose`` (update-with-start; ``with_state=False``: no state
query after it, like the bare start), 32 at a time; the time counts until every proposal was accepted. Memory is the
worker process's RSS once every ``RelationshipProposed`` has been published to Kafka (the outbox drained), with the
worker's cache sized to hold them all (``max_cached_workflows`` = N + 100: the worst case; the production default of
1,000 evicts and replays instead). Both workers run workflows in the workers' sandbox (workflows/sandbox.py: the
workflow modules imported once, not per run). Baseline: the bare workflow started with the same update-with-start
and the same ``ProposeRelationship`` argument, on a worker of its own.
Growth: (value at 10,000 - idle) / (value at 1,000 - idle) / 10 — 1.0 is linear, above is worse.

The bare run's workflows are terminated before the real run starts (:func:`clean`), so the real run does not share
the dev server with N open bare workflows (the real run's are terminated with the rest at the end of ``make bench``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from benchmarks.common import Result, WorkerProcess, rss_mb, task_queue, temporal_client, topic, unique
from benchmarks.load import Pair, bare_start, proposal

NAME = "scale"
SIZES = (1_000, 10_000)
SMOKE_SIZES = (10, 40)
CONCURRENCY = 32


async def _topic_size(name: str) -> int:
    from benchmarks.common import settings
    from projections.rebuild import topic_size

    return await topic_size(settings().kafka.access, name)


async def clean(workflow_ids: list[str]) -> None:
    """Terminate these workflows, CONCURRENCY at a time (one that is already closed is fine)."""
    from temporalio.service import RPCError

    client = await temporal_client()
    queue: asyncio.Queue[str] = asyncio.Queue()
    for wid in workflow_ids:
        queue.put_nowait(wid)

    async def one() -> None:
        while not queue.empty():
            handle = client.get_workflow_handle(queue.get_nowait())
            with contextlib.suppress(RPCError):
                await handle.terminate(reason="benchmark: the bare run is over")

    await asyncio.gather(*(one() for _ in range(CONCURRENCY)))


async def start_all(kind: str, n: int, tq: str, events_topic: str) -> tuple[float, int, list[str]]:
    """Start n relationships; returns (seconds until all accepted, events they appended, bare workflow ids)."""
    client = await temporal_client()
    from workflows.client import MentorflowClient

    mf = MentorflowClient(client, task_queue=tq)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)
    events = 0
    prefix = unique("sc")

    async def one() -> None:
        nonlocal events
        while True:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            pair = Pair(f"{prefix}-{i:05d}")
            if kind == "real":
                result = await mf.propose(proposal(pair, "prog-bench-scale"), with_state=False)
                events += result.last_seq
            else:
                await bare_start(client, tq, pair.relationship_id, proposal(pair, "prog-bench-scale"))

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(CONCURRENCY)))
    bare_ids = [f"bare-{prefix}-{i:05d}" for i in range(n)] if kind == "bare" else []
    return time.perf_counter() - started, events, bare_ids


def _worker(kind: str, tq: str, events_topic: str, max_cached: int) -> WorkerProcess:
    return WorkerProcess(
        "worker", "--kind", kind, "--task-queue", tq, "--topic", events_topic, "--max-cached", str(max_cached)
    )


async def _measure_on(
    worker: WorkerProcess, kind: str, n: int, tq: str, events_topic: str, settle: float
) -> tuple[float, float, float, list[str]]:
    """(seconds to start n, worker RSS MB with n open, RSS MB before, bare workflow ids) on a running worker."""
    await asyncio.sleep(settle)
    idle = rss_mb(worker.pid)
    before = await _topic_size(events_topic) if kind == "real" else 0
    seconds, events, bare_ids = await start_all(kind, n, tq, events_topic)
    if kind == "real":  # memory once the outboxes drained
        deadline = time.monotonic() + 300
        while await _topic_size(events_topic) < before + events and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.5)  # polling the topic
    await asyncio.sleep(settle)
    return seconds, rss_mb(worker.pid), idle, bare_ids


async def measure(kind: str, n: int, events_topic: str, settle: float) -> tuple[float, float, float]:
    """(seconds to start n, worker RSS MB with n open, idle RSS MB), on a worker of its own."""
    tq = task_queue()
    async with _worker(kind, tq, events_topic, n + 100) as worker:
        seconds, memory, idle, bare_ids = await _measure_on(worker, kind, n, tq, events_topic, settle)
    await clean(bare_ids)
    return seconds, memory, idle


async def measure_smoke(kind: str, sizes: tuple[int, int], events_topic: str) -> dict[int, tuple[float, float, float]]:
    """The smoke run's sizes one after the other on ONE worker of each kind (two process starts, not four: the
    smoke run only proves the benchmark runs, in the suite's time budget). The larger size's "idle" is the worker
    with the smaller size's relationships still cached; a full run starts a fresh worker per size (:func:`measure`)."""
    tq = task_queue()
    got: dict[int, tuple[float, float, float]] = {}
    started: list[str] = []
    async with _worker(kind, tq, events_topic, sum(sizes) + 100) as worker:
        for n in sizes:
            seconds, memory, idle, bare_ids = await _measure_on(worker, kind, n, tq, events_topic, 0.3)
            got[n] = (seconds, memory, idle)
            started += bare_ids
    await clean(started)
    return got


async def run(smoke: bool) -> list[Result]:
    small, large = SMOKE_SIZES if smoke else SIZES
    got: dict[tuple[str, int], tuple[float, float, float]] = {}
    async with topic("scale") as t:
        if smoke:
            for kind in ("bare", "real"):
                got.update({(kind, n): m for n, m in (await measure_smoke(kind, (small, large), t)).items()})
        else:
            for n in (small, large):
                for kind in ("bare", "real"):
                    got[(kind, n)] = await measure(kind, n, t, 2.0)
    results: list[Result] = []
    (rs, rm, ri), (bs, bm, bi) = got[("real", large)], got[("bare", large)]
    (rs1, rm1, ri1), (bs1, bm1, bi1) = got[("real", small)], got[("bare", small)]
    results.append(
        Result(NAME, f"worker memory, {large:,} open (idle {ri:.0f} MB)", rm, "MB", bm, "bare workflow worker")
    )
    results.append(
        Result(
            NAME,
            f"worker memory per open relationship at {large:,}",
            (rm - ri) / large * 1024,
            "kB",
            (bm - bi) / large * 1024,
            "bare workflow worker",
            "≤ 1.5 of bare",
            (rm - ri) <= 1.5 * (bm - bi),
        )
    )
    results.append(Result(NAME, f"time to start {large:,}", rs, "s", bs, "bare update-with-start"))
    results.append(
        Result(
            NAME,
            f"start rate at {large:,}",
            large / rs,
            "starts/s",
            large / bs,
            "bare update-with-start",
            note=f"at {small:,}: {small / rs1:.0f}/s (bare {small / bs1:.0f}/s)",
        )
    )
    grow_mem = ((rm - ri) / max(rm1 - ri1, 1e-9)) / (large / small)
    grow_mem_bare = ((bm - bi) / max(bm1 - bi1, 1e-9)) / (large / small)
    grow_time = (rs / rs1) / (large / small)
    grow_time_bare = (bs / bs1) / (large / small)
    results.append(
        Result(
            NAME,
            f"memory growth {small:,} → {large:,} (1.0 = linear)",
            grow_mem,
            "x",
            grow_mem_bare,
            "bare, same growth",
            "linear (≤ 1.2)",
            grow_mem <= 1.2,
        )
    )
    results.append(
        Result(
            NAME,
            f"start-time growth {small:,} → {large:,} (1.0 = linear)",
            grow_time,
            "x",
            grow_time_bare,
            "bare, same growth",
            "linear (≤ 1.2)",
            grow_time <= 1.2,
        )
    )
    return results
