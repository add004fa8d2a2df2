"""Verification of a relationship (or all of them) across the three stores, and the reading behind the other audit
commands (DESIGN §7).

``verify``: read the event_log rows, the Kafka messages and the Temporal workflow history (live, or the archived
copy past retention); recompute each store's chain (:func:`domain.verify_chain`, through the fast path of
:mod:`audit.chain`); compare the stores seq by seq
(:func:`audit.compare.compare_stores`); replay the workflow history with Temporal's ``Replayer`` and the current
workflow code. The report lists every difference; it is ``ok`` only when there is none of severity ``error``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import Engine, inspect
from temporalio.client import Client, WorkflowHistory

from audit.chain import verify_objects_fast
from audit.compare import STORES, Difference, StoredRecord, compare_sequences, short
from audit.scan import Grouped, scan_stores
from audit.sequence import StoreSequence, store_sequence
from audit.sources import (
    envelopes_of,
    event_log_records,
    event_log_records_by_relationship,
    kafka_records,
)
from domain import Envelope
from projections.kafka_access import KafkaAddress

__all__ = [
    "SETTLE_SECONDS",
    "Auditor",
    "StoreRead",
    "VerifyReport",
    "VerifySummary",
    "build_report",
    "checked_program",
    "lagging_only",
]

TemporalSource = Literal["auto", "live", "archive"]

SETTLE_SECONDS = 5.0
"""How long a report whose only errors are a store behind at its tail is read again (publishing, projecting)."""
SETTLE_POLL = 0.5
REPLAY_BATCH = 64
"""Relationships read and then replayed together by ``verify --all`` (one ``Replayer`` pass each)."""


def lagging_only(report: VerifyReport) -> bool:
    """Every error is a seq missing at the tail of a store (beyond the last seq it holds) or held only by stores
    ahead of it: what a store that is merely behind looks like (the outbox not yet published, the projector not
    yet caught up), and also what a truncated or forged tail looks like — reading again tells them apart."""
    errors = report.errors
    if not errors or not report.sequences:
        return False
    last = {name: max(seq.by_seq, default=0) for name, seq in report.sequences.items()}
    behind = min(last.values())
    return all(
        (d.kind in ("missing", "extra") and d.seq is not None and d.seq > behind)
        or (d.kind == "missing" and d.seq is None and d.store in last)  # holds nothing yet
        for d in errors
    )


_PROGRAM_FORBIDDEN = frozenset("'\"\\")


def checked_program(program: str) -> str:
    """A program id fit for a Temporal visibility query (it is quoted there). Raises ``ValueError`` naming the
    rule."""
    if not program or len(program) > 200 or any(c in _PROGRAM_FORBIDDEN or not c.isprintable() for c in program):
        raise ValueError("--program: 1 to 200 printable characters, no quotes or backslashes")
    return program


def _of_program(grouped: Mapping[str, list[StoredRecord]], program: str) -> dict[str, list[StoredRecord]]:
    """The keys whose messages include an envelope of ``program`` (a key's foreign messages stay with it)."""
    return {
        key: records
        for key, records in grouped.items()
        if any(r.data is not None and r.data.get("program_id") == program for r in records)
    }


@dataclass
class StoreRead:
    """What was read from one store: ``records`` None when the store could not be read (``error`` says why)."""

    records: list[StoredRecord] | None
    source: str
    error: str | None = None
    running: bool = False
    """Temporal only: the live workflow still runs, so envelopes may wait in its outbox (in no history event yet,
    on no topic yet)."""
    absent: bool = False
    """Temporal only: the read worked and found no history of the relationship (neither live nor archived)."""


@dataclass
class VerifyReport:
    relationship_id: str
    stores: dict[str, StoreRead]
    differences: list[Difference]
    replay: dict[str, Any] | None = None
    sequences: dict[str, StoreSequence] = field(default_factory=dict)
    """Each store's chain as rebuilt by seq and links (stores that could not be read are absent)."""
    _chains: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    @property
    def errors(self) -> list[Difference]:
        return [d for d in self.differences if d.severity == "error"]

    @property
    def warnings(self) -> list[Difference]:
        return [d for d in self.differences if d.severity != "error"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def chain(self, store: str) -> dict[str, Any]:
        """The store's chain, rebuilt by seq and links, re-verified from genesis (:func:`domain.verify_chain`)."""
        if store in self._chains:
            return self._chains[store]
        read = self.stores[store]
        if read.records is None:
            return {"ok": False, "problem": read.error}
        sequence = self.sequences.get(store) or store_sequence(store, read.records, self.relationship_id)
        chain = sequence.chain
        waiting: list[int] = []
        if read.running:  # a running workflow's history lacks what waits in its outbox: verify up to the first gap
            upto = next((i for i, r in enumerate(chain) if r.seq != i + 1), len(chain))
            waiting = sorted(set(range(1, max(sequence.by_seq, default=0) + 1)) - set(sequence.by_seq))
            chain = chain[:upto]
        rep = verify_objects_fast([r.data for r in chain if r.data is not None], vouched=all(r.vouched for r in chain))
        self._chains[store] = {
            "ok": rep.ok,
            "events": len(sequence.by_seq),
            "first_bad_seq": rep.first_bad_seq,
            "problem": rep.problem,
            "last_hash": rep.last_hash,
            "waiting_in_outbox": waiting,
        }
        return self._chains[store]

    def to_dict(self) -> dict[str, Any]:
        return {
            "relationship_id": self.relationship_id,
            "ok": self.ok,
            "stores": {
                name: {
                    "source": read.source,
                    "events": None if read.records is None else self.chain(name)["events"],
                    "entries": None if read.records is None else len(read.records),
                    "error": read.error,
                    "chain": self.chain(name),
                }
                for name, read in self.stores.items()
            },
            "replay": self.replay,
            "differences": [d.to_dict() for d in self.differences],
        }

    def lines(self) -> list[str]:
        """The human report."""
        out = [f"relationship {self.relationship_id}: {'OK' if self.ok else 'FAILED'}"]
        for name, read in self.stores.items():
            chain = self.chain(name)
            if read.records is None:
                out.append(f"  {name:<9} {read.source}: not read ({read.error})")
            else:
                others = len(read.records) - chain["events"]
                more = f" (+{others} other entr{'y' if others == 1 else 'ies'})" if others else ""
                state = f"chain intact, last hash {short(chain['last_hash'])}" if chain["ok"] else None
                if chain["ok"] and chain.get("waiting_in_outbox"):
                    state = (
                        f"chain intact up to the first seq still in the running workflow's outbox (not in its "
                        f"history yet: {', '.join(map(str, chain['waiting_in_outbox'][:10]))})"
                    )
                out.append(
                    f"  {name:<9} {read.source}: {chain['events']} events{more}, "
                    + (state or f"chain broken: {chain['problem']}")
                )
        if self.replay is not None:
            r = self.replay
            state = "ok" if r["ok"] else ("skipped: " + r["skipped"] if r.get("skipped") else "FAILED")
            out.append(f"  replay    {r['runs']} workflow run(s) replayed with the current code: {state}")
        for d in self.differences:
            out.append(f"  {'!' if d.severity == 'error' else '~'} {d.message}")
        return out


def _unpublished(diffs: list[Difference], sequences: Mapping[str, StoreSequence]) -> list[Difference]:
    """A running workflow's envelopes beyond the other stores' last seq are not published yet (its outbox): a
    warning, not a missing or extra event. A live history cannot be forged (the archive is read only for closed
    workflows)."""
    made = sequences["temporal"].by_seq if "temporal" in sequences else {}
    published = max((max(s.by_seq, default=0) for name, s in sequences.items() if name != "temporal"), default=0)
    out = []
    for d in diffs:
        if d.severity == "error" and d.kind in ("missing", "extra") and d.seq in made and d.seq > published:
            d = Difference(
                "unpublished",
                d.store,
                d.seq,
                f"seq {d.seq} · {d.store}: not published yet: the running workflow made it (temporal holds it), "
                "its outbox has not delivered it",
                d.where,
                expected=d.expected,
                found=d.found,
                severity="warning",
            )
        out.append(d)
    return out


def build_report(
    relationship_id: str, stores: Mapping[str, StoreRead], replay: Mapping[str, Any] | None = None
) -> VerifyReport:
    """Pure: the report from what was read."""
    diffs: list[Difference] = []
    sequences: dict[str, StoreSequence] = {}
    for name, read in stores.items():
        if read.records is None:
            diffs.append(Difference("unavailable", name, None, f"{name}: could not be read: {read.error}"))
        else:
            sequences[name] = store_sequence(name, read.records, relationship_id)
    most = max((len(s.by_seq) for s in sequences.values()), default=0)
    if sequences and most == 0:
        diffs.append(
            Difference("missing", "*", None, f"relationship {relationship_id} is in none of {', '.join(sequences)}")
        )
    compared = {}
    for name, sequence in sequences.items():
        if not sequence.by_seq:
            if most:
                diffs.append(
                    Difference("missing", name, None, f"{name}: holds no event of relationship {relationship_id}")
                )
            diffs.extend(sequence.differences)  # what it holds under the relationship's key that is not an envelope
        else:
            compared[name] = sequence
    found = compare_sequences(compared)
    temporal = stores.get("temporal")
    diffs.extend(_unpublished(found, sequences) if temporal is not None and temporal.running else found)
    if replay is not None and not replay.get("ok"):
        if replay.get("skipped"):
            diffs.append(Difference("replay", "temporal", None, f"temporal: replay skipped: {replay['skipped']}"))
        for run, err in (replay.get("failures") or {}).items():
            diffs.append(
                Difference(
                    "replay",
                    "temporal",
                    None,
                    f"temporal (run {run}): the current workflow code does not reproduce the history: {err}",
                    where=f"run {run}",
                    found=err,
                )
            )
    return VerifyReport(
        relationship_id, dict(stores), diffs, dict(replay) if replay is not None else None, sequences=sequences
    )


@dataclass
class VerifySummary:
    reports: list[VerifyReport]
    seconds: float
    """Wall time of the whole ``verify --all``: the scans and every relationship."""
    scan_seconds: float = 0.0
    failed: list[str] = field(default_factory=list)
    program: str | None = None

    @property
    def warnings(self) -> int:
        return sum(len(r.warnings) for r in self.reports)

    @property
    def rate(self) -> float:
        return len(self.reports) / self.seconds if self.seconds > 0 else float("inf")

    @property
    def ok(self) -> bool:
        return not self.failed


class Auditor:
    """Reads the stores. Any of them may be left out: ``engine=None`` (no event_log), ``topic=None`` (no Kafka),
    ``temporal=None`` (no Temporal history, no replay)."""

    def __init__(
        self,
        *,
        engine: Engine | None = None,
        bootstrap_servers: KafkaAddress | None = None,
        topic: str | None = None,
        temporal: Client | None = None,
        temporal_source: TemporalSource = "auto",
        replay: bool = True,
        archive_on_read: bool = True,
        settle: float = SETTLE_SECONDS,
        task_queue: str | None = None,
    ) -> None:
        self.engine = engine
        self.settle = settle
        # The deployment's task queue: "every relationship" means every one this deployment runs, not every
        # relationship workflow in the namespace (other deployments and test runs share a namespace).
        self.task_queue = task_queue
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic if bootstrap_servers else None
        self.temporal = temporal
        self.temporal_source = temporal_source
        self.replay = replay
        self.archive_on_read = archive_on_read and engine is not None
        self._archive_lock = asyncio.Lock()
        self._archive_migrated = False

    # -- single stores ---------------------------------------------------------------------------------------
    def _event_log_ready(self) -> str | None:
        assert self.engine is not None
        with self.engine.connect() as conn:
            if not inspect(conn).has_table("event_log"):
                return "the event_log table does not exist (run the projector's migrations)"
        return None

    async def read_event_log(self, relationship_id: str) -> StoreRead:
        assert self.engine is not None
        source = f"event_log ({self.engine.url.render_as_string(hide_password=True)})"
        try:
            if (problem := await asyncio.to_thread(self._event_log_ready)) is not None:
                return StoreRead(None, source, problem)
            return StoreRead(await asyncio.to_thread(event_log_records, self.engine, relationship_id), source)
        except Exception as exc:
            return StoreRead(None, source, f"{type(exc).__name__}: {exc}")

    async def read_kafka(self, relationship_id: str) -> StoreRead:
        assert self.bootstrap_servers and self.topic
        source = f"topic {self.topic}"
        try:
            return StoreRead(await kafka_records(self.bootstrap_servers, self.topic, relationship_id), source)
        except Exception as exc:
            return StoreRead(None, source, f"{type(exc).__name__}: {exc}")

    async def read_temporal(self, relationship_id: str) -> tuple[StoreRead, list[WorkflowHistory], list[str]]:
        """(what was read, the histories to replay, problems with the archive)."""
        from audit.archive import archive_histories, is_closed, load_archived
        from audit.temporal import decode_histories, envelope_records, fetch_histories, workflow_id_of

        assert self.temporal is not None
        wid = workflow_id_of(relationship_id)
        histories: list[WorkflowHistory] = []
        problems: list[str] = []
        source = f"workflow {wid}"
        try:
            if self.temporal_source in ("auto", "live"):
                histories = await fetch_histories(self.temporal, relationship_id)
            if histories and self.archive_on_read and is_closed(histories):
                assert self.engine is not None
                async with self._archive_lock:  # Alembic's context and SQLite's writer are one at a time
                    if not self._archive_migrated:
                        from audit.archive import migrate

                        await asyncio.to_thread(migrate, self.engine)
                        self._archive_migrated = True
                    result = await asyncio.to_thread(archive_histories, self.engine, relationship_id, histories)
                problems += [
                    f"temporal: the archived history of {key} differs from the live one" for key in result.conflicts
                ]
            if not histories and self.temporal_source in ("auto", "archive") and self.engine is not None:
                histories = await asyncio.to_thread(load_archived, self.engine, relationship_id)
                source = f"archived history of {wid}"
        except Exception as exc:
            return StoreRead(None, source, f"{type(exc).__name__}: {exc}"), [], problems
        if not histories:
            where = {"auto": "in Temporal nor in the archive", "live": "in Temporal", "archive": "in the archive"}
            return StoreRead(None, source, f"no history {where[self.temporal_source]}", absent=True), [], problems
        runs = f" ({len(histories)} runs)" if len(histories) > 1 else ""
        running = source.startswith("workflow ") and not is_closed(histories)
        try:
            readable = await decode_histories(histories, self._codec)
        except Exception as exc:  # another codec key: say so instead of reading the history as empty
            return StoreRead(None, source, f"{type(exc).__name__}: {exc}"), [], problems
        return StoreRead(envelope_records(readable), source + runs, running=running), histories, problems

    @property
    def _codec(self) -> Any:
        """The payload codec of the Temporal client (None: payloads are plain)."""
        return self.temporal.data_converter.payload_codec if self.temporal is not None else None

    # -- verification -----------------------------------------------------------------------------------------
    async def _finish(
        self, relationship_id: str, reads: dict[str, StoreRead], histories: list[WorkflowHistory], problems: list[str]
    ) -> VerifyReport:
        from audit.temporal import replay_many

        replay = None
        if self.temporal is not None and self.replay and histories:
            replay = (await replay_many({relationship_id: histories}, self._codec))[relationship_id].to_dict()
        return self._report(relationship_id, reads, replay, problems)

    @staticmethod
    def _report(
        relationship_id: str, reads: dict[str, StoreRead], replay: dict[str, Any] | None, problems: list[str]
    ) -> VerifyReport:
        ordered = {name: reads[name] for name in STORES if name in reads}
        report = build_report(relationship_id, ordered, replay)
        report.differences.extend(Difference("differs", "temporal", None, p) for p in problems)
        return report

    async def verify(self, relationship_id: str) -> VerifyReport:
        """Read the stores upstream first (Temporal, then Kafka, then the event log) and compare them. A report
        whose only errors are at the tail of a store behind another (:func:`lagging_only`) is read again, every
        half second for up to ``settle`` seconds: publishing and projecting catch up, a truncation or a forged
        append does not."""
        report = await self._verify_once(relationship_id)
        deadline = time.monotonic() + self.settle
        while not report.ok and lagging_only(report) and time.monotonic() < deadline:
            await asyncio.sleep(SETTLE_POLL)
            report = await self._verify_once(relationship_id)
        return report

    async def _verify_once(self, relationship_id: str) -> VerifyReport:
        reads: dict[str, StoreRead] = {}
        histories: list[WorkflowHistory] = []
        problems: list[str] = []
        if self.temporal is not None:
            reads["temporal"], histories, problems = await self.read_temporal(relationship_id)
        if self.topic:
            reads["kafka"] = await self.read_kafka(relationship_id)
        if self.engine is not None:
            reads["event_log"] = await self.read_event_log(relationship_id)
        return await self._finish(relationship_id, reads, histories, problems)

    async def relationship_ids_in_temporal(self, program: str | None = None) -> set[str]:
        """Relationship workflows Temporal lists (of ``program``: its ``MentorflowProgram`` search attribute)."""
        from audit.temporal import WORKFLOW_TYPE, workflow_id_of

        assert self.temporal is not None
        prefix = workflow_id_of("")
        query = f"WorkflowType = '{WORKFLOW_TYPE}'"
        if program is not None:
            query += f" AND MentorflowProgram = '{checked_program(program)}'"
        if self.task_queue:
            query += f" AND TaskQueue = '{checked_program(self.task_queue)}'"
        ids = set()
        async for execution in self.temporal.list_workflows(query):
            if execution.id.startswith(prefix):
                ids.add(execution.id[len(prefix) :])
        return ids

    async def verify_all(
        self,
        *,
        program: str | None = None,
        progress: Callable[[int, int], None] | None = None,
        concurrency: int = 16,
        processes: int | None = 1,
    ) -> VerifySummary:
        """Every relationship any store knows (of ``program`` when given: the envelopes' ``program_id``, the
        workflows' ``MentorflowProgram``). The event log is read in one query and the topic in one scan (grouped
        by key); Temporal is read per relationship, ``concurrency`` at a time. ``progress(done, total)``.
        ``processes``: 2 scans the topic in a second process while this one reads the event log
        (:mod:`audit.scan`), 1 (the default: a server spawns no process) reads both here; None chooses by the
        topic's size and the load (:func:`audit.scan.scan_stores`; the CLI's default)."""
        started = time.perf_counter()
        failures: dict[str, StoreRead] = {}
        grouped: dict[str, dict[str, list[StoredRecord]]] = {}
        sources = {
            "kafka": f"topic {self.topic}",
            "event_log": ""
            if self.engine is None
            else f"event_log ({self.engine.url.render_as_string(hide_password=True)})",
        }
        for store, found in (await self._scan(program, processes)).items():
            if isinstance(found, str):
                failures[store] = StoreRead(None, sources[store], found)
            else:
                grouped[store] = found
        ids = {rid for by_rid in grouped.values() for rid in by_rid}
        if self.temporal is not None:
            ids |= await self.relationship_ids_in_temporal(program)
        scan_seconds = time.perf_counter() - started
        ordered_ids = sorted(ids)
        if progress is not None:
            progress(0, len(ordered_ids))
        semaphore = asyncio.Semaphore(concurrency)

        async def read(rid: str) -> tuple[dict[str, StoreRead], list[WorkflowHistory], list[str]]:
            async with semaphore:
                reads: dict[str, StoreRead] = {}
                histories: list[WorkflowHistory] = []
                problems: list[str] = []
                if self.temporal is not None:
                    reads["temporal"], histories, problems = await self.read_temporal(rid)
                for store in ("kafka", "event_log"):
                    if store in failures:
                        reads[store] = failures[store]
                    elif store in grouped:
                        reads[store] = StoreRead(grouped[store].get(rid, []), sources[store])
                return reads, histories, problems

        reports: list[VerifyReport] = []
        for first in range(0, len(ordered_ids), REPLAY_BATCH):  # one Replayer pass per batch of relationships
            batch = ordered_ids[first : first + REPLAY_BATCH]
            read_batch = await asyncio.gather(*(read(rid) for rid in batch))
            runs = {rid: histories for rid, (_, histories, _) in zip(batch, read_batch, strict=True)}
            replays = await self._replays(runs)
            for rid, (reads, _, problems) in zip(batch, read_batch, strict=True):
                reports.append(self._report(rid, reads, replays.get(rid), problems))
            if progress is not None:
                progress(len(reports), len(ordered_ids))
        # read after Temporal, a store may only be behind: those are read again, each store after the one upstream
        behind = [i for i, r in enumerate(reports) if not r.ok and lagging_only(r)]
        again = await asyncio.gather(*(self._again(reports[i].relationship_id, semaphore) for i in behind))
        for i, report in zip(behind, again, strict=True):
            reports[i] = report
        seconds = time.perf_counter() - started
        return VerifySummary(
            reports, seconds, scan_seconds, [r.relationship_id for r in reports if not r.ok], program=program
        )

    async def _scan(self, program: str | None, processes: int | None) -> dict[str, Grouped | str]:
        """The topic grouped by key and the event log grouped by relationship (of ``program``), or why a store
        could not be read (:func:`audit.scan.scan_stores`)."""
        reader = None if self.engine is None else (lambda: self._read_event_log_all(program))
        out = await scan_stores(self.bootstrap_servers, self.topic, reader, processes)
        if program is not None and not isinstance(kafka := out.get("kafka", ""), str):
            out["kafka"] = _of_program(kafka, program)
        return out

    async def _read_event_log_all(self, program: str | None) -> Grouped | str:
        """The event log grouped by relationship (of ``program``), or why it cannot be read."""
        assert self.engine is not None
        error = await asyncio.to_thread(self._event_log_ready)
        if error is not None:
            return error
        return await asyncio.to_thread(event_log_records_by_relationship, self.engine, program)

    async def _replays(self, histories: dict[str, list[WorkflowHistory]]) -> dict[str, dict[str, Any]]:
        from audit.temporal import replay_many

        if self.temporal is None or not self.replay:
            return {}
        replayed = await replay_many({rid: runs for rid, runs in histories.items() if runs}, self._codec)
        return {rid: outcome.to_dict() for rid, outcome in replayed.items()}

    async def _again(self, relationship_id: str, semaphore: asyncio.Semaphore) -> VerifyReport:
        async with semaphore:
            return await self.verify(relationship_id)

    # -- reading for history / replay / export -----------------------------------------------------------------
    async def sequence(self, relationship_id: str, source: str = "event_log") -> StoreSequence:
        """The relationship's sequence in one store (``event_log``, ``kafka`` or ``temporal``): its records rebuilt
        by seq and links (:func:`audit.sequence.store_sequence`) and what is wrong inside the store. Raises
        ``LookupError`` when the store cannot be read or holds nothing of it, ``ValueError`` for an unknown store or
        one not configured."""
        read: StoreRead
        if source == "event_log":
            if self.engine is None:
                raise ValueError("no database configured")
            read = await self.read_event_log(relationship_id)
        elif source == "kafka":
            if not self.topic:
                raise ValueError("no Kafka topic configured")
            read = await self.read_kafka(relationship_id)
        elif source == "temporal":
            if self.temporal is None:
                raise ValueError("no Temporal client configured")
            read, _, _ = await self.read_temporal(relationship_id)
        else:
            raise ValueError(f"unknown source {source!r}: event_log, kafka or temporal")
        if read.records is None:
            raise LookupError(f"{source} could not be read: {read.error}")
        if not read.records:
            raise LookupError(f"relationship {relationship_id} has no event in {source} ({read.source})")
        sequence = store_sequence(source, read.records, relationship_id)
        if not sequence.by_seq:
            raise LookupError(
                f"relationship {relationship_id} has no valid envelope in {source} ({read.source}), only "
                f"{len(read.records)} other entries: run `mentorflow audit verify {relationship_id}`"
            )
        return sequence

    async def envelopes(self, relationship_id: str, source: str = "event_log") -> list[Envelope]:
        """The relationship's envelopes from one store (``event_log``, ``kafka`` or ``temporal``), in seq order
        (:meth:`sequence`'s chain: ``ValueError`` names the first record that is not a valid envelope)."""
        return envelopes_of((await self.sequence(relationship_id, source)).chain, relationship_id)
