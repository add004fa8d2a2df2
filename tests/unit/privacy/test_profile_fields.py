"""Every field of an enrollment profile is classified, and what is personal may travel sealed (issue 20): the time
zone and the seniority admit their sealed form, still refuse bad plaintext naming the rule, and a profile recorded
before they were sealed re-seals to the very same canonical bytes (old program chains verify and replay)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from domain.envelope import canonical_json
from domain.matching import Profile
from domain.privacy.inventory import PROFILE_FIELDS, SEALED_PROFILE_FIELDS, Kind
from domain.privacy.sealed import sealed_length
from projections.privacy.cipher import seal_with

KEY_ID, KEY = "0" * 32, bytes(range(32))
RECORDED = (  # profiles as ParticipantEnrolled carried them before these fields were sealed (canonical JSON)
    '{"department":null,"goals":[],"interests":[],"languages":["en"],"line_manager":null,"seniority_years":0.0,'
    '"skills":[],"timezone":"UTC"}',
    '{"department":"d","goals":[],"interests":[],"languages":["en","pt"],"line_manager":"x","seniority_years":2.5,'
    '"skills":["a"],"timezone":"Europe/Paris"}',
)


def test_every_profile_field_is_classified() -> None:
    assert set(PROFILE_FIELDS) == set(Profile.model_fields)
    assert PROFILE_FIELDS["line_manager"] is Kind.PSEUDONYMOUS_ID  # a person id, like mentor_id
    assert {"languages", "timezone", "seniority_years"} <= set(SEALED_PROFILE_FIELDS)


@pytest.mark.parametrize("recorded", RECORDED)
def test_a_profile_recorded_before_sealing_reseals_to_the_same_bytes(recorded: str) -> None:
    assert canonical_json(Profile.model_validate_json(recorded).model_dump(mode="json")).decode() == recorded


def test_timezone_and_seniority_admit_their_sealed_form_and_the_score_needs_them_opened() -> None:
    zone = seal_with(KEY_ID, KEY, "Asia/Kathmandu", "c/bo/timezone")
    years = seal_with(KEY_ID, KEY, repr(13.375), "c/bo/seniority_years")
    profile = Profile(languages=("en",), timezone=zone, seniority_years=years)
    assert (profile.timezone, profile.seniority_years) == (zone, years)
    with pytest.raises(ValueError, match="seniority_years: sealed; open the profile"):
        _ = profile.years
    opened = Profile(languages=("en",), timezone="Asia/Kathmandu", seniority_years="13.375")  # as a reader opens it
    assert opened.years == 13.375 and isinstance(opened.seniority_years, float)


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("seniority_years", "lots", "must be a number of years"),
        ("seniority_years", -1, "from 0 to 80 years (MAX_SENIORITY_YEARS)"),
        ("seniority_years", 81, "MAX_SENIORITY_YEARS"),
        ("seniority_years", float("nan"), "MAX_SENIORITY_YEARS"),
        ("seniority_years", [1], "must be a number of years"),
        ("seniority_years", 10**400, "must be a number of years"),  # beyond any float: refused, not a crash
        ("seniority_years", "enc:v1:" + "0" * 32 + ":" + "A" * sealed_length(32), "the sealed form of seniority"),
        ("timezone", "Mars/Olympus", "neither an IANA time zone"),
        ("timezone", "enc:v1:" + "0" * 32 + ":" + "A" * sealed_length(64), "the sealed form of the timezone"),
    ],
)
def test_bad_values_are_refused_naming_the_field_and_rule(field: str, value: object, says: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Profile.model_validate({"languages": ["en"], field: value})
    [error] = refused.value.errors()
    assert error["loc"][0] == field and says in error["msg"]
