"""Helpers the test layers share: a service run in-process, waiting with a deadline, and reading
a service's outbox."""

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.events import Event, decode
from shared.inbox import Outcome
from shared.outbox import OUTBOX
from shared.service import Runtime, ServiceDefinition, create_service_app
from shared.settings import ServiceSettings

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


@dataclass
class ServiceUnderTest:
    client: httpx.AsyncClient
    runtime: Runtime

    async def events(self) -> list[Event]:
        return await outbox_events(self.runtime.sessions)

    async def deliver(self, *events: Event) -> list[Outcome]:
        """Hand events to this service's consumer as the broker would (through the inbox)."""
        consumer = self.runtime.consumer
        assert consumer, "this service consumes no events"
        return [await consumer.process(event) for event in events]


@asynccontextmanager
async def serve(
    definition: ServiceDefinition, settings: ServiceSettings, *, messaging: bool = False
) -> AsyncIterator[ServiceUnderTest]:
    """Run a service in this process, its lifespan included, with an HTTP client on it."""
    app = create_service_app(definition, settings, messaging=messaging)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            yield ServiceUnderTest(client, app.state.runtime)
