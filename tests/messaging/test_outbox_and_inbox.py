"""The delivery guarantees, against the real broker: what is committed is published; what is
published twice has one effect; what cannot be handled goes to the dead-letter topic and does not
stop the consumer; a relay that loses the broker publishes once it is back."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from sqlmodel import col, func, select

from services.notifications.app import DEFINITION as NOTIFICATIONS
from services.notifications.models import FeedItem
from services.notifications.settings import NotificationsSettings
from services.registry.app import DEFINITION as REGISTRY
from services.registry.settings import RegistrySettings
from shared.contracts.registry import CITY_REGISTERED, TOPIC, CityRegistered
from shared.devstack import Stack, free_port
from shared.events import Event, encode, new_event
from shared.inbox import INBOX, ConsumerPolicy, EventConsumer
from shared.outbox import OUTBOX
from tests.conftest import DatabaseFactory
from tests.helpers import ServiceUnderTest, bearer, eventually, serve
from tests.messaging.conftest import publish, read_topic


def city_event(name: str = "Kigali", city_id: uuid.UUID | None = None) -> Event:
    payload = CityRegistered(city_id=city_id or uuid.uuid4(), name=name, country_code="RW")
    return new_event(CITY_REGISTERED, payload.city_id, payload)


@pytest.fixture
async def notifications(
    broker: Stack, new_database: DatabaseFactory
) -> AsyncIterator[ServiceUnderTest]:
    settings = NotificationsSettings(
        database_url=await new_database("notifications"),
        kafka_bootstrap_servers=broker.bootstrap_servers,
        consumer_max_attempts=2,
    )
    async with serve(NOTIFICATIONS, settings, messaging=True) as service:
        yield service


async def feed_count(service: ServiceUnderTest, event_id: str) -> int:
    async with service.runtime.sessions() as session:
        query = select(func.count()).select_from(FeedItem).where(col(FeedItem.event_id) == event_id)
        return (await session.exec(query)).one()


async def test_a_committed_event_is_published_with_its_envelope(
    broker: Stack, new_database: DatabaseFactory
) -> None:
    settings = RegistrySettings(
        database_url=await new_database("registry"),
        kafka_bootstrap_servers=broker.bootstrap_servers,
    )
    async with serve(REGISTRY, settings, messaging=True) as registry:
        response = await registry.client.post(
            "/cities", json={"name": "Kinshasa", "country_code": "CD"}, headers=bearer()
        )
        city_id = response.json()["id"]

        records = await read_topic(
            broker.bootstrap_servers,
            TOPIC,
            lambda records: any(r.key == city_id.encode() for r in records),
        )
        [record] = [r for r in records if r.key == city_id.encode()]
        envelope = json.loads(record.value)
        assert (envelope["type"], envelope["subject"]) == ("CityRegistered", city_id)
        assert dict(record.headers)["content-type"] == b"application/cloudevents+json"

        async def marked_published() -> bool:
            async with registry.runtime.sessions() as session:
                published_at = (
                    await session.exec(
                        select(OUTBOX.c.published_at).where(OUTBOX.c.message_key == city_id)
                    )
                ).one()
                return published_at is not None

        await eventually(marked_published, what="the outbox row marked published")


async def test_a_duplicated_event_has_one_effect(
    notifications: ServiceUnderTest, producer: AIOKafkaProducer
) -> None:
    city_id = uuid.uuid4()
    duplicated = city_event(city_id=city_id)
    # The sentinel has the same key, so the same partition: once it is applied, so were both
    # copies before it.
    sentinel = city_event("Kigali again", city_id=city_id)
    for event in (duplicated, duplicated, sentinel):
        await publish(producer, TOPIC, event)

    await eventually(lambda: feed_count(notifications, sentinel.id), what="the sentinel applied")
    assert await feed_count(notifications, duplicated.id) == 1
    async with notifications.runtime.sessions() as session:
        query = select(func.count()).select_from(INBOX).where(INBOX.c.event_id == duplicated.id)
        assert (await session.exec(query)).one() == 1


async def test_unreadable_messages_are_dead_lettered_and_the_partition_moves_on(
    broker: Stack, notifications: ServiceUnderTest, producer: AIOKafkaProducer
) -> None:
    key = str(uuid.uuid4())
    invalid_payload = json.loads(encode(city_event(city_id=uuid.UUID(key))).value)
    del invalid_payload["data"]["name"]
    await producer.send_and_wait(TOPIC, value=b"{not an event", key=key.encode())
    await producer.send_and_wait(
        TOPIC, value=json.dumps(invalid_payload).encode(), key=key.encode()
    )
    sentinel = city_event(city_id=uuid.UUID(key))
    await publish(producer, TOPIC, sentinel)

    await eventually(lambda: feed_count(notifications, sentinel.id), what="the sentinel applied")
    dead = await read_topic(
        broker.bootstrap_servers,
        "notifications.dlq",
        lambda records: sum(r.key == key.encode() for r in records) >= 2,
    )
    errors = [dict(r.headers)["dlq-error"].decode() for r in dead if r.key == key.encode()]
    assert errors[0].startswith("malformed:")
    assert errors[1].startswith("unreadable: CityRegistered payload invalid")
    assert next(r.value for r in dead if r.key == key.encode()) == b"{not an event"


async def test_a_failing_handler_is_retried_then_dead_lettered(
    broker: Stack, new_database: DatabaseFactory, producer: AIOKafkaProducer
) -> None:
    """A handler error is retried a few times; then the message is set aside with the error."""
    settings = NotificationsSettings(
        database_url=await new_database("failing"), kafka_bootstrap_servers=broker.bootstrap_servers
    )
    attempts: dict[str, int] = {}
    applied: list[str] = []

    async def fragile(_session: object, event: Event, payload: CityRegistered) -> None:
        attempts[event.id] = attempts.get(event.id, 0) + 1
        if payload.name == "Poison":
            raise RuntimeError("cannot handle Poison")
        applied.append(event.id)

    consumer_name = f"fragile-{uuid.uuid4().hex[:8]}"
    async with serve(NOTIFICATIONS, settings) as service:
        runtime = service.runtime
        consumer = EventConsumer(
            consumer_name,
            {CITY_REGISTERED: fragile},
            runtime.sessions,
            runtime.bus,
            ConsumerPolicy(max_attempts=3, first_backoff_seconds=0.01),
        )
        task = asyncio.create_task(consumer.run())
        try:
            poison, healthy = city_event("Poison"), city_event("Healthy")
            await publish(producer, TOPIC, poison)
            await publish(producer, TOPIC, healthy)
            await eventually(lambda: _true(healthy.id in applied), what="the healthy event applied")
            dead = await read_topic(
                broker.bootstrap_servers,
                f"{consumer_name}.dlq",
                lambda records: any(r.key == poison.subject.encode() for r in records),
            )
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert attempts[poison.id] == 3
    [record] = [r for r in dead if r.key == poison.subject.encode()]
    headers = dict(record.headers)
    assert headers["dlq-error"].decode().startswith("handler failed 3 times: RuntimeError")
    assert headers["dlq-topic"] == TOPIC.encode()


async def _true(value: bool) -> bool:
    return value


async def test_the_relay_publishes_once_the_broker_is_back(
    new_database: DatabaseFactory, tmp_path: Path
) -> None:
    own_broker = Stack(data_dir=tmp_path, broker_port=free_port(), ports={})
    own_broker.start_broker()
    try:
        settings = RegistrySettings(
            database_url=await new_database("registry"),
            kafka_bootstrap_servers=own_broker.bootstrap_servers,
        )
        async with serve(REGISTRY, settings, messaging=True) as registry:
            await registry.client.post(
                "/cities", json={"name": "Bukavu", "country_code": "CD"}, headers=bearer()
            )
            own_broker.broker.stop()
            response = await registry.client.post(
                "/cities", json={"name": "Goma", "country_code": "CD"}, headers=bearer()
            )
            assert response.status_code == 201  # the write does not depend on the broker
            goma = response.json()["id"]

            async def goma_pending_after_a_failed_attempt() -> bool:
                async with registry.runtime.sessions() as session:
                    row = (
                        await session.exec(
                            select(OUTBOX.c.published_at, OUTBOX.c.publish_attempts).where(
                                OUTBOX.c.message_key == goma
                            )
                        )
                    ).one()
                    return row.published_at is None and row.publish_attempts >= 1

            await eventually(
                goma_pending_after_a_failed_attempt, within=30, what="a failed publish attempt"
            )
            ready = await registry.client.get("/readyz")
            assert ready.status_code == 503 and "broker" in ready.json()["failures"]

            own_broker.start_broker()  # memory storage: it comes back empty
            records = await read_topic(
                own_broker.bootstrap_servers,
                TOPIC,
                lambda records: any(r.key == goma.encode() for r in records),
                within=30,
            )
            goma_events = [json.loads(r.value) for r in records if r.key == goma.encode()]
            assert [(e["type"], e["data"]["name"]) for e in goma_events] == [
                ("CityRegistered", "Goma")
            ]
    finally:
        own_broker.stop()
