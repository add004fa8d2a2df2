"""The webhook notification sink against a real local HTTP server, and ``mentorflow worker`` shutting down
gracefully on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError

from activities.notifications import Notifier, WebhookSink
from domain import Envelope, NudgeSent, RelationshipState, advance, builtin_policy, execute
from domain.commands import AcceptMatch, ProposeRelationship
from tests.integration.devserver.conftest import MANAGER, MENTEE, MENTOR, command
from workers.connect import connect_client
from workers.settings import Settings


class Hook:
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.fail_first = 0
        self.status = 200


@pytest.fixture
def webhook() -> Iterator[tuple[str, Hook]]:
    hook = Hook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if hook.fail_first > 0:
                hook.fail_first -= 1
                self.send_response(503)
                self.end_headers()
                return
            hook.received.append(json.loads(body))
            hook.headers.append(dict(self.headers))
            self.send_response(hook.status)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks/mentorflow", hook
    finally:
        server.shutdown()
        server.server_close()


def nudge_envelope() -> Envelope:
    """A real NudgeSent envelope, made by the pure core (propose, one acceptance, then the kickoff nudge...)."""
    from datetime import UTC, datetime, timedelta

    ids = iter(str(uuid.UUID(int=i)) for i in range(1, 100))
    now = datetime(2026, 3, 1, tzinfo=UTC)
    state = RelationshipState.new("r-hook")
    state, _ = execute(state, ProposeRelationship(
        command_id="c1", actor=MANAGER, relationship_id="r-hook", program_id="p", mentor_id=MENTOR.id,
        mentee_id=MENTEE.id, policy=builtin_policy("mentoring-12m")), now, ids)  # fmt: skip
    state, _ = execute(state, AcceptMatch(command_id="c2", actor=MENTOR), now, ids)
    state, _ = execute(state, AcceptMatch(command_id="c3", actor=MENTEE), now, ids)
    state, envelopes = advance(state, now + timedelta(days=7), ids)
    [nudge] = [e for e in envelopes if e.type == NudgeSent.__name__]
    return nudge


async def test_webhook_sink_delivers_with_retries(webhook: tuple[str, Hook]) -> None:
    url, hook = webhook
    hook.fail_first = 2  # two 503s, then accepted
    notifier = Notifier(WebhookSink(url, attempts=4, backoff=0.01))
    envelope = nudge_envelope()
    receipt = await notifier.notify(envelope)
    assert receipt == f"webhook:{envelope.event_id}"
    [body] = hook.received
    assert body["kind"] == "NudgeSent" and body["recipients"] == [MENTOR.id, MENTEE.id]
    assert body["event_id"] == envelope.event_id and body["relationship_id"] == "r-hook"
    assert hook.headers[0]["Idempotency-Key"] == envelope.event_id
    assert hook.headers[0]["Content-Type"] == "application/json"


async def test_webhook_sink_gives_up_clearly(webhook: tuple[str, Hook]) -> None:
    url, hook = webhook
    hook.status = 404
    with pytest.raises(ApplicationError, match="HTTP 404") as refused:
        await Notifier(WebhookSink(url)).notify(nudge_envelope())
    assert refused.value.non_retryable
    hook.fail_first = 10
    with pytest.raises(RuntimeError, match="not reached after 2 attempts: HTTP 503"):
        await Notifier(WebhookSink(url, attempts=2, backoff=0.01)).notify(nudge_envelope())


async def test_worker_process_stops_gracefully_on_sigterm(stack: Settings, kafka_topic: str, tmp_path: Path) -> None:
    queue = f"proc-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "MENTORFLOW_TEMPORAL__TASK_QUEUE": queue}
    log = tmp_path / "notifications.jsonl"
    output = tmp_path / "worker.log"
    with output.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "mentorflow"), "worker", "--topic", kafka_topic,
            "--notification-log", str(log), env=env, stdout=sink, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
    try:
        client = await connect_client(stack, task_queue=queue)
        try:
            proposed = await asyncio.wait_for(
                client.propose(program="p", mentor=MENTOR.id, mentee=MENTEE.id, by=MANAGER), timeout=30
            )
        except Exception:
            print("WORKER LOG:", output.read_text()[-3000:])
            raise
        rid = proposed.relationship_id
        await client.send(rid, command("AcceptMatch", MENTOR))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while (await client.status(rid)).published_through < 3:
            assert loop.time() < deadline
            await asyncio.sleep(0.1)
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), timeout=30)
    logged = output.read_text()
    assert process.returncode == 0, logged[-3000:]
    assert "stopping: finishing in-flight tasks" in logged
