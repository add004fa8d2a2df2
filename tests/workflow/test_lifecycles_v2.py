"""The five lifecycles of issue 13 under rules version 2 (the one test of the pinning asks for the current rules),
through the real workflow on the time-skipping server with the mentoring-12m policy: what a program manager sees
(the stage path with its triggers) and who was told what (the notification activity's log)."""

from __future__ import annotations

from typing import Any

import pytest

from domain import CURRENT_RULES_VERSION, Health, Outcome, Stage, Substate
from tests.workflow.conftest import MANAGER, MENTEE, MENTOR, Lifecycle, stage_path


@pytest.fixture
def current(lifecycle: Lifecycle) -> Lifecycle:
    lifecycle.rules_version = 2  # the rules of issue 13 (version 3 adds surveys: tests/workflow/test_surveys.py)
    return lifecycle


def told(lc: Lifecycle, kind: str) -> list[dict[str, Any]]:
    """Delivered notifications about ``kind`` (a NoticeSent's fact, or NudgeSent / EscalatedToManager)."""
    return [n for n in lc.notification_lines() if kind in (n["kind"], n["rule"])]


async def test_mentee_never_responds(current: Lifecycle) -> None:
    lc = current
    lc.rules_version = None  # the workflow pins the current rules
    await lc.propose()
    await lc.do("AcceptMatch", MENTOR)
    assert (await lc.state()).rules_version == CURRENT_RULES_VERSION
    await lc.sleep(15)
    final = await lc.wait_closed()
    assert final.outcome is Outcome.EXPIRED
    reminders = told(lc, "AcceptanceReminderSent")
    assert [r["recipients"] for r in reminders] == [[MENTEE.id]]
    assert reminders[0]["audience"] == "participants"


async def test_signs_and_never_meets(current: Lifecycle) -> None:
    lc = current
    await lc.propose()
    await lc.do("AcceptMatch", MENTOR)
    await lc.do("AcceptMatch", MENTEE)
    await lc.do("SignAgreement", MENTOR, goals=["g"], cadence="P2W")
    await lc.do("SignAgreement", MENTEE, goals=["g"], cadence="P2W")
    await lc.sleep(46)
    state = await lc.state()
    assert (state.stage, state.health) == (Stage.INITIATION, Health.RED)  # trial failed: on the at-risk list
    assert state.trial_grace_ends_at is not None
    await lc.sleep(15)
    final = await lc.wait_closed()
    assert final.outcome is Outcome.DID_NOT_START
    assert (final.close_reason or "").startswith("trial_failed")
    types = await lc.types()
    assert "TrialFailed" in types
    assert [n["recipients"] for n in told(lc, "TrialFailed")] == [[MENTOR.id, MENTEE.id]]
    assert [n["audience"] for n in told(lc, "HealthChanged")] == ["program_manager"]
    assert [n["audience"] for n in told(lc, "trial_failed")] == ["program_manager"]  # the escalation


async def test_mentor_wants_out_and_the_mentee_never_answers(current: Lifecycle) -> None:
    lc = current
    await lc.to_cultivation()
    await lc.do("ProposeSeparation", MENTOR, reason="moving abroad")
    await lc.sleep(14 + 31)  # the consent window, then contested_timeout
    state = await lc.state()
    assert (state.stage, state.substate) == (Stage.SEPARATION, Substate.WINDING_DOWN)
    events = await lc.events()
    path = stage_path(events)
    assert path[-2:] == ["separation/contested (timer)", "separation/winding_down (timer)"]
    escalations = [e for e in events if e.type == "EscalatedToManager"]
    assert len(escalations) >= 4  # contested, then weekly until the default decision
    resolved = [e for e in events if e.type == "SeparationResolved"]
    assert [(e.payload["by"], e.payload["resolution"]) for e in resolved] == [("system", "end")]
    await lc.sleep(30 + 91)
    final = await lc.wait_closed()
    assert final.outcome is Outcome.ENDED
    assert [n["recipients"] for n in told(lc, "SeparationProposed")] == [[MENTEE.id]]
    assert len(told(lc, "contested_reescalation")) == len(escalations) - 1
    assert [n["recipients"] for n in told(lc, "SeparationResolved")] == [[MENTOR.id, MENTEE.id]]


