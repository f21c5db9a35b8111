"""The janitor's rule for notifications: sent emails and delivered webhook deliveries (with
their attempts) go once older than NOTIFICATIONS_SENT_RETENTION_DAYS; failed ones, and anything
recent, stay."""

import uuid
from datetime import timedelta

from sqlmodel import col, select

from services.notifications.app import DEFINITION
from services.notifications.domain import Channel, RecipientKind
from services.notifications.models import DIGEST_TYPE, Delivery, DeliveryStatus
from services.notifications.webhooks.models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEndpoint,
)
from shared.db import utcnow
from shared.retention import purge_retained
from tests.helpers import ServiceUnderTest


async def test_sent_and_delivered_go_after_the_retention_days_and_the_rest_stays(
    notifications: ServiceUnderTest,
) -> None:
    settings = notifications.runtime.settings
    settings.sent_retention_days = 30  # type: ignore[attr-defined]
    old, recent = utcnow() - timedelta(days=31), utcnow() - timedelta(days=29)
    endpoint = WebhookEndpoint(
        owner_kind=RecipientKind.FUND,
        owner_id=uuid.uuid4(),
        url="https://x.test/",
        sealed_secret="-",
    )

    def hook(name: str, status: WebhookDeliveryStatus, at: object) -> WebhookDelivery:
        delivered = at if status is WebhookDeliveryStatus.DELIVERED else None
        return WebhookDelivery(
            endpoint_id=endpoint.id,
            event_id=name,
            event_type="FundCreated",
            body="{}",
            status=status,
            delivered_at=delivered,
            created_at=at,
        )

    def email(name: str, status: DeliveryStatus, at: object, **fields: object) -> Delivery:
        return Delivery(
            event_id=name,
            recipient="officer",
            channel=Channel.EMAIL,
            event_type=str(fields.pop("event_type", "FundCreated")),
            view={},
            occurred_at=at,
            status=status,
            sent_at=at if status is DeliveryStatus.SENT else None,
            created_at=at,
            **fields,
        )

    hooks = [
        hook("old-delivered", WebhookDeliveryStatus.DELIVERED, old),
        hook("recent-delivered", WebhookDeliveryStatus.DELIVERED, recent),
        hook("old-failed", WebhookDeliveryStatus.FAILED, old),
    ]
    old_digest = email("digest:daily:old", DeliveryStatus.SENT, old, event_type=DIGEST_TYPE)
    emails = [
        email("old-sent", DeliveryStatus.SENT, old),
        email("recent-sent", DeliveryStatus.SENT, recent),
        email("old-failed", DeliveryStatus.FAILED, old),
        email("old-skipped", DeliveryStatus.SKIPPED, old),
        old_digest,
        email("old-in-digest", DeliveryStatus.DIGESTED, old, digest_id=old_digest.id),
    ]
    async with notifications.runtime.sessions() as session:
        session.add(endpoint)
        await session.flush()
        session.add_all([*hooks, *emails])
        await session.flush()
        session.add_all(
            WebhookAttempt(
                delivery_seq=h.seq,  # type: ignore[arg-type]
                number=1,
                attempted_at=h.created_at,
                succeeded=h.status is WebhookDeliveryStatus.DELIVERED,
                latency_ms=5,
            )
            for h in hooks
        )
        await session.commit()

    assert DEFINITION.retention is not None
    rules = DEFINITION.retention(settings)
    # 1 delivery + its attempt, 1 sent email, 1 digest + the email it gathered
    assert await purge_retained(notifications.runtime.sessions, rules) == {"sent_notifications": 5}
    assert await purge_retained(notifications.runtime.sessions, rules) == {"sent_notifications": 0}

    async with notifications.runtime.sessions() as session:
        left_hooks = (await session.exec(select(WebhookDelivery.event_id))).all()
        assert sorted(left_hooks) == ["old-failed", "recent-delivered"]
        attempts = (await session.exec(select(WebhookAttempt.delivery_seq))).all()
        assert sorted(attempts) == sorted(h.seq for h in hooks[1:])
        left_emails = (
            await session.exec(select(Delivery.event_id).order_by(col(Delivery.event_id)))
        ).all()
        assert left_emails == ["old-failed", "old-skipped", "recent-sent"]
