"""The idempotent consumer. Each event is handled in one database transaction that also records
`(consumer, event id)` in the inbox under a primary key, so a redelivered event finds its id and
is skipped; Kafka offsets are committed only after that transaction commits.

Failures are sorted by what a retry can change:
- a message that cannot be read (not a CloudEvent, a payload that does not validate, a schema
  version this code does not know) goes to the dead-letter topic at once;
- a database that cannot be reached blocks the partition and is retried without end, since every
  later message would fail the same way and nothing must be skipped;
- any other handler error is retried a few times, then the message goes to the dead-letter topic
  with the error, and the consumer moves on.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from pydantic import ValidationError
from sqlalchemy import Column, PrimaryKeyConstraint, String, Table, insert
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.backoff import Backoff
from shared.contracts import EventSpec
from shared.contracts.catalogue import dead_letter_topic
from shared.db import PLUMBING_METADATA, UTCDateTime, utcnow
from shared.events import (
    Event,
    MalformedEvent,
    current_causation_id,
    current_correlation_id,
    current_event_id,
    decode,
)
from shared.kafka import KafkaBus

log = logging.getLogger(__name__)

INBOX = Table(
    "inbox",
    PLUMBING_METADATA,
    Column("consumer", String(100), nullable=False),
    Column("event_id", String(36), nullable=False),
    Column("event_type", String(100), nullable=False),
    Column("processed_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("consumer", "event_id"),
)

# The payload argument is the typed model of the handled EventSpec.
Handler = Callable[[AsyncSession, Event, Any], Awaitable[None]]


class Outcome(Enum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"  # a type this consumer has no handler for
    DEAD_LETTERED = "dead-lettered"


class Unreadable(Exception):
    """The message can never be handled by this code: dead-letter it without retrying."""


@dataclass(frozen=True)
class ConsumerPolicy:
    max_attempts: int = 5
    first_backoff_seconds: float = 0.05
    max_backoff_seconds: float = 10.0


def _is_unavailable(exc: BaseException) -> bool:
    """True for errors of reaching the database rather than of the event's content."""
    if isinstance(exc, OperationalError | OSError | ConnectionError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


class EventConsumer:
    def __init__(
        self,
        name: str,
        handlers: Mapping[EventSpec, Handler],
        sessions: async_sessionmaker[AsyncSession],
        bus: KafkaBus,
        policy: ConsumerPolicy,
    ) -> None:
        self.name = name
        self._handlers = {spec.type: (spec, handler) for spec, handler in handlers.items()}
        self._sessions = sessions
        self._bus = bus
        self._policy = policy
        self.topics = sorted({spec.topic for spec in handlers})
        self._consumer: AIOKafkaConsumer | None = None

    @property
    def dead_letter_topic(self) -> str:
        return dead_letter_topic(self.name)

    async def run(self) -> None:
        """Consume until cancelled; reconnects with backoff when the broker goes away."""
        backoff = Backoff()
        while True:
            consumer = self._bus.consumer(self.topics, group_id=self.name)
            self._consumer = consumer
            try:
                await self._bus.producer()  # creates the topics and readies the dead-letter path
                await consumer.start()
                backoff.reset()
                await self._consume(consumer)
            except KafkaError as exc:
                log.warning("consumer lost the broker, will retry", extra={"error": repr(exc)})
                await backoff.wait()
            finally:
                self._consumer = None
                await consumer.stop()

    def assigned_partitions(self) -> list[str]:
        """The partitions this instance consumes now: instances of one service share the work."""
        if self._consumer is None:
            return []
        return sorted(f"{tp.topic}/{tp.partition}" for tp in self._consumer.assignment())

    async def _consume(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=1000, max_records=200)
            for partition, records in batches.items():
                for record in records:
                    await self.handle_record(record)
                await self._commit(consumer, partition, records[-1].offset + 1)

    async def _commit(
        self, consumer: AIOKafkaConsumer, partition: TopicPartition, offset: int
    ) -> None:
        try:
            await consumer.commit({partition: offset})
        except (CommitFailedError, IllegalStateError) as exc:
            # The partition moved to another instance in a rebalance; it will see these records
            # again and its inbox will skip the ones already applied.
            log.info("offset commit skipped after rebalance", extra={"error": repr(exc)})

    async def handle_record(self, record: ConsumerRecord) -> Outcome:
        try:
            event_ = decode(record.value)
        except MalformedEvent as exc:
            await self._dead_letter(record, f"malformed: {exc}")
            return Outcome.DEAD_LETTERED
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self.process(event_)
            except Unreadable as exc:
                await self._dead_letter(record, f"unreadable: {exc}")
                return Outcome.DEAD_LETTERED
            except Exception as exc:
                if _is_unavailable(exc):
                    log.warning("database unavailable, retrying", extra={"error": repr(exc)})
                elif attempt >= self._policy.max_attempts:
                    log.exception("handler failed, dead-lettering", extra={"event_id": event_.id})
                    await self._dead_letter(record, f"handler failed {attempt} times: {exc!r}")
                    return Outcome.DEAD_LETTERED
                else:
                    log.warning(
                        "handler failed, retrying", extra={"error": repr(exc), "attempt": attempt}
                    )
                await asyncio.sleep(self._backoff(attempt))

    def _backoff(self, attempt: int) -> float:
        return min(
            self._policy.first_backoff_seconds * 2 ** (attempt - 1),
            self._policy.max_backoff_seconds,
        )

    async def process(self, event_: Event) -> Outcome:
        """Apply one event exactly once for this consumer (the inbox makes repeats no-ops)."""
        known = self._handlers.get(event_.type)
        if known is None:
            return Outcome.IGNORED
        spec, handler = known
        if event_.schema_version > spec.version:
            raise Unreadable(
                f"{event_.type} schema version {event_.schema_version} is newer than {spec.version}"
            )
        try:
            payload = event_.payload(spec)
        except ValidationError as exc:
            raise Unreadable(f"{event_.type} payload invalid: {exc}") from exc
        tokens = (
            current_event_id.set(event_.id),
            current_correlation_id.set(event_.correlation_id),
            current_causation_id.set(event_.id),
        )
        try:
            async with self._sessions() as session:
                try:
                    await session.exec(
                        insert(INBOX).values(
                            consumer=self.name,
                            event_id=event_.id,
                            event_type=event_.type,
                            processed_at=utcnow(),
                        )
                    )
                except IntegrityError:
                    await session.rollback()
                    log.info("duplicate event skipped", extra={"event_type": event_.type})
                    return Outcome.DUPLICATE
                await handler(session, event_, payload)
                await session.commit()
            log.info("event applied", extra={"event_type": event_.type})
            return Outcome.APPLIED
        finally:
            current_event_id.reset(tokens[0])
            current_correlation_id.reset(tokens[1])
            current_causation_id.reset(tokens[2])

    async def _dead_letter(self, record: ConsumerRecord, error: str) -> None:
        # The original key and value are kept as they were, so the message can be replayed onto
        # its topic once the cause is fixed; the error and origin travel in headers.
        headers = [
            ("dlq-error", error[:4000].encode("utf-8")),
            ("dlq-consumer", self.name.encode()),
            ("dlq-topic", record.topic.encode()),
            ("dlq-partition", str(record.partition).encode()),
            ("dlq-offset", str(record.offset).encode()),
        ]
        backoff = Backoff()
        while True:
            try:
                producer = await self._bus.producer()
                await producer.send_and_wait(
                    self.dead_letter_topic, value=record.value, key=record.key, headers=headers
                )
                log.error("message dead-lettered", extra={"error": error, "offset": record.offset})
                return
            except KafkaError as exc:
                log.warning("cannot reach dead-letter topic, retrying", extra={"error": repr(exc)})
                await self._bus.reset_producer()
                await backoff.wait()
