"""An API over the in-memory backend, with one token per role."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tests.unit.api.memory_backend import MemoryBackend

SPECS = {
    "t-platform": "platform:ci",
    "t-manager": "manager:ana",
    "t-auditor": "auditor:audit-team",
    "t-mentor": "participant:mona",
    "t-mentee": "participant:eli",
    "t-stranger": "participant:zed",
}
"""The tests name tokens by these labels; the API gets strong random tokens (it refuses short ones)."""
TOKEN_OF = {label: f"{label}-{secrets.token_urlsafe(24)}" for label in SPECS}
TOKENS = {TOKEN_OF[label]: spec for label, spec in SPECS.items()}


def bearer(token: str | None) -> dict[str, str]:
    """The Authorization header of a token label (``t-manager``…); any other text is sent as it is."""
    return {"Authorization": f"Bearer {TOKEN_OF.get(token, token)}"} if token else {}


@pytest.fixture
def backend() -> MemoryBackend:
    return MemoryBackend()


@pytest.fixture
def client(backend: MemoryBackend) -> Iterator[TestClient]:
    with TestClient(create_app(backend, TOKENS), raise_server_exceptions=False) as c:
        yield c


def propose(client: TestClient, rid: str, *, token: str = "t-manager", policy: str = "demo") -> None:
    response = client.post(
        "/relationships",
        json={"relationship_id": rid, "program_id": "prog", "mentor_id": "mona", "mentee_id": "eli", "policy": policy},
        headers=bearer(token),
    )
    assert response.status_code == 201, response.text
