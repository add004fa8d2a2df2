"""The verify report over what was read: each store's chain is rebuilt by seq and links, whatever order the store
holds it in, and what is not an envelope is named without hiding the rest."""

from __future__ import annotations

from audit.records import StoredRecord
from audit.verify import StoreRead, build_report, lagging_only
from domain import Envelope

RID = "r-audit"


def reads(history: list[Envelope], temporal_order: list[int] | None = None) -> dict[str, StoreRead]:
    order = temporal_order or list(range(len(history)))
    temporal = [StoredRecord.from_envelope("temporal", f"run 1 event {i}", history[i]) for i in order]
    kafka = [
        StoredRecord.from_bytes("kafka", f"partition 0 offset {i}", e.to_bytes(), position=(0, i))
        for i, e in enumerate(history)
    ]
    log = [StoredRecord.from_bytes("event_log", f"row seq={e.seq}", e.to_bytes(), key_seq=e.seq) for e in history]
    return {
        "temporal": StoreRead(temporal, "workflow"),
        "kafka": StoreRead(kafka, "topic"),
        "event_log": StoreRead(log, "event_log"),
    }


def test_a_timer_event_written_after_a_later_update_result_is_no_alarm(history: list[Envelope]) -> None:
    """r005/r010 of the demo: seq 26 (timer) still in the outbox while the update result with seq 27..28 is
    written; the history carries 28 before 26."""
    n = len(history)
    order = [*range(25), 26, 25, *range(27, n)]  # seq 27 met before seq 26
    report = build_report(RID, reads(history, order))
    assert report.ok and report.differences == []
    for store in ("temporal", "kafka", "event_log"):
        chain = report.chain(store)
        assert (chain["ok"], chain["events"], chain["last_hash"]) == (True, n, history[-1].hash)
    assert all("chain intact" in line for line in report.lines()[1:4])


def test_poison_on_the_topic_is_counted_apart_and_the_chain_still_intact(history: list[Envelope]) -> None:
    stores = reads(history)
    assert stores["kafka"].records is not None
    poison = StoredRecord.from_bytes("kafka", "partition 3 offset 7", b"[" * 50_000, position=(3, 7))
    stores["kafka"].records.insert(4, poison)
    report = build_report(RID, stores)
    assert report.ok
    [d] = report.differences
    assert (d.kind, d.severity, d.where) == ("foreign", "warning", "partition 3 offset 7")
    data = report.to_dict()["stores"]["kafka"]
    assert (data["events"], data["entries"], data["chain"]["ok"]) == (len(history), len(history) + 1, True)
    line = next(line for line in report.lines() if line.lstrip().startswith("kafka"))
    assert f"{len(history)} events (+1 other entry), chain intact" in line
    assert report.lines()[-1].startswith("  ~ kafka (partition 3 offset 7): foreign message")


def test_a_key_holding_only_poison_is_no_relationship(history: list[Envelope]) -> None:
    stores = reads(history)
    stores["kafka"] = StoreRead([StoredRecord.from_bytes("kafka", "partition 0 offset 9", b"junk")], "topic")
    report = build_report(RID, stores)
    assert [(d.kind, d.store) for d in report.differences] == [("missing", "kafka"), ("foreign", "kafka")]
    assert not report.ok


def test_a_store_behind_at_its_tail_is_lagging_a_gap_or_an_edit_is_not(history: list[Envelope]) -> None:
    """What verify reads again before reporting: only differences a store merely behind can cause."""
    stores = reads(history)
    assert stores["event_log"].records is not None and stores["kafka"].records is not None
    del stores["event_log"].records[-3:]  # the projector has not caught up (or the tail was cut: reading again tells)
    behind = build_report(RID, stores)
    assert not behind.ok and lagging_only(behind)
    assert {(d.kind, d.store) for d in behind.errors} == {("missing", "event_log")}

    gap = reads(history)
    assert gap["event_log"].records is not None
    del gap["event_log"].records[5]
    assert not lagging_only(build_report(RID, gap))

    edited = reads(history)
    assert edited["kafka"].records is not None
    edited["kafka"].records[-1] = StoredRecord.from_bytes(
        "kafka", "partition 0 offset 99", history[-1].to_bytes().replace(b'"seq"', b'"seq" '), position=(0, 99)
    )
    assert not lagging_only(build_report(RID, edited))

    nothing_yet = reads(history)
    nothing_yet["event_log"] = StoreRead([], "event_log")
    assert lagging_only(build_report(RID, nothing_yet))


def test_a_running_workflows_outbox_is_not_yet_published_not_extra(history: list[Envelope]) -> None:
    """The worker-kill probe's history: seq 3 (a timer's) waits in the outbox behind a publish that never started,
    so it is in no history event; seqs 4..6 are in update results; the topic and the event log stop at seq 2."""
    temporal = [StoredRecord.from_envelope("temporal", f"run 1 event {e.seq}", e) for e in history[:6] if e.seq != 3]
    published = history[:2]

    def stores(running: bool) -> dict[str, StoreRead]:
        return {
            "temporal": StoreRead(temporal, "workflow", running=running),
            "kafka": StoreRead([StoredRecord.from_envelope("kafka", f"offset {e.seq}", e) for e in published], "topic"),
            "event_log": StoreRead(
                [StoredRecord.from_envelope("event_log", f"row seq={e.seq}", e) for e in published], "event_log"
            ),
        }

    running = build_report(RID, stores(running=True))
    assert running.ok
    assert [(d.kind, d.store, d.seq, d.severity) for d in running.differences] == [
        ("unpublished", "temporal", s, "warning") for s in (4, 5, 6)
    ]
    chain = running.chain("temporal")
    assert (chain["ok"], chain["events"], chain["waiting_in_outbox"]) == (True, 5, [3])
    assert "still in the running workflow's outbox (not in its history yet: 3)" in running.lines()[1]

    closed = build_report(RID, stores(running=False))  # a closed workflow published everything: these are extra
    assert [(d.kind, d.store, d.seq) for d in closed.errors] == [("extra", "temporal", s) for s in (4, 5, 6)]
    assert closed.chain("temporal")["ok"] is False
