"""The program routes over the real stack (worker, projector, API processes): a manager creates a program, enrolls
people and a participant enrolls themself, the score table and a dry round read the projection, the round proposes
relationships that carry their matching decision, a withdrawal, a new configuration and the closed cycle take
effect, and hostile input is a 4xx naming the field that changes nothing."""

from __future__ import annotations

import uuid

import pytest

from tests.e2e.conftest import LiveStack

pytestmark = pytest.mark.timeout(120)

EN = {"languages": ["en"], "skills": ["python"], "goals": ["python"]}


def test_a_program_over_http(live: LiveStack) -> None:
    program = f"e2e-prog-{uuid.uuid4().hex[:6]}"
    manager, mentee, mentor = live.client("e2e-manager"), live.client("e2e-mentee"), live.client("e2e-mentor")
    created = manager.post("/programs", json={"program_id": program, "name": "e2e", "policy": "mentoring-12m"})
    assert created.status_code == 201, created.text
    people = [
        {"person_id": "e2e-mona", "role": "mentor", "capacity": 2, "profile": EN},
        {"person_id": "e2e-bo", "role": "mentee", "profile": EN},
    ]
    assert manager.post(f"/programs/{program}/enrollments", json={"participants": people}).status_code == 201
    own = {"person_id": "e2e-eli", "role": "mentee", "profile": EN, "preferences": ["e2e-mona"]}
    enrolled = mentee.post(f"/programs/{program}/enrollments", json={"participants": [own]})
    assert enrolled.status_code == 201, enrolled.text
    assert enrolled.json()["mentees"] == 2

    bad = {"person_id": "e2e-cy", "role": "mentor", "capacity": 0, "profile": EN}
    refused = manager.post(f"/programs/{program}/enrollments", json={"participants": [bad]})
    assert refused.status_code == 422 and "capacity" in refused.text
    assert (
        mentor.post(f"/programs/{program}/withdrawals", json={"person_id": "e2e-bo", "role": "mentee"}).status_code
        == 403
    )
    assert manager.get("/programs/e2e-no-such-program").status_code == 404

    shown = manager.get(f"/programs/{program}").json()  # waits for the projection to reach the chain head
    assert shown["counts"] == {"mentors": 1, "mentees": 2, "withdrawn": 0, "rounds": 0}
    scores = manager.get(f"/programs/{program}/scores").json()
    assert scores["mentees"] == ["e2e-bo", "e2e-eli"] and scores["capacity"] == {"e2e-mona": 2}
    gone = manager.post(f"/programs/{program}/withdrawals", json={"person_id": "e2e-bo", "role": "mentee"})
    assert gone.status_code == 201 and gone.json()["mentees"] == 1
    config = {"matching": {"version": "e2e-2", "floor": 0.5}}
    assert manager.put(f"/programs/{program}/matching", json=config).status_code == 200

    dry = manager.post(f"/programs/{program}/rounds", params={"dry_run": "true"}).json()
    assert dry["matching_version"] == "e2e-2"
    assert [(p["mentee"], p["mentor"], p["relationship_id"]) for p in dry["proposals"]] == [
        ("e2e-eli", "e2e-mona", None)
    ]
    done = manager.post(f"/programs/{program}/rounds").json()
    (proposal,) = done["proposals"]
    state = manager.get(f"/relationships/{proposal['relationship_id']}").json()
    assert (state["match_method"], float(state["match_score"])) == ("algorithmic", proposal["score"])

    closed = manager.post(f"/programs/{program}/close")
    assert closed.status_code == 200 and closed.json()["closed"] is True
    late = manager.post(f"/programs/{program}/enrollments", json={"participants": [people[1]]})
    assert late.status_code == 409 and "its cycle is closed" in late.text
    report = manager.get(f"/programs/{program}/report").json()
    assert (report["funnel"]["enrolled"], report["funnel"]["withdrawn"]) == (2, 1)
