"""SQLite transactions: writers queue on one lock (BEGIN IMMEDIATE); a declared read-only
transaction, such as the outbox relay's look for work, takes none."""

from pathlib import Path

from sqlalchemy import event, select

from shared import db
from shared.outbox import OUTBOX


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
            await session.connection(execution_options={db.READ_ONLY: True})
            await session.exec(select(OUTBOX.c.seq))
        async with sessions() as session:
            await session.exec(select(OUTBOX.c.seq))
    finally:
        await engine.dispose()
    assert begins == ["BEGIN DEFERRED", "BEGIN IMMEDIATE"]
