"""The composition root's one way to reach Temporal from the settings: address, namespace, task queue, and in
production TLS and an API key (``MENTORFLOW_TEMPORAL__TLS*``, ``…__API_KEY``; docs/security.md)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from temporalio.client import Client
from temporalio.runtime import Runtime

from activities.publishing import KafkaPublisher, PublishObserver
from projections.db import make_engine
from projections.privacy.cipher import FieldCipher
from projections.privacy.keystore import SqlKeyStore
from workers.settings import Settings, load_settings
from workflows.caller_publisher import CallerPublisher
from workflows.client import MentorflowClient
from workflows.connection import connect
from workflows.program_client import ProgramClient

__all__ = ["caller_publisher", "connect_client", "connect_programs", "temporal_client", "warn_if_plaintext"]

log = logging.getLogger("mentorflow.privacy")
_warned: set[str] = set()


def warn_if_plaintext(settings: Settings) -> bool:
    """Log :attr:`PrivacySettings.plaintext_warning` once per process when sealing is turned off (the worker, the
    API and every CLI command that builds a client call it at start); whether it was off."""
    warning = settings.privacy.plaintext_warning
    if warning is None:
        return False
    if warning not in _warned:
        _warned.add(warning)
        log.warning(warning)
    return True


async def temporal_client(settings: Settings | None = None, *, runtime: Runtime | None = None) -> Client:
    """A Temporal client with the project's data converter on the configured address, namespace, TLS and API key,
    and when tracing is on the OpenTelemetry interceptor (every worker built on the client traces its tasks too);
    with ``privacy.codec_key`` (or ``codec_keys``) every payload is encrypted (workflows/codec.py), for its workers
    too."""
    from workers.telemetry import temporal_interceptors

    settings = settings or load_settings()
    temporal = settings.temporal
    return await connect(
        temporal.address,
        temporal.namespace,
        runtime=runtime,
        access=temporal.access,
        interceptors=temporal_interceptors(),
        codec=settings.privacy.codec(),
        core_log_level=temporal.core_log_level,
    )


async def connect_client(
    settings: Settings | None = None,
    *,
    task_queue: str | None = None,
    publishes: bool = False,
    publish_observer: PublishObserver | None = None,
    **options: Any,
) -> MentorflowClient:
    """A :class:`MentorflowClient` on the configured Temporal address, namespace, access and task queue; with
    ``privacy.encrypt`` on (the default), it seals personal text under the key store in the configured database
    and opens it for readers; off, it says so once (:func:`warn_if_plaintext`). ``publishes``: a long-lived caller
    (the API, the demo, a service) publishes its commands' envelopes to the configured topic itself, the workflows
    only backstop it (workflows/handover.py); close it with ``MentorflowClient.close``. A one-shot caller (the CLI)
    leaves publishing to the workflows: a producer per process would cost more than it saves."""
    settings = settings or load_settings()
    if publishes and "publisher" not in options:
        options["publisher"] = caller_publisher(settings, observer=publish_observer)
    if not warn_if_plaintext(settings) and "privacy" not in options:
        # off the event loop: the key store creates its tables, and a SQLite write waits for the lock (up to 60 s)
        options["privacy"] = await asyncio.to_thread(field_cipher, settings)
    client = await temporal_client(settings)
    return MentorflowClient(client, task_queue=task_queue or settings.temporal.task_queue, **options)


async def connect_programs(settings: Settings | None = None, **options: Any) -> ProgramClient:
    """A :class:`ProgramClient` like :func:`connect_client`'s: with ``privacy.encrypt`` on it seals every profile and
    withdrawal reason it sends (``ProgramClient.sealed``)."""
    return ProgramClient.of(await connect_client(settings, **options))


def caller_publisher(
    settings: Settings, topic: str | None = None, observer: PublishObserver | None = None
) -> CallerPublisher:
    """The hand-over's publisher on the configured Kafka and events topic: the publishing activity's producer (one
    owner of how an envelope becomes a record), with a shorter request timeout (a caller does not wait for an outage:
    the workflows publish after their grace), publishing in the background: a command returns once it is committed,
    as it did when only the workflows published."""
    kafka = KafkaPublisher(
        settings.kafka.access, topic or settings.kafka.events_topic, request_timeout_ms=5_000, observer=observer
    )
    return CallerPublisher(kafka.send_batch, background=True, close=kafka.close)


def field_cipher(settings: Settings) -> FieldCipher:
    """The field cipher over the default key store: the ``privacy_keys`` table of the configured database."""
    return FieldCipher(SqlKeyStore(make_engine(settings.database_url)))
