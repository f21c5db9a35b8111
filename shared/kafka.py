"""The Kafka adapter: one producer per process, topic creation, and a cheap reachability check."""

import asyncio
import logging

from aiokafka import AIOKafkaClient, AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code

from shared.settings import ServiceSettings

log = logging.getLogger(__name__)


class KafkaBus:
    def __init__(self, settings: ServiceSettings, client_id: str, topics: set[str]) -> None:
        self._settings = settings
        self._client_id = client_id
        self._topics = topics
        self._producer: AIOKafkaProducer | None = None
        self._connecting = asyncio.Lock()

    @property
    def bootstrap_servers(self) -> str:
        return self._settings.kafka_bootstrap_servers

    async def producer(self) -> AIOKafkaProducer:
        """The started producer, connecting (and creating this service's topics) on first use.
        Raises KafkaError while the broker is unreachable; callers retry with backoff."""
        async with self._connecting:
            if self._producer is None:
                await self.ensure_topics(self._topics)
                producer = AIOKafkaProducer(
                    bootstrap_servers=self.bootstrap_servers,
                    client_id=self._client_id,
                    acks="all",
                    enable_idempotence=self._settings.kafka_enable_idempotence,
                    linger_ms=2,
                    # A batch the broker does not take within 10 s fails, so the relay records
                    # the attempt and retries with a fresh connection, rather than waiting out
                    # aiokafka's 40 s while operators see nothing.
                    request_timeout_ms=10_000,
                )
                try:
                    await producer.start()
                except BaseException:
                    await producer.stop()
                    raise
                self._producer = producer
            return self._producer

    def consumer(self, topics: list[str], group_id: str) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            *topics,
            bootstrap_servers=self.bootstrap_servers,
            client_id=self._client_id,
            group_id=group_id,
            enable_auto_commit=False,  # offsets are committed after the inbox transaction
            auto_offset_reset="earliest",
            session_timeout_ms=self._settings.kafka_session_timeout_ms,
            heartbeat_interval_ms=self._settings.kafka_heartbeat_interval_ms,
            fetch_max_wait_ms=self._settings.kafka_fetch_max_wait_ms,
        )

    async def ensure_topics(self, topics: set[str]) -> None:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=self.bootstrap_servers, client_id=self._client_id
        )
        await admin.start()
        try:
            existing = set(await admin.list_topics())
            missing = sorted(topics - existing)
            if missing:
                new = [
                    NewTopic(
                        name,
                        num_partitions=self._settings.kafka_topic_partitions,
                        replication_factor=self._settings.kafka_replication_factor,
                        # The topics are the system's event log: read models (matching's) are
                        # rebuilt by replaying them from the start, so nothing may expire.
                        topic_configs={"retention.ms": "-1"},
                    )
                    for name in missing
                ]
                response = await admin.create_topics(new)
                for topic, code, *_ in response.topic_errors:
                    # Another service may create the same topic between our list and create.
                    if code not in (0, TopicAlreadyExistsError.errno):
                        raise for_code(code)(f"cannot create topic {topic}")
                log.info("topics ready", extra={"topics": missing})
        finally:
            await admin.close()

    async def ping(self) -> None:
        """Raises KafkaError when no bootstrap server answers a metadata request."""
        client = AIOKafkaClient(bootstrap_servers=self.bootstrap_servers, request_timeout_ms=3000)
        try:
            await client.bootstrap()
        finally:
            await client.close()

    async def reset_producer(self) -> None:
        """Drop the producer after a failure so that the next use reconnects from scratch."""
        async with self._connecting:
            producer, self._producer = self._producer, None
        if producer is not None:
            try:
                await producer.stop()
            except KafkaError:
                log.debug("producer stop failed", exc_info=True)

    async def close(self) -> None:
        await self.reset_producer()
