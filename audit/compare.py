"""Pure cross-check of one relationship's envelopes as held by several stores (DESIGN §7).

Input: for each store (``temporal``, ``kafka``, ``event_log``), the records in the store's own order (history order,
offset order, row order), each with where it was found. Output: a list of :class:`Difference`, each naming the seq,
the store, where in the store, what was expected and what was found. Nothing here does I/O.

Rules:

* Within a store: every record must decode to a JSON object, hash to its own ``hash`` (recomputed over the canonical
  JSON of everything but ``hash``, DESIGN §3), link to the hash of the previous seq *in the same store*
  (``"0"*64`` for seq 1), appear in seq order, and appear once (an identical repeat is a warning: at-least-once
  delivery; a repeat with other content is an error).
* Across stores: a seq is expected when a majority of the stores holds it; with no majority (two stores, one has
  it) it is missing from the other if that store holds later seqs (a gap), else the store earlier in :data:`STORES`
  is believed (Temporal made the events, Kafka carries them, the event log is
  projected from Kafka), and the report says so. For a seq held by several stores, the content held by the most
  stores is the reference (ties: the self-consistent, chain-linked copy, then the store order); every other copy is
  reported field by field.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from domain import GENESIS_HASH, Envelope, canonical_json
from domain.envelope import sha256_hex

__all__ = [
    "STORES",
    "Difference",
    "StoredRecord",
    "compare_stores",
    "short",
]

STORES: tuple[str, ...] = ("temporal", "kafka", "event_log")
"""Known stores, in the order believed when there is no majority."""

_EVENT_LOG_COLUMNS = ("event_id", "program_id", "type", "schema_version", "causation_id", "prev_hash", "hash")


def short(h: Any) -> str:
    """A hash as people read it: the first 10 hex digits."""
    return f"{str(h)[:10]}…" if h is not None else "-"


def _render(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class StoredRecord:
    """One envelope as a store holds it. ``data`` is the decoded JSON object (None when undecodable, then ``error``
    says why); ``raw`` the exact bytes when the store keeps bytes (Kafka value, event_log text); ``columns`` the
    event_log's indexed columns beside the envelope text."""

    store: str
    where: str
    data: Mapping[str, Any] | None
    raw: bytes | None = None
    error: str | None = None
    columns: Mapping[str, Any] | None = None

    @property
    def seq(self) -> int | None:
        if self.data is None:
            return None
        seq = self.data.get("seq")
        return seq if isinstance(seq, int) and not isinstance(seq, bool) else None

    @property
    def hash(self) -> str | None:
        return None if self.data is None else self.data.get("hash")

    @cached_property
    def recomputed_hash(self) -> str | None:
        if self.data is None:
            return None
        return sha256_hex(canonical_json({k: v for k, v in self.data.items() if k != "hash"}))

    @property
    def self_consistent(self) -> bool:
        return self.data is not None and self.hash == self.recomputed_hash

    @cached_property
    def canonical(self) -> bytes:
        return canonical_json(dict(self.data or {}))

    @classmethod
    def from_bytes(cls, store: str, where: str, raw: bytes, columns: Mapping[str, Any] | None = None) -> StoredRecord:
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            return cls(store, where, None, raw=raw, error=f"not valid JSON ({exc})", columns=columns)
        if not isinstance(data, dict):
            return cls(store, where, None, raw=raw, error="not a JSON object", columns=columns)
        return cls(store, where, data, raw=raw, columns=columns)

    @classmethod
    def from_envelope(cls, store: str, where: str, envelope: Envelope) -> StoredRecord:
        return cls(store, where, envelope.to_json_dict(), raw=envelope.to_bytes())


@dataclass(frozen=True)
class Difference:
    """One finding. ``kind``: ``missing | extra | differs | tampered | chain | order | duplicate | invalid |
    column | unavailable | replay``. ``severity`` ``error`` fails verification; ``warning`` does not."""

    kind: str
    store: str
    seq: int | None
    message: str
    where: str | None = None
    expected: str | None = None
    found: str | None = None
    severity: str = "error"
    fields: tuple[str, ...] = field(default=())

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "severity": self.severity,
            "store": self.store,
            "seq": self.seq,
            "where": self.where,
            "expected": self.expected,
            "found": self.found,
            "fields": list(self.fields),
            "message": self.message,
        }


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


