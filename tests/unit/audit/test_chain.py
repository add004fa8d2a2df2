"""The fast chain verifier (``audit/chain.py``) gives exactly ``domain.verify_chain``'s report, on intact chains and on
every kind of damage (each byte-level damage goes to the reference, which names it)."""

from __future__ import annotations

import json
from functools import cache

import pytest

from audit.chain import _links_hold, verify_chain_fast, verify_chains, verify_objects_fast
from domain import canonical_json, verify_chain
from tests.unit.projections.scenarios import program


@cache
def _chains() -> list[list[bytes]]:
    return [[e.to_bytes() for e in history] for history in program()[:8]]


def _damaged(chain: list[bytes]) -> list[list[bytes]]:
    data = [json.loads(v) for v in chain]
    second = data[1]
    return [
        chain[:1] + chain[2:],  # a gap
        chain[:2] + chain[1:],  # a duplicate
        chain[1:],  # no genesis
        list(reversed(chain)),
        [*chain[:1], canonical_json({**second, "payload": {**second["payload"], "x": 1}}), *chain[2:]],  # tampered
        [*chain[:1], json.dumps(second, indent=1).encode(), *chain[2:]],  # not canonical
        [*chain[:1], b"not json", *chain[2:]],
        [*chain[:1], canonical_json({**second, "relationship_id": "other"}), *chain[2:]],
        [chain[0], *_chains()[1][1:]],  # another relationship's tail
        [*chain, canonical_json({**data[-1], "seq": len(chain) + 1, "prev_hash": data[-1]["hash"], "x": 1.5})],
    ]


def test_intact_chains_verify_fast_and_as_the_reference_does() -> None:
    for chain in _chains():
        assert verify_chain_fast(chain) == verify_chain(chain)
        assert verify_chain_fast(chain).ok
        assert _links_hold(chain) == verify_chain(chain).last_hash  # the fast path answered, not the reference
        objects = [json.loads(v) for v in chain]
        assert verify_objects_fast(objects) == verify_chain(objects)
    assert verify_chain_fast([]) == verify_chain([])


@pytest.mark.parametrize("case", range(10))
def test_every_damage_gets_the_reference_report(case: int) -> None:
    chain = list(_chains()[0])
    damaged = _damaged(chain)[case]
    expected = verify_chain(damaged)
    assert not expected.ok
    assert verify_chain_fast(damaged) == expected
    objects = []
    for v in damaged:
        try:
            objects.append(json.loads(v))
        except ValueError:
            return
    assert verify_objects_fast(objects) == verify_chain(objects)


def test_many_chains_in_two_processes_give_the_same_reports() -> None:
    chains = _chains() + _damaged(list(_chains()[0]))
    assert verify_chains(chains, processes=2) == [verify_chain(c) for c in chains]
