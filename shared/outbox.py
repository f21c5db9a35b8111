"""The transactional outbox: events are written in the same transaction as the state change that
causes them, and a relay publishes them to Kafka afterwards, at least once.

Why not publish straight after commit: a crash between the commit and the publish would lose the
event for good. Here a crash only means the relay publishes the row again; consumers dedupe by
event id in their inbox."""

import asyncio
import logging
from collections.abc import Sequence

from aiokafka.errors import KafkaError
from pydantic import BaseModel
from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    String,
    Table,
    Text,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlalchemy.orm import Session
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.backoff import Backoff
from shared.contracts import EventSpec
from shared.db import PLUMBING_METADATA, UTCDateTime, read_only, utcnow
from shared.events import Event, encode, new_event
from shared.kafka import KafkaBus

log = logging.getLogger(__name__)

OUTBOX = Table(
    "outbox",
    PLUMBING_METADATA,
    # The sequence gives the publication order; a BigInteger that is still a ROWID on SQLite.
    Column(
        "seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("event_type", String(100), nullable=False),
    Column("topic", String(200), nullable=False),
    Column("message_key", String(200), nullable=False),
    Column("message_value", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("published_at", UTCDateTime, nullable=True),
    Column("publish_attempts", Integer, nullable=False, default=0),
    Column("last_error", Text, nullable=True),
    Index("ix_outbox_unpublished", "published_at", "seq"),
)

# Session.info keys: the relay's wake-up callback (set on the session factory) and a flag that
# this transaction wrote to the outbox.
WAKE_RELAY = "outbox_wake_relay"
_WROTE_OUTBOX = "outbox_written"

CONTENT_TYPE_HEADERS = [("content-type", b"application/cloudevents+json")]


async def record_event(
    session: AsyncSession, spec: EventSpec, subject: object, payload: BaseModel
) -> Event:
    """Add an event to the outbox in the caller's transaction. It is published after commit."""
    [event_] = await record_events(session, [(spec, subject, payload)])
    return event_


async def record_events(
    session: AsyncSession, events: Sequence[tuple[EventSpec, object, BaseModel]]
) -> list[Event]:
    """Add (spec, subject, payload) events to the outbox in the caller's transaction, in order,
    with one INSERT of many rows (what keeps a bulk import of 100k rows to minutes)."""
    made = [new_event(spec, subject, payload) for spec, subject, payload in events]
    rows = [
        {
            "event_id": event_.id,
            "event_type": event_.type,
            "topic": spec.topic,
            "message_key": event_.subject,
            "message_value": encode(event_).value.decode("utf-8"),
            "created_at": utcnow(),
            "publish_attempts": 0,
        }
        for event_, (spec, _, _) in zip(made, events, strict=True)
    ]
    if rows:
        await session.exec(insert(OUTBOX), params=rows)
        session.info[_WROTE_OUTBOX] = True
    return made


@event.listens_for(Session, "after_commit")
def _wake_relay_after_commit(session: Session) -> None:
    # Low latency without tight polling: the relay sleeps until a commit wrote to the outbox.
    if session.info.pop(_WROTE_OUTBOX, False) and (wake := session.info.get(WAKE_RELAY)):
        wake()


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(_WROTE_OUTBOX, None)


class OutboxRelay:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        bus: KafkaBus,
        batch_size: int,
        poll_seconds: float,
    ) -> None:
        self._sessions = sessions
        self._bus = bus
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self._wakeup = asyncio.Event()

    def wake(self) -> None:
        self._wakeup.set()

    async def run(self) -> None:
        backoff = Backoff(first=0.1)
        while True:
            try:
                published = await self.publish_batch()
                backoff.reset()
            except (KafkaError, OSError) as exc:
                log.warning("outbox relay cannot publish, will retry", extra={"error": repr(exc)})
                await self._bus.reset_producer()
                await backoff.wait()
                continue
            if published < self._batch_size:
                await self._sleep_until_woken()

    async def _sleep_until_woken(self) -> None:
        try:
            await asyncio.wait_for(self._wakeup.wait(), timeout=self._poll_seconds)
        except TimeoutError:
            pass
        self._wakeup.clear()

    async def publish_batch(self) -> int:
        """Publish the oldest unpublished rows, in order; returns how many were published."""
        async with self._sessions() as session:
            await read_only(session)
            rows = (
                await session.exec(
                    select(
                        OUTBOX.c.seq, OUTBOX.c.topic, OUTBOX.c.message_key, OUTBOX.c.message_value
                    )
                    .where(OUTBOX.c.published_at.is_(None))
                    .order_by(OUTBOX.c.seq)
                    .limit(self._batch_size)
                )
            ).all()
        if not rows:
            return 0
        # No transaction is held while talking to the broker, so a slow broker never blocks the
        # services' writes. Two relays on one database may publish a row twice; inboxes dedupe.
        try:
            producer = await self._bus.producer()
            futures = [
                await producer.send(
                    row.topic,
                    value=row.message_value.encode("utf-8"),
                    key=row.message_key.encode("utf-8"),
                    headers=CONTENT_TYPE_HEADERS,
                )
                for row in rows
            ]
            await asyncio.gather(*futures)
        except KafkaError as exc:
            await self._record_failure([row.seq for row in rows], repr(exc))
            raise
        async with self._sessions() as session:
            await session.exec(
                update(OUTBOX)
                .where(OUTBOX.c.seq.in_([row.seq for row in rows]))
                .values(published_at=utcnow(), publish_attempts=OUTBOX.c.publish_attempts + 1)
            )
            await session.commit()
        return len(rows)

    async def _record_failure(self, seqs: list[int], error: str) -> None:
        async with self._sessions() as session:
            await session.exec(
                update(OUTBOX)
                .where(OUTBOX.c.seq.in_(seqs))
                .values(publish_attempts=OUTBOX.c.publish_attempts + 1, last_error=error[:2000])
            )
            await session.commit()
