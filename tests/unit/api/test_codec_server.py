"""The codec server for the Temporal UI (``/codec/encode``, ``/codec/decode``): the protocol round trip, who may call
it, CORS for the UI's origin, off without a key, and hostile bodies — 4xx naming the field, never a 500."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.body_limit import MAX_REQUEST_BODY_BYTES
from tests.unit.api.conftest import TOKENS, bearer
from tests.unit.api.memory_backend import MemoryBackend
from workflows.codec import ENCODING, AesGcmCodec

UI = "http://localhost:8233"
PLAIN = {
    "metadata": {"encoding": base64.b64encode(b"json/plain").decode()},
    "data": base64.b64encode(b'{"mentee": "Eli"}').decode(),
}


@pytest.fixture
def codec_client() -> Iterator[TestClient]:
    app = create_app(MemoryBackend(), TOKENS, codec=AesGcmCodec(os.urandom(32)))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def _encode(client: TestClient, payloads: list[dict[str, object]]) -> list[dict[str, object]]:
    response = client.post("/codec/encode", json={"payloads": payloads}, headers=bearer("t-platform"))
    assert response.status_code == 200, response.text
    result: list[dict[str, object]] = response.json()["payloads"]
    return result


def test_encode_then_decode_gives_the_payloads_back(codec_client: TestClient) -> None:
    encoded = _encode(codec_client, [PLAIN, PLAIN])
    assert len(encoded) == 2
    assert encoded[0]["metadata"]["encoding"] == base64.b64encode(ENCODING).decode()  # type: ignore[index]
    assert b"Eli" not in base64.b64decode(str(encoded[0]["data"]))
    for token in ("t-platform", "t-auditor"):
        response = codec_client.post(
            "/codec/decode", json={"payloads": encoded}, headers={**bearer(token), "X-Namespace": "default"}
        )
        assert response.status_code == 200, response.text
        assert response.json() == {"payloads": [PLAIN, PLAIN]}


def test_a_plain_payload_decodes_as_it_is(codec_client: TestClient) -> None:
    response = codec_client.post("/codec/decode", json={"payloads": [PLAIN]}, headers=bearer("t-auditor"))
    assert response.json() == {"payloads": [PLAIN]}


@pytest.mark.parametrize(
    ("path", "token", "status"),
    [
        ("/codec/decode", None, 401),
        ("/codec/decode", "not-a-known-token-at-all-000000", 401),
        ("/codec/decode", "t-mentor", 403),
        ("/codec/decode", "t-manager", 403),
        ("/codec/encode", "t-auditor", 403),
        ("/codec/encode", "t-mentee", 403),
    ],
)
def test_only_auditors_and_platform_decode_and_only_platform_encodes(
    codec_client: TestClient, path: str, token: str | None, status: int
) -> None:
    response = codec_client.post(path, json={"payloads": [PLAIN]}, headers=bearer(token))
    assert response.status_code == status, response.text
    assert response.json()["error"]["type"] == ("Unauthorized" if status == 401 else "Forbidden")


def test_off_without_a_codec_key(client: TestClient) -> None:
    response = client.post("/codec/decode", json={"payloads": [PLAIN]}, headers=bearer("t-platform"))
    assert response.status_code == 404
    assert "CODEC_KEY" in response.json()["error"]["message"]
    preflight = client.options("/codec/decode", headers={"Origin": UI, "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in preflight.headers


def test_the_ui_origin_gets_its_preflight_and_cors_headers(codec_client: TestClient) -> None:
    preflight = codec_client.options(
        "/codec/decode",
        headers={
            "Origin": UI,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,x-namespace",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == UI
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert "x-namespace" in preflight.headers["access-control-allow-headers"].lower()
    refused = codec_client.post("/codec/decode", json={"payloads": [PLAIN]}, headers={"Origin": UI})
    assert refused.status_code == 401
    assert refused.headers["access-control-allow-origin"] == UI  # the UI can read why


def test_another_origin_gets_no_cors(codec_client: TestClient) -> None:
    evil = "http://evil.example"
    preflight = codec_client.options("/codec/decode", headers={"Origin": evil, "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers
    answer = codec_client.post(
        "/codec/decode", json={"payloads": [PLAIN]}, headers={**bearer("t-auditor"), "Origin": evil}
    )
    assert "access-control-allow-origin" not in answer.headers
    other = codec_client.get("/healthz", headers={"Origin": UI})
    assert "access-control-allow-origin" not in other.headers  # only /codec/ is for the browser


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"not json", "body"),
        (b'{"payloads": "x"}', "body.payloads"),
        (b'{"payloads": [{"data": "@@not base64@@"}]}', "body.payloads.0.data"),
        (b'{"payloads": [{"metadata": {"encoding": "%%"}, "data": ""}]}', "body.payloads.0.metadata"),
        (b'{"payloads": [{"metadata": ["a"], "data": ""}]}', "body.payloads.0.metadata"),
        (json.dumps({"payloads": [PLAIN] * 1001}).encode(), "body.payloads"),
    ],
)
def test_malformed_bodies_are_422_naming_the_field(codec_client: TestClient, body: bytes, field: str) -> None:
    response = codec_client.post(
        "/codec/decode", content=body, headers={**bearer("t-platform"), "Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"].startswith(field)


def test_a_huge_body_is_413(codec_client: TestClient) -> None:
    big = {"payloads": [{"data": base64.b64encode(b"x" * MAX_REQUEST_BODY_BYTES).decode()}]}
    response = codec_client.post("/codec/decode", json=big, headers=bearer("t-platform"))
    assert response.status_code == 413
    assert response.json()["error"]["field"] == "body"


def test_a_payload_another_key_sealed_is_422_naming_it(codec_client: TestClient) -> None:
    other = create_app(MemoryBackend(), TOKENS, codec=AesGcmCodec(os.urandom(32)))
    with TestClient(other) as other_client:
        foreign = _encode(other_client, [PLAIN])[0]
    mine = _encode(codec_client, [PLAIN])[0]
    response = codec_client.post("/codec/decode", json={"payloads": [mine, foreign]}, headers=bearer("t-auditor"))
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "body.payloads.1"
    assert "codec key" in response.json()["error"]["message"]
    tampered = dict(mine, data=base64.b64encode(base64.b64decode(str(mine["data"]))[:-1] + b"\0").decode())
    response = codec_client.post("/codec/decode", json={"payloads": [tampered]}, headers=bearer("t-auditor"))
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "body.payloads.0"


def _local_ui_app(local_ui: bool, codec: AesGcmCodec) -> object:
    return create_app(MemoryBackend(), TOKENS, codec=codec, codec_local_ui=local_ui)


@pytest.mark.parametrize(
    ("local_ui", "host", "origin", "status"),
    [
        (True, "127.0.0.1", UI, 200),  # the dev server's UI on this machine: no login, no token
        (True, "::1", UI, 200),
        (True, "10.1.2.3", UI, 401),  # another machine
        (True, "127.0.0.1", "http://evil.example", 401),  # a page of another origin in the browser
        (True, "127.0.0.1", None, 401),  # no Origin: not the UI
        (False, "127.0.0.1", UI, 401),  # the default: a token, always
    ],
)
def test_the_local_ui_decodes_without_a_token_only_where_the_deployment_allows_it(
    local_ui: bool, host: str, origin: str | None, status: int
) -> None:
    codec = AesGcmCodec(os.urandom(32))
    app = _local_ui_app(local_ui, codec)
    headers = {} if origin is None else {"Origin": origin}
    with TestClient(app, raise_server_exceptions=False, client=(host, 50000)) as client:  # type: ignore[arg-type]
        encoded = _encode(client, [PLAIN])
        response = client.post("/codec/decode", json={"payloads": encoded}, headers=headers)
        assert response.status_code == status, response.text
        if status == 200:
            assert response.json() == {"payloads": [PLAIN]}
        else:
            assert response.json()["error"]["type"] and "Eli" not in response.text
        # encoding always needs a platform token, local UI or not
        refused = client.post("/codec/encode", json={"payloads": [PLAIN]}, headers=headers)
        assert refused.status_code == 401, refused.text


def test_a_wrong_token_from_the_local_ui_is_still_refused() -> None:
    app = _local_ui_app(True, AesGcmCodec(os.urandom(32)))
    with TestClient(app, raise_server_exceptions=False, client=("127.0.0.1", 50000)) as client:  # type: ignore[arg-type]
        response = client.post(
            "/codec/decode", json={"payloads": [PLAIN]}, headers={"Origin": UI, **bearer("t-mentor")}
        )
        assert response.status_code == 403, response.text
        response = client.post("/codec/decode", json={"payloads": [PLAIN]}, headers={"Origin": UI, **bearer("nope")})
        assert response.status_code == 401, response.text
