"""Purging what the delivery guarantees no longer need, so that the outbox and inbox tables stay
small: published outbox rows after `outbox_retention_days` (kept a while to answer "was it
sent?"), inbox ids after `inbox_retention_days`. The topics keep everything (a read model is
rebuilt by replaying them), so the inbox window must outlast any ordinary redelivery (a consumer's
lag, a rebalance); a deliberate replay from the start relies on the handlers being idempotent
themselves (matching's read model applies an event only over older state).

A service purges its own finished rows the same way, on the same schedule: it lists them as
`Retention` rules in its ServiceDefinition (e.g. notifications' sent emails and delivered
webhooks)."""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.db import utcnow
from shared.inbox import INBOX
from shared.outbox import OUTBOX

log = logging.getLogger(__name__)


async def purge(
    sessions: async_sessionmaker[AsyncSession], outbox_days: float, inbox_days: float
) -> tuple[int, int]:
    """Delete what is past retention; returns (outbox rows, inbox rows) deleted."""
    now = utcnow()
    async with sessions() as session:
        outbox = await session.exec(
            delete(OUTBOX).where(
                OUTBOX.c.published_at.is_not(None),
                OUTBOX.c.published_at < now - timedelta(days=outbox_days),
            )
        )
        inbox = await session.exec(
            delete(INBOX).where(INBOX.c.processed_at < now - timedelta(days=inbox_days))
        )
        await session.commit()
    return outbox.rowcount, inbox.rowcount


@dataclass(frozen=True)
class Retention:
    """A service's own rows that are done with: `purge` deletes, in the session it is given,
    those finished before the cutoff (now minus `days`), and returns how many rows went."""

    what: str  # named in the log line
    days: float
    purge: Callable[[AsyncSession, datetime], Awaitable[int]]


async def purge_retained(
    sessions: async_sessionmaker[AsyncSession], rules: Sequence[Retention]
) -> dict[str, int]:
    """Apply each rule in a transaction of its own; rows deleted by rule."""
    purged = {}
    for rule in rules:
        async with sessions() as session:
            purged[rule.what] = await rule.purge(session, utcnow() - timedelta(days=rule.days))
            await session.commit()
    return purged


async def run_janitor(
    sessions: async_sessionmaker[AsyncSession],
    outbox_days: float,
    inbox_days: float,
    every_seconds: float,
    rules: Sequence[Retention] = (),
) -> None:
    while True:
        outbox, inbox = await purge(sessions, outbox_days, inbox_days)
        own = {what: rows for what, rows in (await purge_retained(sessions, rules)).items() if rows}
        if outbox or inbox or own:
            log.info("purged", extra={"outbox_rows": outbox, "inbox_rows": inbox, **own})
        await asyncio.sleep(every_seconds)
