"""``mentorflow program match`` against the real dev server: the round proposes every pair through update-with-start
(match method ``algorithmic``, the pair's score, its explanation and the configuration's version), and the same round
run again proposes nothing twice."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from pathlib import Path

from tests.integration.devserver.conftest import World
from tests.integration.devserver.test_cli import cli

PEOPLE = [
    {"person": "ana", "role": "mentor", "capacity": 1, "profile": {"skills": ["python"], "languages": ["en"]}},
    {"person": "carl", "role": "mentor", "capacity": 1, "profile": {"skills": ["go"], "languages": ["en"]}},
    {"person": "bo", "role": "mentee", "preferences": ["ana"], "profile": {"goals": ["python"], "languages": ["en"]}},
    {"person": "dee", "role": "mentee", "profile": {"goals": ["go"], "languages": ["en"]}},
    {"person": "eve", "role": "mentee", "profile": {"goals": ["go"], "languages": ["de"]}},
]


async def test_a_round_proposes_each_pair_once_with_its_method_and_score(world: World, tmp_path: Path) -> None:
    people = tmp_path / "people.jsonl"
    people.write_text("\n".join(json.dumps(r) for r in PEOPLE) + "\n")
    program = f"prog-match-{uuid.uuid4().hex[:8]}"
    args = ("program", "match", program, "--people", str(people), "--by", "manager:mgr-1", "--json")
    code, out, err = await cli(world, *args)
    assert code == 0, err
    first = json.loads(out)
    pairs = {(p["mentee"], p["mentor"]): p for p in first["proposals"]}
    assert set(pairs) == {("bo", "ana"), ("dee", "carl")}
    assert first["unmatched"] == [
        {"mentee": "eve", "reason": "no_feasible_mentor", "detail": "a hard constraint forbids every enrolled mentor"}
    ]
    for (mentee, mentor), proposal in pairs.items():
        code, out, err = await cli(world, "relationship", "show", proposal["relationship_id"], "--json")
        assert code == 0, err
        state = json.loads(out)["state"]
        assert (state["program_id"], state["mentee_id"], state["mentor_id"]) == (program, mentee, mentor)
        assert state["match_method"] == "algorithmic"
        assert Decimal(state["match_score"]) == Decimal(str(proposal["score"]))
        assert state["seq"] >= 1
        proposed = (await world.client.events(proposal["relationship_id"]))[0]
        assert proposed.type == "RelationshipProposed"
        assert proposed.payload["matching_version"] == first["matching_version"]
        assert {k: float(v) for k, v in proposed.payload["match_explanation"].items()} == proposal["explanation"]
    seqs = {
        p["relationship_id"]: json.loads((await cli(world, "relationship", "show", p["relationship_id"], "--json"))[1])[
            "state"
        ]["seq"]
        for p in first["proposals"]
    }

    code, out, err = await cli(world, *args)
    assert code == 0, err
    again = json.loads(out)
    assert [p["relationship_id"] for p in again["proposals"]] == [p["relationship_id"] for p in first["proposals"]]
    for rid, seq in seqs.items():
        code, out, _ = await cli(world, "relationship", "show", rid, "--json")
        assert json.loads(out)["state"]["seq"] == seq  # nothing appended the second time
