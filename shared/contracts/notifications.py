"""Events the notifications service publishes about itself: what its owners must hear of even
when their own channel is what broke (a webhook endpoint disabled after failing for days)."""

from datetime import datetime
from uuid import UUID

from pydantic import Field

from shared.contracts import EventSpec, Payload

TOPIC = "notifications.events"
SOURCE = "/city-exchange/notifications"


class WebhookEndpointDisabled(Payload):
    endpoint_id: UUID
    owner_kind: str = Field(description="city, fund, donor or network: who registered it")
    owner_id: UUID
    url: str
    reason: str = Field(description="why, in words the owner can act on")
    failing_since: datetime = Field(description="the first failed attempt of the unbroken run")
    disabled_at: datetime


WEBHOOK_ENDPOINT_DISABLED = EventSpec(
    "WebhookEndpointDisabled",
    WebhookEndpointDisabled,
    TOPIC,
    SOURCE,
    "A webhook endpoint was disabled after every delivery attempt to it failed for days; its "
    "owner re-enables it once the receiver works, and replays what it missed.",
    WebhookEndpointDisabled(
        endpoint_id=UUID("ee000000-0000-4000-8000-000000000001"),
        owner_kind="donor",
        owner_id=UUID("d0000000-0000-4000-8000-000000000001"),
        url="https://donor.example.org/city-exchange/webhooks",
        reason="every delivery attempt failed for 5 days (last: HTTP 503)",
        failing_since=datetime.fromisoformat("2026-03-01T08:00:00+00:00"),
        disabled_at=datetime.fromisoformat("2026-03-06T08:00:00+00:00"),
    ),
)

EVENTS = [WEBHOOK_ENDPOINT_DISABLED]
