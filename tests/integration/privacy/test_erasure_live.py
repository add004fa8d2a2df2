"""Acceptance (issue 20), on the live stack: a relationship driven by the real workflow on the dev server with its
personal text sealed at the client, published to a real topic, projected into SQLite and PostgreSQL, verified and
archived, exported. Then the mentee is erased, and the raw bytes of every store — the topic read by a plain consumer,
the database (the SQLite file or every PostgreSQL table), every run's Temporal history, the archive, the export and
the logs — hold none of the mentee's text; the relationship still verifies three-way and replays; the standalone
verifier still verifies the export; the reports' totals are unchanged; the mentee's text reads ``[erased]``."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, inspect, text
from temporalio.client import Client

from activities.notifications import LogSink, Notifier
from activities.publishing import KafkaPublisher
from audit.archive import load_archived
from audit.temporal import fetch_histories
from domain import (
    AcceptMatch,
    Actor,
    LogMeeting,
    RelationshipState,
    Role,
    SetGoal,
    SignAgreement,
    SubmitCheckIn,
    SubmitSurvey,
    Terminate,
    builtin_policy,
)
from domain.matching import Profile
from domain.privacy.sealed import ERASED
from domain.programs.commands import CreateProgram, EnrollParticipants, Participant, WithdrawParticipant
from projections import read_model
from projections.db import is_sqlite, make_engine, migrate, sqlite_path
from projections.privacy.cipher import FieldCipher
from projections.privacy.keystore import SqlKeyStore
from projections.projector import Projector
from service.audit import AuditService
from service.errors import InvalidArgument
from service.privacy import PrivacyService
from service.programs import ProgramService
from tests.cache import TEST_WORKFLOW_CACHE
from tests.integration.projections.conftest import read_topic
from tests.sentinels import found_in, sentinel_years
from workers.settings import Settings
from workers.worker import build_worker
from workflows.client import MentorflowClient, new_command_id

pytestmark = pytest.mark.integration

MANAGER = Actor(id="pm-7", role=Role.MANAGER)
MENTOR = Actor(id="ana-7", role=Role.MENTOR)
SECRET = f"heron-{uuid.uuid4().hex[:8]}"  # unique: found only if this test's text leaked
MENTEE_TEXTS = {
    "goal": f"{SECRET} goal: get promoted before my sabbatical",
    "notes": f"{SECRET} notes: we talked about my divorce",
    "comment": f"{SECRET} comment: my manager bullies me",
    "answer": f"{SECRET} intake answer: I hope to stop feeling invisible",
}
MENTOR_GOAL = "mentor goal: public speaking"
WITHDRAWN = f"{SECRET} withdrawn: burnout"
SHARED_TAG = f"kite-{uuid.uuid4().hex[:8]}"  # an interest both enroll with: matching must read it opened
MENTEE_ZONE, MENTEE_YEARS = "Pacific/Chatham", sentinel_years()  # sealed too: found nowhere in plaintext


async def _topic_bytes(bootstrap: str, topic: str) -> bytes:
    """Every key, value and header of the topic up to its end offsets, read by a plain consumer (a slow first fetch
    must not make an empty read, which would pass a leak check unread)."""
    chunks: list[bytes] = []
    for message in await read_topic(bootstrap, topic):
        chunks += [message.key or b"", message.value or b"", *message.headers.values()]
    return b"\n".join(chunks)


def _database_bytes(engine: Engine, url: str) -> bytes:
    """SQLite: the file and its WAL, raw. PostgreSQL: every row of every table of the schema, as text."""
    path = sqlite_path(url)
    if path is not None:
        return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
    with engine.connect() as conn:
        tables = inspect(conn).get_table_names()
        rows = [conn.execute(text(f'SELECT CAST(t AS text) FROM "{name}" AS t')).scalars().all() for name in tables]
    return "\n".join(str(v) for table in rows for v in table).encode()


async def _temporal_bytes(client: Client, rid: str) -> bytes:
    """Every event of every run of the chain's workflow (a relationship's, or a program's for ``program:<P>``), as
    the protobuf bytes Temporal stores (payloads raw, not base64)."""
    histories = await fetch_histories(client, rid)
    assert histories, "the workflow's history is readable"
    return b"".join(e.SerializeToString() for h in histories for e in h.events)


def _archive_bytes(engine: Engine, rid: str) -> bytes:
    archived = load_archived(engine, rid)
    assert archived, "the closed workflow's history was archived"
    return b"".join(e.SerializeToString() for h in archived for e in h.events)


def _read(*paths: Path) -> bytes:
    return b"\n".join(p.read_bytes() for p in paths if p.exists())


def _verify_standalone(export_text: str, path: Path) -> subprocess.CompletedProcess[str]:
    """``python docs/verify_history.py EXPORT``: the standard library alone."""
    path.write_text(export_text, encoding="utf-8")
    verifier = Path(__file__).resolve().parents[3] / "docs" / "verify_history.py"
    return subprocess.run(
        [sys.executable, str(verifier), str(path)], capture_output=True, text=True, timeout=60, check=False
    )


def _reports(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        return {name: fn(conn) for name, fn in read_model.REPORTS.items() if name != "at-risk"}


@dataclass
class World:
    client: Client
    stack: Settings
    topic: str
    url: str
    engine: Engine
    cipher: FieldCipher
    tmp: Path
    log_file: Path

    @property
    def bootstrap(self) -> str:
        return self.stack.kafka.bootstrap_servers

    def audit(self) -> Any:
        return AuditService.open(
            database_url=self.url, bootstrap_servers=self.bootstrap, topic=self.topic, temporal=self.client, settle=0.5
        )

    async def project(self) -> None:
        async with Projector(database_url=self.url, bootstrap_servers=self.bootstrap, topic=self.topic,
                             group_id=None, dead_letter_topic=None) as projector:  # fmt: skip
            await projector.run(until_caught_up=True)

    async def project_program(self, program: str, through_seq: int, wait: float = 60.0) -> None:
        """Project until the program's chain is in the tables through ``through_seq``: its workflow publishes by an
        activity after the command returns, so one pass may end before the event is on the topic."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            await self.project()
            with self.engine.connect() as conn:
                query = text("SELECT last_seq FROM programs WHERE program_id = :p")
                projected = conn.execute(query, {"p": program}).scalar() or 0
            if projected >= through_seq:
                return
            assert loop.time() < deadline, f"program {program} projected through {projected}, not {through_seq}"
            await asyncio.sleep(0.2)

    async def stores(self, rid: str, export_text: str, program: str) -> dict[str, bytes]:
        return {
            "program history": await _temporal_bytes(self.client, f"program:{program}"),  # every run of it
            "topic": await _topic_bytes(self.bootstrap, self.topic),
            "database": _database_bytes(self.engine, self.url),
            "temporal": await _temporal_bytes(self.client, rid),
            "archive": _archive_bytes(self.engine, rid),
            "export": export_text.encode(),
            "notifications": _read(self.tmp / "notices.jsonl"),
            "logs": _read(self.log_file),
        }


