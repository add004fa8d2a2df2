"""Poison messages among the real history of one relationship, each just before the good message it imitates: a
projector must dead-letter every one and apply every good one (the next good message of the partition is the very
event the poison one pretended to be).

Every case but the deep nesting and the wrong hash is *authentic*: canonical bytes and a correct hash (what a buggy
producer or a forger could publish), so it passes the decoder's chain checks and fails later, in validation or in
the database."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from domain import Envelope, canonical_json
from tests.unit.projections.scenarios import program


@dataclass(frozen=True)
class PoisonCase:
    name: str
    value: bytes
    before_seq: int  # published just before the good event with this seq
    reasons: tuple[str, ...]  # how its dead letter's error may start


def reseal(data: dict[str, Any]) -> bytes:
    """The object as canonical JSON with a correct hash."""
    body = {k: v for k, v in data.items() if k != "hash"}
    return canonical_json({**body, "hash": hashlib.sha256(canonical_json(body)).hexdigest()})


def history() -> tuple[Envelope, ...]:
    """A relationship through its trial: proposed, accepted, signed, two goals, a meeting, rematched."""
    h = program()[2]
    types = [e.type for e in h]
    assert types.count("GoalSet") >= 2 and "MeetingLogged" in types, types
    return h


def _first(h: tuple[Envelope, ...], kind: str, nth: int = 0) -> Envelope:
    return [e for e in h if e.type == kind][nth]


def _variant(e: Envelope, **payload: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(e.to_bytes())
    return {**data, "payload": {**data["payload"], **payload}}


def cases(h: tuple[Envelope, ...]) -> list[PoisonCase]:
    proposed, meeting = h[0], _first(h, "MeetingLogged")
    first_goal, second_goal = _first(h, "GoalSet"), _first(h, "GoalSet", 1)
    deep = 100_000
    tampered = canonical_json(_variant(meeting, notes="tampered"))  # the stored hash is the original's
    return [
        PoisonCase(
            "too-long",  # relationships.mentor_id is VARCHAR(200); ("upcast: " once the domain bounds the field)
            reseal(_variant(proposed, mentor_id="m" * 250)),
            proposed.seq,
            ("apply: ", "upcast: "),
        ),
        PoisonCase(
            "deep-nesting",
            b'{"seq":2,"payload":' + b"[" * deep + b"]" * deep + b"}",
            2,
            ("undecodable: JSON nested too deeply",),
        ),
        PoisonCase(
            "duplicate-goal",  # the goals table's key (relationship, goal id) is taken already
            reseal(_variant(second_goal, goal_id=first_goal.payload["goal_id"])),
            second_goal.seq,
            ("apply: ",),
        ),
        PoisonCase(  # its dead letter must still fit dead_letters.relationship_id (VARCHAR(200))
            "long-relationship-id",
            reseal({**json.loads(proposed.to_bytes()), "relationship_id": "r" * 300}),
            2,
            ("shape: message key",),
        ),
        PoisonCase(
            "nul", reseal(_variant(meeting, notes="before\u0000after")), meeting.seq, ("shape: a NUL character",)
        ),
        PoisonCase("wrong-hash", tampered, meeting.seq, ("chain: hash mismatch",)),
    ]


def records(h: tuple[Envelope, ...], poison: list[PoisonCase]) -> list[tuple[str, bytes]]:
    """(key, value) in publication order: each poison message just before the good event it imitates."""
    out: list[tuple[str, bytes]] = []
    for e in h:
        out.extend((e.relationship_id, p.value) for p in poison if p.before_seq == e.seq)
        out.append((e.relationship_id, e.to_bytes()))
    return out
