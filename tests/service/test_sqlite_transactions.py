"""SQLite transactions: writers queue on one lock (BEGIN IMMEDIATE); a declared read-only
transaction, such as the outbox relay's look for work, takes none. On PostgreSQL a declared
read-only session needs no transaction at all."""

from pathlib import Path

import pytest
from sqlalchemy import event, select, text

from shared import db
from shared.outbox import OUTBOX
from tests.conftest import DatabaseFactory


async def test_only_declared_read_only_transactions_skip_the_write_lock(tmp_path: Path) -> None:
    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'locks.db'}")
    await db.create_schema(engine, db.PLUMBING_METADATA)
    begins: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if statement.startswith("BEGIN"):
            begins.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    sessions = db.session_factory(engine)
    try:
        async with sessions() as session:
            await db.read_only(session)
            await session.exec(select(OUTBOX.c.seq))
        async with sessions() as session:
            await session.exec(select(OUTBOX.c.seq))
    finally:
        await engine.dispose()
    assert begins == ["BEGIN DEFERRED", "BEGIN IMMEDIATE"]


async def test_a_read_only_session_on_postgresql_runs_each_read_on_its_own(
    new_database: DatabaseFactory,
) -> None:
    """No BEGIN and ROLLBACK round trips around the reads (e.g. every request's revocation check)."""
    url = await new_database("registry")
    if not url.startswith("postgresql"):
        pytest.skip("SQLite: see above")
    engine = db.create_engine(url)
    try:
        async with db.session_factory(engine)() as session:
            await db.read_only(session)
            first, second = [
                (await session.exec(text("SELECT txid_current()"))).one()  # type: ignore[call-overload]
                for _ in range(2)
            ]
        async with db.session_factory(engine)() as session:
            third, fourth = [
                (await session.exec(text("SELECT txid_current()"))).one()  # type: ignore[call-overload]
                for _ in range(2)
            ]
    finally:
        await engine.dispose()
    assert first != second  # each read a transaction of its own
    assert third == fourth  # an ordinary session: one transaction
