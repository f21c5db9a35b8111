"""Small helpers the test layers share: waiting with a deadline, and reading a service's outbox."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.events import Event, decode
from shared.outbox import OUTBOX

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T | None]], within: float = 20.0, what: str = "condition"
) -> T:
    """Poll `probe` until it returns something truthy, failing after `within` seconds."""
    deadline = time.monotonic() + within
    last: T | None = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(0.05)
    raise AssertionError(f"{what} not reached within {within} s (last: {last!r})")


async def outbox_events(sessions: async_sessionmaker[AsyncSession]) -> list[Event]:
    async with sessions() as session:
        values = (
            await session.exec(select(OUTBOX.c.message_value).order_by(OUTBOX.c.seq))
        ).scalars()
        return [decode(value.encode()) for value in values]
