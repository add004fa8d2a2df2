"""The operator's probe of issue 11, end to end: a program of relationships under the ``demo`` policy, the worker
killed with SIGKILL in the middle, a replacement started at once (with the workflow cache off, so each of its tasks
replays the whole history). Every relationship still finishes its story, and every history replays with the
current code."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from tests.e2e.conftest import free_port, isolated_env, mentorflow
from workers.services.process import read_pid
from workers.settings import Settings
from workflows.connection import connect
from workflows.models import workflow_id
from workflows.relationship import RelationshipWorkflow

pytestmark = pytest.mark.timeout(420)

CLOSE_WITHIN = 180.0  # seconds a relationship the demo stopped waiting for may take to close by its own timers
KILL_AFTER = 12.0  # seconds into the demo: relationships are in initiation and cultivation, timers are running


def wait_for_pid(run_dir: Path, name: str, timeout: float = 120) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = read_pid(run_dir, name)
        if pid is not None:
            return pid
        time.sleep(0.2)
    raise AssertionError(f"{name} never started")


async def wait_closed(settings: Settings, relationship_ids: list[str]) -> list[str]:
    """The relationships among ``relationship_ids`` whose workflow is still running after CLOSE_WITHIN seconds."""
    from temporalio.client import WorkflowExecutionStatus

    client = await connect(settings.temporal.address, settings.temporal.namespace)
    deadline = time.monotonic() + CLOSE_WITHIN
    pending = list(relationship_ids)
    while pending and time.monotonic() < deadline:
        described = [await client.get_workflow_handle(workflow_id(r)).describe() for r in pending]
        pending = [r for r, d in zip(pending, described, strict=True) if d.status == WorkflowExecutionStatus.RUNNING]
        if pending:
            await asyncio.sleep(2)
    return pending


async def replay_program(settings: Settings, program: str) -> tuple[int, list[str]]:
    client = await connect(settings.temporal.address, settings.temporal.namespace)
    replayer = Replayer(workflows=[RelationshipWorkflow], data_converter=pydantic_data_converter)
    runs, failures = 0, []
    async for execution in client.list_workflows(f'MentorflowProgram="{program}"'):
        history = await client.get_workflow_handle(execution.id, run_id=execution.run_id).fetch_history()
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        runs += 1
        if result.replay_failure is not None:
            failures.append(f"{execution.id}: {result.replay_failure}")
    return runs, failures


def test_a_worker_killed_mid_program_loses_no_story_and_every_history_replays(stack: Settings, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    env = {**os.environ, **isolated_env(run_dir, free_port())}
    program = f"killed-{time.time_ns() % 10**8}"
    mf = mentorflow()
    demo = subprocess.Popen(
        [*mf, "demo", "--relationships", "8", "--term", "30", "--program", program, "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    replacement = None
    try:
        first = wait_for_pid(run_dir, "demo-worker")
        time.sleep(KILL_AFTER)
        os.kill(first, signal.SIGKILL)
        replacement = subprocess.Popen(
            [*mf, "worker", "--archive-interval", "0", "--max-cached-workflows", "0"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        out, err = demo.communicate(timeout=360)
        assert demo.returncode == 0, err[-3000:]
        result = json.loads(out)
        assert result["errors"] == []
        # The outage shifts the stories' timing: a relationship the demo stopped waiting for still closes by its own
        # timers (e.g. the redefinition follow-up), with the replacement worker still running.
        still_open = asyncio.run(wait_closed(stack, result["open_relationships"]))
        assert still_open == []
        runs, failures = asyncio.run(replay_program(stack, program))
        assert runs >= result["relationships"]
        assert failures == []
    finally:
        for process in (demo, replacement):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(timeout=30)
        subprocess.run([*mf, "demo", "--stop"], env=env, capture_output=True, timeout=60, check=False)
