"""The notification activity: tells people about ``NudgeSent``, ``EscalatedToManager`` and (rules v2) ``NoticeSent``
events: every prompt of the lifecycle, each an event in the log naming who is told what (``domain.notices``).

Pluggable sinks, chosen by the worker:

* :class:`LogSink` (default) writes one JSON line per notification to a log file (and the ``mentorflow.notify``
  logger), appending and flushing, so the line is on disk when the activity returns.
* :class:`WebhookSink` POSTs the notification as JSON to a URL (standard-library ``urllib`` in a thread), retrying
  connection errors and 5xx/429 answers with backoff; a 4xx answer is a non-retryable error (the URL or the payload
  is wrong, retrying will not help).

The activity fails when the sink fails, and the workflow's retry policy tries again: a notification is delivered at
least once. Receivers deduplicate by ``event_id``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Protocol

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.names import ACTIVITY_NOTIFY, NOTIFY_TYPES
from domain import Envelope

__all__ = ["LogSink", "Notifier", "NotifySink", "WebhookSink", "notification_of"]

log = logging.getLogger("mentorflow.notify")


def notification_of(envelope: Envelope) -> dict[str, Any]:
    """The JSON body of a notification: who to tell, about what, and the event it comes from."""
    payload = envelope.payload
    if envelope.type == "NudgeSent":
        recipients = list(payload.get("to", []))
        audience = "participants"
        text = str(payload.get("message", ""))
    elif envelope.type == "NoticeSent":  # rules v2: the event itself says who is told what
        recipients = list(payload.get("to", []))
        audience = str(payload.get("audience", "participants"))
        text = str(payload.get("message", ""))
    else:
        recipients = []
        audience = "program_manager"
        text = str(payload.get("reason", ""))
    return {
        "kind": envelope.type,
        "audience": audience,
        "recipients": recipients,
        "rule": payload.get("rule", payload.get("kind")),
        "message": text,
        "relationship_id": envelope.relationship_id,
        "program_id": envelope.program_id,
        "seq": envelope.seq,
        "event_id": envelope.event_id,
        "occurred_at": envelope.to_json_dict()["occurred_at"],
    }


class NotifySink(Protocol):
    name: str

    async def deliver(self, notification: dict[str, Any]) -> None: ...


class LogSink:
    """Appends one JSON line per notification to ``path`` (and logs it)."""

    name = "log"

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def _write(self, line: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")
            handle.flush()

    async def deliver(self, notification: dict[str, Any]) -> None:
        line = json.dumps(notification, sort_keys=True, ensure_ascii=False)
        await asyncio.to_thread(self._write, line)
        log.info("notification %s", line)


class WebhookSink:
    """POSTs the notification as JSON. Retries (``attempts`` in all) connection errors, timeouts, 429 and 5xx."""

    name = "webhook"

    def __init__(
        self,
        url: str,
        *,
        attempts: int = 4,
        timeout: float = 5.0,
        backoff: float = 0.2,
        headers: dict[str, str] | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"webhook URL must be http(s): {url!r}")
        self.url = url
        self.attempts = max(1, attempts)
        self.timeout = timeout
        self.backoff = backoff
        self.headers = {"Content-Type": "application/json", "User-Agent": "mentorflow-notify/1", **(headers or {})}

    def _post(self, body: bytes, event_id: str) -> int:
        request = urllib.request.Request(
            self.url, data=body, method="POST", headers={**self.headers, "Idempotency-Key": event_id}
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            status: int = response.status
            return status

    async def deliver(self, notification: dict[str, Any]) -> None:
        body = json.dumps(notification, sort_keys=True, ensure_ascii=False).encode("utf-8")
        last: str = ""
        for attempt in range(1, self.attempts + 1):
            try:
                await asyncio.to_thread(self._post, body, str(notification["event_id"]))
                return
            except urllib.error.HTTPError as exc:
                if exc.code != 429 and exc.code < 500:
                    raise ApplicationError(
                        f"webhook {self.url} refused the notification: HTTP {exc.code} {exc.reason}",
                        type="InvalidNotification",
                        non_retryable=True,
                    ) from exc
                last = f"HTTP {exc.code} {exc.reason}"
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                last = str(getattr(exc, "reason", exc))
            if attempt < self.attempts:
                await asyncio.sleep(self.backoff * 2 ** (attempt - 1) * (0.5 + random.random()))
        raise RuntimeError(f"webhook {self.url} not reached after {self.attempts} attempts: {last}")


class Notifier:
    """Register ``notifier.notify`` as an activity."""

    def __init__(self, sink: NotifySink) -> None:
        self.sink = sink

    @activity.defn(name=ACTIVITY_NOTIFY)
    async def notify(self, envelope: Envelope) -> str:
        if envelope.type not in NOTIFY_TYPES:
            raise ApplicationError(
                f"seq {envelope.seq} is a {envelope.type}, not a notification",
                type="InvalidNotification",
                non_retryable=True,
            )
        await self.sink.deliver(notification_of(envelope))
        return f"{self.sink.name}:{envelope.event_id}"
