"""Database plumbing: engines for SQLite (embedded default) and PostgreSQL (production), a UTC
datetime type, and the metadata of the tables every service has (outbox, inbox, idempotency)."""

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import DateTime, MetaData, String, event, text
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.types import TypeDecorator
from sqlmodel.ext.asyncio.session import AsyncSession

# Connection option for a transaction that will only read: set it with `read_only(session)`.
READ_ONLY = "cx_read_only"

# Plumbing tables (outbox, inbox, idempotency keys) live here, apart from each service's own
# metadata, so the same definitions serve every service's database.
PLUMBING_METADATA = MetaData()


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on the way in and out; SQLite keeps no zone, PostgreSQL does."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: use datetime.now(UTC)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class ExactDecimal(TypeDecorator[Decimal]):
    """A Decimal kept as its text, digit for digit: SQLite holds NUMERIC as a float, which could
    change the 15th digit of a recorded exchange rate."""

    impl = String(40)
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> str | None:
        return None if value is None else str(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value)


def utcnow() -> datetime:
    return datetime.now(UTC)


def create_engine(url: str) -> AsyncEngine:
    if not url.startswith("sqlite"):
        return create_async_engine(url, pool_pre_ping=True)
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url)
    _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: AsyncEngine) -> None:
    # The driver's own transaction handling is switched off so that every transaction starts
    # with BEGIN IMMEDIATE: writers queue on busy_timeout instead of failing with "database is
    # locked" when two read-then-write transactions meet (the API, the relay and the consumer
    # all write to the same file).
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection) -> None:  # type: ignore[no-untyped-def]
        # A transaction that only reads (see READ_ONLY) takes no write lock: the outbox relay's
        # frequent look for unpublished rows must not queue behind, or hold up, the writers.
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN DEFERRED" if read_only else "BEGIN IMMEDIATE")


async def create_schema(engine: AsyncEngine, metadata: MetaData) -> None:
    """Tables straight from the models, for scratch databases only (benchmarks, tests of a
    table's own DDL): a service's database is made and changed by its migrations
    (shared.migrations), which alone record the revision it is at."""
    async with engine.begin() as connection:
        await connection.run_sync(PLUMBING_METADATA.create_all)
        await connection.run_sync(metadata.create_all)


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


async def read_only(session: AsyncSession) -> None:
    """Declare, before its first statement, that the session will only read. On SQLite its
    transaction then takes no write lock (BEGIN DEFERRED, see _configure_sqlite); on PostgreSQL it
    runs in autocommit, sparing a BEGIN and a ROLLBACK round trip (the revocation check of every
    authenticated request, the relay's poll): each read still sees what was committed before it,
    as at READ COMMITTED."""
    options: dict[str, object] = {READ_ONLY: True}
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        options["isolation_level"] = "AUTOCOMMIT"
    await session.connection(execution_options=options)


def session_factory(engine: AsyncEngine, **info: object) -> async_sessionmaker:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False, info=dict(info))
