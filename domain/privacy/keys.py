"""The key store's interface: one data key (32 random bytes, AES-256) per person, found by a key id.

The default implementation is a database table (``projections/privacy/keystore.py``: SQLite or PostgreSQL); a KMS
plugs in by implementing the same four methods (docs/privacy.md "A KMS-backed key store").
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol

__all__ = ["KeyStore"]


class KeyStore(Protocol):
    def key_for(self, person_id: str) -> tuple[str, bytes]:
        """The person's current data key and its id; made (and stored) on first use."""
        ...

    def keys(self, key_ids: Collection[str]) -> dict[str, bytes]:
        """The keys still held among ``key_ids`` (an erased or unknown id is simply absent)."""
        ...

    def key_ids_of(self, person_id: str) -> list[str]:
        """Every key id the person holds now."""
        ...

    def erase(self, person_id: str) -> int:
        """Delete every key of the person; how many were deleted (0: none held)."""
        ...
