"""An operator's repair: publish from a relationship's Temporal history what the events topic lacks
(:mod:`audit.republish` says what and whether). What ``mentorflow relationship republish`` calls.

It writes to the topic only, and only envelopes the history holds with an intact chain: the same bytes the workflow
would have published. Run it again and it publishes nothing (the topic then holds every seq)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from audit.republish import RepublishPlan, plan_republish
from audit.sequence import store_sequence
from domain import Envelope, RelationshipNotFound
from service.audit import AuditService
from service.errors import ServiceUnavailable
from workflows.models import Limits

__all__ = ["BATCH", "republish"]

BATCH = Limits().publish_batch
"""Envelopes per publication: one relationship's contiguous range, as large as the outbox publishes."""

Publish = Callable[[list[Envelope]], Awaitable[object]]


async def republish(audit: AuditService, relationship_id: str, publish: Publish | None) -> RepublishPlan:
    """The plan for ``relationship_id``, carried out through ``publish`` unless it is None (a dry run) or refused.
    Raises ``RelationshipNotFound`` when Temporal holds no history of it, :class:`ServiceUnavailable` when Temporal
    or the topic cannot be read or written (it says how far it got: run it again, it publishes what is missing)."""
    auditor = audit.auditor
    # the topic first: what a running workflow publishes meanwhile is then in the history read after it
    on_topic = await auditor.read_kafka(relationship_id)
    if on_topic.records is None:
        raise ServiceUnavailable(f"the topic could not be read ({on_topic.source}): {on_topic.error}")
    made, _, _ = await auditor.read_temporal(relationship_id)
    if made.absent or made.records == []:
        raise RelationshipNotFound(relationship_id)
    if made.records is None:
        raise ServiceUnavailable(f"Temporal could not be read ({made.source}): {made.error}")
    history = store_sequence("temporal", made.records, relationship_id)
    topic = store_sequence("kafka", on_topic.records, relationship_id) if on_topic.records else None
    plan = plan_republish(relationship_id, history, topic)
    if publish is not None and plan.refused is None:
        envelopes = list(plan.envelopes)
        for start in range(0, len(envelopes), BATCH):
            try:
                await publish(envelopes[start : start + BATCH])
            except Exception as exc:  # the broker's errors, whatever their class: say how far it got
                raise ServiceUnavailable(
                    f"publishing to the topic failed at seq {envelopes[start].seq} ({type(exc).__name__}: {exc}); "
                    "what was published is on the topic, run it again for the rest"
                ) from exc
    return plan
