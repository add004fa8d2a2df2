"""``mentorflow relationship republish`` at its door (unit tier: the stores are the Auditor's read shapes, the real
service and CLI around them): the JSON it prints when done, exit 3 for a refused plan (nothing published), exit 5 with
no traceback when Temporal or the audit store cannot be opened, exit 2 for a malformed id."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from typer.testing import CliRunner

from audit.verify import StoreRead
from tests.unit.audit.test_compare import records, rehash, with_data
from tests.unit.service.test_republishing import HISTORY, RID, _audit
from workers.cli import app


@pytest.fixture
def stores(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """What ``open_auditor`` yields (``audit``), or what it raises on entry (``error``)."""
    held: dict[str, Any] = {"audit": _audit(on_topic=20), "error": None}

    @asynccontextmanager
    async def open_auditor(*_args: Any, **_kwargs: Any) -> AsyncIterator[Any]:
        if held["error"] is not None:
            raise held["error"]
        yield held["audit"]

    monkeypatch.setattr("workers.auditing.open_auditor", open_auditor)
    monkeypatch.setenv("MENTORFLOW_DATABASE__URL", "sqlite:////nonexistent/never-opened.db")
    yield held


def _cli(*args: str) -> tuple[int, Any, str]:
    result = CliRunner().invoke(app, ["relationship", "republish", *args])
    out = json.loads(result.stdout) if result.stdout.strip().startswith("{") else result.stdout
    return result.exit_code, out, result.stderr


def test_a_dry_run_prints_what_it_would_publish(stores: dict[str, Any]) -> None:
    code, out, err = _cli(RID, "--dry-run", "--json")
    assert code == 0, err
    assert set(out) == {
        "ok",
        "dry_run",
        "published",
        "relationship_id",
        "made_through",
        "on_topic_through",
        "to_publish",
    }
    assert (out["ok"], out["dry_run"], out["published"]) == (True, True, 0)
    assert out["to_publish"] == {"count": len(HISTORY) - 20, "first_seq": 21, "last_seq": len(HISTORY)}
    code, text, _ = _cli(RID, "--dry-run")
    assert code == 0 and f"would publish seq 21..{len(HISTORY)}" in text and "the topic held 1..20" in text


def test_a_refused_plan_is_exit_3_and_publishes_nothing(stores: dict[str, Any]) -> None:
    forked = records("kafka", HISTORY[:4])
    data = copy.deepcopy(dict(forked[2].data or {}))
    data["payload"] = {**data["payload"], "forged": True}
    forked[2] = with_data(forked[2], rehash(data))
    stores["audit"].auditor.kafka = StoreRead(forked, "topic t")
    code, out, err = _cli(RID, "--json")
    assert code == 3 and out["ok"] is False and out["exit_code"] == 3, (out, err)
    assert "seq 3" in out["error"] and "nothing was published" in out["error"]


@pytest.mark.parametrize(
    "error", [RuntimeError("Failed client connect: connection refused"), ValueError("bad database URL")]
)
def test_stores_that_cannot_be_opened_are_exit_5_named(stores: dict[str, Any], error: Exception) -> None:
    stores["error"] = error
    code, out, err = _cli(RID, "--json")
    assert code == 5 and out["exit_code"] == 5 and str(error) in out["error"], (out, err)
    code, text, err = _cli(RID)
    assert code == 5 and "Traceback" not in text + err and "cannot open Temporal" in err


def test_a_malformed_id_is_exit_2(stores: dict[str, Any]) -> None:
    code, out, err = _cli("bad id with spaces", "--json")
    assert code == 2 and "Traceback" not in str(out) + err
