"""Values a leak test seals and then looks for in raw bytes: each must be found only if it leaked.

A short number is no sentinel: ``13.375`` is also ``…:13.375123`` in any timestamp whose second is 13 (an envelope's
ISO time, a PostgreSQL ``timestamptz`` read as text), so a search of a whole store finds it about once in 60,000
timestamps (CI met one). A seniority with eight random decimals cannot come from a timestamp (six decimals) or an
epoch float (at most seven), and another number holds it by chance about once in 10⁸."""

from __future__ import annotations

import secrets


def sentinel_years() -> float:
    """A seniority in range (13 to 14 years) whose ``repr`` is 13 and eight random decimals, the last not 0."""
    decimals = f"{secrets.randbelow(10**7):07d}{1 + secrets.randbelow(9)}"
    years = float(f"13.{decimals}")
    assert repr(years) == f"13.{decimals}"  # shortest round-trip repr: exactly the text sealed and searched
    return years


def found_in(needle: bytes, stores: dict[str, bytes], around: int = 40) -> dict[str, bytes]:
    """Each store holding ``needle``, with the bytes around its first occurrence (for the failure message)."""
    hits: dict[str, bytes] = {}
    for name, data in stores.items():
        at = data.find(needle)
        if at >= 0:
            hits[name] = data[max(0, at - around) : at + len(needle) + around]
    return hits
