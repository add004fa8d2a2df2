"""Whole lifecycles through the real workflow code on the time-skipping server (mentoring-12m: a year takes
seconds). Each test pins the event sequence and the final state, then checks the publishing activity received exactly
the workflow's envelopes, each once, in seq order, with a valid chain (the topic: tests/integration/devserver)."""

from __future__ import annotations

import pytest

from domain import Envelope, Health, Outcome, Stage, Substate, verify_chain
from tests.workflow.conftest import MANAGER, MENTEE, MENTOR, Lifecycle, stage_path

TO_CULTIVATION = [
    "RelationshipProposed",
    "StageChanged",  # initiation/proposed
    "MatchAccepted",
    "MatchAccepted",
    "StageChanged",  # initiation/kickoff_pending
    "AgreementSigned",
    "AgreementSigned",
    "TrialStarted",
    "GoalSet",
    "GoalSet",
    "StageChanged",  # initiation/trial
    "MeetingLogged",
    "MeetingLogged",
    "StageChanged",  # cultivation/active (timer: trial passed)
]
CULTIVATION_PATH = [
    "initiation/proposed (command)",
    "initiation/kickoff_pending (command)",
    "initiation/trial (command)",
    "cultivation/active (timer)",
]


async def assert_published(lc: Lifecycle, events: list[Envelope]) -> None:
    """The outbox handed the publishing activity the workflow's envelopes byte for byte, each once, in seq order."""
    assert verify_chain(events).ok, verify_chain(events)
    published = lc.published()
    assert [e.to_bytes() for e in published] == [e.to_bytes() for e in events]
    report = verify_chain(e.to_bytes() for e in published)
    assert report.ok and report.checked == len(events), report


@pytest.mark.long_lifecycle
async def test_twelve_months_one_renewal_separation_redefinition_closed(lifecycle: Lifecycle) -> None:
    lc = lifecycle
    await lc.to_cultivation()
    await lc.meeting()  # day 46
    for _ in range(10):  # a meeting a month: green all year (at risk after 45 days without one)
        await lc.sleep(30)
        await lc.meeting()
    await lc.do("RequestRenewal", MENTOR)  # day 346, before the term ends at day 365
    await lc.do("RequestRenewal", MENTEE)
    for _ in range(12):
        await lc.sleep(30)
        await lc.meeting()
    await lc.sleep(60)  # day 766: the renewed term ended at day 730; 30 days winding down ⇒ redefinition
    assert (await lc.state()).stage is Stage.REDEFINITION
    await lc.do("RecordRedefinition", MENTOR, outcome="collegial")
    await lc.do("RecordRedefinition", MENTEE, outcome="collegial")
    final = await lc.wait_closed()

    events = await lc.events()
    assert [e.type for e in events] == [
        *TO_CULTIVATION,
        *["MeetingLogged"] * 11,
        "RenewalRequested",
        "RenewalRequested",
        "TermRenewed",
        *["MeetingLogged"] * 12,
        "StageChanged",  # separation/winding_down (timer: term ended)
        "StageChanged",  # redefinition/awaiting_outcomes (timer: wind-down over)
        "RedefinitionRecorded",
        "RedefinitionRecorded",
        "StageChanged",
        "RelationshipClosed",
    ]
    assert stage_path(events) == [
        *CULTIVATION_PATH,
        "separation/winding_down (timer)",
        "redefinition/awaiting_outcomes (timer)",
        "closed/closed (command)",
    ]
    assert final.stage is Stage.CLOSED and final.outcome is Outcome.COLLEGIAL
    assert final.renewals == 1 and final.meetings == 25 and final.health is Health.GREEN
    assert final.seq == len(events)
    await assert_published(lc, events)


async def test_declined(lifecycle: Lifecycle) -> None:
    lc = lifecycle
    await lc.propose()
    await lc.do("DeclineMatch", MENTEE, reason="no time this year")
    final = await lc.wait_closed()
    events = await lc.events()
    assert [e.type for e in events] == [
        "RelationshipProposed",
        "StageChanged",
        "MatchDeclined",
        "StageChanged",
        "RelationshipClosed",
    ]
    assert final.outcome is Outcome.DECLINED
    await assert_published(lc, events)


