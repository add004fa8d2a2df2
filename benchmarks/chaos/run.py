"""The chaos run: steady load while ``kill -9`` hits each part of the stack, then the proof (benchmarks/chaos/check).

One fault at a time, then two at once: kill, hold the victims down for ``down`` seconds (load keeps coming: clients
are refused, told busy or left not knowing), restart them on the same data, and probe end to end until a command is
accepted *and* shown by the reporting tables again — the time to recover. A supervisor restarts an app process that
died on its own (a worker or projector giving up while Temporal or Kafka is gone), as systemd would, and counts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.chaos.check import Findings, compare, drained, verify_three_way
from benchmarks.chaos.load import Ledger, Load, resolve_unknown
from benchmarks.chaos.stack import SERVICES, ChaosStack
from workers.settings import Settings

SINGLE = (("worker",), ("projector",), ("api",), ("kafka",), ("temporal",), ("postgres",))
PAIRS = (("worker", "kafka"), ("projector", "postgres"), ("api", "temporal"), ("temporal", "kafka"))


@dataclass(frozen=True)
class Plan:
    name: str
    faults: tuple[tuple[str, ...], ...]
    lanes: int  # relationships under load at once
    interval: float  # seconds between a lane's meetings
    warmup: float
    down: float  # seconds the victims stay down
    gap: float  # seconds of calm after a recovery
    recover_within: float

    @property
    def private(self) -> frozenset[str]:
        return frozenset(t for fault in self.faults for t in fault if t in SERVICES)


PLANS = {
    "full": Plan("full", SINGLE + PAIRS, lanes=12, interval=0.5, warmup=10, down=5, gap=5, recover_within=300),
    # CI (the suite's time budget): the API (clients left not knowing) and PostgreSQL (a private cluster starts in
    # seconds); Temporal and Kafka are the shared ones (never killed) with this run's own task queue and topic. A
    # worker killed mid-run is tests/e2e/test_demo_worker_killed.py and tests/integration/devserver/test_two_workers.
    "ci": Plan("ci", (("api",), ("postgres",)), 3, interval=0.5, warmup=2, down=1, gap=0, recover_within=120),
}


@dataclass
class FaultResult:
    victims: tuple[str, ...]
    killed_at: float
    recovered_at: float | None

    @property
    def name(self) -> str:
        return " + ".join(self.victims)

    @property
    def seconds(self) -> float | None:
        return None if self.recovered_at is None else self.recovered_at - self.killed_at

    def within(self, t: float) -> bool:
        end = self.recovered_at if self.recovered_at is not None else float("inf")
        return self.killed_at <= t <= end


@dataclass
class ChaosReport:
    plan: Plan
    faults: list[FaultResult]
    ledger: Ledger
    findings: Findings
    undrained: list[str]
    restarts: dict[str, int]
    exits: dict[str, str]
    seconds: float
    startup_seconds: float
    proof_seconds: float
    settings: Settings = field(repr=False)

    @property
    def ok(self) -> bool:
        recovered = all(f.recovered_at is not None for f in self.faults)
        return recovered and self.findings.ok and not self.undrained

    def accepted_during(self, fault: FaultResult) -> int:
        return sum(1 for a in self.ledger.answers if a.outcome == "accepted" and fault.within(a.started))

    def told_during(self, fault: FaultResult) -> dict[str, int]:
        told = {"refused": 0, "busy": 0, "unreachable": 0, "unknown": 0}
        for a in self.ledger.answers:
            if a.outcome in told and fault.within(a.started):
                told[a.outcome] += 1
        return told


async def _probe_until(load: Load, within: float) -> float | None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if await asyncio.wait_for(load.probe(), timeout=max(1.0, deadline - time.monotonic())):
                return time.monotonic()
        except TimeoutError:
            return None
        await asyncio.sleep(0.5)
    return None


async def _supervise(stack: ChaosStack, stop: asyncio.Event) -> None:
    while not stop.is_set():
        await asyncio.to_thread(stack.supervise)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=1.0)


async def _one_fault(stack: ChaosStack, load: Load, plan: Plan, victims: tuple[str, ...]) -> FaultResult:
    killed_at = time.monotonic()
    for victim in victims:
        await asyncio.to_thread(stack.kill, victim)
    await asyncio.sleep(plan.down)
    for victim in victims:  # a service first, then an app, in the order named
        await asyncio.to_thread(stack.restart, victim)
    recovered = await _probe_until(load, plan.recover_within)
    result = FaultResult(victims, killed_at, recovered)
    await asyncio.sleep(plan.gap)
    return result


async def run_chaos(plan: Plan, base: Settings, run_dir: Path, *, log: bool = True) -> ChaosReport:
    began = time.monotonic()
    stack = ChaosStack.create(base, run_dir, plan.private)
    say = print if log else (lambda *_a, **_k: None)
    ledger = Ledger()
    try:
        say(f"chaos[{plan.name}]: private services {sorted(plan.private) or 'none'} under {run_dir}", flush=True)
        await asyncio.to_thread(stack.start_services, base)
        stack.start_apps()
        load = Load(stack.base_url, stack.token, stack.program, ledger)
        stop = asyncio.Event()
        supervisor = asyncio.create_task(_supervise(stack, stop))
        try:
            if await _probe_until(load, 120) is None:
                raise RuntimeError(f"the chaos stack never served a command:\n{stack.logs()}")
            started = time.monotonic()
            lanes = [asyncio.create_task(load.lane(plan.interval)) for _ in range(plan.lanes)]
            await asyncio.sleep(plan.warmup)
            faults = []
            for victims in plan.faults:
                result = await _one_fault(stack, load, plan, victims)
                seconds = "NOT RECOVERED" if result.seconds is None else f"{result.seconds:.1f}s"
                say(f"chaos[{plan.name}]: kill -9 {result.name}: recovered in {seconds}", flush=True)
                faults.append(result)
            load.stopping.set()
            _, late = await asyncio.wait(lanes, timeout=180)
            for task in late:
                task.cancel()
            await resolve_unknown(load)
            undrained = await drained(stack.settings, ledger.relationships, within=240)
        finally:
            stop.set()
            await supervisor
            await load.close()
        proof = time.monotonic()
        findings = await asyncio.to_thread(compare, stack.settings, ledger)
        await verify_three_way(stack.settings, stack.program, findings)
        ended = time.monotonic()
        return ChaosReport(
            plan,
            faults,
            ledger,
            findings,
            undrained,
            dict(stack.restarts),
            dict(stack.exits),
            seconds=ended - began,
            startup_seconds=started - began,
            proof_seconds=ended - proof,
            settings=stack.settings,
        )
    finally:
        await asyncio.to_thread(stack.close)
