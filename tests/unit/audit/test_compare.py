"""Tamper with each store in turn; the report names exactly what and where."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from audit.compare import STORES, Difference, StoredRecord, compare_stores
from domain import Envelope, canonical_json
from domain.envelope import sha256_hex

SEQ = 12  # a MeetingLogged in the middle of the history


def records(store: str, history: list[Envelope]) -> list[StoredRecord]:
    where = {"temporal": "history event", "kafka": "partition 0 offset", "event_log": "row seq="}[store]
    return [StoredRecord.from_bytes(store, f"{where}{e.seq}", e.to_bytes()) for e in history]


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


@pytest.mark.parametrize("store", STORES)
def test_two_swapped(history: list[Envelope], store: str) -> None:
    stores = three(history)
    s = stores[store]
    s[SEQ - 1], s[SEQ] = s[SEQ], s[SEQ - 1]
    [d] = compare_stores(stores, "r-audit")
    assert (d.kind, d.store, d.seq) == ("order", store, SEQ)
    assert d.message.startswith(f"seq {SEQ}/{SEQ + 1} · {store}: order swapped")


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


def test_undecodable_and_foreign_records(history: list[Envelope]) -> None:
    stores = three(history)
    stores["kafka"].append(StoredRecord.from_bytes("kafka", "partition 0 offset 50", b"{not json"))
    diffs = compare_stores(stores, "r-audit")
    assert [(d.kind, d.store) for d in diffs] == [("invalid", "kafka")]
    assert "not valid JSON" in diffs[0].message
    foreign = {**history[0].to_json_dict(), "relationship_id": "r-other"}
    stores["kafka"][-1] = StoredRecord.from_bytes("kafka", "partition 0 offset 50", canonical_json(foreign))
    [d] = compare_stores(stores, "r-audit")
    assert (d.kind, d.found) == ("invalid", "r-other")


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
