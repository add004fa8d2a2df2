"""Reading a relationship's envelopes from the stores, as :class:`~audit.compare.StoredRecord` in each store's order.

* ``event_log`` (the audit store, DESIGN §6): the ``envelope`` text of each row, ordered by the ``seq`` column, with
  the indexed columns beside it (``where`` = ``row seq=N``).
* Kafka: every partition of the topic from its beginning to the end offsets taken when the scan starts (no consumer
  group, nothing committed); messages whose key is the relationship id, in partition then offset order
  (``where`` = ``partition P offset O``). All partitions are read, so a message written to the wrong partition is
  still found. :func:`kafka_records_by_key` groups one scan by key (``verify --all``: one pass, not one per
  relationship).
* Temporal: :mod:`audit.temporal`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import Engine, select

from audit.records import StoredRecord
from audit.sequence import store_sequence
from audit.topic import Row, records_by_key, scan_topic
from domain import Envelope
from projections.kafka_access import KafkaAddress
from projections.models import EventLog

__all__ = [
    "envelopes_of",
    "event_log_records",
    "event_log_records_by_relationship",
    "event_log_relationship_ids",
    "kafka_records",
    "kafka_records_by_key",
]

_COLUMNS = ("event_id", "program_id", "type", "schema_version", "causation_id", "prev_hash", "hash")


_SELECTED = (EventLog.relationship_id, EventLog.seq, EventLog.envelope, *(getattr(EventLog, c) for c in _COLUMNS))
"""The columns a record is made of (a plain row: the ORM entity cost more than decoding the envelope)."""


def _row_record(row: Any) -> StoredRecord:
    return StoredRecord.from_bytes(
        "event_log",
        f"row seq={row.seq}",
        row.envelope.encode("utf-8"),
        columns={name: getattr(row, name) for name in _COLUMNS},
        key_seq=row.seq,
    )


def event_log_records(engine: Engine, relationship_id: str) -> list[StoredRecord]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(*_SELECTED).where(EventLog.relationship_id == relationship_id).order_by(EventLog.seq)
        ).all()
    return [_row_record(row) for row in rows]


def event_log_relationship_ids(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(select(EventLog.relationship_id).distinct().order_by(EventLog.relationship_id)).scalars()
        )


def event_log_records_by_relationship(engine: Engine, program: str | None = None) -> dict[str, list[StoredRecord]]:
    """The whole event log (of ``program`` when given: the relationships with a row of it) in one ordered read,
    grouped by relationship."""
    grouped: dict[str, list[StoredRecord]] = defaultdict(list)
    query = select(*_SELECTED)
    if program is not None:
        of_program = select(EventLog.relationship_id).where(EventLog.program_id == program).distinct()
        query = query.where(EventLog.relationship_id.in_(of_program))
    with engine.connect() as conn:
        result = conn.execute(query.order_by(EventLog.relationship_id, EventLog.seq))
        for row in result:
            grouped[row.relationship_id].append(_row_record(row))
    return dict(grouped)


async def kafka_records_by_key(
    bootstrap_servers: KafkaAddress,
    topic: str,
    *,
    keys: Iterable[str] | None = None,
    on_message: Callable[[int], None] | None = None,
) -> dict[str, list[StoredRecord]]:
    """One scan of every partition of ``topic`` (:func:`scan_topic`), grouped by message key (only ``keys`` when
    given). ``on_message(n)`` is called with the running count (for a progress bar)."""
    rows: list[Row] = []

    async def collect(batch: list[Row]) -> None:
        rows.extend(batch)
        if on_message is not None:
            on_message(len(rows))

    await scan_topic(bootstrap_servers, topic, collect)
    wanted = {k.encode("utf-8") for k in keys} if keys is not None else None
    return records_by_key(((*row, None) for row in rows), wanted)


async def kafka_records(bootstrap_servers: KafkaAddress, topic: str, relationship_id: str) -> list[StoredRecord]:
    grouped = await kafka_records_by_key(bootstrap_servers, topic, keys=[relationship_id])
    return grouped.get(relationship_id, [])


def envelopes_of(records: Sequence[StoredRecord], relationship_id: str | None = None) -> list[Envelope]:
    """The store's chain as envelopes, in seq order (for a history or a replay): rebuilt by seq and links
    (:func:`audit.sequence.store_sequence`), so entries that are not envelopes of the relationship and repeated
    copies are left out. Raises ``ValueError`` naming the first record of the chain that is not a valid envelope."""
    out: list[Envelope] = []
    store = records[0].store if records else "store"
    for record in store_sequence(store, records, relationship_id).chain:
        assert record.data is not None
        try:
            out.append(Envelope.from_json_dict(record.data))
        except Exception as exc:
            raise ValueError(f"{record.store} ({record.where}): not a valid envelope: {exc}") from exc
    return sorted(out, key=lambda e: e.seq)
