"""`mentorflow audit verify --all` over 1,000 relationships (30 events each) in Kafka and the event log, with its
progress bar; the rate is printed (``benchmarks/`` can call :func:`benchmarks.seed.benchmark_verify_all`)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from benchmarks.data import full_lifecycle
from benchmarks.seed import seed
from workers.cli.app import app
from workers.settings import Settings


@pytest.fixture
async def thousand(stack: Settings, engine: Engine, kafka_topic: str, sqlite_url: str) -> tuple[str, str]:
    result = await seed(1000, engine=engine, bootstrap_servers=stack.kafka.bootstrap_servers, topic=kafka_topic)
    assert result.events == 1000 * len(full_lifecycle("count"))
    return kafka_topic, sqlite_url


def test_verify_all_1000_with_progress_bar(thousand: tuple[str, str]) -> None:
    topic, url = thousand
    args = ["audit", "verify", "--all", "--no-temporal", "--database-url", url, "--topic", topic]
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "1000/1000" in result.stderr  # the progress bar's last frame
    m = re.search(r"1000 relationships verified in ([\d.]+) s \(([\d,.]+)/s\): all intact", result.stdout)
    assert m, result.stdout
    print(f"\nverify --all: 1000 relationships in {m.group(1)} s ({m.group(2)} relationships/s)")
