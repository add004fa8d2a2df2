"""service.republishing over stores read as the real Auditor reads them (StoreRead of StoredRecords): what reaches the
publisher, in batches of one contiguous range; the store that does not answer, the relationship nobody knows, the
broker that fails half-way — each a named error, never a silent partial success."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import pytest

from audit.verify import StoreRead
from benchmarks.data import full_lifecycle
from domain import Envelope, RelationshipNotFound
from service import republishing
from service.errors import ServiceUnavailable
from tests.unit.audit.test_compare import records, rehash, with_data

RID = "r-audit"
HISTORY = full_lifecycle(RID)


@dataclass
class Stores:
    temporal: StoreRead
    kafka: StoreRead

    async def read_temporal(self, relationship_id: str) -> tuple[StoreRead, list[Any], list[str]]:
        return self.temporal, [], []

    async def read_kafka(self, relationship_id: str) -> StoreRead:
        return self.kafka


@dataclass
class Audit:
    auditor: Stores


@dataclass
class Topic:
    fail_at: int | None = None
    batches: list[list[int]] = field(default_factory=list)

    async def publish(self, batch: list[Envelope]) -> None:
        if self.fail_at is not None and batch[0].seq >= self.fail_at:
            raise ConnectionError("broker away")
        self.batches.append([e.seq for e in batch])


def _audit(on_topic: int, temporal: StoreRead | None = None) -> Any:
    made = temporal or StoreRead(records("temporal", HISTORY), "workflow relationship-r-audit")
    return Audit(Stores(made, StoreRead(records("kafka", HISTORY[:on_topic]), "topic t")))


async def test_what_the_topic_lacks_is_published_in_contiguous_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(republishing, "BATCH", 4)
    topic = Topic()
    plan = await republishing.republish(_audit(on_topic=20), RID, topic.publish)
    assert plan.refused is None
    missing = list(range(21, len(HISTORY) + 1))
    assert topic.batches == [missing[i : i + 4] for i in range(0, len(missing), 4)]


async def test_a_dry_run_publishes_nothing() -> None:
    plan = await republishing.republish(_audit(on_topic=0), RID, None)
    assert len(plan.envelopes) == len(HISTORY) and plan.on_topic_through == 0


async def test_a_refused_plan_publishes_nothing() -> None:
    topic = Topic()
    forked = records("kafka", HISTORY[:4])
    data = copy.deepcopy(dict(forked[2].data or {}))
    data["payload"] = {**data["payload"], "forged": True}
    forked[2] = with_data(forked[2], rehash(data))  # another envelope for seq 3, its own hash recomputed
    audit = _audit(on_topic=0)
    audit.auditor.kafka = StoreRead(forked, "topic t")
    plan = await republishing.republish(audit, RID, topic.publish)
    assert plan.refused is not None and "seq 3" in plan.refused and topic.batches == []


async def test_nobody_knows_the_relationship() -> None:
    gone = StoreRead(None, "workflow relationship-r-x", "no history in Temporal nor in the archive", absent=True)
    with pytest.raises(RelationshipNotFound):
        await republishing.republish(_audit(0, temporal=gone), "r-x", Topic().publish)


async def test_a_store_that_does_not_answer_is_named() -> None:
    down = StoreRead(None, "workflow relationship-r-audit", "RPCError: connection refused")
    with pytest.raises(ServiceUnavailable, match=r"Temporal could not be read.*connection refused"):
        await republishing.republish(_audit(0, temporal=down), RID, Topic().publish)
    audit = _audit(0)
    audit.auditor.kafka = StoreRead(None, "topic t", "KafkaConnectionError: no broker")
    with pytest.raises(ServiceUnavailable, match=r"the topic could not be read.*no broker"):
        await republishing.republish(audit, RID, Topic().publish)


async def test_a_broker_failing_half_way_says_how_far_it_got(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(republishing, "BATCH", 4)
    topic = Topic(fail_at=25)
    with pytest.raises(ServiceUnavailable, match=r"failed at seq 25.*run it again"):
        await republishing.republish(_audit(on_topic=20), RID, topic.publish)
    assert topic.batches == [[21, 22, 23, 24]]
