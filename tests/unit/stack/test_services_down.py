"""`services down` stops what we started — the demo's app processes included — and nothing else."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from workers.services import services_down
from workers.services.process import is_alive, pid_file, read_pid, spawn, start_time
from workers.settings import Settings


def test_down_stops_app_processes_we_started_and_leaves_others(tmp_path: Path) -> None:
    settings = Settings(run_dir=tmp_path)
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    ours = spawn(tmp_path, "demo-worker", sleeper)
    stranger = subprocess.Popen(sleeper)
    try:
        assert read_pid(tmp_path, "demo-worker") == ours
        result = services_down(settings)
        assert result["demo-worker"] == "stopped"
        assert result["temporal"] == result["kafka"] == "was not started by us"
        assert not is_alive(ours)
        assert not (tmp_path / "pids" / "demo-worker.pid").exists()
        assert stranger.poll() is None, "a process we did not start was stopped"
    finally:
        stranger.kill()
        stranger.wait()


def test_a_recycled_pid_in_a_pid_file_is_never_signalled(tmp_path: Path) -> None:
    """pids wrap (pid_max 32768): a pid file whose process is gone may name a stranger by the time it is read.
    The start time recorded beside the pid tells them apart, so `down` leaves the stranger alone."""
    settings = Settings(run_dir=tmp_path)
    stranger = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True
    )  # its own process group, as spawned services have
    try:
        recorded = start_time(stranger.pid)
        assert recorded is not None
        pid_file(tmp_path, "demo-worker").parent.mkdir(parents=True, exist_ok=True)
        pid_file(tmp_path, "demo-worker").write_text(f"{stranger.pid} {int(recorded) - 1}\n")  # another process's
        assert read_pid(tmp_path, "demo-worker") is None
        assert services_down(settings)["demo-worker"] == "was not running"
        assert stranger.poll() is None, "a recycled pid was signalled"
        pid_file(tmp_path, "demo-worker").write_text(f"{stranger.pid} {recorded}\n")  # the one we started
        assert read_pid(tmp_path, "demo-worker") == stranger.pid
    finally:
        stranger.kill()
        stranger.wait()
