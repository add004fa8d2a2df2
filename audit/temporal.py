"""The Temporal side of an audit: a relationship's workflow histories (every run of the continue-as-new chain), the
envelopes they carry, and a replay of them with the real workflow code.

Where the envelopes are in a history: the workflow hands each batch to the publishing activity, so they are in the
``ActivityTaskScheduled`` inputs; they may also be in update results, a continue-as-new input (the outbox carried
over) or the workflow's result. Every JSON payload of those events is decoded and searched for envelope-shaped
objects (the keys of DESIGN §3), so the extraction does not depend on the activity's exact signature. The same
envelope met several times (an activity input and then the next run's carried outbox) counts once: the copy met
first; two *different* copies of one seq are both kept, and the comparison reports them.

The order in which envelopes appear in a history is *not* the chain's order: a timer event still in the outbox when a
later command's update result is written appears after it. :mod:`audit.sequence` rebuilds the chain by seq and links.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHistory
from temporalio.converter import PayloadCodec
from temporalio.service import RPCError, RPCStatusCode

from audit.records import StoredRecord
from domain.programs.events import CHAIN_PREFIX, is_program_chain
from workflows.program_models import program_workflow_id

__all__ = [
    "ENVELOPE_KEYS",
    "WORKFLOW_TYPE",
    "ReplayOutcome",
    "decode_histories",
    "envelope_records",
    "fetch_histories",
    "replay_histories",
    "replay_many",
    "workflow_id_of",
]

WORKFLOW_TYPE = "RelationshipWorkflow"
ENVELOPE_KEYS = frozenset({"event_id", "relationship_id", "seq", "type", "payload", "prev_hash", "hash"})


def workflow_id_of(relationship_id: str) -> str:
    """The workflow that writes a chain: a relationship's, or a program's for a ``program:<P>`` chain."""
    if is_program_chain(relationship_id):
        return program_workflow_id(relationship_id.removeprefix(CHAIN_PREFIX))
    return f"relationship-{relationship_id}"


async def fetch_histories(client: Client, relationship_id: str) -> list[WorkflowHistory]:
    """Every run of the relationship's workflow, first run first (following ``continued_execution_run_id`` back
    from the latest run: no visibility query, so no visibility lag). ``[]`` when Temporal no longer (or never) had
    the workflow."""
    workflow_id = workflow_id_of(relationship_id)
    histories: list[WorkflowHistory] = []
    run_id: str | None = None
    seen: set[str] = set()
    while True:
        try:
            history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                break
            raise
        if not history.events or history.run_id in seen:
            break
        seen.add(history.run_id)
        histories.append(history)
        started = history.events[0].workflow_execution_started_event_attributes
        run_id = started.continued_execution_run_id or None
        if run_id is None:
            break
    histories.reverse()
    return histories


def _payload_value(payload: Payload) -> Any:
    if payload.metadata.get("encoding") != b"json/plain":
        return None
    try:
        return json.loads(payload.data)
    except (ValueError, RecursionError):
        return None


def _find_envelopes(value: Any) -> Iterator[dict[str, Any]]:
    """Envelope-shaped objects inside a decoded payload, depth first in document order (iterative: a deeply nested
    payload cannot exhaust the recursion limit)."""
    stack: list[Any] = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.keys() >= ENVELOPE_KEYS:
                yield node
            else:
                stack.extend(reversed(list(node.values())))
        elif isinstance(node, list):
            stack.extend(reversed(node))
        elif isinstance(node, str) and node.startswith("{") and '"prev_hash"' in node:
            try:
                stack.append(json.loads(node))
            except (ValueError, RecursionError):
                continue


def _event_payloads(event: HistoryEvent) -> Iterator[tuple[str, Sequence[Payload]]]:
    t = event.event_type
    if t == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
        a = event.activity_task_scheduled_event_attributes
        yield f"activity {a.activity_type.name} input", a.input.payloads
    elif t == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
        yield "activity result", event.activity_task_completed_event_attributes.result.payloads
    elif t == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED:
        u = event.workflow_execution_update_completed_event_attributes
        yield f"update {u.meta.update_id} result", u.outcome.success.payloads
    elif t == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
        yield "workflow input", event.workflow_execution_started_event_attributes.input.payloads
    elif t == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
        yield "continue-as-new input", event.workflow_execution_continued_as_new_event_attributes.input.payloads
    elif t == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
        yield "workflow result", event.workflow_execution_completed_event_attributes.result.payloads


def envelope_records(histories: Iterable[WorkflowHistory], store: str = "temporal") -> list[StoredRecord]:
    """The envelopes the histories carry, in the order first met (``where`` = ``run <8 hex> event <id> (<what>)``),
    which is not seq order. Identical repeats are dropped; different copies of one seq are all kept."""
    records: list[StoredRecord] = []
    seen: set[bytes] = set()
    for history in histories:
        run = history.run_id[:8]
        for event in history.events:
            for what, payloads in _event_payloads(event):
                for payload in payloads:
                    for data in _find_envelopes(_payload_value(payload)):
                        record = StoredRecord.from_data(store, f"run {run} event {event.event_id} ({what})", data)
                        if record.canonical in seen:
                            continue
                        seen.add(record.canonical)
                        records.append(record)
    return records


@dataclass(frozen=True)
class ReplayOutcome:
    """``ok`` when every run replayed without a non-determinism error; ``failures``: run id → the error."""

    ok: bool
    runs: int
    failures: dict[str, str]
    skipped: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "runs": self.runs, "failures": self.failures, "skipped": self.skipped}


def _replayer(codec: PayloadCodec | None = None) -> Any:
    from temporalio.worker import Replayer

    from workflows.codec import with_codec
    from workflows.connection import DATA_CONVERTER, core_runtime
    from workflows.program import ProgramWorkflow
    from workflows.relationship import RelationshipWorkflow

    converter = with_codec(DATA_CONVERTER, codec)
    # core_runtime: the SDK core's lines (a nondeterminism warning) go to the log, never into `verify --json`'s stdout
    return Replayer(workflows=[RelationshipWorkflow, ProgramWorkflow], data_converter=converter, runtime=core_runtime())


async def decode_histories(histories: Sequence[WorkflowHistory], codec: PayloadCodec | None) -> list[WorkflowHistory]:
    """Copies of ``histories`` whose envelope-carrying payloads are decoded by the payload codec (the histories of a
    deployment with ``privacy.codec_key``), for :func:`envelope_records`; the originals stay encrypted (the archive
    keeps them so; the ``Replayer`` decodes by itself). Without a codec: the histories as they are."""
    if codec is None:
        return list(histories)
    decoded = []
    for history in histories:
        events = []
        for event in history.events:
            copy = HistoryEvent()
            copy.CopyFrom(event)
            for _, payloads in _event_payloads(copy):
                plain = await codec.decode(list(payloads))
                del payloads[:]  # type: ignore[attr-defined]
                payloads.extend(plain)  # type: ignore[attr-defined]
            events.append(copy)
        decoded.append(WorkflowHistory(history.workflow_id, events))
    return decoded


async def replay_histories(histories: Sequence[WorkflowHistory], codec: PayloadCodec | None = None) -> ReplayOutcome:
    """Replay the histories with Temporal's ``Replayer`` and the current ``RelationshipWorkflow``: proof that the
    code still reproduces them (every command the code issues matches the recorded events)."""
    return (await replay_many({"": histories}, codec))[""]


async def replay_many(
    histories: Mapping[str, Sequence[WorkflowHistory]], codec: PayloadCodec | None = None
) -> dict[str, ReplayOutcome]:
    """:func:`replay_histories` for many relationships (key → its runs) in one ``Replayer`` pass: the sandbox
    imports the workflow code once, not once per relationship."""
    out = {
        key: ReplayOutcome(ok=False, runs=0, failures={}, skipped="no workflow history to replay")
        for key, runs in histories.items()
        if not runs
    }
    owner = {h.run_id: key for key, runs in histories.items() for h in runs}
    if not owner:
        return out
    try:
        replayer = _replayer(codec)
    except ImportError as exc:
        skipped = f"the workflow code cannot be imported: {exc}"
        return {key: ReplayOutcome(ok=False, runs=0, failures={}, skipped=skipped) for key in histories}

    async def items() -> Any:
        for runs in histories.values():
            for h in runs:
                yield h

    results = await replayer.replay_workflows(items(), raise_on_replay_failure=False)
    failures: dict[str, dict[str, str]] = {key: {} for key in histories}
    for run, err in results.replay_failures.items():
        failures[owner[run]][run] = f"{type(err).__name__}: {err}"
    for key, runs in histories.items():
        if runs:
            out[key] = ReplayOutcome(ok=not failures[key], runs=len(runs), failures=failures[key])
    return out
