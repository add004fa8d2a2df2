"""TLS and authentication for Temporal and Kafka: the settings (``MENTORFLOW_TEMPORAL__TLS*``, ``…__API_KEY``,
``MENTORFLOW_KAFKA__SECURITY_PROTOCOL``, ``…__SASL_*``, ``…__SSL_*``) reach the real client constructors at every
place that connects, bad combinations are refused at start-up, and no secret is ever printed.

The clients are the real ones: each constructor runs with the arguments the project gives it; a spy records those
arguments and then stops the call before it reaches the network."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiokafka
import aiokafka.admin
import pytest
from pydantic import ValidationError
from temporalio.service import ServiceClient, TLSConfig

from workers.settings import Settings

OPENSSL_REQ = ("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj")
PASSWORD = "kafka-secret-Zq8w"
API_KEY = "temporal-key-Xy7v"


class Reached(Exception):
    """Raised by the spies once the real constructor has run: nothing goes on to the network."""


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A self-signed CA and a client certificate and key, in PEM."""
    folder = tmp_path_factory.mktemp("pki")
    ca, cert, key = folder / "ca.pem", folder / "client.pem", folder / "client.key"
    for name, key_out, cert_out in (("test-ca", folder / "ca.key", ca), ("mentorflow", key, cert)):
        subprocess.run(
            [*OPENSSL_REQ, f"/CN={name}", "-keyout", str(key_out), "-out", str(cert_out)],
            check=True,
            capture_output=True,
        )
    return {"ca": ca, "cert": cert, "key": key}


@pytest.fixture
def secured(pki: dict[str, Path]) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        temporal={
            "address": "temporal.example:7233",
            "namespace": "prod",
            "tls_ca_file": pki["ca"],
            "tls_cert_file": pki["cert"],
            "tls_key_file": pki["key"],
            "tls_server_name": "temporal.internal",
            "api_key": API_KEY,
        },
        kafka={
            "bootstrap_servers": "127.0.0.1:1",
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_username": "mentorflow",
            "sasl_password": PASSWORD,
            "ssl_ca_file": pki["ca"],
        },
    )


@pytest.fixture
def kafka_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Every aiokafka client constructed: its class and the keyword arguments its real constructor ran with."""
    calls: list[tuple[str, dict[str, Any]]] = []
    for cls in (aiokafka.AIOKafkaProducer, aiokafka.AIOKafkaConsumer, aiokafka.admin.AIOKafkaAdminClient):
        real = cls.__init__

        def spy(self: Any, *args: Any, _real: Callable[..., None] = real, _name: str = cls.__name__, **kw: Any) -> None:
            _real(self, *args, **kw)
            calls.append((_name, kw))
            self._closed = True  # never started: nothing to close (silences aiokafka's "Unclosed" warning)
            raise Reached(_name)

        monkeypatch.setattr(cls, "__init__", spy)
    yield calls


def _assert_secured(kw: dict[str, Any], ca: Path) -> None:
    assert kw["bootstrap_servers"] == "127.0.0.1:1"
    assert kw["security_protocol"] == "SASL_SSL"
    assert (kw["sasl_mechanism"], kw["sasl_plain_username"], kw["sasl_plain_password"]) == (
        "SCRAM-SHA-512",
        "mentorflow",
        PASSWORD,
    )
    context = kw["ssl_context"]
    assert isinstance(context, ssl.SSLContext) and context.verify_mode is ssl.CERT_REQUIRED
    loaded = {dict(item[0] for item in c["subject"])["commonName"] for c in context.get_ca_certs()}
    assert loaded == {"test-ca"}, (loaded, ca)


def _sites(settings: Settings) -> dict[str, Callable[[], Any]]:
    """Every place that opens a Kafka client, as the composition root calls it."""
    from activities.publishing import KafkaPublisher
    from audit.sources import kafka_records_by_key
    from projections.projector import Projector
    from projections.rebuild import topic_size
    from workers.services.kafka import ensure_topics
    from workers.services.lag import _group_lag

    access = settings.kafka.access
    topic = settings.kafka.events_topic

    async def projector() -> None:
        await Projector(database_url="sqlite://", bootstrap_servers=access, topic=topic).start()

    return {
        "publisher": lambda: KafkaPublisher(access, topic)._get_producer(),
        "projector": projector,
        "audit scan": lambda: kafka_records_by_key(access, topic),
        "rebuild size": lambda: topic_size(access, topic),
        "topics": lambda: ensure_topics(access, {topic: 1}, ready_within=0.1),
        "lag": lambda: _group_lag(access, [topic]),
    }


@pytest.mark.parametrize("site", ["publisher", "projector", "audit scan", "rebuild size", "topics", "lag"])
def test_kafka_security_reaches_every_client(
    site: str, secured: Settings, pki: dict[str, Path], kafka_calls: list[tuple[str, dict[str, Any]]]
) -> None:
    with pytest.raises(Reached):
        asyncio.run(_sites(secured)[site]())
    assert kafka_calls, site
    for _name, kw in kafka_calls:
        _assert_secured(kw, pki["ca"])


def test_plaintext_is_the_default_and_adds_nothing(kafka_calls: list[tuple[str, dict[str, Any]]]) -> None:
    from projections.rebuild import topic_size

    plain = Settings(_env_file=None, kafka={"bootstrap_servers": "127.0.0.1:1"})  # type: ignore[call-arg]
    with pytest.raises(Reached):
        asyncio.run(topic_size(plain.kafka.access, "t"))
    assert kafka_calls[0][1] == {"bootstrap_servers": "127.0.0.1:1", "enable_auto_commit": False}


def test_temporal_tls_and_api_key_reach_the_connection(
    secured: Settings, pki: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``Client.connect`` turns its arguments into the SDK's ConnectConfig: the spy reads that, then stops."""
    from workers.connect import connect_client, temporal_client

    configs: list[Any] = []

    async def spy(config: Any) -> ServiceClient:
        configs.append(config)
        raise Reached("temporal")

    monkeypatch.setattr(ServiceClient, "connect", staticmethod(spy))
    for connect in (temporal_client, connect_client):
        with pytest.raises(Reached):
            asyncio.run(connect(secured))
    for config in configs:
        assert config.target_host == "temporal.example:7233"
        assert config.api_key == API_KEY
        assert isinstance(config.tls, TLSConfig)
        assert config.tls.server_root_ca_cert == pki["ca"].read_bytes()
        assert config.tls.client_cert == pki["cert"].read_bytes()
        assert config.tls.client_private_key == pki["key"].read_bytes()
        assert config.tls.domain == "temporal.internal"
    assert len(configs) == 2

    configs.clear()
    with pytest.raises(Reached):
        asyncio.run(temporal_client(Settings(_env_file=None)))  # type: ignore[call-arg]
    assert configs[0].tls is None and configs[0].api_key is None  # the local dev server: plain


