"""How every process reaches Temporal: client, worker, CLI, API, auditor and Replayer share one data converter and,
in production, one TLS / API-key configuration (:class:`TemporalAccess`, built by the composition root from
``MENTORFLOW_TEMPORAL__*``; docs/security.md).

The pydantic converter is what turns commands, states and envelopes into payloads; a process that connected with
another converter would read the workflow's payloads as plain dicts. Not imported by the workflow module itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio.client import Client, Interceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import PayloadCodec
from temporalio.runtime import Runtime
from temporalio.service import TLSConfig

from workflows.codec import with_codec

__all__ = ["DATA_CONVERTER", "TemporalAccess", "connect"]

DATA_CONVERTER = pydantic_data_converter


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
) -> Client:
    """A Temporal client at ``address`` in ``namespace`` with the project's data converter; ``runtime`` carries the
    SDK's telemetry (the worker's Prometheus endpoint), the default runtime otherwise; ``access`` its TLS and API
    key; ``interceptors`` (tracing: workers/telemetry.py) also apply to every worker built on this client; ``codec``
    encrypts every payload (workflows/codec.py) — for this client and every worker built on it."""
    return await Client.connect(
        address,
        namespace=namespace,
        data_converter=with_codec(DATA_CONVERTER, codec),
        runtime=runtime,
        interceptors=interceptors,
        **(access or TemporalAccess()).connect_options(),
    )
