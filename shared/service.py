"""The composition root every service shares: it wires a service's routes, tables and event
handlers to a database, the outbox relay and a Kafka consumer, and runs it under uvicorn."""

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated

import uvicorn
from fastapi import APIRouter, Depends, FastAPI, Request
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from shared import db, migrations
from shared.auth import REVOCATION_HANDLERS, TokenVerifier
from shared.backoff import Backoff
from shared.contracts import EventSpec
from shared.contracts.catalogue import dead_letter_topic
from shared.http import health_router, install_http_plumbing
from shared.inbox import ConsumerPolicy, EventConsumer, Handler
from shared.kafka import KafkaBus
from shared.logs import configure_logging
from shared.outbox import WAKE_RELAY, OutboxRelay
from shared.retention import Retention, run_janitor
from shared.settings import ServiceSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServiceDefinition:
    name: str
    title: str
    description: str
    metadata: MetaData
    router: APIRouter
    settings: type[ServiceSettings]
    produces: Sequence[EventSpec]
    handlers: Mapping[EventSpec, Handler] = field(default_factory=dict)
    # Runs once the schema exists, before the first request (e.g. the registry's first admin).
    on_startup: Callable[[FastAPI, "Runtime"], Awaitable[None]] | None = None
    # Loops of the service's own (e.g. matching's expiry of overdue proposals), run and restarted
    # like the relay and the consumer, alongside them.
    background: Sequence[Callable[["Runtime"], Awaitable[None]]] = ()
    # The service's own finished rows the janitor purges, from its settings (shared.retention).
    retention: Callable[[ServiceSettings], Sequence[Retention]] | None = None


@dataclass
class Runtime:
    settings: ServiceSettings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    bus: KafkaBus
    relay: OutboxRelay
    consumer: EventConsumer
    verifier: TokenVerifier


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.runtime.sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(_session)]


async def _supervised(name: str, run: Callable[[], Awaitable[None]]) -> None:
    """Keep a background loop alive: the loops retry what they expect; this catches the rest."""
    backoff = Backoff(first=0.5, most=30.0)
    while True:
        try:
            await run()
        except Exception:
            log.exception("%s stopped unexpectedly; restarting", name)
            await backoff.wait()


def build_runtime(definition: ServiceDefinition, settings: ServiceSettings) -> Runtime:
    """Builds everything; nothing connects to the broker until the loops start."""
    engine = db.create_engine(settings.database_url)
    consumed = {spec.topic for spec in [*definition.handlers, *REVOCATION_HANDLERS]}
    topics = {spec.topic for spec in definition.produces} | consumed
    topics.add(dead_letter_topic(definition.name))
    bus = KafkaBus(settings, client_id=definition.name, topics=topics)
    relay = OutboxRelay(
        db.session_factory(engine), bus, settings.outbox_batch_size, settings.outbox_poll_seconds
    )
    sessions = db.session_factory(engine, **{WAKE_RELAY: relay.wake})
    handlers = {**REVOCATION_HANDLERS, **definition.handlers}
    policy = ConsumerPolicy(max_attempts=settings.consumer_max_attempts)
    consumer = EventConsumer(definition.name, handlers, sessions, bus, policy)
    return Runtime(settings, engine, sessions, bus, relay, consumer, TokenVerifier(settings))


def create_service_app(
    definition: ServiceDefinition,
    settings: ServiceSettings | None = None,
    *,
    messaging: bool = True,
) -> FastAPI:
    """With `messaging=False` the relay and consumer loops do not run (events stay in the
    outbox, nothing is consumed): the HTTP API alone, for service tests."""
    runtime = build_runtime(definition, settings or definition.settings())

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if runtime.settings.migrate_on_start:
            await migrations.upgrade(runtime.engine, definition.name)
        else:  # a deploy job migrates: only make sure it did
            await migrations.require_head(runtime.engine, definition.name)
        if definition.on_startup:
            await definition.on_startup(app, runtime)
        tasks = []
        if messaging:
            tasks.append(asyncio.create_task(_supervised("outbox relay", runtime.relay.run)))
            tasks.append(asyncio.create_task(_supervised("consumer", runtime.consumer.run)))
            janitor = functools.partial(
                run_janitor,
                runtime.sessions,
                runtime.settings.outbox_retention_days,
                runtime.settings.inbox_retention_days,
                runtime.settings.purge_every_seconds,
                definition.retention(runtime.settings) if definition.retention else (),
            )
            tasks.append(asyncio.create_task(_supervised("janitor", janitor)))
            for loop in definition.background:
                run = functools.partial(loop, runtime)
                tasks.append(asyncio.create_task(_supervised(loop.__name__, run)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await runtime.bus.close()
            await runtime.engine.dispose()

    app = FastAPI(title=definition.title, description=definition.description, lifespan=lifespan)
    app.state.runtime = runtime
    install_http_plumbing(app)
    checks: dict[str, Callable[[], Awaitable[None]]] = {"database": lambda: db.ping(runtime.engine)}
    if messaging:
        checks["broker"] = runtime.bus.ping
    app.include_router(
        health_router(
            checks, lambda: {"consumer_partitions": runtime.consumer.assigned_partitions()}
        )
    )
    app.include_router(definition.router)
    return app


def serve(definition: ServiceDefinition) -> None:
    """Run a service as a process (`python -m services.<name>`), configured from the environment."""
    settings = definition.settings()
    configure_logging(definition.name, settings.log_level)
    app = create_service_app(definition, settings)
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, access_log=False)
