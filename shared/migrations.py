"""Schema migrations: one alembic history per service, in `services/<service>/migrations/`, each
kept in its own version table (`alembic_version_<service>`). The schema is the service's own
metadata plus the plumbing tables every service has (shared.db.PLUMBING_METADATA).

Services migrate their database to the latest revision as they start (`upgrade`), unless
`CX_MIGRATE_ON_START=false`, where a deploy job migrates first and a service refuses a database
that is not at its head. Tests migrate every fresh database the same way, so the tested path is
the production path.

Objects that `create_all` would add through DDL events (the ledger's append-only triggers, the
registry's language mirrors) are invisible to alembic's autogenerate: when a revision creates a
table, its `after_create` DDL is copied into the revision as literal SQL (`op.execute_for`), so a
migration never changes when the model's code does.

Operators: `python -m shared.migrations upgrade|current|check|downgrade --service <name>
[--url <database url>]` (the URL defaults to the service's own setting, e.g. FUNDING_DATABASE_URL).
Developers: `make migration SERVICE=funding MESSAGE="what changed"` writes the next revision by
comparing the models with a scratch database migrated to the current head."""

import argparse
import asyncio
import contextlib
import functools
import importlib
import pkgutil
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command, context
from alembic.autogenerate import compare_metadata, renderers
from alembic.autogenerate.api import AutogenContext
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.operations import MigrateOperation, Operations
from alembic.operations.ops import CreateTableOp, DropTableOp, MigrationScript
from alembic.runtime.environment import EnvironmentContext
from alembic.script import Script, ScriptDirectory
from sqlalchemy import DDL, MetaData, dialects, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.schema import CreateIndex
from sqlalchemy.types import Enum, SchemaType, TypeDecorator, TypeEngine
from sqlmodel.sql.sqltypes import AutoString

from shared import db

SERVICES = ("registry", "matching", "funding", "notifications")
ROOT = Path(__file__).resolve().parent.parent
# One env.py and one revision template for every service; only the histories are apart.
SCRIPT_LOCATION = Path(__file__).resolve().parent / "migrations_env"


def versions_dir(service: str) -> Path:
    return ROOT / "services" / service / "migrations"


def version_table(service: str) -> str:
    return f"alembic_version_{service}"


def target_metadata(service: str) -> list[MetaData]:
    """The service's tables, wherever they are declared (a tool's own table too, such as the
    registry's bulk import ledger, which the service itself never imports), and the plumbing."""
    package = importlib.import_module(f"services.{service}")
    for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
        # Not __main__, which would start the service, nor the revisions.
        if not module.name.endswith("__main__") and ".migrations" not in module.name:
            importlib.import_module(module.name)
    definition = importlib.import_module(f"services.{service}.app").DEFINITION
    return [definition.metadata, db.PLUMBING_METADATA]


def _config(service: str) -> Config:
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}: one of {', '.join(SERVICES)}")
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", str(versions_dir(service)))
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    config.set_main_option("truncate_slug_length", "60")
    config.attributes["service"] = service
    return config


# --- DDL events in revisions ---------------------------------------------------------------


@dataclass(frozen=True)
class DialectDDL:
    """One statement a table's `after_create` event runs, on one dialect."""

    table: str
    dialect: str
    statement: str


def _sqlalchemy_own(listener: object) -> bool:
    """SQLAlchemy's own listeners (an Enum creating its PostgreSQL type), which alembic handles."""
    func = getattr(listener, "func", listener)
    return isinstance(getattr(func, "__self__", None), SchemaType)


def _only_on(item: object) -> str | None:
    """The one dialect a schema item is made on (`Index(...).ddl_if(dialect=...)`), if any."""
    condition = getattr(item, "_ddl_if", None)
    if condition is None:
        return None
    if not isinstance(condition.dialect, str) or condition.callable_ is not None:
        raise TypeError(f"{item!r}: only ddl_if(dialect='...') can be migrated")
    return condition.dialect


