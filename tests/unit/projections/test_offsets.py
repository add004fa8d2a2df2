"""The stored offsets: written with the rows, read back, and the fence against a second writer."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from projections.apply import apply_batch
from projections.offsets import OffsetsMoved, read_offsets, write_offsets
from tests.unit.projections.helpers import GROUP, TOPIC, as_topic, memory_engine
from tests.unit.projections.scenarios import program


@pytest.fixture
def engine() -> Engine:
    return memory_engine()


def test_offsets_round_trip_per_group_and_topic(engine: Engine) -> None:
    now = datetime(2026, 1, 5, tzinfo=UTC)
    with engine.begin() as conn:
        write_offsets(conn, GROUP, {(TOPIC, 0): 5, (TOPIC, 1): 7}, {}, now)
        write_offsets(conn, "other", {(TOPIC, 0): 99}, {}, now)
    with engine.begin() as conn:
        stored = read_offsets(conn, GROUP, [TOPIC], for_update=True)
        assert stored == {(TOPIC, 0): 5, (TOPIC, 1): 7}
        write_offsets(conn, GROUP, {(TOPIC, 0): 5, (TOPIC, 1): 9, (TOPIC, 2): 1}, stored, now)
    with engine.connect() as conn:
        assert read_offsets(conn, GROUP, [TOPIC]) == {(TOPIC, 0): 5, (TOPIC, 1): 9, (TOPIC, 2): 1}
        assert read_offsets(conn, "other", [TOPIC, "no-such-topic"]) == {(TOPIC, 0): 99}


def test_offsets_fence_a_second_writer_and_skip_applied_messages(engine: Engine) -> None:
    messages = as_topic(program()[:10], partitions=1)
    with engine.begin() as conn:
        apply_batch(conn, messages[:20], group_id=GROUP, expected_offsets={})
    with engine.begin() as conn:
        assert read_offsets(conn, GROUP, [TOPIC]) == {(TOPIC, 0): 20}
        with pytest.raises(OffsetsMoved) as moved:
            apply_batch(conn, messages[20:30], group_id=GROUP, expected_offsets={(TOPIC, 0): 10})
        assert moved.value.stored == {(TOPIC, 0): 20}
    with engine.begin() as conn:
        result = apply_batch(conn, messages[10:30], group_id=GROUP, expected_offsets={(TOPIC, 0): 20})
    assert (result.already_applied, result.applied) == (10, 10)
    assert result.next_offsets == {(TOPIC, 0): 30}
    with engine.begin() as conn, pytest.raises(OffsetsMoved):
        apply_batch(conn, messages[30:31], group_id=GROUP, expected_offsets={(TOPIC, 0): None})
