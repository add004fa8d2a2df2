"""A participant reads their own sealed text opened in their own view (issue 20): ``relationship do --by ROLE:ID``
and ``relationship show --events --for-participant`` (the API's participant events take the same service call,
``MentorflowService.participant_events``) open the tokens under the reader's own keys — named in ``opened`` — and
leave the partner's sealed; an operator's view shows the envelopes as recorded."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from domain.privacy.sealed import SEALED_PREFIX, is_sealed
from projections.db import make_engine
from projections.privacy.cipher import FieldCipher
from projections.privacy.keystore import SqlKeyStore
from tests.unit.cli.test_relationship_contract import RID, FakeClient
from workers.cli import app

BO_NOTES = "bo-notes-plover-3: we talked about my move"
ANA_NOTES = "ana-notes-avocet-8: I am changing teams"


class SealingClient(FakeClient):
    """The scripted relationship behind a client that seals like ``MentorflowClient`` (its ``privacy`` cipher)."""

    def __init__(self, cipher: FieldCipher) -> None:
        super().__init__()
        self.privacy = cipher

    async def send(self, relationship_id: str, command: Any, *, with_state: bool = True) -> Any:
        return await super().send(relationship_id, self.privacy.seal_command(command), with_state=with_state)


@pytest.fixture
def sealing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[SealingClient]:
    engine = make_engine(f"sqlite:///{tmp_path / 'keys.db'}")
    client = SealingClient(FieldCipher(SqlKeyStore(engine)))

    async def connect_client(*_args: Any, **_kwargs: Any) -> SealingClient:
        return client

    monkeypatch.setattr("workers.connect.connect_client", connect_client)
    monkeypatch.setenv("MENTORFLOW_DATABASE__URL", "sqlite:////nonexistent/never-opened.db")
    yield client
    engine.dispose()


def _cli(*args: str) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["relationship", *args, "--json"])
    assert result.exit_code == 0, result.stdout + result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def _events(data: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e for e in data["events"] if e["type"] == kind]


def test_each_participant_reads_only_their_own_sealed_text_opened(sealing: SealingClient) -> None:
    _cli("propose", "--program", "prog-o", "--mentor", "ana", "--mentee", "bo", "--by", "manager:mgr-1", "--id", RID)
    for by in ("mentor:ana", "mentee:bo"):
        _cli("do", RID, "accept-match", "--by", by)
    for by in ("mentor:ana", "mentee:bo"):
        _cli("do", RID, "sign-agreement", "--by", by, "--data", '{"goals": ["g"], "cadence": "P2W"}')
    held_at = sealing.script.state.last_event_at.isoformat()
    logged = _cli("do", RID, "log-meeting", "--by", "mentee:bo", "--data",
                  json.dumps({"held_at": held_at, "notes": BO_NOTES}))  # fmt: skip
    [meeting] = _events(logged, "MeetingLogged")
    assert (meeting["payload"]["notes"], meeting["opened"]) == (BO_NOTES, ["payload.notes"])  # bo's own, opened
    hers = _cli("do", RID, "log-meeting", "--by", "mentor:ana", "--data",
                json.dumps({"held_at": held_at, "notes": ANA_NOTES}))  # fmt: skip
    assert ANA_NOTES in json.dumps(_events(hers, "MeetingLogged")) and BO_NOTES not in json.dumps(hers)

    recorded = _cli("show", RID, "--events")  # an operator: the envelopes as recorded, sealed
    assert BO_NOTES not in json.dumps(recorded) and ANA_NOTES not in json.dumps(recorded)
    assert all(is_sealed(e["payload"]["notes"]) for e in _events(recorded, "MeetingLogged"))

    for_bo = _cli("show", RID, "--events", "--for-participant", "bo")
    assert BO_NOTES in json.dumps(for_bo) and ANA_NOTES not in json.dumps(for_bo)
    mine, theirs = _events(for_bo, "MeetingLogged")
    assert mine["opened"] == ["payload.notes"] and "opened" not in theirs  # ana's notes: sealed for bo
    assert is_sealed(theirs["payload"]["notes"])

    for_ana = _cli("show", RID, "--events", "--for-participant", "ana")
    assert ANA_NOTES in json.dumps(for_ana) and BO_NOTES not in json.dumps(for_ana)
    assert SEALED_PREFIX in _events(for_ana, "MeetingLogged")[0]["payload"]["notes"]


def test_an_erased_author_reads_nothing_back(sealing: SealingClient) -> None:
    _cli("propose", "--program", "prog-o", "--mentor", "ana", "--mentee", "bo", "--by", "manager:mgr-1", "--id", RID)
    _cli("do", RID, "decline-match", "--by", "mentee:bo", "--data", json.dumps({"reason": BO_NOTES}))
    sealing.privacy.store.erase("bo")
    for_bo = _cli("show", RID, "--events", "--for-participant", "bo")
    assert BO_NOTES not in json.dumps(for_bo)  # no key of theirs left: the token stays as recorded
    assert all("opened" not in e for e in for_bo["events"])
