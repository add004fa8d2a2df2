"""The Temporal payload codec: payloads round-trip, plain payloads (histories from before the codec) pass, another
key fails loudly, and a bad key setting is refused naming the setting."""

from __future__ import annotations

import asyncio
import base64
import os

import pytest
from pydantic import ValidationError
from temporalio.api.common.v1 import Payload

from workers.settings import PrivacySettings
from workflows.codec import ENCODING, AesGcmCodec, CodecKeyMismatch, codec_from_key

PLAIN = Payload(metadata={"encoding": b"json/plain"}, data=b'{"notes":"kestrel"}')


def test_payloads_round_trip_encrypted_and_plain_ones_pass() -> None:
    codec = AesGcmCodec(os.urandom(32))
    encoded = asyncio.run(codec.encode([PLAIN, PLAIN]))
    assert all(p.metadata["encoding"] == ENCODING and b"kestrel" not in p.data for p in encoded)
    assert encoded[0].data != encoded[1].data  # a fresh nonce each time
    assert asyncio.run(codec.decode([*encoded, PLAIN])) == [PLAIN, PLAIN, PLAIN]


def test_a_payload_under_another_key_fails_naming_the_setting() -> None:
    encoded = asyncio.run(AesGcmCodec(os.urandom(32)).encode([PLAIN]))
    with pytest.raises(CodecKeyMismatch, match="MENTORFLOW_PRIVACY__CODEC_KEY"):
        asyncio.run(AesGcmCodec(os.urandom(32)).decode(encoded))


@pytest.mark.parametrize("bad", ["not base64!", base64.b64encode(b"short").decode()])
def test_a_bad_codec_key_setting_is_refused(bad: str) -> None:
    with pytest.raises(ValidationError, match=r"codec_key|32 bytes"):
        PrivacySettings(codec_key=bad)
    assert codec_from_key("") is None
