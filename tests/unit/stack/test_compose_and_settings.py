"""docker-compose.yml, .env.example and the settings model agree (no Docker engine runs here to try compose)."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from workers.settings import (
    PROJECT_ROOT,
    ApiSettings,
    KafkaSettings,
    PostgresSettings,
    Settings,
    TemporalSettings,
)

COMPOSE = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
ENV_EXAMPLE = PROJECT_ROOT / ".env.example"


def _known_variables() -> set[str]:
    """Every MENTORFLOW_* name the settings model reads: top-level fields and GROUP__FIELD for nested ones."""
    names = set()
    for field, info in Settings.model_fields.items():
        annotation: Any = info.annotation
        sub = getattr(annotation, "model_fields", None)
        if sub:
            names |= {f"MENTORFLOW_{field.upper()}__{name.upper()}" for name in sub}
        else:
            names.add(f"MENTORFLOW_{field.upper()}")
    return names


def _compose_env() -> dict[str, dict[str, str]]:
    out = {}
    for name, service in COMPOSE["services"].items():
        env = service.get("environment") or {}
        if isinstance(env, list):
            env = dict(item.split("=", 1) for item in env)
        out[name] = {k: str(v) for k, v in env.items()}
    return out


def test_every_mentorflow_variable_in_compose_is_a_setting() -> None:
    known = _known_variables()
    used = {k for env in _compose_env().values() for k in env if k.startswith("MENTORFLOW_")}
    assert used, "compose passes no MENTORFLOW_* variables to the app services"
    assert used <= known, f"compose uses variables the settings model does not know: {sorted(used - known)}"


def test_every_variable_in_env_example_is_a_setting() -> None:
    known = _known_variables()
    names = {
        line.split("=", 1)[0] for line in ENV_EXAMPLE.read_text().splitlines() if line and not line.startswith("#")
    }
    assert names <= known, f".env.example names unknown variables: {sorted(names - known)}"
    # The example documents every group, so a user sees each knob once.
    groups = {n.split("__")[0] for n in known if "__" in n}
    assert groups <= {n.split("__")[0] for n in names}


def test_app_services_use_the_compose_hosts_on_the_default_ports() -> None:
    # Compare with the code's defaults, not this shell's environment (CI may move ports by MENTORFLOW_* variables).
    temporal, kafka = TemporalSettings(), KafkaSettings()
    for service in ("worker", "projector", "api", "setup"):
        env = _compose_env()[service]
        assert env["MENTORFLOW_TEMPORAL__ADDRESS"] == f"temporal:{temporal.port}"
        assert env["MENTORFLOW_KAFKA__BOOTSTRAP_SERVERS"] == f"kafka:{kafka.port}"
        assert env["MENTORFLOW_TEMPORAL__TASK_QUEUE"] == temporal.task_queue
        assert env["MENTORFLOW_KAFKA__TOPIC_PREFIX"] == kafka.topic_prefix
        assert int(env["MENTORFLOW_KAFKA__PARTITIONS"]) == kafka.partitions


@pytest.mark.parametrize(
    ("service", "port"),
    [
        ("temporal", TemporalSettings().port),
        ("temporal-ui", TemporalSettings().ui_port),
        ("kafka", KafkaSettings().port),
        ("postgres", PostgresSettings().port),
        ("api", ApiSettings().port),
    ],
)
def test_published_ports_match_the_local_defaults(service: str, port: int) -> None:
    published = [str(p) for p in COMPOSE["services"][service].get("ports", [])]
    assert any(re.fullmatch(rf"127\.0\.0\.1:{port}:\d+", p) for p in published), published


def test_kafka_container_matches_the_local_broker_config() -> None:
    props = dict(
        line.split("=", 1)
        for line in (PROJECT_ROOT / "infra/kafka/server.properties").read_text().splitlines()
        if line and not line.startswith("#")
    )
    env = _compose_env()["kafka"]
    for key in (
        "auto.create.topics.enable",
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
        "log.retention.hours",
        "process.roles",
    ):
        assert env["KAFKA_" + key.upper().replace(".", "_")] == props[key], key
    pom = (PROJECT_ROOT / "infra/kafka/pom.xml").read_text()
    version = re.search(r"<kafka.version>([^<]+)</kafka.version>", pom)
    assert version and COMPOSE["services"]["kafka"]["image"] == f"apache/kafka:{version.group(1)}"


def test_postgres_container_credentials_match_settings() -> None:
    pg = PostgresSettings()
    env = _compose_env()["postgres"]
    assert (env["POSTGRES_USER"], env["POSTGRES_PASSWORD"], env["POSTGRES_DB"]) == (pg.user, pg.password, pg.database)
    assert _compose_env()["worker"]["MENTORFLOW_DATABASE__URL"] == pg.url().replace(pg.host, "postgres")


def test_nested_env_variables_reach_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MENTORFLOW_KAFKA__BOOTSTRAP_SERVERS", "broker:19092")
    monkeypatch.setenv("MENTORFLOW_TEMPORAL__ADDRESS", "tmp:17233")
    monkeypatch.setenv("MENTORFLOW_DATABASE__URL", "sqlite:////tmp/x.db")
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (s.kafka.port, s.temporal.port, s.database_url) == (19092, 17233, "sqlite:////tmp/x.db")
    assert s.kafka.events_topic == "mentorflow.relationship-events"
    assert s.kafka.dead_letter_topic == "mentorflow.relationship-events.dlt"
