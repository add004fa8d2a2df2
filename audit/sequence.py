"""One store's sequence of a relationship, rebuilt by ``seq`` and the envelopes' own links (DESIGN §7).

The records come in the store's own order (history order, partition/offset order, row order), but that order is not
the chain's: a Temporal history carries a timer event in a later activity input than a command's update result that
follows it in the chain. So the sequence is keyed by each envelope's ``seq``; where a store holds several different
copies of one seq, the copy that hashes to its own ``hash`` and links to its neighbours (``prev_hash``) is the one in
the chain, and the others are reported. The store's layout is checked only where it means something: a Kafka
partition keeps per-key publishing order (``position``), an event_log row is filed under its seq (``key_seq``).

An entry that is not an envelope of the relationship (not JSON, nested too deep, not an object, no integer seq, no
hashes, another relationship) is reported and left out; the rest is verified. On the topic, which any producer can
write to, such an entry is *foreign* (a warning: the relationship's chain is not touched by it; a seq it should have
been is reported missing on its own). In the event log or a workflow history it is an error.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from audit.records import Difference, StoredRecord, location, render, short
from domain import GENESIS_HASH

__all__ = ["FOREIGN_FINDING", "StoreSequence", "not_an_envelope", "store_sequence"]

EVENT_LOG_COLUMNS = ("event_id", "program_id", "type", "schema_version", "causation_id", "prev_hash", "hash")

FOREIGN_FINDING: Mapping[str, tuple[str, str]] = {"kafka": ("foreign", "warning")}
"""Store -> (kind, severity) of an entry that is not an envelope of the relationship; other stores: invalid, error."""
_NOT_AN_ENVELOPE = ("invalid", "error")


@dataclass
class StoreSequence:
    """``by_seq``: the copy of each seq that is in the store's chain; ``differences``: what is wrong inside it."""

    store: str
    by_seq: dict[int, StoredRecord]
    differences: list[Difference] = field(default_factory=list)

    @property
    def chain(self) -> list[StoredRecord]:
        return [self.by_seq[seq] for seq in sorted(self.by_seq)]


def not_an_envelope(record: StoredRecord, relationship_id: str | None) -> str | None:
    """Why ``record`` is not an envelope of the relationship, or None when it is one (valid or tampered)."""
    data = record.data
    if data is None:
        return record.error or "not decodable"
    if record.seq is None or record.seq < 1:
        return f"no positive integer seq (seq = {render(data.get('seq'))})"
    rid = data.get("relationship_id")
    if relationship_id is not None and rid != relationship_id:
        return f"belongs to relationship {render(rid)}, not {relationship_id!r}"
    missing = [name for name in ("hash", "prev_hash") if not isinstance(data.get(name), str)]
    if missing:
        return f"no {' and no '.join(missing)}"
    return None


def _foreign(store: str, record: StoredRecord, why: str, relationship_id: str | None) -> Difference:
    kind, severity = FOREIGN_FINDING.get(store, _NOT_AN_ENVELOPE)
    rid = None if record.data is None else record.data.get("relationship_id")
    label = f"seq {record.seq} · " if record.seq is not None else ""
    what = "foreign message, not an envelope of this relationship" if kind == "foreign" else "not an envelope"
    return Difference(
        kind,
        store,
        record.seq,
        f"{label}{location(record)}: {what}: {why}",
        record.where,
        expected=relationship_id if isinstance(rid, str) and rid != relationship_id else None,
        found=rid if isinstance(rid, str) and rid != relationship_id else None,
        severity=severity,
    )


def _pick(copies: Sequence[StoredRecord], prev: StoredRecord | None, seq: int, after: Sequence[StoredRecord]) -> int:
    """Index of the copy of ``seq`` that belongs to the chain: hashes to its own hash, links back to the chosen
    previous seq, is linked to by a copy of the next seq; the first met on a tie."""
    back_hash = GENESIS_HASH if seq == 1 else (prev.hash if prev is not None else None)
    next_links = {r.data.get("prev_hash") for r in after if r.data is not None}

    def score(i: int) -> tuple[bool, bool, bool, int]:
        c = copies[i]
        assert c.data is not None
        return (c.self_consistent, c.data.get("prev_hash") == back_hash, c.hash in next_links, -i)

    return max(range(len(copies)), key=score)


def _duplicate(store: str, seq: int, kept: StoredRecord, other: StoredRecord) -> Difference:
    same = kept.canonical == other.canonical
    return Difference(
        "duplicate",
        store,
        seq,
        f"seq {seq} · {store}: appears twice ({kept.where} and {other.where})"
        + (", identical (at-least-once delivery)" if same else ", with different content")
        + ("" if same else f": hash {short(kept.hash)} (in the chain) vs {short(other.hash)}"),
        other.where,
        expected=kept.hash,
        found=other.hash,
        severity="warning" if same else "error",
    )


def _order(store: str, chain: Sequence[StoredRecord]) -> list[Difference]:
    """Kafka: within a partition the offsets must grow with seq (per-key order); an event_log row must be filed
    under its own seq. A Temporal history's order is not checked (it is not the chain's)."""
    diffs: list[Difference] = []
    partitions: dict[int, list[StoredRecord]] = defaultdict(list)
    for r in chain:
        if r.position is not None:
            partitions[r.position[0]].append(r)
    for records in partitions.values():
        records.sort(key=lambda r: r.position or (0, 0))
        diffs.extend(_inversions(store, records))
    misfiled = sorted((r for r in chain if r.key_seq is not None and r.key_seq != r.seq), key=lambda r: r.key_seq or 0)
    diffs.extend(_inversions(store, misfiled, filed=True))
    return diffs


