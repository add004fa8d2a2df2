"""CPU time by process tree, read from Linux's /proc: the throughput benchmark's CPU per command, by process (the
arithmetic issue 16 asks for where a target is out of reach on 2 cores: 2 cores give 2,000 ms of CPU a second)."""

from __future__ import annotations

import os
from pathlib import Path

from benchmarks.common import settings
from workers.services.process import read_pid

TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
PROC = Path("/proc")


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, user + system CPU seconds) of a live process; None when it is gone or /proc has no such file."""
    try:
        fields = (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK


def tree_seconds(roots: dict[str, int]) -> dict[str, float]:
    """CPU seconds of each root process and every live descendant (a service started through a wrapper counts
    whole), from one reading of /proc."""
    stats = {int(p.name): s for p in PROC.iterdir() if p.name.isdigit() and (s := _stat(int(p.name))) is not None}
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in stats.items():
        children.setdefault(parent, []).append(pid)

    def tree(root: int) -> float:
        total, todo = 0.0, [root]
        while todo:
            pid = todo.pop()
            if pid in stats:
                total += stats[pid][1]
                todo.extend(children.get(pid, []))
        return total

    return {name: tree(pid) for name, pid in roots.items()}


def service_pids() -> dict[str, int]:
    """The local stack's Temporal dev server and Kafka broker (their pid files); a service this machine did not
    start (an external cluster) is left out, and the figure says which parts it counts."""
    run_dir = settings().run_dir
    found = {name: read_pid(run_dir, pid_name) for name, pid_name in (("server", "temporal"), ("kafka", "kafka"))}
    return {name: pid for name, pid in found.items() if pid is not None}


class CpuMeter:
    """CPU seconds of named processes between :meth:`start` and :meth:`stop`, added up over several phases."""

    def __init__(self, processes: dict[str, int]) -> None:
        self.processes = processes
        self.seconds = dict.fromkeys(processes, 0.0)
        self._started: dict[str, float] = {}

    def start(self) -> None:
        self._started = tree_seconds(self.processes)

    def stop(self) -> None:
        for name, seconds in tree_seconds(self.processes).items():
            self.seconds[name] += seconds - self._started[name]

    def per_command_ms(self, commands: int) -> dict[str, float]:
        return {name: seconds * 1000 / commands for name, seconds in self.seconds.items()} if commands else {}
