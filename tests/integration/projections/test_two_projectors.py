"""Two projector processes in one consumer group on PostgreSQL (issue 18, scale-out): Kafka splits the partitions
between them (each one's /metrics lists the partitions it holds), one is killed with ``kill -9`` mid-run, the other
takes its partitions over and finishes; the tables equal a clean projection of the topic: nothing lost, nothing
applied twice."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from projections.db import make_engine, migrate
from projections.snapshot import diff_snapshots, snapshot
from tests.e2e.conftest import free_port
from tests.integration.projections.conftest import end_offsets, program_records, publish
from tests.integration.projections.test_crash import MENTORFLOW, ROOT, _progress, _reference, _tail, _terminate


def _spawn(url: str, topic: str, group: str, log: Path, metrics_port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "MENTORFLOW_METRICS__PROJECTOR_PORT": str(metrics_port),
        "MENTORFLOW_METRICS__SAMPLE_SECONDS": "0.5",
    }
    return subprocess.Popen(
        [
            *(MENTORFLOW, "projector", "--database-url", url, "--topic", topic, "--group", group),
            *("--max-records", "20", "--session-timeout-ms", "6000", "--log-level", "WARNING", "--json"),
        ],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def _assigned(port: int) -> set[int]:
    """The partitions a projector holds now: the partition labels of its lag gauge."""
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    except httpx.HTTPError:
        return set()
    return {
        int(s.labels["partition"])
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "mentorflow_projector_lag"
    }


async def test_two_projectors_split_the_partitions_and_one_carries_on_after_the_other_is_killed(
    bootstrap: str, kafka_topic: str, dead_letter_topic: str, postgres_url: str, unique_id: str, tmp_path: Path
) -> None:
    records = program_records(200)
    half = len(records) // 2
    await publish(bootstrap, kafka_topic, records[:half])
    group = f"g-{unique_id}"
    logs = {name: tmp_path / f"projector-{name}.log" for name in ("a", "b")}
    ports = {name: free_port() for name in logs}
    migrate(postgres_url)
    engine = make_engine(postgres_url)
    procs = {name: _spawn(postgres_url, kafka_topic, group, logs[name], ports[name]) for name in logs}
    try:
        # the group splits the three partitions between the two members
        async with asyncio.timeout(90):
            while True:
                a, b = _assigned(ports["a"]), _assigned(ports["b"])
                if a and b and not a & b and a | b == {0, 1, 2}:
                    break
                for name, proc in procs.items():
                    assert proc.poll() is None, _tail(logs[name])
                await asyncio.sleep(0.25)
        held_by_a = a

        # more is published; as soon as it is being applied, kill -9 one member; the other takes its partitions over
        first = sum((await end_offsets(bootstrap, kafka_topic)).values())
        await publish(bootstrap, kafka_topic, records[half:])
        total = sum((await end_offsets(bootstrap, kafka_topic)).values())
        async with asyncio.timeout(60):
            while _progress(engine, group) <= first:
                assert procs["a"].poll() is None, _tail(logs["a"])
                await asyncio.sleep(0.01)
        os.kill(procs["a"].pid, signal.SIGKILL)
        killed_at = _progress(engine, group)
        assert procs["a"].wait(timeout=10) == -signal.SIGKILL
        assert killed_at < total, "the projectors finished before one could be killed"
        print(f"split a={sorted(held_by_a)} b={sorted(b)}; killed a at {killed_at} of {total} offsets")
        async with asyncio.timeout(120):
            while _progress(engine, group) < total or _assigned(ports["b"]) != {0, 1, 2}:
                assert procs["b"].poll() is None, _tail(logs["b"])
                await asyncio.sleep(0.25)
        assert held_by_a <= _assigned(ports["b"])
        _terminate(procs["b"], logs["b"])

        with engine.connect() as conn:
            live = snapshot(conn)
        reference = await _reference(f"sqlite:///{tmp_path / 'reference.db'}", bootstrap, kafka_topic)
        assert diff_snapshots(live, reference) == []  # nothing lost, nothing applied twice
        assert len(live["event_log"]) == len(records) and live["dead_letters"] == []
        assert _progress(engine, group) == total  # the stored offsets: exactly the topic's end, once
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        engine.dispose()