def _loc(record: StoredRecord) -> str:
    return f"{record.store} ({record.where})"


def _within_store(
    store: str, records: Sequence[StoredRecord], relationship_id: str | None
) -> tuple[dict[int, StoredRecord], list[Difference]]:
    """Decode, order, duplicates, self-hash, column and chain checks of one store. Returns the first record of each
    seq and the findings."""
    diffs: list[Difference] = []
    by_seq: dict[int, StoredRecord] = {}
    ordered: list[StoredRecord] = []
    for record in records:
        if record.data is None or record.seq is None:
            why = record.error or f"no integer seq ({_render(None if record.data is None else record.data.get('seq'))})"
            diffs.append(Difference("invalid", store, None, f"{_loc(record)}: not an envelope: {why}", record.where))
            continue
        seq = record.seq
        rid = record.data.get("relationship_id")
        if relationship_id is not None and rid != relationship_id:
            diffs.append(
                Difference(
                    "invalid",
                    store,
                    seq,
                    f"seq {seq} · {_loc(record)}: belongs to relationship {rid!r}, not {relationship_id!r}",
                    record.where,
                    expected=relationship_id,
                    found=str(rid),
                )
            )
            continue
        if seq in by_seq:
            first = by_seq[seq]
            same = first.canonical == record.canonical
            diffs.append(
                Difference(
                    "duplicate",
                    store,
                    seq,
                    f"seq {seq} · {store}: appears twice ({first.where} and {record.where})"
                    + (", identical (at-least-once delivery)" if same else ", with different content")
                    + ("" if same else f": hash {short(first.hash)} vs {short(record.hash)}"),
                    record.where,
                    expected=first.hash,
                    found=record.hash,
                    severity="warning" if same else "error",
                )
            )
            continue
        by_seq[seq] = record
        ordered.append(record)

    # order: the store's order must be seq order
    i = 0
    while i < len(ordered) - 1:
        a, b = ordered[i], ordered[i + 1]
        assert a.seq is not None and b.seq is not None
        if b.seq < a.seq:
            if a.seq == b.seq + 1:
                diffs.append(
                    Difference(
                        "order",
                        store,
                        b.seq,
                        f"seq {b.seq}/{a.seq} · {store}: order swapped (seq {a.seq} at {a.where}, "
                        f"seq {b.seq} at {b.where})",
                        f"{a.where}, {b.where}",
                        expected=f"{b.seq},{a.seq}",
                        found=f"{a.seq},{b.seq}",
                    )
                )
                i += 2
                continue
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
                    f"seq {seq} · {_loc(record)}: bytes are not the canonical JSON of the envelope",
                    record.where,
                )
            )
        # event_log: the indexed columns must say what the envelope text says
        if record.columns is not None:
            for name in _EVENT_LOG_COLUMNS:
                if name in record.columns and record.columns[name] != data.get(name):
                    diffs.append(
                        Difference(
                            "column",
                            store,
                            seq,
                            f"seq {seq} · {_loc(record)}: column {name} = {_render(record.columns[name])} but the "
                            f"envelope says {_render(data.get(name))}",
                            record.where,
                            expected=str(data.get(name)),
                            found=str(record.columns[name]),
                            fields=(name,),
                        )
                    )
        # chain link to the previous seq held by the same store
        if seq == 1:
            prev_hash: str | None = GENESIS_HASH
            what = "the genesis hash"
        else:
            prev = by_seq.get(seq - 1)
            prev_hash = prev.hash if prev is not None else None
            what = f"the hash of seq {seq - 1} in {store}"
        if prev_hash is not None and data.get("prev_hash") != prev_hash:
            diffs.append(
                Difference(
                    "chain",
                    store,
                    seq,
                    f"seq {seq} · {_loc(record)}: chain broken: prev_hash {short(data.get('prev_hash'))} is not "
                    f"{what} ({short(prev_hash)})",
                    record.where,
                    expected=prev_hash,
                    found=str(data.get("prev_hash")),
                    fields=("prev_hash",),
                )
            )
    return by_seq, diffs


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
    names = [s for s in STORES if s in stores] + sorted(s for s in stores if s not in STORES)
    rank = {name: i for i, name in enumerate(names)}
    diffs: list[Difference] = []
    held: dict[str, dict[int, StoredRecord]] = {}
    for name in names:
        by_seq, found = _within_store(name, stores[name], relationship_id)
        held[name] = by_seq
        diffs.extend(found)

    all_seqs = sorted({seq for by_seq in held.values() for seq in by_seq})
    n = len(names)
    for seq in all_seqs:
        holders = [name for name in names if seq in held[name]]
        absent = [name for name in names if seq not in held[name]]
        majority = len(holders) * 2 > n
        tie = len(holders) * 2 == n
        # no majority: a seq missing *inside* a store's range (the store holds later seqs) was lost there; at the
        # tail (lag, or a forged append) the earlier store in STORES is believed
        internal_gap = tie and all(max(held[name], default=0) > seq for name in absent)
        expected_present = majority or (tie and (internal_gap or rank[holders[0]] < rank[absent[0]]))
        if n > 1 and absent:
            if expected_present:
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
                for name in absent:
                    diffs.append(
                        Difference(
                            "missing",
                            name,
                            seq,
                            f"seq {seq} · {name}: missing; {', '.join(holders)} {have} it ({kind}, "
                            f"hash {short(ref.hash)}){note}",
                            expected=ref.hash,
                            found=None,
                        )
                    )
            else:
                note = "" if not tie else f" (no majority; {absent[0]} is believed)"
                for name in holders:
                    rec = held[name][seq]
                    diffs.append(
                        Difference(
                            "extra",
                            name,
                            seq,
                            f"seq {seq} · {_loc(rec)}: extra, not in {', '.join(absent)} "
                            f"({rec.data.get('type') if rec.data else '?'}, hash {short(rec.hash)}){note}",
                            rec.where,
                            expected=None,
                            found=rec.hash,
                        )
                    )
                if not tie:
                    continue
        # content of the copies that exist
        groups: dict[bytes, list[str]] = defaultdict(list)
        for name in holders:
            groups[held[name][seq].canonical].append(name)
        if len(groups) == 1:
            rec = held[holders[0]][seq]
            if not rec.self_consistent:
                for name in holders:
                    r = held[name][seq]
                    diffs.append(_tampered(r, seq))
            continue

        def score(item: tuple[bytes, list[str]], seq: int = seq) -> tuple[int, int, int, int]:
            members = item[1]
            rec = held[members[0]][seq]
            return (len(members), int(rec.self_consistent), int(_linked(rec, held[members[0]])), -rank[members[0]])

        ranked = sorted(groups.items(), key=score, reverse=True)
        ref_members = ranked[0][1]
        ref = held[ref_members[0]][seq]
        no_majority = len(ranked[1][1]) == len(ref_members)
        if not ref.self_consistent:
            for name in ref_members:
                diffs.append(_tampered(held[name][seq], seq))
        for _, members in ranked[1:]:
            for name in members:
                diffs.append(_differs(held[name][seq], ref, ref_members, seq, no_majority))
    diffs.sort(key=lambda d: (d.seq if d.seq is not None else -1, rank.get(d.store, n), d.kind))
    return diffs


def _tampered(record: StoredRecord, seq: int) -> Difference:
    return Difference(
        "tampered",
        record.store,
        seq,
        f"seq {seq} · {_loc(record)}: hash mismatch (stored {short(record.hash)}, recomputed "
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
    parts = [f"{path}: expected {_render(exp)}, found {_render(got)}" for path, exp, got in content]
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
        f"seq {seq} · {_loc(record)}: {what} differs from {', '.join(ref_members)}{believed}"
        + (f": {'; '.join(parts)}" if parts else "")
        + f" ({hash_note})",
        record.where,
        expected=ref.hash,
        found=record.hash,
        fields=tuple(path for path, _, _ in changes),
    )
