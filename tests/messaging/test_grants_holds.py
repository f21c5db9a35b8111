"""Funding against the real broker: an agreement suspended on `matching.events` holds the
agreement's tranches, and the hold is told on `funding.events` (for notifications to tell the
fund and its donors)."""

import json
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaProducer, ConsumerRecord

from services.funding.app import DEFINITION as FUNDING
from services.funding.settings import FundingSettings
from shared.contracts import funding, matching
from shared.contracts.matching import AGREEMENT_SUSPENDED
from shared.devstack import Stack
from tests.conftest import DatabaseFactory
from tests.helpers import ServiceUnderTest, serve
from tests.messaging.conftest import publish, read_topic
from tests.service.test_grants import agreement_event, grant_setup, post, reported_first_tranche


@pytest.fixture
async def funding_service(
    broker: Stack, new_database: DatabaseFactory
) -> AsyncIterator[ServiceUnderTest]:
    settings = FundingSettings(
        database_url=await new_database("funding"),
        kafka_bootstrap_servers=broker.bootstrap_servers,
    )
    async with serve(FUNDING, settings, messaging=True) as service:
        yield service


async def test_a_suspension_published_by_matching_holds_tranches_and_is_told(
    broker: Stack, funding_service: ServiceUnderTest, producer: AIOKafkaProducer
) -> None:
    grant = await grant_setup(funding_service)
    tranche = await reported_first_tranche(funding_service, grant)

    suspended = agreement_event(10, AGREEMENT_SUSPENDED, grant.agreement_id)
    await publish(producer, matching.TOPIC, suspended)

    def holds(records: list[ConsumerRecord]) -> list[dict]:
        envelopes = [json.loads(record.value) for record in records]
        return [
            e
            for e in envelopes
            if e["type"] == "TrancheHeld" and e["data"]["tranche_id"] == tranche["id"]
        ]

    records = await read_topic(broker.bootstrap_servers, funding.TOPIC, lambda r: bool(holds(r)))
    [held] = holds(records)
    assert (held["subject"], held["data"]["cause"]) == (grant.fund_id, "agreement")
    assert held["causationid"] == suspended.id
    refused = await post(funding_service, f"/tranches/{tranche['id']}/release", grant.admin(0), 409)
    assert "is suspended" in refused["detail"]
