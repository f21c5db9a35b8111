"""The service's periodic runs (expiry, dormancy reminders): each run in a transaction of its
own, then a pause. `shared.service` keeps the loop alive if a run fails unexpectedly."""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from shared.db import utcnow
from shared.service import Runtime


async def every(
    runtime: Runtime, seconds: float, run: Callable[[AsyncSession, datetime], Awaitable[None]]
) -> None:
    """`run` at once, then every `seconds`, for ever; it writes in the session, this commits."""
    while True:
        async with runtime.sessions() as session:
            await run(session, utcnow())
            await session.commit()
        await asyncio.sleep(seconds)
