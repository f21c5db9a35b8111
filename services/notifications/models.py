"""Notifications tables and API schemas."""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import ConfigDict
from sqlalchemy import JSON, BigInteger, Column, Index, Integer, UniqueConstraint
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from services.notifications.domain import Digest, Language, RecipientKind
from shared.db import UTCDateTime, utcnow


class NotificationsTable(SQLModel, registry=registry()):
    """Base of the notifications service's tables: its own metadata, i.e. its own database."""


class CityName(NotificationsTable, table=True):
    """City names, from registry events, so that messages name cities rather than ids."""

    __tablename__ = "city_names"

    id: uuid.UUID = Field(primary_key=True)
    name: str


class CityLanguages(NotificationsTable, table=True):
    """A city's official languages, from registry events: its officers' default language."""

    __tablename__ = "city_languages"

    city_id: uuid.UUID = Field(primary_key=True)
    languages: list[str] = Field(sa_column=Column(JSON, nullable=False))


class NetworkName(NotificationsTable, table=True):
    """Network names, from registry events, so that messages name networks rather than ids."""

    __tablename__ = "network_names"

    id: uuid.UUID = Field(primary_key=True)
    name: str


class RoleHolder(NotificationsTable, table=True):
    """Who holds which role, from the registry's RoleGranted / RoleRevoked: the recipients of an
    audience. Keyed by grant so that a revocation arriving before its grant still wins."""

    __tablename__ = "role_holders"
    __table_args__ = (Index("ix_role_holders_role_scope", "role", "scope"),)

    grant_id: uuid.UUID = Field(primary_key=True)
    subject: str = Field(max_length=100, index=True)
    role: str = Field(max_length=50)
    scope: str | None = Field(default=None, max_length=100)
    revoked: bool = False


class AwaitingOfficer(NotificationsTable, table=True):
    """News told to a city before any of its officers was known here: a city's welcome, whose
    CityRegistered can arrive before the registrant's RoleGranted (two aggregates, two Kafka
    keys, so no order between them). The first officer to arrive hears it, then it goes."""

    __tablename__ = "awaiting_officer"

    city_id: uuid.UUID = Field(primary_key=True)
    event_id: str = Field(primary_key=True, max_length=36)
    event_type: str = Field(max_length=100)
    # The notice's view for the city's audience, rendered when an officer arrives.
    view: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    occurred_at: datetime = Field(sa_type=UTCDateTime)


class FundDonor(NotificationsTable, table=True):
    """Which donors pledged to which fund, from funding's pledge events: the donors who hear of
    where a fund's money goes (a tranche paid or held) and of its closing."""

    __tablename__ = "fund_donors"

    fund_id: uuid.UUID = Field(primary_key=True)
    donor_id: uuid.UUID = Field(primary_key=True)


class Preference(NotificationsTable, table=True):
    """A recipient's own choices. No row: the defaults (in the app only, English or their
    city's language)."""

    __tablename__ = "preferences"

    subject: str = Field(primary_key=True, max_length=100)
    email: str | None = Field(default=None, max_length=254)
    language: str | None = Field(default=None, max_length=2)
    digest: Digest = Digest.IMMEDIATE
    subscriptions: dict[str, dict[str, bool]] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


_SEQ = BigInteger().with_variant(Integer, "sqlite")


