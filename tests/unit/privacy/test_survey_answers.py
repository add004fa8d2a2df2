"""Survey answers under privacy: the free-text answers (the instrument says which) are sealed under the author's key,
scores and choices stay plain; the plaintext meets the instrument's rules before sealing; the workflow's rules accept
the sealed form; an erasure scrubs the author's free text (sealed or legacy) and keeps every score; the access export
holds the response opened."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, select

from domain import Actor, InvalidCommand, Role, SubmitSurvey, builtin_instrument, validate_answers
from domain.privacy.sealed import ERASED, is_sealed, sealed_length
from projections.models import SurveyResponse, table_of
from projections.privacy.cipher import FieldCipher
from projections.privacy.erasure import erase_person, export_person
from projections.privacy.keystore import SqlKeyStore
from tests.unit.privacy.conftest import ANSWER, LEGACY_ANSWER, Program

BO = Actor(id="bo", role=Role.MENTEE)
INTAKE = builtin_instrument("intake", 1)


@pytest.fixture
def cipher() -> FieldCipher:
    return FieldCipher(SqlKeyStore(create_engine("sqlite://")))


def _response(text: str, command_id: str = "c1") -> SubmitSurvey:
    answers = {"expectations": text, "goal_clarity": 3, "cadence": "monthly", "hoped_functions": ["coaching"]}
    return SubmitSurvey(command_id=command_id, actor=BO, request_id="survey-1", answers=answers)


def test_only_the_free_text_answers_are_sealed_and_they_open(cipher: FieldCipher) -> None:
    sealed = cipher.seal_answers(_response("to be heard ✈"), INTAKE)
    answers = sealed.answers
    assert is_sealed(str(answers["expectations"])) and "heard" not in str(answers)
    assert (
        answers["goal_clarity"] == 3 and answers["cadence"] == "monthly" and answers["hoped_functions"] == ["coaching"]
    )
    assert cipher.open_json(answers)["expectations"] == "to be heard ✈"
    assert validate_answers(INTAKE, answers)["expectations"] == answers["expectations"]  # the workflow's rule


def test_a_resent_response_seals_alike_and_another_does_not(cipher: FieldCipher) -> None:
    assert cipher.seal_answers(_response("same"), INTAKE) == cipher.seal_answers(_response("same"), INTAKE)
    assert (
        cipher.seal_answers(_response("same", "c2"), INTAKE).answers
        != cipher.seal_answers(_response("same"), INTAKE).answers
    )


def test_the_plaintext_meets_the_instrument_before_it_is_sealed(cipher: FieldCipher) -> None:
    """A sealed answer's length no longer tells its plaintext's: the boundary checks the plaintext, naming it."""
    too_long = "x" * 2001  # the intake's expectations: at most 2000 characters
    assert len(cipher.seal_text("ana", too_long, "c/x")) < sealed_length(2000)  # sealed, it would pass the rule
    with pytest.raises(InvalidCommand, match=r"answers\.expectations: must be at most 2000 characters"):
        cipher.seal_answers(_response(too_long), INTAKE)
    with pytest.raises(InvalidCommand, match=r"answers\.cadence: must be one of"):
        cipher.seal_answers(_response("ok").model_copy(update={"answers": {"expectations": "ok",
                                                                           "goal_clarity": 3, "cadence": "daily"}}),
                            INTAKE)  # fmt: skip
    assert not cipher.store.key_ids_of("bo")  # nothing sealed, no key made for a refused response


def test_a_sealed_answer_longer_than_the_sealed_limit_is_refused_by_the_rule() -> None:
    forged = "enc:v1:" + "0" * 32 + ":" + "A" * sealed_length(2000)
    with pytest.raises(InvalidCommand, match=r"answers\.expectations: sealed text must be at most"):
        validate_answers(INTAKE, {"expectations": forged, "goal_clarity": 3})


def test_without_an_open_request_the_response_goes_as_it_is(cipher: FieldCipher) -> None:
    cmd = _response("plain")
    assert cipher.seal_answers(cmd, None) is cmd  # decide refuses it (validator: never in a history)
    assert cipher.seal_command(cmd) == cmd  # the mapping is seal_answers' job alone


def _rows(program: Program) -> dict[str, dict[str, object]]:
    table = table_of(SurveyResponse)
    with program.engine.connect() as conn:
        rows = conn.execute(
            select(table.c.relationship_id, table.c.answers).where(
                table.c.submitted_by == "bo", table.c.instrument == "intake"
            )
        ).all()
    return {rid: json.loads(text) for rid, text in rows}


def test_erasure_scrubs_the_authors_free_text_answers_and_keeps_the_scores(program: Program) -> None:
    before = _rows(program)
    assert before["r-legacy"]["expectations"] == LEGACY_ANSWER  # written before sealing: plaintext
    assert is_sealed(str(before["r-sealed"]["expectations"]))
    exported = export_person(program.engine, program.cipher, "bo")
    responses = exported["authored"]["survey_responses"]
    opened = {r["relationship_id"]: r["answers"] for r in responses if r["instrument"] == "intake"}
    assert opened["r-sealed"]["expectations"] == ANSWER and opened["r-legacy"]["cadence"] == "weekly"

    erase_person(program.engine, program.store, "bo", by="pm-1", by_role="manager")
    after = _rows(program)
    for rid in ("r-sealed", "r-legacy"):
        assert after[rid] == {**before[rid], "expectations": ERASED}  # scores and choices stay: reports count them
    exported = export_person(program.engine, program.cipher, "bo")
    assert ANSWER not in str(exported) and LEGACY_ANSWER not in json.dumps(exported["authored"])


def test_an_answer_typed_before_sealing_is_scrubbed_from_derived_text_too(program: Program) -> None:
    from projections.models import StageTransition

    table = table_of(StageTransition)
    with program.engine.begin() as conn:  # as if a composed text had quoted it
        conn.execute(table.update().where(table.c.relationship_id == "r-legacy").values(reason=f"x {LEGACY_ANSWER}"))
    erase_person(program.engine, program.store, "bo", by="pm-1", by_role="manager", now=datetime.now(UTC))
    with program.engine.connect() as conn:
        reasons = conn.execute(select(table.c.reason).where(table.c.relationship_id == "r-legacy")).scalars().all()
    assert reasons and all(LEGACY_ANSWER not in r and ERASED in r for r in reasons)
