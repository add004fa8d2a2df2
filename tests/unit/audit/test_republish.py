"""The repair's plan (audit/republish.py): what the topic lacks of the history, published after the topic's contiguous
prefix, in seq order; nothing when the history's chain is not intact or the topic contradicts it."""

from __future__ import annotations

import copy

from audit.republish import plan_republish
from audit.sequence import StoreSequence, store_sequence
from domain import Envelope
from tests.unit.audit.test_compare import records, rehash, with_data

RID = "r-audit"


def _history(history: list[Envelope], drop: set[int] = frozenset()) -> StoreSequence:  # type: ignore[assignment]
    return store_sequence("temporal", [r for r in records("temporal", history) if r.seq not in drop], RID)


def _topic(history: list[Envelope], seqs: list[int]) -> StoreSequence | None:
    kept = [history[s - 1] for s in seqs]
    return store_sequence("kafka", records("kafka", kept), RID) if kept else None


def test_a_topic_that_holds_everything_needs_nothing(history: list[Envelope]) -> None:
    n = len(history)
    plan = plan_republish(RID, _history(history), _topic(history, list(range(1, n + 1))))
    assert (plan.refused, plan.envelopes, plan.made_through, plan.on_topic_through) == (None, (), n, n)
    assert plan.to_dict()["to_publish"] == {"count": 0, "first_seq": None, "last_seq": None}


def test_the_unpublished_tail_is_published_in_seq_order_as_the_history_holds_it(history: list[Envelope]) -> None:
    n = len(history)
    plan = plan_republish(RID, _history(history), _topic(history, list(range(1, n - 3))))
    assert plan.refused is None and plan.on_topic_through == n - 4
    assert [e.to_bytes() for e in plan.envelopes] == [e.to_bytes() for e in history[n - 4 :]]
    assert plan.to_dict()["to_publish"] == {"count": 4, "first_seq": n - 3, "last_seq": n}


def test_an_empty_topic_gets_the_whole_chain(history: list[Envelope]) -> None:
    plan = plan_republish(RID, _history(history), None)
    assert plan.refused is None and plan.on_topic_through == 0 and list(plan.envelopes) == history


def test_after_a_gap_the_missing_seq_and_every_later_one_go_again(history: list[Envelope]) -> None:
    plan = plan_republish(RID, _history(history), _topic(history, [1, 2, 3, 5, 6]))
    assert plan.refused is None and plan.on_topic_through == 3
    assert [e.seq for e in plan.envelopes] == list(range(4, len(history) + 1))  # 5 and 6 again: duplicates


def test_a_fork_on_the_topic_refuses(history: list[Envelope]) -> None:
    topic = records("kafka", history[:5])
    data = copy.deepcopy(dict(topic[2].data or {}))
    data["payload"] = {**data["payload"], "forged": True}
    topic[2] = with_data(topic[2], rehash(data))
    plan = plan_republish(RID, _history(history), store_sequence("kafka", topic, RID))
    assert plan.envelopes == () and plan.refused is not None and "seq 3" in plan.refused
    assert "nothing was published" in plan.refused


def test_a_tampered_history_refuses(history: list[Envelope]) -> None:
    made = records("temporal", history)
    data = copy.deepcopy(dict(made[7].data or {}))
    data["payload"] = {**data["payload"], "forged": True}  # the hash no longer matches
    made[7] = with_data(made[7], data)
    plan = plan_republish(RID, store_sequence("temporal", made, RID), _topic(history, [1, 2]))
    assert plan.envelopes == () and plan.refused is not None and "seq 8" in plan.refused


def test_a_history_missing_a_seq_the_topic_lacks_refuses(history: list[Envelope]) -> None:
    plan = plan_republish(RID, _history(history, drop={6}), _topic(history, [1, 2, 3]))
    assert plan.envelopes == () and plan.refused is not None


def test_a_topic_ahead_of_the_history_refuses(history: list[Envelope]) -> None:
    n = len(history)
    plan = plan_republish(RID, _history(history, drop={n}), _topic(history, list(range(1, n + 1))))
    assert plan.envelopes == () and plan.refused is not None and f"seq {n}" in plan.refused


def test_a_second_different_copy_of_a_seq_on_the_topic_refuses(history: list[Envelope]) -> None:
    """The genuine seq 3 links to seq 4 and is the topic's chain copy; a forged copy of it beside is the topic's own
    error (verify: "appears twice … with different content"): the topic is not extended."""
    topic = records("kafka", history[:5])
    data = copy.deepcopy(dict(topic[2].data or {}))
    data["payload"] = {**data["payload"], "forged": True}
    topic.append(with_data(topic[2], rehash(data)))
    plan = plan_republish(RID, _history(history), store_sequence("kafka", topic, RID))
    assert plan.envelopes == () and plan.refused is not None and "disagree" in plan.refused


def test_a_topic_copy_edited_under_its_original_hash_refuses(history: list[Envelope]) -> None:
    topic = records("kafka", history[:5])
    data = copy.deepcopy(dict(topic[4].data or {}))
    data["payload"] = {**data["payload"], "forged": True}  # the stored hash is the genuine one: only content differs
    topic[4] = with_data(topic[4], data)
    plan = plan_republish(RID, _history(history), store_sequence("kafka", topic, RID))
    assert plan.envelopes == () and plan.refused is not None and "seq 5" in plan.refused
