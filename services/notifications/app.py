"""The notifications service: turns what the other services publish into news for the cities and
funds concerned (in-app feeds now; email and signed webhooks come with its own issue)."""

from services.notifications.api import router
from services.notifications.handlers import HANDLERS
from services.notifications.models import NotificationsTable
from services.notifications.settings import NotificationsSettings
from shared.service import ServiceDefinition

DEFINITION = ServiceDefinition(
    name="notifications",
    title="city-exchange notifications",
    description="Feeds for cities and funds. Consumes registry, matching and funding events.",
    metadata=NotificationsTable.metadata,
    router=router,
    settings=NotificationsSettings,
    produces=(),
    handlers=HANDLERS,
)
