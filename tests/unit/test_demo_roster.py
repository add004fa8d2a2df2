"""The demo's roster (workers/demo/people.py): the stories after the round pair the enrolled people — the next
mentee nobody matched, the best-scoring mentor with a free slot, never the mentor a rematch leaves — and stop
when nobody fits (the story then pairs people from outside the files)."""

from __future__ import annotations

from domain.matching import DEFAULT_MATCHING
from workers.demo.people import Roster, people_rows


def test_people_files_have_60_mentees_and_30_mentors_with_their_capacities() -> None:
    mentors, mentees = people_rows(56, 7, 30)
    assert (len(mentors), len(mentees)) == (30, 60)
    assert sum(m["capacity"] for m in mentors) == 66 and {m["capacity"] for m in mentors} == {1, 2, 3}
    assert people_rows(56, 7, 30) == (mentors, mentees)  # the same people for the same size and seed


def test_the_roster_pairs_waiting_mentees_with_the_best_free_mentor_within_capacity() -> None:
    mentors, mentees = people_rows(8, 1, 3)  # capacities 1, 2, 3: six slots for twelve mentees
    roster = Roster.of(mentors, mentees, DEFAULT_MATCHING)
    roster.taken(mentors[0]["person"], mentees[0]["person"])  # the round's pair: the first mentor is full
    picks = []
    while (pick := roster.pick(None, None)) is not None:
        picks.append(pick)
    order = [m["person"] for m in mentees]
    assert len(picks) == 5 and len({p.mentee for p in picks}) == 5  # the five free slots, five mentees
    assert [order.index(p.mentee) for p in picks] == sorted(order.index(p.mentee) for p in picks)
    used = {m["person"]: sum(p.mentor == m["person"] for p in picks) for m in mentors}
    assert used == {mentors[0]["person"]: 0, mentors[1]["person"]: 2, mentors[2]["person"]: 3}
    for p in picks:
        assert p.score == round(sum(p.explanation.values()), 6) and p.matching_version == DEFAULT_MATCHING.version
        assert p.score >= 0  # what a proposal can record


def test_a_rematch_keeps_the_mentee_and_leaves_the_mentor() -> None:
    mentors, mentees = people_rows(56, 7, 30)
    roster = Roster.of(mentors, mentees, DEFAULT_MATCHING)
    first = roster.pick(None, None)
    assert first is not None
    again = roster.pick(first.mentee, first.mentor)
    assert again is not None and again.mentee == first.mentee and again.mentor != first.mentor
    assert roster.pick("somebody-outside-the-files", None) is None
