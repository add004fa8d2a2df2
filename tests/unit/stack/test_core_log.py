"""The Temporal SDK core's own log lines never reach standard output, and a refused setting is exit 2 naming it.

The SDK's default runtime writes core lines (a retried call's warning, connection trouble) to **stdout**: a CI run
under load found one at the head of ``mentorflow demo --json``, which then did not parse. Every process connects
through ``workflows.connection.core_runtime``, which forwards them to the Python logger ``temporalio.core`` (stderr).
``MENTORFLOW_TEMPORAL__CORE_LOG_LEVEL=DEBUG`` makes the core speak on every connection attempt (hyper's "connecting
to"), so these tests see it on any machine, no server needed: the address is a port nobody listens on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.chaos.stack import free_port, mentorflow_argv
from workers.settings import SettingsError, load_settings


def run(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "MENTORFLOW_RUN_DIR": str(tmp_path / "run"), **env}
    return subprocess.run(args, env=environment, capture_output=True, text=True, timeout=120, cwd=tmp_path)


def test_a_json_command_prints_only_its_json_while_the_core_logs_at_debug(tmp_path: Path) -> None:
    address = f"127.0.0.1:{free_port()}"
    done = run(
        [*mentorflow_argv(), "relationship", "show", "rel-core-log", "--json"],
        tmp_path,
        MENTORFLOW_TEMPORAL__ADDRESS=address,
        MENTORFLOW_TEMPORAL__CORE_LOG_LEVEL="DEBUG",
    )
    assert done.returncode == 5, done.stderr[-2000:]
    answer = json.loads(done.stdout)  # the whole of stdout is the one JSON document
    assert answer["exit_code"] == 5 and answer["ok"] is False
    assert "hyper" not in done.stdout and "DEBUG" not in done.stdout


def test_core_lines_reach_the_python_logger_on_stderr(tmp_path: Path) -> None:
    port = free_port()
    script = f"""
import asyncio, logging
logging.basicConfig(level=logging.DEBUG, format="%(name)s|%(levelname)s|%(message)s")
from workflows.connection import connect

async def main() -> None:
    try:
        await connect("127.0.0.1:{port}", "default", core_log_level="DEBUG")
    except RuntimeError:
        pass
    await asyncio.sleep(0.5)  # the core hands its lines over in batches every few milliseconds

asyncio.run(main())
"""
    done = run([sys.executable, "-c", script], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout == ""
    core = [line for line in done.stderr.splitlines() if line.startswith("temporalio.core")]
    assert any(f"connecting to 127.0.0.1:{port}" in line for line in core), done.stderr[-2000:]


@pytest.mark.parametrize("as_json", [False, True])
def test_a_refused_setting_is_exit_2_naming_each_variable_and_its_rule(tmp_path: Path, as_json: bool) -> None:
    args = [*mentorflow_argv(), "relationship", "show", "rel-core-log", *(["--json"] if as_json else [])]
    done = run(args, tmp_path, MENTORFLOW_TEMPORAL__CORE_LOG_LEVEL="LOUD", MENTORFLOW_KAFKA__PARTITIONS="0")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout
    assert "MENTORFLOW_TEMPORAL__CORE_LOG_LEVEL: Input should be 'ERROR', 'WARN', 'INFO'" in done.stderr
    assert "MENTORFLOW_KAFKA__PARTITIONS: Input should be greater than or equal to 1" in done.stderr
    if as_json:
        answer = json.loads(done.stdout)
        assert answer["exit_code"] == 2 and "MENTORFLOW_KAFKA__PARTITIONS" in answer["error"]
    else:
        assert done.stdout == ""


def test_load_settings_names_the_variable_and_hides_the_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MENTORFLOW_TEMPORAL__UI_PORT", "70000")
    monkeypatch.setenv("MENTORFLOW_PRIVACY__CODEC_KEY", "not-a-key-Qz9")
    with pytest.raises(SettingsError) as refused:
        load_settings()
    text = str(refused.value)
    assert "MENTORFLOW_TEMPORAL__UI_PORT: Input should be less than or equal to 65535" in text
    assert "MENTORFLOW_PRIVACY__CODEC_KEY" in text
    assert "not-a-key-Qz9" not in text and "70000" not in text