def dialect_ddl(metadata: Sequence[MetaData]) -> list[DialectDDL]:
    """What `create_all` makes on one dialect only, table by table: the statements of
    `after_create` DDL events, and the indexes made on one dialect (`ddl_if`). Only
    `DDL(...).execute_if(dialect=...)` listeners can be copied into a revision; anything else is
    refused here rather than lost."""
    found = []
    for meta in metadata:
        if any(not _sqlalchemy_own(listener) for listener in meta.dispatch.after_create):
            raise TypeError("DDL events on a MetaData cannot be migrated: attach them to a table")
        for table in meta.sorted_tables:
            for listener in [*table.dispatch.before_create, *table.dispatch.after_create]:
                if _sqlalchemy_own(listener):
                    continue
                dialect = getattr(getattr(listener, "_ddl_if", None), "dialect", None)
                if (
                    listener not in table.dispatch.after_create
                    or not isinstance(listener, DDL)
                    or not isinstance(dialect, str)
                ):
                    raise TypeError(
                        f"{table.name}: DDL event {listener!r} cannot be migrated; use "
                        "event.listen(table, 'after_create', DDL(sql).execute_if(dialect=...))"
                    )
                found.append(DialectDDL(table.name, dialect, listener.statement))
            for index in sorted(table.indexes, key=lambda index: str(index.name)):
                dialect = _only_on(index)
                if dialect is not None:
                    compiled = CreateIndex(index).compile(dialect=dialects.registry.load(dialect)())
                    found.append(DialectDDL(table.name, dialect, str(compiled).strip()))
    return found


@Operations.register_operation("execute_for")
class ExecuteForDialectOp(MigrateOperation):
    """`op.execute_for("sqlite", sql)`: SQL that only one dialect runs (a trigger, a function)."""

    def __init__(self, dialect: str, sql: str) -> None:
        self.dialect = dialect
        self.sql = sql

    @classmethod
    def execute_for(cls, operations: Operations, dialect: str, sql: str) -> None:
        operations.invoke(cls(dialect, sql))


@Operations.implementation_for(ExecuteForDialectOp)
def _execute_for(operations: Operations, operation: ExecuteForDialectOp) -> None:
    if operations.migration_context.dialect.name == operation.dialect:
        operations.execute(operation.sql)


@renderers.dispatch_for(ExecuteForDialectOp)
def _render_execute_for(_context: AutogenContext, operation: ExecuteForDialectOp) -> str:
    return f"op.execute_for({operation.dialect!r}, {operation.sql!r})"


# The objects a downgrade must drop itself (see _undo).
_TRIGGER = re.compile(r"^CREATE TRIGGER (\w+)")
_FUNCTION = re.compile(r"^CREATE (?:OR REPLACE )?FUNCTION (\w+)\(\)")


def _undo(event: DialectDDL) -> ExecuteForDialectOp | None:
    """What drops the object a one-dialect statement made: a trigger may sit on another table
    than the one it came with (a mirror's triggers are on its source), so it goes explicitly.
    On PostgreSQL a function goes with its triggers (CASCADE); an index goes with its table."""
    if event.dialect == "sqlite" and (trigger := _TRIGGER.match(event.statement)):
        return ExecuteForDialectOp("sqlite", f"DROP TRIGGER IF EXISTS {trigger[1]}")
    if event.dialect == "postgresql" and (function := _FUNCTION.match(event.statement)):
        return ExecuteForDialectOp("postgresql", f"DROP FUNCTION IF EXISTS {function[1]}() CASCADE")
    return None


def _add_dialect_ddl(script: MigrationScript, events: list[DialectDDL]) -> None:
    """Copy the one-dialect DDL of each table the revision creates right after its creation
    (autogenerate skips PostgreSQL's own indexes on SQLite: see `_options`), and in the
    downgrade drop what it made, and the PostgreSQL enum types of the tables it drops."""
    by_table: dict[str, list[DialectDDL]] = {}
    for event in events:
        by_table.setdefault(event.table, []).append(event)
    upgrade = []
    for operation in script.upgrade_ops.ops:  # type: ignore[union-attr]
        upgrade.append(operation)
        if isinstance(operation, CreateTableOp):
            upgrade += [
                ExecuteForDialectOp(e.dialect, e.statement)
                for e in by_table.get(operation.table_name, [])
            ]
    script.upgrade_ops.ops = upgrade  # type: ignore[union-attr]
    downgrade = []
    enum_types: dict[str, None] = {}  # in order, once each
    for operation in script.downgrade_ops.ops:  # type: ignore[union-attr]
        if isinstance(operation, DropTableOp):
            undo = [_undo(e) for e in by_table.get(operation.table_name, [])]
            downgrade += [op for op in undo if op is not None]
            for column in operation.to_table().columns:
                if isinstance(column.type, Enum) and column.type.native_enum:
                    enum_types[str(column.type.name)] = None
        downgrade.append(operation)
    # Alembic drops a table but not the enum types its columns made (after all the tables: two
    # tables may share one).
    downgrade += [ExecuteForDialectOp("postgresql", f"DROP TYPE IF EXISTS {t}") for t in enum_types]
    script.downgrade_ops.ops = downgrade  # type: ignore[union-attr]


