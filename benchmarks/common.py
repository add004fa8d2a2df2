"""What every benchmark shares: the result row, the services, unique names, subprocess helpers, machine facts."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import platform
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from projections.kafka_access import kafka_options
from workers.settings import PROJECT_ROOT, Settings, load_settings

if TYPE_CHECKING:
    from temporalio.client import Client

__all__ = [
    "BENCH_DIR",
    "Result",
    "WorkerProcess",
    "delete_topics",
    "full_events",
    "load_average",
    "machine",
    "percentile",
    "rss_mb",
    "settings",
    "task_queue",
    "temporal_client",
    "terminate_all",
    "topic",
    "unique",
]

BENCH_DIR = PROJECT_ROOT / ".run" / "bench"


@dataclass
class Result:
    """One figure and its ratio to the raw baseline measured in the same run.

    ``higher_is_better``: for rates; for latencies and sizes it is False. ``ratio`` is always figure / baseline.
    ``target`` is a human sentence; ``met`` is None when the figure has no target."""

    benchmark: str
    name: str
    figure: float
    unit: str
    baseline: float
    baseline_name: str
    target: str = ""
    met: bool | None = None
    note: str = ""
    load: str = ""
    """The 1-minute load average at the start and the end of the benchmark that measured it (set by the runner)."""

    @property
    def ratio(self) -> float:
        if self.figure == self.baseline:  # also both infinite (every command refused on both sides)
            return 1.0
        if self.baseline == 0:
            return math.inf if self.figure else 1.0
        return self.figure / self.baseline


EVENTS_ENV = "MENTORFLOW_BENCH_EVENTS"  # ``python -m benchmarks --events N`` sets it


def full_events(default: int) -> int:
    """The size of a full run of the event benchmarks (projection, audit): ``--events N``, else ``default``."""
    return int(os.environ.get(EVENTS_ENV) or default)


def load_average() -> float:
    """The machine's 1-minute load average (other sessions share its two cores: every figure is read beside it)."""
    return os.getloadavg()[0]


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


_SETTINGS: Settings | None = None


def settings() -> Settings:
    global _SETTINGS
    if _SETTINGS is None:
        _SETTINGS = load_settings()
    return _SETTINGS


_RUN = uuid.uuid4().hex[:6]


def unique(kind: str) -> str:
    """A name unique to this run: ``bench-<kind>-<run>-<4 hex>``."""
    return f"bench-{kind}-{_RUN}-{uuid.uuid4().hex[:4]}"


@contextlib.asynccontextmanager
async def topic(kind: str, partitions: int | None = None) -> AsyncIterator[str]:
    """A fresh topic (deleted afterwards)."""
    from workers.services.kafka import ensure_topics

    s = settings()
    name = unique(kind)
    await ensure_topics(s.kafka.access, {name: partitions or s.kafka.partitions})
    try:
        yield name
    finally:
        await delete_topics([name])


async def delete_topics(names: list[str]) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(**kafka_options(settings().kafka.access))
    await admin.start()
    try:
        with contextlib.suppress(Exception):
            await admin.delete_topics(names)
    finally:
        await admin.close()


async def temporal_client() -> Client:
    from workers.connect import temporal_client

    return await temporal_client(settings())


_TASK_QUEUES: list[str] = []


def task_queue() -> str:
    """A fresh task queue; its workflows are terminated at the end of the run (:func:`terminate_all`)."""
    name = unique("tq")
    _TASK_QUEUES.append(name)
    return name


async def terminate_all(limit_s: float = 60) -> str:
    """Terminate every open workflow on this run's task queues: ONE server-side batch operation (the dev server
    runs one at a time), not waited for (it terminates about 30 workflows/s; benchmark 5 leaves 22,000). The
    benchmarks leave nothing running on the shared dev server. Returns what happened, for the log."""
    from temporalio.api.batch.v1 import BatchOperationTermination
    from temporalio.api.workflowservice.v1 import StartBatchOperationRequest
    from temporalio.service import RPCError

    if not _TASK_QUEUES:
        return "no task queue used"
    client = await temporal_client()
    queues = " OR ".join(f"TaskQueue = '{tq}'" for tq in _TASK_QUEUES)
    query = f"({queues}) AND ExecutionStatus = 'Running'"
    deadline = time.monotonic() + limit_s
    while True:
        try:
            await client.workflow_service.start_batch_operation(
                StartBatchOperationRequest(
                    namespace=client.namespace,
                    visibility_query=query,
                    job_id=str(uuid.uuid4()),
                    reason="benchmark over",
                    termination_operation=BatchOperationTermination(),
                )
            )
            _TASK_QUEUES.clear()
            return "batch termination of this run's workflows started"
        except RPCError as exc:  # another batch (a previous run's) still going
            if time.monotonic() > deadline:
                return f"workflows left running on {len(_TASK_QUEUES)} task queues: {exc}"
            await asyncio.sleep(2)


def rss_mb(pid: int) -> float:
    """Resident memory of a process, in MB (from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return math.nan


class WorkerProcess:
    """A worker in its own process (``python -m benchmarks.procs ...``), so its memory is its own and it does not
    share the benchmark's event loop. Waits for its ``ready`` line; stopped with SIGTERM."""

    def __init__(self, *args: str) -> None:
        self.args = list(args)
        self.proc: subprocess.Popen[str] | None = None
        self.log = BENCH_DIR / f"{unique('proc')}.log"

    async def __aenter__(self) -> WorkerProcess:
        BENCH_DIR.mkdir(parents=True, exist_ok=True)
        self._log_file = self.log.open("w")
        self.proc = subprocess.Popen(  # noqa: ASYNC220 (returns at once)
            [sys.executable, "-m", "benchmarks.procs", *self.args],
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stderr=self._log_file,
            text=True,
        )
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(self.proc.stdout.readline), timeout=60)
        if line.strip() != "ready":
            self.proc.kill()
            raise RuntimeError(f"worker process did not start ({line!r}); see {self.log}")
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def __aexit__(self, *exc: object) -> None:
        assert self.proc is not None
        self.proc.terminate()
        try:
            await asyncio.wait_for(asyncio.to_thread(self.proc.wait), timeout=30)
        except TimeoutError:
            self.proc.kill()
            await asyncio.to_thread(self.proc.wait)
        self._log_file.close()


def machine() -> dict[str, str]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    return {
        "cpus": str(os.cpu_count()),
        "cpu": cpu,
        "memory": mem,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }
