"""Service tests: one service's HTTP API and handlers over a real database, without a broker.
Events are read back from the service's outbox, and handed to another service's consumer through
the same inbox path the broker would use."""

from collections.abc import AsyncIterator

import pytest

from services.funding.app import create_app as funding_app
from services.funding.settings import FundingSettings
from services.matching.app import create_app as matching_app
from services.matching.settings import MatchingSettings
from services.notifications.app import create_app as notifications_app
from services.notifications.settings import NotificationsSettings
from services.registry.app import create_app as registry_app
from services.registry.settings import RegistrySettings
from tests.conftest import DatabaseFactory
from tests.helpers import ServiceUnderTest, serve


@pytest.fixture
async def registry(new_database: DatabaseFactory) -> AsyncIterator[ServiceUnderTest]:
    settings = RegistrySettings(database_url=await new_database("registry"))
    async with serve(registry_app, settings) as service:
        yield service


@pytest.fixture
async def matching(new_database: DatabaseFactory) -> AsyncIterator[ServiceUnderTest]:
    settings = MatchingSettings(database_url=await new_database("matching"))
    async with serve(matching_app, settings) as service:
        yield service


@pytest.fixture
async def funding(new_database: DatabaseFactory) -> AsyncIterator[ServiceUnderTest]:
    settings = FundingSettings(database_url=await new_database("funding"))
    async with serve(funding_app, settings) as service:
        yield service


@pytest.fixture
async def notifications(new_database: DatabaseFactory) -> AsyncIterator[ServiceUnderTest]:
    settings = NotificationsSettings(database_url=await new_database("notifications"))
    async with serve(notifications_app, settings) as service:
        yield service
