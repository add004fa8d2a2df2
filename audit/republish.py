"""What the topic lacks of a relationship's committed events, and whether it may be published from its history.

A workflow publishes its envelopes from its outbox; one that was terminated (Temporal's kill, not the domain's
``Terminate`` command) or that cannot run any more keeps, in its history only, the events it committed and had not
published. ``audit verify`` names them (``extra, not in kafka, event_log``). The repair publishes, from the Temporal
history, every envelope after the topic's contiguous prefix, in seq order, the same bytes the workflow would have
published. A gap inside the topic (which no publisher makes: each writes a contiguous range) is filled by publishing the
missing seq and every later one again: the projector, which alarms at the gap, then applies them in order; verify
still names the old copies' order, for a person to read. Nothing is published when the history's chain is broken, the
topic's own copies disagree, or the topic holds a different envelope for a seq the history holds (a fork).

Pure: reads two :class:`audit.sequence.StoreSequence` and says what to do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from audit.sequence import StoreSequence
from audit.sources import envelopes_of
from domain import GENESIS_HASH, Envelope

__all__ = ["TOPIC_FORGERIES", "RepublishPlan", "plan_republish"]

TOPIC_FORGERIES = ("duplicate", "tampered", "chain")
"""Errors inside the topic's own sequence that forbid extending it: two different copies of a seq, bytes that are
not the canonical envelope, a broken link (an out-of-order first copy is not one: the projector recovers from it)."""


@dataclass(frozen=True)
class RepublishPlan:
    """``envelopes``: what to publish, in seq order (empty: nothing is missing, or ``refused`` says why not)."""

    relationship_id: str
    made_through: int  # the last seq of the Temporal history's chain
    on_topic_through: int  # the topic holds every seq from 1 to this one
    envelopes: tuple[Envelope, ...] = field(default=())
    refused: str | None = None

    def to_dict(self) -> dict[str, Any]:
        seqs = [e.seq for e in self.envelopes]
        return {
            "relationship_id": self.relationship_id,
            "made_through": self.made_through,
            "on_topic_through": self.on_topic_through,
            "to_publish": {
                "count": len(seqs),
                "first_seq": seqs[0] if seqs else None,
                "last_seq": seqs[-1] if seqs else None,
            },
        }


def _contiguous_through(seqs: set[int]) -> int:
    through = 0
    while through + 1 in seqs:
        through += 1
    return through


def plan_republish(relationship_id: str, history: StoreSequence, topic: StoreSequence | None) -> RepublishPlan:
    """The plan from the Temporal history's sequence and the topic's (None: the topic holds nothing of it)."""
    made = sorted(history.by_seq)
    made_through = made[-1] if made else 0
    on_topic = topic.by_seq if topic is not None else {}
    through = _contiguous_through(set(on_topic))

    def refused(why: str) -> RepublishPlan:
        return RepublishPlan(relationship_id, made_through, through, refused=f"{why}: nothing was published")

    broken = [d for d in history.differences if d.severity == "error"]
    if broken:
        return refused(f"the Temporal history's chain is not intact ({broken[0].message})")
    forged = [d for d in (topic.differences if topic else []) if d.severity == "error" and d.kind in TOPIC_FORGERIES]
    if forged:  # e.g. a second, different copy of a seq beside the one that links: the topic is not to be extended
        return refused(f"the topic's own copies disagree ({forged[0].message})")
    for seq, record in sorted(on_topic.items()):
        if seq > made_through:
            return refused(f"the topic holds seq {seq}, beyond the history's last ({made_through})")
        if seq in history.by_seq and record.canonical != history.by_seq[seq].canonical:
            return refused(f"the topic holds another envelope for seq {seq} than the history (a fork)")
    try:
        missing = [e for e in envelopes_of(history.chain, relationship_id) if e.seq > through]
    except ValueError as exc:
        return refused(f"the Temporal history's chain is not intact ({exc})")
    prev = on_topic[through].hash if through else GENESIS_HASH
    for expected, envelope in enumerate(missing, start=through + 1):
        if envelope.seq != expected:
            return refused(f"the Temporal history does not hold seq {expected} (a run's history is gone?)")
        if envelope.prev_hash != prev or envelope.hash != envelope.compute_hash():
            return refused(f"the Temporal history's seq {expected} does not link to the chain before it")
        prev = envelope.hash
    return RepublishPlan(relationship_id, made_through, through, tuple(missing))
