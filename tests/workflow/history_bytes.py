"""What one command writes into the workflow history, by event type: ``python -m tests.workflow.history_bytes [N]``.

A deterministic figure (issue 16): on the time-skipping test server (no dev server, no Kafka: the recording publisher
of the workflow tier), a relationship goes to cultivation, then N meetings (default 30) are logged one after the other,
each after the previous publication completed; the events and protobuf bytes the meetings added to the history are
printed per command. ``--caller-publishes``: the client publishes its commands' envelopes itself and confirms them
with the next (``command_by_publisher``, workflows/handover.py), into the same recording list; ``--quiet``: a quiet
minute after each command (the caller then confirms by signal, or with ``--no-signal`` leaves it to the backstop)."""

from __future__ import annotations

import asyncio
import sys
import tempfile
import uuid
from collections import Counter
from pathlib import Path

from temporalio.api.enums.v1 import EventType

from activities.notifications import LogSink, Notifier
from domain import Envelope
from tests.conftest import time_skipping_server
from tests.workflow.conftest import Lifecycle, RecordingPublisher
from workers.worker import build_worker
from workflows.caller_publisher import CallerPublisher
from workflows.client import MentorflowClient


async def measure(commands: int, caller_publishes: bool = False, quiet: bool = False, signal: bool = True) -> None:
    async with time_skipping_server() as env:
        queue = f"bytes-{uuid.uuid4().hex[:8]}"
        publisher = RecordingPublisher()
        with tempfile.TemporaryDirectory() as tmp:
            log = Path(tmp) / "notifications.jsonl"
            async with build_worker(
                env.client, task_queue=queue, publisher=publisher, notifier=Notifier(LogSink(log)),
                max_cached_workflows=0,
            ):  # fmt: skip
                client = MentorflowClient(env.client, task_queue=queue)
                if caller_publishes:

                    async def publish(batch: list[Envelope]) -> None:
                        publisher.envelopes.extend(batch)

                    client.publisher = CallerPublisher(publish, confirm_after=1.0 if signal else None)
                lc = Lifecycle(env=env, client=client, notifications=log, publisher=publisher)
                lc.rules_version = None
                await lc.to_cultivation()
                handle = client.handle(lc.relationship_id)
                before = len((await handle.fetch_history()).events)
                for _ in range(commands):
                    await lc.meeting()
                    await asyncio.sleep(0.3)  # its publication completes before the next command (steady state)
                    if quiet:  # a quiet spell after each command: the signal (after 1 s), else the backstop (5 s)
                        await asyncio.sleep(1.5)
                        await lc.sleep(seconds=60)
                await asyncio.sleep(1)
                added = (await handle.fetch_history()).events[before:]
                await handle.terminate("measured")
                await client.close()
    size: Counter[str] = Counter()
    count: Counter[str] = Counter()
    for event in added:
        name = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")
        size[name] += event.ByteSize()
        count[name] += 1
    print(f"{len(added) / commands:.2f} events and {sum(size.values()) / commands:,.0f} bytes per command")
    for name, total in size.most_common():
        print(f"  {name:45s} {count[name] / commands:5.2f} per command {total / commands:8,.0f} bytes")


if __name__ == "__main__":
    numbers = [arg for arg in sys.argv[1:] if arg.isdigit()]
    asyncio.run(
        measure(
            int(numbers[0]) if numbers else 30,
            caller_publishes="--caller-publishes" in sys.argv,
            quiet="--quiet" in sys.argv,
            signal="--no-signal" not in sys.argv,
        )
    )
