"""Whole stories: renewals, contested separations, redefinition outcomes, pauses, a full 12-month relationship."""

from __future__ import annotations

import heapq
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from domain import (
    COMMAND_CLASSES,
    AcceptMatch,
    CommandBase,
    ConsentSeparation,
    Health,
    InvalidCommand,
    LogMeeting,
    Outcome,
    RecordRedefinition,
    RelationshipClosedError,
    RelationshipState,
    RequestRenewal,
    ResolveSeparation,
    Resume,
    Stage,
    Substate,
    decide,
    next_deadline,
    replay,
    tick,
    verify_chain,
)
from tests.unit.domain.helpers import DAY, MANAGER, MENTEE, MENTOR, US, Driver, reach

pytestmark = pytest.mark.unit

S, U = Stage, Substate


def _renew(d: Driver) -> list[str]:
    d.later(DAY)
    d.do(RequestRenewal(command_id=d.cid(), actor=MENTOR))
    return d.do(RequestRenewal(command_id=d.cid(), actor=MENTEE))


def test_renewal_extends_the_term_and_is_capped() -> None:
    d = reach((S.CULTIVATION, U.ACTIVE))
    old_end = d.state.term_ends_at
    assert old_end is not None
    assert _renew(d) == ["RenewalRequested", "TermRenewed"]
    assert d.state.renewals == 1 and d.state.renewal_requests == ()
    assert d.state.term_ends_at == old_end.replace(year=old_end.year + 1)
    with pytest.raises(InvalidCommand) as info:
        d.do(RequestRenewal(command_id=d.cid(), actor=MENTOR))
    assert str(info.value) == "renewal cap reached: 1 of max_renewals=1 already used"


def test_renewal_twice_by_the_same_person_and_after_term_end() -> None:
    d = reach((S.CULTIVATION, U.ACTIVE))
    d.do(RequestRenewal(command_id=d.cid(), actor=MENTOR))
    with pytest.raises(InvalidCommand, match="already requested this renewal"):
        d.do(RequestRenewal(command_id=d.cid(), actor=MENTOR))
    assert d.state.term_ends_at is not None
    late = d.state.term_ends_at
    with pytest.raises(InvalidCommand, match="renewal must be requested before the term ends"):
        decide(d.state, RequestRenewal(command_id="c", actor=MENTEE), late)


def test_renewed_term_is_not_ended_by_the_old_deadline() -> None:
    d = reach((S.CULTIVATION, U.ACTIVE))
    old_end = d.state.term_ends_at
    assert old_end is not None
    _renew(d)
    while d.now + timedelta(days=30) < old_end + timedelta(days=40):
        d.later(timedelta(days=30))
        d.meet()
    assert d.state.stage is S.CULTIVATION


def test_mutual_separation_winds_down_then_redefinition() -> None:
    d = reach((S.SEPARATION, U.AWAITING_CONSENT))
    d.consent()
    assert d.state.substate is U.WINDING_DOWN
    assert d.tick_to_deadline() == ["StageChanged"]
    assert d.state.stage is S.REDEFINITION


@pytest.mark.parametrize(
    ("resolution", "position"),
    [("end", (S.SEPARATION, U.WINDING_DOWN)), ("reconcile", (S.CULTIVATION, U.ACTIVE))],
)
def test_contested_separation_both_ways(resolution: str, position: tuple[Stage, Substate]) -> None:
    d = reach((S.SEPARATION, U.CONTESTED))
    contested = d.log[-3]
    assert contested.type == "SeparationContested" and contested.payload["not_consented_by"] == "e-1"
    with pytest.raises(Exception, match="ConsentSeparation is not allowed in stage separation/contested"):
        d.do(ConsentSeparation(command_id=d.cid(), actor=MENTEE))
    d.later(DAY)
    assert d.do(ResolveSeparation(command_id=d.cid(), actor=MANAGER, resolution=resolution)) == [  # type: ignore[arg-type]
        "SeparationResolved",
        "StageChanged",
    ]
    assert (d.state.stage, d.state.substate) == position
    if resolution == "reconcile":
        # the only backward move; the inactivity clock starts again
        assert d.log[-1].payload["from_stage"] == "separation" and d.log[-1].payload["to_stage"] == "cultivation"
        assert d.state.activity_anchor == d.now
        nd = next_deadline(d.state)
        assert nd == d.now + timedelta(days=45)


