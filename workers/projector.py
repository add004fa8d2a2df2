"""``mentorflow projector``: the long-running projection process (DESIGN §6), wired to the settings.

Ensures the events topic and its dead-letter topic exist (topics are never auto-created), applies the migrations, then
consumes until SIGTERM/SIGINT, finishing the current batch.
"""

from __future__ import annotations

import asyncio
import logging

from projections.projector import DEFAULT_GROUP, ProjectorMetrics, run_projector
from projections.topics import dead_letter_topic
from workers.services.kafka import ensure_topics
from workers.settings import Settings


async def serve(
    settings: Settings,
    *,
    topic: str | None = None,
    group_id: str = DEFAULT_GROUP,
    database_url: str | None = None,
    max_records: int = 5000,
    session_timeout_ms: int = 10_000,
) -> ProjectorMetrics:
    topic = topic or settings.kafka.events_topic
    dead_letters = dead_letter_topic(topic)
    await ensure_topics(settings.kafka.bootstrap_servers, {topic: settings.kafka.partitions, dead_letters: 1})
    return await run_projector(
        database_url=database_url or settings.database_url,
        bootstrap_servers=settings.kafka.bootstrap_servers,
        topic=topic,
        group_id=group_id,
        dead_letter_topic=dead_letters,
        max_records=max_records,
        session_timeout_ms=session_timeout_ms,
    )


def main(settings: Settings, *, log_level: str = "INFO", **kwargs: object) -> ProjectorMetrics:
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return asyncio.run(serve(settings, **kwargs))  # type: ignore[arg-type]
