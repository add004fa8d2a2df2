"""``mentorflow report …`` and ``mentorflow projections rebuild`` on a projected program (through Typer, in process),
and ``mentorflow projector`` as a real process stopping gracefully on SIGTERM."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from projections.db import wait_for_seq
from tests.integration.projections.conftest import program_records, publish
from tests.unit.projections.scenarios import program
from workers.cli.app import app

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def published(bootstrap: str, kafka_topic: str, dead_letter_topic: str) -> str:
    asyncio.run(publish(bootstrap, kafka_topic, program_records(60)))
    return kafka_topic


def test_projector_process_then_reports_and_rebuild(published: str, sqlite_url: str, unique_id: str) -> None:
    group = f"g-{unique_id}"
    proc = subprocess.Popen(
        [
            *(str(Path(sys.executable).parent / "mentorflow"), "projector", "--topic", published, "--group", group),
            *("--database-url", sqlite_url, "--session-timeout-ms", "6000", "--json"),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        # every relationship's last event: the partitions are consumed independently, so one relationship being
        # done says nothing about the others
        lasts = [history[-1] for history in program(60)]
        deadline = time.monotonic() + 120
        while lasts:  # the projector creates the tables on start
            try:
                wait_for_seq(sqlite_url, lasts[0].relationship_id, lasts[0].seq, timeout=1)
                lasts.pop(0)
            except Exception:
                if proc.poll() is not None or time.monotonic() >= deadline:
                    proc.kill()
                    out, _ = proc.communicate(timeout=30)
                    pytest.fail(f"projector did not apply seq {lasts[0].seq} in time:\n{out.decode()[-3000:]}")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out.decode()[-3000:]
    assert '"applied"' in out.decode()

    runner = CliRunner()
    for name in ("stages", "transitions", "funnel", "at-risk"):
        result = runner.invoke(app, ["report", name, "--format", "json", "--database-url", sqlite_url])
        assert result.exit_code == 0, result.output
        rows = json.loads(result.output)
        assert isinstance(rows, list)
        if name != "at-risk":
            assert rows, name
        table = runner.invoke(app, ["report", name, "--database-url", sqlite_url])
        assert table.exit_code == 0, table.output
        as_csv = runner.invoke(app, ["report", name, "--format", "csv", "--database-url", sqlite_url])
        assert len(list(csv.DictReader(io.StringIO(as_csv.output)))) == len(rows)
    funnel = json.loads(
        runner.invoke(app, ["report", "funnel", "--json", "--program", "prog-a", "--database-url", sqlite_url]).output
    )
    assert [r["program_id"] for r in funnel] == ["prog-a"] and funnel[0]["proposed"] == 20

    rebuild = ["projections", "rebuild", "--json", "--topic", published, "--group", group, "--database-url", sqlite_url]
    result = runner.invoke(app, rebuild)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["events"] == len(program_records(60)) and summary["groups"] == [group]
    assert summary["processes"] == 1  # a small topic: starting a decode process would cost more than it saves
    for bad in ("0", "3", "two"):
        refused = runner.invoke(app, [*rebuild, "--processes", bad])
        assert refused.exit_code == 2 and "--processes" in refused.output, (bad, refused.output)