@pytest.mark.parametrize(
    ("mentor", "mentee", "outcome"),
    [
        ("collegial", "collegial", Outcome.COLLEGIAL),
        ("friendship", "friendship", Outcome.FRIENDSHIP),
        ("ended", "ended", Outcome.ENDED),
        ("collegial", "friendship", Outcome.ENDED),
        ("friendship", "ended", Outcome.ENDED),
    ],
)
def test_redefinition_outcomes(mentor: str, mentee: str, outcome: Outcome) -> None:
    d = reach((S.REDEFINITION, U.AWAITING_OUTCOMES))
    d.later(DAY)
    assert d.do(RecordRedefinition(command_id=d.cid(), actor=MENTOR, outcome=mentor)) == ["RedefinitionRecorded"]  # type: ignore[arg-type]
    types = d.do(RecordRedefinition(command_id=d.cid(), actor=MENTEE, outcome=mentee))  # type: ignore[arg-type]
    assert types == ["RedefinitionRecorded", "StageChanged", "RelationshipClosed"]
    assert d.state.outcome is outcome
    if mentor != mentee:
        assert d.state.close_reason == f"participants disagreed (mentor: {mentor}, mentee: {mentee}) => ended"


def test_redefinition_silence_of_one_participant_ends() -> None:
    d = reach((S.REDEFINITION, U.AWAITING_OUTCOMES))
    d.later(DAY)
    d.do(RecordRedefinition(command_id=d.cid(), actor=MENTOR, outcome="friendship"))
    assert d.tick_to_deadline() == ["StageChanged", "RelationshipClosed"]
    assert d.state.outcome is Outcome.ENDED
    assert d.state.close_reason is not None and "no outcome from mentee e-1" in d.state.close_reason


def test_pause_stops_the_inactivity_clock() -> None:
    d = reach((S.CULTIVATION, U.ACTIVE))
    last = d.state.last_meeting_at
    assert last is not None
    d.later(10 * DAY)
    d.pause()  # 11 days after... paused from here
    paused_at = d.state.paused_at
    assert paused_at is not None
    # while paused: no health rule, only auto-resume (max pause) and the term end
    assert next_deadline(d.state) == paused_at + timedelta(days=60)
    assert tick(d.state, last + timedelta(days=59)) == []
    d.later(20 * DAY)
    d.do(Resume(command_id=d.cid(), actor=MANAGER))
    assert d.state.total_paused == timedelta(days=20)
    # yellow is 45 days of no meeting, not counting the 20 paused days
    yellow = last + timedelta(days=45 + 20)
    assert next_deadline(d.state) == yellow
    assert tick(d.state, yellow - US) == []
    assert [type(e).__name__ for e in tick(d.state, yellow)] == ["HealthChanged"]


def test_maximum_pause_resumes_automatically_and_clock_resumes() -> None:
    d = reach((S.CULTIVATION, U.PAUSED))
    last = d.state.last_meeting_at
    paused_at = d.state.paused_at
    assert last is not None and paused_at is not None
    assert d.tick_to_deadline() == ["Resumed", "StageChanged"]
    assert d.log[-2].payload["automatic"] is True
    assert d.state.substate is U.ACTIVE and d.state.health is Health.GREEN
    assert next_deadline(d.state) == last + timedelta(days=45 + 60)


def test_term_end_while_paused_ends_the_pause() -> None:
    d = reach((S.CULTIVATION, U.ACTIVE))
    assert d.state.term_ends_at is not None
    end = d.state.term_ends_at
    while d.now + timedelta(days=30) < end - timedelta(days=20):
        d.later(timedelta(days=30))
        d.meet()
    d.pause()
    assert d.tick(end) == ["StageChanged"]
    assert d.state.substate is U.WINDING_DOWN and d.state.paused_at is None
    assert d.state.total_paused > timedelta(0)


