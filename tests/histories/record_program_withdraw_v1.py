"""Record tests/histories/regressions/program-withdraw-before-own-role.json: a ProgramWorkflow history in which
``mentee:bo`` withdraws bo's *mentor* enrollment, accepted by the code before the own-role withdrawal rule. Run it
from an export of that code, against the running dev server (no broker needed)::

    git archive 7ae6506 | tar -x -C /tmp/old && cp .env /tmp/old/ && cd /tmp/old && \
        PYTHONPATH=/tmp/old "$REPO/.venv/bin/python" "$REPO/tests/histories/record_program_withdraw_v1.py" OUT.json

tests/workflow/test_program_replay.py replays it with the current code."""

from __future__ import annotations

import asyncio
import sys
import uuid
from datetime import date
from pathlib import Path

from temporalio import activity
from temporalio.client import WorkflowHistory
from temporalio.worker import Worker

from domain import Actor, builtin_policy
from domain.matching import Profile
from domain.programs.commands import CloseCycle, CreateProgram, EnrollParticipants, Participant, WithdrawParticipant
from workers.settings import load_settings
from workflows.connection import connect
from workflows.models import ACTIVITY_PUBLISH
from workflows.program import ProgramWorkflow
from workflows.program_client import ProgramClient, program_workflow_id


@activity.defn(name=ACTIVITY_PUBLISH)
async def publish(batch: list[object]) -> None:  # the recording needs no broker: the history is what is kept
    return None


async def main() -> WorkflowHistory:
    settings = load_settings()
    client = await connect(settings.temporal.address, settings.temporal.namespace)
    queue = f"progrules-record-{uuid.uuid4().hex[:8]}"
    program = f"withdraw-v1-{uuid.uuid4().hex[:6]}"
    manager = Actor(id="mgr-1", role="manager")
    profile = Profile(languages=("en",))
    cid = lambda: str(uuid.uuid4())  # noqa: E731
    async with Worker(client, task_queue=queue, workflows=[ProgramWorkflow], activities=[publish]):
        programs = ProgramClient(client, task_queue=queue)
        await programs.create(
            CreateProgram(
                command_id=cid(),
                actor=manager,
                program_id=program,
                name="Spring",
                default_policy=builtin_policy("mentoring-12m"),
                cycle_start=date(2027, 1, 1),
                cycle_end=date(2027, 12, 31),
            )
        )
        await programs.send(
            EnrollParticipants(
                command_id=cid(),
                actor=manager,
                program_id=program,
                participants=(
                    Participant(person_id="bo", role="mentor", profile=profile, capacity=1),
                    Participant(person_id="bo", role="mentee", profile=profile),
                ),
            )
        )
        # accepted by the first rule: mentee:bo withdraws bo's *mentor* enrollment
        r = await programs.send(
            WithdrawParticipant(
                command_id=cid(), actor=Actor(id="bo", role="mentee"), program_id=program, person_id="bo", role="mentor"
            )
        )
        assert r.mentors == 0, r
        await programs.send(CloseCycle(command_id=cid(), actor=manager, program_id=program))
        handle = client.get_workflow_handle(program_workflow_id(program))
        await asyncio.wait_for(handle.result(), timeout=120)
        history = await handle.fetch_history()
    return history


if __name__ == "__main__":
    saved = asyncio.run(main())
    Path(sys.argv[1]).write_text(saved.to_json())
    print("saved", sys.argv[1], len(saved.events), "events")