# --- autogenerate: what to compare and how to write it -------------------------------------


def _render_item(kind: str, item: Any, autogen_context: AutogenContext) -> str | bool:
    """Types as plain SQLAlchemy ones, so that a revision depends on no application code:
    SQLModel's AutoString as String, our TypeDecorators (UTCDateTime, ExactDecimal) as what
    they store."""
    if kind != "type":
        return False
    if isinstance(item, AutoString):
        return f"sa.String(length={item.length})" if item.length else "sa.String()"
    if isinstance(item, TypeDecorator):
        return f"sa.{item.impl_instance!r}"
    return False


def _compare_type(
    migration_context: MigrationContext,
    inspected_column: Any,
    metadata_column: Any,
    inspected_type: TypeEngine[Any],
    metadata_type: TypeEngine[Any],
) -> bool | None:
    """Alembic does not compare the values of an enum: a member added to a model would pass
    unnoticed until PostgreSQL refused to store it (native enum) or a longer value outgrew its
    VARCHAR. Returns True when they differ, None to let alembic compare the rest."""
    if isinstance(metadata_type, Enum):
        if isinstance(inspected_type, Enum):
            return set(inspected_type.enums) != set(metadata_type.enums)
        length = getattr(inspected_type, "length", None)
        if length is not None and metadata_type.length is not None:
            return length != metadata_type.length
    return None


def _sequential_revision_id(script: ScriptDirectory) -> str:
    heads = script.get_heads()
    if not heads:
        return "0001"
    if len(heads) > 1 or not heads[0].isdigit():
        raise RuntimeError(
            f"several latest revisions {heads} (two branches each added one): renumber the newer "
            "one to follow the other (its file name, revision and down_revision)"
        )
    return f"{int(heads[0]) + 1:04d}"


def _options(service: str, dialect: str, *, compare: bool) -> dict[str, Any]:
    """How alembic sees a service's schema, when it migrates and when it compares. Only a
    comparison needs the models: migrating runs the revisions alone, so a service's start
    imports nothing more of it."""

    def include_object(item: Any, _name: Any, _kind: str, reflected: bool, _other: Any) -> bool:
        # An index made on another dialect only is not missing from this database.
        return reflected or _only_on(item) in (None, dialect)

    return {
        "target_metadata": target_metadata(service) if compare else None,
        "version_table": version_table(service),
        "include_object": include_object,
        "render_as_batch": True,  # SQLite alters a table by copying it
        "compare_type": _compare_type,
        "render_item": _render_item,
    }


def run_env() -> None:
    """The body of env.py: runs a migration command for the service named in the config, on
    the connection shared.migrations gives it."""
    config = context.config
    service = config.attributes["service"]
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations with python -m shared.migrations, not alembic's own CLI")
    options = _options(service, connection.dialect.name, compare=config.attributes["compare"])

    def process_revision_directives(
        _context: MigrationContext, _revision: Any, directives: list[MigrationScript]
    ) -> None:
        script = directives[0]
        if script.upgrade_ops.is_empty():  # type: ignore[union-attr]
            directives[:] = []
            print(f"{service}: the models match the latest revision, nothing to write")
            return
        script.rev_id = _sequential_revision_id(context.script)
        _add_dialect_ddl(script, dialect_ddl(options["target_metadata"]))

    options["process_revision_directives"] = process_revision_directives
    context.configure(connection=connection, **options)
    with context.begin_transaction():
        context.run_migrations()


# --- running commands on a service's database ----------------------------------------------


