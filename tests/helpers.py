"""Helpers the test layers share: a service run in-process, waiting with a deadline, and reading
a service's outbox."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from services.registry.identity.tokens import TokenIssuer
from services.registry.settings import RegistrySettings
from shared.auth import Grant
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

    async def events(self, *types: str) -> list[Event]:
        """The events this service recorded, in order; only those of `types` when given."""
        events = await outbox_events(self.runtime.sessions)
        return [event for event in events if not types or event.type in types]

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


_ISSUER = TokenIssuer(RegistrySettings())


def token(*grants: str, subject: str | None = None, kind: str = "user") -> str:
    """An access token signed with the development key, as the registry would issue it, for a
    caller holding `grants` (e.g. "city_officer:<city id>", "platform_admin")."""
    return _ISSUER.access_token(
        subject or str(uuid.uuid4()), kind, [Grant.parse(text) for text in grants]
    )


def bearer(*grants: str, subject: str | None = None, kind: str = "user") -> dict[str, str]:
    return {"Authorization": f"Bearer {token(*grants, subject=subject, kind=kind)}"}
