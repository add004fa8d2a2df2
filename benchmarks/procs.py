"""Processes the benchmarks run beside themselves: ``python -m benchmarks.procs worker|projector ...``.

A worker in its own process has its own memory (benchmark 5 reads its RSS) and its own event loop and GIL (the
load generator of benchmarks 1 and 2 does not compete with it inside one interpreter). Prints ``ready`` on stdout
once polling; stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from benchmarks.common import BENCH_DIR, settings, temporal_client
from projections.kafka_access import kafka_options


async def worker(kind: str, task_queue: str, topic: str, max_cached: int) -> None:
    from temporalio.worker import Worker

    client = await temporal_client()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    from workflows.sandbox import WORKFLOW_RUNNER, passing_through

    if kind == "bare":
        from benchmarks.bare import BareWorkflow

        # Its module is passed through like ours (workflows/sandbox.py): the baseline is the workflow, not a re-import.
        w = Worker(
            client,
            task_queue=task_queue,
            workflows=[BareWorkflow],
            workflow_runner=passing_through("benchmarks"),
            max_cached_workflows=max_cached,
        )
        async with w:
            print("ready", flush=True)
            await stop.wait()
        return
    # The real worker, as workers/worker.py builds it (plus the cache size, which benchmark 5 sets).
    from activities.notifications import LogSink, Notifier
    from activities.publishing import KafkaPublisher
    from workflows.relationship import RelationshipWorkflow

    publisher = KafkaPublisher(settings().kafka.access, topic)
    notifier = Notifier(LogSink(BENCH_DIR / f"notifications-{task_queue}.jsonl"))
    w = Worker(
        client,
        task_queue=task_queue,
        workflows=[RelationshipWorkflow],
        workflow_runner=WORKFLOW_RUNNER,
        activities=[publisher.publish, notifier.notify],
        max_concurrent_activities=100,
        max_cached_workflows=max_cached,
    )
    try:
        async with w:
            print("ready", flush=True)
            await stop.wait()
    finally:
        await publisher.close()


async def projector(database_url: str, topic: str, group: str) -> None:
    from projections.projector import run_projector

    def ready(_: object) -> None:
        print("ready", flush=True)

    await run_projector(
        database_url=database_url,
        **kafka_options(settings().kafka.access),
        topic=topic,
        group_id=group,
        dead_letter_topic=None,
        max_records=5000,
        ready=ready,
        report_every=3600,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.procs")
    sub = parser.add_subparsers(dest="what", required=True)
    w = sub.add_parser("worker")
    w.add_argument("--kind", choices=["real", "bare"], required=True)
    w.add_argument("--task-queue", required=True)
    w.add_argument("--topic", default="")
    w.add_argument("--max-cached", type=int, default=1000)
    p = sub.add_parser("projector")
    p.add_argument("--db", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--group", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    with contextlib.suppress(KeyboardInterrupt):
        if args.what == "worker":
            asyncio.run(worker(args.kind, args.task_queue, args.topic, args.max_cached))
        else:
            asyncio.run(projector(args.db, args.topic, args.group))
    return 0


if __name__ == "__main__":
    sys.exit(main())