@contextlib.contextmanager
def _foreign_keys_off(connection: Connection) -> Iterator[None]:
    """SQLite alters a table by copying it and dropping the old one, and with foreign keys on,
    that drop deletes (or cascades to) every row referencing it. They are off during a migration
    (only possible outside a transaction), checked once it is done, and back on afterwards."""
    if connection.dialect.name != "sqlite":
        yield
        return
    driver = connection.connection.dbapi_connection
    assert driver is not None
    cursor = driver.cursor()
    cursor.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


def _run(
    connection: Connection, service: str, run: Callable[[Config], object], compare: bool
) -> None:
    config = _config(service)
    config.attributes["connection"] = connection
    config.attributes["compare"] = compare  # with the models (autogenerate)
    with _foreign_keys_off(connection), connection.begin():
        if connection.dialect.name == "postgresql":
            # Instances starting together take turns: the first migrates, the others then find
            # the database at head (SQLite's BEGIN IMMEDIATE already has them wait).
            lock = text("SELECT pg_advisory_xact_lock(hashtext(:name))")
            connection.execute(lock, {"name": version_table(service)})
        run(config)
        if connection.dialect.name == "sqlite":
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"the migration broke foreign keys: {broken[:5]}")


async def _on(
    engine: AsyncEngine, service: str, run: Callable[[Config], object], *, compare: bool = False
) -> None:
    async with engine.connect() as connection:
        await connection.run_sync(_run, service, run, compare)


class NotMigrated(RuntimeError):
    """The database is not at the revision this code needs; the message says what to do."""


async def upgrade(engine: AsyncEngine, service: str, revision: str = "head") -> None:
    """Migrate the service's database to `revision`, in one transaction (PostgreSQL and SQLite
    both roll back DDL): a failed migration leaves the schema as it was."""

    def run(config: Config) -> None:
        _known_revision(config.attributes["connection"], service)
        _migrate(config, service, revision, up=True)

    await _on(engine, service, run)


def _migrate(config: Config, service: str, destination: str, *, up: bool) -> None:
    """What alembic's command.upgrade and command.downgrade do, on the revisions this process
    has read already: the commands would read and import every revision file again, at every
    service start."""
    script = _script(service)
    steps = script._upgrade_revs if up else script._downgrade_revs  # as the commands use them

    def plan(current: Any, _context: MigrationContext) -> Any:
        return steps(destination, current)

    with EnvironmentContext(config, script, fn=plan, destination_rev=destination):
        script.run_env()


def _current(connection: Connection, service: str) -> str | None:
    options = {"version_table": version_table(service)}
    return MigrationContext.configure(connection, opts=options).get_current_revision()


def _known_revision(connection: Connection, service: str) -> str | None:
    """The database's revision, once this code can work on it: a database with tables but no
    revision was made before migrations (by create_all), so what it holds is unknown; a revision
    this code does not have means a newer version migrated it (a rollback of the code must keep
    working on it, see deploy/README.md; it cannot migrate it)."""
    current = _current(connection, service)
    if current is None:
        tables = sorted(set(inspect(connection).get_table_names()) - {version_table(service)})
        if tables:
            raise NotMigrated(
                f"{service}: the database has tables ({', '.join(tables[:3])}...) but no "
                f"migration revision ({version_table(service)}): it was made before migrations, "
                "or belongs to another service. In development delete it (var/data); otherwise "
                "see deploy/README.md"
            )
    elif current not in _revisions(service):
        raise NotMigrated(
            f"{service}: the database is at revision {current}, which this code does not know: a "
            "newer version migrated it. Run that version, or downgrade the database with it first"
        )
    return current


@functools.cache
def _script(service: str) -> ScriptDirectory:
    # Read once per process: revisions are only written by `make migration`, a process of its own.
    return ScriptDirectory.from_config(_config(service))


def _revisions(service: str) -> set[str]:
    return {script.revision for script in _script(service).walk_revisions()}


async def downgrade(engine: AsyncEngine, service: str, revision: str) -> None:
    await _on(engine, service, lambda config: _migrate(config, service, revision, up=False))


async def current_revision(engine: AsyncEngine, service: str) -> str | None:
    async with engine.connect() as connection:
        return await connection.run_sync(_current, service)


def head_revision(service: str) -> str | None:
    return _script(service).get_current_head()


