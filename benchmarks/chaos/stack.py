"""The chaos run's own stack: the services it kills are private (own ports, own data folders), never the shared ones.

A service the run kills (Temporal, Kafka, PostgreSQL) is started here on free ports under the run's folder, with the
same ``workers.services`` code ``mentorflow services up`` uses; a service it does not kill may be the shared one
(a unique task queue, topic prefix and program keep the run's data apart). Worker, projector and API are real
``mentorflow`` processes; :meth:`ChaosStack.kill` is ``kill -9`` of a process (for PostgreSQL: the postmaster and
its backends, as a machine crash would), :meth:`ChaosStack.restart` brings it back on the same data.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from workers.services import kafka, postgres, temporal
from workers.services.process import ServiceError, is_alive, log_file, read_pid, spawn, stop, tail
from workers.settings import (
    ApiSettings,
    DatabaseSettings,
    KafkaSettings,
    MetricsSettings,
    PostgresSettings,
    Settings,
    TemporalSettings,
)

APPS = ("worker", "projector", "api")
SERVICES = ("temporal", "kafka", "postgres")
TARGETS = (*APPS, *SERVICES)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def mentorflow_argv() -> list[str]:
    exe = Path(sys.executable).with_name("mentorflow")
    return [str(exe)] if exe.exists() else [sys.executable, "-c", "from workers.cli import main; main()"]


def _private_settings(base: Settings, run_dir: Path, private: frozenset[str], tag: str, token: str) -> Settings:
    """Settings naming the run's services: private ones on free ports under ``run_dir``, shared ones as ``base``."""
    update: dict[str, object] = {
        "run_dir": run_dir,
        "api": ApiSettings(port=free_port(), tokens={token: "platform:chaos"}),
        "metrics": MetricsSettings(worker_port=0, worker_sdk_port=0, projector_port=0),
        "temporal": base.temporal.model_copy(update={"task_queue": f"chaos-{tag}"}),
        "kafka": base.kafka.model_copy(update={"topic_prefix": f"chaos-{tag}"}),
        "database": DatabaseSettings(url=""),  # the embedded SQLite file under run_dir
    }
    if "temporal" in private:
        update["temporal"] = TemporalSettings(address=f"127.0.0.1:{free_port()}", task_queue="chaos", ui=False)
    if "kafka" in private:
        update["kafka"] = KafkaSettings(
            bootstrap_servers=f"127.0.0.1:{free_port()}",
            controller_port=free_port(),
            partitions=3,
            topic_prefix="chaos",
        )
    if "postgres" in private:
        pg = PostgresSettings(port=free_port())
        update["postgres"] = pg
        update["database"] = DatabaseSettings(url=pg.url())
    return base.model_copy(update=update)


def _app_env(settings: Settings) -> dict[str, str]:
    """What the worker, projector and API processes read (environment beats the checkout's .env)."""
    return {
        "MENTORFLOW_RUN_DIR": str(settings.run_dir),
        "MENTORFLOW_TEMPORAL__ADDRESS": settings.temporal.address,
        "MENTORFLOW_TEMPORAL__NAMESPACE": settings.temporal.namespace,
        "MENTORFLOW_TEMPORAL__TASK_QUEUE": settings.temporal.task_queue,
        "MENTORFLOW_TEMPORAL__UI": "false",
        "MENTORFLOW_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "MENTORFLOW_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix,
        "MENTORFLOW_KAFKA__PARTITIONS": str(settings.kafka.partitions),
        "MENTORFLOW_DATABASE__URL": settings.database.url,
        "MENTORFLOW_API__PORT": str(settings.api.port),
        "MENTORFLOW_API__TOKENS": json.dumps(settings.api.tokens),
        "MENTORFLOW_METRICS__WORKER_PORT": "0",
        "MENTORFLOW_METRICS__WORKER_SDK_PORT": "0",
        "MENTORFLOW_METRICS__PROJECTOR_PORT": "0",
    }


def _children(pid: int) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                if int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(proc.name))
    return found


def _sigkill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