def test_a_closed_relationship_refuses_everything() -> None:
    for build in (
        lambda: reach((S.CLOSED, U.CLOSED)),
        lambda: reach((S.INITIATION, U.TRIAL)),
    ):
        d = build()
        if not d.state.is_closed:
            d.tick(d.now + timedelta(days=1000))
        assert d.state.is_closed
        for cls in COMMAND_CLASSES:
            if cls.__name__ == "ProposeRelationship":
                continue
            for actor in (MENTOR, MENTEE, MANAGER):
                cmd = cls.model_construct(command_id="c", actor=actor)
                with pytest.raises(RelationshipClosedError, match=r"is closed \(outcome: "):
                    decide(d.state, cmd, d.now)


# --- a whole relationship driven by a pure loop over a simulated clock ------------------------------------

Script = list[tuple[datetime, int, Callable[[], CommandBase]]]


def run(d: Driver, script: Script) -> None:
    """Sleep until the next deadline or the next scripted command, whichever is first (ties: the timer)."""
    heapq.heapify(script)
    while not d.state.is_closed:
        deadline = next_deadline(d.state)
        at_cmd = script[0][0] if script else None
        if deadline is None and at_cmd is None:
            break
        if at_cmd is None or (deadline is not None and deadline <= at_cmd):
            assert deadline is not None
            d.tick(deadline)
        else:
            _, _, make = heapq.heappop(script)
            d.now = at_cmd  # the command is built at its own instant
            d.do(make())


def test_a_whole_relationship_with_one_renewal() -> None:
    d = Driver()
    d.propose()
    start = d.now
    script: Script = []
    n = 0

    def at(when: datetime, make: Callable[[], CommandBase]) -> None:
        nonlocal n
        n += 1
        script.append((when, n, make))

    from domain import SignAgreement, SubmitCheckIn

    at(start + timedelta(days=1), lambda: AcceptMatch(command_id=d.cid(), actor=MENTOR))
    at(start + timedelta(days=4), lambda: AcceptMatch(command_id=d.cid(), actor=MENTEE))  # after the reminder
    sign = start + timedelta(days=6)
    at(sign, lambda: SignAgreement(command_id=d.cid(), actor=MENTOR, goals=["negotiate"], cadence="P1M"))
    at(sign, lambda: SignAgreement(command_id=d.cid(), actor=MENTEE, goals=["publish"], cadence="P1M"))
    # monthly meetings for 24 months, a check-in each quarter
    for k in range(1, 25):
        when = sign + timedelta(days=30 * k - 20)
        at(when, lambda when=when: LogMeeting(command_id=d.cid(), actor=MENTEE, held_at=when))  # type: ignore[misc]
        if k % 3 == 0:
            at(when, lambda: SubmitCheckIn(command_id=d.cid(), actor=MENTOR, satisfaction=4))
    renew = sign + timedelta(days=300)
    at(renew, lambda: RequestRenewal(command_id=d.cid(), actor=MENTOR))
    at(renew + DAY, lambda: RequestRenewal(command_id=d.cid(), actor=MENTEE))
    # after the second term ends (24 months) and 30 days of winding down, both record collegial
    done = sign + timedelta(days=731 + 30 + 10)
    at(done, lambda: RecordRedefinition(command_id=d.cid(), actor=MENTOR, outcome="collegial"))
    at(done + DAY, lambda: RecordRedefinition(command_id=d.cid(), actor=MENTEE, outcome="collegial"))

    run(d, script)

    types = [e.type for e in d.log]
    assert types.count("MeetingLogged") == 24 and types.count("CheckInSubmitted") == 8
    story = [t for t in types if t not in ("MeetingLogged", "CheckInSubmitted")]
    assert story == [
        "RelationshipProposed",
        "StageChanged",  # -> initiation/proposed
        "MatchAccepted",
        "AcceptanceReminderSent",
        "MatchAccepted",
        "StageChanged",  # -> kickoff_pending
        "AgreementSigned",
        "AgreementSigned",
        "TrialStarted",
        "GoalSet",
        "GoalSet",
        "StageChanged",  # -> trial
        "StageChanged",  # trial passed -> cultivation
        "RenewalRequested",
        "RenewalRequested",
        "TermRenewed",
        "StageChanged",  # term ended -> separation/winding_down
        "StageChanged",  # wind-down over -> redefinition
        "RedefinitionRecorded",
        "RedefinitionRecorded",
        "StageChanged",  # -> closed
        "RelationshipClosed",
    ]
    moves = [
        (e.payload["to_stage"], e.payload["to_substate"], e.payload["trigger"])
        for e in d.log
        if e.type == "StageChanged"
    ]
    assert moves == [
        ("initiation", "proposed", "command"),
        ("initiation", "kickoff_pending", "command"),
        ("initiation", "trial", "command"),
        ("cultivation", "active", "timer"),
        ("separation", "winding_down", "timer"),
        ("redefinition", "awaiting_outcomes", "timer"),
        ("closed", "closed", "command"),
    ]
    s = d.state
    assert s.outcome is Outcome.COLLEGIAL and s.renewals == 1 and s.health is Health.GREEN
    assert s.term_ends_at == sign.replace(year=sign.year + 2)
    assert [e.seq for e in d.log] == list(range(1, len(d.log) + 1))
    assert verify_chain(d.log).ok
    assert replay(d.log) == s
    # the state at any instant is the fold of the events up to it
    mid = replay(d.log, until=sign + timedelta(days=200))
    assert (mid.stage, mid.renewals) == (S.CULTIVATION, 0)
    assert RelationshipState.model_validate(s.model_dump(mode="json")) == s


