"""Service tests: one service's HTTP API and handlers over a real database, without a broker.
Events are read back from the service's outbox, and handed to another service's consumer through
the same inbox path the broker would use."""

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from services.funding.app import DEFINITION as FUNDING
from services.funding.ledger import store as ledger
from services.funding.transparency.allocation import allocation_problems
from services.matching.app import DEFINITION as MATCHING
from services.notifications.app import DEFINITION as NOTIFICATIONS
from services.registry.app import DEFINITION as REGISTRY
from shared.service import ServiceDefinition
from tests.conftest import DatabaseFactory
from tests.helpers import ServiceUnderTest, serve


def _service_fixture(definition: ServiceDefinition) -> Callable[..., Any]:
    """A fixture running `definition` over a fresh database of its own, messaging off."""

    @pytest.fixture(name=definition.name)
    async def running(new_database: DatabaseFactory) -> AsyncIterator[ServiceUnderTest]:
        settings = definition.settings(database_url=await new_database(definition.name))
        async with serve(definition, settings) as service:
            yield service

    return running


registry = _service_fixture(REGISTRY)
matching = _service_fixture(MATCHING)
notifications = _service_fixture(NOTIFICATIONS)


@pytest.fixture(name="funding")
async def funding(new_database: DatabaseFactory) -> AsyncIterator[ServiceUnderTest]:
    """The funding service, with its ledger's invariants and its allocations (which receipts
    paid for each tranche) checked against each other after every test."""
    settings = FUNDING.settings(database_url=await new_database(FUNDING.name))
    async with serve(FUNDING, settings) as service:
        yield service
        async with service.runtime.sessions() as session:
            assert await ledger.invariant_violations(session) == []
            assert await allocation_problems(session) == []
