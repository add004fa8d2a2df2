"""Domain rejections are 409/422 with the error type and the rule; unknown relationships 404; bad input 422 naming
the field; never a 500."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.unit.api.conftest import bearer, propose


def _error(response: object, status: int, type_: str) -> dict[str, str]:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    error: dict[str, str] = response.json()["error"]  # type: ignore[attr-defined]
    assert error["type"] == type_
    assert error["message"]
    return error


def test_illegal_transition_is_409_with_the_rule(client: TestClient) -> None:
    propose(client, "r1")
    response = client.post(
        "/relationships/r1/commands/sign-agreement", json={"goals": ["g"], "cadence": "P1W"}, headers=bearer("t-mentor")
    )
    error = _error(response, 409, "IllegalTransition")
    assert "SignAgreement is not allowed in stage initiation/proposed" in error["message"]


def test_closed_relationship_is_409(client: TestClient) -> None:
    propose(client, "r1")
    client.post("/relationships/r1/commands/terminate", json={"reason_code": "conduct"}, headers=bearer("t-manager"))
    response = client.post("/relationships/r1/commands/accept-match", headers=bearer("t-mentor"))
    assert "is closed" in _error(response, 409, "RelationshipClosedError")["message"]


def test_duplicate_proposal_is_409(client: TestClient) -> None:
    propose(client, "r1")
    response = client.post(
        "/relationships",
        json={"relationship_id": "r1", "program_id": "prog", "mentor_id": "mona", "mentee_id": "eli"},
        headers=bearer("t-manager"),
    )
    assert "already exists" in _error(response, 409, "IllegalTransition")["message"]


def test_invalid_command_is_422(client: TestClient) -> None:
    propose(client, "r1")
    client.post("/relationships/r1/commands/accept-match", headers=bearer("t-mentor"))
    response = client.post("/relationships/r1/commands/accept-match", headers=bearer("t-mentor"))
    assert "already accepted" in _error(response, 422, "InvalidCommand")["message"]


def test_not_a_participant_is_422(client: TestClient) -> None:
    propose(client, "r1")
    response = client.post(
        "/relationships/r1/commands/accept-match",
        json={"actor": {"id": "zed", "role": "mentor"}},
        headers=bearer("t-platform"),
    )
    _error(response, 422, "NotAParticipant")


def test_not_allowed_for_role_is_422(client: TestClient) -> None:
    propose(client, "r1")
    response = client.post(
        "/relationships/r1/commands/terminate",
        json={"reason_code": "x", "actor": {"id": "mona", "role": "mentor"}},
        headers=bearer("t-platform"),
    )
    assert "may not be issued by a mentor" in _error(response, 422, "NotAllowedForRole")["message"]


def test_unknown_policy_is_422(client: TestClient) -> None:
    response = client.post(
        "/relationships",
        json={"program_id": "p", "mentor_id": "mona", "mentee_id": "eli", "policy": "nope"},
        headers=bearer("t-manager"),
    )
    assert "known: mentoring-12m, demo" in _error(response, 422, "InvalidPolicy")["message"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/relationships/r1/commands/decline-match", {}, "body.reason"),
        ("/relationships/r1/commands/submit-check-in", {"satisfaction": 9}, "body.satisfaction"),
        ("/relationships/r1/commands/log-meeting", {"held_at": "yesterday"}, "body.held_at"),
        ("/relationships/r1/commands/log-meeting", {"held_at": "2026-01-01T10:00:00"}, "body.held_at"),
        ("/relationships/r1/commands/accept-match", {"surprise": 1}, "body.surprise"),
        ("/relationships/r1/commands/pause", {"reason": "a\x00b"}, "body.reason"),
        ("/relationships/r1/commands/terminate", {"reason_code": "Not A Code"}, "body.reason_code"),
        ("/relationships/r%20x/commands/pause", {}, "path.relationship_id"),
    ],
)
def test_bad_input_is_422_naming_the_field(client: TestClient, path: str, body: dict[str, object], field: str) -> None:
    propose(client, "r1")
    token = "t-manager" if "terminate" in path or "pause" in path else "t-mentor"
    error = _error(client.post(path, json=body, headers=bearer(token)), 422, "ValidationError")
    assert error["field"] == field
    assert field in error["message"]


def test_malformed_json_is_422(client: TestClient) -> None:
    response = client.post(
        "/relationships", content=b"{not json", headers={**bearer("t-manager"), "content-type": "application/json"}
    )
    _error(response, 422, "ValidationError")


def test_unknown_relationship_is_404(client: TestClient) -> None:
    for method, path in [
        ("GET", "/relationships/nope"),
        ("GET", "/relationships/nope/history"),
        ("GET", "/relationships/nope/verify"),
        ("GET", "/relationships/nope/state?at=2026-01-01T00:00:00Z"),
        ("POST", "/relationships/nope/commands/resume"),
    ]:
        response = client.request(method, path, headers=bearer("t-manager"))
        assert "nope" in _error(response, 404, "RelationshipNotFound")["message"]


def test_state_before_the_relationship_existed_is_404(client: TestClient) -> None:
    propose(client, "r1")
    response = client.get("/relationships/r1/state?at=2000-01-01T00:00:00Z", headers=bearer("t-auditor"))
    assert "did not exist yet" in _error(response, 404, "RelationshipNotFound")["message"]


def test_unknown_endpoint_and_method(client: TestClient) -> None:
    _error(client.get("/nope"), 404, "NotFound")
    _error(client.delete("/relationships"), 405, "MethodNotAllowed")


def test_unknown_report_is_422(client: TestClient) -> None:
    error = _error(client.get("/reports/nope", headers=bearer("t-manager")), 422, "ValidationError")
    assert error["field"] == "path.name"
