"""The notifications service: turns what the other services publish into news for the people
and systems concerned: shared feeds of cities and funds, each recipient's in-app notifications
(live over Server-Sent Events), and email, one per event or in daily or weekly digests."""

from fastapi import FastAPI

from services.notifications.api import router
from services.notifications.handlers import HANDLERS
from services.notifications.mailer import digest_regularly, send_regularly
from services.notifications.models import NotificationsTable
from services.notifications.retention import retention
from services.notifications.settings import NotificationsSettings
from services.notifications.unsubscribe import UnsubscribeLinks
from services.notifications.webhooks.sealing import SecretBox
from services.notifications.webhooks.sender import send_webhooks
from shared.contracts.notifications import EVENTS as NOTIFICATIONS_EVENTS
from shared.service import Runtime, ServiceDefinition


async def check_keys(_app: FastAPI, runtime: Runtime) -> None:
    """Refuse to start with a key that is not one (rather than fail the first email or
    endpoint). Development keys are refused earlier, with the settings."""
    settings: NotificationsSettings = runtime.settings  # type: ignore[assignment]
    SecretBox(settings.webhook_secret_keys)
    UnsubscribeLinks(settings.unsubscribe_keys)


DEFINITION = ServiceDefinition(
    name="notifications",
    title="city-exchange notifications",
    description="Feeds, in-app notifications and email for the officials of cities, funds and "
    "networks and for donor systems. Consumes registry, matching and funding events.",
    metadata=NotificationsTable.metadata,
    router=router,
    settings=NotificationsSettings,
    produces=NOTIFICATIONS_EVENTS,
    handlers=HANDLERS,
    background=(send_regularly, digest_regularly, send_webhooks),
    retention=retention,  # type: ignore[arg-type]
    on_startup=check_keys,
)
