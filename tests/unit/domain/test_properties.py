"""Property tests over random command and clock sequences (Hypothesis)."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from domain import (
    AcceptMatch,
    Actor,
    CommandBase,
    CompleteGoal,
    ConsentSeparation,
    DeclineMatch,
    DomainError,
    Envelope,
    LogMeeting,
    Pause,
    ProposeSeparation,
    RecordRedefinition,
    RelationshipState,
    RequestRematch,
    RequestRenewal,
    ResolveSeparation,
    Resume,
    SetGoal,
    SignAgreement,
    Stage,
    SubmitCheckIn,
    Substate,
    Terminate,
    event_from_envelope,
    evolve,
    next_deadline,
    replay,
    tick,
    verify_chain,
)
from domain.stages import STAGE_RANK, is_transition_allowed
from tests.unit.domain.helpers import (
    MANAGER,
    MENTEE,
    MENTOR,
    POSITIONS,
    STRANGER_MENTEE,
    SYSTEM_ACTOR,
    US,
    Driver,
    reach,
    uuid_source,
)

pytestmark = pytest.mark.unit

# DOMAIN_PROPERTY_EXAMPLES=3000 for a deeper local run (about 20 s)
SETTINGS = settings(
    max_examples=int(os.environ.get("DOMAIN_PROPERTY_EXAMPLES", "100")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

ACTORS = [MENTOR, MENTEE, MENTOR, MENTEE, MENTOR, MENTEE, MANAGER, MANAGER, STRANGER_MENTEE, SYSTEM_ACTOR]
DELTAS = [
    timedelta(0),
    US,
    timedelta(hours=1),
    timedelta(days=1),
    timedelta(days=1),
    timedelta(days=3),
    timedelta(days=10),
    timedelta(days=30),
    timedelta(days=50),
    timedelta(days=100),
]
# weights by repetition: the common path is likelier than the exits
COMMAND_NAMES = [
    "AcceptMatch",
    "AcceptMatch",
    "AcceptMatch",
    "DeclineMatch",
    "SignAgreement",
    "SignAgreement",
    "SignAgreement",
    "LogMeeting",
    "LogMeeting",
    "LogMeeting",
    "LogMeeting",
    "SetGoal",
    "CompleteGoal",
    "SubmitCheckIn",
    "SubmitCheckIn",
    "RequestRematch",
    "Pause",
    "Resume",
    "RequestRenewal",
    "RequestRenewal",
    "ProposeSeparation",
    "ConsentSeparation",
    "ConsentSeparation",
    "ResolveSeparation",
    "ResolveSeparation",
    "RecordRedefinition",
    "RecordRedefinition",
    "RecordRedefinition",
    "Terminate",
]

step = st.one_of(
    st.tuples(st.just("tick"), st.sampled_from(DELTAS)),
    st.tuples(st.just("deadline"), st.sampled_from([-1, 0, 1])),
    st.tuples(
        st.just("cmd"),
        st.sampled_from(COMMAND_NAMES),
        st.sampled_from(ACTORS),
        st.sampled_from(DELTAS[:6]),
        st.integers(0, 7),
    ),
)


def make_command(name: str, actor: Actor, k: int, state: RelationshipState, now: datetime) -> CommandBase:
    cid = f"c-{k}"
    match name:
        case "AcceptMatch":
            return AcceptMatch(command_id=cid, actor=actor)
        case "DeclineMatch":
            return DeclineMatch(command_id=cid, actor=actor, reason="not a fit")
        case "SignAgreement":
            return SignAgreement(command_id=cid, actor=actor, goals=[f"g{k % 3}"], cadence="P1W" if k == 7 else "P2W")
        case "LogMeeting":
            return LogMeeting(command_id=cid, actor=actor, held_at=now - timedelta(hours=k * 5))
        case "SetGoal":
            return SetGoal(command_id=cid, actor=actor, text=f"goal {k}")
        case "CompleteGoal":
            return CompleteGoal(command_id=cid, actor=actor, goal_id=f"goal-{k % 4}")
        case "SubmitCheckIn":
            return SubmitCheckIn(command_id=cid, actor=actor, satisfaction=1 + k % 5)
        case "RequestRematch":
            return RequestRematch(command_id=cid, actor=actor, reason="no chemistry")
        case "Pause":
            return Pause(command_id=cid, actor=actor)
        case "Resume":
            return Resume(command_id=cid, actor=actor)
        case "RequestRenewal":
            return RequestRenewal(command_id=cid, actor=actor)
        case "ProposeSeparation":
            return ProposeSeparation(command_id=cid, actor=actor, reason="done")
        case "ConsentSeparation":
            return ConsentSeparation(command_id=cid, actor=actor)
        case "ResolveSeparation":
            return ResolveSeparation(command_id=cid, actor=actor, resolution="reconcile" if k % 2 else "end")
        case "RecordRedefinition":
            outcome: Any = ["collegial", "friendship", "ended", "collegial"][k % 4]
            return RecordRedefinition(command_id=cid, actor=actor, outcome=outcome)
        case _:
            return Terminate(command_id=cid, actor=actor, reason_code="program-ended")


_BASES: dict[tuple[Stage, Substate], Driver] = {}


def start_at(position: tuple[Stage, Substate]) -> Driver:
    """A fresh driver at ``position`` (reached through real commands; cached, then copied)."""
    if position not in _BASES:
        _BASES[position] = reach(position)
    base = _BASES[position]
    d = Driver(now=base.now, ids=uuid_source(len(base.log) + 1))
    d.state, d.log = base.state, list(base.log)
    return d


def run_steps(
    position: tuple[Stage, Substate], steps: list[tuple[Any, ...]]
) -> tuple[Driver, list[tuple[datetime, RelationshipState]]]:
    """Apply the steps from ``position``; returns the driver and, for every tick, (now, state after it)."""
    d = start_at(position)
    ticks: list[tuple[datetime, RelationshipState]] = []
    for n, s in enumerate(steps):
        if s[0] == "tick":
            d.tick(d.now + s[1])
            ticks.append((d.now, d.state))
        elif s[0] == "deadline":
            nd = next_deadline(d.state)
            if nd is None:
                continue
            d.tick(max(d.now, nd + s[1] * US))
            ticks.append((d.now, d.state))
        else:
            _, name, actor, delta, k = s
            now = d.now + delta
            before = d.state
            try:
                d.do(make_command(name, actor, k + 8 * n, d.state, now), now)
            except DomainError:
                assert d.state is before  # a refused command changes nothing
            d.now = now
    return d, ticks


@SETTINGS
@given(st.sampled_from(POSITIONS[1:]), st.lists(step, min_size=1, max_size=40))
def test_random_histories_keep_every_invariant(position: tuple[Stage, Substate], steps: list[tuple[Any, ...]]) -> None:
    d, ticks = run_steps(position, steps)
    log = d.log
    event(f"reached {d.state.stage.value}" + (f" ({d.state.outcome.value})" if d.state.outcome else ""))
    # seq gapless from 1; the chain verifies; occurred_at never goes back
    assert [e.seq for e in log] == list(range(1, len(log) + 1))
    report = verify_chain([e.to_bytes() for e in log])
    assert report.ok and report.checked == len(log), report
    assert all(a.occurred_at <= b.occurred_at for a, b in pairwise(log))
    # the state is the fold of evolve over the emitted events
    assert replay(log) == d.state
    folded = RelationshipState.new("r-1")
    for e in log:
        folded = evolve(folded, event_from_envelope(e))
    assert folded == d.state.model_copy(update={"seq": 0, "last_hash": folded.last_hash})
    assert RelationshipState.model_validate(d.state.model_dump(mode="json")) == d.state
    # stages never move backward, except a manager's reconcile
    for i, e in enumerate(log):
        if e.type != "StageChanged":
            continue
        p = e.payload
        src, dst = (p["from_stage"], p["from_substate"]), (p["to_stage"], p["to_substate"])
        assert is_transition_allowed((Stage(src[0]), src[1]), (Stage(dst[0]), dst[1]))  # type: ignore[arg-type]
        if STAGE_RANK[Stage(dst[0])] < STAGE_RANK[Stage(src[0])]:
            assert (src[0], dst) == ("separation", ("cultivation", "active"))
            assert log[i - 1].type == "SeparationResolved" and log[i - 1].payload["resolution"] == "reconcile"
    # tick is idempotent, and after a tick the next deadline is in the future
    for now, state in ticks:
        assert tick(state, now) == []
        nd = next_deadline(state)
        assert nd is None or nd > now
    if d.state.is_closed:
        assert next_deadline(d.state) is None
        assert log[-1].type == "RelationshipClosed"


_RICH: list[Envelope] = []


def rich_log() -> list[Envelope]:
    """A history with every kind of payload value (nested policy, decimals, instants, non-ASCII...)."""
    if not _RICH:
        d = reach((Stage.SEPARATION, Substate.CONTESTED))
        _RICH.extend(d.log)
    return _RICH


@SETTINGS
@given(st.data())
def test_flipping_any_byte_breaks_the_chain_at_exactly_that_seq(data: st.DataObject) -> None:
    log = rich_log()
    records = [e.to_bytes() for e in log]
    i = data.draw(st.integers(0, len(records) - 1), label="record")
    pos = data.draw(st.integers(0, len(records[i]) - 1), label="byte")
    mask = data.draw(st.integers(1, 255), label="xor")
    broken = bytearray(records[i])
    broken[pos] ^= mask
    records[i] = bytes(broken)
    report = verify_chain(records)
    assert not report.ok
    assert report.first_bad_seq == i + 1, report
    assert report.checked == i


def _mutate(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, str):
        return value + "x" if len(value) != 64 else ("1" if value[0] == "0" else "0") + value[1:]
    if isinstance(value, dict):
        return {**value, "tampered": True}
    return "tampered"


@SETTINGS
@given(st.data())
def test_changing_any_field_breaks_the_chain_at_exactly_that_seq(data: st.DataObject) -> None:
    log = rich_log()
    i = data.draw(st.integers(0, len(log) - 1), label="record")
    dicts = [e.to_json_dict() for e in log]
    key = data.draw(st.sampled_from(sorted(dicts[i])), label="field")
    if key == "payload" and dicts[i]["payload"]:
        sub = data.draw(st.sampled_from(sorted(dicts[i]["payload"])), label="payload field")
        dicts[i]["payload"] = {**dicts[i]["payload"], sub: _mutate(dicts[i]["payload"][sub])}
    elif key == "actor":
        dicts[i]["actor"] = {**dicts[i]["actor"], "id": dicts[i]["actor"]["id"] + "x"}
    else:
        dicts[i][key] = _mutate(dicts[i][key])
    report = verify_chain(dicts)
    assert not report.ok and report.first_bad_seq == i + 1, (key, report)
