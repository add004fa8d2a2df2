"""The envelope byte format, the hash chain, verify_chain's diagnostics, and upcasting (golden file)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from domain import (
    GENESIS_HASH,
    UPCASTERS,
    CheckInSubmitted,
    Envelope,
    MeetingLogged,
    RelationshipState,
    Role,
    Stage,
    Substate,
    apply_envelope,
    canonical_json,
    event_from_envelope,
    event_to_payload,
    replay,
    seal,
    upcast,
    verify_chain,
)
from domain.actors import Actor
from domain.errors import ChainBroken
from tests.unit.domain.helpers import reach

pytestmark = pytest.mark.unit

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "relationship-checkin-v1.jsonl"

AB = "ab" * 32
EXPECTED_BYTES = (
    '{"actor":{"id":"e-1","role":"mentee"},"causation_id":"cmd-9",'
    '"event_id":"6f9619ff-8b86-d011-b42d-00cf4fc964ff","occurred_at":"2026-03-01T14:30:00.000005Z",'
    '"payload":{"backfill":false,"by":"e-1","duration_minutes":45,"held_at":"2026-03-01T13:00:00.000000Z",'
    '"notes":"café","role":"mentee"},"prev_hash":"' + AB + '","program_id":"p-1","relationship_id":"r-1",'
    '"schema_version":1,"seq":5,"type":"MeetingLogged"}'
).encode()
# computed outside Python: printf '%s' "<EXPECTED_BYTES>" | sha256sum
EXPECTED_HASH = "321281c6e30d8406a19dc458968bd6270996185a5e5c8c848b3c4a42ab77c250"


def _sealed() -> Envelope:
    state = RelationshipState(relationship_id="r-1", program_id="p-1", seq=4, last_hash=AB)
    event = MeetingLogged(
        at=datetime(2026, 3, 1, 14, 30, 0, 5, tzinfo=UTC),
        by="e-1",
        role=Role.MENTEE,
        held_at=datetime(2026, 3, 1, 13, 0, tzinfo=UTC),
        duration_minutes=45,
        notes="café",
    )
    actor = Actor(id="e-1", role=Role.MENTEE)
    return seal(state, event, event_id="6F9619FF-8B86-D011-B42D-00CF4FC964FF", actor=actor, causation_id="cmd-9")


def test_envelope_bytes_and_hash_match_a_hand_computed_sha256() -> None:
    env = _sealed()
    assert hashlib.sha256(EXPECTED_BYTES).hexdigest() == EXPECTED_HASH
    assert canonical_json(env.hashed_dict()) == EXPECTED_BYTES
    assert env.hash == EXPECTED_HASH == env.compute_hash()
    assert env.seq == 5 and env.prev_hash == AB
    assert env.event_id == "6f9619ff-8b86-d011-b42d-00cf4fc964ff"
    # the published bytes: the same object plus "hash", which sorts between event_id and occurred_at
    marker = b'"event_id":"6f9619ff-8b86-d011-b42d-00cf4fc964ff",'
    assert env.to_bytes() == EXPECTED_BYTES.replace(marker, marker + f'"hash":"{EXPECTED_HASH}",'.encode())
    assert json.loads(env.to_bytes()) == {**json.loads(EXPECTED_BYTES), "hash": EXPECTED_HASH}
    assert "é" in env.to_bytes().decode("utf-8")  # ensure_ascii=False


def test_envelope_round_trips_through_bytes_and_dicts() -> None:
    env = _sealed()
    again = Envelope.from_bytes(env.to_bytes())
    assert again == env and again.to_bytes() == env.to_bytes()
    assert Envelope.from_json_dict(env.to_json_dict()) == env
    assert event_from_envelope(again) == MeetingLogged(
        at=env.occurred_at,
        by="e-1",
        role=Role.MENTEE,
        held_at=datetime(2026, 3, 1, 13, 0, tzinfo=UTC),
        duration_minutes=45,
        notes="café",
    )


def test_occurred_at_format_always_has_six_digits_and_z() -> None:
    d = reach((Stage.INITIATION, Substate.TRIAL))
    for env in d.log:
        text = env.to_json_dict()["occurred_at"]
        datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")
        assert len(text) == 27 and text.endswith("Z")


def test_payload_is_json_native_without_type_and_at() -> None:
    d = reach((Stage.INITIATION, Substate.PROPOSED))
    proposed = d.log[0]
    assert "type" not in proposed.payload and "at" not in proposed.payload
    assert proposed.payload["match_score"] == "0.87"  # decimals as strings, never floats
    assert proposed.payload["policy"]["term"] == "P12M"
    assert json.loads(canonical_json(proposed.payload)) == proposed.payload
    ev = event_from_envelope(proposed)
    assert event_to_payload(ev) == proposed.payload


def test_seq_1_links_to_the_genesis_hash() -> None:
    d = reach((Stage.INITIATION, Substate.PROPOSED))
    assert d.log[0].seq == 1 and d.log[0].prev_hash == GENESIS_HASH == "0" * 64
    assert d.log[1].prev_hash == d.log[0].hash


# --- verify_chain ------------------------------------------------------------------------------------------


def _log() -> list[Envelope]:
    return reach((Stage.CULTIVATION, Substate.ACTIVE)).log


def test_verify_chain_ok_over_envelopes_dicts_and_bytes() -> None:
    log = _log()
    for records in (log, [e.to_json_dict() for e in log], [e.to_bytes() for e in log]):
        report = verify_chain(records)
        assert report.ok and report.checked == len(log) and report.first_bad_seq is None
        assert report.last_hash == log[-1].hash
    assert verify_chain([]).ok


def test_verify_chain_hash_mismatch() -> None:
    log = [e.to_json_dict() for e in _log()]
    log[6]["payload"] = {**log[6]["payload"], "reason": "edited"}
    report = verify_chain(log)
    assert not report.ok and report.first_bad_seq == 7 and report.checked == 6
    assert report.problem is not None
    assert report.problem.startswith("seq 7: hash mismatch (stored ")
    assert f"stored {log[6]['hash'][:7]}" in report.problem


def test_verify_chain_broken_prev_link() -> None:
    log = [e.to_json_dict() for e in _log()]
    log[4]["prev_hash"] = "1" * 64
    report = verify_chain(log)
    assert (report.first_bad_seq, report.problem) == (5, "seq 5: prev_hash does not match hash of seq 4")


def test_verify_chain_gap_duplicate_and_foreign_relationship() -> None:
    log = _log()
    gap = log[:7] + log[8:]
    assert verify_chain(gap).problem == "seq 9: expected seq 8 (gap)"
    assert verify_chain(gap).first_bad_seq == 8
    dup = log[:5] + log[4:]
    assert verify_chain(dup).problem == "seq 5: expected seq 6 (duplicate)"
    other = reach((Stage.INITIATION, Substate.PROPOSED))
    other_rel = [e.model_copy(update={"relationship_id": "r-9"}) for e in other.log]
    report = verify_chain([log[0], other_rel[1]])
    assert report.first_bad_seq == 2 and "belongs to relationship 'r-9'" in (report.problem or "")


def test_verify_chain_rejects_non_canonical_bytes() -> None:
    log = _log()
    records = [e.to_bytes() for e in log]
    records[2] = json.dumps(json.loads(records[2]), indent=1).encode()
    report = verify_chain(records)
    assert (report.first_bad_seq, report.problem) == (3, "seq 3: bytes are not canonical JSON")


def test_apply_envelope_refuses_a_broken_chain() -> None:
    log = _log()
    state = RelationshipState.new("r-1")
    state = apply_envelope(state, log[0])
    with pytest.raises(ChainBroken, match="seq 3: expected seq 2"):
        apply_envelope(state, log[2])
    forged = log[1].model_copy(update={"payload": {**log[1].payload, "reason": "forged"}})
    with pytest.raises(ChainBroken, match="seq 2: hash mismatch"):
        apply_envelope(state, forged)


def test_replay_until_an_instant() -> None:
    d = reach((Stage.CULTIVATION, Substate.ACTIVE))
    assert replay(d.log) == d.state
    trial = d.state.trial_started_at
    assert trial is not None
    at_trial = replay(d.log, until=trial)
    assert (at_trial.stage, at_trial.substate) == (Stage.INITIATION, Substate.TRIAL)
    with pytest.raises(ValueError, match="did not exist yet"):
        replay(d.log, until=d.log[0].occurred_at - timedelta(microseconds=1))


# --- upcasting ---------------------------------------------------------------------------------------------


def test_upcast_check_in_v1_score_to_v2_satisfaction() -> None:
    assert ("CheckInSubmitted", 1) in UPCASTERS
    expected = {1: 1, 2: 1, 3: 2, 4: 2, 5: 3, 6: 3, 7: 4, 8: 4, 9: 5, 10: 5}
    for score, satisfaction in expected.items():
        payload = {"by": "e-1", "role": "mentee", "score": score, "comment": ""}
        version, out = upcast("CheckInSubmitted", 1, payload)
        assert version == CheckInSubmitted.schema_version == 2
        assert out == {"by": "e-1", "role": "mentee", "satisfaction": satisfaction, "comment": ""}
        assert payload["score"] == score  # input untouched
    assert upcast("MeetingLogged", 1, {"x": 1}) == (1, {"x": 1})
    with pytest.raises(ValueError, match="newer than this code knows"):
        upcast("CheckInSubmitted", 3, {})
    with pytest.raises(ValueError, match="unknown event type"):
        upcast("Nope", 1, {})


def test_golden_v1_check_in_decodes_to_v2_and_its_stored_hash_still_verifies() -> None:
    raw_lines = GOLDEN.read_bytes().splitlines()
    report = verify_chain(raw_lines)  # hashes cover the stored (v1) bytes, not the upcast
    assert report.ok and report.checked == 12, report
    envelopes = [Envelope.from_bytes(line) for line in raw_lines]
    assert [e.to_bytes() for e in envelopes] == raw_lines  # decoding and re-encoding is lossless
    legacy = envelopes[-1]
    assert (legacy.type, legacy.schema_version, legacy.payload["score"]) == ("CheckInSubmitted", 1, 7)
    event = event_from_envelope(legacy)
    assert isinstance(event, CheckInSubmitted)
    assert (event.satisfaction, event.comment, event.at) == (4, "going well, à bientôt", legacy.occurred_at)
    state = replay(envelopes)
    assert state.latest_satisfaction == {"e-1": 4} and state.check_ins == 1
    assert (state.seq, state.last_hash) == (12, legacy.hash)
    assert (state.stage, state.substate) == (Stage.INITIATION, Substate.TRIAL)


def test_envelope_and_state_survive_a_pydantic_json_round_trip() -> None:
    """The workflow carries envelopes (outbox) and the state through Temporal's pydantic JSON converter."""
    d = reach((Stage.CULTIVATION, Substate.PAUSED))
    for env in d.log:
        again = Envelope.model_validate_json(env.model_dump_json())
        assert again == env and again.to_bytes() == env.to_bytes()
    assert RelationshipState.model_validate_json(d.state.model_dump_json()) == d.state
