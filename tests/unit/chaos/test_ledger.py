"""The chaos run's judgement of each command: what the client was told against what the event log holds."""

from __future__ import annotations

from benchmarks.chaos.check import judge
from benchmarks.chaos.load import Answer, Ledger, classify


def answer(
    outcome: str, command_id: str = "c1", events: list[tuple[int, str]] | None = None, at: float = 0.0
) -> Answer:
    return Answer(
        command_id=command_id,
        relationship_id="r1",
        type="LogMeeting",
        path="/relationships/r1/commands/log-meeting",
        body={"command_id": command_id},
        started=at,
        ended=at,
        outcome=outcome,
        status=None,
        events=events or [],
    )


def test_classify_maps_the_answers_a_client_can_get() -> None:
    assert classify(200, {}) == "accepted"
    assert classify(201, {}) == "accepted"
    assert classify(409, {"error": {"message": "closed"}}) == "refused"
    assert classify(422, None) == "refused"
    busy = {"error": {"message": "Temporal did not answer: ...; nothing was appended; re-send it"}}
    assert classify(503, busy) == "busy"
    maybe = {"error": {"message": "Temporal did not answer: ...; it may still be applied; re-send it"}}
    assert classify(503, maybe) == "unknown"
    assert classify(500, {"error": {"message": "internal error"}}) == "unknown"
    assert classify(None, None) == "unknown"


def test_the_final_answer_is_the_last_known_one() -> None:
    ledger = Ledger()
    ledger.answers += [answer("unknown", at=1), answer("accepted", events=[(7, "e7")], at=2), answer("unknown", at=3)]
    assert ledger.final()["c1"].outcome == "accepted"
    assert ledger.unresolved() == []
    ledger.answers.append(answer("unknown", command_id="c2"))
    assert [a.command_id for a in ledger.unresolved()] == ["c2"]


def test_judge_finds_lost_doubled_and_misreported_commands() -> None:
    told = [answer("accepted", events=[(7, "e7")])]
    assert judge(told[0], {("r1", 7, "e7")}, told) is None
    assert judge(told[0], set(), told) == ("lost", "accepted, but event_log lacks [('r1', 7, 'e7')]")
    doubled = judge(told[0], {("r1", 7, "e7"), ("r1", 9, "e9")}, told)
    assert doubled is not None and doubled[0] == "duplicated"
    twice = [answer("accepted", events=[(7, "e7")]), answer("accepted", events=[(9, "e9")])]
    verdict = judge(twice[1], {("r1", 7, "e7"), ("r1", 9, "e9")}, twice)
    assert verdict is not None and verdict[0] == "duplicated"
    for outcome in ("refused", "busy", "unreachable"):
        assert judge(answer(outcome), set(), []) is None
        wrong = judge(answer(outcome), {("r1", 7, "e7")}, [])
        assert wrong is not None and wrong[0] == "mismatch"
    still = judge(answer("unknown"), set(), [])
    assert still is not None and still[0] == "mismatch"