def test_catch_up_judges_a_late_command_on_the_ticked_state() -> None:
    from domain import advance, catch_up, execute

    d = reach((S.INITIATION, U.PROPOSED))
    assert d.state.opened_at is not None
    late = d.state.opened_at + timedelta(days=14)
    accept = AcceptMatch(command_id="late", actor=MENTOR)
    assert decide(d.state, accept, late)  # the stale state would accept it...
    caught = catch_up(d.state, late)
    assert caught.seq == d.state.seq and caught.outcome is Outcome.EXPIRED
    with pytest.raises(RelationshipClosedError):  # ...but the match expired at that instant
        decide(caught, accept, late)
    # the handler: advance first, then execute
    state, envs = advance(d.state, late, d.ids)
    assert [e.type for e in envs] == ["AcceptanceReminderSent", "MatchExpired", "StageChanged", "RelationshipClosed"]
    with pytest.raises(RelationshipClosedError):
        execute(state, accept, late, d.ids)


def test_meeting_during_a_pause_restarts_the_clock_at_resume() -> None:
    d = reach((S.CULTIVATION, U.PAUSED))
    d.later(5 * DAY)
    d.meet()  # held during the pause
    d.later(5 * DAY)
    d.do(Resume(command_id=d.cid(), actor=MENTEE))
    assert d.state.activity_anchor == d.now
    assert next_deadline(d.state) == d.now + timedelta(days=45)


def test_demo_policy_runs_all_four_stages_in_about_two_minutes() -> None:
    from domain import SignAgreement, builtin_policy

    d = Driver(policy=builtin_policy("demo"))
    d.propose()
    t0 = d.now
    s = timedelta(seconds=1)
    script: Script = []
    cmds: list[tuple[timedelta, Callable[[], CommandBase]]] = [
        (s * 0.3, lambda: AcceptMatch(command_id=d.cid(), actor=MENTOR)),
        (s * 0.6, lambda: AcceptMatch(command_id=d.cid(), actor=MENTEE)),
        (s * 1.0, lambda: SignAgreement(command_id=d.cid(), actor=MENTOR, goals=["g"], cadence="PT2S")),
        (s * 1.2, lambda: SignAgreement(command_id=d.cid(), actor=MENTEE, goals=["g"], cadence="PT2S")),
    ]
    for k in range(1, 20):  # a meeting every 5 s
        cmds.append((s * (1.2 + 5 * k), lambda: LogMeeting(command_id=d.cid(), actor=MENTEE, held_at=d.now)))
    cmds.append((s * 100, lambda: RecordRedefinition(command_id=d.cid(), actor=MENTOR, outcome="collegial")))
    cmds.append((s * 100.5, lambda: RecordRedefinition(command_id=d.cid(), actor=MENTEE, outcome="collegial")))
    for n, (offset, make) in enumerate(cmds):
        script.append((t0 + offset, n, make))
    run(d, script)
    stages = [e.payload["to_stage"] for e in d.log if e.type == "StageChanged"]
    assert stages == ["initiation", "initiation", "initiation", "cultivation", "separation", "redefinition", "closed"]
    assert d.state.outcome is Outcome.COLLEGIAL
    assert d.now - t0 < timedelta(seconds=120)