@pytest.mark.timeout(180)
async def test_erasing_a_person_leaves_no_text_anywhere_and_every_chain_intact(
    temporal_client: Client, stack: Settings, kafka_topic: str, database_url: str, tmp_path: Path, unique_id: str
) -> None:
    log_file = tmp_path / "mentorflow.log"
    handler = logging.FileHandler(log_file)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)  # every log line of the worker, the client, the projector and the libraries
    migrate(database_url)
    engine = make_engine(database_url, writer=is_sqlite(database_url))
    world = World(
        temporal_client, stack, kafka_topic, database_url, engine, FieldCipher(SqlKeyStore(engine)), tmp_path, log_file
    )
    publisher = KafkaPublisher(stack.kafka.bootstrap_servers, kafka_topic)
    worker = build_worker(
        temporal_client, task_queue=f"privacy-{unique_id}"[:100], publisher=publisher,
        notifier=Notifier(LogSink(tmp_path / "notices.jsonl")), max_cached_workflows=TEST_WORKFLOW_CACHE,
    )  # fmt: skip
    try:
        async with worker:  # it also answers the queries of the closed workflow at the end
            await _scenario(
                world, MentorflowClient(temporal_client, task_queue=worker.task_queue, privacy=world.cipher)
            )
    finally:
        await publisher.close()
        root.removeHandler(handler)
        root.setLevel(level)
        handler.close()
        engine.dispose()


