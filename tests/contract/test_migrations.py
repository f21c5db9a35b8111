"""Each service's migrations build exactly the schema of its models, on SQLite and PostgreSQL:
a model changed without a revision fails here, saying what to run."""

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import Column, Enum, Integer, MetaData, inspect, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from services.funding.ledger import store as ledger
from services.funding.ledger.accounts import Account, Line, MovementKind, Side
from services.funding.models import Fund
from services.matching.app import DEFINITION as MATCHING
from shared import db, migrations
from tests.conftest import DatabaseFactory
from tests.helpers import serve

EngineFactory = Callable[[str], Awaitable[AsyncEngine]]


@pytest.fixture
async def database(new_database: DatabaseFactory) -> AsyncIterator[EngineFactory]:
    """An engine on a new, empty database for a service."""
    made: list[AsyncEngine] = []

    async def engine(service: str) -> AsyncEngine:
        made.append(db.create_engine(await new_database(service)))
        return made[-1]

    try:
        yield engine
    finally:
        for engine_made in made:
            await engine_made.dispose()


async def _objects(engine: AsyncEngine) -> dict[str, set[str]]:
    """The triggers, trigger functions (their bodies) and indexes in the database."""
    async with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            rows = await connection.execute(
                text("SELECT type, name, sql FROM sqlite_master WHERE type IN ('trigger', 'index')")
            )
            found = rows.all()
            return {
                "triggers": {sql for kind, _name, sql in found if kind == "trigger"},
                "indexes": {name for kind, name, _sql in found if kind == "index"},
            }
        triggers = await connection.scalars(
            text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")
        )
        functions = await connection.execute(
            text(
                "SELECT p.proname, p.prosrc FROM pg_proc p JOIN pg_namespace n "
                "ON n.oid = p.pronamespace WHERE n.nspname = current_schema()"
            )
        )
        indexes = await connection.scalars(
            text("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()")
        )
        return {
            "triggers": set(triggers),
            "functions": {f"{name}: {body.strip()}" for name, body in functions},
            "indexes": set(indexes),
        }


def _expected(service: str, dialect: str) -> dict[str, set[str]]:
    """What the models' one-dialect DDL (DDL events, `ddl_if` indexes) makes on `dialect`."""
    statements = [
        ddl.statement
        for ddl in migrations.dialect_ddl(migrations.target_metadata(service))
        if ddl.dialect == dialect
    ]
    indexes = {m[1] for s in statements if (m := re.match(r"CREATE INDEX (\w+)", s))}
    if dialect == "sqlite":
        return {
            "triggers": {s for s in statements if s.startswith("CREATE TRIGGER")},
            "indexes": indexes,
        }
    triggers = {m[1] for s in statements if (m := re.match(r"CREATE TRIGGER (\w+)", s))}
    function = r"CREATE (?:OR REPLACE )?FUNCTION (\w+)\(\).* AS \$\$(.*)\$\$$"
    functions = {
        f"{m[1]}: {m[2].strip()}" for s in statements if (m := re.match(function, s, re.DOTALL))
    }
    return {"triggers": triggers, "functions": functions, "indexes": indexes}


@pytest.mark.parametrize("service", migrations.SERVICES)
async def test_migrating_an_empty_database_gives_the_schema_of_the_models(
    database: EngineFactory, service: str
) -> None:
    engine = await database(service)
    await migrations.upgrade(engine, service)

    differences = await migrations.schema_differences(engine, service)
    assert differences == [], (
        f"{service}'s models differ from its migrations: {differences}\n"
        f'Write the revision: make migration SERVICE={service} MESSAGE="what changed", '
        f"read it, and commit it with the model change."
    )
    expected = _expected(service, engine.dialect.name)
    found = await _objects(engine)
    assert found["triggers"] == expected["triggers"], (
        f"{service}: the triggers the migrations made differ from the models' DDL events: "
        "a revision must create (or replace) them, with op.execute_for (shared.migrations)"
    )
    assert found.get("functions", set()) >= expected.get("functions", set())
    assert found["indexes"] >= expected["indexes"]
    assert await migrations.current_revision(engine, service) == migrations.head_revision(service)


@pytest.mark.parametrize("service", migrations.SERVICES)
async def test_downgrading_to_nothing_leaves_an_empty_database_and_upgrading_again_works(
    database: EngineFactory, service: str
) -> None:
    engine = await database(service)
    await migrations.upgrade(engine, service)
    await migrations.downgrade(engine, service, "base")

    async with engine.connect() as connection:
        tables = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
        assert tables == [migrations.version_table(service)]
        if engine.dialect.name == "postgresql":
            kinds = "SELECT typname FROM pg_type WHERE typtype = 'e'"
            assert list(await connection.scalars(text(kinds))) == []
    left = await _objects(engine)
    assert not left["triggers"] and not left.get("functions")
    await migrations.upgrade(engine, service)
    assert await migrations.schema_differences(engine, service) == []


async def test_a_database_made_before_migrations_is_refused(
    database: EngineFactory,
) -> None:
    engine = await database("registry")
    await db.create_schema(engine, migrations.target_metadata("registry")[0])
    for attempt in (migrations.upgrade, migrations.require_head):
        with pytest.raises(migrations.NotMigrated, match="made before migrations"):
            await attempt(engine, "registry")


