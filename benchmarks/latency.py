"""2. End-to-end latency: command accepted (the update returned) → its row visible in the projection
(``relationships.last_seq`` ≥ the command's last seq, read from the projection database), p50 and p99, at 50 and
200 commands/s offered open-loop (a command every 1/rate s, not waiting for the previous one) over 40
relationships in their trial.

Real worker and projector (SQLite, its own consumer group) run in their own processes; the visibility poller
reads the projection every 5 ms. Baseline: the raw Kafka hop at the same rate — an idempotent aiokafka producer
(``acks=all``, ``linger_ms=2``, as the publishing activity) to a plain consumer, send → received.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections import defaultdict

from benchmarks.common import (
    BENCH_DIR,
    Result,
    WorkerProcess,
    percentile,
    settings,
    task_queue,
    temporal_client,
    topic,
    unique,
)
from benchmarks.load import Pair, command, open_relationship
from projections.kafka_access import kafka_options

NAME = "latency"
RATES = (50, 200)
RELATIONSHIPS = 40
IN_FLIGHT = 100


class Visibility:
    """Polls the projection; resolves (relationship, seq) waiters with the instant they became visible."""

    def __init__(self, path: str, rids: list[str]) -> None:
        self.path = path
        self.rids = rids
        self.waiting: dict[str, list[tuple[int, float]]] = defaultdict(list)
        self.latencies: list[float] = []
        self._stop = False

    def wait(self, rid: str, seq: int, accepted: float) -> None:
        self.waiting[rid].append((seq, accepted))

    @property
    def pending(self) -> int:
        return sum(len(v) for v in self.waiting.values())

    async def run(self) -> None:
        db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
        marks = ",".join("?" * len(self.rids))
        sql = f"SELECT relationship_id, last_seq FROM relationships WHERE relationship_id IN ({marks})"
        try:
            while not self._stop:
                if self.pending:
                    rows = await asyncio.to_thread(lambda: db.execute(sql, self.rids).fetchall())
                    now = time.perf_counter()
                    for rid, last_seq in rows:
                        waiters = self.waiting.get(rid)
                        if not waiters:
                            continue
                        keep = []
                        for seq, accepted in waiters:
                            if seq <= last_seq:
                                self.latencies.append(now - accepted)
                            else:
                                keep.append((seq, accepted))
                        self.waiting[rid] = keep
                await asyncio.sleep(0.005)
        finally:
            db.close()

    def stop(self) -> None:
        self._stop = True


async def offered(rate: int, seconds: float, send) -> tuple[int, float]:  # type: ignore[no-untyped-def]
    """Open loop: start ``send(i)`` every 1/rate s; returns (commands, seconds to offer them all)."""
    total = int(rate * seconds)
    started = time.perf_counter()
    tasks = []
    for i in range(total):
        delay = started + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send(i)))
    await asyncio.gather(*tasks)
    return total, time.perf_counter() - started


async def kafka_hop(rate: int, seconds: float) -> list[float]:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    s = settings()
    async with topic("hop", 1) as name:
        consumer = AIOKafkaConsumer(
            name, **kafka_options(s.kafka.access), auto_offset_reset="latest", enable_auto_commit=False
        )
        producer = AIOKafkaProducer(**kafka_options(s.kafka.access), enable_idempotence=True, linger_ms=2)
        await consumer.start()
        await producer.start()
        sent: dict[bytes, float] = {}
        latencies: list[float] = []
        try:
            # make sure the consumer is positioned before timing
            await producer.send_and_wait(name, b"warm-up")
            while not (await consumer.getmany(timeout_ms=500)):
                pass

            async def receive(total: int) -> None:
                deadline = time.monotonic() + seconds + 30
                while len(latencies) < total and time.monotonic() < deadline:
                    batch = await consumer.getmany(timeout_ms=100)
                    now = time.perf_counter()
                    for records in batch.values():
                        latencies.extend(now - sent[r.value] for r in records if r.value in sent)

            total = int(rate * seconds)
            receiver = asyncio.create_task(receive(total))

            async def send(i: int) -> None:
                value = f"m{i}".encode()
                sent[value] = time.perf_counter()
                await producer.send(name, value, key=b"k")

            await offered(rate, seconds, send)
            await asyncio.wait_for(receiver, timeout=seconds + 60)
        finally:
            await producer.stop()
            await consumer.stop()
    return latencies


class Run:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.accept: list[float] = []
        self.refused = 0
        self.seconds = 0.0


async def measure(rate: int, seconds: float, mf, pairs: list[Pair], vis: Visibility) -> Run:  # type: ignore[no-untyped-def]
    """Offer ``rate`` commands/s for ``seconds``. At most IN_FLIGHT commands wait for their update at once (the dev
    server refuses more long polls per namespace); beyond the system's capacity the offered rate is therefore not
    achieved, and the achieved one is reported. A command Temporal keeps refusing (``RelationshipBusy``) counts as
    refused."""
    from workflows.client import RelationshipBusy

    start = len(vis.latencies)
    run = Run()
    gate = asyncio.Semaphore(IN_FLIGHT)

    async def send(i: int) -> None:
        pair = pairs[i % len(pairs)]
        async with gate:
            t = time.perf_counter()
            try:
                result = await mf.send(pair.relationship_id, command(pair, i))
            except RelationshipBusy:
                run.refused += 1
                return
            now = time.perf_counter()
        run.accept.append(now - t)
        vis.wait(pair.relationship_id, result.last_seq, now)

    _, run.seconds = await offered(rate, seconds, send)
    deadline = time.monotonic() + 120
    while vis.pending and time.monotonic() < deadline:  # noqa: ASYNC110 (the poller resolves them)
        await asyncio.sleep(0.05)
    if vis.pending:
        raise TimeoutError(f"{vis.pending} commands never became visible in the projection")
    run.latencies = vis.latencies[start:]
    return run


async def run(smoke: bool) -> list[Result]:
    from workflows.client import MentorflowClient

    seconds = 1.0 if smoke else 20.0
    relationships = 8 if smoke else RELATIONSHIPS
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    path = str(BENCH_DIR / f"{unique('latency')}.db")
    results: list[Result] = []
    tq = task_queue()
    async with topic("latency") as t:
        try:
            async with (
                WorkerProcess("worker", "--kind", "real", "--task-queue", tq, "--topic", t),
                WorkerProcess("projector", "--db", f"sqlite:///{path}", "--topic", t, "--group", unique("group")),
            ):
                mf = MentorflowClient(await temporal_client(), task_queue=tq)
                pairs = [Pair(unique("lat")) for _ in range(relationships)]
                sem = asyncio.Semaphore(20)

                async def setup(p: Pair) -> tuple[str, int]:
                    async with sem:
                        return p.relationship_id, await open_relationship(mf, p, "prog-bench-latency")

                opened = await asyncio.gather(*(setup(p) for p in pairs))
                vis = Visibility(path, [p.relationship_id for p in pairs])
                now = time.perf_counter()
                for rid, seq in opened:  # warm-up: the projector joined its group and caught up
                    vis.wait(rid, seq, now)
                poller = asyncio.create_task(vis.run())
                deadline = time.monotonic() + 90
                while vis.pending and time.monotonic() < deadline:  # noqa: ASYNC110 (the poller resolves them)
                    await asyncio.sleep(0.05)
                if vis.pending:
                    raise TimeoutError("the projector did not catch up with the set-up commands")
                try:
                    for rate in (10, 40) if smoke else RATES:
                        run = await measure(rate, seconds, mf, pairs, vis)
                        lat = run.latencies
                        achieved = len(lat) / run.seconds
                        hop = await kafka_hop(rate, seconds)
                        for p in (50, 99):
                            figure, base = percentile(lat, p) * 1000, percentile(hop, p) * 1000
                            target = "p99 < 1 s" if (rate == RATES[-1] and p == 99) else ""
                            results.append(
                                Result(
                                    NAME,
                                    f"accepted → visible p{p} at {rate}/s ({len(lat):,} commands)",
                                    figure,
                                    "ms",
                                    base,
                                    f"raw Kafka hop p{p} at the same rate",
                                    target,
                                    (figure < 1000 and achieved >= 0.95 * rate) if target else None,
                                    note=(
                                        f"achieved {achieved:.0f}/s; send → accepted p50 "
                                        f"{percentile(run.accept, 50) * 1000:.0f} ms, p99 "
                                        f"{percentile(run.accept, 99) * 1000:.0f} ms; {run.refused} refused"
                                    )
                                    if p == 50
                                    else "",
                                )
                            )
                finally:
                    vis.stop()
                    with contextlib.suppress(Exception):
                        await poller
        finally:
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    __import__("os").unlink(path + suffix)
    return results
