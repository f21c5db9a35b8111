"""How the email and webhook senders take due rows: under a lease, so that two senders never
send the same row at once and a dead sender's row is taken over once its lease lapses; and how
a commit that queued rows wakes them (the poll stays, for other instances' writes).

Both tables have a status (pending while a send is due), `next_attempt_at` and a lease column."""

import asyncio
import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, event, or_, update
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession


@dataclass(frozen=True)
class LeasedRows:
    """A table of rows to send: which column is the key, the status (and its pending value),
    when the next attempt is due, and until when a sender holds the row."""

    key: InstrumentedAttribute[Any]
    status: InstrumentedAttribute[Any]
    pending: object
    next_attempt_at: InstrumentedAttribute[Any]
    lease_until: InstrumentedAttribute[Any]

    def free(self, now: datetime) -> ColumnElement[bool]:
        return or_(col(self.lease_until).is_(None), col(self.lease_until) <= now)

    def due(self, now: datetime) -> Sequence[ColumnElement[bool]]:
        """The conditions of a row to send now: pending, due, and held by no live sender."""
        return (self.status == self.pending, col(self.next_attempt_at) <= now, self.free(now))

    async def claim(
        self,
        session: AsyncSession,
        keys: Iterable[object],
        now: datetime,
        until: datetime,
        **values: object,
    ) -> list[object]:
        """Lease each of `keys` that is still pending and free (and set `values` on it); the
        keys taken. Conditional, so that of two senders racing for a row only one gets it. The
        caller commits."""
        taken = []
        for key in keys:
            result = await session.exec(
                update(self.key.class_)
                .where(self.key == key, self.status == self.pending, self.free(now))
                .values({self.lease_until.key: until, **values})
            )
            if result.rowcount == 1:  # type: ignore[attr-defined]
                taken.append(key)
        return taken


class Wakeup:
    """Wakes the loops waiting on it (a sender, the Server-Sent Event streams) when a
    transaction that wrote rows for them commits, as the outbox relay is woken: low latency
    without tight polling. A wake while a loop is busy is kept for its next wait, so none is
    lost (at worst a loop looks once more for nothing)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def after_commit(self, session: AsyncSession) -> None:
        """Wake the sender once `session`'s transaction commits (not if it rolls back)."""
        session.info.setdefault(_TO_WAKE, set()).add(self)

    def fire(self) -> None:
        self._event.set()

    async def wait(self, seconds: float) -> None:
        """Until woken, or `seconds` at most (the fallback poll)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), seconds)
        self._event.clear()


_TO_WAKE = "notifications_to_wake"

EMAILS_QUEUED = Wakeup()
WEBHOOKS_QUEUED = Wakeup()


@event.listens_for(Session, "after_commit")
def _wake_after_commit(session: Session) -> None:
    for wakeup in session.info.pop(_TO_WAKE, ()):
        wakeup.fire()


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(_TO_WAKE, None)
