"""``POST /codec/decode`` and ``POST /codec/encode``: the payload codec (workflows/codec.py) served to the Temporal UI
and CLI (their "codec endpoint", docs/privacy.md "Temporal payloads").

The protocol is the Temporal codec server's: a ``Payloads`` message in protobuf JSON in, the same out —
``{"payloads": [{"metadata": {"<key>": "<base64>"}, "data": "<base64>"}]}``; the UI adds ``X-Namespace`` (one
deployment, one namespace: not consulted) and, when it is configured to, the user's access token as
``Authorization: Bearer``. Decoding shows what the codec hides, so only auditor and platform tokens may; encoding
(the UI sending a signal or starting a workflow) only platform tokens: an auditor never writes.

Opt-in, for a developer's machine: the local dev server's UI, which has no login and so no token, may decode from
a loopback address (:func:`from_the_local_ui`). Off (404, as any unknown path) without a codec key. The browser
calls from the UI's origin: :class:`CodecCors` answers the preflight and marks the answers for the configured
origins, on ``/codec/`` only. Request size: the API's body limit (api/body_limit.py); payloads per request:
:data:`MAX_CODEC_PAYLOADS`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Annotated, Any

from cryptography.exceptions import InvalidTag
from fastapi import APIRouter, Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials
from google.protobuf.message import DecodeError
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from api.auth import ApiRole, require
from api.deps import CallerDep, bearer_scheme, get_caller
from api.errors import ApiError, ErrorBody

__all__ = [
    "DECODERS",
    "DEFAULT_UI_ORIGINS",
    "ENCODERS",
    "MAX_CODEC_PAYLOADS",
    "CodecCors",
    "from_the_local_ui",
    "router",
]

router = APIRouter(prefix="/codec", tags=["codec"])
DECODERS = (ApiRole.PLATFORM, ApiRole.AUDITOR)
ENCODERS = (ApiRole.PLATFORM,)
MAX_CODEC_PAYLOADS = 1000
"""Payloads in one request (the UI sends one event's or one page's worth)."""
DEFAULT_UI_ORIGINS = ("http://127.0.0.1:8233", "http://localhost:8233")
"""The local dev server's UI (``mentorflow services up``), under both names a browser may use."""
PREFIX = "/codec/"
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "missing or unknown bearer token"},
    403: {"model": ErrorBody, "description": "the token's role may not do this"},
    404: {"model": ErrorBody, "description": "no codec key is configured on this server"},
    422: {"model": ErrorBody, "description": "a malformed body, or a payload this server's key cannot open"},
}


def _base64(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{what} must be standard base64") from None


class JsonPayload(BaseModel):
    """One ``temporal.api.common.v1.Payload`` in protobuf JSON: bytes as base64."""

    model_config = ConfigDict(extra="ignore")

    metadata: dict[str, str] = Field(default_factory=dict, max_length=64)
    data: str = ""

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: dict[str, str]) -> dict[str, str]:
        for key, text in value.items():
            _base64(text, f"metadata[{key!r}]")
        return value

    @field_validator("data")
    @classmethod
    def _data(cls, value: str) -> str:
        _base64(value, "data")
        return value

    def to_proto(self) -> Payload:
        metadata = {key: base64.b64decode(text) for key, text in self.metadata.items()}
        return Payload(metadata=metadata, data=base64.b64decode(self.data))

    @classmethod
    def of(cls, payload: Payload) -> JsonPayload:
        metadata = {key: base64.b64encode(value).decode() for key, value in payload.metadata.items()}
        return cls(metadata=metadata, data=base64.b64encode(payload.data).decode())


class JsonPayloads(BaseModel):
    """``temporal.api.common.v1.Payloads`` in protobuf JSON."""

    model_config = ConfigDict(extra="ignore")

    payloads: list[JsonPayload] = Field(default_factory=list, max_length=MAX_CODEC_PAYLOADS)


def _codec(request: Request) -> PayloadCodec:
    codec: PayloadCodec | None = request.app.state.codec
    if codec is None:
        raise ApiError(404, "NotFound", "no payload codec here: MENTORFLOW_PRIVACY__CODEC_KEY is not set")
    return codec


async def _each(body: JsonPayloads, codec: PayloadCodec, *, decode: bool) -> JsonPayloads:
    """Payload by payload, so a refusal names the one the key cannot open (a 422, never a 500)."""
    out = []
    for index, item in enumerate(body.payloads):
        try:
            payload = item.to_proto()
            done = await (codec.decode([payload]) if decode else codec.encode([payload]))
        except (ValueError, InvalidTag, DecodeError) as exc:  # CodecKeyMismatch, altered data, a cut protobuf
            field = f"body.payloads.{index}"
            rule = str(exc) or "this server's codec key cannot open it (another key, or altered data)"
            raise ApiError(422, "ValidationError", f"{field}: {rule}", field=field) from None
        out.append(JsonPayload.of(done[0]))
    return JsonPayloads(payloads=out)


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1"})


def from_the_local_ui(request: Request) -> bool:
    """A decode call the deployment lets through without a token (``MENTORFLOW_PRIVACY__CODEC_LOCAL_UI``, off by
    default): the local dev server's UI has no login, so it has no token to pass. Only from a loopback address, only
    with the ``Origin`` of a configured UI (a web page elsewhere cannot claim it: browsers set it), and never for
    encoding. Anyone with a shell on the machine can decode then: for a developer's own machine, not a server."""
    if not request.app.state.codec_local_ui or request.client is None:
        return False
    return request.client.host in LOOPBACK_HOSTS and request.headers.get("origin") in request.app.state.codec_origins


def _decoder(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)]
) -> None:
    """Auditor and platform tokens decode; without a token, the local UI where the deployment allows it."""
    if credentials is None and "authorization" not in request.headers and from_the_local_ui(request):
        return
    require(get_caller(request, credentials), *DECODERS, operation="decoding payloads")


@router.post("/decode", summary="Decode payloads (Temporal UI codec server)", responses=_ERRORS)
async def decode(body: JsonPayloads, request: Request, _: Annotated[None, Depends(_decoder)]) -> JsonPayloads:
    return await _each(body, _codec(request), decode=True)


@router.post("/encode", summary="Encode payloads (Temporal UI codec server)", responses=_ERRORS)
async def encode(body: JsonPayloads, caller: CallerDep, request: Request) -> JsonPayloads:
    require(caller, *ENCODERS, operation="encoding payloads")
    return await _each(body, _codec(request), decode=False)


class CodecCors:
    """CORS for the Temporal UI's origins on ``/codec/…`` only (the rest of the API is not called from a browser on
    another origin): the preflight ``OPTIONS`` is answered, and answers — errors included — carry
    ``Access-Control-Allow-Origin`` for a listed origin. ``X-Namespace`` and ``Authorization`` may be sent."""

    def __init__(self, app: ASGIApp, origins: Sequence[str] = DEFAULT_UI_ORIGINS) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=list(origins),
            allow_methods=["POST"],
            allow_headers=["Authorization", "Content-Type", "X-Namespace"],
            allow_credentials=True,
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and str(scope.get("path", "")).startswith(PREFIX):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
