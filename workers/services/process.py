"""Pid-file bookkeeping and detached process start/stop, shared by every local service."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path


class ServiceError(RuntimeError):
    """A local service could not be started or did not become healthy; the message says which and where to look."""


class ServiceUnusable(ServiceError):
    """Something answers on a service's port but cannot serve (e.g. a Temporal dev server whose data folder is
    gone): ``up`` refuses it (exit 2) rather than build on it; the message says what to stop."""


def write_private(path: Path, text: str) -> None:
    """Write a file holding a secret or personal data, readable by its owner only: created with mode 0600 by
    ``os.open`` (an existing file is narrowed to 0600 before anything is written), never chmod-ed afterwards."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        if os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8", closefd=False) as out:
            out.write(text)
    finally:
        os.close(fd)


def listening_pid(port: int) -> int | None:
    """The pid of the process listening on TCP ``port`` (from /proc; None where that is not readable)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(f"socket:[{fields[9]}]")
    if not inodes:
        return None
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd) in inodes:
                    return int(proc.name)
    return None


def pid_file(run_dir: Path, name: str) -> Path:
    return run_dir / "pids" / f"{name}.pid"


def log_file(run_dir: Path, name: str) -> Path:
    return run_dir / "logs" / f"{name}.log"


def is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped) still answers kill(0): check its state.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def start_time(pid: int) -> str | None:
    """When the process started (clock ticks since boot, /proc/<pid>/stat field 22): with the pid, its identity.

    pids are recycled (``kernel.pid_max`` is 32768 here, and a test run spawns thousands of processes), so a pid
    file alone may name an unrelated process — signalling its process group could kill a stranger, even the shell
    that runs the test suite."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return fields[19] if len(fields) > 19 else None


def read_pid(run_dir: Path, name: str) -> int | None:
    """The recorded process, if it is still the one we started (same pid, same start time) and alive."""
    path = pid_file(run_dir, name)
    try:
        recorded = path.read_text().split()
        pid = int(recorded[0])
    except (OSError, ValueError, IndexError):
        return None
    if len(recorded) > 1 and start_time(pid) not in (None, recorded[1]):
        return None  # the pid was recycled: not ours
    return pid if is_alive(pid) else None


def spawn(
    run_dir: Path,
    name: str,
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> int:
    """Start ``argv`` in its own session (so it outlives the CLI), log to run_dir/logs, record its pid."""
    log = log_file(run_dir, name)
    log.parent.mkdir(parents=True, exist_ok=True)
    pid_file(run_dir, name).parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        out.write(f"\n--- {time.strftime('%Y-%m-%dT%H:%M:%S')} starting: {' '.join(argv)}\n".encode())
        out.flush()
        proc = subprocess.Popen(
            list(argv),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            cwd=str(cwd) if cwd else None,
            start_new_session=True,
        )
    started = start_time(proc.pid)
    pid_file(run_dir, name).write_text(f"{proc.pid} {started}\n" if started else f"{proc.pid}\n")
    return proc.pid


def stop(run_dir: Path, name: str, *, timeout: float = 20.0) -> bool:
    """SIGTERM the recorded process group, SIGKILL after ``timeout``; True if something was stopped."""
    pid = read_pid(run_dir, name)
    pid_file(run_dir, name).unlink(missing_ok=True)
    if pid is None:
        return False
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_alive(pid):
            return True
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    return True


def wait_until(
    check: Callable[[], bool],
    *,
    what: str,
    timeout: float,
    pid: int | None = None,
    log: Path | None = None,
) -> None:
    """Poll ``check`` (a real health call) until it is true; fail early if the process died."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return
        if pid is not None and not is_alive(pid):
            raise ServiceError(f"{what} exited during start-up; see {log}:\n{tail(log)}")
        if time.monotonic() > deadline:
            raise ServiceError(f"{what} did not become healthy within {timeout:.0f}s; see {log}:\n{tail(log)}")
        time.sleep(0.2)


def tail(path: Path | None, lines: int = 15) -> str:
    if path is None or not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    import socket

    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
