"""Issue 15 item 5 in the CLI: a participant never reads the partner's check-in comment or free-text survey answer —
``relationship show --events --for-participant`` and ``relationship do --by ROLE:ID`` (the partner is the hostile
reader; the output bytes are searched) — while an operator's ``show --events`` holds everything. The audit export
for a participant is in tests/unit/audit/test_history.py."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from tests.unit.cli.test_relationship_contract import RID, FakeClient, fake  # noqa: F401 (the fixture)
from workers.cli import app

HOPE_OF_BO = "hope-of-bo-7f3: to stop feeling invisible"
COMPLAINT_OF_BO = "complaint-of-bo-2c9: my mentor is always late"
HOPE_OF_ANA = "hope-of-ana-5d1: to learn patience"


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["relationship", *args])
    return result.exit_code, result.stdout


def _intake_answered_by_bo(client: FakeClient) -> None:
    steps = [
        ("propose", "--program", "prog-c", "--mentor", "ana", "--mentee", "bo", "--by", "manager:mgr-1", "--id", RID),
        ("do", RID, "accept-match", "--by", "mentor:ana"),
        ("do", RID, "accept-match", "--by", "mentee:bo"),
        ("do", RID, "sign-agreement", "--by", "mentor:ana", "--data", '{"goals": ["g"], "cadence": "P2W"}'),
        ("do", RID, "sign-agreement", "--by", "mentee:bo", "--data", '{"goals": ["g"], "cadence": "P2W"}'),
    ]
    for step in steps:
        code, out = _cli(*step, "--json")
        assert code == 0, out
    client.script.advance()  # the workflow wakes at the kickoff: the intake is asked of both (survey-1)
    bo = {"request_id": "survey-1", "answers": {"expectations": HOPE_OF_BO, "goal_clarity": 2}}
    code, out = _cli("do", RID, "submit-survey", "--by", "mentee:bo", "--data", json.dumps(bo), "--json")
    assert code == 0 and HOPE_OF_BO in out, out  # the author reads their own answer in their result
    code, out = _cli("do", RID, "submit-check-in", "--by", "mentee:bo", "--data",
                     json.dumps({"satisfaction": 2, "comment": COMPLAINT_OF_BO}), "--json")  # fmt: skip
    assert code == 0, out


def test_the_partner_reads_neither_answer_nor_comment_in_show(fake: FakeClient) -> None:  # noqa: F811
    _intake_answered_by_bo(fake)
    code, everything = _cli("show", RID, "--events", "--json")
    assert code == 0 and HOPE_OF_BO in everything and COMPLAINT_OF_BO in everything  # an operator reads all

    code, for_ana = _cli("show", RID, "--events", "--for-participant", "ana", "--json")
    assert code == 0, for_ana
    assert HOPE_OF_BO not in for_ana and COMPLAINT_OF_BO not in for_ana
    withheld = [e for e in json.loads(for_ana)["events"] if e.get("withheld")]
    assert [(e["type"], e["withheld"]) for e in withheld] == [
        ("SurveySubmitted", ["payload.answers.expectations"]),
        ("CheckInSubmitted", ["payload.comment"]),
    ]
    assert withheld[0]["payload"]["answers"] == {"expectations": None, "goal_clarity": 2}  # the score stays

    code, for_bo = _cli("show", RID, "--events", "--for-participant", "bo", "--json")
    assert code == 0 and HOPE_OF_BO in for_bo and COMPLAINT_OF_BO in for_bo  # the author's own text


def test_the_partner_answering_after_does_not_read_the_authors_answer(fake: FakeClient) -> None:  # noqa: F811
    _intake_answered_by_bo(fake)
    ana = {"request_id": "survey-1", "answers": {"expectations": HOPE_OF_ANA, "goal_clarity": 4}}
    code, out = _cli("do", RID, "submit-survey", "--by", "mentor:ana", "--data", json.dumps(ana), "--json")
    assert code == 0 and HOPE_OF_ANA in out, out
    assert HOPE_OF_BO not in out and COMPLAINT_OF_BO not in out
    code, out = _cli("show", RID, "--events", "--for-participant", "bo", "--json")
    assert code == 0 and HOPE_OF_ANA not in out and HOPE_OF_BO in out


def test_a_malformed_participant_is_exit_2_naming_the_option(fake: FakeClient) -> None:  # noqa: F811
    for bad in ("", "a b", "x" * 300, "../etc"):
        result = CliRunner().invoke(app, ["relationship", "show", RID, "--events", "--for-participant", bad])
        assert result.exit_code == 2 and "--for-participant" in result.stderr, (bad, result.stderr)
