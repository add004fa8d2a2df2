"""Configuration: pydantic-settings with env prefix ``MENTORFLOW_`` and nested groups (DESIGN §9).

``MENTORFLOW_TEMPORAL__ADDRESS``, ``MENTORFLOW_KAFKA__BOOTSTRAP_SERVERS``, ``MENTORFLOW_DATABASE__URL`` … The same
names appear in ``.env.example`` and ``docker-compose.yml`` (a test keeps the three in agreement).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from projections.kafka_access import KafkaAccess, SaslMechanism, SecurityProtocol
from projections.topics import dead_letter_topic, events_topic, projector_group
from workflows.codec import AesGcmCodec, codec_from_settings
from workflows.connection import CoreLogLevel, TemporalAccess

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _paths(**files: Path | None) -> dict[str, str | None]:
    return {name: str(path) if path else None for name, path in files.items()}


def _revealed(secret: SecretStr | None) -> str | None:
    """The secret's text, for the one connection object that needs it (which never prints it)."""
    return secret.get_secret_value() if secret else None


class TemporalSettings(BaseModel):
    address: str = Field("127.0.0.1:7233", description="host:port of the Temporal frontend")
    namespace: str = "default"
    task_queue: str = "mentorflow"
    ui_port: int = Field(8233, ge=1, le=65535)
    ui: bool = Field(True, description="serve the Temporal Web UI from the local dev server")
    # production: TLS (with a client certificate for mTLS) and/or an API key (docs/security.md)
    tls: bool = Field(False, description="connect with TLS (implied by any tls_* file)")
    tls_ca_file: Path | None = Field(None, description="PEM CA that signed the server's certificate (default: system)")
    tls_cert_file: Path | None = Field(None, description="PEM client certificate (mTLS)")
    tls_key_file: Path | None = Field(None, description="PEM private key of the client certificate")
    tls_server_name: str | None = Field(None, description="the name to verify in the server's certificate")
    api_key: SecretStr | None = Field(None, description="API key sent as a bearer token (implies TLS)")
    core_log_level: CoreLogLevel = Field(
        "WARN",
        description="the Temporal SDK core's own log lines at this level and above go to the process's log "
        "(stderr, logger temporalio.core); never to stdout",
    )

    @property
    def access(self) -> TemporalAccess:
        """TLS and API key as the workflow layer's connect() takes them."""
        files = _paths(ca_file=self.tls_ca_file, cert_file=self.tls_cert_file, key_file=self.tls_key_file)
        return TemporalAccess(tls=self.tls, server_name=self.tls_server_name, api_key=_revealed(self.api_key), **files)

    @property
    def host(self) -> str:
        return self.address.rsplit(":", 1)[0]

    @property
    def port(self) -> int:
        return int(self.address.rsplit(":", 1)[1])


class KafkaSettings(BaseModel):
    bootstrap_servers: str = "127.0.0.1:9092"
    topic_prefix: str = "mentorflow"
    projector_group: str = Field(
        "",
        description="the projectors' consumer group (and projection_offsets key); default <topic_prefix>-projector, so "
        "deployments sharing a broker never rebalance each other's projectors",
    )
    partitions: int = Field(6, ge=1)
    controller_port: int = Field(9093, ge=1, le=65535, description="KRaft controller listener of the local broker")
    # production: TLS and/or SASL (docs/security.md)
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_ca_file: Path | None = Field(None, description="PEM CA that signed the brokers' certificates (default: system)")
    ssl_cert_file: Path | None = Field(None, description="PEM client certificate (mTLS)")
    ssl_key_file: Path | None = Field(None, description="PEM private key of the client certificate")

    @property
    def access(self) -> KafkaAccess:
        """The bootstrap servers with their security, as every Kafka client below takes them."""
        files = _paths(ssl_ca_file=self.ssl_ca_file, ssl_cert_file=self.ssl_cert_file, ssl_key_file=self.ssl_key_file)
        return KafkaAccess(
            bootstrap_servers=self.bootstrap_servers,
            security_protocol=self.security_protocol,
            sasl_mechanism=self.sasl_mechanism,
            sasl_username=self.sasl_username,
            sasl_password=_revealed(self.sasl_password),
            **files,
        )

    @property
    def events_topic(self) -> str:
        return events_topic(self.topic_prefix)

    @property
    def dead_letter_topic(self) -> str:
        return dead_letter_topic(self.events_topic)

    @property
    def projector_group_id(self) -> str:
        """One consumer group per deployment: ``mentorflow-projector`` for the default prefix, as before."""
        return self.projector_group or projector_group(self.topic_prefix)

    @property
    def port(self) -> int:
        return int(self.bootstrap_servers.split(",")[0].rsplit(":", 1)[1])


