"""Pure cross-check of one relationship's envelopes as held by several stores (DESIGN §7).

Input: for each store (``temporal``, ``kafka``, ``event_log``), the records in the store's own order (history order,
offset order, row order), each with where it was found. Output: a list of :class:`Difference`, each naming the seq,
the store, where in the store, what was expected and what was found. Nothing here does I/O.

Rules:

* Within a store (:mod:`audit.sequence`): the sequence is rebuilt by ``seq`` and the envelopes' own links, never by
  where an envelope first appears; every envelope must hash to its own ``hash`` (recomputed over the canonical JSON
  of everything but ``hash``, DESIGN §3) and link to the hash of the previous seq *in the same store* (``"0"*64``
  for seq 1); a seq appears once (an identical repeat is a warning: at-least-once delivery; a repeat with other
  content is an error); a Kafka partition holds a key's seqs in offset order and an event_log row holds the seq it
  is filed under. An entry that is not an envelope of the relationship is reported and the rest still verified.
* Across stores: a seq is expected when a majority of the stores holds it; with no majority (two stores, one has
  it) it is missing from the other if that store holds later seqs (a gap), else the store earlier in :data:`STORES`
  is believed (Temporal made the events, Kafka carries them, the event log is
  projected from Kafka), and the report says so. For a seq held by several stores, the content held by the most
  stores is the reference (ties: the self-consistent, chain-linked copy, then the store order); every other copy is
  reported field by field.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from audit.records import Difference, StoredRecord, location, render, short
from audit.sequence import StoreSequence, store_sequence
from domain import GENESIS_HASH

__all__ = [
    "STORES",
    "Difference",
    "StoredRecord",
    "compare_sequences",
    "compare_stores",
    "short",
]

STORES: tuple[str, ...] = ("temporal", "kafka", "event_log")
"""Known stores, in the order believed when there is no majority."""


def _flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(obj, Mapping) and obj:
        out: dict[str, Any] = {}
        for key, value in obj.items():
            out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: obj}


def _field_diffs(expected: Mapping[str, Any], found: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """``(dotted path, expected, found)`` for every leaf that differs; ``<absent>`` for a missing key."""
    a, b = _flatten(expected), _flatten(found)
    absent = "<absent>"
    return [
        (k, a.get(k, absent), b.get(k, absent)) for k in sorted(set(a) | set(b)) if a.get(k, absent) != b.get(k, absent)
    ]


def _linked(record: StoredRecord, by_seq: Mapping[int, StoredRecord]) -> bool:
    assert record.seq is not None and record.data is not None
    prev = by_seq.get(record.seq - 1)
    back = record.data.get("prev_hash") == (GENESIS_HASH if record.seq == 1 else (prev.hash if prev else None))
    nxt = by_seq.get(record.seq + 1)
    forward = nxt is None or (nxt.data is not None and nxt.data.get("prev_hash") == record.hash)
    return back and forward


def compare_stores(
    stores: Mapping[str, Sequence[StoredRecord]],
    relationship_id: str | None = None,
) -> list[Difference]:
    """Every difference within and across the given stores (a store absent from ``stores`` is not compared; an
    empty list is a store that holds nothing). Sorted by seq, then store order."""
    return compare_sequences({name: store_sequence(name, records, relationship_id) for name, records in stores.items()})


def compare_sequences(sequences: Mapping[str, StoreSequence]) -> list[Difference]:
    """:func:`compare_stores` over sequences already rebuilt (:func:`audit.sequence.store_sequence`)."""
    names = [s for s in STORES if s in sequences] + sorted(s for s in sequences if s not in STORES)
    rank = {name: i for i, name in enumerate(names)}
    held = {name: sequences[name].by_seq for name in names}
    diffs = [d for name in names for d in sequences[name].differences]
    for seq in sorted({seq for by_seq in held.values() for seq in by_seq}):
        found, compare_content = _presence(held, names, rank, seq)
        diffs.extend(found)
        if compare_content:
            diffs.extend(_content(held, [name for name in names if seq in held[name]], rank, seq))
    diffs.sort(key=lambda d: (d.seq if d.seq is not None else -1, rank.get(d.store, len(names)), d.kind))
    return diffs


def _presence(
    held: Mapping[str, Mapping[int, StoredRecord]], names: Sequence[str], rank: Mapping[str, int], seq: int
) -> tuple[list[Difference], bool]:
    """Missing / extra findings for ``seq``, and whether the copies that exist are to be compared."""
    holders = [name for name in names if seq in held[name]]
    absent = [name for name in names if seq not in held[name]]
    n = len(names)
    if n < 2 or not absent:
        return [], True
    majority = len(holders) * 2 > n
    tie = len(holders) * 2 == n
    # no majority: a seq missing *inside* a store's range (the store holds later seqs) was lost there; at the
    # tail (lag, or a forged append) the earlier store in STORES is believed
    internal_gap = tie and all(max(held[name], default=0) > seq for name in absent)
    if majority or (tie and (internal_gap or rank[holders[0]] < rank[absent[0]])):
        ref = held[holders[0]][seq]
        kind = ref.data.get("type") if ref.data else "?"
        have = "has" if len(holders) == 1 else "have"
        note = (
            ""
            if majority
            else f" (no majority; a gap in {', '.join(absent)})"
            if internal_gap
            else f" (no majority; {holders[0]} is believed)"
        )
        missing = [
            Difference(
                "missing",
                name,
                seq,
                f"seq {seq} · {name}: missing; {', '.join(holders)} {have} it ({kind}, hash {short(ref.hash)}){note}",
                expected=ref.hash,
                found=None,
            )
            for name in absent
        ]
        return missing, True
    note = "" if not tie else f" (no majority; {absent[0]} is believed)"
    extra = [
        Difference(
            "extra",
            name,
            seq,
            f"seq {seq} · {location(rec)}: extra, not in {', '.join(absent)} "
            f"({rec.data.get('type') if rec.data else '?'}, hash {short(rec.hash)}){note}",
            rec.where,
            expected=None,
            found=rec.hash,
        )
        for name in holders
        for rec in (held[name][seq],)
    ]
    return extra, tie


def _content(
    held: Mapping[str, Mapping[int, StoredRecord]], holders: Sequence[str], rank: Mapping[str, int], seq: int
) -> list[Difference]:
    """The copies of ``seq`` the stores hold, against the one held by the most."""
    groups: dict[bytes, list[str]] = defaultdict(list)
    for name in holders:
        groups[held[name][seq].canonical].append(name)
    if len(groups) == 1:
        rec = held[holders[0]][seq]
        return [] if rec.self_consistent else [_tampered(held[name][seq], seq) for name in holders]

    def score(item: tuple[bytes, list[str]]) -> tuple[int, int, int, int]:
        members = item[1]
        rec = held[members[0]][seq]
        return (len(members), int(rec.self_consistent), int(_linked(rec, held[members[0]])), -rank[members[0]])

    ranked = sorted(groups.items(), key=score, reverse=True)
    ref_members = ranked[0][1]
    ref = held[ref_members[0]][seq]
    no_majority = len(ranked[1][1]) == len(ref_members)
    diffs = [] if ref.self_consistent else [_tampered(held[name][seq], seq) for name in ref_members]
    for _, members in ranked[1:]:
        diffs.extend(_differs(held[name][seq], ref, ref_members, seq, no_majority) for name in members)
    return diffs


def _tampered(record: StoredRecord, seq: int) -> Difference:
    return Difference(
        "tampered",
        record.store,
        seq,
        f"seq {seq} · {location(record)}: hash mismatch (stored {short(record.hash)}, recomputed "
        f"{short(record.recomputed_hash)}): the envelope was edited after it was sealed",
        record.where,
        expected=record.recomputed_hash,
        found=record.hash,
        fields=("hash",),
    )


def _differs(
    record: StoredRecord, ref: StoredRecord, ref_members: Sequence[str], seq: int, no_majority: bool
) -> Difference:
    assert record.data is not None and ref.data is not None
    changes = _field_diffs(ref.data, record.data)
    content = [c for c in changes if c[0] not in ("hash", "prev_hash")]
    parts = [f"{path}: expected {render(exp)}, found {render(got)}" for path, exp, got in content]
    what = ", ".join(sorted({path.split(".")[0] for path, _, _ in content})) or "chain"
    if record.self_consistent:
        if content:
            hash_note = f"hash recomputed to match (expected {short(ref.hash)}, found {short(record.hash)}): forged"
        else:
            hash_note = (
                f"same content, other chain: prev_hash expected {short(ref.data.get('prev_hash'))}, found "
                f"{short(record.data.get('prev_hash'))}; hash expected {short(ref.hash)}, found {short(record.hash)}"
            )
    else:
        hash_note = f"hash stored {short(record.hash)} recomputed {short(record.recomputed_hash)}"
    believed = f" (no majority; {ref_members[0]} is believed)" if no_majority else ""
    return Difference(
        "differs",
        record.store,
        seq,
        f"seq {seq} · {location(record)}: {what} differs from {', '.join(ref_members)}{believed}"
        + (f": {'; '.join(parts)}" if parts else "")
        + f" ({hash_note})",
        record.where,
        expected=ref.hash,
        found=record.hash,
        fields=tuple(path for path, _, _ in changes),
    )
