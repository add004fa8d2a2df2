"""``program withdraw | configure | close-cycle``: bad input exits 2 naming the option or field and the rule before
anything is sent (no services needed: nothing reaches Temporal). The live behaviour is in
tests/integration/devserver/test_program_aggregate.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.unit.cli.test_program import _cli


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("withdraw", "P", "--person", "bo", "--by", "manager:m"), "--role: give mentor or mentee"),
        (("withdraw", "P", "--person", "bo", "--role", "boss", "--by", "manager:m"), "'boss' is not mentor or"),
        (("withdraw", "P", "--person", "bo", "--by", "mentee:dee"), "a participant withdraws only themself"),
        (("withdraw", "P", "--person", "bo", "--by", "boss:bo"), "unknown role 'boss'"),
        (("withdraw", "P", "--by", "mentee:bo"), "--person"),
        (("withdraw", "bad id!", "--person", "bo", "--by", "mentee:bo"), "program"),
        (("configure", "P", "--by", "manager:m"), "--matching-file"),
        (("configure", "P", "--matching-file", "/nonexistent.toml", "--by", "manager:m"), "--matching-file"),
        (("configure", "P", "--by", "manager:m"), "give at least one of --matching-file, --name, --policy"),
        (("configure", "P", "--cycle-end", "soon", "--by", "manager:m"), "--cycle-end: 'soon' is not a date"),
        (("configure", "P", "--policy", "no-such", "--by", "manager:m"), "--policy"),
        (("configure", "P", "--retention-days", "0", "--by", "manager:m"), "retention_days: Input should be greater"),
        (("configure", "P", "--retention-days", "many", "--by", "manager:m"), "--retention-days"),
        (("configure", "P", "--name", "x", "--by", "mentee:bo"), "configuring a program is done by a manager"),
        (("close-cycle", "P", "--by", "mentor:ana"), "closing a cycle is done by a manager"),
        (("close-cycle", "P"), "--by"),
    ],
)
def test_bad_usage_exits_2_naming_the_option(args: tuple[str, ...], words: str) -> None:
    code, out = _cli("program", *args)
    assert code == 2, out
    assert words in out
    assert "Traceback" not in out


def test_a_too_long_reason_is_refused_as_json_naming_the_field() -> None:
    code, out = _cli(
        "program", "withdraw", "P", "--person", "bo", "--by", "mentee:bo", "--reason", "x" * 5000, "--json"
    )
    assert code == 2, out
    assert "reason: must be at most 2000 characters" in json.loads(out)["error"]


def test_a_bad_matching_file_names_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "matching.toml"
    bad.write_text('version = "v"\n[weights]\npreference = [1, 2, 3]\n')
    code, out = _cli("program", "configure", "P", "--matching-file", str(bad), "--by", "manager:m")
    assert code == 2, out
    assert "weights.preference: must be strictly decreasing" in out