class DatabaseSettings(BaseModel):
    url: str = Field("", description="SQLAlchemy URL; empty means the embedded SQLite file under the run dir")


class PostgresSettings(BaseModel):
    """The local PostgreSQL cluster that ``mentorflow services up --with-postgres`` runs under the run dir."""

    host: str = "127.0.0.1"
    port: int = Field(5432, ge=1, le=65535)
    user: str = "mentorflow"
    password: str = "mentorflow"
    database: str = "mentorflow"

    def url(self, database: str | None = None) -> str:
        return f"postgresql+psycopg://{self.user}:{self.password}@{self.host}:{self.port}/{database or self.database}"


class ApiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    tokens: dict[str, str] = Field(
        default_factory=dict,
        description="bearer token -> role spec: 'platform', 'manager', 'auditor' or 'participant:<person id>'",
    )


class MetricsSettings(BaseModel):
    """Prometheus endpoints (docs/operations.md). A port of 0 turns that endpoint off; a port already taken is
    logged and the process runs on without it (metrics never stop the work)."""

    host: str = Field("127.0.0.1", description="address the worker's and projector's /metrics servers bind to")
    worker_port: int = Field(9464, ge=0, le=65535, description="the worker's /metrics (mentorflow_* series)")
    worker_sdk_port: int = Field(9465, ge=0, le=65535, description="the worker's Temporal SDK runtime /metrics")
    projector_port: int = Field(9466, ge=0, le=65535, description="the projector's /metrics")
    api: bool = Field(True, description="serve /metrics on the API's own port, unauthenticated (aggregates only)")
    sample_seconds: float = Field(15.0, gt=0, le=3600, description="how often the sampled gauges are refreshed")
    outbox_sample: int = Field(100, ge=0, le=10_000, description="running workflows whose outbox the worker samples")


class TelemetrySettings(BaseModel):
    """Tracing and log lines (docs/operations.md, "Tracing and logs"). Tracing is off unless an endpoint is set."""

    otlp_endpoint: str = Field(
        "", description="OTLP/HTTP traces endpoint, e.g. http://127.0.0.1:4318/v1/traces; empty turns tracing off"
    )
    service_name: str = Field("mentorflow", description="service.name prefix: <name>-worker, -projector, -api, -cli")
    json_logs: bool = Field(False, description="one JSON object per log line instead of text")


