"""The JSON contract of ``mentorflow relationship propose | do | show | list --json`` and their exit codes, pinned:
scripts rely on these exact keys (add keys, never rename). Whatever stands between the CLI and Temporal (the client,
the service layer), the output is this.

A fake stands in for the Temporal client (unit tier); it answers with the real models, built by the pure core."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from domain import DomainError, IllegalTransition, RelationshipNotFound
from domain.scripting import Script
from workers.cli import app
from workflows.client import RelationshipBusy, RelationshipSummary
from workflows.models import (
    CommandIdConflict,
    CommandResult,
    EventsPage,
    StateView,
    WorkflowStatus,
    command_fingerprint,
)

RID = "rel-contract-1"
RESULT_KEYS = {"ok", "relationship_id", "command_id", "duplicate", "first_seq", "last_seq", "events", "state"}
ENVELOPE_KEYS = {
    "actor",
    "causation_id",
    "event_id",
    "hash",
    "occurred_at",
    "payload",
    "prev_hash",
    "program_id",
    "relationship_id",
    "schema_version",
    "seq",
    "type",
}


class FakeClient:
    """Answers like MentorflowClient, from a scripted relationship; ``error`` makes every call raise it."""

    def __init__(self) -> None:
        self.script = Script(RID)
        self.error: BaseException | None = None
        self.state_error: BaseException | None = None  # only the state query fails (after a committed command)
        self.calls: list[str] = []

    def _check(self, name: str) -> None:
        self.calls.append(name)
        if self.error is not None:
            raise self.error

    def _result(self, command: Any, appended: list[Any], with_state: bool) -> CommandResult:
        """As the workflow answers since slim-command-result: the view; the whole state only ``with_state``."""
        return CommandResult(
            command_id=command.command_id,
            relationship_id=RID,
            first_seq=appended[0].seq,
            last_seq=appended[-1].seq,
            events=appended,
            state=self.script.state if with_state else None,
            view=StateView.of(self.script.state),
            fingerprint=command_fingerprint(command),
        )

    async def propose(self, command: Any, *, with_state: bool = True) -> CommandResult:
        self._check("propose")
        return self._result(command, self.script.execute(command), with_state)

    async def send(self, relationship_id: str, command: Any, *, with_state: bool = True) -> CommandResult:
        self._check("send")
        return self._result(command, self.script.execute(command), with_state)

    async def state(self, relationship_id: str) -> Any:
        self._check("state")
        if self.state_error is not None:
            raise self.state_error
        return self.script.state

    async def status(self, relationship_id: str) -> WorkflowStatus:
        self._check("status")
        s = self.script.state
        return WorkflowStatus(
            relationship_id=RID,
            seq=s.seq,
            published_through=s.seq,
            outbox=0,
            notifications=0,
            commands_remembered=len(self.script.log),
            run=0,
            closed=False,
        )

    async def events_page(self, relationship_id: str, after_seq: int = 0) -> EventsPage:
        self._check("events_page")
        return EventsPage(events=self.script.log, first_available_seq=1, last_seq=self.script.state.seq)

    async def list(self, *args: Any, **kwargs: Any) -> list[RelationshipSummary]:
        self._check("list")
        s = self.script.state
        return [
            RelationshipSummary(
                relationship_id=RID,
                workflow_status="running",
                program=s.program_id,
                stage=s.stage.value,
                substate=s.substate.value,
                health=s.health.value,
            )
        ]


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeClient]:
    client = FakeClient()

    async def connect_client(*_args: Any, **_kwargs: Any) -> FakeClient:
        return client

    monkeypatch.setattr("workers.connect.connect_client", connect_client)
    monkeypatch.setenv("MENTORFLOW_DATABASE__URL", "sqlite:////nonexistent/never-opened.db")
    yield client


def _cli(*args: str) -> tuple[int, Any]:
    result = CliRunner().invoke(app, ["relationship", *args, "--json"])
    return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else result.stderr


def _propose() -> tuple[int, Any]:
    return _cli(
        "propose", "--program", "prog-c", "--mentor", "ana", "--mentee", "bo", "--by", "manager:mgr-1",
        "--id", RID, "--command-id", "cmd-propose",
    )  # fmt: skip


def test_propose_and_do_print_the_command_result_keys(fake: FakeClient) -> None:
    code, out = _propose()
    assert code == 0, out
    assert set(out) == RESULT_KEYS
    assert (out["ok"], out["relationship_id"], out["command_id"], out["duplicate"]) == (True, RID, "cmd-propose", False)
    assert (out["first_seq"], out["last_seq"]) == (1, len(out["events"]))
    assert all(set(e) >= ENVELOPE_KEYS for e in out["events"])
    assert out["state"]["relationship_id"] == RID and out["state"]["substate"] == "proposed"

    code, out = _cli("do", RID, "accept-match", "--by", "mentor:ana", "--command-id", "cmd-accept")
    assert code == 0, out
    assert set(out) == RESULT_KEYS
    assert out["command_id"] == "cmd-accept" and [e["type"] for e in out["events"]] == ["MatchAccepted"]
    assert out["first_seq"] == out["last_seq"] == out["state"]["seq"]
    # the workflow answers with the view only: the CLI's whole state is a query after each command
    assert fake.calls == ["propose", "state", "send", "state"]


def test_show_prints_the_state_and_publishing_and_with_events_the_events(fake: FakeClient) -> None:
    assert _propose()[0] == 0
    code, out = _cli("show", RID)
    assert code == 0, out
    assert set(out) == {"state", "publishing"}
    assert set(out["publishing"]) == set(WorkflowStatus.model_fields)
    assert out["state"]["substate"] == "proposed" and out["publishing"]["seq"] == out["state"]["seq"]
    code, out = _cli("show", RID, "--events")
    assert code == 0, out
    assert set(out) == {"state", "publishing", "events"}
    assert [e["seq"] for e in out["events"]] == list(range(1, out["state"]["seq"] + 1))


def test_list_prints_one_row_per_relationship_with_the_summary_keys(fake: FakeClient) -> None:
    assert _propose()[0] == 0
    code, out = _cli("list", "--program", "prog-c")
    assert code == 0, out
    assert isinstance(out, list) and len(out) == 1
    assert set(out[0]) == set(RelationshipSummary.model_fields)
    assert (out[0]["relationship_id"], out[0]["workflow_status"], out[0]["substate"]) == (RID, "running", "proposed")


@pytest.mark.parametrize(
    ("error", "code", "words"),
    [
        (IllegalTransition("not allowed in stage closed/closed"), 3, "refused (IllegalTransition)"),
        (RelationshipNotFound(RID), 4, RID),
        (RelationshipBusy("busy for 30s", command_id="c", outcome_unknown=False), 5, "busy for 30s"),
        (CommandIdConflict("cmd-x"), 2, "cmd-x"),
    ],
)
def test_failures_print_ok_false_the_error_and_the_exit_code(
    fake: FakeClient, error: BaseException, code: int, words: str
) -> None:
    fake.error = error
    for args in (("do", RID, "accept-match", "--by", "mentor:ana"), ("show", RID)):
        exit_code, out = _cli(*args)
        assert exit_code == code, out
        assert set(out) == {"ok", "error", "exit_code"}
        assert (out["ok"], out["exit_code"]) == (False, code) and words in out["error"], out
    assert isinstance(error, DomainError | RelationshipNotFound | RelationshipBusy | CommandIdConflict)


def test_a_committed_command_whose_state_read_fails_is_done_not_an_error(fake: FakeClient) -> None:
    """The update returned (committed); the query for the whole state after it fails (the worker went away, Temporal
    busy). Exit 5 here would tell a script to send again, and without the same command id that applies it twice: the
    command is reported done, ``state`` null, the reason and the view beside it; the line on stderr says so."""
    assert _propose()[0] == 0
    fake.state_error = RelationshipBusy("no worker answered the query", command_id="q", outcome_unknown=False)
    code, out = _cli("do", RID, "accept-match", "--by", "mentor:ana", "--command-id", "cmd-accept")
    assert code == 0, out
    assert set(out) == RESULT_KEYS | {"state_error", "view"} and out["state"] is None
    assert out["command_id"] == "cmd-accept" and [e["type"] for e in out["events"]] == ["MatchAccepted"]
    assert "the command is applied" in out["state_error"] and "no worker answered" in out["state_error"]
    assert out["view"]["relationship_id"] == RID and out["view"]["seq"] == out["last_seq"]
    plain = CliRunner().invoke(app, ["relationship", "do", RID, "accept-match", "--by", "mentee:bo"])
    assert plain.exit_code == 0 and "accepted" in plain.stdout and "the command is applied" in plain.stderr, (
        plain.stdout + plain.stderr
    )
