"""``mentorflow relationship propose / do / show / list`` against the real dev server, with a worker started here."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from pathlib import Path

from typer.testing import CliRunner

from tests.integration.devserver.conftest import World
from workers.cli import app


async def cli(world: World, *args: str) -> tuple[int, str, str]:
    """Run the CLI in a thread (it runs its own event loop) while this loop keeps the worker going."""
    runner = CliRunner()
    env = {"MENTORFLOW_TEMPORAL__TASK_QUEUE": world.queue}
    result = await asyncio.to_thread(runner.invoke, app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


async def test_propose_do_show_and_a_refusal(world: World, tmp_path: Path) -> None:
    rid = f"cli-{uuid.uuid4().hex[:8]}"
    policy = tmp_path / "fast.yaml"
    policy.write_text(
        "\n".join(
            f"{k}: {v}"
            for k, v in {
                "name": "fast",
                "version": '"2026.1-fast"',
                "acceptance_reminder": "P3D",
                "acceptance_expiry": "P14D",
                "kickoff_nudge": "P7D",
                "kickoff_escalation": "P21D",
                "trial_window": "P45D",
                "trial_meetings_needed": 2,
                "initiation_give_up": "P90D",
                "at_risk_yellow": "P45D",
                "at_risk_red": "P60D",
                "inactivity_separation": "P90D",
                "inactivity_warning": "P7D",
                "term": "P12M",
                "max_renewals": 1,
                "max_pause": "P60D",
                "consent_window": "P14D",
                "wind_down": "P30D",
                "redefinition_follow_up": "P90D",
            }.items()
        )
    )
    code, out, err = await cli(
        world, "relationship", "propose", "--program", "prog-cli", "--mentor", "ana", "--mentee", "bo",
        "--id", rid, "--policy-file", str(policy), "--by", "manager:mgr-1", "--json",
    )  # fmt: skip
    assert code == 0, err
    proposed = json.loads(out)
    assert proposed["state"]["stage"] == "initiation" and proposed["state"]["policy"]["name"] == "fast"
    assert [e["type"] for e in proposed["events"]] == ["RelationshipProposed", "StageChanged"]

    code, out, err = await cli(world, "relationship", "do", rid, "accept-match", "--by", "mentor:ana")
    assert code == 0, err
    assert "accepted" in out and "MatchAccepted" in out

    # A refused command: exit 3, the rule on stderr, nothing appended.
    code, out, err = await cli(
        world,
        "relationship",
        "do",
        rid,
        "record-redefinition",
        "--by",
        "mentee:bo",
        "--data",
        '{"outcome": "collegial"}',
    )
    assert code == 3
    assert "IllegalTransition" in err and "RecordRedefinition is not allowed in stage initiation" in err

    code, out, err = await cli(world, "relationship", "do", rid, "decline-match", "--by", "mentee:bo", "--json")
    assert code == 2 and json.loads(out)["error"].startswith("invalid decline-match: reason: Field required")

    code, out, err = await cli(world, "relationship", "do", rid, "log-meeting", "--by", "mentor:ana", "--data", "{oops")
    assert code == 2 and "--data is not valid JSON" in err

    code, out, err = await cli(world, "relationship", "do", rid, "accept-match", "--by", "boss:x")
    assert code == 2 and "unknown role" in (out + err)

    code, out, err = await cli(world, "relationship", "show", rid, "--json", "--events")
    assert code == 0, err
    shown = json.loads(out)
    assert shown["state"]["seq"] == 3 and [e["seq"] for e in shown["events"]] == [1, 2, 3]

    code, out, err = await cli(world, "relationship", "show", rid)
    assert code == 0 and "initiation/proposed" in out

    code, out, err = await cli(world, "relationship", "show", f"missing-{rid}")
    assert code == 4 and "does not exist" in err


async def test_the_console_script_exits_3_on_a_refusal(world: World) -> None:
    """The installed ``mentorflow`` entry point, as a user runs it."""
    rid, _ = await world.propose_in_trial()
    env = {**os.environ, "MENTORFLOW_TEMPORAL__TASK_QUEUE": world.queue}
    script = Path(sys.executable).parent / "mentorflow"
    process = await asyncio.create_subprocess_exec(
        str(script), "relationship", "do", rid, "resume", "--by", "mentee:bo",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    assert process.returncode == 3, (out, err)
    assert b"Resume is not allowed in stage initiation" in err
