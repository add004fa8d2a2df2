"""Save the workflow histories of a whole program for the replay tests:
``.venv/bin/python -m tests.histories.record_program PROGRAM``.

Run it after a demo that went through faults (e.g. ``mentorflow demo --relationships 20 --term 30 --program P``
with the worker killed and replaced, and the broker killed and restarted): every run of every relationship of the
program is saved under ``tests/histories/programs/P/``, and tests/workflow/test_replay.py replays them all with the
current code. Re-record only on purpose: these prove the current code replays what older code recorded."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from workers.settings import load_settings
from workflows.connection import connect

HERE = Path(__file__).parent


async def record(program: str) -> int:
    settings = load_settings()
    client = await connect(settings.temporal.address, settings.temporal.namespace)
    folder = HERE / "programs" / program
    folder.mkdir(parents=True, exist_ok=True)
    saved = 0
    async for execution in client.list_workflows(f'MentorflowProgram="{program}"'):
        history = await client.get_workflow_handle(execution.id, run_id=execution.run_id).fetch_history()
        (folder / f"{execution.id}--{(execution.run_id or '')[:8]}.json").write_text(history.to_json())
        saved += 1
    return saved


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m tests.histories.record_program PROGRAM")
    print(f"saved {asyncio.run(record(sys.argv[1]))} histories")
