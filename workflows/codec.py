"""The Temporal payload codec (issue 20, docs/privacy.md "Temporal payloads"): every payload a client or worker sends
— workflow inputs, update arguments and results, query results, activity inputs and results, continue-as-new inputs
— is encrypted as a whole with AES-256-GCM before it reaches the Temporal server, so its persistence and its UI hold
ciphertext only. Personal text is sealed per person before that (the field cipher); the codec covers the rest (ids,
policies, states) at rest in Temporal.

An encrypted payload: metadata ``encoding: binary/encrypted`` and ``encryption-key-id``, data = 12-byte nonce ‖
ciphertext ‖ tag of the serialized original payload (the key id is the associated data). Decoding leaves any payload
without that encoding alone, so histories written before the codec was configured still decode, replay and verify.
A payload encrypted under a key id this codec does not hold fails loudly (:class:`CodecKeyMismatch`): a silently
undecodable history would look like a tampered one.

Key rotation: a codec holds several keys by id — it encrypts with its newest and decrypts with any
(``MENTORFLOW_PRIVACY__CODEC_KEYS``, ``id:base64`` entries, newest first, beside the single ``CODEC_KEY``, whose id is
derived from the key as before, so payloads written under it keep decoding).

Every process of a deployment — worker, CLI, API, auditor, the UI's codec server — needs the same keys
(``MENTORFLOW_PRIVACY__CODEC_KEY`` / ``CODEC_KEYS``). Nonces come from ``os.urandom``: the codec runs in the SDK's
data converter, outside workflow code, so randomness here does not affect determinism.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import os
import re
from collections.abc import Sequence

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter, PayloadCodec

__all__ = ["ENCODING", "AesGcmCodec", "CodecKeyMismatch", "codec_from_key", "codec_from_settings", "with_codec"]

ENCODING = b"binary/encrypted"
_NONCE = 12
KEY_ID_PATTERN = r"[A-Za-z0-9._-]{1,64}"
"""A named key id (``CODEC_KEYS``): it travels in every payload's metadata, so short and plain."""
_KEY_ID = re.compile(KEY_ID_PATTERN)


class CodecKeyMismatch(ValueError):
    """A payload was encrypted under another codec key than the one configured."""


def derived_key_id(key: bytes) -> bytes:
    """The id of a key given without one (``CODEC_KEY``): 16 hex digits of a hash, never the key."""
    return hashlib.sha256(b"mentorflow payload codec\x00" + key).hexdigest()[:16].encode()


def _aead(key: bytes) -> AESGCM:
    if len(key) != 32:
        raise ValueError(f"the payload codec key must be 32 bytes (AES-256), got {len(key)}")
    return AESGCM(key)


class AesGcmCodec(PayloadCodec):
    """Encrypts with ``key`` (id ``key_id``, derived from the key when not given); decrypts with it and with every
    key of the ``older`` codecs (rotation: a payload says which key id sealed it)."""

    def __init__(self, key: bytes, key_id: bytes | None = None, *, older: Sequence[AesGcmCodec] = ()) -> None:
        self.key_id = derived_key_id(key) if key_id is None else key_id
        if not _KEY_ID.fullmatch(self.key_id.decode(errors="replace")):
            raise ValueError(f"a payload codec key id must match {KEY_ID_PATTERN}, got {self.key_id!r}")
        self._keys: dict[bytes, AESGCM] = {self.key_id: _aead(key)}
        for codec in older:
            for key_id_, aead in codec._keys.items():
                if key_id_ in self._keys:
                    raise ValueError(f"payload codec key id {key_id_.decode()} is given twice")
                self._keys[key_id_] = aead

    @property
    def key_ids(self) -> tuple[bytes, ...]:
        """Every key id this codec decrypts, the one it encrypts with first."""
        return tuple(self._keys)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        aead = self._keys[self.key_id]
        out = []
        for payload in payloads:
            nonce = os.urandom(_NONCE)
            sealed = aead.encrypt(nonce, payload.SerializeToString(), self.key_id)
            out.append(Payload(metadata={"encoding": ENCODING, "encryption-key-id": self.key_id}, data=nonce + sealed))
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for payload in payloads:
            if payload.metadata.get("encoding") != ENCODING:
                out.append(payload)  # written before the codec: as it is
                continue
            key_id = payload.metadata.get("encryption-key-id", b"")
            aead = self._keys.get(key_id)
            if aead is None:
                held = ", ".join(k.decode() for k in self._keys)
                raise CodecKeyMismatch(
                    f"payload encrypted under codec key {key_id.decode(errors='replace')}, this process holds "
                    f"{held} (MENTORFLOW_PRIVACY__CODEC_KEY / CODEC_KEYS differ between processes)"
                )
            plain = aead.decrypt(payload.data[:_NONCE], payload.data[_NONCE:], key_id)
            out.append(Payload.FromString(plain))
        return out


def _key_bytes(text: str, setting: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{setting}: must be base64 of 32 random bytes") from None
    if len(key) != 32:
        raise ValueError(f"{setting}: must be base64 of 32 random bytes, got {len(key)} bytes")
    return key


def _named_keys(text: str) -> list[tuple[bytes, bytes]]:
    """``id:base64,id:base64`` → (id, key) pairs, newest first. ValueError naming the entry (never the key)."""
    pairs = []
    for number, entry in enumerate((e for e in text.split(",") if e.strip()), start=1):
        key_id, sep, key_text = entry.strip().partition(":")
        if not sep or not _KEY_ID.fullmatch(key_id):
            raise ValueError(f"privacy.codec_keys: entry {number} must be '<id>:<base64 key>', id {KEY_ID_PATTERN}")
        pairs.append((key_id.encode(), _key_bytes(key_text, f"privacy.codec_keys entry {number} ({key_id})")))
    return pairs


def codec_from_settings(codec_key: str, codec_keys: str = "") -> AesGcmCodec | None:
    """The codec of the settings: the first ``codec_keys`` entry encrypts (the newest key); the others and
    ``codec_key`` (id derived from it) decrypt. Only ``codec_key``: it encrypts, as before. None when both are
    empty; ValueError naming the setting and the rule otherwise."""
    single = [AesGcmCodec(_key_bytes(codec_key, "privacy.codec_key"))] if codec_key else []
    named = _named_keys(codec_keys)
    if not named:
        return single[0] if single else None
    (newest_id, newest), *rest = named
    older = [AesGcmCodec(key, key_id) for key_id, key in rest] + single
    return AesGcmCodec(newest, newest_id, older=older)


def codec_from_key(text: str) -> AesGcmCodec | None:
    """The codec of a base64 key setting; None for an empty setting. ValueError naming the rule otherwise."""
    return codec_from_settings(text)


def with_codec(converter: DataConverter, codec: PayloadCodec | None) -> DataConverter:
    """``converter`` encrypting through ``codec`` (``converter`` itself when None)."""
    return converter if codec is None else dataclasses.replace(converter, payload_codec=codec)
