"""Tamper with each store in turn; the report names exactly what and where."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from audit.compare import STORES, Difference, StoredRecord, compare_stores
from domain import Envelope, canonical_json
from domain.envelope import sha256_hex

SEQ = 12  # a MeetingLogged in the middle of the history


def slot(store: str, index: int, raw: bytes) -> StoredRecord:
    """The record a store holds at its ``index``-th place (0-based) with the bytes ``raw``: a Kafka offset, an
    event_log row filed under seq ``index + 1``, a place in a workflow history (whose order means nothing)."""
    if store == "kafka":
        return StoredRecord.from_bytes(store, f"partition 0 offset {index}", raw, position=(0, index))
    if store == "event_log":
        return StoredRecord.from_bytes(store, f"row seq={index + 1}", raw, key_seq=index + 1)
    return StoredRecord.from_bytes(store, f"history event {index}", raw)


def records(store: str, history: list[Envelope]) -> list[StoredRecord]:
    return [slot(store, i, e.to_bytes()) for i, e in enumerate(history)]


def three(history: list[Envelope]) -> dict[str, list[StoredRecord]]:
    return {s: records(s, history) for s in STORES}


def with_data(record: StoredRecord, data: dict[str, Any]) -> StoredRecord:
    return StoredRecord.from_bytes(record.store, record.where, canonical_json(data))


def rehash(data: dict[str, Any]) -> dict[str, Any]:
    body = {k: v for k, v in data.items() if k != "hash"}
    return {**body, "hash": sha256_hex(canonical_json(body))}


def errors(diffs: list[Difference]) -> list[Difference]:
    return [d for d in diffs if d.severity == "error"]


def test_identical_stores_have_no_difference(history: list[Envelope]) -> None:
    assert compare_stores(three(history), "r-audit") == []


@pytest.mark.parametrize("store", STORES)
def test_payload_edited(history: list[Envelope], store: str) -> None:
    stores = three(history)
    rec = stores[store][SEQ - 1]
    data = copy.deepcopy(dict(rec.data or {}))
    data["payload"]["duration_minutes"] = 600
    stores[store][SEQ - 1] = with_data(rec, data)
    [d] = compare_stores(stores, "r-audit")
    others = ", ".join(s for s in STORES if s != store)
    assert (d.kind, d.store, d.seq, d.fields) == ("differs", store, SEQ, ("payload.duration_minutes",))
    assert d.message.startswith(f"seq {SEQ} · {store} ({rec.where}): payload differs from {others}")
    assert "payload.duration_minutes: expected 60, found 600" in d.message
    assert f"hash stored {rec.hash[:10]}… recomputed " in d.message
    assert d.expected == history[SEQ - 1].hash == d.found


@pytest.mark.parametrize("store", STORES)
def test_event_deleted(history: list[Envelope], store: str) -> None:
    stores = three(history)
    del stores[store][SEQ - 1]
    [d] = compare_stores(stores, "r-audit")
    assert (d.kind, d.store, d.seq, d.expected) == ("missing", store, SEQ, history[SEQ - 1].hash)
    assert d.message.startswith(f"seq {SEQ} · {store}: missing; ")


@pytest.mark.parametrize("store", ["kafka", "event_log"])
def test_two_swapped(history: list[Envelope], store: str) -> None:
    """Two envelopes trade places: offsets on the topic, row keys in the event log."""
    stores = three(history)
    s = stores[store]
    a, b = s[SEQ - 1].raw or b"", s[SEQ].raw or b""
    s[SEQ - 1], s[SEQ] = slot(store, SEQ - 1, b), slot(store, SEQ, a)
    [d] = compare_stores(stores, "r-audit")
    assert (d.kind, d.store, d.seq) == ("order", store, SEQ)
    assert d.message.startswith(f"seq {SEQ}/{SEQ + 1} · {store}: order swapped (seq {SEQ + 1} at {s[SEQ - 1].where}")


def test_history_order_is_not_the_chain_order(history: list[Envelope]) -> None:
    """The false alarm of issue 19: a timer event still in the outbox when a later command's update result is
    written appears later in the workflow history than the envelopes after it. Not a finding."""
    stores = three(history)
    t = stores["temporal"]
    moved = t.pop(SEQ - 1)  # seq 12 appears after seq 14
    t.insert(SEQ + 1, moved)
    t.reverse()  # and the whole history backwards, for good measure
    assert compare_stores(stores, "r-audit") == []


def test_contents_swapped_in_the_history_are_caught(history: list[Envelope]) -> None:
    """Swapping what two envelopes say (each keeps its seq) breaks both hashes: named, seq by seq."""
    stores = three(history)
    t = stores["temporal"]
    a, b = (copy.deepcopy(dict(t[i].data or {})) for i in (SEQ - 1, SEQ))
    swapped_a = {**a, **{k: b[k] for k in ("type", "payload", "occurred_at", "actor")}}
    swapped_b = {**b, **{k: a[k] for k in ("type", "payload", "occurred_at", "actor")}}
    t[SEQ - 1], t[SEQ] = with_data(t[SEQ - 1], swapped_a), with_data(t[SEQ], swapped_b)
    diffs = compare_stores(stores, "r-audit")
    assert [(d.kind, d.store, d.seq) for d in diffs] == [("differs", "temporal", SEQ), ("differs", "temporal", SEQ + 1)]


def test_of_two_copies_of_a_seq_the_linked_one_is_in_the_chain(history: list[Envelope]) -> None:
    """A forged copy of seq 12 met first in the history (self-consistent, linked back) is not taken for the
    chain's: seq 13 links to the true one. The forged copy is named where it is."""
    stores = three(history)
    data = copy.deepcopy(history[SEQ - 1].to_json_dict())
    data["payload"]["notes"] = "never happened"
    forged = StoredRecord.from_bytes("temporal", "history event 0 (forged)", canonical_json(rehash(data)))
    stores["temporal"].insert(0, forged)
    [d] = compare_stores(stores, "r-audit")
    assert (d.kind, d.store, d.seq, d.where, d.severity) == ("duplicate", "temporal", SEQ, forged.where, "error")
    assert d.expected == history[SEQ - 1].hash


