"""Fixtures shared by every test layer.

Database tests run on SQLite, and also on PostgreSQL when CX_TEST_POSTGRES_URL is set (e.g.
postgresql+asyncpg://postgres@127.0.0.1:5432/test): each test then gets a fresh database of its
own on that server, dropped afterwards."""

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from shared.devstack import Stack, free_port

POSTGRES_URL = os.environ.get("CX_TEST_POSTGRES_URL")
DATABASES = ["sqlite", "postgresql"] if POSTGRES_URL else ["sqlite"]


DatabaseFactory = Callable[[str], Awaitable[str]]


@pytest.fixture(params=DATABASES)
async def new_database(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[DatabaseFactory]:
    """Makes a fresh, empty database for a service and returns its URL: each service owns its
    database, as in production."""
    if request.param == "sqlite":

        async def sqlite_database(service: str) -> str:
            return f"sqlite+aiosqlite:///{tmp_path / service}.db"

        yield sqlite_database
        return
    assert POSTGRES_URL
    admin = create_async_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    created: list[str] = []

    async def postgres_database(service: str) -> str:
        name = f"cxtest_{service}_{uuid.uuid4().hex[:12]}"
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        created.append(name)
        return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)

    try:
        yield postgres_database
    finally:
        async with admin.connect() as connection:
            for name in created:
                await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A real Tansu broker on a free port, for the whole test session."""
    stack = Stack(data_dir=tmp_path_factory.mktemp("broker"), broker_port=free_port(), ports={})
    stack.start_broker()
    try:
        yield stack
    finally:
        stack.stop()
