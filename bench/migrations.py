"""`python -m bench.migrations [--postgres URL]`: what migrating a fresh database to the latest
revision costs at a service's start, next to the `create_all` it replaced, measured in the same
run. Every service test starts its service on a fresh database, so this is also what migrations
add to each of those tests.

For each service, `--runs` fresh databases are made with each path, alternately (so that a busy
machine weighs on both alike): SQLite files always, PostgreSQL databases too with `--postgres`
(an admin URL; each database is created and dropped around its run, outside the timing). Each
row shows the median and the slowest run in milliseconds. Progress goes to stderr."""

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from shared import db, migrations

Database = Callable[[], AbstractAsyncContextManager[AsyncEngine]]


@asynccontextmanager
async def _sqlite(directory: str) -> AsyncIterator[AsyncEngine]:
    engine = db.create_engine(f"sqlite+aiosqlite:///{directory}/{uuid.uuid4().hex}.db")
    try:
        yield engine
    finally:
        await engine.dispose()


def _postgres(admin_url: str) -> Database:
    @asynccontextmanager
    async def database() -> AsyncIterator[AsyncEngine]:
        name = f"cxbench_{uuid.uuid4().hex[:12]}"
        admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        engine = db.create_engine(make_url(admin_url).set(database=name).render_as_string(False))
        try:
            yield engine
        finally:
            await engine.dispose()
            async with admin.connect() as connection:
                await connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            await admin.dispose()

    return database


async def _timed(make: Database, schema: Callable[[AsyncEngine], Awaitable[None]]) -> float:
    async with make() as engine:
        started = time.perf_counter()
        await schema(engine)
        return time.perf_counter() - started


async def measure(runs: int, postgres: str | None) -> list[str]:
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        databases: dict[str, Database] = {"sqlite": lambda: _sqlite(directory)}
        if postgres:
            databases["postgresql"] = _postgres(postgres)
        for service in migrations.SERVICES:
            models = migrations.target_metadata(service)  # imported once, outside the timing

            async def create_all(engine: AsyncEngine, models: list = models) -> None:  # type: ignore[type-arg]
                await db.create_schema(engine, models[0])

            async def migrate(engine: AsyncEngine, service: str = service) -> None:
                await migrations.upgrade(engine, service)

            for dialect, make in databases.items():
                times: dict[str, list[float]] = {"create_all": [], "migrate": []}
                await _timed(make, migrate)  # warm-up: the revisions' bytecode
                for _ in range(runs):
                    times["create_all"].append(await _timed(make, create_all))
                    times["migrate"].append(await _timed(make, migrate))
                base, new = (statistics.median(times[k]) * 1000 for k in ("create_all", "migrate"))
                rows.append(
                    f"{service:<14}{dialect:<12}{base:>10.1f}{max(times['create_all']) * 1000:>10.1f}"
                    f"{new:>10.1f}{max(times['migrate']) * 1000:>10.1f}{new - base:>+10.1f}"
                )
                print(f"{service} on {dialect} done", file=sys.stderr, flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.migrations", description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--postgres", help="admin URL, e.g. postgresql+asyncpg://postgres@host/db")
    args = parser.parse_args()
    rows = asyncio.run(measure(args.runs, args.postgres))
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"machine  {os.cpu_count()} CPUs, {platform.machine()}, Python "
        f"{platform.python_version()}, load average {load}; {args.runs} fresh databases per cell",
        f"{'':<26}{'create_all (baseline)':>20}{'migrate to head':>20}",
        f"{'service':<14}{'database':<12}{'median':>10}{'slowest':>10}{'median':>10}"
        f"{'slowest':>10}{'added':>10}   (ms)",
        *rows,
        sep="\n",
    )


if __name__ == "__main__":
    main()
