"""The Temporal payload codec (issue 20, docs/privacy.md "Temporal payloads"): every payload a client or worker sends
— workflow inputs, update arguments and results, query results, activity inputs and results, continue-as-new inputs
— is encrypted as a whole with AES-256-GCM before it reaches the Temporal server, so its persistence and its UI hold
ciphertext only. Personal text is sealed per person before that (the field cipher); the codec covers the rest (ids,
policies, states) at rest in Temporal.

An encrypted payload: metadata ``encoding: binary/encrypted`` and ``encryption-key-id``, data = 12-byte nonce ‖
ciphertext ‖ tag of the serialized original payload. Decoding leaves any payload without that encoding alone, so
histories written before the codec was configured still decode, replay and verify. A payload encrypted under another
key id fails loudly (:class:`CodecKeyMismatch`): a silently undecodable history would look like a tampered one.

Every process of a deployment — worker, CLI, API, auditor, the UI's codec server — needs the same key
(``MENTORFLOW_PRIVACY__CODEC_KEY``). Nonces come from ``os.urandom``: the codec runs in the SDK's data converter,
outside workflow code, so randomness here does not affect determinism.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import os
from collections.abc import Sequence

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter, PayloadCodec

__all__ = ["ENCODING", "AesGcmCodec", "CodecKeyMismatch", "codec_from_key", "with_codec"]

ENCODING = b"binary/encrypted"
_NONCE = 12


class CodecKeyMismatch(ValueError):
    """A payload was encrypted under another codec key than the one configured."""


class AesGcmCodec(PayloadCodec):
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError(f"the payload codec key must be 32 bytes (AES-256), got {len(key)}")
        self._aead = AESGCM(key)
        self.key_id = hashlib.sha256(b"mentorflow payload codec\x00" + key).hexdigest()[:16].encode()

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for payload in payloads:
            nonce = os.urandom(_NONCE)
            sealed = self._aead.encrypt(nonce, payload.SerializeToString(), self.key_id)
            out.append(Payload(metadata={"encoding": ENCODING, "encryption-key-id": self.key_id}, data=nonce + sealed))
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for payload in payloads:
            if payload.metadata.get("encoding") != ENCODING:
                out.append(payload)  # written before the codec: as it is
                continue
            key_id = payload.metadata.get("encryption-key-id", b"")
            if key_id != self.key_id:
                raise CodecKeyMismatch(
                    f"payload encrypted under codec key {key_id.decode(errors='replace')}, this process holds "
                    f"{self.key_id.decode()} (MENTORFLOW_PRIVACY__CODEC_KEY differs between processes)"
                )
            plain = self._aead.decrypt(payload.data[:_NONCE], payload.data[_NONCE:], self.key_id)
            out.append(Payload.FromString(plain))
        return out


def codec_from_key(text: str) -> AesGcmCodec | None:
    """The codec of a base64 key setting; None for an empty setting. ValueError naming the rule otherwise."""
    if not text:
        return None
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("privacy.codec_key: must be base64 of 32 random bytes") from None
    return AesGcmCodec(key)


def with_codec(converter: DataConverter, codec: PayloadCodec | None) -> DataConverter:
    """``converter`` encrypting through ``codec`` (``converter`` itself when None)."""
    return converter if codec is None else dataclasses.replace(converter, payload_codec=codec)
