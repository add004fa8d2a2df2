"""The demo waits for a worker's first poll patiently while its worker lives, and names the worker's log at once
when that worker died (CI's loaded machine took over 30 s from spawn to first poll)."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from workers.demo import runner
from workers.services.process import ServiceError, log_file, spawn
from workers.settings import Settings


class _TaskQueue:
    """Answers DescribeTaskQueue: no pollers for the first ``silent`` calls, then one."""

    def __init__(self, silent: int) -> None:
        self.silent = silent
        self.calls = 0

    async def describe_task_queue(self, request: Any) -> Any:
        self.calls += 1
        return SimpleNamespace(pollers=[] if self.calls <= self.silent else ["a poller"])


def _settings(run_dir: Path) -> Settings:
    return Settings(run_dir=run_dir)


def test_waits_while_the_worker_lives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner.asyncio, "sleep", _no_sleep)
    spawn(tmp_path, "demo-worker", [sys.executable, "-c", "import time; time.sleep(30)"])
    queue = _TaskQueue(silent=5)
    try:
        asyncio.run(runner._wait_for_worker(SimpleNamespace(workflow_service=queue), _settings(tmp_path)))
    finally:
        runner.stop(tmp_path, "demo-worker", timeout=5)
    assert queue.calls == 6


def test_a_dead_worker_is_named_with_its_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner.asyncio, "sleep", _no_sleep)
    pid = spawn(tmp_path, "demo-worker", [sys.executable, "-c", "print('cannot reach Kafka'); raise SystemExit(1)"])
    _reap(pid)  # a zombie still answers kill(pid, 0)
    queue = _TaskQueue(silent=10**9)
    with pytest.raises(ServiceError) as refused:
        asyncio.run(runner._wait_for_worker(SimpleNamespace(workflow_service=queue), _settings(tmp_path)))
    assert "exited before it polled" in str(refused.value)
    assert str(log_file(tmp_path, "demo-worker")) in str(refused.value)
    assert "cannot reach Kafka" in str(refused.value)


def test_no_poller_in_time_is_refused_with_the_queue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner.asyncio, "sleep", _no_sleep)
    queue = _TaskQueue(silent=10**9)
    with pytest.raises(ServiceError, match="no worker polls task queue"):
        asyncio.run(runner._wait_for_worker(SimpleNamespace(workflow_service=queue), _settings(tmp_path), seconds=0.05))


async def _no_sleep(seconds: float) -> None:
    return None


def _reap(pid: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return
        if done:
            return
        time.sleep(0.05)
