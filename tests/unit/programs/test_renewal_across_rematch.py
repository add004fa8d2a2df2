"""The renewal cap holds per mentee within a cycle, across a rematch: a proposal carries the renewals the mentee
already used (``renewals_used``), which count against the policy's ``max_renewals``; absent, nothing changes."""

from __future__ import annotations

import pytest

from domain import InvalidCommand, RequestRenewal
from domain.scripting import proposal
from tests.unit.domain.helpers import MANAGER, MENTEE, MENTOR, Driver


def _in_cultivation(renewals_used: int | None) -> Driver:
    d = Driver()
    command = proposal(
        d.relationship_id,
        program_id=d.program_id,
        by=MANAGER,
        mentor_id=MENTOR.id,
        mentee_id=MENTEE.id,
        policy=d.policy,
        command_id=d.cid(),
        rules_version=d.rules_version,
    ).model_copy(update={"renewals_used": renewals_used})
    (proposed,) = [e for e in d.execute(command) if e.type == "RelationshipProposed"]
    assert ("renewals_used" in proposed.payload) == bool(renewals_used)  # absent ⇒ the same bytes as before
    d.accept_all().sign_both().to_cultivation()
    return d


def test_a_rematched_mentee_who_used_the_renewal_gets_none_more() -> None:
    d = _in_cultivation(renewals_used=1)
    assert d.state.renewals == 1
    with pytest.raises(InvalidCommand, match="renewal cap reached: 1 of max_renewals=1 already used"):
        d.do(RequestRenewal(command_id=d.cid(), actor=MENTOR))


def test_without_a_predecessor_the_renewal_is_there() -> None:
    d = _in_cultivation(renewals_used=None)
    d.do(RequestRenewal(command_id=d.cid(), actor=MENTOR))
    assert d.do(RequestRenewal(command_id=d.cid(), actor=MENTEE)) == ["RenewalRequested", "TermRenewed"]


def test_a_relationship_id_never_takes_the_program_chain_prefix() -> None:
    with pytest.raises(ValueError, match=r"relationship_id\n.*must not start with 'program:'"):
        proposal(
            "program:p1",
            program_id="p1",
            by=MANAGER,
            mentor_id=MENTOR.id,
            mentee_id=MENTEE.id,
            policy=Driver().policy,
            command_id="c-1",
        )
