"""2. The latency curve: p50 and p99 from *send* to *row visible* (``relationships.last_seq`` ≥ the command's last seq
in the projection database), queueing included, at increasing offered rates up to saturation, for the real stack and
for bare updates (:mod:`benchmarks.bare`: send → the no-op update returned) in the same run; the knee of each, the
highest offered rate whose p99 is under 250 ms. A PNG chart of both curves goes to docs/ (``make bench``) and is
linked from docs/benchmarks.md.

Open loop: a command is offered every 1/rate s whether or not the previous ones returned, over 40 relationships in
their trial; at most ``IN_FLIGHT`` wait for their update at once (the dev server refuses more long polls per
namespace), and the wait for that gate counts in the latency. A command Temporal keeps refusing
(``RelationshipBusy``) is counted as never visible (an infinite latency in the percentiles), not dropped. Real
worker, projector (SQLite, its own consumer group) and bare worker run in their own processes; the visibility
poller reads the projection every 5 ms. At each rate the real and the bare runs alternate; a side that saturated
(p99 over ``SATURATED_MS`` or under 80 % of the offered rate achieved) is not offered higher rates. The doubling
grid alone could only give knee ratios that are powers of two, so each side's knee is then bisected
``REFINE_STEPS`` times between its highest rate under the threshold and the next rate over it (real and bare
alternating again): the knee is known to within an eighth of its grid step.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import sqlite3
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
from benchmarks.load import Pair, bare_send, bare_start, command, open_relationship, proposal
from workers.settings import PROJECT_ROOT

NAME = "latency"
RATES = (5, 10, 20, 40, 80, 160, 320)
SMOKE_RATES = (5, 10)
REFINE_STEPS = 2
RELATIONSHIPS = 40
IN_FLIGHT = 100
KNEE_MS = 250.0
SATURATED_MS = 2000.0
CHART = PROJECT_ROOT / "docs" / "benchmarks-latency.png"


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


@dataclass
class Point:
    """One side at one offered rate: every offered command's latency (inf: refused), and how long offering took."""

    rate: int
    latencies: list[float] = field(default_factory=list)
    refused: int = 0
    seconds: float = 0.0
    returned: list[float] = field(default_factory=list)  # real side: send → update returned (the rest: projection)

    def p(self, q: float) -> float:
        return percentile(self.latencies, q) * 1000

    @property
    def achieved(self) -> float:
        done = sum(1 for x in self.latencies if math.isfinite(x))
        return done / self.seconds if self.seconds else 0.0

    @property
    def saturated(self) -> bool:
        return self.p(99) > SATURATED_MS or self.achieved < 0.8 * self.rate


Attempt = Callable[[Pair, int, float], Awaitable[None]]


async def offer_point(
    rate: int, seconds: float, pairs: list[Pair], attempt: Attempt, refused: type[Exception]
) -> Point:
    """Offer ``rate`` commands/s for ``seconds`` over ``pairs``, at most IN_FLIGHT at once; ``attempt(pair, i,
    sent)`` sends the i-th (``sent``: the instant it was offered, before the gate). An attempt that raises
    ``refused`` is counted as refused (never visible)."""
    point = Point(rate)
    gate = asyncio.Semaphore(IN_FLIGHT)

    async def send(i: int) -> None:
        pair = pairs[i % len(pairs)]
        sent = time.perf_counter()
        async with gate:
            try:
                await attempt(pair, i, sent)
            except refused:
                point.refused += 1

    _, point.seconds = await offered(rate, seconds, send)
    return point


async def real_point(rate: int, seconds: float, mf: Any, pairs: list[Pair], vis: Visibility) -> Point:
    from workflows.client import RelationshipBusy

    start = len(vis.latencies)
    returned: list[float] = []

    async def attempt(pair: Pair, i: int, sent: float) -> None:
        result = await mf.send(pair.relationship_id, command(pair, i), with_state=False)
        returned.append(time.perf_counter() - sent)
        vis.wait(pair.relationship_id, result.last_seq, sent)

    point = await offer_point(rate, seconds, pairs, attempt, RelationshipBusy)
    point.returned = returned
    deadline = time.monotonic() + 120
    while vis.pending and time.monotonic() < deadline:  # noqa: ASYNC110 (the poller resolves them)
        await asyncio.sleep(0.05)
    point.latencies = vis.latencies[start:] + [math.inf] * (point.refused + vis.pending)
    vis.waiting.clear()
    return point


