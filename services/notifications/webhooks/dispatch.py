"""From an event to webhook deliveries, in the consumer's transaction: the delivery rows are
committed with the inbox record, so an event is queued for each endpoint exactly once."""

import json
from collections.abc import Iterable
from dataclasses import replace

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notifications.domain import Audience
from services.notifications.leases import WEBHOOKS_QUEUED
from services.notifications.webhooks import domain
from services.notifications.webhooks.models import WebhookDelivery, WebhookEndpoint
from shared.db import utcnow
from shared.events import Event, encode


async def enqueue(session: AsyncSession, event: Event, audiences: Iterable[Audience]) -> None:
    """Queue `event` for every enabled endpoint of its audiences whose filter takes it. Calling
    it again for the same event adds nothing (one delivery per event and endpoint)."""
    owners = set(audiences)
    if not owners:
        return
    endpoints = (
        await session.exec(
            select(WebhookEndpoint).where(
                col(WebhookEndpoint.enabled),
                col(WebhookEndpoint.owner_id).in_({owner.id for owner in owners}),
            )
        )
    ).all()
    if not endpoints:
        return
    queued = set(
        (
            await session.exec(
                select(WebhookDelivery.endpoint_id).where(WebhookDelivery.event_id == event.id)
            )
        ).all()
    )
    now = utcnow()
    for endpoint in endpoints:
        audience = Audience(endpoint.owner_kind, endpoint.owner_id)
        if (
            audience not in owners
            or endpoint.id in queued
            or not domain.accepts(endpoint.event_types, event.type)
        ):
            continue
        data = domain.webhook_data(event, audience)
        if data is None:
            continue
        session.add(
            WebhookDelivery(
                endpoint_id=endpoint.id,
                event_id=event.id,
                event_type=event.type,
                body=cloudevent_body(replace(event, data=data)),
                next_attempt_at=now,
                created_at=now,
            )
        )
        WEBHOOKS_QUEUED.after_commit(session)
    await session.flush()


def cloudevent_body(event: Event) -> str:
    # The envelope exactly as on the broker (CloudEvents JSON structured mode), made compact and
    # stable so that what is signed is what is sent.
    return json.dumps(json.loads(encode(event).value), separators=(",", ":"), sort_keys=True)
