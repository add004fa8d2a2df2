"""Two worker processes on one task queue (issue 18, scale-out): both take work (each one's /metrics counts the
envelopes it published), one is killed with ``kill -9`` mid-run, the other carries every relationship on; every
relationship's events are on the topic, seq 1..n with the workflow's own hashes, and a record published twice is
the same bytes twice (at-least-once publishing; consumers skip seq <= last seq)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import uuid
from collections import defaultdict
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from domain import builtin_policy
from projections.topics import events_topic
from tests.e2e.conftest import free_port, mentorflow
from tests.integration.devserver.conftest import MANAGER, MENTEE, MENTOR, command
from tests.integration.projections.conftest import read_topic
from workers.services.process import tail
from workers.settings import Settings
from workflows.client import MentorflowClient

pytestmark = pytest.mark.timeout(300)


def _published(port: int) -> float:
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    except httpx.HTTPError:
        return -1.0
    samples = [s for f in text_string_to_metric_families(text) for s in f.samples]
    return sum(s.value for s in samples if s.name == "mentorflow_published_events_total")


def _spawn(queue: str, prefix: str, run_dir: Path, metrics_port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "MENTORFLOW_RUN_DIR": str(run_dir),
        "MENTORFLOW_TEMPORAL__TASK_QUEUE": queue,
        "MENTORFLOW_KAFKA__TOPIC_PREFIX": prefix,
        "MENTORFLOW_METRICS__WORKER_PORT": str(metrics_port),
        "MENTORFLOW_METRICS__WORKER_SDK_PORT": "0",
    }
    argv = [*mentorflow(), "worker", "--archive-interval", "0", "--log-level", "WARNING"]
    return subprocess.Popen(argv, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)


async def test_two_workers_share_the_queue_and_one_carries_on_after_the_other_is_killed(
    stack: Settings, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    queue, prefix = f"two-workers-{tag}", f"two-workers-{tag}"
    topic = events_topic(prefix)
    ports = {name: free_port() for name in ("a", "b")}
    logs = {name: tmp_path / f"worker-{name}.log" for name in ports}
    procs = {name: _spawn(queue, prefix, tmp_path / f"run-{name}", port, logs[name]) for name, port in ports.items()}
    client = await MentorflowClient.connect(stack.temporal.address, stack.temporal.namespace, task_queue=queue)
    rids = [f"r-{tag}-{n}" for n in range(8)]  # before the kill; more while one worker has taken none
    later = [f"r-{tag}-later-{n}" for n in range(4)]  # after it
    try:
        async with asyncio.timeout(60):
            while min(_published(p) for p in ports.values()) < 0:
                for name, proc in procs.items():
                    assert proc.poll() is None, tail(logs[name], 30)
                await asyncio.sleep(0.25)

        async def start(rid: str) -> None:
            await client.propose(
                program="prog-two-workers", mentor=MENTOR.id, mentee=MENTEE.id, by=MANAGER, relationship_id=rid,
                policy=builtin_policy("mentoring-12m"),
            )  # fmt: skip
            await client.send(rid, command("AcceptMatch", MENTOR))
            await client.send(rid, command("AcceptMatch", MENTEE))

        await asyncio.gather(*(start(rid) for rid in rids))
        # both workers took part: each published some envelopes (workflow tasks stick to the worker that took a
        # workflow first; should every one so far have gone to one worker, more relationships are started)
        loop = asyncio.get_running_loop()
        another_at = loop.time() + 5
        async with asyncio.timeout(60):
            while min(_published(p) for p in ports.values()) <= 0:
                assert all(proc.poll() is None for proc in procs.values())
                await asyncio.sleep(0.25)
                if loop.time() > another_at and len(rids) < 40:
                    rids.append(f"r-{tag}-{len(rids)}")
                    await start(rids[-1])
                    another_at = loop.time() + 2

        os.kill(procs["a"].pid, signal.SIGKILL)
        assert procs["a"].wait(timeout=10) == -signal.SIGKILL

        async def sign(rid: str) -> None:
            for actor in (MENTOR, MENTEE):
                await client.send(rid, command("SignAgreement", actor, goals=["x"], cadence="P2W"))

        await asyncio.gather(*(start(rid) for rid in later))
        rids += later
        await asyncio.gather(*(sign(rid) for rid in rids))

        # every relationship moved on and published everything (the outbox drained) through the survivor
        expected = {}
        for rid in rids:
            async with asyncio.timeout(60):
                while (status := await client.status(rid)).outbox:
                    assert procs["b"].poll() is None, tail(logs["b"], 30)
                    await asyncio.sleep(0.25)
            expected[rid] = {e.seq: e.to_bytes() for e in await client.events(rid)}
            assert status.seq == max(expected[rid]) and (await client.state(rid)).stage.value == "initiation"
        assert procs["b"].poll() is None, tail(logs["b"], 30)

        on_topic: dict[str, dict[int, set[bytes]]] = defaultdict(lambda: defaultdict(set))
        for message in await read_topic(stack.kafka.bootstrap_servers, topic):
            assert message.key is not None and message.value is not None
            on_topic[message.key.decode()][int(message.headers["seq"])].add(message.value)
        assert set(on_topic) == set(rids)
        for rid in rids:
            assert sorted(on_topic[rid]) == list(range(1, len(expected[rid]) + 1)), rid
            for seq, values in on_topic[rid].items():
                assert values == {expected[rid][seq]}, (rid, seq)  # a duplicate is the same bytes, never a fork
    finally:
        for rid in rids:
            with contextlib.suppress(Exception):  # never started, or already closed
                await client.handle(rid).terminate("test over")
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
