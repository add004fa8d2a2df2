"""1. Command throughput: commands/s through ``RelationshipWorkflow`` (validator ``decide``, ``execute``: events and
hash chain, outbox, publishing activity to Kafka) against the bare workflow whose update does nothing
(:mod:`benchmarks.bare`), at 1 and 8 concurrent clients.

Each client sends commands one after the other to its own relationship (in its trial: LogMeeting, SubmitCheckIn,
SetGoal) for a fixed time, through ``MentorflowClient.send`` (real) or a plain ``execute_update`` (bare). The real
client publishes its commands' events itself, as the API and the demo do (``command_by_publisher``; the workflows
backstop it), and the figure counts until every accepted command's events were acknowledged by Kafka, not just
accepted. Both workers run in their own process on the same dev server, and the runs are interleaved (bare, real,
bare, real: ``ROUNDS`` of each, each a ``1 / ROUNDS`` share of the time) so that a change in the machine's load
touches both alike; continue-as-new happens in both when Temporal suggests it.

Beside each rate, the CPU each command cost by process (:mod:`benchmarks.cpu`: the dev server, the worker, this
process as the client, the Kafka broker), real against bare: the arithmetic of a ratio on a CPU-bound machine.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from benchmarks.common import Result, WorkerProcess, settings, task_queue, temporal_client, topic, unique
from benchmarks.cpu import CpuMeter, service_pids
from benchmarks.load import Pair, bare_send, bare_start, command, open_relationship, proposal

NAME = "throughput"
CLIENTS = (1, 8)
ROUNDS = 2


async def _drained(mf, rids: list[str], limit_s: float = 120) -> None:  # type: ignore[no-untyped-def]
    """Until Kafka acknowledged every accepted command's events: published by the workflow, or by the client itself
    (what it confirmed; its last commands stay in the workflow's outbox until confirmed or backstopped)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        statuses = await asyncio.gather(*(mf.status(r) for r in rids))
        by_caller = [mf.publisher.confirmed(r) if mf.publisher else 0 for r in rids]
        if all(max(s.published_through, c) >= s.seq for s, c in zip(statuses, by_caller, strict=True)):
            return
        await asyncio.sleep(0.05)
    raise TimeoutError("outbox not drained")


async def open_real(clients: int, task_queue: str, topic_name: str) -> tuple[Any, list[Pair]]:
    """The real stack as a long-lived caller runs it (the API, the demo): the client publishes its commands' events
    itself and the workflows backstop it (workflows/handover.py)."""
    from workers.connect import caller_publisher
    from workflows.client import MentorflowClient

    publisher = caller_publisher(settings(), topic_name)
    mf = MentorflowClient(await temporal_client(), task_queue=task_queue, publisher=publisher)
    pairs = [Pair(unique("tp")) for _ in range(clients)]
    await asyncio.gather(*(open_relationship(mf, p, "prog-bench-throughput") for p in pairs))
    await _drained(mf, [p.relationship_id for p in pairs])
    return mf, pairs


async def open_bare(clients: int, task_queue: str) -> tuple[Any, list[Pair]]:
    client = await temporal_client()
    pairs = [Pair(unique("tb")) for _ in range(clients)]
    await asyncio.gather(*(bare_start(client, task_queue, p.relationship_id, proposal(p, "prog-bench")) for p in pairs))
    for i in range(4):  # the same warm-up as the real relationships get (accept x2, sign x2)
        await asyncio.gather(*(bare_send(client, p.relationship_id, command(p, i)) for p in pairs))
    return client, pairs


async def real(mf: Any, pairs: list[Pair], seconds: float) -> tuple[int, float]:
    clients = len(pairs)
    counts = [0] * clients
    started = time.perf_counter()
    end = started + seconds

    async def client(k: int) -> None:
        i = 0
        while time.perf_counter() < end:
            await mf.send(pairs[k].relationship_id, command(pairs[k], i), with_state=False)
            i += 1
        counts[k] = i

    await asyncio.gather(*(client(k) for k in range(clients)))
    await _drained(mf, [p.relationship_id for p in pairs])
    return sum(counts), time.perf_counter() - started


async def bare(client: Any, pairs: list[Pair], seconds: float) -> tuple[int, float]:
    clients = len(pairs)
    counts = [0] * clients
    started = time.perf_counter()
    end = started + seconds

    async def one(k: int) -> None:
        i = 0
        while time.perf_counter() < end:
            await bare_send(client, pairs[k].relationship_id, command(pairs[k], i))
            i += 1
        counts[k] = i

    await asyncio.gather(*(one(k) for k in range(clients)))
    return sum(counts), time.perf_counter() - started


async def run(smoke: bool) -> list[Result]:
    seconds = 1.0 if smoke else 20.0
    rates: dict[tuple[str, int], tuple[int, float]] = {}
    meters: dict[tuple[str, int], CpuMeter] = {}
    async with topic("throughput") as t:
        tq_bare, tq_real = task_queue(), task_queue()
        async with (
            WorkerProcess("worker", "--kind", "bare", "--task-queue", tq_bare) as bare_worker,
            WorkerProcess("worker", "--kind", "real", "--task-queue", tq_real, "--topic", t) as real_worker,
        ):
            workers = {"bare": bare_worker.pid, "real": real_worker.pid}
            services = {**service_pids(), "client": os.getpid()}
            for n in CLIENTS:
                client, bare_pairs = await open_bare(n, tq_bare)
                mf, real_pairs = await open_real(n, tq_real, t)
                for kind, worker in workers.items():
                    meters[(kind, n)] = CpuMeter({**services, "worker": worker})
                for _ in range(ROUNDS):  # ABAB
                    runs = (
                        ("bare", bare(client, bare_pairs, seconds / ROUNDS)),
                        ("real", real(mf, real_pairs, seconds / ROUNDS)),
                    )
                    for kind, measured in runs:
                        meters[(kind, n)].start()
                        count, elapsed = await measured
                        meters[(kind, n)].stop()
                        before = rates.get((kind, n), (0, 0.0))
                        rates[(kind, n)] = (before[0] + count, before[1] + elapsed)
                await mf.close()
    return [result for n in CLIENTS for result in _results(n, rates, meters)]


def _results(
    n: int, rates: dict[tuple[str, int], tuple[int, float]], meters: dict[tuple[str, int], CpuMeter]
) -> list[Result]:
    """The rate against bare, and the CPU per command by process against bare's, at ``n`` clients."""
    count, elapsed = rates[("real", n)]
    bcount, belapsed = rates[("bare", n)]
    rate, brate = count / elapsed, bcount / belapsed
    clients = f"{n} client{'s' if n > 1 else ''}"
    cpu, bcpu = meters[("real", n)].per_command_ms(count), meters[("bare", n)].per_command_ms(bcount)
    parts = "; ".join(f"{name} {cpu[name]:.1f} (bare {bcpu[name]:.1f})" for name in cpu)
    return [
        Result(
            NAME,
            f"commands/s, {clients} ({count:,} commands, published)",
            rate,
            "cmd/s",
            brate,
            "bare workflow, no-op update",
            "≥ 0.8 of bare",
            rate / brate >= 0.8,
        ),
        Result(
            NAME,
            f"CPU per command, {clients} ({' + '.join(cpu)})",
            sum(cpu.values()),
            "ms",
            sum(bcpu.values()),
            "bare workflow, no-op update",
            note=f"ms by process: {parts}",
        ),
    ]
