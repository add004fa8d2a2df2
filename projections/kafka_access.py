"""How every Kafka client of the project reaches the brokers: the bootstrap servers plus, in production, TLS and SASL.

Every ``AIOKafkaProducer`` / ``AIOKafkaConsumer`` / ``AIOKafkaAdminClient`` is built with ``**kafka_options(kafka)``,
where ``kafka`` is either a plain ``"host:port,…"`` (a local, unauthenticated broker) or a :class:`KafkaAccess`
carrying the security settings (built by the composition root from ``MENTORFLOW_KAFKA__*``, docs/security.md).
A :class:`KafkaAccess` prints as its bootstrap servers only: the password never reaches a message or a log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["KafkaAccess", "KafkaAddress", "SaslMechanism", "SecurityProtocol", "kafka_options", "reader_options"]

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


@dataclass(frozen=True)
class KafkaAccess:
    bootstrap_servers: str
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ssl_ca_file: str | None = None
    ssl_cert_file: str | None = None
    ssl_key_file: str | None = None

    def __str__(self) -> str:
        return self.bootstrap_servers

    def __post_init__(self) -> None:
        sasl = self.security_protocol.startswith("SASL_")
        if sasl and not (self.sasl_mechanism and self.sasl_username and self.sasl_password):
            raise ValueError(
                f"kafka: security_protocol {self.security_protocol} needs sasl_mechanism, sasl_username and "
                "sasl_password"
            )
        if not sasl and self.sasl_mechanism:
            raise ValueError(f"kafka: sasl_mechanism needs a SASL_ security_protocol (got {self.security_protocol})")
        if bool(self.ssl_cert_file) != bool(self.ssl_key_file):
            raise ValueError("kafka: ssl_cert_file and ssl_key_file go together (a client certificate and its key)")


KafkaAddress = str | KafkaAccess
"""What the layers below the composition root take: bootstrap servers, or the servers with their security."""


def kafka_options(kafka: KafkaAddress) -> dict[str, Any]:
    """The keyword arguments of aiokafka's clients for ``kafka``: ``bootstrap_servers`` and, when set, the security
    protocol, an SSL context (the CA file, a client certificate) and the SASL mechanism and credentials."""
    if isinstance(kafka, str):
        return {"bootstrap_servers": kafka}
    options: dict[str, Any] = {"bootstrap_servers": kafka.bootstrap_servers}
    if kafka.security_protocol == "PLAINTEXT":
        return options
    options["security_protocol"] = kafka.security_protocol
    if kafka.security_protocol in ("SSL", "SASL_SSL"):
        from aiokafka.helpers import create_ssl_context

        options["ssl_context"] = create_ssl_context(
            cafile=kafka.ssl_ca_file, certfile=kafka.ssl_cert_file, keyfile=kafka.ssl_key_file
        )
    if kafka.sasl_mechanism:
        options["sasl_mechanism"] = kafka.sasl_mechanism
        options["sasl_plain_username"] = kafka.sasl_username
        options["sasl_plain_password"] = kafka.sasl_password
    return options


def reader_options(kafka: KafkaAddress) -> dict[str, Any]:
    """:func:`kafka_options` plus the fetch settings of every projection reader (the projector, a rebuild's decode
    process, the benchmarks' raw consumer): no auto-commit, from the earliest offset, large fetches, committed
    records only."""
    return {
        **kafka_options(kafka),
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "max_partition_fetch_bytes": 8 * 1024 * 1024,
        "fetch_max_bytes": 64 * 1024 * 1024,
        "isolation_level": "read_committed",
    }
