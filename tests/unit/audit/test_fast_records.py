"""Differential: the records the audit reads through the fast path (orjson parse, canonical re-encode, sha256 over
the received bytes: ``audit.records.StoredRecord.from_bytes``) give exactly the report of the reference decoding
(``json.loads``, everything recomputed), on an intact log and on every kind of damage; and a duplicate publication
of the same envelope is never an alarm, a duplicate seq with another hash always is."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest

import audit.records
from audit.records import StoredRecord
from audit.verify import StoreRead, VerifyReport, build_report
from domain import Envelope, canonical_json
from domain.envelope import sha256_hex

RID = "r-audit"
Raw = list[tuple[int, bytes]]  # (kafka offset, bytes) as a store holds them


def _rehash(data: dict[str, object]) -> bytes:
    body = {k: v for k, v in data.items() if k != "hash"}
    return canonical_json({**body, "hash": sha256_hex(canonical_json(body))})


def _cases(history: list[Envelope]) -> dict[str, Raw]:
    good = [e.to_bytes() for e in history]
    data = [e.to_json_dict() for e in history]
    five = data[4]
    flipped = good[4].replace(b'"seq":5', b'"seq":6', 1)
    forged = _rehash({**five, "payload": {**five["payload"], "note": "forged"}})
    other = _rehash({**five, "event_id": "00000000-0000-4000-8000-000000000000"})
    floated = _rehash({**data[-1], "seq": len(good) + 1, "prev_hash": data[-1]["hash"], "payload": {"x": 1.5}})
    return {
        "intact": list(enumerate(good)),
        "changed byte": list(enumerate([*good[:4], flipped, *good[5:]])),
        "edited and rehashed": list(enumerate([*good[:4], forged, *good[5:]])),
        "not canonical": list(enumerate([*good[:4], json.dumps(five, indent=1).encode(), *good[5:]])),
        "dropped event": list(enumerate([*good[:4], *good[5:]])),
        "reordered": list(enumerate([*good[:4], good[5], good[4], *good[6:]])),
        "duplicate publication": list(enumerate([*good[:6], good[4], *good[6:]])),
        "duplicate seq, other hash": list(enumerate([*good[:6], other, *good[6:]])),
        "a float": list(enumerate([*good, floated])),
        "not JSON": list(enumerate([*good[:4], b"{not json", *good[4:]])),
        "nested too deep": list(enumerate([*good, b'{"a":' * 40 + b"1" + b"}" * 40])),
    }


@pytest.fixture
def reference(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], None]]:
    """Call it to switch the fast path off (every record decoded by the reference)."""

    def off() -> None:
        monkeypatch.setattr(audit.records, "vouched_data", lambda raw: None)

    yield off


def _report(kafka: Raw, log: Raw) -> VerifyReport:
    k = [StoredRecord.from_bytes("kafka", f"partition 0 offset {i}", v, position=(0, i)) for i, v in kafka]
    e = [StoredRecord.from_bytes("event_log", f"row seq={i + 1}", v, key_seq=i + 1) for i, v in log]
    return build_report(RID, {"kafka": StoreRead(k, "topic"), "event_log": StoreRead(e, "event_log")})


CASES = (
    "intact",
    "changed byte",
    "edited and rehashed",
    "not canonical",
    "dropped event",
    "reordered",
    "duplicate publication",
    "duplicate seq, other hash",
    "a float",
    "not JSON",
    "nested too deep",
)


@pytest.mark.parametrize("case", CASES)
def test_fast_records_give_the_reference_report(
    history: list[Envelope], reference: Callable[[], None], case: str
) -> None:
    damaged, intact = _cases(history)[case], _cases(history)["intact"]
    placements = ((damaged, intact), (intact, damaged))  # the damage on the topic, then in the event log
    fast = [_report(kafka, log) for kafka, log in placements]
    reference()
    slow = [_report(kafka, log) for kafka, log in placements]
    for f, s in zip(fast, slow, strict=True):
        assert json.dumps(f.to_dict(), sort_keys=True) == json.dumps(s.to_dict(), sort_keys=True)
        assert f.lines() == s.lines()
        assert f.ok is s.ok
    # on the topic a duplicate publication and a foreign message are warnings; the event log holds one row a seq
    assert fast[0].ok is (case in ("intact", "duplicate publication", "not JSON", "nested too deep"))
    assert fast[1].ok is (case == "intact")


def test_the_fast_path_decoded_the_intact_records_and_only_those(history: list[Envelope]) -> None:
    good = history[3].to_bytes()
    fast = StoredRecord.from_bytes("kafka", "partition 0 offset 3", good)
    assert fast.__dict__.get("vouched") is True and fast.__dict__.get("canonical") == good  # set, not computed
    assert fast.data == json.loads(good)
    for bad in (good.replace(b'"seq":4', b'"seq":5', 1), json.dumps(json.loads(good), indent=1).encode()):
        record = StoredRecord.from_bytes("kafka", "partition 0 offset 3", bad)
        assert "vouched" not in record.__dict__ and record.data == json.loads(bad)


def test_a_duplicate_publication_is_a_warning_a_duplicate_seq_with_another_hash_an_error(
    history: list[Envelope],
) -> None:
    cases = _cases(history)
    report = _report(cases["duplicate publication"], cases["intact"])
    assert report.ok, report.lines()
    assert [(d.kind, d.severity, d.seq) for d in report.differences] == [("duplicate", "warning", 5)]
    report = _report(cases["duplicate seq, other hash"], cases["intact"])
    assert not report.ok
    assert [(d.kind, d.severity, d.seq) for d in report.errors] == [("duplicate", "error", 5)]
