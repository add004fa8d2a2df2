"""Record ``tests/histories/commandless-chain-across-continue-as-new.json``: ``.venv/bin/python -m
tests.histories.record_chain``. The shape the long audit property test caught (a publication done with nothing left
to send, refused commands past the continue-as-new trigger, then an accepted command), played live by the current
code with its workflow cached (tests/workflow/test_activation_grouping.py). tests/workflow/test_replay.py replays it
with every later version of the code. Re-record only on purpose."""

from __future__ import annotations

import asyncio
from pathlib import Path
from tempfile import TemporaryDirectory

from tests.conftest import time_skipping_server
from tests.workflow.test_activation_grouping import chain_across_trigger

HERE = Path(__file__).parent
NAME = "commandless-chain-across-continue-as-new"


async def main() -> None:
    async with time_skipping_server() as env:
        with TemporaryDirectory() as tmp:
            history = await chain_across_trigger(env, Path(tmp) / "notifications.jsonl")
    text = history.to_json()
    (HERE / f"{NAME}.json").write_text(text + "\n")
    print(f"recorded {NAME}: {len(text)} bytes")


if __name__ == "__main__":
    asyncio.run(main())
