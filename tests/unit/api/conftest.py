"""An API over the in-memory backend, with one token per role."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tests.unit.api.memory_backend import MemoryBackend

TOKENS = {
    "t-platform": "platform",
    "t-manager": "manager:ana",
    "t-auditor": "auditor",
    "t-mentor": "participant:mona",
    "t-mentee": "participant:eli",
    "t-stranger": "participant:zed",
}


def bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


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
