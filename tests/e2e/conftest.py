"""The whole stack, end to end: worker, projector and API as real processes (``mentorflow worker|projector|api``),
isolated from anything else on the machine by their own run dir (so their own SQLite projections), Kafka topic
prefix, Temporal task queue and API port."""

from __future__ import annotations

import itertools
import json
import os
import secrets
import socket
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from workers.services.process import log_file, spawn, stop, tail
from workers.settings import Settings

SPECS = {
    "e2e-manager": "manager:e2e-manager",
    "e2e-platform": "platform:e2e",
    "e2e-auditor": "auditor:e2e",
    "e2e-mentor": "participant:e2e-mona",
    "e2e-mentee": "participant:e2e-eli",
}
"""Tests name tokens by these labels; the API gets strong random tokens (it refuses short ones)."""
TOKEN_OF = {label: f"{label}-{secrets.token_urlsafe(24)}" for label in SPECS}
TOKENS = {TOKEN_OF[label]: spec for label, spec in SPECS.items()}
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def isolated_env(run_dir: Path, port: int, tokens: dict[str, str] | None = None) -> dict[str, str]:
    tag = uuid.uuid4().hex[:8]
    env = {
        "MENTORFLOW_RUN_DIR": str(run_dir),
        "MENTORFLOW_KAFKA__TOPIC_PREFIX": f"e2e-{tag}",
        "MENTORFLOW_TEMPORAL__TASK_QUEUE": f"e2e-{tag}",
        "MENTORFLOW_API__PORT": str(port),
        "MENTORFLOW_DATABASE__URL": "",
    }
    if tokens is not None:
        env["MENTORFLOW_API__TOKENS"] = json.dumps(tokens)
    return env


def mentorflow() -> list[str]:
    exe = Path(sys.executable).with_name("mentorflow")
    return [str(exe)] if exe.exists() else [sys.executable, "-c", "from workers.cli import main; main()"]


@dataclass
class LiveStack:
    base_url: str
    run_dir: Path
    env: dict[str, str]

    def client(self, token: str | None) -> httpx.Client:
        """A client sending the token of a label (``e2e-manager``…), or any other text as it is."""
        headers = {"Authorization": f"Bearer {TOKEN_OF.get(token, token)}"} if token else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30)


@pytest.fixture(scope="session")
def live(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    """Worker, projector and API processes over the session's services."""
    run_dir = tmp_path_factory.mktemp("live-run")
    port = free_port()
    env = isolated_env(run_dir, port, TOKENS)
    mf = mentorflow()
    names = {"worker": [*mf, "worker"], "projector": [*mf, "projector"], "api": [*mf, "api"]}
    full_env = {**os.environ, **env}
    for name, argv in names.items():
        spawn(run_dir, name, argv, env=full_env)
    base = f"http://127.0.0.1:{port}"
    _until(lambda: httpx.get(f"{base}/healthz", timeout=1).status_code == 200, 40, run_dir, names, "the API came up")
    live = LiveStack(base_url=base, run_dir=run_dir, env=env)
    _warm_up(live, names)
    try:
        yield live
    finally:
        for name in names:
            stop(run_dir, name)


def _until(ready: Callable[[], bool], seconds: float, run_dir: Path, names: Iterable[str], what: str) -> None:
    """Polls ``ready`` (an HTTP error is a no) until it says yes; after ``seconds``, fails with the processes' logs."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if ready():
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {n}\n{tail(log_file(run_dir, n), 30)}" for n in names)
            pytest.fail(f"not in {seconds:g} s: {what}\n{logs}")
        time.sleep(0.3)


def _warm_up(live: LiveStack, names: Iterable[str]) -> None:
    """Until a command is projected: /healthz answers before the worker's first producer and the projector's group
    join are done, and on a loaded machine those can take longer than a test's one ``?wait=true`` (10 s). The
    relationships proposed here belong to a program of their own, which no test reads."""
    program = f"e2e-warm-up-{uuid.uuid4().hex[:6]}"
    attempts = itertools.count()
    with live.client("e2e-manager") as manager:

        def projected() -> bool:
            body = {"relationship_id": f"{program}-{next(attempts)}", "program_id": program,
                    "mentor_id": "e2e-warm-mona", "mentee_id": "e2e-warm-eli", "policy": "mentoring-12m"}  # fmt: skip
            response = manager.post("/relationships?wait=true", json=body)
            return response.status_code == 201 and response.json()["projected"] is True

        _until(projected, 120, live.run_dir, names, "a command projected")