@dataclass
class ChaosStack:
    settings: Settings
    private: frozenset[str]
    token: str
    program: str
    held: set[str] = field(default_factory=set)  # killed on purpose: the supervisor leaves them down
    restarts: dict[str, int] = field(default_factory=dict)  # apps the supervisor found dead and restarted
    exits: dict[str, str] = field(default_factory=dict)  # the last log line of each app's latest exit on its own

    @classmethod
    def create(cls, base: Settings, run_dir: Path, private: frozenset[str]) -> ChaosStack:
        tag = uuid.uuid4().hex[:8]
        token = f"chaos-{secrets.token_urlsafe(24)}"
        run_dir.mkdir(parents=True, exist_ok=True)
        settings = _private_settings(base, run_dir, private, tag, token)
        return cls(settings=settings, private=private, token=token, program=f"chaos-{tag}")

    @property
    def run_dir(self) -> Path:
        return self.settings.run_dir

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.api.port}"

    # --- services ------------------------------------------------------------------------------------------------
    def start_services(self, jars_from: Settings) -> None:
        if "kafka" in self.private:
            kafka.ensure_jars(jars_from)
            libs = kafka.libs_dir(self.settings)
            libs.parent.mkdir(parents=True, exist_ok=True)
            if not libs.exists():
                libs.symlink_to(kafka.libs_dir(jars_from))
        for name in SERVICES:
            if name in self.private:
                self._start_service(name)

    def _start_service(self, name: str) -> None:
        starters = {"temporal": temporal.start, "kafka": kafka.start, "postgres": postgres.start}
        last: Exception | None = None
        for _ in range(5):  # PostgreSQL may refuse while its killed backends are still leaving shared memory
            try:
                starters[name](self.settings)
                return
            except ServiceError as exc:
                last = exc
                time.sleep(2)
        raise ServiceError(f"chaos: {name} did not come back: {last}")

    # --- apps ----------------------------------------------------------------------------------------------------
    def start_app(self, name: str) -> int:
        argv = {
            "worker": [*mentorflow_argv(), "worker", "--archive-interval", "0"],
            "projector": [*mentorflow_argv(), "projector"],
            "api": [*mentorflow_argv(), "api"],
        }[name]
        return spawn(self.run_dir, name, argv, env={**os.environ, **_app_env(self.settings)})

    def start_apps(self) -> None:
        for name in APPS:
            self.start_app(name)

    def supervise(self) -> list[str]:
        """Restart every app that is down and not held down (as systemd's Restart=always would); the names."""
        restarted = []
        for name in APPS:
            if name not in self.held and read_pid(self.run_dir, name) is None:
                last = [line for line in tail(log_file(self.run_dir, name), 40).splitlines() if line.strip()]
                self.exits[name] = last[-1][:300] if last else ""
                self.start_app(name)
                self.restarts[name] = self.restarts.get(name, 0) + 1
                restarted.append(name)
        return restarted

    # --- faults --------------------------------------------------------------------------------------------------
    def kill(self, name: str) -> None:
        """``kill -9``: the process (its whole group for the apps and the services we spawned)."""
        if name in SERVICES and name not in self.private:
            raise ValueError(f"{name} is shared with others: the chaos run never kills it")
        self.held.add(name)
        if name == "postgres":
            pid = postgres.running_pid(self.settings)
            if pid is None:
                raise ServiceError("chaos: the private PostgreSQL is not running")
            backends = _children(pid)
            _sigkill(pid)
            for child in backends:
                _sigkill(child)
            return
        pid = read_pid(self.run_dir, name)
        if pid is None:
            raise ServiceError(f"chaos: {name} is not running")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while is_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)

    def restart(self, name: str) -> None:
        if name in APPS:
            self.start_app(name)
        else:
            self._start_service(name)
        self.held.discard(name)

    # --- the end -------------------------------------------------------------------------------------------------
    def logs(self, lines: int = 20) -> str:
        return "\n".join(f"--- {n}\n{tail(log_file(self.run_dir, n), lines)}" for n in (*APPS, "temporal", "kafka"))

    def close(self) -> None:
        for name in APPS:
            stop(self.run_dir, name)
        if "temporal" in self.private:
            stop(self.run_dir, "temporal")
        if "kafka" in self.private:
            stop(self.run_dir, "kafka", timeout=40)
        if "postgres" in self.private:
            postgres.stop(self.settings)
            cluster = postgres.cluster_dir(self.settings)
            if cluster != self.run_dir / "postgres" and cluster.is_relative_to(postgres.SHARED_BASE):
                shutil.rmtree(cluster, ignore_errors=True)