def _inversions(store: str, layout: list[StoredRecord], *, filed: bool = False) -> list[Difference]:
    """Adjacent pairs whose seqs trade places are one ``order swapped``; any other record out of place is named
    alone. ``layout`` is in the store's order (offsets, or row keys when ``filed``)."""
    diffs: list[Difference] = []
    i = 0
    while i < len(layout):
        a = layout[i]
        b = layout[i + 1] if i + 1 < len(layout) else None
        assert a.seq is not None
        if b is not None and b.seq is not None and _swapped(a, b, filed):
            diffs.append(
                Difference(
                    "order",
                    store,
                    b.seq,
                    f"seq {b.seq}/{a.seq} · {store}: order swapped (seq {a.seq} at {a.where}, seq {b.seq} at "
                    f"{b.where})",
                    f"{a.where}, {b.where}",
                    expected=f"{b.seq},{a.seq}",
                    found=f"{a.seq},{b.seq}",
                )
            )
            i += 2
            continue
        if filed:
            diffs.append(
                Difference(
                    "order",
                    store,
                    a.seq,
                    f"seq {a.seq} · {location(a)}: filed under seq {a.key_seq}",
                    a.where,
                    expected=str(a.seq),
                    found=str(a.key_seq),
                )
            )
        elif b is not None and b.seq is not None and b.seq < a.seq:
            diffs.append(
                Difference(
                    "order",
                    store,
                    b.seq,
                    f"seq {b.seq} · {store}: out of order, found after seq {a.seq} ({b.where})",
                    b.where,
                    expected=f"before seq {a.seq}",
                    found=f"after seq {a.seq}",
                )
            )
        i += 1
    return diffs


def _swapped(a: StoredRecord, b: StoredRecord, filed: bool) -> bool:
    assert a.seq is not None and b.seq is not None
    if filed:
        return a.key_seq == b.seq and b.key_seq == a.seq
    return a.seq == b.seq + 1


def _contents(store: str, by_seq: Mapping[int, StoredRecord]) -> list[Difference]:
    """Per record of the chain: canonical bytes, the event_log's columns, the link to the previous seq."""
    diffs: list[Difference] = []
    for seq, record in sorted(by_seq.items()):
        data = record.data
        assert data is not None
        # exact bytes: a store that keeps bytes must keep the canonical JSON (what was hashed and published)
        if record.raw is not None and record.self_consistent and record.canonical != record.raw:
            diffs.append(
                Difference(
                    "tampered",
                    store,
                    seq,
                    f"seq {seq} · {location(record)}: bytes are not the canonical JSON of the envelope",
                    record.where,
                )
            )
        for name in EVENT_LOG_COLUMNS if record.columns is not None else ():
            assert record.columns is not None
            if name in record.columns and record.columns[name] != data.get(name):
                diffs.append(
                    Difference(
                        "column",
                        store,
                        seq,
                        f"seq {seq} · {location(record)}: column {name} = {render(record.columns[name])} but the "
                        f"envelope says {render(data.get(name))}",
                        record.where,
                        expected=str(data.get(name)),
                        found=str(record.columns[name]),
                        fields=(name,),
                    )
                )
        prev = by_seq.get(seq - 1)
        prev_hash = GENESIS_HASH if seq == 1 else (prev.hash if prev is not None else None)
        what = "the genesis hash" if seq == 1 else f"the hash of seq {seq - 1} in {store}"
        if prev_hash is not None and data.get("prev_hash") != prev_hash:
            diffs.append(
                Difference(
                    "chain",
                    store,
                    seq,
                    f"seq {seq} · {location(record)}: chain broken: prev_hash {short(data.get('prev_hash'))} is not "
                    f"{what} ({short(prev_hash)})",
                    record.where,
                    expected=prev_hash,
                    found=str(data.get("prev_hash")),
                    fields=("prev_hash",),
                )
            )
    return diffs


def store_sequence(store: str, records: Sequence[StoredRecord], relationship_id: str | None) -> StoreSequence:
    """The store's chain by seq and links, and every finding inside the store."""
    diffs: list[Difference] = []
    copies: dict[int, list[StoredRecord]] = defaultdict(list)
    seen: dict[int, set[bytes]] = defaultdict(set)
    repeats: list[tuple[int, StoredRecord]] = []
    for record in records:
        why = not_an_envelope(record, relationship_id)
        if why is not None:
            diffs.append(_foreign(store, record, why, relationship_id))
            continue
        assert record.seq is not None
        if record.canonical in seen[record.seq]:
            repeats.append((record.seq, record))  # an identical copy: the kept one is the first met
            continue
        seen[record.seq].add(record.canonical)
        copies[record.seq].append(record)
    by_seq: dict[int, StoredRecord] = {}
    for seq in sorted(copies):
        group = copies[seq]
        kept = group[_pick(group, by_seq.get(seq - 1), seq, copies.get(seq + 1, ()))] if len(group) > 1 else group[0]
        by_seq[seq] = kept
        diffs.extend(_duplicate(store, seq, kept, other) for other in group if other is not kept)
    for seq, record in repeats:
        kept = next(c for c in copies[seq] if c.canonical == record.canonical)
        diffs.append(_duplicate(store, seq, kept, record))
    diffs.extend(_order(store, list(by_seq.values())))
    diffs.extend(_contents(store, by_seq))
    return StoreSequence(store, by_seq, diffs)
