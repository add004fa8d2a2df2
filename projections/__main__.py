"""``python -m projections``: the projector without the ``mentorflow`` CLI (configuration by arguments or the
``MENTORFLOW_*`` environment variables of the same names). ``mentorflow projector`` is the usual entry point."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys

from projections.projector import DEFAULT_GROUP, run_projector


def main(argv: list[str] | None = None) -> int:
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="python -m projections", description=__doc__)
    parser.add_argument("--database-url", default=env("MENTORFLOW_DATABASE__URL") or "sqlite:///.run/mentorflow.db")
    parser.add_argument("--bootstrap-servers", default=env("MENTORFLOW_KAFKA__BOOTSTRAP_SERVERS", "127.0.0.1:9092"))
    parser.add_argument("--topic", default=f"{env('MENTORFLOW_KAFKA__TOPIC_PREFIX', 'mentorflow')}.relationship-events")
    parser.add_argument("--group", default=DEFAULT_GROUP)
    parser.add_argument("--dead-letter-topic", default="", help="default <topic>.dlt; 'none' to publish nothing")
    parser.add_argument("--max-records", type=int, default=5000, help="messages per batch (one transaction)")
    parser.add_argument("--session-timeout-ms", type=int, default=10_000, help="consumer group session timeout")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    dlt = None if args.dead_letter_topic == "none" else args.dead_letter_topic
    metrics = asyncio.run(
        run_projector(
            database_url=args.database_url,
            bootstrap_servers=args.bootstrap_servers,
            topic=args.topic,
            group_id=args.group,
            dead_letter_topic=dlt,
            max_records=args.max_records,
            session_timeout_ms=args.session_timeout_ms,
            ready=lambda info: print(json.dumps({"ready": dict(info)}), flush=True),
        )
    )
    print(json.dumps({"stopped": metrics.as_dict()}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
