"""``mentorflow program scores | match --dry-run`` over an enrollment file: the JSON keys of the issue exactly, and
every bad file refused with exit 2 naming the line, the field and the rule (no services needed: nothing reaches
Temporal)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from workers.cli import app

PEOPLE = [
    {
        "person": "ana",
        "role": "mentor",
        "capacity": 1,
        "profile": {"skills": ["python", "sql"], "languages": ["en"], "seniority_years": 10},
    },
    {
        "person": "carl",
        "role": "mentor",
        "capacity": 2,
        "profile": {"skills": ["go"], "languages": ["fr", "en"], "timezone": "Europe/Paris", "seniority_years": 8},
    },
    {
        "person": "bo",
        "role": "mentee",
        "preferences": ["ana"],
        "profile": {"goals": ["python"], "languages": ["en"], "seniority_years": 4},
    },
    {
        "person": "dee",
        "role": "mentee",
        "profile": {"goals": ["python", "go"], "languages": ["fr"], "line_manager": "ana", "seniority_years": 3},
    },
    {"person": "eve", "role": "mentee", "profile": {"goals": ["cobol"], "languages": ["de"]}},
]


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "2000", "TERMINAL_WIDTH": "2000"})
    return result.exit_code, result.stdout + result.stderr


def _jsonl(tmp_path: Path, rows: list[dict[str, object]], name: str = "people.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_scores_prints_mentees_mentors_capacity_and_null_where_a_hard_rule_forbids(tmp_path: Path) -> None:
    code, out = _cli("program", "scores", "P", "--people", str(_jsonl(tmp_path, PEOPLE)), "--json")
    assert code == 0, out
    data = json.loads(out)
    assert set(data) == {"mentees", "mentors", "capacity", "scores"}
    assert data["mentees"] == ["bo", "dee", "eve"]
    assert data["mentors"] == ["ana", "carl"]
    assert data["capacity"] == {"ana": 1, "carl": 2}
    bo, dee, eve = data["scores"]
    assert dee[0] is None  # ana is dee's line manager
    assert eve == [None, None]  # no common language
    assert bo[0] > bo[1]


def test_match_dry_run_prints_the_round_with_explanations_and_proposes_nothing(tmp_path: Path) -> None:
    code, out = _cli("program", "match", "P", "--people", str(_jsonl(tmp_path, PEOPLE)), "--dry-run", "--json")
    assert code == 0, out
    data = json.loads(out)
    assert {"proposals", "unmatched", "total_score"} <= set(data)
    assert [(p["mentee"], p["mentor"]) for p in data["proposals"]] == [("bo", "ana"), ("dee", "carl")]
    for p in data["proposals"]:
        assert set(p) == {"mentee", "mentor", "score", "explanation", "relationship_id"}
        assert p["relationship_id"] is None
        assert sum(p["explanation"].values()) == pytest.approx(p["score"])
    assert data["total_score"] == pytest.approx(sum(p["score"] for p in data["proposals"]))
    assert data["unmatched"] == [
        {"mentee": "eve", "reason": "no_feasible_mentor", "detail": "a hard constraint forbids every enrolled mentor"}
    ]


def test_a_csv_enrollment_gives_the_same_round_as_json_lines(tmp_path: Path) -> None:
    csv = tmp_path / "people.csv"
    csv.write_text(
        "person,role,capacity,preferences,skills,goals,languages,timezone,seniority_years,line_manager\n"
        "ana,mentor,1,,python;sql,,en,,10,\n"
        "carl,mentor,2,,go,,fr;en,Europe/Paris,8,\n"
        "bo,mentee,,ana,,python,en,,4,\n"
        "dee,mentee,,,,python;go,fr,,3,ana\n"
        "eve,mentee,,,,cobol,de,,,\n"
    )
    from_csv = _cli("program", "match", "P", "--people", str(csv), "--dry-run", "--json")
    from_jsonl = _cli("program", "match", "P", "--people", str(_jsonl(tmp_path, PEOPLE)), "--dry-run", "--json")
    assert from_csv[0] == 0, from_csv[1]
    assert json.loads(from_csv[1]) == json.loads(from_jsonl[1])


BAD_ROWS: dict[str, tuple[dict[str, object], str]] = {
    "capacity 0": ({"person": "x", "role": "mentor", "capacity": 0, "profile": {"languages": ["en"]}}, "capacity"),
    "negative capacity": (
        {"person": "x", "role": "mentor", "capacity": -2, "profile": {"languages": ["en"]}},
        "capacity",
    ),
    "a mentor without capacity": (
        {"person": "x", "role": "mentor", "profile": {"languages": ["en"]}},
        "capacity: a mentor must give one",
    ),
    "a preference for a non-mentor": (
        {"person": "x", "role": "mentee", "preferences": ["bo"], "profile": {"languages": ["en"]}},
        "preferences: 'bo' is not an enrolled mentor",
    ),
    "an unknown time zone": (
        {"person": "x", "role": "mentee", "profile": {"languages": ["en"], "timezone": "Mars/Base"}},
        "profile.timezone",
    ),
    "a profile without a language": ({"person": "x", "role": "mentee", "profile": {}}, "profile.languages"),
    "an unknown field": ({"person": "x", "role": "mentee", "profile": {"languages": ["en"], "age": 3}}, "profile.age"),
    "an unknown role": ({"person": "x", "role": "boss", "profile": {"languages": ["en"]}}, "role"),
    "a bad person id": (
        {"person": "x y", "role": "mentee", "profile": {"languages": ["en"]}},
        "person: person id must use only",
    ),
    "the same person and role twice": (
        {"person": "ana", "role": "mentor", "capacity": 1, "profile": {"languages": ["en"]}},
        "already enrolled as mentor (line 1)",
    ),
}


@pytest.mark.parametrize("name", list(BAD_ROWS))
def test_a_file_with_a_bad_row_changes_nothing_and_names_the_line_and_field(tmp_path: Path, name: str) -> None:
    row, words = BAD_ROWS[name]
    path = _jsonl(tmp_path, [*PEOPLE, row])
    code, out = _cli("program", "match", "P", "--people", str(path), "--dry-run", "--json")
    assert code == 2, out
    error = json.loads(out)["error"]
    assert "nothing enrolled" in error
    assert "line 6: " in error
    assert words in error
    assert "Traceback" not in out


def test_every_bad_row_is_listed_not_only_the_first(tmp_path: Path) -> None:
    rows = [*PEOPLE, BAD_ROWS["capacity 0"][0], BAD_ROWS["an unknown role"][0]]
    path = _jsonl(tmp_path, rows)
    path.write_text(path.read_text() + "{not json\n")
    code, out = _cli("program", "match", "P", "--people", str(path), "--dry-run", "--json")
    assert code == 2
    error = json.loads(out)["error"]
    assert "line 6: capacity" in error
    assert "line 7: role" in error
    assert "line 8: not valid JSON" in error


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("people.txt", "x", "name a .csv or .jsonl file"),
        ("people.csv", "name,role\nx,mentee\n", "the CSV header lacks person"),
        ("people.csv", "person,role\nx,mentee,extra\n", "line 2: more cells than the header has columns"),
        ("people.jsonl", "\n", "the file enrolls nobody"),
        ("people.jsonl", "\udcff", "not UTF-8"),
    ],
)
def test_a_malformed_file_is_refused_with_exit_2(tmp_path: Path, name: str, content: str, words: str) -> None:
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8", "surrogateescape"))
    code, out = _cli("program", "scores", "P", "--people", str(path), "--json")
    assert code == 2, out
    assert words in json.loads(out)["error"]


def test_a_bad_matching_file_is_refused_naming_it_and_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "matching.toml"
    bad.write_text('version = "v"\n[weights]\npreference = [1, 2, 3]\n')
    code, out = _cli(
        "program", "scores", "P", "--people", str(_jsonl(tmp_path, PEOPLE)), "--matching-file", str(bad), "--json"
    )
    assert code == 2, out
    assert "weights.preference: must be strictly decreasing" in json.loads(out)["error"]


def test_a_matching_file_changes_the_weights_and_the_version(tmp_path: Path) -> None:
    cfg = tmp_path / "matching.toml"
    cfg.write_text(
        '[matching]\nversion = "only-goals"\nfloor = 0.5\n[matching.weights]\nskills_goals = 1\ninterests = 0\n'
        "preference = [0]\ntimezone_per_hour = 0\nseniority_per_year = 0\n"
    )
    code, out = _cli(
        "program",
        "match",
        "P",
        "--people",
        str(_jsonl(tmp_path, PEOPLE)),
        "--matching-file",
        str(cfg),
        "--dry-run",
        "--json",
    )
    assert code == 0, out
    data = json.loads(out)
    assert data["matching_version"] == "only-goals"
    assert [p["score"] for p in data["proposals"]] == [1.0, 0.5]


@pytest.mark.parametrize(("args", "words"), [((), "--by"), (("--by", "mentor:ana"), "manager")])
def test_a_round_that_proposes_needs_a_manager(tmp_path: Path, args: tuple[str, ...], words: str) -> None:
    code, out = _cli("program", "match", "P", "--people", str(_jsonl(tmp_path, PEOPLE)), *args)
    assert code == 2, out
    assert words in out


def test_suggest_ranks_allowed_mentors_with_a_free_slot_best_first(tmp_path: Path) -> None:
    path = _jsonl(tmp_path, PEOPLE)
    code, out = _cli("program", "suggest", "P", "--people", str(path), "--mentee", "bo", "--json")
    assert code == 0, out
    data = json.loads(out)
    assert [s["mentor"] for s in data["suggestions"]] == ["ana", "carl"]
    first = data["suggestions"][0]
    assert set(first) == {"mentor", "score", "explanation", "remaining_capacity", "below_floor"}
    assert first["explanation"]["preference"] == 3.0
    assert first["score"] > data["suggestions"][1]["score"]
    code, out = _cli("program", "suggest", "P", "--people", str(path), "--mentee", "dee", "--top", "1", "--json")
    assert [s["mentor"] for s in json.loads(out)["suggestions"]] == ["carl"]  # never the line manager


def test_suggest_leaves_out_a_full_mentor_and_a_failed_trial(tmp_path: Path) -> None:
    rows = [dict(r) for r in PEOPLE]
    rows[0] = {**rows[0], "open_relationships": 1}  # ana is full
    rows[2] = {**rows[2], "excluded": ["carl"]}  # bo's trial with carl failed
    code, out = _cli("program", "suggest", "P", "--people", str(_jsonl(tmp_path, rows)), "--mentee", "bo", "--json")
    assert code == 0, out
    assert json.loads(out)["suggestions"] == []


@pytest.mark.parametrize(
    ("args", "words"), [(("--mentee", "ana"), "not enrolled as a mentee"), (("--mentee", "bo", "--top", "0"), "--top")]
)
def test_suggest_refuses_an_unknown_mentee_or_a_bad_top(tmp_path: Path, args: tuple[str, ...], words: str) -> None:
    code, out = _cli("program", "suggest", "P", "--people", str(_jsonl(tmp_path, PEOPLE)), *args)
    assert code == 2, out
    assert words in out
