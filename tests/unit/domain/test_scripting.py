"""domain/scripting.py: the one lifecycle scripting helper (deterministic, timers at their own deadlines)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain import AcceptMatch, IllegalTransition, LogMeeting, SignAgreement, Stage, Substate, verify_chain
from domain.scripting import DAY, T0, Script


def _to_trial(s: Script) -> None:
    s.propose()
    s.later(timedelta(hours=2))
    s.do(AcceptMatch, s.mentor)
    s.do(AcceptMatch, s.mentee)
    s.later(DAY)
    s.do(SignAgreement, s.mentor, goals=["a"], cadence="P2W")
    s.do(SignAgreement, s.mentee, goals=["b"], cadence="P2W")


def test_the_same_script_twice_is_byte_identical() -> None:
    one, two = Script("r-1"), Script("r-1")
    _to_trial(one)
    _to_trial(two)
    assert [e.to_bytes() for e in one.log] == [e.to_bytes() for e in two.log]
    assert verify_chain(one.log).ok
    assert one.log[0].causation_id == "r-1-c1" and one.mentor.id == "m-r-1"


def test_timers_fire_at_their_own_deadline_on_the_way() -> None:
    s = Script("r-2")
    _to_trial(s)
    for _ in range(2):
        s.later(10 * DAY)
        s.do(LogMeeting, s.mentee, held_at=s.now)
    trial_ends = s.state.trial_ends_at
    assert trial_ends is not None
    sealed = s.at(trial_ends + 30 * DAY)
    assert [e.type for e in sealed][:1] == ["StageChanged"]
    assert sealed[0].occurred_at == trial_ends  # sealed at the deadline, not at the later instant asked for
    assert (s.state.stage, s.state.substate) == (Stage.CULTIVATION, Substate.ACTIVE)
    assert s.now == trial_ends + 30 * DAY


def test_a_refused_command_seals_nothing() -> None:
    s = Script("r-3", start=T0)
    s.propose()
    before = list(s.log)
    with pytest.raises(IllegalTransition):
        s.do(LogMeeting, s.mentee, held_at=s.now)
    assert s.log == before
