"""The privacy inventory stays true: every event field, command field and table column is classified, nothing is
classified that does not exist, and docs/privacy.md shows the inventory as it is."""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.archive import metadata as archive_metadata
from domain import COMMAND_CLASSES
from domain.catalog import EVENT_CLASSES
from domain.limits import TextRule
from domain.privacy.inventory import COMMAND_FIELDS, EVENT_FIELDS, TABLE_COLUMNS, Kind, render_markdown
from domain.programs import commands as program_commands
from projections.models import Base
from projections.privacy.keystore import privacy_metadata

DOC = Path(__file__).resolve().parents[3] / "docs" / "privacy.md"
BEGIN, END = "<!-- inventory:begin (generated: domain/privacy/inventory.py) -->", "<!-- inventory:end -->"


@pytest.mark.parametrize("name", sorted(EVENT_CLASSES))
def test_every_event_field_is_classified(name: str) -> None:
    fields = set(EVENT_CLASSES[name].model_fields)
    classified = set(EVENT_FIELDS.get(name, {}))
    assert fields - classified == set(), f"{name}: classify these fields in domain/privacy/inventory.py"
    assert classified - fields == set(), f"{name}: the inventory names fields the event does not have"


def test_the_inventory_names_no_event_that_does_not_exist() -> None:
    assert set(EVENT_FIELDS) - set(EVENT_CLASSES) == set()


PROGRAM_COMMANDS = tuple(
    getattr(program_commands, n)
    for n in ("CreateProgram", "ConfigureMatching", "ConfigureProgram", "EnrollParticipants", "WithdrawParticipant",
              "RecordMatchingRound", "CloseCycle")
)  # fmt: skip


def test_every_program_command_is_in_the_checked_list() -> None:
    from typing import get_args

    union = get_args(get_args(program_commands.ProgramCommand)[0])
    assert set(union) == set(PROGRAM_COMMANDS)


@pytest.mark.parametrize("cls", (*COMMAND_CLASSES, *PROGRAM_COMMANDS), ids=lambda c: c.__name__)
def test_every_command_field_is_classified_and_personal_text_is_free_text(cls: type) -> None:
    fields = set(cls.model_fields)
    classified = COMMAND_FIELDS.get(cls.__name__, {})
    assert fields ^ set(classified) == set(), f"{cls.__name__}: classify exactly its fields"
    for name, kind in classified.items():
        rules = [m for m in cls.model_fields[name].metadata if isinstance(m, TextRule)]
        goals = name == "goals"  # a list rule over text items
        # a survey's mapping (its text values carry the long-text rule) and an enrollment's participants (their
        # profile tags and department carry the NAME rule)
        answers = name in ("answers", "participants")
        if kind is Kind.PERSONAL_TEXT:
            assert rules or goals or answers, (
                f"{cls.__name__}.{name}: personal text must carry a text rule (sealed limits)"
            )


def test_every_table_column_is_classified() -> None:
    tables = [*Base.metadata.sorted_tables, *archive_metadata.sorted_tables, *privacy_metadata.sorted_tables]
    for table in tables:
        columns = {c.name for c in table.columns}
        classified = set(TABLE_COLUMNS.get(table.name, {}))
        assert columns ^ classified == set(), f"table {table.name}: classify exactly its columns"
    assert set(TABLE_COLUMNS) == {t.name for t in tables}


def test_docs_privacy_md_holds_the_inventory_as_generated() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert BEGIN in text and END in text, f"docs/privacy.md needs the markers {BEGIN} … {END}"
    held = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert held == render_markdown().strip(), (
        "docs/privacy.md's inventory is out of date: python -m domain.privacy.inventory > the section"
    )
