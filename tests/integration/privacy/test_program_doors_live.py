"""No door sends a program's personal data in plaintext (issue 20): a profile and a withdrawal's reason sent through
each door — the program client itself (``workers.connect.connect_programs``), the application service, the CLI and
the HTTP API — reach the raw topic and the program workflow's history sealed, because the one place every door passes,
``ProgramClient.send``, seals them."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from temporalio.client import Client
from typer.testing import CliRunner

from activities.notifications import LogSink, Notifier
from activities.publishing import KafkaPublisher
from domain import Actor, Role, builtin_policy
from domain.matching import Profile
from domain.privacy.sealed import SEALED_PREFIX
from domain.programs.commands import CreateProgram, EnrollParticipants, Participant, WithdrawParticipant
from service.programs import SEALED_ENROLL_BATCH, ProgramService
from tests.cache import TEST_WORKFLOW_CACHE
from tests.integration.privacy.test_erasure_live import _temporal_bytes, _topic_bytes
from tests.sentinels import found_in, sentinel_years
from workers.cli import app
from workers.cli.api import build_app
from workers.connect import connect_client, connect_programs
from workers.settings import DatabaseSettings, Settings
from workers.worker import build_worker
from workflows.client import new_command_id

pytestmark = pytest.mark.integration

MANAGER = Actor(id="pm-doors", role=Role.MANAGER)
TOKEN = f"doors-manager-{uuid.uuid4().hex}"
DOORS = ("client", "service", "cli", "api")
YEARS = sentinel_years()  # sealed: found nowhere in plaintext
WITHDRAWN = b'"type":"ParticipantWithdrawn"'  # in the envelope (its header names the type too)


def _secrets(door: str, tag: str) -> dict[str, Any]:
    """What the person of ``door`` enrolls and withdraws with; every string carries ``tag`` (found only if leaked)."""
    return {
        "person": f"{door}-{tag}",
        "profile": {
            "languages": ["en", f"{tag}-{door}-lang"],
            "goals": [f"{tag}-{door}-goal"],
            "department": f"{tag}-{door}-dept",
            "timezone": "Pacific/Chatham",
            "seniority_years": YEARS,
        },
        "reason": f"{tag} {door}: my reason to leave",
    }


def _participant(data: dict[str, Any]) -> Participant:
    return Participant(person_id=data["person"], role="mentee", profile=Profile.model_validate(data["profile"]))


def _withdrawal(program: str, data: dict[str, Any]) -> WithdrawParticipant:
    return WithdrawParticipant(command_id=new_command_id(), actor=MANAGER, program_id=program,
                               person_id=data["person"], role="mentee", reason=data["reason"])  # fmt: skip


def _cli(settings: Settings, *args: str) -> None:
    env = {
        "MENTORFLOW_TEMPORAL__TASK_QUEUE": settings.temporal.task_queue,
        "MENTORFLOW_DATABASE__URL": settings.database_url,
        "MENTORFLOW_PRIVACY__ENCRYPT": "true",
    }
    result = CliRunner().invoke(app, [*args, "--by", f"manager:{MANAGER.id}", "--json"], env=env)
    assert result.exit_code == 0, result.stdout + result.stderr


def _api(settings: Settings, program: str, data: dict[str, Any]) -> None:
    with TestClient(build_app(settings, {TOKEN: f"manager:{MANAGER.id}"})) as http:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        person = {"person_id": data["person"], "role": "mentee", "profile": data["profile"]}
        # more than a sealed command carries (SEALED_ENROLL_BATCH): checked whole, sent in slices, one answer
        others = [{"person_id": f"{data['person']}-{n}", "role": "mentee", "profile": {"languages": ["en"]}}
                  for n in range(SEALED_ENROLL_BATCH)]  # fmt: skip
        body = {"participants": [person, *others]}
        enrolled = http.post(f"/programs/{program}/enrollments", json=body, headers=headers)
        assert enrolled.status_code == 201, enrolled.text
        assert enrolled.json()["last_seq"] - enrolled.json()["first_seq"] + 1 == len(others) + 1
        body = {"person_id": data["person"], "role": "mentee", "reason": data["reason"]}
        withdrawn = http.post(f"/programs/{program}/withdrawals", json=body, headers=headers)
        assert withdrawn.status_code == 201, withdrawn.text


async def _through_each_door(settings: Settings, program: str, people: dict[str, dict[str, Any]]) -> None:
    programs = await connect_programs(settings)
    await programs.create(CreateProgram(command_id=new_command_id(), actor=MANAGER, program_id=program,
                                        name="doors", default_policy=builtin_policy("mentoring-12m")))  # fmt: skip
    mine = people["client"]
    await programs.send(EnrollParticipants(command_id=new_command_id(), actor=MANAGER, program_id=program,
                                           participants=(_participant(mine),)))  # fmt: skip
    await programs.send(_withdrawal(program, mine))

    service = ProgramService(lambda: connect_client(settings), settings.database_url)
    await service.start()
    try:
        theirs = people["service"]
        await service.enroll(EnrollParticipants(command_id=new_command_id(), actor=MANAGER, program_id=program,
                                                participants=(_participant(theirs),)))  # fmt: skip
        await service.withdraw(_withdrawal(program, theirs))
    finally:
        await service.close()

    cli = people["cli"]
    profile = json.dumps(cli["profile"])
    await asyncio.to_thread(_cli, settings, "program", "enroll", program, "--person", cli["person"], "--role",
                            "mentee", "--profile", profile)  # fmt: skip
    await asyncio.to_thread(_cli, settings, "program", "withdraw", program, "--person", cli["person"], "--role",
                            "mentee", "--reason", cli["reason"])  # fmt: skip
    await asyncio.to_thread(_api, settings, program, people["api"])


@pytest.mark.timeout(180)
async def test_every_door_seals_profiles_and_withdrawal_reasons(
    temporal_client: Client, stack: Settings, kafka_topic: str, sqlite_url: str, tmp_path: Path, unique_id: str
) -> None:
    tag = f"osprey{uuid.uuid4().hex[:8]}"
    people = {door: _secrets(door, tag) for door in DOORS}
    queue = f"doors-{unique_id}"[:100]
    settings = stack.model_copy(
        update={
            "temporal": stack.temporal.model_copy(update={"task_queue": queue}),
            "database": DatabaseSettings(url=sqlite_url),
            "privacy": stack.privacy.model_copy(update={"encrypt": True}),
        }
    )
    program = f"prog-doors-{uuid.uuid4().hex[:8]}"
    publisher = KafkaPublisher(stack.kafka.bootstrap_servers, kafka_topic)
    worker = build_worker(
        temporal_client, task_queue=queue, publisher=publisher, notifier=Notifier(LogSink(tmp_path / "notices.jsonl")),
        max_cached_workflows=TEST_WORKFLOW_CACHE,
    )  # fmt: skip
    try:
        async with worker:
            await _through_each_door(settings, program, people)
            topic = b""
            deadline = time.monotonic() + 90
            while topic.count(WITHDRAWN) < len(DOORS) and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
                topic = await _topic_bytes(stack.kafka.bootstrap_servers, kafka_topic)
            history = await _temporal_bytes(temporal_client, f"program:{program}")
    finally:
        await publisher.close()
    assert topic.count(WITHDRAWN) == len(DOORS), "every withdrawal reached the topic"
    assert topic.count(b'"type":"ParticipantEnrolled"') == len(DOORS) + SEALED_ENROLL_BATCH
    for door, data in people.items():
        assert data["person"].encode() in topic and data["person"].encode() in history, door
    assert SEALED_PREFIX.encode() in topic and SEALED_PREFIX.encode() in history
    leaked = {
        (door, store)
        for door in DOORS
        for store, raw in (("topic", topic), ("program history", history))
        if f"{tag}-{door}".encode() in raw or f"{tag} {door}".encode() in raw
    }
    assert leaked == set(), f"plaintext reached: {sorted(leaked)}"
    for plain in (b"Pacific/Chatham", repr(YEARS).encode()):  # the time zone, the seniority
        assert found_in(plain, {"topic": topic, "program history": history}) == {}, plain
