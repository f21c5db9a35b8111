"""Proposals not accepted by every party in time expire on their own, every few minutes; a
platform administrator can also run it at once (POST /agreements/expiry-runs)."""

import asyncio

from services.matching.api import expire_overdue
from shared.db import utcnow
from shared.service import Runtime


async def expire_regularly(runtime: Runtime) -> None:
    while True:
        async with runtime.sessions() as session:
            await expire_overdue(session, utcnow())
            await session.commit()
        await asyncio.sleep(runtime.settings.expiry_every_seconds)  # type: ignore[attr-defined]
