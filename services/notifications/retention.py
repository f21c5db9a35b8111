"""What the janitor purges of notifications' own rows (shared.retention): emails sent, and
webhook deliveries delivered (with their attempt logs), once older than
NOTIFICATIONS_SENT_RETENTION_DAYS. Failed and skipped ones stay: their owner still reads why,
and may replay a failed webhook delivery. The exactly-once keys of what remains are untouched;
a purged delivery's event is long past the inbox's redelivery window (which must be shorter)."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notifications.models import Delivery, DeliveryStatus
from services.notifications.settings import NotificationsSettings
from services.notifications.webhooks.models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookDeliveryStatus,
)
from shared.retention import Retention


async def purge_sent(session: AsyncSession, before: datetime) -> int:
    """Delete what went out before `before`; the number of rows deleted."""
    delivered = select(WebhookDelivery.seq).where(
        col(WebhookDelivery.status) == WebhookDeliveryStatus.DELIVERED,
        col(WebhookDelivery.delivered_at) < before,
    )
    sent_emails = (
        col(Delivery.status) == DeliveryStatus.SENT,
        col(Delivery.sent_at) < before,
    )
    results = [
        await session.exec(
            delete(WebhookAttempt).where(col(WebhookAttempt.delivery_seq).in_(delivered))
        ),
        await session.exec(delete(WebhookDelivery).where(col(WebhookDelivery.seq).in_(delivered))),
        # The events a digest gathered go with the digest.
        await session.exec(
            delete(Delivery).where(
                col(Delivery.status) == DeliveryStatus.DIGESTED,
                col(Delivery.digest_id).in_(select(Delivery.id).where(*sent_emails)),
            )
        ),
        await session.exec(delete(Delivery).where(*sent_emails)),
    ]
    return sum(result.rowcount for result in results)  # type: ignore[attr-defined]


def retention(settings: NotificationsSettings) -> Sequence[Retention]:
    return [Retention("sent_notifications", settings.sent_retention_days, purge_sent)]