async def test_expired(lifecycle: Lifecycle) -> None:
    lc = lifecycle
    await lc.propose()
    await lc.do("AcceptMatch", MENTOR)
    await lc.sleep(15)  # reminder at day 3, expiry at day 14
    final = await lc.wait_closed()
    events = await lc.events()
    assert [e.type for e in events] == [
        "RelationshipProposed",
        "StageChanged",
        "MatchAccepted",
        "AcceptanceReminderSent",
        "MatchExpired",
        "StageChanged",
        "RelationshipClosed",
    ]
    assert events[3].payload["to"] == [MENTEE.id] and events[3].actor.role.value == "system"
    assert stage_path(events)[-1] == "closed/closed (timer)"
    assert final.outcome is Outcome.EXPIRED
    await assert_published(lc, events)


async def test_rematched_in_the_trial(lifecycle: Lifecycle) -> None:
    lc = lifecycle
    await lc.propose()
    await lc.do("AcceptMatch", MENTOR)
    await lc.do("AcceptMatch", MENTEE)
    await lc.do("SignAgreement", MENTOR, goals=["delegation"], cadence="P2W")
    await lc.do("SignAgreement", MENTEE, goals=["delegation"], cadence="P2W")
    await lc.sleep(10)
    await lc.meeting()
    await lc.sleep(10)
    await lc.do("RequestRematch", MENTEE, reason="different field than expected")
    final = await lc.wait_closed()
    events = await lc.events()
    assert [e.type for e in events] == [
        *TO_CULTIVATION[:9],  # the same goal signed by both is set once
        "StageChanged",  # initiation/trial
        "MeetingLogged",
        "RematchRequested",
        "StageChanged",
        "RelationshipClosed",
    ]
    assert final.outcome is Outcome.REMATCHED
    await assert_published(lc, events)


async def test_did_not_start_with_nudge_and_escalation_delivered(lifecycle: Lifecycle) -> None:
    lc = lifecycle
    await lc.propose()
    await lc.do("AcceptMatch", MENTOR)
    await lc.do("AcceptMatch", MENTEE)
    await lc.do("SignAgreement", MENTOR, goals=["networking"], cadence="P1M")
    await lc.sleep(91)  # nudge at day 7, escalation at day 21, gives up at day 90
    final = await lc.wait_closed()
    events = await lc.events()
    assert [e.type for e in events] == [
        "RelationshipProposed",
        "StageChanged",
        "MatchAccepted",
        "MatchAccepted",
        "StageChanged",
        "AgreementSigned",
        "NudgeSent",
        "EscalatedToManager",
        "StageChanged",
        "RelationshipClosed",
    ]
    assert final.outcome is Outcome.DID_NOT_START
    # The workflow completes only after the notifications went out: both lines are in the log sink already.
    lines = lifecycle.notification_lines()
    assert [(n["kind"], n["seq"]) for n in lines] == [("NudgeSent", 7), ("EscalatedToManager", 8)]
    assert lines[0]["recipients"] == [MENTEE.id] and lines[1]["audience"] == "program_manager"
    assert {n["event_id"] for n in lines} == {events[6].event_id, events[7].event_id}
    await assert_published(lc, events)


@pytest.mark.parametrize("resolution", ["end", "reconcile"])
async def test_contested_separation_resolved(lifecycle: Lifecycle, resolution: str) -> None:
    lc = lifecycle
    await lc.to_cultivation()
    await lc.meeting()
    await lc.do("ProposeSeparation", MENTOR, reason="moving abroad")
    await lc.sleep(15)  # the mentee never consents: contested after 14 days, escalated to the manager
    contested = await lc.state()
    assert (contested.stage, contested.substate) == (Stage.SEPARATION, Substate.CONTESTED)
    await lc.do("ResolveSeparation", MANAGER, resolution=resolution, note="talked to both")
    if resolution == "end":
        await lc.sleep(31 + 91)  # wind-down 30 days ⇒ redefinition; nobody records ⇒ ended after 90 days
        tail = ["StageChanged", "StageChanged", "StageChanged", "RelationshipClosed"]
        path_tail = [
            "separation/winding_down (command)",
            "redefinition/awaiting_outcomes (timer)",
            "closed/closed (timer)",
        ]
        outcome = Outcome.ENDED
    else:
        resumed = await lc.state()
        assert (resumed.stage, resumed.substate) == (Stage.CULTIVATION, Substate.ACTIVE)
        await lc.do("Terminate", MANAGER, reason_code="program_ended")
        tail = ["StageChanged", "Terminated", "StageChanged", "RelationshipClosed"]
        path_tail = ["cultivation/active (command)", "closed/closed (command)"]
        outcome = Outcome.TERMINATED
    final = await lc.wait_closed()
    events = await lc.events()
    assert [e.type for e in events] == [
        *TO_CULTIVATION,
        "MeetingLogged",
        "SeparationProposed",
        "StageChanged",  # separation/awaiting_consent
        "SeparationContested",
        "StageChanged",  # separation/contested
        "EscalatedToManager",
        "SeparationResolved",
        *tail,
    ]
    assert stage_path(events) == [
        *CULTIVATION_PATH,
        "separation/awaiting_consent (command)",
        "separation/contested (timer)",
        *path_tail,
    ]
    assert final.outcome is outcome
    assert [n["kind"] for n in lc.notification_lines()] == ["EscalatedToManager"]
    await assert_published(lc, events)


