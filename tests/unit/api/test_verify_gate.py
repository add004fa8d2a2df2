"""Verify over HTTP is a bounded job: a per-caller rate limit (429 with Retry-After), a timeout (503 naming it), and
the caps reported in every answer."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.exceptions import HTTPException

from api.app import create_app
from api.auth import ApiRole, Principal
from api.verify_gate import VERIFY_CALLS_PER_MINUTE, VERIFY_TIMEOUT_SECONDS, VerifyGate
from tests.unit.api.conftest import TOKENS, bearer, propose
from tests.unit.api.memory_backend import MemoryBackend


class SlowVerifyBackend(MemoryBackend):
    """Verification that never finishes in time (a whole-topic scan on a big topic)."""

    async def verify(self, relationship_id: str | None, program: str | None = None) -> dict[str, Any]:
        await asyncio.sleep(3600)
        return {}


def test_each_answer_reports_the_caps(client: TestClient) -> None:
    propose(client, "r1")
    body = client.get("/relationships/r1/verify", headers=bearer("t-auditor")).json()
    assert body["ok"] is True
    assert body["limits"] == {"calls_per_minute": VERIFY_CALLS_PER_MINUTE, "timeout_seconds": VERIFY_TIMEOUT_SECONDS}


def test_a_caller_beyond_the_rate_gets_429_and_others_do_not(client: TestClient) -> None:
    propose(client, "r1")
    for _ in range(VERIFY_CALLS_PER_MINUTE):
        assert client.get("/verify", headers=bearer("t-auditor")).status_code == 200
    refused = client.get("/relationships/r1/verify", headers=bearer("t-auditor"))
    assert refused.status_code == 429, refused.text
    assert int(refused.headers["Retry-After"]) >= 1
    error = refused.json()["error"]
    assert error["type"] == "TooManyRequests"
    assert "VERIFY_CALLS_PER_MINUTE" in error["message"]
    assert client.get("/verify", headers=bearer("t-manager")).status_code == 200  # another caller


def test_the_window_slides() -> None:
    now = [1000.0]
    gate = VerifyGate(calls_per_minute=2, clock=lambda: now[0])
    caller = Principal(role=ApiRole.AUDITOR, name="auditor")
    gate.admit(caller)
    now[0] += 30
    gate.admit(caller)
    with pytest.raises(HTTPException) as refused:
        gate.admit(caller)
    assert refused.value.status_code == 429
    assert refused.value.headers == {"Retry-After": "30"}
    now[0] += 30.5  # the first call left the window
    gate.admit(caller)


def test_a_verification_beyond_the_timeout_is_abandoned_with_503() -> None:
    backend = SlowVerifyBackend()
    app = create_app(backend, TOKENS)
    app.state.verify_gate = VerifyGate(timeout_seconds=0.2)
    with TestClient(app, raise_server_exceptions=False) as client:
        propose(client, "r1")
        response = client.get("/verify", headers=bearer("t-auditor"))
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert "VERIFY_TIMEOUT_SECONDS" in error["message"]
    assert "mentorflow audit verify --all" in error["message"]
