"""How every process reaches Temporal: client, worker, CLI, API, auditor and Replayer share one data converter.

The pydantic converter is what turns commands, states and envelopes into payloads; a process that connected with
another converter would read the workflow's payloads as plain dicts. Not imported by the workflow module itself.
"""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime

DATA_CONVERTER = pydantic_data_converter


async def connect(address: str, namespace: str, *, runtime: Runtime | None = None) -> Client:
    """A Temporal client at ``address`` in ``namespace`` with the project's data converter; ``runtime`` carries the
    SDK's telemetry (the worker's Prometheus endpoint), the default runtime otherwise."""
    return await Client.connect(address, namespace=namespace, data_converter=DATA_CONVERTER, runtime=runtime)