@pytest.mark.parametrize("store", STORES)
def test_forged_event_with_recomputed_hash(history: list[Envelope], store: str) -> None:
    stores = three(history)
    rec = stores[store][SEQ - 1]
    data = copy.deepcopy(dict(rec.data or {}))
    data["payload"]["notes"] = "never happened"
    forged = rehash(data)
    stores[store][SEQ - 1] = with_data(rec, forged)
    diffs = compare_stores(stores, "r-audit")
    assert [(d.kind, d.store, d.seq) for d in diffs] == [("differs", store, SEQ), ("chain", store, SEQ + 1)]
    assert 'payload.notes: expected "", found "never happened"' in diffs[0].message
    assert "forged" in diffs[0].message
    assert diffs[1].expected == forged["hash"] and diffs[1].found == history[SEQ - 1].hash


@pytest.mark.parametrize("store", STORES)
def test_forged_event_appended_in_one_store(history: list[Envelope], store: str) -> None:
    stores = three(history)
    last = dict(stores[store][-1].data or {})
    extra = rehash(
        {**last, "seq": last["seq"] + 1, "prev_hash": last["hash"], "event_id": "0" * 8 + "-0000-0000-0000-" + "0" * 12}
    )
    stores[store].append(StoredRecord.from_bytes(store, "appended", canonical_json(extra)))
    [d] = compare_stores(stores, "r-audit")
    assert (d.kind, d.store, d.seq, d.where, d.found) == ("extra", store, len(history) + 1, "appended", extra["hash"])


@pytest.mark.parametrize("store", STORES)
def test_forged_and_rechained_store(history: list[Envelope], store: str) -> None:
    """A forger who recomputes every later hash in one store keeps that store's chain valid: the other stores
    still outvote it, seq by seq."""
    stores = three(history)
    prev = history[SEQ - 2].hash
    for i in range(SEQ - 1, len(history)):
        data = copy.deepcopy(dict(stores[store][i].data or {}))
        if i == SEQ - 1:
            data["payload"]["duration_minutes"] = 5
        data["prev_hash"] = prev
        data = rehash(data)
        prev = data["hash"]
        stores[store][i] = with_data(stores[store][i], data)
    diffs = compare_stores(stores, "r-audit")
    assert {(d.kind, d.store) for d in diffs} == {("differs", store)}
    assert [d.seq for d in diffs] == list(range(SEQ, len(history) + 1))
    assert diffs[0].fields == ("hash", "payload.duration_minutes")
    assert "same content, other chain" in diffs[1].message


def test_event_log_columns_must_match_the_envelope(history: list[Envelope]) -> None:
    stores = three(history)
    rec = stores["event_log"][SEQ - 1]
    cols = {"type": "GoalSet", "hash": rec.hash, "event_id": (rec.data or {})["event_id"]}
    stores["event_log"][SEQ - 1] = StoredRecord.from_bytes("event_log", rec.where, rec.raw or b"", columns=cols)
    [d] = compare_stores(stores, "r-audit")
    assert (d.kind, d.store, d.seq, d.expected, d.found) == ("column", "event_log", SEQ, "MeetingLogged", "GoalSet")