class PrivacySettings(BaseModel):
    """Privacy at the boundary (docs/privacy.md). ``encrypt`` (on by default): personal text of commands is sealed
    under its author's data key (key store: the ``privacy_keys`` table of the database) before it reaches Temporal,
    Kafka or a table. Turned off, every process says so at start (:attr:`plaintext_warning`)."""

    model_config = ConfigDict(hide_input_in_errors=True)  # a refused codec key is never printed

    encrypt: bool = Field(
        True,
        description="seal personal free text per person before it leaves the client (false: plaintext on the topic, "
        "in event_log and in Temporal histories, which erasure cannot shred)",
    )
    codec_key: str = Field(
        "",
        repr=False,
        description="base64 of 32 random bytes: every Temporal payload is encrypted with it (workflows/codec.py); "
        "empty = off. Every worker, client, auditor and the UI's codec server need the same key",
    )
    codec_keys: str = Field(
        "",
        repr=False,
        description="key rotation: comma-separated '<id>:<base64 of 32 bytes>' entries, newest first; the newest "
        "encrypts, every one (and codec_key) decrypts. Empty = codec_key alone",
    )
    codec_local_ui: bool = Field(
        False,
        description="let the local Temporal UI (no login, so no token) decode through the API's /codec/decode: only "
        "from a loopback address with a codec_cors_origin Origin, never encode. For a developer's machine only: "
        "anyone with a shell on it can decode then",
    )
    codec_cors_origin: str = Field(
        "",
        description="comma-separated origins of the Temporal UI allowed to call the API's /codec/… (CORS); "
        "empty = the local dev server's UI, http://127.0.0.1:<ui port> and http://localhost:<ui port>",
    )

    retention_days: int = Field(
        0,
        ge=0,
        le=36_500,
        description="erase a person this many days after their last relationship closed "
        "(mentorflow privacy retention); 0 = keep until erased on request",
    )
    retention_interval_seconds: float = Field(
        3600.0,
        ge=0,
        description="each worker runs a retention pass this often (programs' own retention, then retention_days); "
        "0 = only when run by hand (mentorflow privacy retention)",
    )

    @field_validator("codec_key")
    @classmethod
    def _codec_key(cls, value: str) -> str:
        codec_from_settings(value)  # ValueError naming the setting and the rule
        return value

    @field_validator("codec_keys")
    @classmethod
    def _codec_keys(cls, value: str) -> str:
        codec_from_settings("", value)  # ValueError naming the entry and the rule (never the key)
        return value

    @model_validator(mode="after")
    def _codec_ids(self) -> PrivacySettings:
        self.codec()  # an id given twice
        return self

    @property
    def plaintext_warning(self) -> str | None:
        """The one line the worker, the API and the CLI log at start when sealing is off; None when it is on."""
        if self.encrypt:
            return None
        return (
            "MENTORFLOW_PRIVACY__ENCRYPT=false: personal text is stored in plaintext (topic, event_log, Temporal "
            "histories, archive) and erasure cannot shred it (docs/privacy.md)"
        )

    def codec(self) -> AesGcmCodec | None:
        """The payload codec of ``codec_key`` and ``codec_keys`` (workflows/codec.py); None when both are empty."""
        return codec_from_settings(self.codec_key, self.codec_keys)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="MENTORFLOW_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
        hide_input_in_errors=True,  # a refused secret (codec key, password) is never printed back
    )

    run_dir: Path = Field(PROJECT_ROOT / ".run", description="runtime data and logs (git-ignored)")
    temporal: TemporalSettings = TemporalSettings()
    kafka: KafkaSettings = KafkaSettings()
    database: DatabaseSettings = DatabaseSettings()
    postgres: PostgresSettings = PostgresSettings()
    api: ApiSettings = ApiSettings()
    metrics: MetricsSettings = MetricsSettings()
    telemetry: TelemetrySettings = TelemetrySettings()
    privacy: PrivacySettings = PrivacySettings()

    @field_validator("run_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value if value.is_absolute() else (PROJECT_ROOT / value).resolve()

    @model_validator(mode="after")
    def _access(self) -> Settings:
        """The checks the connections make (a certificate without its key, SASL without a password), at start-up."""
        _ = self.temporal.access, self.kafka.access
        return self

    @property
    def codec_origins(self) -> tuple[str, ...]:
        """The browser origins that may call the API's codec endpoints (``privacy.codec_cors_origin``)."""
        listed = tuple(o.strip().rstrip("/") for o in self.privacy.codec_cors_origin.split(",") if o.strip())
        port = self.temporal.ui_port
        return listed or (f"http://127.0.0.1:{port}", f"http://localhost:{port}")

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{self.run_dir / 'mentorflow.db'}"

    def on_database(self, url: str | None) -> Settings:
        """These settings on the database ``url`` (a command's ``--database-url``; None: unchanged), so its reads,
        its key store and its sealing use the same database."""
        return self if not url else self.model_copy(update={"database": DatabaseSettings(url=url)})


class SettingsError(ValueError):
    """A setting the process cannot start with, named as its environment variable with the rule it breaks (the CLI
    exits 2 with it, never a traceback)."""


def load_settings() -> Settings:
    """The settings from the environment and ``.env``; :class:`SettingsError` names each refused variable."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = [
            f"MENTORFLOW_{'__'.join(str(part) for part in error['loc']).upper() or '*'}: {error['msg']}"
            for error in exc.errors(include_url=False, include_input=False)
        ]
        raise SettingsError("bad setting: " + "; ".join(problems)) from None