async def test_slow_start_still_enters_cultivation(current: Lifecycle) -> None:
    """Accepted day 10, signed day 49, weekly meetings: the trial ends day 94, after the 90-day give-up."""
    lc = current
    await lc.propose()
    await lc.sleep(10)
    await lc.do("AcceptMatch", MENTOR)
    await lc.do("AcceptMatch", MENTEE)
    await lc.sleep(39)
    await lc.do("SignAgreement", MENTOR, goals=["g"], cadence="P1W")
    await lc.do("SignAgreement", MENTEE, goals=["g"], cadence="P1W")
    for _ in range(6):
        await lc.sleep(7)
        await lc.meeting()
    await lc.sleep(4)  # day 95
    state = await lc.state()
    assert (state.stage, state.substate, state.health) == (Stage.CULTIVATION, Substate.ACTIVE, Health.GREEN)
    assert stage_path(await lc.events())[-1] == "cultivation/active (timer)"
    await lc.do("Terminate", MANAGER, reason_code="test_over")  # nothing left running on the shared test server
    await lc.wait_closed()


@pytest.mark.long_lifecycle
async def test_renewed_once_then_redefined_with_differing_continuing_outcomes(current: Lifecycle) -> None:
    lc = current
    await lc.to_cultivation()
    renewed = False
    while True:  # a meeting every 12 days (then the whole state says where the relationship is: term, renewals)
        await lc.sleep(12)
        await lc.meeting()
        state = await lc.state()
        if state.stage is not Stage.CULTIVATION:
            break
        ends = state.term_ends_at
        assert ends is not None and state.last_event_at is not None
        if not renewed and (ends - state.last_event_at).days < 20:
            await lc.do("RequestRenewal", MENTOR)
            await lc.do("RequestRenewal", MENTEE)
            renewed = True
    assert renewed and state.renewals == 1 and state.substate is Substate.WINDING_DOWN
    await lc.sleep(31)  # the wind-down
    await lc.do("RecordRedefinition", MENTOR, outcome="collegial")
    await lc.do("RecordRedefinition", MENTEE, outcome="friendship")
    final = await lc.wait_closed()
    assert final.outcome is Outcome.COLLEGIAL
    assert {k: v.value for k, v in final.redefinition.items()} == {MENTOR.id: "collegial", MENTEE.id: "friendship"}
    assert len(told(lc, "TermEndingSoon")) == 2  # once per term
    assert [n["recipients"] for n in told(lc, "RenewalRequested")] == [[MENTEE.id]]  # pending, until both asked


@pytest.mark.own_time_skipping_server
async def test_manager_reassigns_with_lineage_and_the_predecessor_is_checked(current: Lifecycle) -> None:
    from domain import InvalidCommand

    lc = current
    with pytest.raises(InvalidCommand, match="predecessor_id: relationship does-not-exist does not exist"):
        await lc.client.propose(
            program="prog-1", mentor=MENTOR.id, mentee=MENTEE.id, by=MANAGER, predecessor_id="does-not-exist"
        )
    await lc.propose()
    await lc.do("AcceptMatch", MENTOR)
    await lc.do("AcceptMatch", MENTEE)
    reassigned, started = await lc.client.reassign(
        lc.relationship_id, by=MANAGER, reason="no chemistry", mentor="cy", mentee=MENTEE.id, with_state=False
    )
    assert [e.type for e in reassigned.events] == ["Reassigned", "StageChanged", "RelationshipClosed"]
    assert reassigned.view.outcome is Outcome.REMATCHED
    assert reassigned.events[0].payload["successor_id"] == started.relationship_id
    proposed = started.events[0].payload
    assert (proposed["predecessor_id"], proposed["mentor_id"]) == (lc.relationship_id, "cy")
    ended = await lc.client.send(
        started.relationship_id,
        {"type": "Terminate", "command_id": "t-1", "actor": MANAGER.model_dump(mode="json"), "reason_code": "done"},
        with_state=False,
    )
    assert ended.view.outcome is Outcome.TERMINATED
