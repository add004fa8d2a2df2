"""Sealed text: the one format of an encrypted personal field (docs/privacy.md).

A personal free-text field (a meeting's notes, a check-in comment, a reason, a goal) leaves the application boundary
as a *sealed* string::

    enc:v1:<key id>:<base64url(nonce ‖ AES-GCM ciphertext ‖ tag), unpadded>

The key id is 32 lower-case hex digits naming one data key of one person in the key store; it says nothing about the
person. The workflow, its Temporal history, the envelope and its hash chain, the topic, ``event_log``, the reporting
tables, the archive and the audit exports carry this string as they would any string; only a reader holding the key
store turns it back into text, and a reader whose key was erased reads :data:`ERASED`.

The domain may compose texts that embed a sealed string (``"declined by mentee bo: enc:v1:…"``): the alphabet of a
token (``[0-9a-z:]`` then base64url) is closed, so :data:`SEALED_RE` finds every token inside any text.

This module is pure: the cipher itself (the ``cryptography`` package) lives at the boundary
(``projections/privacy/cipher.py``).
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = [
    "ERASED",
    "KEY_ID_RE",
    "NONCE_BYTES",
    "SEALED_PREFIX",
    "SEALED_RE",
    "TAG_BYTES",
    "is_sealed",
    "key_ids_in",
    "replace_sealed",
    "sealed_length",
]

SEALED_PREFIX = "enc:v1:"
"""Every sealed string starts with it (the version names the cipher: AES-256-GCM, 96-bit nonce, 128-bit tag)."""
ERASED = "[erased]"
"""What a reader shows for a sealed text whose key is gone (the person was erased)."""
NONCE_BYTES = 12
TAG_BYTES = 16
KEY_ID_RE = re.compile(r"^[0-9a-f]{32}$")
SEALED_RE = re.compile(r"enc:v1:([0-9a-f]{32}):([A-Za-z0-9_-]+)")
"""One sealed token anywhere in a text: group 1 the key id, group 2 the base64url body."""

_UTF8_MAX_BYTES_PER_CHAR = 4


def is_sealed(value: str) -> bool:
    """``value`` is exactly one sealed token (nothing around it)."""
    return SEALED_RE.fullmatch(value) is not None


def sealed_length(max_chars: int) -> int:
    """The longest sealed string a plaintext of at most ``max_chars`` characters can become: every character in
    4 UTF-8 bytes, plus nonce and tag, in unpadded base64url, plus the prefix and the key id. The limits
    (domain/limits.py) allow a sealed field this long; the plaintext limit is checked before sealing."""
    raw = max_chars * _UTF8_MAX_BYTES_PER_CHAR + NONCE_BYTES + TAG_BYTES
    body = (raw * 4 + 2) // 3
    return len(SEALED_PREFIX) + 32 + 1 + body


def replace_sealed(text: str, open_token: Callable[[str, str], str]) -> str:
    """``text`` with every sealed token replaced by ``open_token(key_id, token)``."""
    if SEALED_PREFIX not in text:
        return text
    return SEALED_RE.sub(lambda m: open_token(m.group(1), m.group(0)), text)


def key_ids_in(text: str) -> set[str]:
    """The key ids of every sealed token in ``text``."""
    if SEALED_PREFIX not in text:
        return set()
    return {m.group(1) for m in SEALED_RE.finditer(text)}
