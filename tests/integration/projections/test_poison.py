"""A poison message between two good ones: both good ones are applied, the poison one lands in the dead-letter
topic with its error in the headers and in ``dead_letters``; the partition goes on."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from projections.db import make_engine, migrate
from projections.models import DeadLetter, EventLog, Relationship
from projections.projector import Projector
from tests.integration.projections.conftest import headers_of, publish, read_topic
from tests.unit.projections.scenarios import program


async def test_poison_between_two_good_messages(
    bootstrap: str, kafka_topic: str, dead_letter_topic: str, sqlite_url: str, unique_id: str
) -> None:
    history = program(200)[0]  # declined: proposed, stage changed, declined, stage changed, closed
    first, second = history[0], history[1]
    key = first.relationship_id
    poison = b'{"relationship_id": "' + key.encode() + b'", "seq": 2, "type": "Nonsense"'  # truncated JSON
    await publish(
        bootstrap,
        kafka_topic,
        [
            (key, first.to_bytes(), headers_of(first.to_json_dict())),
            (key, poison, [("type", b"Nonsense")]),
            (key, second.to_bytes(), headers_of(second.to_json_dict())),
        ],
    )
    migrate(sqlite_url)
    async with Projector(
        database_url=sqlite_url, bootstrap_servers=bootstrap, topic=kafka_topic, group_id=f"g-{unique_id}"
    ) as projector:
        metrics = await projector.run(until_caught_up=True)
    assert (metrics.applied, metrics.poison, metrics.dead_letters_published) == (2, 1, 1)

    engine = make_engine(sqlite_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(select(Relationship.last_seq)).scalar_one() == 2
            assert conn.execute(select(EventLog.seq).order_by(EventLog.seq)).scalars().all() == [1, 2]
            (dead,) = conn.execute(select(DeadLetter.__table__)).all()
    finally:
        engine.dispose()
    assert (dead.kind, dead.offset, dead.message_value, dead.message_key) == ("poison", 1, poison, key)
    assert dead.error.startswith("undecodable")

    async with asyncio.timeout(30):
        (dlt,) = await read_topic(bootstrap, dead_letter_topic)
    assert (dlt.key, dlt.value) == (key.encode(), poison)
    assert dlt.headers["error"].decode() == dead.error
    assert dlt.headers["kind"] == b"poison"
    assert dlt.headers["source_topic"].decode() == kafka_topic
    assert dlt.headers["source_offset"] == b"1"
    assert dlt.headers["original_type"] == b"Nonsense"
