"""Service tests: one service's HTTP API and handlers over a real database, without a broker.
Events are read back from the service's outbox, and handed to another service's consumer through
the same inbox path the broker would use."""

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI

from services.funding.app import create_app as funding_app
from services.funding.settings import FundingSettings
from services.matching.app import create_app as matching_app
from services.matching.settings import MatchingSettings
from services.notifications.app import create_app as notifications_app
from services.notifications.settings import NotificationsSettings
from services.registry.app import create_app as registry_app
from services.registry.settings import RegistrySettings
from shared.events import Event
from shared.inbox import Outcome
from shared.service import Runtime
from shared.settings import ServiceSettings
from tests.conftest import DatabaseFactory
from tests.helpers import outbox_events


@dataclass
class ServiceUnderTest:
    client: httpx.AsyncClient
    runtime: Runtime

    async def events(self) -> list[Event]:
        return await outbox_events(self.runtime.sessions)

    async def deliver(self, *events: Event) -> list[Outcome]:
        consumer = self.runtime.consumer
        assert consumer, "this service consumes no events"
        return [await consumer.process(event) for event in events]


async def _serve(
    create_app: Callable[..., FastAPI], settings: ServiceSettings
) -> AsyncIterator[ServiceUnderTest]:
    app = create_app(settings, messaging=False)
    runtime: Runtime = app.state.runtime
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            yield ServiceUnderTest(client, runtime)


@pytest.fixture
async def registry(new_database: DatabaseFactory) -> AsyncIterator[ServiceUnderTest]:
    settings = RegistrySettings(database_url=await new_database("registry"))
    async for service in _serve(registry_app, settings):
        yield service


@pytest.fixture
async def matching(new_database: DatabaseFactory) -> AsyncIterator[ServiceUnderTest]:
    settings = MatchingSettings(database_url=await new_database("matching"))
    async for service in _serve(matching_app, settings):
        yield service


@pytest.fixture
async def funding(new_database: DatabaseFactory) -> AsyncIterator[ServiceUnderTest]:
    settings = FundingSettings(database_url=await new_database("funding"))
    async for service in _serve(funding_app, settings):
        yield service


@pytest.fixture
async def notifications(new_database: DatabaseFactory) -> AsyncIterator[ServiceUnderTest]:
    settings = NotificationsSettings(database_url=await new_database("notifications"))
    async for service in _serve(notifications_app, settings):
        yield service
