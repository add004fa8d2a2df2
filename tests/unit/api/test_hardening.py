"""Hostile callers: a bug is a 500 that tells nothing but an error id, bad text is a 4xx naming the field, a stranger
cannot tell whether a relationship exists, and weak or example tokens never go live."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.auth import EXAMPLE_TOKENS, MIN_TOKEN_LENGTH, TokenBook, TokenConfigError
from tests.unit.api.conftest import TOKENS, bearer, propose
from tests.unit.api.memory_backend import MemoryBackend

SECRET = "postgresql://mentorflow:hunter2@db/x"  # what an exception might carry: it must never reach a caller


class BrokenBackend(MemoryBackend):
    """A backend with a bug in one read: the API must answer 500 without the exception's text."""

    async def list_relationships(self, flt: Any) -> list[dict[str, Any]]:
        raise RuntimeError(f"could not connect to {SECRET}")


class ConflictBackend(MemoryBackend):
    """A backend whose client found the command id bound to another command."""

    async def send(self, relationship_id: str, command: Any) -> Any:
        from workflows.models import CommandIdConflict

        raise CommandIdConflict(command.command_id)


def test_a_command_id_bound_to_another_command_is_409_naming_the_field() -> None:
    backend = ConflictBackend()
    with TestClient(create_app(backend, TOKENS), raise_server_exceptions=False) as client:
        propose(client, "r1")
        response = client.post(
            "/relationships/r1/commands/accept-match", json={"command_id": "c-1"}, headers=bearer("t-mentor")
        )
    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert (error["type"], error["field"]) == ("CommandIdConflict", "body.command_id")
    assert "c-1 was already used for another command" in error["message"]


def test_an_unexpected_error_is_500_with_an_error_id_that_is_in_the_log(caplog: pytest.LogCaptureFixture) -> None:
    with (
        TestClient(create_app(BrokenBackend(), TOKENS), raise_server_exceptions=False) as client,
        caplog.at_level(logging.ERROR, logger="mentorflow.api"),
    ):
        response = client.get("/relationships", headers=bearer("t-manager"))
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["type"] == "InternalError"
    assert error["message"].startswith("internal error")
    assert "hunter2" not in response.text and "RuntimeError" not in response.text
    error_id = error["error_id"]
    assert len(error_id) == 32 and error_id in error["message"]
    logged = [r for r in caplog.records if error_id in r.getMessage()]
    assert logged, "the error id is not in the log"
    assert logged[0].exc_info is not None and "hunter2" in str(logged[0].exc_info[1])


@pytest.mark.parametrize(
    ("query", "field"),
    [("program=a%00b", "query.program"), ("person=x%01", "query.person"), ("program=ok&stage=%00", "query.stage")],
)
def test_control_characters_in_the_query_are_422_naming_the_parameter(
    client: TestClient, query: str, field: str
) -> None:
    response = client.get(f"/relationships?{query}", headers=bearer("t-manager"))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field
    assert any(rule in response.json()["error"]["message"] for rule in ("control characters", "NUL"))


@pytest.mark.parametrize("text", ["x\\ud800y", "\\udfff"])
def test_a_lone_surrogate_in_text_is_422_naming_the_field(client: TestClient, text: str) -> None:
    propose(client, "r1")
    response = client.post(
        "/relationships/r1/commands/decline-match",
        content='{"reason": "' + text + '"}',
        headers={**bearer("t-mentor"), "content-type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "body.reason"
    assert "\\ud800" not in response.text


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/relationships/{rid}"),
        ("GET", "/relationships/{rid}/history"),
        ("GET", "/relationships/{rid}/verify"),
        ("GET", "/relationships/{rid}/state?at=2100-01-01T00:00:00Z"),
        ("POST", "/relationships/{rid}/commands/accept-match"),
        ("POST", "/relationships/{rid}/commands/log-meeting"),
    ],
)
def test_a_stranger_gets_the_same_404_for_an_existing_and_an_unknown_id(
    client: TestClient, method: str, path: str
) -> None:
    propose(client, "rel-taken")
    body = {"held_at": "2026-01-01T00:00:00Z"} if "log-meeting" in path else None
    existing = client.request(method, path.format(rid="rel-taken"), json=body, headers=bearer("t-stranger"))
    unknown = client.request(method, path.format(rid="rel-nobody"), json=body, headers=bearer("t-stranger"))
    assert existing.status_code == unknown.status_code == 404, (existing.text, unknown.text)
    assert existing.json() == {
        "error": {**unknown.json()["error"], "message": unknown.json()["error"]["message"].replace("nobody", "taken")}
    }


def test_proposing_a_taken_id_tells_a_participant_nothing_about_its_stage(client: TestClient) -> None:
    propose(client, "rel-taken")
    client.post("/relationships/rel-taken/commands/accept-match", headers=bearer("t-mentor"))
    body = {"relationship_id": "rel-taken", "program_id": "prog", "mentor_id": "zed", "mentee_id": "eli"}
    response = client.post("/relationships", json=body, headers=bearer("t-stranger"))
    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert error["field"] == "body.relationship_id" and "already taken" in error["message"]
    for word in ("initiation", "proposed", "kickoff", "stage", "outcome"):
        assert word not in error["message"]
    # a manager sees every relationship anyway: the rule with the stage
    managed = client.post("/relationships", json=body, headers=bearer("t-manager"))
    assert managed.status_code == 409 and "already taken" not in managed.json()["error"]["message"]


# --- tokens ------------------------------------------------------------------------------------------------------

STRONG = "s" * MIN_TOKEN_LENGTH


@pytest.mark.parametrize("token", sorted(EXAMPLE_TOKENS))
def test_the_example_tokens_are_refused(token: str) -> None:
    with pytest.raises(TokenConfigError, match="example token"):
        TokenBook({token: "manager:ana"})


def test_a_short_token_is_refused_naming_the_spec_not_the_token() -> None:
    short = "k3y-" + "x" * (MIN_TOKEN_LENGTH - 5)
    with pytest.raises(TokenConfigError) as refused:
        TokenBook({STRONG: "auditor:audit", short: "manager:ana"})
    message = str(refused.value)
    assert "'manager:ana'" in message and f"at least {MIN_TOKEN_LENGTH}" in message
    assert short not in message and STRONG not in message


@pytest.mark.parametrize("spec", ["manager", "platform", "auditor", "manager:", "participant"])
def test_every_role_spec_names_its_holder(spec: str) -> None:
    with pytest.raises(TokenConfigError, match=r"holder|person id"):
        TokenBook({STRONG: spec})


def test_two_managers_act_under_their_own_names() -> None:
    book = TokenBook({STRONG: "manager:ana", "t" * MIN_TOKEN_LENGTH: "manager:bo"})
    assert book.principal(f"Bearer {STRONG}").name == "ana"
    assert book.principal(f"Bearer {'t' * MIN_TOKEN_LENGTH}").name == "bo"


def test_create_app_refuses_weak_tokens() -> None:
    with pytest.raises(TokenConfigError):
        create_app(MemoryBackend(), {"dev-manager": "manager"})


def test_mentorflow_api_does_not_start_with_an_example_token(monkeypatch: pytest.MonkeyPatch) -> None:
    from workers.cli.app import app

    monkeypatch.setenv("MENTORFLOW_API__TOKENS", '{"dev-platform": "platform"}')
    result = CliRunner().invoke(app, ["api", "--port", "1"])
    assert result.exit_code == 2, result.output
    assert "example token" in " ".join(result.output.split())
    assert "dev-platform" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