def test_identical_duplicate_is_a_warning_a_different_one_an_error(history: list[Envelope]) -> None:
    stores = three(history)
    stores["kafka"].append(StoredRecord.from_bytes("kafka", "partition 0 offset 99", history[3].to_bytes()))
    [d] = compare_stores(stores, "r-audit")
    assert (d.kind, d.severity, d.seq) == ("duplicate", "warning", 4)
    other = rehash({**history[3].to_json_dict(), "payload": {"x": 1}})
    stores["kafka"][-1] = StoredRecord.from_bytes("kafka", "partition 0 offset 99", canonical_json(other))
    [d] = compare_stores(stores, "r-audit")
    assert (d.kind, d.severity, d.seq) == ("duplicate", "error", 4)


POISON = {
    "not JSON": (b"{not json", "not valid JSON"),
    "deeply nested JSON": (b"[" * 100_000 + b"]" * 100_000, "nested deeper than 32 levels"),
    "nested below the recursion limit": (b'{"a":' * 200 + b"1" + b"}" * 200, "nested deeper than 32 levels"),
    "not an object": (b"[1, 2]", "not a JSON object"),
    "no seq": (b'{"relationship_id": "r-audit", "hash": "x"}', "no positive integer seq"),
    "no hashes": (b'{"relationship_id": "r-audit", "seq": 3}', "no hash and no prev_hash"),
    "not UTF-8": (b"\xff\xfe", "not valid JSON"),
}


@pytest.mark.parametrize("what", list(POISON), ids=lambda w: w.replace(" ", "-"))
def test_poison_on_the_topic_is_named_and_the_rest_verified(history: list[Envelope], what: str) -> None:
    """A message under the relationship's key that is not one of its envelopes: a foreign entry (where, what), a
    warning; the chain is verified all the same (an edit next to it is still caught)."""
    raw, why = POISON[what]
    stores = three(history)
    stores["kafka"].insert(5, StoredRecord.from_bytes("kafka", "partition 0 offset 50", raw, position=(0, 50)))
    [d] = compare_stores(stores, "r-audit")
    assert (d.kind, d.store, d.severity, d.where) == ("foreign", "kafka", "warning", "partition 0 offset 50")
    assert "kafka (partition 0 offset 50): foreign message, not an envelope of this relationship" in d.message
    assert why in d.message
    rec = stores["kafka"][SEQ]
    edited = copy.deepcopy(dict(rec.data or {}))
    edited["payload"]["duration_minutes"] = 1
    stores["kafka"][SEQ] = with_data(rec, edited)
    diffs = compare_stores(stores, "r-audit")
    assert [d.kind for d in diffs] == ["foreign", "differs"] and diffs[1].seq == SEQ


def test_an_envelope_of_another_relationship_is_foreign_on_the_topic_invalid_in_the_event_log(
    history: list[Envelope],
) -> None:
    foreign = canonical_json({**history[0].to_json_dict(), "relationship_id": "r-other"})
    stores = three(history)
    stores["kafka"].append(StoredRecord.from_bytes("kafka", "partition 0 offset 50", foreign, position=(0, 50)))
    [d] = compare_stores(stores, "r-audit")
    assert (d.kind, d.severity, d.seq, d.found, d.expected) == ("foreign", "warning", 1, "r-other", "r-audit")
    stores = three(history)
    stores["event_log"].append(StoredRecord.from_bytes("event_log", "row seq=99", b"{not json", key_seq=99))
    [d] = compare_stores(stores, "r-audit")
    assert (d.kind, d.severity, d.store) == ("invalid", "error", "event_log")


def test_two_stores_no_majority_believes_the_earlier_store(history: list[Envelope]) -> None:
    stores = {s: records(s, history) for s in ("kafka", "event_log")}
    del stores["event_log"][-1]
    [d] = compare_stores(stores, "r-audit")
    assert (d.kind, d.store, d.seq) == ("missing", "event_log", len(history))
    assert "no majority; kafka is believed" in d.message


def test_edited_everywhere_is_still_caught(history: list[Envelope]) -> None:
    stores = three(history)
    for s in STORES:
        rec = stores[s][SEQ - 1]
        data = copy.deepcopy(dict(rec.data or {}))
        data["payload"]["duration_minutes"] = 1
        stores[s][SEQ - 1] = with_data(rec, data)
    diffs = compare_stores(stores, "r-audit")
    assert [(d.kind, d.store, d.seq) for d in diffs] == [("tampered", s, SEQ) for s in STORES]


def test_two_stores_a_gap_inside_a_store_is_missing_there(history: list[Envelope]) -> None:
    stores = {s: records(s, history) for s in ("kafka", "event_log")}
    del stores["kafka"][SEQ - 1]
    [d] = compare_stores(stores, "r-audit")
    assert (d.kind, d.store, d.seq) == ("missing", "kafka", SEQ)
    assert "no majority; a gap in kafka" in d.message
