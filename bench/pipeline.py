"""The product's pipeline: POST /cities on registry -> outbox -> relay -> broker -> the
notifications consumer. The effect of an event is the feed item notifications writes for it."""

import asyncio
import sqlite3
import time
import uuid
from pathlib import Path

import httpx

from bench.stats import Latencies, Throughput, percentile, sleep_until, sqlite_epoch
from services.registry.settings import DEV_ADMIN_PASSWORD, DEV_ADMIN_USERNAME

# How often the runner looks for committed effects: small against the figures it measures.
POLL_SECONDS = 0.01
WARM_UP_EVENTS = 10


async def sign_in(client: httpx.AsyncClient) -> None:
    """Writes are authenticated, as in production: sign in once as the development platform
    administrator (its documented development credentials), whose token outlives a run."""
    response = await client.post(
        "/oauth/token",
        data={
            "grant_type": "password",
            "username": DEV_ADMIN_USERNAME,
            "password": DEV_ADMIN_PASSWORD,
        },
    )
    response.raise_for_status()
    client.headers["Authorization"] = f"Bearer {response.json()['access_token']}"


class Databases:
    """Read-only views of two services' SQLite files. Reading where the consumer commits adds no
    API call to the path being measured; WAL readers never block the services' writers."""

    def __init__(self, data_dir: Path) -> None:
        self._notifications = _read_only(data_dir / "notifications.db")
        self._registry = _read_only(data_dir / "registry.db")

    def feed_items(self) -> int:
        """How many CityRegistered feed items are committed."""
        query = "SELECT count(*) FROM feed_items WHERE event_type = 'CityRegistered'"
        return self._notifications.execute(query).fetchone()[0]

    def feed_written(self) -> dict[uuid.UUID, float]:
        """City id -> when its feed item was written (set in the consumer's transaction)."""
        rows = self._notifications.execute(
            "SELECT recipient_id, created_at FROM feed_items WHERE event_type = 'CityRegistered'"
        )
        return {uuid.UUID(city): sqlite_epoch(at) for city, at in rows}

    def outbox(self) -> dict[uuid.UUID, tuple[float, float | None]]:
        """City id -> (when its event row was written, when the relay had it acked, if yet)."""
        rows = self._registry.execute(
            "SELECT message_key, created_at, published_at FROM outbox "
            "WHERE event_type = 'CityRegistered'"
        )
        return {
            uuid.UUID(city): (sqlite_epoch(created), sqlite_epoch(published) if published else None)
            for city, created, published in rows
        }

    def close(self) -> None:
        self._notifications.close()
        self._registry.close()


def _read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)


class Registrar:
    """Registers cities over HTTP and keeps the failures, so that the report can show them."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client
        self.failures: list[str] = []

    async def register(self, name: str) -> uuid.UUID | None:
        try:
            response = await self._client.post("/cities", json={"name": name, "country_code": "FR"})
        except httpx.HTTPError as exc:
            self.failures.append(f"{name}: {exc!r}")
            return None
        if response.status_code != 201:
            self.failures.append(f"{name}: HTTP {response.status_code} {response.text[:200]}")
            return None
        return uuid.UUID(response.json()["id"])


async def _wait_for_feed(db: Databases, target: int, deadline: float) -> int:
    """Poll until `target` feed items are committed or `deadline` passes; returns the count."""
    # Polling, not an asyncio.Event: the commits happen in another process.
    while (count := db.feed_items()) < target and time.perf_counter() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(POLL_SECONDS)
    return count


async def warm_up(registrar: Registrar, db: Databases, max_wait: float) -> None:
    """The first events pay one-off costs that belong in no figure: the registry's producer
    connects on the relay's first batch, and the notifications consumer joins its group."""
    before = db.feed_items()
    cities = await asyncio.gather(
        *(registrar.register(f"Warm-up {i}") for i in range(WARM_UP_EVENTS))
    )
    target = before + sum(city is not None for city in cities)
    if await _wait_for_feed(db, target, time.perf_counter() + max_wait) < target:
        raise RuntimeError(f"the warm-up events were not all delivered within {max_wait:g} s")


async def throughput(
    registrar: Registrar, db: Databases, count: int, concurrency: int, max_wait: float
) -> Throughput:
    """POST `count` cities, `concurrency` at a time; time first POST -> all effects committed."""
    before = db.feed_items()
    indexes = iter(range(count))
    accepted = 0
    deadline = time.perf_counter() + max_wait

    async def worker() -> None:
        nonlocal accepted
        # The workers share one iterator, so each index is posted exactly once.
        for i in indexes:
            if time.perf_counter() > deadline:
                return
            if await registrar.register(f"Throughput {i}") is not None:
                accepted += 1

    started = time.time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    answered = time.time() - started
    committed = await _wait_for_feed(db, before + accepted, deadline) - before
    finished = time.time()
    published = [at for _, at in db.outbox().values() if at is not None and at >= started]
    milestones = {"POSTs answered": answered}
    if published:
        milestones["last event published"] = max(published) - started
    milestones["feed items committed"] = finished - started
    return Throughput(count, committed, finished - started, milestones)


async def latency(
    registrar: Registrar, db: Databases, rate: float, seconds: float, max_wait: float
) -> Latencies:
    """POST one city every 1/rate s without waiting for answers (so a slow answer does not
    lower the rate); latency = feed item written - wall-clock time just before the POST."""
    count = round(rate * seconds)
    before = db.feed_items()
    sent: dict[uuid.UUID, float] = {}

    async def post(i: int, at: float) -> None:
        city = await registrar.register(f"Latency {i}")
        if city is not None:
            sent[city] = at

    started = time.perf_counter()
    posts = []
    for i in range(count):
        await sleep_until(started + i / rate)
        posts.append(asyncio.create_task(post(i, time.time())))
    await asyncio.gather(*posts)
    await _wait_for_feed(db, before + len(sent), time.perf_counter() + max_wait)

    written = db.feed_written()
    outbox = db.outbox()
    arrived = [city for city in sent if city in written]
    return Latencies(count, [written[c] - sent[c] for c in arrived], _stages(sent, outbox, written))


def _stages(
    sent: dict[uuid.UUID, float],
    outbox: dict[uuid.UUID, tuple[float, float | None]],
    written: dict[uuid.UUID, float],
) -> dict[str, float]:
    """Median of each stage, from the timestamps the registry's outbox row and the feed item
    carry: which of HTTP + write, relay + broker ack, or fetch + consumer takes the time."""
    recorded = {c: outbox[c][0] for c in sent if c in written}
    acked = {c: at for c in recorded if (at := outbox[c][1]) is not None}
    if not acked:
        return {}
    return {
        "request -> outbox row": percentile([recorded[c] - sent[c] for c in recorded], 50),
        "outbox row -> acked by broker": percentile([acked[c] - recorded[c] for c in acked], 50),
        "acked -> feed item written": percentile([written[c] - acked[c] for c in acked], 50),
    }
