"""Notifications tables and API schemas."""

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Integer, UniqueConstraint
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from services.notifications.domain import RecipientKind
from shared.db import UTCDateTime, utcnow


class NotificationsTable(SQLModel, registry=registry()):
    """Base of the notifications service's tables: its own metadata, i.e. its own database."""


class CityName(NotificationsTable, table=True):
    """City names, from registry events, so that messages name cities rather than ids."""

    __tablename__ = "city_names"

    id: uuid.UUID = Field(primary_key=True)
    name: str


class NetworkName(NotificationsTable, table=True):
    """Network names, from registry events, so that messages name networks rather than ids."""

    __tablename__ = "network_names"

    id: uuid.UUID = Field(primary_key=True)
    name: str


class FeedItem(NotificationsTable, table=True):
    __tablename__ = "feed_items"
    # One item per recipient and event, whatever the broker redelivers.
    __table_args__ = (UniqueConstraint("recipient_kind", "recipient_id", "event_id"),)

    seq: int | None = Field(
        default=None,
        primary_key=True,
        sa_type=BigInteger().with_variant(Integer, "sqlite"),
    )
    recipient_kind: RecipientKind
    recipient_id: uuid.UUID = Field(index=True)
    event_id: str = Field(max_length=36)
    event_type: str = Field(max_length=100)
    title: str
    body: str
    occurred_at: datetime = Field(sa_type=UTCDateTime)
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
