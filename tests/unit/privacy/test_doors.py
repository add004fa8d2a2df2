"""The doors of erasure and access: the CLI and the HTTP API, with hostile input. Bad input is exit 2 / 422 naming
the field, a refused role exit 3 / 403, an unknown person exit 4 / 404 — and nothing changes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from domain.privacy.sealed import ERASED
from service.privacy import PrivacyService
from tests.unit.api.conftest import TOKENS, bearer
from tests.unit.api.memory_backend import MemoryBackend
from tests.unit.privacy.conftest import NOTES, Program
from workers.cli import app


def _cli(*args: str) -> tuple[int, str]:
    """Exit code and stdout + stderr (for the messages)."""
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "2000"})
    return result.exit_code, result.stdout + result.stderr


def _cli_json(*args: str) -> tuple[int, Any]:
    """Exit code and the JSON on stdout (stderr may carry other processes' log lines)."""
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "2000"})
    return result.exit_code, json.loads(result.stdout)


def _ledger(program: Program) -> int:
    from sqlalchemy import func, select

    from projections.privacy.keystore import ERASURES

    with program.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(ERASURES)).scalar_one())


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["--by", "mentee:bo"], 3, "allowed for manager or platform only"),
        (["--by", "auditor:x"], 3, "not for the auditor role"),
        (["--by", "manager"], 2, "--by"),
        (["--by", "manager:"], 2, "--by"),
        (["--by", "manager:pm", "--reason", "she asked me on Tuesday"], 2, "reason"),
        (["--by", "manager:pm/../root"], 2, "by:"),
    ],
)
def test_cli_refuses_bad_erasures_and_changes_nothing(
    unchanged_program_file: tuple[str, Program], args: list[str], code: int, says: str
) -> None:
    url, program = unchanged_program_file
    exit_code, out = _cli("privacy", "erase", "bo", "--database-url", url, *args)
    assert exit_code == code and says in out and "Traceback" not in out
    assert _ledger(program) == 0 and program.store.key_ids_of("bo")


def test_cli_erases_once_then_says_nothing_is_left_and_export_shows_erased(program_file: tuple[str, Program]) -> None:
    url, program = program_file
    code, data = _cli_json("privacy", "export", "bo", "--database-url", url)
    assert code == 0 and NOTES in [m["notes"] for m in data["authored"]["meetings"]]
    code, data = _cli_json(
        "privacy", "erase", "bo", "--by", "manager:pm-1", "--reason", "gdpr-art17", "--json", "--database-url", url
    )
    assert code == 0 and data["erased"] is True
    code, out = _cli("privacy", "erase", "bo", "--by", "manager:pm-1", "--database-url", url)
    assert code == 0 and "nothing to erase" in out and _ledger(program) == 1
    code, exported = _cli_json("privacy", "export", "bo", "--database-url", url)
    assert NOTES not in json.dumps(exported) and {m["notes"] for m in exported["authored"]["meetings"]} == {ERASED}
    assert exported["erasures"][0]["reason_code"] == "gdpr-art17" and exported["keys_held"] == 0
    code, data = _cli_json("privacy", "erase", "nobody", "--by", "manager:pm-1", "--json", "--database-url", url)
    assert code == 4 and data["exit_code"] == 4
    code, data = _cli_json("privacy", "ledger", "--json", "--database-url", url)
    assert code == 0 and data["ok"] and [r["person_id"] for r in data["rows"]] == ["bo"]
    from sqlalchemy import update

    from projections.privacy.keystore import ERASURES

    with program.engine.begin() as conn:
        conn.execute(update(ERASURES).values(reason_code="edited"))
    code, out = _cli("privacy", "ledger", "--database-url", url)
    assert code == 1 and "BROKEN" in out and "row 1" in out


@pytest.fixture(scope="module")
def refusing_api(unchanged_program_file: tuple[str, Program]) -> Iterator[tuple[TestClient, Program]]:
    yield from _api(unchanged_program_file)


