"""Record workflow histories for the replay tests: ``.venv/bin/python -m tests.histories.record [NAME...]`` (only
the named ones; none named: all of them). Runs real lifecycles (the real workflow and activities, the time-skipping
test server, the real Kafka broker of the local stack) and saves each history as JSON next to this file. Re-record
only on purpose: the saved histories are what proves the current code still replays relationships recorded by older
code.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from tempfile import TemporaryDirectory

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.notifications import LogSink, Notifier
from activities.publishing import KafkaPublisher
from tests.cache import TEST_WORKFLOW_CACHE
from tests.workflow.conftest import MANAGER, MENTEE, MENTOR, Lifecycle
from workers.services.kafka import ensure_topics
from workers.services.temporal import SEARCH_ATTRIBUTES, add_search_attributes, test_server_binary
from workers.settings import load_settings
from workers.worker import build_worker
from workflows.caller_publisher import CallerPublisher
from workflows.client import MentorflowClient
from workflows.connection import DATA_CONVERTER
from workflows.models import Limits, workflow_id

HERE = Path(__file__).parent


async def declined(lc: Lifecycle) -> None:
    await lc.propose()
    await lc.do("DeclineMatch", MENTEE, reason="no time this year")


async def did_not_start(lc: Lifecycle) -> None:
    """Timers (nudge, escalation, give-up) and the notification activity."""
    await lc.propose()
    await lc.do("AcceptMatch", MENTOR)
    await lc.do("AcceptMatch", MENTEE)
    await lc.sleep(91)


async def contested_then_reconciled(lc: Lifecycle) -> None:
    await lc.to_cultivation()
    await lc.meeting()
    await lc.do("Pause", MENTEE, reason="leave")
    await lc.sleep(10)
    await lc.do("Resume", MENTEE)
    await lc.do("ProposeSeparation", MENTOR, reason="moving abroad")
    await lc.sleep(15)
    await lc.do("ResolveSeparation", MANAGER, resolution="reconcile")
    await lc.do("Terminate", MANAGER, reason_code="program_ended")


async def continued_as_new(lc: Lifecycle) -> None:
    """Enough commands for a continue-as-new (trigger lowered to 150 history events); the first run is saved."""
    await lc.propose()
    await lc.do("AcceptMatch", MENTOR)
    await lc.do("AcceptMatch", MENTEE)
    await lc.do("SignAgreement", MENTOR, goals=["x"], cadence="P2W")
    await lc.do("SignAgreement", MENTEE, goals=["x"], cadence="P2W")
    for _ in range(80):
        await lc.meeting()
    await lc.do("Terminate", MANAGER, reason_code="program_ended")


async def trial_failed(lc: Lifecycle) -> None:
    """Rules v2: signed, never met; the trial fails (escalated, red, notices delivered), the grace runs out."""
    lc.rules_version = None
    await lc.propose()
    await lc.do("AcceptMatch", MENTOR)
    await lc.do("AcceptMatch", MENTEE)
    await lc.do("SignAgreement", MENTOR, goals=["x"], cadence="P2W")
    await lc.do("SignAgreement", MENTEE, goals=["x"], cadence="P2W")
    await lc.sleep(61)


async def contested_timer_decides(lc: Lifecycle) -> None:
    """Rules v2: the mentee never answers a separation proposal; re-escalations, the default decision by the timer,
    the wind-down and the follow-up window."""
    lc.rules_version = None
    await lc.to_cultivation()
    await lc.do("ProposeSeparation", MENTOR, reason="moving abroad")
    await lc.sleep(14 + 31 + 31 + 91)


async def reassigned(lc: Lifecycle) -> None:
    """Rules v2: the manager reassigns the pair during the trial (closed ``rematched``, the successor named)."""
    lc.rules_version = None
    await lc.propose()
    await lc.do("AcceptMatch", MENTOR)
    await lc.do("AcceptMatch", MENTEE)
    await lc.do("SignAgreement", MENTOR, goals=["x"], cadence="P2W")
    await lc.do("SignAgreement", MENTEE, goals=["x"], cadence="P2W")
    await lc.meeting()
    await lc.do("Reassign", MANAGER, successor_id=f"{lc.relationship_id}-successor", reason="no chemistry")


async def ordered_surveys_paused(lc: Lifecycle) -> None:
    """Rules v3, recorded since ``ordered-commands`` (one coroutine issues timers and activities): surveys asked and
    answered, a refusal, a pause ended by a command and one by the timer, then terminated."""
    lc.rules_version = None
    await lc.to_cultivation()
    state = await lc.state()
    [end_of_trial] = [k for k, r in state.surveys_open.items() if r.instrument == "end_of_trial"]
    await lc.do("SubmitSurvey", MENTOR, request_id=end_of_trial, answers={"satisfaction": 4, "continue": "yes"})
    await lc.meeting()
    await lc.do("Pause", MENTEE, reason="parental leave")
    await lc.sleep(10)
    await lc.do("Resume", MENTEE)
    await lc.do("Pause", MENTOR, reason="sabbatical")
    await lc.sleep(61)
    await lc.do("Terminate", MANAGER, reason_code="program_ended")


SCENARIOS: dict[str, tuple[Callable[[Lifecycle], Awaitable[None]], Limits | None]] = {
    "declined": (declined, None),
    "did-not-start": (did_not_start, None),
    "contested-then-reconciled": (contested_then_reconciled, None),
    "continued-as-new": (continued_as_new, Limits(continue_as_new_after_events=150)),
    "v2-trial-failed": (trial_failed, None),
    "v2-contested-timer-decides": (contested_timer_decides, None),
    "v2-reassigned": (reassigned, None),
    "ordered-surveys-paused": (ordered_surveys_paused, None),
    "ordered-continued-as-new": (continued_as_new, Limits(continue_as_new_after_events=150)),
    "caller-publishes-surveys-paused": (ordered_surveys_paused, None),
    "caller-publishes-continued-as-new": (continued_as_new, Limits(continue_as_new_after_events=150)),
}
CALLER_PUBLISHES = {"caller-publishes-surveys-paused", "caller-publishes-continued-as-new"}
"""Recorded with a client that publishes its commands' envelopes itself (``command_by_publisher``: hand-overs,
confirmations, and the backstop where a sleep follows the last command), on the same topic."""


async def first_run_history(client: Client, relationship_id: str) -> str:
    """The history of the relationship's first run (the one that continued as new)."""
    latest = await client.get_workflow_handle(workflow_id(relationship_id)).fetch_history()
    first_run_id = latest.events[0].workflow_execution_started_event_attributes.first_execution_run_id
    first = await client.get_workflow_handle(workflow_id(relationship_id), run_id=first_run_id).fetch_history()
    assert first.events[-1].HasField("workflow_execution_continued_as_new_event_attributes")
    return first.to_json()


