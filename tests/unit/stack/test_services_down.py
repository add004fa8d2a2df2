"""`services down` stops what we started — the demo's app processes included — and nothing else."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from workers.services import services_down
from workers.services.process import is_alive, read_pid, spawn
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
