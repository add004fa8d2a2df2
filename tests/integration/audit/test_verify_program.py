"""`mentorflow audit verify --all --program P` on the real broker and event log: only P's relationships, one JSON
line per relationship and a summary line; a poison message under one relationship's key on the topic is named
(partition, offset, what) while that relationship, and every other one, still verifies."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiokafka import AIOKafkaProducer
from sqlalchemy import Engine
from typer.testing import CliRunner

from benchmarks.data import T0, full_lifecycle
from benchmarks.seed import project, publish
from workers.cli.app import app
from workers.settings import Settings

EVENTS = len(full_lifecycle("count"))


async def _seed(stack: Settings, engine: Engine, topic: str) -> dict[str, list[str]]:
    programs = {"prog-a": ["pa-1", "pa-2", "pa-3"], "prog-b": ["pb-1"]}
    envelopes = [
        env
        for program, rids in programs.items()
        for i, rid in enumerate(rids)
        for env in full_lifecycle(rid, program_id=program, start=T0 + (i + 1) * (T0 - T0.replace(day=4)))
    ]
    positions = await publish(stack.kafka.bootstrap_servers, topic, envelopes)
    await asyncio.to_thread(project, engine, topic, envelopes, positions)
    return programs


async def _poison(stack: Settings, topic: str, key: bytes, value: bytes) -> tuple[int, int]:
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka.bootstrap_servers)
    await producer.start()
    try:
        meta = await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()
    return meta.partition, meta.offset


def _lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


async def test_verify_all_of_a_program_json_lines_with_poison_on_the_topic(
    stack: Settings, engine: Engine, kafka_topic: str, sqlite_url: str
) -> None:
    programs = await _seed(stack, engine, kafka_topic)
    nested = b'{"x":' * 60_000 + b"1" + b"}" * 60_000  # RecursionError in json.loads: the topic was unreadable
    partition, offset = await _poison(stack, kafka_topic, b"pa-2", nested)
    args = ["audit", "verify", "--all", "--program", "prog-a", "--no-temporal", "--database-url", sqlite_url]
    result = await asyncio.to_thread(
        CliRunner().invoke, app, [*args, "--topic", kafka_topic, "--json"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    *reports, summary = _lines(result.stdout)
    assert [r["relationship_id"] for r in reports] == programs["prog-a"]
    assert all(r["ok"] for r in reports)
    poisoned = next(r for r in reports if r["relationship_id"] == "pa-2")
    [d] = poisoned["differences"]
    assert (d["kind"], d["severity"], d["store"]) == ("foreign", "warning", "kafka")
    assert d["where"] == f"partition {partition} offset {offset}" and "nested deeper than 32 levels" in d["message"]
    assert poisoned["stores"]["kafka"]["events"] == poisoned["stores"]["event_log"]["events"] == EVENTS
    assert poisoned["stores"]["kafka"]["chain"]["ok"] is True
    assert summary["summary"] is True and summary["ok"] is True and summary["program"] == "prog-a"
    assert (summary["relationships"], summary["failed"], summary["warnings"]) == (3, [], 1)
    assert summary["seconds"] > 0

    human = await asyncio.to_thread(CliRunner().invoke, app, [*args, "--topic", kafka_topic])
    assert human.exit_code == 0, human.output
    assert "3 relationships of program prog-a verified in " in human.stdout
    assert "all intact (1 warning" in human.stdout
    assert "3/3" in human.stderr  # the progress bar's last frame

    # one relationship verified alone names the foreign message too
    one = await asyncio.to_thread(
        CliRunner().invoke, app, ["audit", "verify", "pa-2", "--no-temporal", "--database-url", sqlite_url,
                                  "--topic", kafka_topic])  # fmt: skip
    assert one.exit_code == 0 and f"~ kafka (partition {partition} offset {offset}): foreign message" in one.stdout
    assert f"{EVENTS} events (+1 other entry), chain intact" in one.stdout


def test_a_program_id_that_cannot_be_quoted_is_refused_naming_the_flag() -> None:
    result = CliRunner().invoke(app, ["audit", "verify", "--all", "--program", "p' OR 1=1", "--no-temporal"])
    assert result.exit_code == 2 and "--program" in result.stderr and "quotes" in result.stderr
    result = CliRunner().invoke(app, ["audit", "verify", "r-1", "--program", "p"])
    assert result.exit_code == 2 and "--program: only with --all" in result.stderr
