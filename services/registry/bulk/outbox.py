"""`shared.outbox.record_event` for a batch: the same outbox rows, written by one INSERT of many
rows instead of one INSERT each, which is what keeps a 100k-row import to a few minutes (each
statement is a round trip to the database's thread or server)."""

from collections.abc import Sequence

from pydantic import BaseModel
from sqlalchemy import insert
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.contracts import EventSpec
from shared.db import utcnow
from shared.events import encode, new_event
from shared.outbox import OUTBOX


async def record_events(
    session: AsyncSession, events: Sequence[tuple[EventSpec, object, BaseModel]]
) -> None:
    """Add (spec, subject, payload) events to the outbox in the caller's transaction, in order."""
    rows = []
    for spec, subject, payload in events:
        event = new_event(spec, subject, payload)
        message = encode(event)
        rows.append(
            {
                "event_id": event.id,
                "event_type": event.type,
                "topic": spec.topic,
                "message_key": event.subject,
                "message_value": message.value.decode("utf-8"),
                "created_at": utcnow(),
                "publish_attempts": 0,
            }
        )
    if rows:
        await session.exec(insert(OUTBOX), params=rows)
