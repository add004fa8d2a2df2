"""``mentorflow survey …`` and ``submit-survey`` at the CLI door: the shipped instruments listed with the policy's
schedule, hostile instrument files and responses exit 2 naming the field (no services needed: refused before
Temporal is contacted)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from domain.limits import MAX_FILE_BYTES
from workers.cli import app


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "2000", "TERMINAL_WIDTH": "2000"})
    return result.exit_code, result.stdout + result.stderr


def test_survey_list_shows_every_instrument_and_when_the_policy_asks_it() -> None:
    code, output = _cli("survey", "list", "--json")
    assert code == 0, output
    rows = {r["id"]: r for r in json.loads(output)["instruments"]}
    assert set(rows) == {"intake", "pulse", "end_of_trial", "separation", "final_reflection", "program_evaluation"}
    assert rows["pulse"]["scheduled"] == "every P4W (v1, to mentor+mentee)"
    assert rows["pulse"]["required"] == ["satisfaction"]


def test_survey_show_and_an_unknown_instrument() -> None:
    code, output = _cli("survey", "show", "pulse", "--json")
    assert code == 0 and json.loads(output)["questions"][0]["id"] == "satisfaction"
    code, output = _cli("survey", "show", "pulse", "--version", "7")
    assert code == 2 and "no shipped instrument pulse v7" in " ".join(output.split())


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (
            'id = "x"\nversion = 1\ntitle = "X"\n[[questions]]\nid = "q"\ntext = "?"\ntype = "scale"\nmin = 1',
            "a scale needs min and max",
        ),
        ("a = " + "[" * 40 + "]" * 40, "MAX_FILE_DEPTH"),
        ("# " + "x" * (MAX_FILE_BYTES + 10), "MAX_FILE_BYTES"),
        ("id = = 1", "invalid instrument TOML"),
        ('id = "x"\nversion = 1\ntitle = "X"\nquestions = []', "questions: an instrument asks at least one question"),
    ],
)
def test_a_hostile_instrument_file_is_exit_2_naming_the_field(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(text)
    code, output = _cli("survey", "validate", str(path))
    assert code == 2, output
    assert needle in " ".join(output.split()), output
    assert "Traceback" not in output


def test_a_shipped_instrument_file_validates() -> None:
    code, output = _cli("survey", "validate", "domain/instruments/final_reflection.v1.toml", "--json")
    assert code == 0 and json.loads(output)["questions"] == 12


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"request_id": "survey-1"}, "answers: Field required"),
        ({"request_id": "survey-1", "answers": {"satisfaction": "x" * 10_001}}, "MAX_LONG_TEXT_LENGTH"),
        ({"request_id": "survey-1", "answers": {"satisfaction": 1}, "version": 0}, "version"),
        ({"request_id": "bad id!", "answers": {}}, "request_id"),
    ],
)
def test_a_malformed_response_is_exit_2_naming_the_field(data: dict[str, object], needle: str) -> None:
    code, output = _cli("relationship", "do", "r-1", "submit-survey", "--by", "mentee:bo", "--data", json.dumps(data))
    assert code == 2, output
    assert needle in " ".join(output.split()), output
