"""One test per role x operation: who may do what over HTTP (api/auth.py has the matrix in prose)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.unit.api.conftest import bearer, propose

ROLES = ("platform", "manager", "mentor", "stranger", "auditor", "anonymous", "bogus")
TOKEN = {
    "platform": "t-platform",
    "manager": "t-manager",
    "mentor": "t-mentor",  # participant mona, the mentor of r1
    "stranger": "t-stranger",  # participant zed, not in r1
    "auditor": "t-auditor",
    "anonymous": None,
    "bogus": "not-a-token",
}
MANAGER = {"id": "ana", "role": "manager"}
MENTOR = {"id": "mona", "role": "mentor"}


def _propose_body(role: str) -> dict[str, Any]:
    body: dict[str, Any] = {"program_id": "prog", "mentor_id": "mona", "mentee_id": "eli", "policy": "demo"}
    if role == "platform":
        body["actor"] = MANAGER
    return body


# operation -> (method, path, body factory, {role: expected status}). A participant who is not in r1 gets the 404 of
# an unknown relationship, so a stranger cannot tell whether an id exists.
OPS: dict[str, tuple[str, str, Any, dict[str, int]]] = {
    "propose": (
        "POST",
        "/relationships",
        _propose_body,
        {"platform": 201, "manager": 201, "mentor": 201, "stranger": 403, "auditor": 403},
    ),
    "participant command (accept-match)": (
        "POST",
        "/relationships/r1/commands/accept-match",
        lambda role: {"actor": MENTOR} if role == "platform" else None,
        {"platform": 200, "manager": 403, "mentor": 200, "stranger": 404, "auditor": 403},
    ),
    "manager command (terminate)": (
        "POST",
        "/relationships/r1/commands/terminate",
        lambda role: {"reason_code": "conduct", **({"actor": MANAGER} if role == "platform" else {})},
        {"platform": 200, "manager": 200, "mentor": 403, "stranger": 403, "auditor": 403},
    ),
    "show": (
        "GET",
        "/relationships/r1",
        None,
        {"platform": 200, "manager": 200, "mentor": 200, "stranger": 404, "auditor": 200},
    ),
    "list": (
        "GET",
        "/relationships",
        None,
        {"platform": 200, "manager": 200, "mentor": 200, "stranger": 200, "auditor": 200},
    ),
    "history": (
        "GET",
        "/relationships/r1/history",
        None,
        {"platform": 200, "manager": 200, "mentor": 200, "stranger": 404, "auditor": 200},
    ),
    "state at an instant": (
        "GET",
        "/relationships/r1/state?at=2100-01-01T00:00:00Z",
        None,
        {"platform": 200, "manager": 200, "mentor": 200, "stranger": 404, "auditor": 200},
    ),
    "verify one": (
        "GET",
        "/relationships/r1/verify",
        None,
        {"platform": 200, "manager": 200, "mentor": 200, "stranger": 404, "auditor": 200},
    ),
    "verify all": (
        "GET",
        "/verify",
        None,
        {"platform": 200, "manager": 200, "mentor": 403, "stranger": 403, "auditor": 200},
    ),
    "report": (
        "GET",
        "/reports/stages",
        None,
        {"platform": 200, "manager": 200, "mentor": 403, "stranger": 403, "auditor": 200},
    ),
    "dashboard data": (
        "GET",
        "/dashboard/data",
        None,
        {"platform": 200, "manager": 200, "mentor": 403, "stranger": 403, "auditor": 200},
    ),
    "dashboard programs": (
        "GET",
        "/dashboard/programs",
        None,
        {"platform": 200, "manager": 200, "mentor": 403, "stranger": 403, "auditor": 200},
    ),
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("operation", list(OPS))
def test_role_operation(client: TestClient, operation: str, role: str) -> None:
    propose(client, "r1")
    method, path, body, expected = OPS[operation]
    payload = body(role) if body else None
    response = client.request(method, path, json=payload, headers=bearer(TOKEN[role]))
    want = expected.get(role, 401)  # anonymous and bogus tokens: 401
    assert response.status_code == want, response.text
    if want >= 400:
        error = response.json()["error"]
        assert error["type"] and error["message"]
        if want == 401:
            assert error["type"] == "Unauthorized"
            assert response.headers["www-authenticate"] == "Bearer"
        if want == 403:
            assert error["type"] == "Forbidden"


def test_auditor_never_writes(client: TestClient) -> None:
    propose(client, "r1")
    paths = ["/relationships"] + [r.path for r in client.app.routes if "/commands/" in getattr(r, "path", "")]  # type: ignore[attr-defined]
    for path in paths:
        response = client.post(path.replace("{relationship_id}", "r1"), json={}, headers=bearer("t-auditor"))
        assert response.status_code == 403, (path, response.text)
        assert "never writes" in response.json()["error"]["message"]


def test_participant_acts_as_themself_with_the_role_from_the_relationship(client: TestClient) -> None:
    propose(client, "r1")
    response = client.post("/relationships/r1/commands/accept-match", headers=bearer("t-mentee"))
    assert response.status_code == 200
    actor = response.json()["events"][0]["actor"]
    assert actor == {"id": "eli", "role": "mentee"}


def test_participant_cannot_name_another_actor(client: TestClient) -> None:
    propose(client, "r1")
    response = client.post(
        "/relationships/r1/commands/accept-match",
        json={"actor": {"id": "eli", "role": "mentee"}},
        headers=bearer("t-mentor"),
    )
    assert response.status_code == 403
    assert response.json()["error"]["field"] == "body.actor"


def test_manager_cannot_act_as_a_participant(client: TestClient) -> None:
    propose(client, "r1")
    response = client.post(
        "/relationships/r1/commands/decline-match",
        json={"reason": "x", "actor": {"id": "mona", "role": "mentor"}},
        headers=bearer("t-manager"),
    )
    assert response.status_code == 403
    assert "manager cannot act as a participant" in response.json()["error"]["message"]


def test_manager_pause_is_issued_as_the_token_manager(client: TestClient, backend: Any) -> None:
    propose(client, "r1")
    response = client.post(
        "/relationships/r1/commands/terminate", json={"reason_code": "conduct"}, headers=bearer("t-manager")
    )
    assert response.status_code == 200
    assert response.json()["events"][0]["actor"] == {"id": "ana", "role": "manager"}


def test_platform_must_name_the_actor(client: TestClient) -> None:
    propose(client, "r1")
    response = client.post("/relationships/r1/commands/accept-match", headers=bearer("t-platform"))
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "body.actor"


def test_participant_lists_only_their_own(client: TestClient) -> None:
    propose(client, "r1")
    client.post(
        "/relationships",
        json={"relationship_id": "r2", "program_id": "prog", "mentor_id": "zed", "mentee_id": "kim", "policy": "demo"},
        headers=bearer("t-manager"),
    )
    mine = client.get("/relationships", headers=bearer("t-mentor")).json()["items"]
    assert [r["relationship_id"] for r in mine] == ["r1"]
    assert client.get("/relationships?person=zed", headers=bearer("t-mentor")).status_code == 403
    everyone = client.get("/relationships", headers=bearer("t-auditor")).json()["items"]
    assert {r["relationship_id"] for r in everyone} == {"r1", "r2"}
