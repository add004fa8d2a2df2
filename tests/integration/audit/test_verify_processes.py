"""`verify --all` in two processes (``audit/scan.py``: the topic scanned and vouched for in a second process while
this one reads the event log) gives exactly the one-process reports on the real broker and event log: an intact
relationship, a changed byte, a dropped event, a reordered pair, an event log row edited, a duplicate publication (a
warning, never an alarm) and a duplicate seq with another hash (a fork: an error). A scan process that fails leaves
the verdicts unchanged (the topic is then read in this process)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import Engine, select, update
from typer.testing import CliRunner

import audit.scan
from audit.verify import Auditor, VerifySummary
from benchmarks.data import T0, full_lifecycle
from domain import Envelope, canonical_json
from domain.envelope import sha256_hex
from projections.apply import apply_batch
from projections.decode import Message
from projections.models import EventLog
from workers.cli.app import app
from workers.settings import Settings

RIDS = ("r-intact", "r-dup", "r-fork", "r-byte", "r-drop", "r-order", "r-log")


def _rehashed(envelope: Envelope, **changes: Any) -> bytes:
    body = {k: v for k, v in envelope.to_json_dict().items() if k != "hash"}
    body.update(changes)
    return canonical_json({**body, "hash": sha256_hex(canonical_json(body))})


def _published(rid: str, log: list[Envelope]) -> list[bytes]:
    """What the topic holds of ``rid`` (the event log holds ``log`` intact)."""
    good = [e.to_bytes() for e in log]
    if rid == "r-dup":
        return [*good, good[4]]  # at-least-once: seq 5 published twice, identical
    if rid == "r-fork":
        return [*good, _rehashed(log[5], payload={**log[5].payload, "note": "fork"})]
    if rid == "r-byte":
        return [*good[:4], good[4].replace(b'"seq":5', b'"seq":6', 1), *good[5:]]
    if rid == "r-drop":
        return [*good[:6], *good[7:]]
    if rid == "r-order":
        return [*good[:4], good[5], good[4], *good[6:]]
    return good


async def _seed(stack: Settings, engine: Engine, topic: str) -> None:
    logs = {rid: full_lifecycle(rid, start=T0.replace(hour=i)) for i, rid in enumerate(RIDS)}
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka.bootstrap_servers, enable_idempotence=True)
    await producer.start()
    try:
        for rid, log in logs.items():
            for value in _published(rid, log):
                await producer.send_and_wait(topic, value, key=rid.encode())
    finally:
        await producer.stop()
    messages = [  # the event log, intact and in seq order
        Message(topic, 0, i, e.relationship_id.encode(), e.to_bytes())
        for i, e in enumerate(e for log in logs.values() for e in log)
    ]
    with engine.begin() as conn:
        apply_batch(conn, messages, group_id="verify-processes")
        row = EventLog.relationship_id == "r-log", EventLog.seq == 8
        text = conn.execute(select(EventLog.envelope).where(*row)).scalar_one()
        conn.execute(update(EventLog).where(*row).values(envelope=text.replace('"seq":8', '"seq":9', 1)))


async def _verify(stack: Settings, engine: Engine, topic: str, processes: int) -> VerifySummary:
    auditor = Auditor(engine=engine, bootstrap_servers=stack.kafka.bootstrap_servers, topic=topic, settle=0.0)
    return await auditor.verify_all(processes=processes)


def _same(one: VerifySummary, two: VerifySummary) -> None:
    assert [json.dumps(r.to_dict(), sort_keys=True) for r in two.reports] == [
        json.dumps(r.to_dict(), sort_keys=True) for r in one.reports
    ]
    assert [r.lines() for r in two.reports] == [r.lines() for r in one.reports]
    assert two.failed == one.failed


def _spy(monkeypatch: pytest.MonkeyPatch, name: str, calls: list[Any], wrap: Callable[..., Any]) -> None:
    original = getattr(audit.scan, name)
    monkeypatch.setattr(audit.scan, name, lambda *a, **k: wrap(original, calls, *a, **k))


async def test_two_processes_give_the_one_process_reports(
    stack: Settings, engine: Engine, kafka_topic: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _seed(stack, engine, kafka_topic)
    one = await _verify(stack, engine, kafka_topic, 1)
    verdicts: list[bool] = []

    def count(original: Callable[..., Any], calls: list[Any], rows: list[Any], *a: Any) -> Any:
        calls.extend(row[4] for row in rows)
        return original(rows, *a)

    _spy(monkeypatch, "records_by_key", verdicts, count)
    two = await _verify(stack, engine, kafka_topic, 2)
    _same(one, two)
    events = len(full_lifecycle("count"))
    assert len(verdicts) == events * len(RIDS) + 2 - 1  # every message came from the scan process (+dup, +fork, -drop)
    assert verdicts.count(False) == 1  # only the changed byte was not vouched for there
    assert sorted(one.failed) == ["r-byte", "r-drop", "r-fork", "r-log", "r-order"]
    by_rid = {r.relationship_id: r for r in two.reports}
    assert [(d.kind, d.severity, d.seq) for d in by_rid["r-dup"].differences] == [("duplicate", "warning", 5)]
    assert [(d.kind, d.severity, d.seq) for d in by_rid["r-fork"].errors] == [("duplicate", "error", 6)]
    assert by_rid["r-intact"].differences == []


async def _boom(*args: Any) -> None:
    raise RuntimeError("the scan process failed on purpose")


async def test_a_failing_scan_process_leaves_the_verdicts_unchanged(
    stack: Settings, engine: Engine, kafka_topic: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _seed(stack, engine, kafka_topic)
    one = await _verify(stack, engine, kafka_topic, 1)
    monkeypatch.setattr(audit.scan, "scan_and_vouch", _boom)  # what the spawned process runs
    _same(one, await _verify(stack, engine, kafka_topic, 2))


@pytest.mark.parametrize("args", [["--processes", "3"], ["--processes", "0"], ["--processes", "two"]])
def test_hostile_processes_exit_2_naming_the_option(args: list[str]) -> None:
    result = CliRunner().invoke(app, ["audit", "verify", "--all", "--no-temporal", *args])
    assert result.exit_code == 2
    assert "--processes" in result.output


def test_processes_only_with_all() -> None:
    result = CliRunner().invoke(app, ["audit", "verify", "r-1", "--processes", "2"])
    assert result.exit_code == 2
    assert "--processes: only with --all" in result.output


async def test_replay_from_the_topic_folds_a_duplicate_publication_and_refuses_a_fork(
    stack: Settings, engine: Engine, kafka_topic: str, sqlite_url: str
) -> None:
    await _seed(stack, engine, kafka_topic)
    at = "2030-01-01T00:00:00Z"

    def replay(rid: str, source: str) -> Any:
        args = ["audit", "replay", rid, "--at", at, "--source", source, "--json", "--full"]
        return CliRunner().invoke(app, [*args, "--topic", kafka_topic, "--database-url", sqlite_url])

    dup, log = await asyncio.to_thread(replay, "r-dup", "kafka"), await asyncio.to_thread(replay, "r-dup", "event_log")
    assert dup.exit_code == 0, dup.output
    assert json.loads(dup.stdout) == json.loads(log.stdout)  # seq 5 twice, identical: one event
    assert json.loads(dup.stdout)["state"]["seq"] == len(full_lifecycle("count"))
    fork = await asyncio.to_thread(replay, "r-fork", "kafka")
    assert fork.exit_code == 1
    assert "cannot replay a broken chain: seq 6 · kafka: appears twice" in fork.output
    assert "with different content" in fork.output
