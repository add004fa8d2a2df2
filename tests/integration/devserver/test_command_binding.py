"""A command id is bound to its relationship, actor and payload, through the real workflow: a re-send with other
content is refused (CommandIdConflict) instead of answered with the first command's result, and nothing is appended.
The binding survives continue-as-new."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest

from domain import builtin_policy
from tests.integration.devserver.conftest import MANAGER, MENTEE, MENTOR, World, command
from workflows.models import CommandIdConflict, Limits


async def test_a_re_sent_command_id_with_other_content_is_refused(world: World) -> None:
    rid, began = await world.propose_in_trial()
    command_id = str(uuid.uuid4())
    first = await world.meeting(rid, began, command_id)
    assert first.fingerprint is not None
    assert (await world.meeting(rid, began, command_id)).first_seq == first.first_seq  # the same command: its result

    with pytest.raises(CommandIdConflict, match="already used for another command"):
        await world.meeting(rid, began + timedelta(minutes=1), command_id)  # other payload
    other_actor = command("LogMeeting", MENTEE, command_id, held_at=began.isoformat())
    with pytest.raises(CommandIdConflict):
        await world.client.send(rid, other_actor)
    state = await world.client.state(rid)
    assert state.seq == first.last_seq and state.meetings == 1


async def test_a_stranger_cannot_read_a_relationship_through_its_proposal_id(world: World) -> None:
    """Proposing with a taken relationship id *and* its proposal's command id used to return that relationship's
    result (its state, its events) to whoever asked."""
    rid, _ = await world.propose_in_trial()
    proposal_id = (await world.client.events(rid))[0].causation_id
    assert proposal_id is not None
    with pytest.raises(CommandIdConflict):
        await world.client.propose(
            program="prog-it",
            mentor="intruder",
            mentee=MENTEE.id,
            by=MANAGER,
            relationship_id=rid,
            policy=builtin_policy("mentoring-12m"),
            command_id=proposal_id,
        )


async def test_the_binding_survives_continue_as_new(world_factory: Callable[..., World]) -> None:
    world = world_factory(limits=Limits(continue_as_new_after_events=100))
    async with world.run_worker():
        rid, began = await world.propose_in_trial()
        first_id = str(uuid.uuid4())
        await world.meeting(rid, began, first_id)
        for _ in range(60):
            if (await world.client.status(rid)).run >= 1:
                break
            await world.meeting(rid, began)
        assert (await world.client.status(rid)).run >= 1, "expected a continue-as-new"
        again = await world.meeting(rid, began, first_id)  # answered from the carried records
        assert again.duplicate and again.fingerprint is not None
        with pytest.raises(CommandIdConflict):
            await world.client.send(
                rid, command("LogMeeting", MENTOR, first_id, held_at=(began + timedelta(1)).isoformat())
            )


async def test_the_cli_refuses_a_re_sent_command_id_with_other_content_with_exit_2(world: World) -> None:
    from tests.integration.devserver.test_cli import cli

    rid, began = await world.propose_in_trial()
    command_id = str(uuid.uuid4())
    await world.meeting(rid, began, command_id)
    data = json.dumps({"held_at": (began + timedelta(hours=1)).isoformat()})
    code, out, _ = await cli(
        world, "relationship", "do", rid, "log-meeting", "--by", "mentee:bo", "--data", data,
        "--command-id", command_id, "--json",
    )  # fmt: skip
    assert code == 2, out
    assert "already used for another command" in json.loads(out)["error"]
    assert (await world.client.state(rid)).meetings == 1