async def bare_point(rate: int, seconds: float, client: Any, pairs: list[Pair]) -> Point:
    latencies: list[float] = []

    async def attempt(pair: Pair, i: int, sent: float) -> None:
        await bare_send(client, pair.relationship_id, command(pair, i))
        latencies.append(time.perf_counter() - sent)

    point = await offer_point(rate, seconds, pairs, attempt, Exception)  # refused after the retries
    point.latencies = latencies + [math.inf] * point.refused
    return point


def knee(points: list[Point]) -> float:
    """The highest offered rate whose p99 is under KNEE_MS (0: none)."""
    return float(max((p.rate for p in points if p.p(99) < KNEE_MS), default=0))


def next_refinement(points: list[Point]) -> int | None:
    """The rate halfway between the knee and the lowest measured rate above it whose p99 is over KNEE_MS; None when
    there is no such bracket or it cannot be split further (a rate already measured)."""
    low = knee(points)
    above = [p.rate for p in points if p.rate > low and p.p(99) >= KNEE_MS]
    if not low or not above:
        return None
    middle = round((low + min(above)) / 2)
    return None if middle in {p.rate for p in points} else middle


CURVES: dict[str, list[Point]] = {}


async def _open(mf: Any, client: Any, tq_bare: str, pairs: list[Pair], bare_pairs: list[Pair]) -> list[tuple[str, int]]:
    sem = asyncio.Semaphore(20)

    async def setup(p: Pair) -> tuple[str, int]:
        async with sem:
            return p.relationship_id, await open_relationship(mf, p, "prog-bench-latency")

    async def setup_bare(p: Pair) -> None:
        async with sem:
            await bare_start(client, tq_bare, p.relationship_id, proposal(p, "prog-bench-latency"))

    opened = await asyncio.gather(*(setup(p) for p in pairs))
    await asyncio.gather(*(setup_bare(p) for p in bare_pairs))
    return list(opened)


async def curves(smoke: bool, mf: Any, client: Any, pairs: list[Pair], bare_pairs: list[Pair], vis: Visibility) -> None:
    seconds = 1.0 if smoke else 10.0
    CURVES.clear()
    real: list[Point] = CURVES.setdefault("real", [])
    bare: list[Point] = CURVES.setdefault("bare", [])

    def done(points: list[Point]) -> bool:  # a smoke run measures both of its rates whatever they give
        return bool(points) and points[-1].saturated and not smoke

    for rate in SMOKE_RATES if smoke else RATES:
        if done(real) and done(bare):
            break
        if not done(real):
            real.append(await real_point(rate, seconds, mf, pairs, vis))
        if not done(bare):
            bare.append(await bare_point(rate, seconds, client, bare_pairs))
    for _ in range(0 if smoke else REFINE_STEPS):
        if (real_rate := next_refinement(real)) is not None:
            real.append(await real_point(real_rate, seconds, mf, pairs, vis))
            real.sort(key=lambda p: p.rate)
        if (bare_rate := next_refinement(bare)) is not None:
            bare.append(await bare_point(bare_rate, seconds, client, bare_pairs))
            bare.sort(key=lambda p: p.rate)


def results(smoke: bool) -> list[Result]:
    real, bare = CURVES["real"], {p.rate: p for p in CURVES["bare"]}
    out = []
    for point in real:
        base = bare.get(point.rate)
        if base is None:
            continue
        out.append(
            Result(
                NAME,
                f"send → visible p99 at {point.rate}/s ({len(point.latencies):,} commands)",
                point.p(99),
                "ms",
                base.p(99),
                "bare update, send → returned, p99",
                note=(
                    f"p50 {point.p(50):.0f} ms (bare {base.p(50):.0f}); of it send → returned p50 "
                    f"{percentile(point.returned, 50) * 1000:.0f}, p99 {percentile(point.returned, 99) * 1000:.0f} ms; "
                    f"achieved {point.achieved:.0f}/s "
                    f"(bare {base.achieved:.0f}/s); refused {point.refused} (bare {base.refused})"
                ),
            )
        )
    real_knee, bare_knee = knee(real), knee(list(bare.values()))
    if not smoke or (real_knee and bare_knee):  # a smoke run offers two low rates: a knee may not exist there
        out.append(
            Result(
                NAME,
                f"latency knee (highest offered rate with p99 < {KNEE_MS:.0f} ms)",
                real_knee,
                "cmd/s",
                bare_knee,
                "bare updates' knee",
                "≥ 0.6 of bare",
                # no bare knee (p99 over the threshold at every rate: a loaded machine) is no baseline, not a miss
                real_knee >= 0.6 * bare_knee if bare_knee else None,
                note="" if bare_knee else f"no baseline: the bare updates' p99 was ≥ {KNEE_MS:.0f} ms at every rate",
            )
        )
    return out