async def _scenario(world: World, mf: MentorflowClient) -> None:
    mentee = Actor(id=f"bo-{uuid.uuid4().hex[:6]}", role=Role.MENTEE)
    rid = f"r-privacy-{uuid.uuid4().hex[:10]}"
    service = ProgramService(lambda: _ready(mf), world.url)
    await service.start()
    program, enrolled_through = await _enroll(world, service, mentee)
    final = await _drive(mf, rid, mentee)
    assert {g.text for g in final.goals.values()} == {MENTOR_GOAL, MENTEE_TEXTS["goal"], f"{SECRET} second goal"}

    await world.project_program(program, enrolled_through)
    # the round's score reads the profiles opened: the shared interest counts
    [suggested] = (await service.suggestions(program, mentee.id, 1))["suggestions"]
    assert suggested["mentor"] == MENTOR.id and suggested["explanation"]["interests"] > 0, suggested
    withdrawal = WithdrawParticipant(command_id=new_command_id(), actor=MANAGER, program_id=program,
                                     person_id=mentee.id, role="mentee", reason=WITHDRAWN)  # fmt: skip
    withdrawn = await service.withdraw(withdrawal)
    await world.project_program(program, withdrawn.last_seq)
    async with world.audit() as audit:
        report = await audit.verify(rid)  # also archives the closed workflow's history
        assert report.ok, report.lines()
        export_text, _, _ = await audit.export(rid)
    totals = _reports(world.engine)
    privacy = PrivacyService(world.url, world.cipher.store)
    before = await privacy.export(mentee.id)
    assert all(t in str(before) for t in MENTEE_TEXTS.values())
    [enrolled] = before["authored"]["program_enrollments"]
    assert (enrolled["program_id"], enrolled["profile"]["goals"]) == (program, [f"{SECRET}-finance"])
    assert (enrolled["profile"]["timezone"], float(enrolled["profile"]["seniority_years"])) == (
        MENTEE_ZONE,
        MENTEE_YEARS,
    )
    assert enrolled["withdrawn_reason"] == WITHDRAWN

    # every store holds the relationship (the search sees it) and the mentee's text only sealed
    mentee_keys = world.cipher.store.key_ids_of(mentee.id)
    assert len(mentee_keys) == 1
    for name, data in (await world.stores(rid, export_text, program)).items():
        if name not in ("notifications", "logs"):
            chain = program if name == "program history" else rid
            assert chain.encode() in data and mentee_keys[0].encode() in data, name

    key = world.cipher.store.keys(mentee_keys)[mentee_keys[0]]
    assert not is_sqlite(world.url) or key in _database_bytes(world.engine, world.url)  # the search would see it
    outcome = await privacy.erase(mentee.id, by_id=MANAGER.id, by_role="manager", reason_code="gdpr-art17")
    assert outcome.erased and outcome.keys_erased == 1
    if is_sqlite(world.url):  # the key's bytes do not linger in the file's free pages or its write-ahead log
        assert key not in _database_bytes(world.engine, world.url)

    async with world.audit() as audit:
        report = await audit.verify(rid)
        assert report.ok, report.lines()  # three-way, and the history replays
        assert report.replay is not None and report.replay["ok"]
        export_text, _, _ = await audit.export(rid)
    stores = await world.stores(rid, export_text, program)
    leaks = found_in(SECRET.encode(), stores)
    assert leaks == {}, f"the erased mentee's text is still in: {leaks}"
    assert MENTOR_GOAL.encode() not in stores["database"]  # the mentor's text is sealed too (under the mentor's key)
    verified = _verify_standalone(export_text, world.tmp / "export.jsonl")
    assert verified.returncode == 0 and verified.stdout.startswith("OK"), verified.stdout + verified.stderr
    assert _reports(world.engine) == totals
    after = await mf.state(rid)
    assert {g.text for g in after.goals.values()} == {MENTOR_GOAL, ERASED}  # the mentor's goal stays readable
    exported = await privacy.export(mentee.id)
    assert SECRET not in str(exported) and ERASED in str(exported)
    assert exported["authored"]["program_enrollments"][0]["profile"] == ERASED
    with world.engine.connect() as conn:
        rows = conn.execute(text("SELECT profile FROM program_enrollments WHERE person_id = :p"), {"p": mentee.id})
        assert [json.loads(r) for r in rows.scalars()] == [ERASED]
    assert SHARED_TAG.encode() not in stores["topic"] + stores["program history"]  # the mentor's: sealed too
    for plain in (MENTEE_ZONE, repr(MENTEE_YEARS)):  # the profile's time zone and seniority: sealed, then shredded
        assert found_in(plain.encode(), stores) == {}, plain
    with pytest.raises(InvalidArgument, match="not enrolled as a mentee"):  # withdrawn, and nothing left to match on
        await service.suggestions(program, mentee.id, 1)
    await service.close()
    privacy.close()


