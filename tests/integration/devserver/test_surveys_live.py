"""Surveys on the live stack (issue 15): the dev server, a worker, Kafka and the projector. A pulse answered with the
lowest score through ``mentorflow relationship do R submit-survey`` turns the relationship red in ``mentorflow report
at-risk`` with the reason; ``mentorflow report feedback --format json`` has the response rates and the function mix.
A policy of seconds: the trial lasts one second and the pulse is asked on entering cultivation."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from typer.testing import CliRunner

from domain import builtin_policy, policy_from_mapping
from projections.db import migrate
from tests.integration.devserver.conftest import MANAGER, MENTEE, MENTOR, World, command
from workers.cli import app


def _fast_policy() -> Any:
    data = builtin_policy("mentoring-12m").to_mapping()
    data.update(name="fast-surveys", version="2026.1-fast", trial_window="PT1S", trial_meetings_needed=1)
    data["surveys"] = {
        "reminder": "PT1H",
        "expiry": "P1D",
        "steps": [{"instrument": "pulse", "version": 1, "on": "cultivation"}],
    }
    return policy_from_mapping(data)


async def _cli(world: World, *args: str) -> tuple[int, str]:
    env = {"MENTORFLOW_TEMPORAL__TASK_QUEUE": world.queue}
    result = await asyncio.to_thread(CliRunner().invoke, app, list(args), env=env)
    return result.exit_code, result.stdout + result.stderr


async def test_a_lowest_pulse_turns_the_relationship_red_in_the_reports(world: World, sqlite_url: str) -> None:
    rid, program = f"sv-{uuid.uuid4().hex[:8]}", f"prog-sv-{uuid.uuid4().hex[:6]}"
    await world.client.propose(
        program=program, mentor=MENTOR.id, mentee=MENTEE.id, by=MANAGER, relationship_id=rid, policy=_fast_policy()
    )
    for c in (
        command("AcceptMatch", MENTOR),
        command("AcceptMatch", MENTEE),
        command("SignAgreement", MENTOR, goals=["x"], cadence="P2W"),
        command("SignAgreement", MENTEE, goals=["x"], cadence="P2W"),
        command("LogMeeting", MENTOR, held_at=datetime.now(UTC).isoformat(), functions=["coaching"]),
    ):
        await world.client.send(rid, c)
    deadline = time.monotonic() + 60
    while not (state := await world.client.state(rid)).surveys_open:  # the trial passes: cultivation, the pulse
        assert time.monotonic() < deadline, state
        await asyncio.sleep(0.2)
    [request_id] = state.surveys_open
    answers = {"satisfaction": 1, "functions": ["counseling"], "comment": "we never talk"}
    data = json.dumps({"request_id": request_id, "answers": answers})
    code, out = await _cli(
        world, "relationship", "do", rid, "submit-survey", "--by", f"mentee:{MENTEE.id}", "--data", data
    )
    assert code == 0, out
    code, out = await _cli(
        world, "relationship", "do", rid, "submit-survey", "--by", f"mentee:{MENTEE.id}", "--data", data
    )
    assert code == 3 and "survey_duplicate" in out, out  # refused, the rule named

    migrate(sqlite_url)
    await world.project(sqlite_url)
    code, out = await _cli(world, "report", "at-risk", "--program", program, "--json", "--database-url", sqlite_url)
    assert code == 0, out
    [row] = [r for r in json.loads(out) if r["relationship_id"] == rid]
    assert row["health"] == "red" and f"mentee {MENTEE.id} rated 1" in row["health_reason"], row
    code, out = await _cli(
        world, "report", "feedback", "--program", program, "--format", "json", "--database-url", sqlite_url
    )
    assert code == 0, out
    rows = json.loads(out)
    [rate] = [r for r in rows if r["section"] == "response_rate"]
    assert (rate["instrument"], rate["asked"], rate["answered"], rate["response_rate"]) == ("pulse", 2, 1, 0.5)
    mix = {(r["stage"], r["group"]): r["n"] for r in rows if r["section"] == "function_mix"}
    assert mix[("initiation", "career")] == 1 and mix[("cultivation", "psychosocial")] == 1
    assert "we never talk" not in out
