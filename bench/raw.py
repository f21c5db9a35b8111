"""The baseline: plain aiokafka produce -> consume on a fresh topic of the same broker, with the
producer settings the product's relay uses (acks="all", linger_ms=2, no idempotence) and the
consumer's fetch wait the product's consumers use, so that the difference with the pipeline is
the product's own work rather than client tuning."""

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench.stats import Latencies, Throughput, sleep_until
from shared.settings import ServiceSettings

# As many partitions as the product's topics (KAFKA_TOPIC_PARTITIONS defaults to 3).
PARTITIONS = 3


async def _fresh_topic(bootstrap: str) -> str:
    topic = f"bench.raw.{uuid.uuid4().hex[:12]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="bench")
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, PARTITIONS, replication_factor=1)])
    finally:
        await admin.close()
    return topic


@contextlib.asynccontextmanager
async def _clients(
    bootstrap: str, topic: str
) -> AsyncIterator[tuple[AIOKafkaProducer, AIOKafkaConsumer]]:
    """A producer that already knows the topic's partitions and a consumer at its beginning, so
    that no connection or metadata round trip falls inside a measurement."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id="bench-producer",
        acks="all",
        enable_idempotence=False,  # the Tansu broker rejects the idempotent producer
        linger_ms=2,
    )
    # No group: partitions are assigned by hand, so there is no rebalance to wait for.
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        client_id="bench-consumer",
        enable_auto_commit=False,
        fetch_max_wait_ms=ServiceSettings().kafka_fetch_max_wait_ms,
    )
    try:
        await producer.start()
        await consumer.start()
        await producer.partitions_for(topic)
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        yield producer, consumer
    finally:
        await producer.stop()
        await consumer.stop()


async def _consume(
    consumer: AIOKafkaConsumer, wanted: int, deadline: float, arrivals: dict[bytes, float]
) -> None:
    """Record the wall-clock arrival time of each message by key until `wanted` or `deadline`."""
    while len(arrivals) < wanted and time.perf_counter() < deadline:
        batches = await consumer.getmany(timeout_ms=100)
        now = time.time()
        for records in batches.values():
            for record in records:
                assert record.key is not None
                arrivals[record.key] = now


async def throughput(bootstrap: str, envelopes: list[bytes], max_wait: float) -> Throughput:
    """Send every envelope as fast as the producer takes them; time first send -> last consumed."""
    topic = await _fresh_topic(bootstrap)
    async with _clients(bootstrap, topic) as (producer, consumer):
        arrivals: dict[bytes, float] = {}
        started_wall, started = time.time(), time.perf_counter()
        consuming = asyncio.create_task(
            _consume(consumer, len(envelopes), started + max_wait, arrivals)
        )
        # Same shape as the outbox relay: queue the whole batch, then wait for every ack.
        acks = [
            await producer.send(topic, value=value, key=str(i).encode())
            for i, value in enumerate(envelopes)
        ]
        await asyncio.gather(*acks)
        acked = time.time() - started_wall
        await consuming
        last = max(arrivals.values(), default=started_wall)
        return Throughput(
            len(envelopes), len(arrivals), last - started_wall, {"all sends acked": acked}
        )


async def latency(
    bootstrap: str, envelope: bytes, rate: float, seconds: float, max_wait: float
) -> Latencies:
    """Send one envelope every 1/rate s; latency = arrival at the consumer - time before send."""
    topic = await _fresh_topic(bootstrap)
    async with _clients(bootstrap, topic) as (producer, consumer):
        count = round(rate * seconds)
        sent: dict[bytes, float] = {}
        arrivals: dict[bytes, float] = {}
        started = time.perf_counter()
        consuming = asyncio.create_task(
            _consume(consumer, count, started + seconds + max_wait, arrivals)
        )
        acks = []
        for i in range(count):
            await sleep_until(started + i / rate)
            key = str(i).encode()
            sent[key] = time.time()
            acks.append(await producer.send(topic, value=envelope, key=key))
        await asyncio.gather(*acks)
        await consuming
        return Latencies(count, [arrivals[key] - sent[key] for key in arrivals])
