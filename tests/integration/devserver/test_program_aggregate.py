"""Programs on the live stack (issue 14): the dev server with our worker, the real Kafka topic and a projector into
SQLite, driven through the CLI. A program is created and enrolled (one person, a file), shown, refused hostile input
without any change, matched three ways (the algorithmic round, admin, self), frees a mentor's slot when a
relationship closes, and its chain verifies three ways like a relationship's."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine
from typer.testing import CliRunner

from audit.verify import Auditor
from domain.programs.events import program_chain_id
from projections.db import migrate
from projections.projector import Projector
from tests.integration.devserver.conftest import World
from workers.cli.app import app

PEOPLE = [
    {"person": "ana", "role": "mentor", "capacity": 1, "profile": {"skills": ["python"], "languages": ["en"]}},
    {"person": "carl", "role": "mentor", "capacity": 2, "profile": {"skills": ["go"], "languages": ["en"]}},
    {"person": "bo", "role": "mentee", "preferences": ["ana"], "profile": {"goals": ["python"], "languages": ["en"]}},
    {"person": "dee", "role": "mentee", "profile": {"goals": ["go"], "languages": ["en"]}},
]


class Stack:
    def __init__(self, world: World, database_url: str) -> None:
        self.world = world
        self.env = {"MENTORFLOW_TEMPORAL__TASK_QUEUE": world.queue, "MENTORFLOW_DATABASE__URL": database_url}

    async def cli(self, *args: str) -> tuple[int, Any, str]:
        result = await asyncio.to_thread(CliRunner().invoke, app, [*args, "--json"], env=self.env)
        try:
            out = json.loads(result.stdout)
        except ValueError:
            out = result.stdout
        return result.exit_code, out, result.stderr

    async def ok(self, *args: str) -> Any:
        code, out, err = await self.cli(*args)
        assert code == 0, (args, out, err)
        return out


@pytest.fixture
async def live(world: World, sqlite_url: str) -> AsyncIterator[Stack]:
    migrate(sqlite_url)
    projector = Projector(
        database_url=sqlite_url,
        bootstrap_servers=world.settings.kafka.bootstrap_servers,
        topic=world.topic,
        group_id=None,
        dead_letter_topic=None,
    )
    stop = asyncio.Event()
    async with projector:
        task = asyncio.create_task(projector.run(stop, poll_ms=100))
        yield Stack(world, sqlite_url)
        stop.set()
        await task


async def created(live: Stack, tmp_path: Path) -> str:
    program = f"prog-{uuid.uuid4().hex[:8]}"
    await live.ok("program", "create", program, "--name", "Spring", "--policy", "mentoring-12m",
                   "--cycle-start", "2027-01-01", "--cycle-end", "2027-12-31", "--by", "manager:mgr-1")  # fmt: skip
    people = tmp_path / "people.jsonl"
    people.write_text("\n".join(json.dumps(r) for r in PEOPLE) + "\n")
    out = await live.ok("program", "enroll", program, "--file", str(people), "--by", "manager:mgr-1")
    assert out["enrolled"] == 4
    return program


async def test_create_enroll_show_refusals_and_the_chain_verifies(live: Stack, tmp_path: Path, sqlite_url: str) -> None:
    program = await created(live, tmp_path)
    # a person enrolls themself
    profile = json.dumps({"goals": ["go"], "languages": ["en"], "timezone": "Europe/Paris"})
    await live.ok("program", "enroll", program, "--person", "eve", "--role", "mentee", "--profile", profile,
                   "--preferences", "carl,ana", "--by", "mentee:eve")  # fmt: skip
    shown = await live.ok("program", "show", program)
    assert (shown["name"], shown["policy_name"], shown["cycle_start"]) == ("Spring", "mentoring-12m", "2027-01-01")
    assert shown["counts"] == {"mentors": 2, "mentees": 3, "withdrawn": 0, "rounds": 0}
    assert {m["person"]: m["free"] for m in shown["mentors"]} == {"ana": 1, "carl": 2}
    seq = shown["seq"]

    bad_file = tmp_path / "bad.csv"
    bad_file.write_text("person,role,capacity,languages\nzed,mentor,0,en\nyan,mentee,,en\n")
    hostile = [
        (("--person", "ana", "--role", "mentor", "--capacity", "2", "--profile", '{"languages":["en"]}'),
         "already enrolled as mentor"),
        (("--person", "fay", "--role", "mentor", "--capacity", "0", "--profile", '{"languages":["en"]}'), "capacity"),
        (("--person", "fay", "--role", "mentor", "--capacity", "-2", "--profile", '{"languages":["en"]}'), "capacity"),
        (("--person", "fay", "--role", "mentee", "--profile", '{"languages": "en"'), "--profile"),
        (("--person", "fay", "--role", "mentee", "--profile", '{"languages":[]}'), "languages"),
        (("--person", "fay", "--role", "mentee", "--profile", '{"languages":["en"]}', "--preferences", "bo"),
         "'bo' is not an enrolled mentor"),
        (("--file", str(bad_file)), "line 2: capacity"),
    ]  # fmt: skip
    for args, words in hostile:
        code, out, err = await live.cli("program", "enroll", program, *args, "--by", "manager:mgr-1")
        assert code == 2, (args, out, err)
        assert words in json.dumps(out) + err, (args, out, err)
    code, out, _ = await live.cli("program", "suggest", program, "--mentee", "nobody")
    assert code == 2 and "'nobody' is not enrolled as a mentee" in out["error"]
    code, out, _ = await live.cli("program", "show", "no-such-program")
    assert code == 4 and "does not exist" in out["error"]
    assert (await live.ok("program", "show", program))["seq"] == seq  # nothing changed

    engine = create_engine(sqlite_url)
    auditor = Auditor(
        engine=engine,
        bootstrap_servers=live.world.settings.kafka.bootstrap_servers,
        topic=live.world.topic,
        temporal=live.world.temporal,
        settle=0.5,
    )
    report = await auditor.verify(program_chain_id(program))
    assert report.ok, report.lines()
    assert report.to_dict()["stores"]["event_log"]["events"] == seq
    assert report.replay is not None and report.replay["ok"]
    engine.dispose()


async def test_three_ways_of_matching_and_a_closing_relationship_frees_its_slot(live: Stack, tmp_path: Path) -> None:
    program = await created(live, tmp_path)
    dry = await live.ok("program", "match", program, "--dry-run")
    assert {(p["mentee"], p["mentor"]) for p in dry["proposals"]} == {("bo", "ana"), ("dee", "carl")}
    scores = await live.ok("program", "scores", program)
    assert set(scores) == {"mentees", "mentors", "capacity", "scores"} and scores["capacity"] == {"ana": 1, "carl": 2}

    done = await live.ok("program", "match", program, "--by", "manager:mgr-1")
    assert set(done) >= {"proposals", "unmatched", "total_score"}
    by_mentee = {p["mentee"]: p for p in done["proposals"]}
    assert by_mentee["bo"]["mentor"] == "ana"
    state = (await live.ok("relationship", "show", by_mentee["bo"]["relationship_id"]))["state"]
    assert (state["match_method"], state["policy"]["name"]) == ("algorithmic", "mentoring-12m")
    shown = await live.ok("program", "show", program)
    assert shown["counts"]["rounds"] == 1
    assert {m["person"]: (m["open"], m["free"]) for m in shown["mentors"]} == {"ana": (1, 0), "carl": (1, 1)}

    # admin: a new mentee; the manager proposes from the suggestions (ana is full: only carl is suggested)
    await live.ok("program", "enroll", program, "--person", "gus", "--role", "mentee",
                   "--profile", '{"goals":["python"],"languages":["en"]}', "--by", "manager:mgr-1")  # fmt: skip
    suggested = await live.ok("program", "suggest", program, "--mentee", "gus")
    assert [s["mentor"] for s in suggested["suggestions"]] == ["carl"]
    code, out, _ = await live.cli("program", "propose", program, "--mentee", "gus", "--mentor", "ana",
                                   "--by", "manager:mgr-1")  # fmt: skip
    assert code == 2 and "no free slot" in out["error"]

    # the mentor declines bo's proposal: the relationship closes and ana's slot is free again
    await live.ok("relationship", "do", by_mentee["bo"]["relationship_id"], "decline-match", "--by", "mentor:ana",
                   "--data", '{"reason": "no time this quarter"}')  # fmt: skip
    for _ in range(100):
        free = {m["person"]: m["free"] for m in (await live.ok("program", "show", program))["mentors"]}
        if free["ana"] == 1:
            break
        await asyncio.sleep(0.1)
    assert free["ana"] == 1
    assert "ana" in [
        s["mentor"] for s in (await live.ok("program", "suggest", program, "--mentee", "gus"))["suggestions"]
    ]
    admin = await live.ok("program", "propose", program, "--mentee", "gus", "--mentor", "ana", "--by", "manager:mgr-1")
    assert admin["method"] == "admin" and admin["explanation"]

    # self: a mentee asks a mentor from their suggestions; the mentor accepts as for any proposal
    await live.ok("program", "enroll", program, "--person", "hal", "--role", "mentee",
                   "--profile", '{"goals":["go"],"languages":["en"]}', "--by", "mentee:hal")  # fmt: skip
    code, out, _ = await live.cli("program", "propose", program, "--mentee", "hal", "--mentor", "carl",
                                   "--by", "mentee:gus")  # fmt: skip
    assert code == 2 and out["error"].startswith("by:")
    own = await live.ok("program", "propose", program, "--mentee", "hal", "--mentor", "carl", "--by", "mentee:hal")
    accepted = await live.ok("relationship", "do", own["relationship_id"], "accept-match", "--by", "mentor:carl")
    assert accepted["state"]["match_method"] == "self"

    for _ in range(100):  # the projector applies the acceptance in its own time
        report = await live.ok("report", "matching", "--program", program)
        if report["funnel"]["accepted"] == 1:
            break
        await asyncio.sleep(0.1)
    funnel = report["funnel"]
    assert (funnel["enrolled"], funnel["matched"], funnel["accepted"], funnel["unmatched"]) == (4, 4, 1, 0)
    assert funnel["side_exits"]["declined"] == 1
    methods = {r["match_method"]: r["relationships"] for r in report["by_method"]}
    assert methods == {"algorithmic": 2, "admin": 1, "self": 1}
    assert {r["mentor"]: r["open"] for r in report["capacity"]} == {"ana": 1, "carl": 2}
    assert sum(r["relationships"] for r in report["by_score_band"]) == 4


async def test_withdraw_configure_and_close_the_cycle(live: Stack, tmp_path: Path) -> None:
    program = await created(live, tmp_path)
    code, out, _ = await live.cli("program", "withdraw", program, "--person", "nobody", "--role", "mentee",
                                   "--by", "manager:mgr-1")  # fmt: skip
    assert code == 2 and "person_id: nobody is not enrolled as mentee" in out["error"]
    code, out, _ = await live.cli("program", "withdraw", program, "--person", "ana", "--role", "mentor",
                                   "--by", "mentee:ana")  # fmt: skip
    assert code == 3 and "only their own enrollment in their own role" in out["error"], out
    gone = await live.ok("program", "withdraw", program, "--person", "dee", "--reason", "moved", "--by", "mentee:dee")
    assert (gone["ok"], gone["mentees"]) == (True, 1)
    config = tmp_path / "matching.toml"
    config.write_text('[matching]\nversion = "spring-2"\nfloor = 0.5\n')
    assert (await live.ok("program", "configure", program, "--matching-file", str(config), "--by", "manager:mgr-1"))[
        "ok"
    ]
    await live.ok("program", "configure", program, "--name", "Autumn", "--policy", "demo", "--cycle-end",
                  "2028-06-30", "--retention-days", "30", "--by", "manager:mgr-1")  # fmt: skip
    code, out, _ = await live.cli("program", "configure", program, "--cycle-end", "2026-01-01", "--by", "manager:mgr-1")
    assert code == 2 and "cycle_end: must be after cycle_start (2027-01-01)" in out["error"], out
    shown = await live.ok("program", "show", program)  # waits for the projection to reach the chain head
    assert (shown["matching_version"], shown["counts"]["withdrawn"]) == ("spring-2", 1)
    assert (shown["name"], shown["policy_name"], shown["cycle_end"], shown["retention_days"]) == (
        "Autumn", "demo", "2028-06-30", 30
    )  # fmt: skip
    assert [e["person"] for e in shown["mentees"]] == ["bo"]
    assert (await live.ok("program", "match", program, "--dry-run"))["matching_version"] == "spring-2"

    # a pair that scores under 0 (a 40-year seniority gap, nothing shared) is refused naming the mentor, not a crash
    await live.ok("program", "enroll", program, "--person", "old", "--role", "mentor", "--capacity", "1",
                   "--profile", '{"languages":["en"],"seniority_years":40}', "--by", "manager:mgr-1")  # fmt: skip
    code, out, _ = await live.cli("program", "propose", program, "--mentee", "bo", "--mentor", "old",
                                   "--by", "manager:mgr-1")  # fmt: skip
    assert code == 2 and out["error"].startswith("mentor: bo with old scores -"), out
    # the default policy configured above (demo) is pinned by a proposal made after it
    await live.ok("program", "enroll", program, "--person", "ivy", "--role", "mentee",
                   "--profile", '{"goals":["go"],"languages":["en"]}', "--by", "manager:mgr-1")  # fmt: skip
    ivy = await live.ok("program", "propose", program, "--mentee", "ivy", "--mentor", "carl", "--by", "manager:mgr-1")
    assert (await live.ok("relationship", "show", ivy["relationship_id"]))["state"]["policy"]["name"] == "demo"

    closed = await live.ok("program", "close-cycle", program, "--by", "manager:mgr-1")
    assert closed["closed"] is True
    code, out, _ = await live.cli("program", "enroll", program, "--person", "dee", "--role", "mentee",
                                   "--profile", '{"languages":["en"]}', "--by", "manager:mgr-1")  # fmt: skip
    assert code == 3 and "its cycle is closed" in out["error"]
    code, out, _ = await live.cli("program", "close-cycle", program, "--by", "manager:mgr-1")
    assert code == 3 and "its cycle is closed" in out["error"]
    code, out, _ = await live.cli("program", "match", program, "--by", "manager:mgr-1")
    assert code == 3 and "its cycle is closed" in out["error"]  # and nothing was proposed
    code, out, _ = await live.cli("program", "propose", program, "--mentee", "bo", "--mentor", "ana",
                                   "--by", "manager:mgr-1")  # fmt: skip
    assert code == 3 and "its cycle is closed" in out["error"]
    for _ in range(100):
        shown = await live.ok("program", "show", program)
        if shown["closed_at"]:
            break
        await asyncio.sleep(0.1)
    assert shown["closed_at"] and shown["seq"] == closed["last_seq"]
    assert shown["counts"]["rounds"] == 0
    assert [e["relationship_id"] for e in shown["mentees"] if e["person"] == "bo"] == [None]
