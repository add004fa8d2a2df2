"""Prepare services we did not start (docker compose, a shared cluster): topics and search attributes.

``python -m workers.services.bootstrap`` — the compose ``setup`` service runs it; ``services up`` does the same.
"""

from __future__ import annotations

import asyncio

from workers.services.kafka import ensure_topics, project_topics
from workers.services.temporal import ensure_search_attributes
from workers.settings import load_settings


async def bootstrap() -> None:
    settings = load_settings()
    created = await ensure_topics(settings.kafka.access, project_topics(settings))
    added = await ensure_search_attributes(settings)
    print(f"topics created: {created or 'none'}; search attributes added: {added or 'none'}")


if __name__ == "__main__":
    asyncio.run(bootstrap())