class _News(NotificationsTable):
    """What a feed item and a notification both hold: an event, told in words."""

    seq: int | None = Field(default=None, primary_key=True, sa_type=_SEQ)
    event_id: str = Field(max_length=36)
    event_type: str = Field(max_length=100)
    title: str
    body: str
    occurred_at: datetime = Field(sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class FeedItem(_News, table=True):
    """The shared feed of a city or a fund (English), read by any of its officers."""

    __tablename__ = "feed_items"
    # One item per recipient and event, whatever the broker redelivers.
    __table_args__ = (UniqueConstraint("recipient_kind", "recipient_id", "event_id"),)

    recipient_kind: RecipientKind
    recipient_id: uuid.UUID = Field(index=True)


class Notification(_News, table=True):
    """One person's (or donor system's) in-app notification, in their language, read or not."""

    __tablename__ = "notifications"
    # Exactly once per recipient and event on this channel.
    __table_args__ = (
        UniqueConstraint("subject", "event_id"),
        Index("ix_notifications_subject_seq", "subject", "seq"),
    )

    subject: str = Field(max_length=100)
    read_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # to send (again) from next_attempt_at
    HELD = "held"  # waits for its recipient's digest
    SENT = "sent"
    FAILED = "failed"  # refused for good (e.g. the server rejected the address)
    DIGESTED = "digested"  # went out in the digest `digest_id`
    SKIPPED = "skipped"  # nothing to send to (the recipient removed their address)


# The event type of a digest's own delivery row.
DIGEST_TYPE = "Digest"


class Delivery(NotificationsTable, table=True):
    """One email to one recipient, written in the consumer's transaction and sent by the
    sender loop. The unique key makes it exactly once per event, recipient and channel; a
    digest's row has the key (digest:<frequency>:<period start>, recipient, email)."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "recipient", "channel"),
        Index("ix_deliveries_due", "status", "next_attempt_at"),
        Index("ix_deliveries_recipient_status", "recipient", "status"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    event_id: str = Field(max_length=100)
    recipient: str = Field(max_length=100)
    channel: str = Field(max_length=20)
    event_type: str = Field(max_length=100)
    # The notice's whitelisted view, rendered at sending time in the recipient's language then.
    view: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    occurred_at: datetime = Field(sa_type=UTCDateTime)
    status: DeliveryStatus = DeliveryStatus.PENDING
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # Set while a sender holds it; a sender that died lets it lapse and another takes it over.
    claimed_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = None
    missing_language: str | None = Field(default=None, max_length=2)
    digest_id: uuid.UUID | None = Field(default=None, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class FeedItemPublic(SQLModel):
    seq: int
    event_id: str
    event_type: str
    title: str
    body: str
    occurred_at: datetime


class FeedPage(SQLModel):
    items: list[FeedItemPublic]
    next_before: int | None = Field(
        description="pass as `before` for the next (older) page; null on the last page"
    )


class NotificationPublic(SQLModel):
    seq: int = Field(description="the cursor, and the id of its Server-Sent Event")
    event_id: str
    event_type: str
    title: str
    body: str
    occurred_at: datetime
    read: bool

    @classmethod
    def of(cls, row: Notification) -> "NotificationPublic":
        return cls.model_validate(row, update={"read": row.read_at is not None})


class NotificationPage(SQLModel):
    items: list[NotificationPublic]
    next_before: int | None = Field(
        description="pass as `before` for the next (older) page; null on the last page"
    )
    unread_count: int


class UnreadCount(SQLModel):
    unread_count: int


class MarkedRead(SQLModel):
    marked: int = Field(description="how many notifications this call marked read")
    unread_count: int


class ReadAll(SQLModel):
    model_config = ConfigDict(extra="forbid")

    up_to: int | None = Field(
        None,
        ge=1,
        description="mark read those up to this seq (the newest the page showed), so that one "
        "arriving meanwhile stays unread; all when omitted",
    )


class ChannelChoice(SQLModel):
    """Per channel: true to receive, false not to, omitted for the default. (Webhooks are
    chosen per endpoint, with the endpoint.)"""

    model_config = ConfigDict(extra="forbid")

    in_app: bool | None = None
    email: bool | None = None


class PreferencesUpdate(SQLModel):
    model_config = ConfigDict(extra="forbid")

    email: str | None = Field(
        None, max_length=254, description="where email notifications go; none: no email"
    )
    language: Language | None = Field(
        None, description="en, fr or es; omitted: your city's first official language, or en"
    )
    digest: Digest = Field(
        Digest.IMMEDIATE, description="immediate (one email per event), daily or weekly (UTC)"
    )
    subscriptions: dict[str, ChannelChoice] = Field(
        default_factory=dict, description="event type -> channels, over the defaults"
    )


class Subscription(SQLModel):
    in_app: bool
    email: bool


class PreferencesPublic(SQLModel):
    email: str | None
    language: Language = Field(description="the language you are written to in")
    language_chosen: bool = Field(description="false: the default of your role's city")
    digest: Digest
    subscriptions: dict[str, Subscription] = Field(
        description="for every event type, whether you receive it in the app and by email "
        "(email needs an address)"
    )


class EmailPublic(SQLModel):
    """One email to you and what became of it."""

    id: uuid.UUID = Field(description="also the left side of its Message-ID")
    event_id: str = Field(description="the event's id, or digest:<frequency>:<period start>")
    event_type: str
    status: DeliveryStatus
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    sent_at: datetime | None
    last_error: str | None
    missing_language: str | None = Field(
        description="your language, when this event type has no template in it (sent in English)"
    )


class EventType(SQLModel):
    type: str
    summary: str
    audiences: list[RecipientKind] = Field(description="whose officers (or systems) it reaches")
    email_by_default: bool
