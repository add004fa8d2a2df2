"""Differential: ``audit replay`` on the fast path (:func:`audit.history.fast_state_at`: hashes proven as the bytes
were read, links checked, events built without pydantic) gives exactly the reference fold
(:func:`audit.history.state_at` over pydantic envelopes) at every instant of many varied histories, and declines
(None: the reference decides and names the problem) on anything else."""

from __future__ import annotations

import json
from datetime import timedelta
from functools import cache

import pytest

from audit.history import fast_state_at, state_at
from audit.records import StoredRecord
from audit.sequence import store_sequence
from benchmarks.data import full_lifecycle, long_history
from domain import ChainBroken, Envelope, canonical_json
from domain.envelope import sha256_hex
from tests.unit.projections.scenarios import program


def _chain(raws: list[bytes]) -> list[StoredRecord]:
    records = [StoredRecord.from_bytes("event_log", f"row seq={i + 1}", v) for i, v in enumerate(raws)]
    return store_sequence("event_log", records, None).chain


@cache
def _histories() -> list[list[Envelope]]:
    return [full_lifecycle("r-audit"), long_history("r-long", 300), *(list(h) for h in program(40))]


@pytest.mark.parametrize("index", range(42))
def test_fast_replay_is_the_reference_fold_at_every_instant(index: int) -> None:
    history = _histories()[index]
    chain = _chain([e.to_bytes() for e in history])
    assert all(r.vouched for r in chain)
    instants = [None, *(e.occurred_at for e in history[:: max(1, len(history) // 12)]), history[-1].occurred_at]
    for at in instants:
        fast = fast_state_at(chain, at)
        reference = state_at(history, at) if at is not None else state_at(history, history[-1].occurred_at)
        assert fast is not None, at
        assert fast == reference
        assert json.dumps(fast.model_dump(mode="json"), sort_keys=True) == json.dumps(
            reference.model_dump(mode="json"), sort_keys=True
        )


def _rehashed(data: dict[str, object]) -> bytes:
    body = {k: v for k, v in data.items() if k != "hash"}
    return canonical_json({**body, "hash": sha256_hex(canonical_json(body))})


def test_fast_replay_declines_what_the_reference_refuses_or_names() -> None:
    history = full_lifecycle("r-audit")
    good = [e.to_bytes() for e in history]
    data = [e.to_json_dict() for e in history]
    first = history[0].occurred_at
    relinked = _rehashed({**data[4], "prev_hash": "0" * 64})
    refused = {  # the reference raises on each
        "an edited byte": [*good[:4], good[4].replace(b'"seq":5', b'"seq":6', 1), *good[5:]],
        "a broken link, rehashed": [*good[:4], relinked, *good[5:]],
        "a payload the event refuses": [*good[:4], _rehashed({**data[4], "payload": {"nope": 1}}), *good[5:]],
        "an unknown type": [*good[:4], _rehashed({**data[4], "type": "NoSuchEvent"}), *good[5:]],
    }
    for name, raws in refused.items():
        chain = _chain(raws)
        assert fast_state_at(chain, None) is None, name
        with pytest.raises((ChainBroken, ValueError)):
            state_at([Envelope.from_json_dict(r.data or {}) for r in chain], history[-1].occurred_at)
    # bytes not canonical but the content authentic: replay folds content (verify names the bytes), as the reference
    loose = _chain([*good[:4], json.dumps(data[4], indent=1).encode(), *good[5:]])
    assert fast_state_at(loose, None) == state_at(history, history[-1].occurred_at)
    intact = _chain(good)
    assert fast_state_at(intact, first.replace(tzinfo=None)) is None  # naive: the reference refuses it
    assert fast_state_at(intact, first - timedelta(seconds=1)) is None  # before the first event: the reference says so
    assert fast_state_at([], None) is None