async def _ready(client: MentorflowClient) -> MentorflowClient:
    return client


async def _enroll(world: World, service: ProgramService, mentee: Actor) -> tuple[str, int]:
    """A program; the mentor and the mentee enroll with profiles sharing an interest (the mentee's goals are
    personal): the service seals each profile's tags under its person's key. Returns the program and its chain's
    last seq."""
    program = f"prog-privacy-{uuid.uuid4().hex[:8]}"
    await service.create(CreateProgram(command_id=new_command_id(), actor=MANAGER, program_id=program,
                                       name="privacy", default_policy=builtin_policy("mentoring-12m")))  # fmt: skip
    people = (
        Participant(person_id=MENTOR.id, role="mentor", capacity=2,
                    profile=Profile(languages=("en",), interests=(SHARED_TAG,), skills=("finance",))),
        Participant(person_id=mentee.id, role="mentee",
                    profile=Profile(languages=("en", f"{SECRET}-lang"), interests=(SHARED_TAG,),
                                    goals=(f"{SECRET}-finance",), department=f"{SECRET}-treasury",
                                    timezone=MENTEE_ZONE, seniority_years=MENTEE_YEARS)),
    )  # fmt: skip
    enrolled = await service.enroll(EnrollParticipants(command_id=new_command_id(), actor=MANAGER,
                                                       program_id=program, participants=people))  # fmt: skip
    return program, enrolled.last_seq


async def _drive(mf: MentorflowClient, rid: str, mentee: Actor) -> RelationshipState:
    """The relationship: both accept and sign, the mentee answers the intake survey, logs a meeting (and re-sends
    it), checks in, sets a goal; the manager terminates it."""
    await mf.propose(program="prog-privacy", mentor=MENTOR.id, mentee=mentee.id, by=MANAGER, relationship_id=rid,
                     policy=builtin_policy("mentoring-12m"))  # fmt: skip

    async def send(cmd: Any) -> Any:
        return await mf.send(rid, cmd)

    await send(AcceptMatch(command_id=new_command_id(), actor=MENTOR))
    await send(AcceptMatch(command_id=new_command_id(), actor=mentee))
    await send(SignAgreement(command_id=new_command_id(), actor=MENTOR, goals=[MENTOR_GOAL], cadence="P2W"))
    # the mentee signs the mentor's goal too: the client re-uses its sealed string, the domain keeps one goal
    await send(SignAgreement(command_id=new_command_id(), actor=mentee, goals=[MENTOR_GOAL, MENTEE_TEXTS["goal"]],
                             cadence="P2W"))  # fmt: skip
    # the intake asked at the kickoff: its free-text answer is sealed, its score and choice are not
    intake = {"expectations": MENTEE_TEXTS["answer"], "goal_clarity": 4, "cadence": "weekly"}
    await send(SubmitSurvey(command_id=new_command_id(), actor=mentee, request_id="survey-1", answers=intake))
    now = (await mf.state(rid)).last_event_at
    meeting = LogMeeting(command_id=new_command_id(), actor=mentee, held_at=now, notes=MENTEE_TEXTS["notes"])
    first = await send(meeting)
    again = await send(meeting)  # a re-sent command: same sealed string, same fingerprint, nothing appended
    assert (again.last_seq, again.fingerprint) == (first.last_seq, first.fingerprint)
    await send(SubmitCheckIn(command_id=new_command_id(), actor=mentee, satisfaction=2,
                             comment=MENTEE_TEXTS["comment"]))  # fmt: skip
    await send(SetGoal(command_id=new_command_id(), actor=mentee, text=f"{SECRET} second goal"))
    await send(Terminate(command_id=new_command_id(), actor=MANAGER, reason_code="conduct", note="manager note"))
    final = await mf.wait_closed(rid)
    return final