async def test_inactivity_at_risk_then_separation(lifecycle: Lifecycle) -> None:
    lc = lifecycle
    await lc.to_cultivation()  # last meeting on day 21
    await lc.sleep(50)  # day 96: yellow at 66 (45 days), red at 81 (60 days)
    at_risk = await lc.state()
    assert at_risk.health is Health.RED and at_risk.stage is Stage.CULTIVATION
    await lc.sleep(20)  # day 116: warned at 104 (7 days before), separated at 111 (90 days without a meeting)
    separated = await lc.state()
    assert (separated.stage, separated.substate) == (Stage.SEPARATION, Substate.WINDING_DOWN)
    await lc.sleep(30 + 91)  # redefinition at day 141; no outcomes recorded ⇒ closed `ended` at day 231
    final = await lc.wait_closed()
    events = await lc.events()
    assert [e.type for e in events] == [
        *TO_CULTIVATION,
        "HealthChanged",  # green -> yellow
        "HealthChanged",  # yellow -> red
        "InactivityWarningSent",
        "StageChanged",  # separation/winding_down (timer)
        "StageChanged",  # redefinition (timer)
        "StageChanged",  # closed (timer)
        "RelationshipClosed",
    ]
    health = [(e.payload["from_health"], e.payload["to_health"]) for e in events if e.type == "HealthChanged"]
    assert health == [("green", "yellow"), ("yellow", "red")]
    assert stage_path(events)[4:] == [
        "separation/winding_down (timer)",
        "redefinition/awaiting_outcomes (timer)",
        "closed/closed (timer)",
    ]
    assert final.outcome is Outcome.ENDED
    await assert_published(lc, events)


async def test_pause_and_resume(lifecycle: Lifecycle) -> None:
    lc = lifecycle
    await lc.to_cultivation()
    await lc.meeting()  # day 46
    await lc.do("Pause", MENTEE, reason="parental leave")
    await lc.sleep(20)
    await lc.do("Resume", MENTEE)  # day 66
    await lc.do("Pause", MENTOR, reason="sabbatical")
    await lc.sleep(61)  # the 60-day maximum pause ends it automatically (day 126)
    resumed = await lc.state()
    assert (resumed.stage, resumed.substate) == (Stage.CULTIVATION, Substate.ACTIVE)
    # 81 days since the last meeting, 80 of them paused: the inactivity clock stood still, still green.
    assert resumed.health is Health.GREEN and resumed.pauses == 2
    await lc.do("Terminate", MANAGER, reason_code="program_ended")
    final = await lc.wait_closed()
    events = await lc.events()
    assert [e.type for e in events] == [
        *TO_CULTIVATION,
        "MeetingLogged",
        "Paused",
        "StageChanged",
        "Resumed",
        "StageChanged",
        "Paused",
        "StageChanged",
        "Resumed",
        "StageChanged",
        "Terminated",
        "StageChanged",
        "RelationshipClosed",
    ]
    assert [e.payload["automatic"] for e in events if e.type == "Resumed"] == [False, True]
    assert stage_path(events)[4:] == [
        "cultivation/paused (command)",
        "cultivation/active (command)",
        "cultivation/paused (command)",
        "cultivation/active (timer)",
        "closed/closed (command)",
    ]
    assert final.outcome is Outcome.TERMINATED
    await assert_published(lc, events)
