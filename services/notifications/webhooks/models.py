"""Webhook tables (in the notifications database) and their API schemas."""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AnyUrl, UrlConstraints, model_validator
from sqlalchemy import JSON, BigInteger, Integer, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from services.notifications.domain import RecipientKind
from services.notifications.models import NotificationsTable
from shared.db import UTCDateTime, utcnow


class WebhookEndpoint(NotificationsTable, table=True):
    __tablename__ = "webhook_endpoints"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    owner_kind: RecipientKind
    owner_id: uuid.UUID = Field(index=True)
    url: str = Field(max_length=2000)
    description: str = Field(default="", max_length=500)
    # None: every type; else the event types it receives.
    event_types: list[str] | None = Field(default=None, sa_type=JSON)
    enabled: bool = True
    disabled_reason: str | None = None
    # Signing needs the secret itself (HMAC), not a hash of it: kept encrypted (sealing.py).
    sealed_secret: str = Field(sa_type=Text)
    sealed_previous_secret: str | None = Field(default=None, sa_type=Text)
    previous_secret_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The first failed attempt since the last success: what automatic disabling measures.
    failing_since: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class WebhookDeliveryStatus(StrEnum):
    PENDING = "pending"  # an attempt is due (now or later)
    DELIVERED = "delivered"  # a 2xx answered
    FAILED = "failed"  # every attempt of the schedule failed; a replay starts a new round


class WebhookDelivery(NotificationsTable, table=True):
    """One event for one endpoint, whatever the broker redelivers or the consumer replays."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (UniqueConstraint("event_id", "endpoint_id"),)

    seq: int | None = Field(
        default=None, primary_key=True, sa_type=BigInteger().with_variant(Integer, "sqlite")
    )
    # Sent as `webhook-id`, unchanged by retries and replays: receivers dedupe by it.
    id: uuid.UUID = Field(default_factory=uuid.uuid4, unique=True)
    endpoint_id: uuid.UUID = Field(foreign_key="webhook_endpoints.id", index=True)
    event_id: str = Field(max_length=36)
    event_type: str = Field(max_length=100)
    # The exact body sent (the event's CloudEvents JSON, filtered for the recipient): stored once
    # so that every attempt signs and sends the same bytes.
    body: str = Field(sa_type=Text)
    status: WebhookDeliveryStatus = Field(default=WebhookDeliveryStatus.PENDING, index=True)
    attempts: int = 0  # every attempt, over all rounds
    round_attempts: int = 0  # attempts of the current round: the position in the schedule
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    # Set while a sender holds the delivery; a sender that died lets it lapse, and the delivery
    # is sent again (the one message that can repeat, under the same webhook-id).
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_response_code: int | None = None
    last_latency_ms: int | None = None
    last_error: str | None = None
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


class WebhookAttempt(NotificationsTable, table=True):
    """The log of every attempt: what the owner reads to debug a receiver."""

    __tablename__ = "webhook_attempts"

    id: int | None = Field(
        default=None, primary_key=True, sa_type=BigInteger().with_variant(Integer, "sqlite")
    )
    delivery_seq: int = Field(foreign_key="webhook_deliveries.seq", index=True)
    number: int  # 1 for the delivery's first attempt, counting over replays
    attempted_at: datetime = Field(sa_type=UTCDateTime)
    succeeded: bool
    response_code: int | None = None
    latency_ms: int
    error: str | None = None


# --- API schemas ----------------------------------------------------------------------------


WebhookUrl = Annotated[AnyUrl, UrlConstraints(max_length=2000)]


class _EndpointFields(SQLModel):
    model_config = {"extra": "forbid"}  # type: ignore[assignment]

    url: WebhookUrl = Field(description="https outside development; must reach a public host")
    event_types: list[str] | None = Field(
        None, description="event types to receive (GET /webhook-event-types); null for every one"
    )
    description: str = Field("", max_length=500)


class WebhookEndpointCreate(_EndpointFields):
    owner_kind: RecipientKind = Field(description="city, fund, donor or network")
    owner_id: uuid.UUID = Field(description="the city, fund, donor or network your token acts for")


class WebhookEndpointUpdate(SQLModel):
    """Only the fields given change. Re-enabling clears the failure record."""

    model_config = {"extra": "forbid"}  # type: ignore[assignment]

    url: WebhookUrl | None = None
    event_types: list[str] | None = None
    description: str | None = Field(None, max_length=500)
    enabled: bool | None = None


class WebhookEndpointPublic(SQLModel):
    id: uuid.UUID
    owner_kind: RecipientKind
    owner_id: uuid.UUID
    url: str
    description: str
    event_types: list[str] | None
    enabled: bool
    disabled_reason: str | None
    failing_since: datetime | None
    previous_secret_expires_at: datetime | None = Field(
        description="until then the rotated-out secret signs too"
    )
    created_at: datetime


SECRET_SHOWN_ONCE = (
    "The signing secret is shown once, in the first answer to this request, and is stored only "
    "encrypted: a retry with the same Idempotency-Key answers without it. Lost it? POST "
    "/webhook-endpoints/{id}/secret-rotations issues a new one."
)


class WebhookEndpointWithSecret(WebhookEndpointPublic):
    secret: str | None = Field(
        description="the signing secret, in the first answer only: store it to verify our "
        "signatures (null in an idempotent replay; see secret_notice)"
    )
    secret_notice: str = Field(SECRET_SHOWN_ONCE, description="why the secret may be missing")


class DeliveryPublic(SQLModel):
    id: uuid.UUID = Field(description="the webhook-id header of every attempt")
    event_id: str
    event_type: str
    status: WebhookDeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_response_code: int | None
    last_latency_ms: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime


class DeliveryPage(SQLModel):
    items: list[DeliveryPublic]
    next_before: int | None = Field(
        description="pass as `before` for the next (older) page; null on the last page"
    )


class AttemptPublic(SQLModel):
    number: int
    attempted_at: datetime
    succeeded: bool
    response_code: int | None
    latency_ms: int
    error: str | None


class DeliveryDetail(DeliveryPublic):
    attempts_log: list[AttemptPublic]


class ReplayRange(SQLModel):
    model_config = {"extra": "forbid"}  # type: ignore[assignment]

    since: datetime = Field(description="deliveries created at or after (timezone required)")
    until: datetime = Field(description="and before this")

    @model_validator(mode="after")
    def _ordered(self) -> "ReplayRange":
        if self.since.tzinfo is None or self.until.tzinfo is None:
            raise ValueError("give since and until with a timezone, e.g. 2026-03-01T08:00:00Z")
        if self.since >= self.until:
            raise ValueError("since must be before until")
        return self


class ReplayCount(SQLModel):
    replayed: int = Field(description="deliveries scheduled for a new attempt now")
