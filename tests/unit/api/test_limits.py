"""Hostile input at the HTTP boundary: every limit of domain/limits.py is a 422 naming the field and the rule
(never a 500, never an echo of the input), checked before anything reaches the backend."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.body_limit import MAX_REQUEST_BODY_BYTES
from domain.limits import (
    MAX_GOAL_TEXT_LENGTH,
    MAX_GOALS_PER_AGREEMENT,
    MAX_ID_LENGTH,
    MAX_LONG_TEXT_LENGTH,
    MAX_TEXT_LENGTH,
)
from tests.unit.api.conftest import bearer, propose
from tests.unit.api.memory_backend import MemoryBackend

SIGN = "/relationships/r1/commands/sign-agreement"


def _refused(response: Any, field: str, *needles: str) -> str:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["type"] == "ValidationError", response.text
    assert error["field"] == field, response.text
    for needle in needles:
        assert needle in error["message"], response.text
    return str(error["message"])


@pytest.mark.parametrize(
    ("path", "body", "field", "rule"),
    [
        (SIGN, {"goals": ["x" * (MAX_GOAL_TEXT_LENGTH + 1)], "cadence": "P1W"}, "body.goals", "MAX_GOAL_TEXT_LENGTH"),
        (SIGN, {"goals": ["g"] * (MAX_GOALS_PER_AGREEMENT + 1), "cadence": "P1W"}, "body.goals", "MAX_GOALS_PER"),
        (SIGN, {"goals": ["g"], "cadence": "P1W", "term": "P9000Y"}, "body.term", "MAX_DURATION"),
        (SIGN, {"goals": ["g"], "cadence": "P1W", "term": "P99999999999999999999Y"}, "body.term", "MAX_DURATION"),
        (SIGN, {"goals": ["g"], "cadence": "P2Y"}, "body.cadence", "MAX_CADENCE"),
        ("/relationships/r1/commands/decline-match", {"reason": "r" * (MAX_TEXT_LENGTH + 1)}, "body.reason", "MAX_"),
        ("/relationships/r1/commands/decline-match", {"reason": "no\x00pe"}, "body.reason", "NUL"),
        (
            "/relationships/r1/commands/log-meeting",
            {"held_at": "2026-01-01T00:00:00Z", "notes": "n" * (MAX_LONG_TEXT_LENGTH + 1)},
            "body.notes",
            "MAX_LONG_TEXT_LENGTH",
        ),
        ("/relationships/r1/commands/complete-goal", {"goal_id": "goal 1"}, "body.goal_id", "ID_PATTERN"),
    ],
)
def test_a_command_breaking_a_limit_is_422_naming_field_and_rule(
    client: TestClient, backend: MemoryBackend, path: str, body: dict[str, Any], field: str, rule: str
) -> None:
    propose(client, "r1")
    before = backend.states["r1"].seq
    response = client.post(path, json=body, headers=bearer("t-mentor"))
    message = _refused(response, field, rule)
    assert "\ud800" not in message and "\x00" not in message
    assert backend.states["r1"].seq == before  # nothing reached the relationship


def test_a_lone_surrogate_sent_as_raw_json_is_422_not_500(client: TestClient) -> None:
    propose(client, "r1")
    headers = {**bearer("t-mentor"), "content-type": "application/json"}
    response = client.post(
        "/relationships/r1/commands/decline-match", content=b'{"reason": "\\udc00"}', headers=headers
    )
    _refused(response, "body.reason", "lone surrogates")
    response = client.post(
        "/relationships/r1/commands/decline-match", content=b'{"\\ud800": 1, "reason": "x"}', headers=headers
    )
    assert response.status_code == 422, response.text


@pytest.mark.parametrize("field", ["relationship_id", "program_id", "mentor_id", "mentee_id", "predecessor_id"])
@pytest.mark.parametrize("value", ["x" * (MAX_ID_LENGTH + 1), "has space", "semi;colon", "ünï"])
def test_a_proposal_with_a_bad_id_is_422_naming_it(client: TestClient, field: str, value: str) -> None:
    body = {"relationship_id": "r9", "program_id": "prog", "mentor_id": "mona", "mentee_id": "eli", field: value}
    _refused(client.post("/relationships", json=body, headers=bearer("t-manager")), f"body.{field}", "id")


def test_a_platform_token_naming_a_bad_actor_id_is_422(client: TestClient) -> None:
    propose(client, "r1")
    response = client.post(
        "/relationships/r1/commands/accept-match",
        json={"actor": {"id": "mona\x00", "role": "mentor"}},
        headers=bearer("t-platform"),
    )
    _refused(response, "body.actor", "actor id must use only")


def test_a_relationship_id_in_the_path_beyond_the_limit_is_422(client: TestClient) -> None:
    response = client.post(
        f"/relationships/{'r' * (MAX_ID_LENGTH + 1)}/commands/accept-match", headers=bearer("t-mentor")
    )
    _refused(response, "path.relationship_id", str(MAX_ID_LENGTH))


def test_the_openapi_spec_publishes_the_limits(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    body = spec["components"]["schemas"]["SignAgreementBody"]["properties"]
    assert body["goals"]["maxItems"] == MAX_GOALS_PER_AGREEMENT
    assert body["goals"]["items"]["maxLength"] == MAX_GOAL_TEXT_LENGTH
    propose_body = spec["components"]["schemas"]["ProposeBody"]["properties"]
    assert propose_body["program_id"]["maxLength"] == MAX_ID_LENGTH


def test_a_body_over_the_limit_is_413_before_it_is_read(client: TestClient) -> None:
    propose(client, "r1")
    headers = {**bearer("t-mentor"), "content-type": "application/json"}
    big = b'{"reason": "' + b"x" * MAX_REQUEST_BODY_BYTES + b'"}'
    response = client.post("/relationships/r1/commands/decline-match", content=big, headers=headers)
    assert response.status_code == 413, response.text
    assert response.json()["error"]["type"] == "PayloadTooLarge"
    assert response.json()["error"]["field"] == "body"
    assert "MAX_REQUEST_BODY_BYTES" in response.json()["error"]["message"]


def test_json_nested_past_the_parser_is_a_4xx_naming_the_body(client: TestClient) -> None:
    """Found by the live stateful fuzzer: the JSON parser's RecursionError was a 400 naming nothing."""
    propose(client, "r1")
    headers = {**bearer("t-mentor"), "content-type": "application/json"}
    deep = b'{"reason": ' + b"[" * 5000 + b"1" + b"]" * 5000 + b"}"
    response = client.post("/relationships/r1/commands/decline-match", content=deep, headers=headers)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["type"], error["field"]) == ("BadRequest", "body"), response.text
    assert "nested too deeply" in error["message"]


def test_a_chunked_body_over_the_limit_is_413(client: TestClient) -> None:
    propose(client, "r1")
    headers = {**bearer("t-mentor"), "content-type": "application/json"}

    def chunks() -> Iterator[bytes]:
        yield b'{"reason": "'
        for _ in range(MAX_REQUEST_BODY_BYTES // 65536 + 1):
            yield b"x" * 65536
        yield b'"}'

    response = client.post("/relationships/r1/commands/decline-match", content=chunks(), headers=headers)
    assert response.status_code == 413, response.text
    assert "MAX_REQUEST_BODY_BYTES" in response.json()["error"]["message"]
