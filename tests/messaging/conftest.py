"""Messaging tests: services run in this process against a real Tansu broker (see `broker`)."""

from collections.abc import AsyncIterator, Callable

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from shared.devstack import Stack
from shared.events import Event, encode
from tests.helpers import eventually


@pytest.fixture
async def producer(broker: Stack) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(
        bootstrap_servers=broker.bootstrap_servers, enable_idempotence=False
    )
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()


async def publish(producer: AIOKafkaProducer, topic: str, event: Event) -> None:
    """Put an event on a topic the way a relay would, bypassing any outbox."""
    message = encode(event)
    await producer.send_and_wait(
        topic,
        value=message.value,
        key=event.subject.encode(),
        headers=list(message.headers.items()),
    )


async def read_topic(
    bootstrap_servers: str,
    topic: str,
    wanted: Callable[[list[ConsumerRecord]], bool],
    within: float = 20.0,
) -> list[ConsumerRecord]:
    """Every record of `topic` from the start, read until `wanted` says enough (no consumer group,
    so reading commits nothing)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = await eventually(
            lambda: _partitions(consumer, topic), within, f"topic {topic} to exist"
        )
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        records: list[ConsumerRecord] = []

        async def enough() -> bool:
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                records.extend(batch)
            return wanted(records)

        await eventually(enough, within, f"the wanted records on {topic}")
        return records
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition] | None:
    await consumer._client.force_metadata_update()
    found = consumer.partitions_for_topic(topic)
    return [TopicPartition(topic, p) for p in sorted(found)] if found else None
