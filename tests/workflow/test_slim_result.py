"""Issue 16 item 1, first step: a command's update result carries the relationship's view, not its whole state, into
the history (``slim-command-result``); the client reads the whole state with a query when asked (its default)."""

from __future__ import annotations

import json

from temporalio.api.enums.v1 import EventType

from domain import AcceptMatch, SignAgreement, Stage, Substate
from domain.scripting import command
from tests.workflow.conftest import MENTEE, MENTOR, Lifecycle
from workflows.client import new_command_id
from workflows.models import CommandResult, StateView
from workflows.relationship import SLIM_RESULT_PATCH, RelationshipWorkflow


async def _update_results(lc: Lifecycle) -> list[dict[str, object]]:
    """Every accepted update's result as the history holds it (the pydantic converter's JSON)."""
    history = await lc.client.handle(lc.relationship_id).fetch_history()
    results = []
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED:
            [payload] = event.workflow_execution_update_completed_event_attributes.outcome.success.payloads
            results.append(json.loads(payload.data))
    return results


async def test_the_history_holds_the_view_and_the_client_reads_the_whole_state(lifecycle: Lifecycle) -> None:
    lc = lifecycle
    await lc.propose()
    await lc.do("AcceptMatch", MENTOR)
    await lc.do("AcceptMatch", MENTEE)
    first_sign = command(SignAgreement, MENTOR, new_command_id(), goals=["public speaking"], cadence="P2W")
    whole = await lc.client.send(lc.relationship_id, first_sign)
    assert whole.state is not None and whole.state == await lc.state()  # the default: read by a query
    assert whole.view == StateView.of(whole.state) and whole.view.substate is Substate.KICKOFF_PENDING

    sign = command(SignAgreement, MENTEE, new_command_id(), goals=["promotion case"], cadence="P2W")
    slim = await lc.client.send(lc.relationship_id, sign, with_state=False)
    assert slim.state is None
    assert (slim.view.stage, slim.view.substate, slim.view.seq) == (Stage.INITIATION, Substate.TRIAL, slim.last_seq)
    assert slim.view.last_hash == slim.events[-1].hash

    recorded = await _update_results(lc)
    assert len(recorded) == 5
    for result in recorded:
        assert (
            result["state"] is None and CommandResult.model_validate(result).view.relationship_id == lc.relationship_id
        )
        # besides the envelopes it appended, a result takes under 800 bytes (the whole state took ~3 kB here)
        assert len(json.dumps(result)) - len(json.dumps(result["events"])) < 800

    history = await lc.client.handle(lc.relationship_id).fetch_history()
    markers = [
        e.marker_recorded_event_attributes for e in history.events if e.HasField("marker_recorded_event_attributes")
    ]
    assert any(SLIM_RESULT_PATCH.encode() in m.SerializeToString() for m in markers)  # the patch's marker


async def test_a_re_sent_command_answers_the_same_view_and_the_query_the_whole_state(lifecycle: Lifecycle) -> None:
    lc = lifecycle
    await lc.propose()
    accept = command(AcceptMatch, MENTOR, new_command_id())
    first = await lc.client.send(lc.relationship_id, accept, with_state=False)
    again = await lc.client.send(lc.relationship_id, accept, with_state=False)
    assert again == first and again.state is None  # Temporal answers a known update id with the recorded result
    remembered = await lc.client.handle(lc.relationship_id).query(
        RelationshipWorkflow.command_result, accept.command_id
    )
    assert remembered is not None and remembered.state is not None  # a query is not history: whole
    assert remembered.view == StateView.of(remembered.state) and remembered.last_seq == first.last_seq
