"""The hash chain verified at disk speed: :func:`verify_chain_fast` gives exactly :func:`domain.verify_chain`'s report
for canonical bytes, with the projection's fast path (:func:`projections.canonical.fast_envelope`: orjson parse,
canonical re-encode, sha256 over the received bytes with the hash cut out, the envelope's shape without pydantic) and
only the links (seq, prev_hash, relationship) checked per record in Python. The first record the fast path does not
accept sends the whole chain to the reference :func:`domain.verify_chain`, which says precisely what is wrong, so the
reports are equal by construction: the fast path only ever answers "all good".

:func:`verify_chains` verifies many chains in ``processes`` worker processes (the machine has two cores; the bytes
cross the process boundary pickled, a few percent of the work).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from domain import GENESIS_HASH, ChainReport, verify_chain
from projections.canonical import fast_envelope, fast_envelope_data

__all__ = ["verify_chain_fast", "verify_chains", "verify_objects_fast"]


def _links_hold(values: Sequence[bytes]) -> str | None:
    """The last hash when every record is a fast-verified envelope continuing the chain from genesis, else None."""
    datas = []
    for raw in values:
        verified = fast_envelope(raw)
        if verified is None:
            return None
        datas.append(verified[0])
    return _linked(datas)


def _linked(datas: Sequence[Mapping[str, Any]]) -> str | None:
    """The last hash when the (verified) envelope objects continue the chain from genesis, else None."""
    prev = GENESIS_HASH
    relationship_id = None
    for expected, data in enumerate(datas, 1):
        if relationship_id is None:
            relationship_id = data["relationship_id"]
        if data["seq"] != expected or data["prev_hash"] != prev or data["relationship_id"] != relationship_id:
            return None
        prev = data["hash"]
    return prev


def verify_chain_fast(values: Sequence[bytes]) -> ChainReport:
    """:func:`domain.verify_chain` of the canonical bytes of one relationship's envelopes (in seq order)."""
    last = _links_hold(values)
    if last is None:
        return verify_chain(values)
    return ChainReport(ok=True, checked=len(values), last_hash=last)


def verify_objects_fast(datas: Sequence[Mapping[str, Any]], *, vouched: bool | None = None) -> ChainReport:
    """:func:`domain.verify_chain` of one relationship's envelopes as JSON objects (in seq order): the objects the
    fast path accepts (:func:`projections.canonical.fast_envelope_data`) are only linked, anything else goes to the
    reference, whole. ``vouched``: whether the caller already knows that the fast path accepts every object (its
    bytes were verified on the way in: :attr:`audit.records.StoredRecord.vouched`); None: it is checked here."""
    accepted = all(fast_envelope_data(d) for d in datas) if vouched is None else vouched
    last = _linked(datas) if accepted else None
    if last is None:
        return verify_chain([dict(d) for d in datas])
    return ChainReport(ok=True, checked=len(datas), last_hash=last)


def verify_chains(chains: Sequence[Sequence[bytes]], processes: int = 1) -> list[ChainReport]:
    """:func:`verify_chain_fast` of every chain, in ``processes`` worker processes (1: in this one)."""
    if processes <= 1 or len(chains) < 2:
        return [verify_chain_fast(c) for c in chains]
    size = max(1, len(chains) // (processes * 8))
    with ProcessPoolExecutor(processes) as pool:
        return list(pool.map(verify_chain_fast, chains, chunksize=size))
