"""Sealing at the boundary: the format, idempotent re-sends, the limits on sealed text, opening and erasure."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine

from domain import Actor, InvalidCommand, LogMeeting, Role, SignAgreement, SubmitCheckIn
from domain.limits import MAX_LONG_TEXT_LENGTH, check_command
from domain.privacy.sealed import ERASED, SEALED_RE, is_sealed, key_ids_in, sealed_length
from projections.privacy.cipher import UNREADABLE, FieldCipher
from projections.privacy.keystore import SqlKeyStore

BO = Actor(id="bo", role=Role.MENTEE)
ANA = Actor(id="ana", role=Role.MENTOR)
NOW = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
def cipher() -> FieldCipher:
    return FieldCipher(SqlKeyStore(create_engine("sqlite://")))


def test_personal_text_is_sealed_under_the_authors_key_and_opens(cipher: FieldCipher) -> None:
    cmd = LogMeeting(command_id="c1", actor=BO, held_at=NOW, notes="we talked about my visa ✈")
    sealed = cipher.seal_command(cmd)
    assert is_sealed(sealed.notes) and "visa" not in sealed.notes
    assert key_ids_in(sealed.notes) == set(cipher.store.key_ids_of("bo"))
    assert cipher.open_text(sealed.notes) == "we talked about my visa ✈"
    assert sealed.held_at == cmd.held_at and sealed.command_id == "c1"


def test_the_same_command_seals_to_the_same_string_and_others_do_not(cipher: FieldCipher) -> None:
    """A re-sent command keeps its fingerprint (the client's idempotency); another command never shares a nonce."""
    cmd = SubmitCheckIn(command_id="c1", actor=BO, satisfaction=4, comment="fine")
    assert cipher.seal_command(cmd) == cipher.seal_command(cmd)
    other = SubmitCheckIn(command_id="c2", actor=BO, satisfaction=4, comment="fine")
    assert cipher.seal_command(other).comment != cipher.seal_command(cmd).comment


def test_empty_text_stays_empty_and_sealed_text_is_not_sealed_twice(cipher: FieldCipher) -> None:
    cmd = LogMeeting(command_id="c1", actor=BO, held_at=NOW)
    assert cipher.seal_command(cmd).notes == ""
    once = cipher.seal_command(LogMeeting(command_id="c2", actor=BO, held_at=NOW, notes="x"))
    assert cipher.seal_command(once) == once


def test_equal_goals_in_one_signature_stay_equal_and_the_partners_sealed_goal_is_reused(cipher: FieldCipher) -> None:
    mine = cipher.seal_command(SignAgreement(command_id="c1", actor=ANA, goals=["grow", "grow", "ship"], cadence="P1W"))
    assert mine.goals[0] == mine.goals[1] != mine.goals[2]
    theirs = SignAgreement(command_id="c2", actor=BO, goals=["ship", "learn"], cadence="P1W")
    reused = cipher.seal_command(cipher.reuse_sealed(theirs, "goals", mine.goals))
    assert reused.goals[0] == mine.goals[2]  # the domain unions the goals by equality: "ship" stays one goal
    assert cipher.open_json(reused.goals) == ["ship", "learn"]


def test_sealed_text_passes_the_limits_up_to_the_sealed_bound_and_not_beyond(cipher: FieldCipher) -> None:
    longest = "🦉" * MAX_LONG_TEXT_LENGTH  # 4 UTF-8 bytes a character: the largest ciphertext
    sealed = cipher.seal_command(LogMeeting(command_id="c1", actor=BO, held_at=NOW, notes=longest))
    assert len(sealed.notes) <= sealed_length(MAX_LONG_TEXT_LENGTH)
    check_command(sealed)  # decide's second check accepts it
    LogMeeting.model_validate(sealed.model_dump())  # so does the workflow's update input
    too_long = sealed.notes + "A" * (sealed_length(MAX_LONG_TEXT_LENGTH) - len(sealed.notes) + 1)
    with pytest.raises(InvalidCommand, match="sealed form of MAX_LONG_TEXT_LENGTH"):
        check_command(sealed.model_copy(update={"notes": too_long}))


def test_a_plaintext_that_only_looks_sealed_is_still_held_to_the_plaintext_limit() -> None:
    fake = "enc:v1:" + "0" * 32 + ":" + "A" * 20  # a well-formed token is sealed text; anything else is plaintext
    assert is_sealed(fake)
    assert not is_sealed(fake + " and more")
    with pytest.raises(ValueError, match="MAX_LONG_TEXT_LENGTH"):
        LogMeeting(command_id="c1", actor=BO, held_at=NOW, notes=fake + " " + "x" * MAX_LONG_TEXT_LENGTH)


def test_tokens_inside_derived_text_open_and_an_erased_key_reads_erased(cipher: FieldCipher) -> None:
    a = cipher.seal_text("bo", "moving abroad", "c1/reason")
    b = cipher.seal_text("ana", "too busy", "c2/reason")
    derived = f"declined by mentee bo: {a}; then mentor ana ({b})"
    assert cipher.open_text(derived) == "declined by mentee bo: moving abroad; then mentor ana (too busy)"
    assert cipher.store.erase("bo") == 1
    assert cipher.open_text(derived) == f"declined by mentee bo: {ERASED}; then mentor ana (too busy)"
    assert cipher.open_json({"x": [a, {"y": b}]}) == {"x": [ERASED, {"y": "too busy"}]}


def test_a_tampered_token_reads_unreadable(cipher: FieldCipher) -> None:
    token = cipher.seal_text("bo", "hello", "c1/notes")
    match = SEALED_RE.fullmatch(token)
    assert match is not None
    body = match.group(2)
    flipped = token[: -len(body)] + ("B" if body[0] == "A" else "A") + body[1:]
    assert cipher.open_text(flipped) == UNREADABLE
