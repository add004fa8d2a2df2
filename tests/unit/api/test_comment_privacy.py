"""A participant sees their own check-in comments, never the partner's; managers and auditors see all (DESIGN §10).
Through the HTTP API with each role's token: the relationship, its history, its state at an instant, and the
command responses."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.unit.api.conftest import bearer, propose

SECRET_OF_ELI = "my mentor never shows up"
SECRET_OF_MONA = "eli is not preparing"


def _kicked_off(client: TestClient, **proposal: str) -> None:
    """r1 proposed, accepted and signed by both participants."""
    propose(client, "r1", **proposal)
    for token in ("t-mentor", "t-mentee"):
        assert client.post("/relationships/r1/commands/accept-match", headers=bearer(token)).status_code == 200
    for token in ("t-mentor", "t-mentee"):
        response = client.post(
            "/relationships/r1/commands/sign-agreement", json={"goals": ["g"], "cadence": "P1W"}, headers=bearer(token)
        )
        assert response.status_code == 200, response.text


def _cultivating_with_comments(client: TestClient) -> None:
    _kicked_off(client)
    for token, comment in (("t-mentee", SECRET_OF_ELI), ("t-mentor", SECRET_OF_MONA)):
        response = client.post(
            "/relationships/r1/commands/submit-check-in",
            json={"satisfaction": 2, "comment": comment},
            headers=bearer(token),
        )
        assert response.status_code == 200, response.text


def _everything(client: TestClient, token: str) -> str:
    texts = []
    for path in ("/relationships/r1", "/relationships/r1/history", "/relationships/r1/state?at=2100-01-01T00:00:00Z"):
        response = client.get(path, headers=bearer(token))
        assert response.status_code == 200, (path, response.text)
        texts.append(response.text)
    return "\n".join(texts)


def test_partner_never_reads_the_other_participants_check_in_comment(client: TestClient) -> None:
    _cultivating_with_comments(client)
    seen_by_mona = _everything(client, "t-mentor")
    assert SECRET_OF_ELI not in seen_by_mona and SECRET_OF_MONA in seen_by_mona
    seen_by_eli = _everything(client, "t-mentee")
    assert SECRET_OF_MONA not in seen_by_eli and SECRET_OF_ELI in seen_by_eli
    history = client.get("/relationships/r1/history", headers=bearer("t-mentee")).json()["events"]
    withheld = [e for e in history if e.get("withheld")]
    assert [e["payload"]["comment"] for e in withheld] == [None]
    assert withheld[0]["withheld"] == ["payload.comment"]


def test_managers_and_auditors_read_every_comment(client: TestClient) -> None:
    _cultivating_with_comments(client)
    for token in ("t-manager", "t-auditor"):
        history = client.get("/relationships/r1/history", headers=bearer(token)).text
        assert SECRET_OF_ELI in history and SECRET_OF_MONA in history


HOPE_OF_ELI = "to finally get promoted"
HOPE_OF_MONA = "to learn patience"


def _intake_answered(client: TestClient) -> None:
    _kicked_off(client, policy="mentoring-12m")  # its [surveys] schedule asks the intake at the kickoff
    for token, hope in (("t-mentee", HOPE_OF_ELI), ("t-mentor", HOPE_OF_MONA)):
        response = client.post(
            "/relationships/r1/commands/submit-survey",
            json={"request_id": "survey-1", "answers": {"expectations": hope, "goal_clarity": 4}},
            headers=bearer(token),
        )
        assert response.status_code == 200, response.text


def test_partner_never_reads_the_other_participants_free_text_answers(client: TestClient) -> None:
    _intake_answered(client)
    seen_by_mona = _everything(client, "t-mentor")
    assert HOPE_OF_ELI not in seen_by_mona and HOPE_OF_MONA in seen_by_mona
    seen_by_eli = _everything(client, "t-mentee")
    assert HOPE_OF_MONA not in seen_by_eli and HOPE_OF_ELI in seen_by_eli
    history = client.get("/relationships/r1/history", headers=bearer("t-mentee")).json()["events"]
    [withheld] = [e for e in history if e.get("withheld")]
    assert withheld["type"] == "SurveySubmitted" and withheld["withheld"] == ["payload.answers.expectations"]
    assert withheld["payload"]["answers"] == {"expectations": None, "goal_clarity": 4}  # the scores stay visible
    for token in ("t-manager", "t-auditor"):
        everything = client.get("/relationships/r1/history", headers=bearer(token)).text
        assert HOPE_OF_ELI in everything and HOPE_OF_MONA in everything


def test_a_malformed_response_is_a_422_naming_the_field_and_nothing_is_appended(client: TestClient) -> None:
    _intake_answered(client)
    before = client.get("/relationships/r1/history", headers=bearer("t-manager")).json()["count"]
    for body, needle in (
        ({"request_id": "survey-1", "answers": {"goal_clarity": 9}}, "survey_duplicate"),
        ({"request_id": "survey-7", "answers": {"goal_clarity": 3}}, "survey-7 is not open"),
        ({"request_id": "survey-1"}, "answers"),
    ):
        response = client.post("/relationships/r1/commands/submit-survey", json=body, headers=bearer("t-mentee"))
        assert 400 <= response.status_code < 500 and needle in response.text, response.text
    assert client.get("/relationships/r1/history", headers=bearer("t-manager")).json()["count"] == before


def test_the_dashboard_and_reports_carry_no_free_text_and_refuse_participants(client: TestClient) -> None:
    """The dashboard's data endpoints and the feedback report are for the program: counts, scores, mixes — never a
    free-text answer or comment, whoever reads; a participant's token gets no dashboard at all."""
    _intake_answered(client)
    response = client.post(
        "/relationships/r1/commands/submit-check-in",
        json={"satisfaction": 2, "comment": SECRET_OF_ELI},
        headers=bearer("t-mentee"),
    )
    assert response.status_code == 200, response.text
    secrets = (HOPE_OF_ELI, HOPE_OF_MONA, SECRET_OF_ELI)
    for token in ("t-manager", "t-auditor"):
        for path in ("/dashboard/data", "/dashboard/data?program=prog", "/dashboard/programs", "/reports/feedback"):
            response = client.get(path, headers=bearer(token))
            assert response.status_code == 200, (path, response.text)
            assert not [s for s in secrets if s in response.text], path
    for token in ("t-mentee", "t-mentor"):  # the hostile readers: the partners
        for path in ("/dashboard/data", "/dashboard/data?program=prog", "/dashboard/programs"):
            response = client.get(path, headers=bearer(token))
            assert response.status_code == 403 and not [s for s in secrets if s in response.text], path