def test_secrets_are_never_printed(secured: Settings) -> None:
    shown = " ".join(
        [
            repr(secured),
            str(secured),
            secured.model_dump_json(),
            repr(secured.kafka.access),
            str(secured.kafka.access),
            repr(secured.temporal.access),
            f"Kafka at {secured.kafka.access}",
        ]
    )
    assert PASSWORD not in shown and API_KEY not in shown
    assert "127.0.0.1:1" in shown  # the address is printed as before


@pytest.mark.parametrize(
    ("group", "values", "needle"),
    [
        ("kafka", {"security_protocol": "SASL_SSL", "sasl_mechanism": "PLAIN"}, "sasl_password"),
        ("kafka", {"security_protocol": "SSL", "sasl_mechanism": "PLAIN"}, "needs a SASL_"),
        ("kafka", {"security_protocol": "TLS"}, "security_protocol"),
        ("kafka", {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "GSSAPI"}, "sasl_mechanism"),
        ("kafka", {"ssl_cert_file": "/x.pem"}, "ssl_key_file"),
        ("temporal", {"tls_key_file": "/x.key"}, "tls_cert_file"),
    ],
)
def test_bad_security_settings_are_refused_at_start_up(group: str, values: dict[str, Any], needle: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None, **{group: values})  # type: ignore[call-arg]
    assert needle in str(refused.value)
    assert PASSWORD not in str(refused.value)


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, pki: dict[str, Path]) -> None:
    for name, value in {
        "MENTORFLOW_KAFKA__SECURITY_PROTOCOL": "SASL_SSL",
        "MENTORFLOW_KAFKA__SASL_MECHANISM": "PLAIN",
        "MENTORFLOW_KAFKA__SASL_USERNAME": "mf",
        "MENTORFLOW_KAFKA__SASL_PASSWORD": PASSWORD,
        "MENTORFLOW_KAFKA__SSL_CA_FILE": str(pki["ca"]),
        "MENTORFLOW_TEMPORAL__API_KEY": API_KEY,
    }.items():
        monkeypatch.setenv(name, value)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.kafka.access.sasl_password == PASSWORD
    assert settings.temporal.access.connect_options() == {"tls": True, "api_key": API_KEY}
