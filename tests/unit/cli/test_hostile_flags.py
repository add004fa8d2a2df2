"""Hostile input through two more doors: the worker's ``--max-cached-workflows`` and ``program --matching-file``.
Every one is exit 2 naming the flag and the rule; never a traceback, never a process that starts anyway."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from domain.limits import MAX_FILE_BYTES
from tests.unit.cli.test_program import PEOPLE, _cli, _jsonl
from workers.cli.worker import MAX_CACHED_WORKFLOWS


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("-1", "greater than or equal to 0"),
        ("lots", "a valid integer"),
        ("1.5", "a valid integer"),
        (str(MAX_CACHED_WORKFLOWS + 1), f"less than or equal to {MAX_CACHED_WORKFLOWS}"),
        ("9" * 40, f"less than or equal to {MAX_CACHED_WORKFLOWS}"),
        ("", "a valid integer"),
    ],
)
def test_max_cached_workflows_out_of_its_range_is_exit_2_before_anything_starts(value: str, rule: str) -> None:
    code, out = _cli("worker", "--max-cached-workflows", value)
    assert code == 2, out
    text = " ".join(out.replace("│", " ").split())  # the error box, unwrapped
    assert "'--max-cached-workflows'" in text and rule in text, text
    assert "Traceback" not in out


ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
    for i in range(8)
)


@pytest.mark.parametrize(
    ("name", "content", "rule"),
    [
        ("matching.toml", b"[weights\n", "TOML"),
        ("matching.toml", b"\xff\xfe not text", "UTF-8"),
        ("matching.toml", b"weights = 'heavy'\n", "weights"),
        ("matching.toml", b"floor = 'high'\n", "floor"),
        ("matching.toml", b"floor = 1e999\n", "floor"),
        ("matching.toml", b"surprise = 1\n", "surprise"),
        ("matching.toml", b'version = "a\\u0000b"\n', "NUL"),
        ("matching.toml", b"x = " + b"[" * 5000 + b"]" * 5000 + b"\n", "deep"),
        ("matching.toml", b"# " + b"x" * (MAX_FILE_BYTES + 1) + b"\n", "MAX_FILE_BYTES"),
        ("matching.yaml", ALIAS_BOMB.encode(), "anchors"),
        ("matching.yaml", b"- a\n- b\n", "mapping"),
        ("matching.json", b"{}", "TOML"),
    ],
)
def test_a_hostile_matching_file_is_exit_2_naming_the_flag(
    tmp_path: Path, name: str, content: bytes, rule: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    people = str(_jsonl(tmp_path, PEOPLE))
    code, out = _cli("program", "scores", "P", "--people", people, "--matching-file", str(path), "--json")
    assert code == 2, out
    error = json.loads(out)["error"]
    assert str(path) in error or "--matching-file" in error, error
    assert rule.lower() in error.lower(), error


@pytest.mark.parametrize("target", ["missing.toml", "."])
def test_a_matching_file_that_is_not_a_file_is_exit_2(tmp_path: Path, target: str) -> None:
    path = tmp_path / target
    people = str(_jsonl(tmp_path, PEOPLE))
    code, out = _cli("program", "scores", "P", "--people", people, "--matching-file", str(path), "--json")
    assert code == 2, out
    assert "Traceback" not in out