async def main(names: list[str]) -> None:
    """Record the named scenarios (all when none is named: only on purpose, it rewrites every saved history)."""
    unknown = set(names) - set(SCENARIOS)
    if unknown:
        raise SystemExit(f"unknown scenarios {sorted(unknown)} (known: {', '.join(SCENARIOS)})")
    settings = load_settings()
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=test_server_binary(), data_converter=DATA_CONVERTER
    )
    await add_search_attributes(env.client, SEARCH_ATTRIBUTES)
    topic = f"histories.{uuid.uuid4().hex[:8]}"
    await ensure_topics(settings.kafka.bootstrap_servers, {topic: 1})
    publisher = KafkaPublisher(settings.kafka.bootstrap_servers, topic)
    queue = "record-histories"
    try:
        with TemporaryDirectory() as tmp:
            notifier = Notifier(LogSink(Path(tmp) / "notifications.jsonl"))
            async with build_worker(
                env.client,
                task_queue=queue,
                publisher=publisher,
                notifier=notifier,
                max_cached_workflows=TEST_WORKFLOW_CACHE,
            ):
                for name, (scenario, limits) in SCENARIOS.items():
                    if names and name not in names:
                        continue
                    caller = CallerPublisher(publisher.send_batch) if name in CALLER_PUBLISHES else None
                    lc = Lifecycle(
                        env=env,
                        client=MentorflowClient(env.client, task_queue=queue, limits=limits, publisher=caller),
                        notifications=Path(tmp) / "notifications.jsonl",
                        relationship_id=f"history-{name}",
                    )
                    await scenario(lc)
                    if limits is None:
                        await lc.wait_closed()
                        text = (await lc.client.handle(lc.relationship_id).fetch_history()).to_json()
                    else:
                        text = await first_run_history(env.client, lc.relationship_id)
                    (HERE / f"{name}.json").write_text(text + "\n")
                    print(f"recorded {name}: {len(text)} bytes")
    finally:
        await publisher.close()
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