def chart(path: Path) -> None:
    """Both curves, p50 and p99 against the offered rate (log-log), with the knee's threshold."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    styles = {
        "real": ("tab:red", "real stack: send → row visible"),
        "bare": ("tab:blue", "bare update: send → returned"),
    }
    for side, (color, label) in styles.items():
        points = CURVES.get(side, [])
        rates = [p.rate for p in points]
        cap = SATURATED_MS * 10  # an infinite p99 (refusals) drawn at the top of the chart
        ax.plot(rates, [min(p.p(99), cap) for p in points], "o-", color=color, label=f"{label}, p99")
        ax.plot(rates, [min(p.p(50), cap) for p in points], "s--", color=color, alpha=0.6, label=f"{label}, p50")
    ax.axhline(KNEE_MS, color="gray", linestyle=":", label=f"knee threshold (p99 {KNEE_MS:.0f} ms)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.set_xlabel("offered rate (commands/s)")
    ax.set_ylabel("latency (ms)")
    ax.set_title("mentorflow latency curve (make bench)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def sections(smoke: bool) -> list[str]:
    """The curve as a table and the chart (docs/ in a full run; .run/bench/ in a smoke run), for docs/benchmarks.md."""
    if not CURVES:
        return []
    path = BENCH_DIR / "benchmarks-latency.png" if smoke else CHART
    chart(path)
    bare = {p.rate: p for p in CURVES["bare"]}
    rates = sorted({p.rate for p in CURVES["real"]} | set(bare))
    real = {p.rate: p for p in CURVES["real"]}

    def cells(p: Point | None) -> str:
        if p is None:
            return "| | | |"
        return f"| {p.p(50):,.0f} | {p.p(99):,.0f} | {p.achieved:.0f} ({p.refused} refused) |"

    lines = [
        "## Latency curve (benchmark 2)",
        "",
        f"![latency curve: p50 and p99 against the offered rate]({path.name})",
        "",
        f"Knee (highest offered rate with p99 < {KNEE_MS:.0f} ms): real {knee(CURVES['real']):.0f}/s, "
        f"bare {knee(CURVES['bare']):.0f}/s. An empty cell: that side had saturated at a lower rate, or the rate was "
        "offered to the other side only (each knee is bisected between the doubling grid's rates).",
        "",
        "| offered/s | real p50 ms | real p99 ms | real achieved/s | bare p50 ms | bare p99 ms | bare achieved/s |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for rate in rates:
        lines.append(f"| {rate} " + cells(real.get(rate))[:-1] + cells(bare.get(rate)))
    return lines


async def run(smoke: bool) -> list[Result]:
    from workers.connect import caller_publisher
    from workflows.client import MentorflowClient

    relationships = 4 if smoke else RELATIONSHIPS
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    path = str(BENCH_DIR / f"{unique('latency')}.db")
    tq, tq_bare = task_queue(), task_queue()
    async with topic("latency") as t:
        try:
            async with (
                WorkerProcess("worker", "--kind", "real", "--task-queue", tq, "--topic", t),
                WorkerProcess("worker", "--kind", "bare", "--task-queue", tq_bare),
                WorkerProcess("projector", "--db", f"sqlite:///{path}", "--topic", t, "--group", unique("group")),
            ):
                client = await temporal_client()
                # as the API and the demo run it: the client publishes its commands' events, the workflows backstop
                mf = MentorflowClient(client, task_queue=tq, publisher=caller_publisher(settings(), t))
                pairs = [Pair(unique("lat")) for _ in range(relationships)]
                bare_pairs = [Pair(unique("latb")) for _ in range(relationships)]
                opened = await _open(mf, client, tq_bare, pairs, bare_pairs)
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
                vis.latencies.clear()
                try:
                    await curves(smoke, mf, client, pairs, bare_pairs, vis)
                finally:
                    vis.stop()
                    with contextlib.suppress(Exception):
                        await poller
                    await mf.close()
        finally:
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path + suffix)
    return results(smoke)
