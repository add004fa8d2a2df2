"""4. Audit: verify and replay rates over 1,000,000 events, and the state at an instant of one relationship with
1,000 events, against the raw loop DESIGN §3 promises anyone can write (``json.loads`` + canonical ``json.dumps``
+ sha256 per envelope, no checks).

The envelopes are the canonical bytes as stored on Kafka and in the event log (the same copies benchmark 3 reads
from the topic), made relationship by relationship; only the audit calls are timed.

* verify: ``domain.verify_chain`` over each relationship's bytes (hash, prev link, seq, canonical form, envelope
  shape) — what ``mentorflow audit verify`` runs per store;
* replay: ``Envelope.from_bytes`` then ``domain.replay`` (the fold of ``evolve``, re-checking the chain) — what
  ``audit replay`` and ``audit history`` run;
* state at an instant: ``audit.history.state_at`` at the instant of the 1,000th event, from the bytes.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence

from benchmarks.common import Result, unique
from benchmarks.data import Replicator, long_history, templates
from domain import Envelope, replay, verify_chain

NAME = "audit"
FULL_EVENTS = 1_000_000
SMOKE_EVENTS = 5_000


def raw_check(values: Sequence[bytes]) -> None:
    """The baseline: the ten lines of DESIGN §3 (parse, re-encode canonically, hash, link)."""
    prev = "0" * 64
    for raw in values:
        env = json.loads(raw)
        h = env.pop("hash")
        if env["prev_hash"] != prev:
            raise AssertionError("broken")
        body = json.dumps(env, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        if hashlib.sha256(body).hexdigest() != h:
            raise AssertionError("broken")
        prev = h


def _timed(fn: Callable[..., object], *args: object) -> float:
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t


def _verify(values: list[bytes]) -> None:
    report = verify_chain(values)
    if not report.ok:
        raise AssertionError(report.problem)


def _replay(values: list[bytes]) -> None:
    replay([Envelope.from_bytes(v) for v in values])


async def run(smoke: bool) -> list[Result]:
    events = SMOKE_EVENTS if smoke else FULL_EVENTS
    rep = Replicator(unique("audit"), templates())
    raw_s = verify_s = replay_s = 0.0
    n = 0
    deadline = time.monotonic() + (60 if smoke else 900)
    for _, values in rep.copies_for(events):
        raw_s += _timed(raw_check, values)
        verify_s += _timed(_verify, values)
        replay_s += _timed(_replay, values)
        n += len(values)
        if time.monotonic() > deadline:
            break
    raw_rate = n / raw_s
    size = f"{n:,} events"
    results = [
        Result(NAME, f"verify chain ({size})", n / verify_s, "events/s", raw_rate, "raw json+sha256 loop"),
        Result(NAME, f"replay ({size})", n / replay_s, "events/s", raw_rate, "raw json+sha256 loop"),
    ]

    from audit.history import state_at

    long = [e.to_bytes() for e in long_history(unique("long"), 1000)]
    at = Envelope.from_bytes(long[-1]).occurred_at
    state_ms: list[float] = []
    raw_ms: list[float] = []
    for _ in range(3 if smoke else 15):
        t = time.perf_counter()
        state = state_at([Envelope.from_bytes(v) for v in long], at)
        state_ms.append((time.perf_counter() - t) * 1000)
        raw_ms.append(_timed(raw_check, long) * 1000)
    assert state.seq == len(long)
    results.append(
        Result(
            NAME,
            "state at an instant, 1 relationship of 1,000 events (median)",
            sorted(state_ms)[len(state_ms) // 2],
            "ms",
            sorted(raw_ms)[len(raw_ms) // 2],
            "raw json+sha256 loop, same 1,000 events",
        )
    )
    return results
