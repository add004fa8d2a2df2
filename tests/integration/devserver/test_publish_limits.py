"""A batch Kafka refuses for its size is an alarm (an error in the log, a non-retryable failure the workflow parks),
not an endless tight retry. Against the real broker: the envelope here predates the limits (events are never
checked), as an old log or a lowered broker limit would produce."""

from __future__ import annotations

import itertools
import logging
import uuid
from datetime import UTC, datetime

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.publishing import MESSAGE_TOO_LARGE, KafkaPublisher
from domain import (
    Actor,
    AgreementSigned,
    Duration,
    Envelope,
    ProposeRelationship,
    RelationshipState,
    Role,
    builtin_policy,
    execute,
)
from domain.limits import KAFKA_MAX_REQUEST_BYTES
from domain.runtime import commit
from workers.settings import Settings

MANAGER = Actor(id="mgr-1", role=Role.MANAGER)
MENTOR = Actor(id="ana", role=Role.MENTOR)
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _oversized_batch() -> list[Envelope]:
    ids = (str(uuid.UUID(int=i)) for i in itertools.count(1))
    proposal = ProposeRelationship(
        command_id="c-1",
        actor=MANAGER,
        relationship_id=f"r-{uuid.uuid4().hex[:8]}",
        program_id="prog",
        mentor_id="ana",
        mentee_id="bo",
        policy=builtin_policy("mentoring-12m"),
    )
    state, first = execute(RelationshipState.new(proposal.relationship_id), proposal, T0, ids)
    huge = AgreementSigned(
        at=T0,
        by="ana",
        role=Role.MENTOR,
        goals=("g" * (KAFKA_MAX_REQUEST_BYTES + 1),),
        cadence=Duration.parse("P2W"),
        term=Duration.parse("P1Y"),
    )
    _, second = commit(state, [huge], actor=MENTOR, causation_id="c-2", event_ids=ids)
    return [*first, *second]


@pytest.mark.timeout(120)
async def test_a_batch_too_large_for_kafka_is_a_logged_non_retryable_alarm(
    stack: Settings, kafka_topic: str, caplog: pytest.LogCaptureFixture
) -> None:
    publisher = KafkaPublisher(stack.kafka.bootstrap_servers, kafka_topic)
    batch = _oversized_batch()
    try:
        with caplog.at_level(logging.ERROR, logger="activities.publishing"), pytest.raises(ApplicationError) as raised:
            await ActivityEnvironment().run(publisher.publish, batch)
        error = raised.value
        assert error.type == MESSAGE_TOO_LARGE
        assert error.non_retryable
        assert f"seq {batch[-1].seq}, AgreementSigned" in error.message
        logged = [r for r in caplog.records if r.levelno == logging.ERROR and "refuses" in r.getMessage()]
        assert logged and batch[0].relationship_id in logged[0].getMessage()
        # The producer was replaced, not wedged: a batch of normal size still goes out.
        receipt = await ActivityEnvironment().run(publisher.publish, batch[:-1])
        assert receipt.published == len(batch) - 1
    finally:
        await publisher.close()
