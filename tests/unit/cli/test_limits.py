"""Hostile input through the CLI: a policy file per attack, and commands breaking a limit. Each is exit 2 with a
message naming the file or the field and the rule — no traceback, no memory exhaustion, no RecursionError — and
each is refused before Temporal is contacted (no services needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from domain import builtin_policy
from domain.limits import MAX_FILE_BYTES, MAX_FILE_NODES, MAX_ID_LENGTH, MAX_LONG_TEXT_LENGTH
from workers.cli import app
from workers.datafiles import DataFileError, load_data_file

PROPOSE = ["relationship", "propose", "--program", "prog", "--mentor", "ana", "--mentee", "bo", "--by", "manager:m-1"]


def _policy_yaml() -> str:
    return "\n".join(f"{k}: {json.dumps(v)}" for k, v in builtin_policy("mentoring-12m").to_mapping().items())


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "2000", "TERMINAL_WIDTH": "2000"})
    return result.exit_code, result.stdout + result.stderr


ALIAS_BOMB = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)}]" for i in range(9)]
)

ATTACKS: dict[str, tuple[str, str, str]] = {
    # name: (file name, content, what the message must say)
    "alias bomb": ("bomb.yaml", ALIAS_BOMB, "YAML anchors (&a) are not allowed"),
    "an alias alone": ("alias.yaml", "name: *n\n", "YAML aliases (*n) are not allowed"),
    "an anchor alone": ("anchor.yaml", "name: &n fast\n", "YAML anchors (&n) are not allowed"),
    "5,000-deep YAML list": ("deep.yaml", "a: " + "[" * 5000 + "]" * 5000, "MAX_FILE_DEPTH"),
    "300-deep YAML block mapping": (
        "deep-block.yaml",
        "".join(f"{' ' * i}k{i}:\n" for i in range(300)) + " " * 300 + "x: 1\n",
        "MAX_FILE_DEPTH",
    ),
    "5,000-deep TOML array": ("deep.toml", "a = " + "[" * 5000 + "]" * 5000, "MAX_FILE_DEPTH"),
    "5,000-deep TOML dotted key": ("dotted.toml", ".".join(f"k{i}" for i in range(5000)) + " = 1", "MAX_FILE_DEPTH"),
    "too many values": ("wide.yaml", "a: [" + ",".join(["1"] * (MAX_FILE_NODES + 1)) + "]", "MAX_FILE_NODES"),
    "too large": ("big.toml", "# " + "x" * MAX_FILE_BYTES, "MAX_FILE_BYTES"),
    "not UTF-8": ("latin1.toml", 'name = "caf\xe9"', "not UTF-8"),
    "a list at the top": ("list.yaml", "- 1\n- 2\n", "must hold a mapping at the top level"),
    "a binary value": ("binary.yaml", "name: !!binary aGVsbG8=\n", "a bytes is not allowed"),
    "a date value": ("date.yaml", "name: 2026-01-01\n", "a date is not allowed"),
    "a python tag": ("python.yaml", "name: !!python/object/apply:os.system ['true']\n", "not valid YAML"),
    "two documents": ("two.yaml", "a: 1\n---\nb: 2\n", "not valid YAML"),
    "a giant integer": ("int.toml", "trial_meetings_needed = " + "9" * 5000, "not valid TOML"),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_a_hostile_policy_file_is_exit_2_naming_the_file_and_the_rule(tmp_path: Path, attack: str) -> None:
    name, content, rule = ATTACKS[attack]
    path = tmp_path / name
    path.write_bytes(content.encode("latin-1") if name == "latin1.toml" else content.encode("utf-8"))
    code, output = _cli(*PROPOSE, "--policy-file", str(path))
    flat = " ".join(output.replace("│", " ").split())
    assert code == 2, output
    assert name in flat and rule in flat, output
    assert "Traceback" not in output


def test_the_loader_reads_a_bounded_amount_of_an_endless_file() -> None:
    with pytest.raises(DataFileError, match="MAX_FILE_BYTES"):
        load_data_file(Path("/dev/zero"))


def test_a_policy_file_with_an_absurd_duration_is_exit_2_naming_the_field(tmp_path: Path) -> None:
    path = tmp_path / "p9000y.yaml"
    path.write_text(_policy_yaml().replace('term: "P12M"', 'term: "P9000Y"'))
    code, output = _cli(*PROPOSE, "--policy-file", str(path))
    flat = " ".join(output.replace("│", " ").split())
    assert code == 2, output
    assert "term: must be at most P10Y (MAX_DURATION)" in flat, output


def test_a_good_yaml_policy_file_loads_to_the_same_policy(tmp_path: Path) -> None:
    path = tmp_path / "ok.yml"
    path.write_text(_policy_yaml())
    from domain import policy_from_mapping

    assert policy_from_mapping(load_data_file(path)) == builtin_policy("mentoring-12m")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--mentor", "ana bo"], "mentor_id"),
        (["--mentee", "b" * (MAX_ID_LENGTH + 1)], "MAX_ID_LENGTH"),
        (["--id", "rel;drop"], "relationship_id"),
    ],
)
def test_a_proposal_breaking_an_id_limit_is_exit_2(args: list[str], needle: str) -> None:
    code, output = _cli(*PROPOSE, *args)
    assert code == 2, output
    assert needle in " ".join(output.split()), output


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"held_at": "2026-01-01T00:00:00Z", "notes": "n" * (MAX_LONG_TEXT_LENGTH + 1)}, "MAX_LONG_TEXT_LENGTH"),
        ({"held_at": "2026-01-01T00:00:00Z", "notes": "a\u0000b"}, "NUL"),
        ({"held_at": "2026-01-01T00:00:00Z", "notes": "a\ud800b"}, "notes"),
    ],
)
def test_a_command_breaking_a_text_limit_is_exit_2_naming_the_field(data: dict[str, str], needle: str) -> None:
    code, output = _cli("relationship", "do", "r-1", "log-meeting", "--by", "mentor:ana", "--data", json.dumps(data))
    assert code == 2, output
    flat = " ".join(output.split())
    assert "notes" in flat and needle in flat, output


def test_an_absurd_term_is_exit_2_naming_the_field() -> None:
    data = json.dumps({"goals": ["g"], "cadence": "P2W", "term": "P9000Y"})
    code, output = _cli("relationship", "do", "r-1", "sign-agreement", "--by", "mentor:ana", "--data", data)
    assert code == 2, output
    assert "term: must be at most P10Y (MAX_DURATION)" in " ".join(output.split()), output


def test_a_bad_relationship_id_argument_is_exit_2() -> None:
    code, output = _cli("relationship", "do", "r 1", "accept-match", "--by", "mentor:ana")
    assert code == 2, output
    assert "ID_PATTERN" in " ".join(output.replace("│", " ").split()), output
