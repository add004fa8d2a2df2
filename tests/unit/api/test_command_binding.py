"""A command id names one command: a re-send with the same content gets the first result, any other content
(another relationship, actor or payload) is refused instead of being answered with someone else's result."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from domain import Actor, RelationshipState, Role, builtin_policy, command_adapter, execute
from workflows.models import CommandIdConflict, CommandResult, check_binding, command_fingerprint

NOW = datetime(2026, 3, 1, tzinfo=UTC)
MANAGER = Actor(id="mgr", role=Role.MANAGER)


def _command(type_: str, command_id: str = "c-1", actor: Actor = MANAGER, **fields: Any) -> Any:
    return command_adapter().validate_python(
        {"type": type_, "command_id": command_id, "actor": actor.model_dump(mode="json"), **fields}
    )


def _propose(rid: str = "r1", command_id: str = "c-1", mentor: str = "ana", actor: Actor = MANAGER) -> Any:
    return _command(
        "ProposeRelationship",
        command_id,
        actor,
        relationship_id=rid,
        program_id="p",
        mentor_id=mentor,
        mentee_id="bo",
        policy=builtin_policy("demo").model_dump(mode="json"),
    )


def _result(command: Any, *, fingerprint: bool = True) -> CommandResult:
    state, events = execute(RelationshipState.new(command.relationship_id), command, NOW, lambda: str(uuid.uuid4()))
    return CommandResult(
        command_id=command.command_id,
        relationship_id=state.relationship_id,
        first_seq=1,
        last_seq=state.seq,
        events=events,
        state=state,
        fingerprint=command_fingerprint(command) if fingerprint else None,
    )


def test_the_fingerprint_ignores_the_id_and_sees_everything_else() -> None:
    base = command_fingerprint(_propose())
    assert command_fingerprint(_propose(command_id="c-2")) == base
    assert command_fingerprint(_propose(rid="r2")) != base
    assert command_fingerprint(_propose(mentor="zed")) != base
    assert command_fingerprint(_propose(actor=Actor(id="mgr-2", role=Role.MANAGER))) != base


@pytest.mark.parametrize("fingerprint", [True, False], ids=["fingerprinted", "before-fingerprints"])
def test_the_same_command_again_gets_its_result(fingerprint: bool) -> None:
    result = _result(_propose(), fingerprint=fingerprint)
    assert check_binding(_propose(), result) is result


@pytest.mark.parametrize(
    "other",
    [
        _propose(rid="r2"),
        _propose(mentor="zed"),
        _propose(actor=Actor(id="mgr-2", role=Role.MANAGER)),
        _command("Terminate", reason_code="conduct"),
    ],
    ids=["other relationship", "other payload", "other actor", "other command"],
)
def test_the_same_id_with_other_content_is_refused(other: Any) -> None:
    with pytest.raises(CommandIdConflict, match="c-1 was already used for another command"):
        check_binding(other, _result(_propose()))


def test_before_fingerprints_the_envelopes_still_bind_the_actor() -> None:
    result = _result(_propose(), fingerprint=False)
    with pytest.raises(CommandIdConflict):
        check_binding(_propose(actor=Actor(id="zed", role=Role.MENTOR), mentor="zed"), result)
