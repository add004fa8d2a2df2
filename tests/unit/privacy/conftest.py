"""A small program driven through the pure core with its commands sealed as the client seals them, projected into
an in-memory database that also holds the key store."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from domain import (
    Actor,
    CommandBase,
    Envelope,
    LogMeeting,
    RequestRematch,
    Role,
    SetGoal,
    SubmitCheckIn,
    SubmitSurvey,
)
from domain.confidential import requested_instrument
from domain.scripting import DAY, Script
from projections.db import make_engine, migrate
from projections.privacy.cipher import FieldCipher
from projections.privacy.keystore import SqlKeyStore
from tests.unit.projections.helpers import as_topic, memory_engine, project

__all__ = ["ANSWER", "COMMENT", "GOAL", "LEGACY", "LEGACY_ANSWER", "NOTES", "REASON", "SECRETS", "Program"]

NOTES = "mentee-notes-kestrel-7 talked about my divorce"
COMMENT = "comment-osprey-3 my manager bullies me"
GOAL = "goal-heron-5 get promoted before my sabbatical"
REASON = "reason-plover-9 moving abroad for health reasons"
ANSWER = "answer-lapwing-6 I hope to stop feeling invisible"
LEGACY = "legacy-plaintext-curlew-2 written before sealing"
LEGACY_ANSWER = "legacy-answer-dunlin-8 before sealing"
SECRETS = (NOTES, COMMENT, GOAL, REASON, ANSWER)


@dataclass
class Program:
    engine: Engine
    store: SqlKeyStore
    cipher: FieldCipher
    sealed: Script  # commands sealed at the boundary
    legacy: Script  # written before sealing existed: plaintext events

    @property
    def envelopes(self) -> list[Envelope]:
        return [*self.sealed.log, *self.legacy.log]


def _drive(script: Script, seal: bool) -> None:
    def do(make: type[CommandBase], actor: object, **fields: object) -> None:
        script.execute(make(command_id=script.command_id(), actor=actor, **fields))

    script.kickoff(goals=("mentor goal", "ship a feature"))
    script.later(DAY)
    intake = {"expectations": ANSWER if seal else LEGACY_ANSWER, "goal_clarity": 4, "cadence": "weekly"}
    do(SubmitSurvey, script.mentee, request_id="survey-1", answers=intake)  # the intake asked at the kickoff
    do(LogMeeting, script.mentee, held_at=script.now, notes=NOTES if seal else LEGACY)
    do(SubmitCheckIn, script.mentee, satisfaction=4, comment=COMMENT if seal else LEGACY)
    do(SetGoal, script.mentee, text=GOAL if seal else LEGACY)
    script.later(DAY)
    do(RequestRematch, script.mentee, reason=REASON if seal else LEGACY)


@pytest.fixture
def program() -> Iterator[Program]:
    engine = memory_engine()
    yield build_program(engine)
    engine.dispose()


def _program_file(directory: Path) -> Iterator[tuple[str, Program]]:
    url = f"sqlite:///{directory / 'mentorflow.db'}"
    migrate(url)
    engine = make_engine(url, writer=True)
    yield url, build_program(engine)
    engine.dispose()


@pytest.fixture
def program_file(tmp_path: Path) -> Iterator[tuple[str, Program]]:
    """The same program in a SQLite file migrated as the service migrates it: ``(url, program)``."""
    yield from _program_file(tmp_path)


@pytest.fixture(scope="module")
def unchanged_program_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Program]]:
    """One program file for the tests that each check that nothing changed."""
    yield from _program_file(tmp_path_factory.mktemp("unchanged"))


def build_program(engine: Engine) -> Program:
    store = SqlKeyStore(engine)
    cipher = FieldCipher(store)
    sealed = Script("r-sealed", mentee=Actor(id="bo", role=Role.MENTEE), start=datetime(2026, 1, 5, tzinfo=UTC))
    legacy = Script("r-legacy", mentee=Actor(id="bo", role=Role.MENTEE), start=datetime(2026, 1, 5, tzinfo=UTC))
    # the sealed relationship signs its goals through the boundary too
    original = sealed.execute

    def execute(cmd: CommandBase) -> list[Envelope]:
        if isinstance(cmd, SubmitSurvey):  # as the client: the open request's instrument names the free text
            cmd = cipher.seal_answers(cmd, requested_instrument(sealed.state, cmd.request_id, cmd.version))
        return original(cipher.seal_command(cmd))

    sealed.execute = execute  # type: ignore[method-assign]
    _drive(sealed, True)
    _drive(legacy, False)
    project(engine, as_topic([sealed.log, legacy.log]))
    return Program(engine, store, cipher, sealed, legacy)
