"""How every process reaches Temporal: client, worker, CLI, API, auditor and Replayer share one data converter and,
in production, one TLS / API-key configuration (:class:`TemporalAccess`, built by the composition root from
``MENTORFLOW_TEMPORAL__*``; docs/security.md).

The pydantic converter is what turns commands, states and envelopes into payloads; a process that connected with
another converter would read the workflow's payloads as plain dicts. Not imported by the workflow module itself.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from temporalio.client import Client, Interceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import PayloadCodec
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    MetricBuffer,
    OpenTelemetryConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)
from temporalio.service import TLSConfig

from workflows.codec import with_codec

__all__ = ["CORE_LOGGER", "DATA_CONVERTER", "CoreLogLevel", "TemporalAccess", "connect", "core_runtime"]

DATA_CONVERTER = pydantic_data_converter

CoreLogLevel = Literal["ERROR", "WARN", "INFO", "DEBUG", "TRACE"]
CORE_LOGGER = "temporalio.core"
"""The Python logger that receives the Temporal SDK core's own lines (connection trouble, retried calls, slots)."""
_PYTHON_LEVEL = {"ERROR": logging.ERROR, "WARN": logging.WARNING, "INFO": logging.INFO, "DEBUG": logging.DEBUG}
_runtimes: dict[CoreLogLevel, Runtime] = {}


def core_runtime(
    level: CoreLogLevel = "WARN", metrics: OpenTelemetryConfig | PrometheusConfig | MetricBuffer | None = None
) -> Runtime:
    """A Temporal runtime whose core log lines go to the Python logger :data:`CORE_LOGGER` (the process's stderr
    handler) at ``level`` and above. The SDK's default runtime writes them to **standard output**, where a retried
    call's warning landed in the middle of ``mentorflow demo --json`` (a CI run under load). Every process connects
    through one of these; without ``metrics`` it is shared per level (a runtime owns threads)."""
    logger = logging.getLogger(CORE_LOGGER)
    python_level = _PYTHON_LEVEL.get(level, logging.DEBUG)  # TRACE arrives as DEBUG
    if logger.level == logging.NOTSET or logger.level > python_level:
        logger.setLevel(python_level)
    if metrics is None and level in _runtimes:
        return _runtimes[level]
    others: CoreLogLevel = level if level in ("DEBUG", "TRACE") else "ERROR"  # other crates: hyper, tonic, h2
    logging_config = LoggingConfig(
        filter=TelemetryFilter(core_level=level, other_level=others),
        forwarding=LogForwardingConfig(logger=logger),
    )
    runtime = Runtime(telemetry=TelemetryConfig(logging=logging_config, metrics=metrics))
    if metrics is None:
        _runtimes[level] = runtime
    return runtime


@dataclass(frozen=True)
class TemporalAccess:
    """TLS (server CA, client certificate for mTLS, the name to verify) and an API key; the default is a plain
    connection (the local dev server). The key never appears in a repr."""

    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    server_name: str | None = None
    api_key: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if bool(self.cert_file) != bool(self.key_file):
            raise ValueError("temporal: tls_cert_file and tls_key_file go together (a client certificate and its key)")

    @property
    def uses_tls(self) -> bool:
        return bool(self.tls or self.ca_file or self.cert_file or self.server_name or self.api_key)

    def connect_options(self) -> dict[str, Any]:
        """The keyword arguments of ``Client.connect`` (``tls``, ``api_key``); the PEM files are read here."""
        if not self.uses_tls:
            return {}

        def pem(path: str | None) -> bytes | None:
            return Path(path).read_bytes() if path else None

        if self.ca_file or self.cert_file or self.server_name:
            tls: TLSConfig | bool = TLSConfig(
                server_root_ca_cert=pem(self.ca_file),
                client_cert=pem(self.cert_file),
                client_private_key=pem(self.key_file),
                domain=self.server_name,
            )
        else:
            tls = True
        options: dict[str, Any] = {"tls": tls}
        if self.api_key:
            options["api_key"] = self.api_key
        return options


async def connect(
    address: str,
    namespace: str,
    *,
    runtime: Runtime | None = None,
    access: TemporalAccess | None = None,
    interceptors: Sequence[Interceptor] = (),
    codec: PayloadCodec | None = None,
    core_log_level: CoreLogLevel = "WARN",
) -> Client:
    """A Temporal client at ``address`` in ``namespace`` with the project's data converter; ``runtime`` carries the
    SDK's telemetry (the worker's Prometheus endpoint: :func:`core_runtime` with metrics), a shared one otherwise;
    ``access`` its TLS and API key; ``interceptors`` (tracing: workers/telemetry.py) also apply to every worker built
    on this client; ``codec`` encrypts every payload (workflows/codec.py) — for this client and every worker built on
    it; the SDK core's log lines at ``core_log_level`` and above go to Python logging (:func:`core_runtime`), never
    to standard output."""
    return await Client.connect(
        address,
        namespace=namespace,
        data_converter=with_codec(DATA_CONVERTER, codec),
        runtime=runtime or core_runtime(core_log_level),
        interceptors=interceptors,
        **(access or TemporalAccess()).connect_options(),
    )
