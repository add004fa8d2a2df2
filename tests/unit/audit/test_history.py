"""Timeline, state at an instant (replay --at), policies in force, exports, and the standalone verifier."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from audit.history import export_csv, export_jsonl, policies_in_force, state_at, timeline
from domain import ChainBroken, Envelope, Stage

US = timedelta(microseconds=1)
VERIFIER = Path(__file__).resolve().parents[3] / "docs" / "verify_history.py"
NOW = datetime(2027, 1, 1, tzinfo=UTC)


def transitions(history: list[Envelope]) -> list[tuple[datetime, tuple[str, str], tuple[str, str]]]:
    """Per instant with a StageChanged: (instant, position before the instant, position after it)."""
    out: dict[datetime, tuple[tuple[str, str], tuple[str, str]]] = {}
    for env in history:
        if env.type == "StageChanged":
            p = env.payload
            before = out[env.occurred_at][0] if env.occurred_at in out else (p["from_stage"], p["from_substate"])
            out[env.occurred_at] = (before, (p["to_stage"], p["to_substate"]))
    return [(t, b, a) for t, (b, a) in out.items()]


def test_the_history_goes_through_all_four_stages(history: list[Envelope]) -> None:
    stages = [row.stage for row in timeline(history)]
    for stage in ("initiation", "cultivation", "separation", "redefinition", "closed"):
        assert stage in stages
    assert stages.index("cultivation") < stages.index("separation") < stages.index("redefinition")


def test_replay_at_just_before_and_just_after_each_transition(history: list[Envelope]) -> None:
    moves = transitions(history)
    assert len(moves) == 8
    for instant, before, after in moves:
        if instant == history[0].occurred_at:
            with pytest.raises(ValueError, match="did not exist yet"):
                state_at(history, instant - US)
        else:
            s = state_at(history, instant - US)
            assert (s.stage.value, s.substate.value) == before, instant
        for t in (instant, instant + US):
            s = state_at(history, t)
            assert (s.stage.value, s.substate.value) == after, t
    final = state_at(history, NOW)
    assert final.stage is Stage.CLOSED and final.seq == len(history)


def test_replay_refuses_a_tampered_log(history: list[Envelope]) -> None:
    forged = history[11].model_copy(update={"payload": {**history[11].payload, "duration_minutes": 1}})
    with pytest.raises(ChainBroken, match="seq 12: hash mismatch"):
        state_at([*history[:11], forged, *history[12:]], NOW)


def test_timeline_rows_and_flags(history: list[Envelope]) -> None:
    rows = timeline(history)
    assert [r.seq for r in rows] == list(range(1, len(history) + 1))
    assert rows[0].actor == "manager:pm-audit" and rows[0].event == "RelationshipProposed"
    assert rows[13].event == "StageChanged" and (rows[13].stage, rows[13].substate) == ("cultivation", "active")
    assert all(r.chain_ok for r in rows) and rows[5].short_hash == history[5].hash[:10]
    assert rows[0].policy == "mentoring-12m@2026.1"
    swapped = timeline([*history[:3], history[4], history[3], *history[5:]])
    assert [r.chain_ok for r in swapped][3:6] == [False, False, False]


def test_policies_in_force(history: list[Envelope]) -> None:
    assert policies_in_force(history) == [
        {"name": "mentoring-12m", "version": "2026.1", "from_seq": 1, "to_seq": len(history)}
    ]


def run_verifier(path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    # -I: isolated mode, nothing of the project on the path: the verifier stands alone
    return subprocess.run([sys.executable, "-I", str(VERIFIER), str(path), *extra], capture_output=True, text=True)


VERIFIED = {"ok": True, "differences": [], "stores": {}}


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_standalone_verifier_accepts_an_export(history: list[Envelope], tmp_path: Path, fmt: str) -> None:
    export = export_jsonl if fmt == "jsonl" else export_csv
    path = tmp_path / f"r-audit.{fmt}"
    path.write_text(export("r-audit", history, VERIFIED, NOW), encoding="utf-8")
    result = run_verifier(path, history[-1].hash)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"OK: {len(history)} events, chain intact, last hash {history[-1].hash}"


def test_standalone_verifier_rejects_tampering(history: list[Envelope], tmp_path: Path) -> None:
    lines = export_jsonl("r-audit", history, VERIFIED, NOW).splitlines()
    path = tmp_path / "x.jsonl"

    edited = lines.copy()
    edited[12] = edited[12].replace('"duration_minutes":60', '"duration_minutes":61')
    path.write_text("\n".join(edited) + "\n")
    assert run_verifier(path).stderr.strip() == "BROKEN at event 12: content does not hash to its hash"

    swapped = [*lines[:4], lines[5], lines[4], *lines[6:]]
    path.write_text("\n".join(swapped) + "\n")
    assert run_verifier(path).stderr.strip() == "BROKEN at event 4: seq is 5, expected 4; prev_hash unlinked"

    path.write_text("\n".join(lines[:-1]) + "\n")  # the last event cut off
    assert run_verifier(path).stderr.strip() == f"BROKEN: the header says {len(history)} events, not {len(history) - 1}"

    path.write_text("\n".join(lines) + "\n")
    assert "is not the expected" in run_verifier(path, "0" * 64).stderr


def test_exports_carry_verification_and_policies(history: list[Envelope]) -> None:
    verification = {
        "ok": False,
        "differences": [{"seq": 12, "message": "seq 12 · kafka: missing"}, {"seq": None, "message": "x"}],
    }
    header = json.loads(export_jsonl("r-audit", history, verification, NOW).splitlines()[0])
    assert header["verification"] == verification and header["events"] == len(history)
    assert header["policies"][0]["version"] == "2026.1" and header["exported_at"] == "2027-01-01T00:00:00.000000Z"
    rows = list(csv.DictReader(io.StringIO(export_csv("r-audit", history, verification, NOW))))
    assert len(rows) == len(history) and rows[11]["verification"] == "seq 12 · kafka: missing"
    assert {r["verified"] for r in rows} == {"FAILED"} and rows[0]["verification"] == "ok"
    assert Envelope.from_bytes(rows[5]["envelope"].encode()) == history[5]


def test_an_export_for_a_participant_withholds_the_partners_check_in_comments() -> None:
    from domain import SubmitCheckIn
    from domain.scripting import Script

    s = Script("r-private")
    s.kickoff()
    s.later(timedelta(days=1))
    s.do(SubmitCheckIn, s.mentee, satisfaction=2, comment="my mentor never shows up")
    s.do(SubmitCheckIn, s.mentor, satisfaction=4, comment="going well")
    for_mentor = export_jsonl("r-private", s.log, VERIFIED, NOW, participant=s.mentor.id)
    assert "my mentor never shows up" not in for_mentor and "going well" in for_mentor
    header = json.loads(for_mentor.splitlines()[0])
    assert (header["scoped_to"], header["withheld"]) == (s.mentor.id, 1)
    csv_for_mentee = export_csv("r-private", s.log, VERIFIED, NOW, participant=s.mentee.id)
    assert "going well" not in csv_for_mentee and "my mentor never shows up" in csv_for_mentee
    full = export_jsonl("r-private", s.log, VERIFIED, NOW)  # managers and auditors: everything, verifiable
    assert "my mentor never shows up" in full and "going well" in full


def test_an_export_for_a_participant_withholds_the_partners_free_text_answers() -> None:
    """``mentorflow audit export R --for-participant P``: the partner's free-text survey answer is absent from the
    bytes (JSON Lines and CSV); the scores stay; the author's own answer and the full export keep it."""
    from domain import SubmitSurvey
    from domain.scripting import Script

    s = Script("r-private-survey")
    s.kickoff()
    s.advance()  # the intake is asked at the kickoff
    hope = "hope-4e1: to stop feeling invisible"
    s.do(SubmitSurvey, s.mentee, request_id="survey-1", answers={"expectations": hope, "goal_clarity": 2})
    for render in (export_jsonl, export_csv):
        assert hope not in render("r-private-survey", s.log, VERIFIED, NOW, participant=s.mentor.id)
        assert hope in render("r-private-survey", s.log, VERIFIED, NOW, participant=s.mentee.id)
        assert hope in render("r-private-survey", s.log, VERIFIED, NOW)
    lines = export_jsonl("r-private-survey", s.log, VERIFIED, NOW, participant=s.mentor.id).splitlines()
    [answered] = [json.loads(line) for line in lines[1:] if '"SurveySubmitted"' in line]
    assert answered["payload"]["answers"] == {"expectations": None, "goal_clarity": 2}
    assert answered["withheld"] == ["payload.answers.expectations"]