async def test_the_migrated_ledger_refuses_update_and_delete(
    database: EngineFactory,
) -> None:
    engine = await database("funding")
    await migrations.upgrade(engine, "funding")
    await _post_a_pledge(engine)
    for statement in ("UPDATE ledger_entries SET amount_minor = 1", "DELETE FROM ledger_movements"):
        async with AsyncSession(engine) as session:
            with pytest.raises(DBAPIError, match="append-only"):
                await session.exec(text(statement))  # type: ignore[call-overload]


async def _post_a_pledge(engine: AsyncEngine) -> None:
    async with db.session_factory(engine)() as session:
        fund = Fund(name="Fonds de solidarité", currency="EUR")
        session.add(fund)
        await session.flush()
        movement = ledger.LedgerMovement(fund_id=fund.id, kind=MovementKind.PLEDGE, recorded_by="t")
        lines = [
            Line(Account.PLEDGES_RECEIVABLE, Side.DEBIT, 500, "EUR"),
            Line(Account.CONTRIBUTIONS, Side.CREDIT, 500, "EUR"),
        ]
        await ledger.post(session, movement, lines)
        await session.commit()


async def test_sqlite_copies_a_table_without_touching_the_rows_that_reference_it(
    database: EngineFactory,
) -> None:
    """SQLite alters a table by copying it and dropping the old one; with foreign keys on, the
    drop would refuse (or cascade to) the rows referencing it. Migrations run with them off."""
    engine = await database("funding")
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL alters a table in place")
    await migrations.upgrade(engine, "funding")
    await _post_a_pledge(engine)

    def copy_funds(config: Config) -> None:
        operations = Operations(MigrationContext.configure(config.attributes["connection"]))
        with operations.batch_alter_table("funds", recreate="always"):
            pass

    await migrations._on(engine, "funding", copy_funds)

    async with engine.connect() as connection:
        assert await connection.scalar(text("SELECT count(*) FROM ledger_movements")) == 1
        assert await connection.scalar(text("PRAGMA foreign_keys")) == 1  # on again


async def test_a_model_change_without_a_revision_is_found(
    database: EngineFactory,
) -> None:
    """The check above can fail: a column and an enum member the migrations do not have."""
    engine = await database("funding")
    await migrations.upgrade(engine, "funding")
    changed = MetaData()
    for metadata in migrations.target_metadata("funding"):
        for table in metadata.sorted_tables:
            table.to_metadata(changed)
    funds = changed.tables["funds"]
    funds.append_column(Column("motto", Integer, nullable=True))
    funds.c.status.type = Enum(*funds.c.status.type.enums, "SUSPENDED_FOR_AUDIT", name="fundstatus")

    differences = await migrations.schema_differences(engine, "funding", [changed])

    # Column changes come grouped per column; the rest one by one.
    changes = [c for d in differences for c in (d if isinstance(d, list) else [d])]
    what = {(c[0], c[2], c[3].name if c[0] == "add_column" else c[3]) for c in changes}
    assert what == {("add_column", "funds", "motto"), ("modify_type", "funds", "status")}


async def test_a_database_behind_the_code_is_refused_when_services_do_not_migrate(
    database: EngineFactory,
) -> None:
    engine = await database("matching")
    with pytest.raises(migrations.NotMigrated, match="upgrade --service matching"):
        await migrations.require_head(engine, "matching")
    await migrations.upgrade(engine, "matching")
    await migrations.require_head(engine, "matching")
    await migrations.upgrade(engine, "matching")  # at head already: nothing to do
    assert await migrations.current_revision(engine, "matching") == migrations.head_revision(
        "matching"
    )

    # A newer version migrated it: this code neither runs on it nor tries to migrate it.
    async with engine.begin() as connection:
        table = migrations.version_table("matching")
        await connection.execute(text(f"UPDATE {table} SET version_num = '9999'"))
    for attempt in (migrations.require_head, migrations.upgrade):
        with pytest.raises(migrations.NotMigrated, match="9999, which this code does not know"):
            await attempt(engine, "matching")


async def test_the_operators_command_migrates_and_checks(new_database: DatabaseFactory) -> None:
    url = await new_database("notifications")
    command = ["--service", "notifications", "--url", url]
    # The command runs its own event loop, as it does from a shell.
    assert await asyncio.to_thread(migrations.main, ["check", *command]) == 1
    assert await asyncio.to_thread(migrations.main, ["upgrade", *command]) == 0
    assert await asyncio.to_thread(migrations.main, ["check", *command]) == 0


async def test_a_service_told_not_to_migrate_starts_only_on_a_migrated_database(
    new_database: DatabaseFactory,
) -> None:
    url = await new_database("matching")
    settings = MATCHING.settings(database_url=url, migrate_on_start=False)
    with pytest.raises(migrations.NotMigrated, match="this code needs"):
        async with serve(MATCHING, settings):
            pass
    assert (
        await asyncio.to_thread(migrations.main, ["upgrade", "--service", "matching", "--url", url])
        == 0
    )
    async with serve(MATCHING, settings) as service:
        assert (await service.client.get("/readyz")).status_code == 200
