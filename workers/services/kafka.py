"""A real Apache Kafka broker in KRaft mode: jars resolved by Maven, run with the machine's JDK 17."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import shutil
import subprocess
import uuid
from pathlib import Path

from projections.kafka_access import KafkaAddress, kafka_options
from workers.services.process import ServiceError, log_file, port_open, read_pid, spawn, wait_until
from workers.settings import PROJECT_ROOT, Settings

NAME = "kafka"
INFRA = PROJECT_ROOT / "infra" / "kafka"
POM = INFRA / "pom.xml"


def libs_dir(settings: Settings) -> Path:
    return settings.run_dir / "kafka" / "libs"


def ensure_jars(settings: Settings) -> str:
    """Resolve the broker's jars with Maven once; a stamp holding the pom's digest makes the next run a no-op."""
    libs = libs_dir(settings)
    stamp = libs / ".resolved"
    digest = hashlib.sha256(POM.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text().strip() == digest:
        return "cached"
    mvn = shutil.which("mvn")
    if not mvn:
        raise ServiceError("Maven (`mvn`) is needed to resolve the Kafka broker's jars and is not on PATH")
    if libs.exists():
        shutil.rmtree(libs)
    libs.mkdir(parents=True)
    result = subprocess.run(
        [
            mvn,
            "-q",
            "-B",
            "-f",
            str(POM),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={libs}",
            "-DincludeScope=runtime",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ServiceError(f"Maven could not resolve the Kafka jars:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    stamp.write_text(digest + "\n")
    return f"resolved {sum(1 for _ in libs.glob('*.jar'))} jars"


def render_config(settings: Settings) -> Path:
    text = (INFRA / "server.properties").read_text()
    for key, value in {
        "${RUN_DIR}": str(settings.run_dir),
        "${KAFKA_PORT}": str(settings.kafka.port),
        "${CONTROLLER_PORT}": str(settings.kafka.controller_port),
    }.items():
        text = text.replace(key, value)
    text = text.replace("num.partitions=6", f"num.partitions={settings.kafka.partitions}")
    path = settings.run_dir / "kafka" / "server.properties"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _java(settings: Settings, main: str, *args: str) -> list[str]:
    java = shutil.which("java")
    if not java:
        raise ServiceError("a JDK 17 (`java`) is needed to run the Kafka broker and is not on PATH")
    return [
        java,
        "-Xms256m",
        "-Xmx1g",
        "-XX:+UseG1GC",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={INFRA / 'log4j2.properties'}",
        "-cp",
        f"{libs_dir(settings)}/*",
        main,
        *args,
    ]


def format_storage(settings: Settings, config: Path) -> None:
    """``kafka.tools.StorageTool format`` once per data dir (KRaft needs a formatted log dir with a cluster id)."""
    data = settings.run_dir / "kafka" / "data"
    if (data / "meta.properties").exists():
        return
    # A stable cluster id per run dir (base64url of 16 bytes, as Kafka's random-uuid prints).
    raw = uuid.uuid5(uuid.NAMESPACE_URL, str(settings.run_dir)).bytes
    cluster_id = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    result = subprocess.run(
        _java(settings, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(config), "--ignore-formatted"),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ServiceError(f"formatting the Kafka log dir failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")


async def _healthy(settings: Settings) -> bool:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(**kafka_options(settings.kafka.access), request_timeout_ms=3000)
    try:
        await asyncio.wait_for(admin.start(), timeout=5)
        await asyncio.wait_for(admin.list_topics(), timeout=5)
        return True
    except Exception:
        return False
    finally:
        with contextlib.suppress(Exception):
            await admin.close()


def healthy(settings: Settings) -> bool:
    host = settings.kafka.bootstrap_servers.split(",")[0].rsplit(":", 1)[0]
    if not port_open(host, settings.kafka.port):
        return False
    return asyncio.run(_healthy(settings))


async def ensure_topics(
    bootstrap_servers: KafkaAddress, topics: dict[str, int], *, retention_ms: int = -1, ready_within: float = 60.0
) -> list[str]:
    """Create the topics that are missing (never auto-created, DESIGN §5); returns the ones created.

    Returns only once every partition of every topic has a leader, so a producer or consumer started right
    after never meets UNKNOWN_TOPIC_OR_PARTITION or LEADER_NOT_AVAILABLE. Transient admin errors (a busy broker
    on a loaded 2-core machine) are retried until ``ready_within`` seconds.
    """
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import KafkaError, TopicAlreadyExistsError

    loop = asyncio.get_running_loop()
    deadline = loop.time() + ready_within
    created: list[str] = []
    # A topic that already exists keeps the partitions it was made with (Kafka never shrinks them, and growing
    # them would move keys): only a topic created here must show the partitions asked for.
    required: dict[str, int] | None = None
    while True:
        admin = AIOKafkaAdminClient(**kafka_options(bootstrap_servers), request_timeout_ms=10000)
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            if required is None:
                required = {name: 1 if name in existing else count for name, count in topics.items()}
            wanted = [
                NewTopic(
                    name=name,
                    num_partitions=partitions,
                    replication_factor=1,
                    topic_configs={"retention.ms": str(retention_ms), "cleanup.policy": "delete"},
                )
                for name, partitions in topics.items()
                if name not in existing
            ]
            if wanted:
                with contextlib.suppress(TopicAlreadyExistsError):
                    await admin.create_topics(wanted)
                created += [t.name for t in wanted]
            described = await admin.describe_topics(list(topics))
            ready = {
                d["topic"]
                for d in described
                if d["error_code"] == 0
                and len(d["partitions"]) >= required[d["topic"]]
                and all(p["leader"] >= 0 for p in d["partitions"])
            }
            if ready == set(topics):
                return created
            problem = f"partitions without a leader yet in {sorted(set(topics) - ready)}"
        except (TimeoutError, KafkaError, OSError) as exc:
            problem = f"{type(exc).__name__}: {exc}"
        finally:
            with contextlib.suppress(Exception):
                await admin.close()
        if loop.time() > deadline:
            raise ServiceError(f"Kafka topics {sorted(topics)} not ready within {ready_within:.0f}s: {problem}")
        await asyncio.sleep(0.2)


def project_topics(settings: Settings) -> dict[str, int]:
    return {settings.kafka.events_topic: settings.kafka.partitions, settings.kafka.dead_letter_topic: 1}


def start(settings: Settings) -> str:
    run_dir = settings.run_dir
    ours = read_pid(run_dir, NAME) is not None
    if healthy(settings):
        created = asyncio.run(ensure_topics(settings.kafka.access, project_topics(settings)))
        extra = f", created topics {created}" if created else ""
        who = "" if ours else " (not started by us)"
        return f"already running at {settings.kafka.bootstrap_servers}{who}{extra}"
    jars = ensure_jars(settings)
    config = render_config(settings)
    format_storage(settings, config)
    pid = spawn(run_dir, NAME, _java(settings, "kafka.Kafka", str(config)))
    wait_until(lambda: healthy(settings), what="Kafka broker", timeout=90, pid=pid, log=log_file(run_dir, NAME))
    created = asyncio.run(ensure_topics(settings.kafka.access, project_topics(settings)))
    return f"started at {settings.kafka.bootstrap_servers} (pid {pid}, jars {jars}, created topics {created})"
