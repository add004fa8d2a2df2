"""Fresh machines: a clone in a folder Debian's ``postgres`` user cannot enter, and a Temporal dev server that
answers health checks but cannot serve (its data folder was deleted under it).

Both run the real ``mentorflow`` CLI in a subprocess against real servers on ports of their own, so they never touch
the session's services (they only read the session's Temporal and Kafka addresses).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from workers.services.postgres import SHARED_BASE
from workers.services.process import is_alive, port_open
from workers.services.temporal import temporal_cli
from workers.settings import PROJECT_ROOT, Settings

CLI = [sys.executable, "-c", "from workers.cli import main; main()"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MENTORFLOW_")}
    return env | overrides


def _cli(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)


def _status(result: subprocess.CompletedProcess[str]) -> dict[str, dict[str, Any]]:
    return {row["name"]: row for row in json.loads(result.stdout)}


@pytest.mark.postgres
def test_services_up_with_postgres_from_a_clone_postgres_cannot_enter(tmp_path: Path, settings: Settings) -> None:
    """`services up --with-postgres` from a fresh clone under a mode-700 folder (root's home, a private tmp):
    the cluster starts, answers, is seen by `status` as ours, and `down` stops it."""
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    clone = private / "mentorflow"
    subprocess.run(["git", "clone", "--quiet", "--shared", str(PROJECT_ROOT), str(clone)], check=True, timeout=60)
    port = _free_port()
    env = _env(
        PYTHONPATH=str(clone),  # the clone's code, the session's interpreter and packages
        MENTORFLOW_TEMPORAL__ADDRESS=settings.temporal.address,
        MENTORFLOW_KAFKA__BOOTSTRAP_SERVERS=settings.kafka.bootstrap_servers,
        MENTORFLOW_KAFKA__TOPIC_PREFIX=settings.kafka.topic_prefix,
        MENTORFLOW_POSTGRES__PORT=str(port),
    )
    record = clone / ".run" / "postgres-cluster"
    try:
        up = _cli(["services", "up", "--with-postgres", "--json"], env, clone)
        assert up.returncode == 0, up.stdout + up.stderr
        assert "started at" in json.loads(up.stdout)["postgres"]
        cluster = Path(record.read_text().strip())
        if os.geteuid() == 0:  # run as root: the cluster lives where Debian's postgres user can reach it
            assert cluster.parent == SHARED_BASE
            assert stat.S_IMODE(cluster.stat().st_mode) == 0o700
        else:  # any other user runs the cluster as themself, under the run dir
            assert cluster == clone / ".run" / "postgres"
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=port, user="mentorflow", password="mentorflow", dbname="mentorflow"
        ) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("mentorflow",)

        status = _status(_cli(["services", "status", "--json"], env, clone))
        assert status["postgres"]["healthy"] and status["postgres"]["managed"], status["postgres"]
        pid = status["postgres"]["pid"]

        down = _cli(["services", "down", "--json"], env, clone)
        assert json.loads(down.stdout)["postgres"] == "stopped", down.stdout + down.stderr
        assert json.loads(down.stdout)["temporal"] == "was not started by us"
        assert not is_alive(pid)
        assert not port_open("127.0.0.1", port)
    finally:
        if record.exists():
            _cli(["services", "down"], env, clone)
            cluster = Path(record.read_text().strip())
            if cluster.parent == SHARED_BASE:
                shutil.rmtree(cluster, ignore_errors=True)


def test_a_temporal_that_answers_but_cannot_serve_is_reported_and_refused(tmp_path: Path) -> None:
    """A dev server whose data folder is gone passes health checks and fails every write: `status` says so (health
    column and --json) with the pid to stop, and `up` refuses it with exit 2 and no traceback."""
    data = tmp_path / "gone"
    data.mkdir()
    port = _free_port()
    argv = ["server", "start-dev", "--ip", "127.0.0.1", "--port", str(port), "--headless", "--log-level", "error"]
    server = subprocess.Popen(
        [temporal_cli(), *argv, "--db-filename", str(data / "temporal.db")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    run_dir = tmp_path / "run"
    env = _env(MENTORFLOW_TEMPORAL__ADDRESS=f"127.0.0.1:{port}", MENTORFLOW_RUN_DIR=str(run_dir))
    try:
        deadline = time.monotonic() + 60
        while not port_open("127.0.0.1", port):
            assert time.monotonic() < deadline, "the throwaway dev server did not open its port"
            time.sleep(0.2)
        serving = _status(_cli(["services", "status", "--json"], env, tmp_path))["temporal"]
        assert serving["healthy"] and serving["problem"] is None, serving

        shutil.rmtree(data)
        result = _cli(["services", "status", "--json"], env, tmp_path)
        temporal = _status(result)["temporal"]
        assert result.returncode == 1
        assert not temporal["healthy"]
        assert temporal["problem"].startswith("answers but cannot serve: ")
        assert f"pid {server.pid}" in temporal["problem"]
        assert temporal["health"] == temporal["problem"]

        table = _cli(["services", "status"], env, tmp_path)
        assert "answers" in table.stdout
        below = " ".join(table.stderr.split())  # the whole message under the table
        assert "temporal answers but cannot serve" in below and f"pid {server.pid}" in below

        up = _cli(["services", "up", "--json"], env, tmp_path)
        assert up.returncode == 2, up.stdout + up.stderr
        message = " ".join(up.stderr.split())
        assert "answers but cannot serve" in message and f"pid {server.pid}" in message
        assert "Traceback" not in up.stderr
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
