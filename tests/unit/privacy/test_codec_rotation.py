"""Codec key rotation: a codec holding several keys by id encrypts with the newest and decrypts with any; payloads
sealed under the single ``CODEC_KEY`` (its derived id) still decode once ``CODEC_KEYS`` names a newer key; bad
entries are refused naming the entry, never printing the key."""

from __future__ import annotations

import asyncio
import base64
import os

import pytest
from cryptography.exceptions import InvalidTag
from pydantic import ValidationError
from temporalio.api.common.v1 import Payload

from workers.settings import PrivacySettings
from workflows.codec import AesGcmCodec, CodecKeyMismatch, codec_from_key

PLAIN = Payload(metadata={"encoding": b"json/plain"}, data=b'{"notes":"kestrel"}')


def _key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def _sealed(codec: AesGcmCodec | None) -> list[Payload]:
    assert codec is not None
    return asyncio.run(codec.encode([PLAIN]))


def test_rotation_encrypts_with_the_newest_and_decrypts_with_every_key() -> None:
    old_single, k1, k2 = _key(), _key(), _key()
    before = _sealed(codec_from_key(old_single))  # a deployment with CODEC_KEY only
    first = PrivacySettings(codec_key=old_single, codec_keys=f"2026a:{k1}").codec()
    under_first = _sealed(first)
    assert under_first[0].metadata["encryption-key-id"] == b"2026a"
    rotated = PrivacySettings(codec_key=old_single, codec_keys=f" 2026b:{k2} , 2026a:{k1}").codec()
    assert rotated is not None
    under_second = _sealed(rotated)
    assert under_second[0].metadata["encryption-key-id"] == b"2026b"
    assert rotated.key_ids[0] == b"2026b" and len(rotated.key_ids) == 3
    assert asyncio.run(rotated.decode([*before, *under_first, *under_second, PLAIN])) == [PLAIN] * 4
    assert first is not None
    with pytest.raises(CodecKeyMismatch, match=r"2026b.*CODEC_KEYS"):  # a process not yet given the newest key
        asyncio.run(first.decode(under_second))


def test_a_dropped_key_no_longer_decodes() -> None:
    k1, k2 = _key(), _key()
    old = _sealed(PrivacySettings(codec_keys=f"a:{k1}").codec())
    only_new = PrivacySettings(codec_keys=f"b:{k2}").codec()
    assert only_new is not None
    with pytest.raises(CodecKeyMismatch, match="under codec key a"):
        asyncio.run(only_new.decode(old))


def test_the_same_id_under_another_key_cannot_open_the_payload() -> None:
    sealed = _sealed(PrivacySettings(codec_keys=f"k:{_key()}").codec())
    impostor = PrivacySettings(codec_keys=f"k:{_key()}").codec()
    assert impostor is not None
    with pytest.raises(InvalidTag):  # AES-GCM's tag check, never a wrong plaintext
        asyncio.run(impostor.decode(sealed))


@pytest.mark.parametrize(
    ("keys", "rule"),
    [
        ("no-colon-here", "entry 1 must be '<id>:<base64 key>'"),
        (f"ok:{base64.b64encode(bytes(range(32))).decode()},bad id:AAAA", "entry 2 must be"),
        ("short:" + base64.b64encode(b"16 bytes only!!!").decode(), r"entry 1 \(short\).*got 16 bytes"),
        ("nob64:@@@@", r"entry 1 \(nob64\): must be base64"),
        ("x:{k},x:{k2}", "given twice"),
    ],
)
def test_bad_codec_keys_are_refused_naming_the_entry(keys: str, rule: str) -> None:
    keys = keys.format(k=_key(), k2=_key())
    with pytest.raises(ValidationError, match=rule) as caught:
        PrivacySettings(codec_keys=keys)
    secrets = [entry.partition(":")[2] for entry in keys.split(",") if len(entry.partition(":")[2]) > 8]
    assert not [secret for secret in secrets if secret in str(caught.value)]  # a key is never printed back


def test_a_key_id_outside_the_pattern_is_refused() -> None:
    with pytest.raises(ValueError, match="key id must match"):
        AesGcmCodec(os.urandom(32), b"with space")
