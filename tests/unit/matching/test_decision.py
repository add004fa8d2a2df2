"""A proposal records the matching decision (issue 14): method, score, explanation and configuration version travel
in RelationshipProposed, and a proposal without them seals to the same bytes as before they existed."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from domain import ProposeRelationship, event_from_envelope, verify_chain
from domain.limits import MAX_EXPLANATION_ITEMS
from domain.scripting import Script


def _propose(script: Script, **fields: object) -> ProposeRelationship:
    return ProposeRelationship.model_validate(
        {
            "command_id": script.command_id(),
            "actor": script.manager,
            "relationship_id": script.relationship_id,
            "program_id": script.program_id,
            "mentor_id": script.mentor.id,
            "mentee_id": script.mentee.id,
            "policy": script.policy,
            **fields,
        }
    )


def test_the_proposed_event_carries_the_explanation_and_the_configuration_version() -> None:
    script = Script("r-decision")
    explanation = {"skills_goals": Decimal("10"), "timezone": Decimal("-0.25")}
    sealed = script.execute(
        _propose(
            script,
            match_method="algorithmic",
            match_score=Decimal("9.75"),
            match_explanation=explanation,
            matching_version="2026-11",
        )
    )
    first = sealed[0]
    assert first.payload["match_explanation"] == {"skills_goals": "10", "timezone": "-0.25"}
    assert first.payload["matching_version"] == "2026-11"
    event = event_from_envelope(first)
    assert event.match_explanation == explanation  # type: ignore[union-attr]
    assert verify_chain(script.log).ok


def test_a_proposal_without_a_decision_keeps_the_old_payload() -> None:
    script = Script("r-plain")
    payload = script.execute(_propose(script, match_method="manual"))[0].payload
    assert "match_explanation" not in payload
    assert "matching_version" not in payload


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"match_explanation": {f"c{i}": 1 for i in range(MAX_EXPLANATION_ITEMS + 1)}}, "match_explanation"),
        ({"match_explanation": {"x" * 65: 1}}, "MAX_NAME_LENGTH"),
        ({"match_explanation": {"skills": 1001}}, "match_explanation.skills"),
        ({"matching_version": ""}, "matching_version"),
    ],
)
def test_a_bad_decision_is_refused_naming_the_field(fields: dict[str, object], words: str) -> None:
    with pytest.raises(ValidationError) as caught:
        _propose(Script("r-bad"), **fields)
    assert words in str(caught.value)
