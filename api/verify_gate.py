"""Verify as a bounded job over HTTP: a per-caller rate limit and a timeout, both reported with the result.

Verifying reads three stores (the event log, the whole Kafka topic, Temporal histories with a replay each): one
request could keep the service busy for minutes. Over HTTP each caller (token role and name) may start at most
``VERIFY_CALLS_PER_MINUTE`` verifications in any 60 s (429 with ``Retry-After`` beyond), and each one is given
``VERIFY_TIMEOUT_SECONDS`` (then 503 saying so: the CLI ``mentorflow audit verify --all`` has no such bound). A
successful answer carries ``"limits"`` with both, so a caller sees the caps it ran under.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import Request
from starlette.exceptions import HTTPException

from api.auth import Principal
from service.errors import ServiceUnavailable

__all__ = [
    "VERIFY_CALLS_PER_MINUTE",
    "VERIFY_TIMEOUT_SECONDS",
    "VerifyGate",
    "verify_gate",
]

T = TypeVar("T")

VERIFY_CALLS_PER_MINUTE = 6
"""Verifications one caller may start in any 60 s window over HTTP."""
VERIFY_TIMEOUT_SECONDS = 60.0
"""How long one verification may run over HTTP before it is abandoned with a 503."""
_WINDOW_SECONDS = 60.0


class VerifyGate:
    """The per-caller sliding-window limit and the timeout. One per app (``app.state.verify_gate``)."""

    def __init__(
        self,
        *,
        calls_per_minute: int = VERIFY_CALLS_PER_MINUTE,
        timeout_seconds: float = VERIFY_TIMEOUT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.calls_per_minute = calls_per_minute
        self.timeout_seconds = timeout_seconds
        self._clock = clock
        self._calls: dict[str, deque[float]] = {}

    @property
    def limits(self) -> dict[str, Any]:
        return {"calls_per_minute": self.calls_per_minute, "timeout_seconds": self.timeout_seconds}

    def admit(self, caller: Principal) -> None:
        """Count one call of ``caller``, or refuse it (429, ``Retry-After``) when the window is full."""
        now = self._clock()
        calls = self._calls.setdefault(str(caller), deque())
        while calls and calls[0] <= now - _WINDOW_SECONDS:
            calls.popleft()
        if len(calls) >= self.calls_per_minute:
            retry = max(1, math.ceil(calls[0] + _WINDOW_SECONDS - now))
            raise HTTPException(
                429,
                f"verify: at most {self.calls_per_minute} verifications per minute per caller "
                f"(VERIFY_CALLS_PER_MINUTE); try again in {retry} s",
                headers={"Retry-After": str(retry)},
            )
        calls.append(now)

    async def run(self, caller: Principal, job: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
        """Admit ``caller``, run ``job`` within the timeout, and add the limits to its answer."""
        self.admit(caller)
        try:
            result = await asyncio.wait_for(job(), timeout=self.timeout_seconds)
        except TimeoutError:
            raise ServiceUnavailable(
                f"verify did not finish within {self.timeout_seconds:g} s (VERIFY_TIMEOUT_SECONDS) and was "
                f"abandoned; narrow it (one relationship, ?program=) or run `mentorflow audit verify --all`",
            ) from None
        return {**result, "limits": self.limits}


def verify_gate(request: Request) -> VerifyGate:
    """The app's gate (made on first use, so every app has one without its factory knowing)."""
    gate: VerifyGate | None = getattr(request.app.state, "verify_gate", None)
    if gate is None:
        gate = request.app.state.verify_gate = VerifyGate()
    return gate