@pytest.fixture
def api(program_file: tuple[str, Program]) -> Iterator[tuple[TestClient, Program]]:
    yield from _api(program_file)


def _api(program_file: tuple[str, Program]) -> Iterator[tuple[TestClient, Program]]:
    from api.app import create_app

    url, program = program_file
    with TestClient(
        create_app(MemoryBackend(), TOKENS, privacy=PrivacyService(url)), raise_server_exceptions=False
    ) as client:
        yield client, program


@pytest.mark.parametrize(
    ("token", "path", "body", "status"),
    [
        ("t-mentee", "/privacy/persons/bo/erase", None, 403),
        ("t-auditor", "/privacy/persons/bo/erase", None, 403),
        (None, "/privacy/persons/bo/erase", None, 401),
        ("t-manager", "/privacy/persons/bo/erase", {"reason": "free text here"}, 422),
        ("t-manager", "/privacy/persons/bo/erase", {"reason": "ok", "extra": 1}, 422),
        ("t-manager", "/privacy/persons/bo/erase", [1, 2], 422),
        ("t-manager", "/privacy/persons/b%00o/erase", None, 422),
        ("t-manager", "/privacy/persons/" + "x" * 300 + "/erase", None, 422),
        ("t-manager", "/privacy/persons/nobody/erase", None, 404),
    ],
)
def test_api_refuses_bad_erasures_and_changes_nothing(
    refusing_api: tuple[TestClient, Program], token: str | None, path: str, body: object, status: int
) -> None:
    client, program = refusing_api
    response = client.post(path, json=body, headers=bearer(token))
    assert response.status_code == status, response.text
    assert "error" in response.json()
    assert _ledger(program) == 0 and program.store.key_ids_of("bo")


def test_api_erases_and_exports(api: tuple[TestClient, Program]) -> None:
    client, _ = api
    assert client.get("/privacy/persons/bo/export", headers=bearer("t-mentee")).status_code == 403  # eli ≠ bo
    before = client.get("/privacy/persons/bo/export", headers=bearer("t-manager"))
    assert before.status_code == 200 and NOTES in before.text
    erased = client.post("/privacy/persons/bo/erase", json={"reason": "gdpr-art17"}, headers=bearer("t-platform"))
    assert erased.status_code == 200 and erased.json()["erased"] is True and erased.json()["keys_erased"] == 1
    again = client.post("/privacy/persons/bo/erase", headers=bearer("t-manager"))
    assert again.status_code == 200 and again.json()["erased"] is False
    after = client.get("/privacy/persons/bo/export", headers=bearer("t-manager"))
    assert NOTES not in after.text and ERASED in after.text


def test_a_participant_exports_their_own_data(unchanged_program_file: tuple[str, Program]) -> None:
    from api.app import create_app

    url, _ = unchanged_program_file
    tokens = {**TOKENS, "bo-token-" + "x" * 24: "participant:bo"}
    with TestClient(create_app(MemoryBackend(), tokens, privacy=PrivacyService(url))) as client:
        own = client.get("/privacy/persons/bo/export", headers={"Authorization": "Bearer bo-token-" + "x" * 24})
        assert own.status_code == 200 and NOTES in own.text


def test_cli_retention_is_off_without_a_period_and_lists_before_it_erases(
    unchanged_program_file: tuple[str, Program],
) -> None:
    url, program = unchanged_program_file
    code, out = _cli("privacy", "retention", "--keep-days", "0", "--database-url", url)
    assert code == 2 and "retention is off" in out
    code, out = _cli("privacy", "retention", "--keep-days", "-3", "--database-url", url)
    assert code == 2 and "keep_days" in out
    code, data = _cli_json("privacy", "retention", "--keep-days", "1", "--dry-run", "--json", "--database-url", url)
    assert code == 0 and "bo" in data["due"]  # the scripted relationships closed in 2026
    assert _ledger(program) == 0 and program.store.key_ids_of("bo")