async def require_head(engine: AsyncEngine, service: str) -> None:
    """For a service that does not migrate at start: refuse a database behind (or ahead of) the
    code, with what to run, rather than fail on the first query of a missing column."""
    async with engine.connect() as connection:
        current = await connection.run_sync(_known_revision, service)
    head = head_revision(service)
    if current != head:
        raise NotMigrated(
            f"{service}: the database is at revision {current or 'none (empty)'}, this code needs "
            f"{head}: run `python -m shared.migrations upgrade --service {service}` (or start "
            "with CX_MIGRATE_ON_START=true)"
        )


async def schema_differences(
    engine: AsyncEngine, service: str, models: Sequence[MetaData] | None = None
) -> list[Any]:
    """What autogenerate would write: the differences between the database and the models
    (the service's, unless others are given)."""

    def compare(connection: Connection) -> list[Any]:
        options = _options(service, connection.dialect.name, compare=True)
        migration_context = MigrationContext.configure(connection, opts=options)
        return compare_metadata(migration_context, models or options["target_metadata"])

    async with engine.connect() as connection:
        return await connection.run_sync(compare)


# --- command line ---------------------------------------------------------------------------


def _service_url(service: str) -> str:
    definition = importlib.import_module(f"services.{service}.app").DEFINITION
    return definition.settings().database_url


async def _revision(service: str, message: str) -> str | None:
    """Autogenerate the next revision (the models against a scratch database at the head);
    returns its path, or None when there is nothing to write."""
    written: list[Script] = []
    with tempfile.TemporaryDirectory() as scratch:
        engine = db.create_engine(f"sqlite+aiosqlite:///{scratch}/{service}.db")
        try:
            await upgrade(engine, service)

            def revise(config: Config) -> None:
                script = command.revision(config, message=message, autogenerate=True)
                if isinstance(script, Script):  # not an empty list: there was something to write
                    written.append(script)

            await _on(engine, service, revise, compare=True)
        finally:
            await engine.dispose()
    return written[0].path if written else None


def _tidy(path: str) -> None:
    # Revisions are code like any other: the same lint and format as the rest.
    subprocess.run([sys.executable, "-m", "ruff", "check", "--fix", "-q", path], check=False)
    subprocess.run([sys.executable, "-m", "ruff", "format", "-q", path], check=True)
    print(
        f"wrote {Path(path).relative_to(ROOT)}: read it, and complete it where autogenerate "
        "cannot see (data to move, renamed columns, the triggers of a table SQLite copies, an "
        "index made on PostgreSQL only)"
    )


async def _main(args: argparse.Namespace) -> int:
    if args.command == "revision":
        path = await _revision(args.service, args.message)
        if path:
            _tidy(path)
        return 0
    engine = db.create_engine(args.url or _service_url(args.service))
    try:
        if args.command == "upgrade":
            await upgrade(engine, args.service, args.revision or "head")
        elif args.command == "downgrade":
            await downgrade(engine, args.service, args.revision)
        current = await current_revision(engine, args.service)
        print(f"{args.service}: at {current or 'no revision'} (head {head_revision(args.service)})")
        if args.command == "check":
            await require_head(engine, args.service)
            differences = await schema_differences(engine, args.service)
            if differences:
                print(
                    f"{args.service}: the database differs from the models:",
                    *differences,
                    sep="\n  ",
                )
                return 1
    except NotMigrated as exc:
        print(exc, file=sys.stderr)
        return 1
    finally:
        await engine.dispose()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.migrations", description=__doc__)
    parser.add_argument("command", choices=["upgrade", "downgrade", "current", "check", "revision"])
    parser.add_argument("--service", required=True, choices=SERVICES)
    parser.add_argument("--url", help="database URL (default: the service's DATABASE_URL)")
    parser.add_argument("--revision", help="upgrade/downgrade target (upgrade: head)")
    parser.add_argument("-m", "--message", help="revision: what the change is")
    args = parser.parse_args(argv)
    if args.command == "downgrade" and not args.revision:
        parser.error("downgrade needs --revision (e.g. -1, or a revision id)")
    if args.command == "revision" and not args.message:
        parser.error('revision needs -m "what changed"')
    return asyncio.run(_main(args))


if __name__ == "__main__":
    sys.exit(main())
