"""4. Audit: verify and replay rates over 1,000,000 events, and the state at an instant of one relationship with
1,000 events, against a raw loop with no checks: ``orjson.loads`` + sha256 of each envelope's bytes (what the issue's
target compares with), and the loop DESIGN §3 promises anyone can write (``json.loads`` + canonical ``json.dumps`` +
sha256) for the replay and the state at an instant.

The envelopes are the canonical bytes as stored on Kafka and in the event log (the same copies benchmark 3 reads
from the topic), made relationship by relationship; only the audit calls are timed (process CPU time for the
single-process figures, so the other sessions on the machine do not count; wall time for the two-process one).

* verify: ``audit.chain.verify_chain_fast`` over each relationship's bytes (hash, prev link, seq, canonical form,
  envelope shape; the report of ``domain.verify_chain``) — what ``mentorflow audit verify`` runs per store; then
  the same over all relationships in two worker processes (``audit.chain.verify_chains``), against the raw loop in
  two processes;
* verify, records: each relationship's bytes read as the audit reads a store (``audit.records.StoredRecord`` on the
  fast path) and its sequence rebuilt and checked (``audit.sequence.store_sequence``: seq, links, duplicates,
  order, canonical bytes) — what ``audit verify --all`` runs per store and relationship before comparing the stores;
* replay: what ``audit replay`` runs (the records, their chain, ``audit.history.fast_state_at``: the fold of
  ``evolve`` with the links checked and the events built without pydantic), against the reference it replaced
  (``Envelope.from_bytes`` then ``domain.replay``, re-checking every hash), which ``audit history`` still runs;
* state at an instant: what ``audit replay R --at T`` runs (as replay above) at the instant of the 1,000th event, from
  the bytes.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor

import orjson

from audit.chain import verify_chain_fast, verify_chains
from audit.history import fast_state_at
from audit.records import StoredRecord
from audit.sequence import store_sequence
from benchmarks.common import Result, full_events, unique
from benchmarks.data import Replicator, long_history, templates
from domain import Envelope, replay

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


def raw_fast(values: Sequence[bytes]) -> None:
    """The raw loop of the target: ``orjson.loads`` and sha256 of each envelope's bytes, nothing checked."""
    for raw in values:
        orjson.loads(raw)
        hashlib.sha256(raw).hexdigest()


def _timed(fn: Callable[..., object], *args: object) -> float:
    t = time.process_time()
    fn(*args)
    return time.process_time() - t


def _verify(values: list[bytes]) -> None:
    report = verify_chain_fast(values)
    if not report.ok:
        raise AssertionError(report.problem)


def _raw_chains(chains: Sequence[Sequence[bytes]]) -> int:
    for values in chains:
        raw_fast(values)
    return len(chains)


def _two_processes(chains: list[list[bytes]]) -> tuple[float, float]:
    """Wall seconds of (verify_chains in 2 processes, the raw loop in 2 processes), the pools started beforehand."""
    t = time.perf_counter()
    reports = verify_chains(chains, processes=2)
    verify_s = time.perf_counter() - t
    if not all(r.ok for r in reports):
        raise AssertionError("a chain did not verify")
    half = len(chains) // 2
    with ProcessPoolExecutor(2) as pool:
        list(pool.map(_raw_chains, [chains[:1], chains[1:2]]))  # both workers up
        t = time.perf_counter()
        list(pool.map(_raw_chains, [chains[:half], chains[half:]]))
        raw_s = time.perf_counter() - t
    return verify_s, raw_s


def _chain(values: list[bytes]) -> list[StoredRecord]:
    records = [
        StoredRecord.from_bytes("kafka", f"partition 0 offset {i}", v, position=(0, i)) for i, v in enumerate(values)
    ]
    sequence = store_sequence("kafka", records, None)
    if sequence.differences:
        raise AssertionError(sequence.differences[0].message)
    return sequence.chain


def _replay(values: list[bytes]) -> None:
    if fast_state_at(_chain(values)) is None:
        raise AssertionError("the fast path declined an intact chain")


def _replay_reference(values: list[bytes]) -> None:
    replay([Envelope.from_bytes(v) for v in values])


def _state_at_an_instant(smoke: bool) -> Result:
    """State at an instant of one relationship of 1,000 events (the fast fold), against the raw loop over them."""
    long = [e.to_bytes() for e in long_history(unique("long"), 1000)]
    at = Envelope.from_bytes(long[-1]).occurred_at
    state_ms: list[float] = []
    raw_ms: list[float] = []
    for _ in range(3 if smoke else 15):
        t = time.process_time()
        state = fast_state_at(_chain(long), at)
        state_ms.append((time.process_time() - t) * 1000)
        raw_ms.append(_timed(raw_check, long) * 1000)
    assert state is not None and state.seq == len(long)
    return Result(
        NAME,
        "state at an instant, 1 relationship of 1,000 events (median, CPU time)",
        sorted(state_ms)[len(state_ms) // 2],
        "ms",
        sorted(raw_ms)[len(raw_ms) // 2],
        "raw json+sha256 loop, same 1,000 events",
    )


async def run(smoke: bool) -> list[Result]:
    events = SMOKE_EVENTS if smoke else full_events(FULL_EVENTS)
    rep = Replicator(unique("audit"), templates())
    raw_s = fast_s = verify_s = records_s = replay_s = reference_s = 0.0
    n = 0
    chains: list[list[bytes]] = []
    deadline = time.monotonic() + (60 if smoke else 900)
    for _, values in rep.copies_for(events):
        fast_s += _timed(raw_fast, values)
        verify_s += _timed(_verify, values)
        records_s += _timed(_chain, values)
        raw_s += _timed(raw_check, values)
        replay_s += _timed(_replay, values)
        reference_s += _timed(_replay_reference, values)
        chains.append(values)
        n += len(values)
        if time.monotonic() > deadline:
            break
    raw_rate, fast_rate = n / raw_s, n / fast_s
    size = f"{n:,} events"
    verify2_s, raw2_s = _two_processes(chains)
    rate = n / verify_s
    results = [
        Result(
            NAME,
            f"verify chain, one process, CPU time ({size})",
            rate,
            "events/s",
            fast_rate,
            "raw orjson+sha256 loop, CPU time",
            "≥ 200,000 events/s and ≥ 0.9 of raw",
            rate >= 200_000 and rate / fast_rate >= 0.9,
        ),
        Result(
            NAME,
            f"verify chain, two processes, wall time ({size})",
            n / verify2_s,
            "events/s",
            n / raw2_s,
            "raw orjson+sha256 loop, two processes, wall time",
            "≥ 200,000 events/s and ≥ 0.9 of raw",
            n / verify2_s >= 200_000 and raw2_s / verify2_s >= 0.9,
        ),
        Result(
            NAME,
            f"verify --all, one store's records and sequence, CPU time ({size})",
            n / records_s,
            "events/s",
            fast_rate,
            "raw orjson+sha256 loop, CPU time",
        ),
        Result(NAME, f"replay, CPU time ({size})", n / replay_s, "events/s", raw_rate, "raw json+sha256 loop"),
        Result(
            NAME,
            f"replay, reference (Envelope.from_bytes + domain.replay), CPU time ({size})",
            n / reference_s,
            "events/s",
            raw_rate,
            "raw json+sha256 loop",
        ),
    ]

    results.append(_state_at_an_instant(smoke))
    return results
