"""Live notifications over Server-Sent Events, read by a real HTTP client from the service run
by uvicorn on a free port (an in-memory transport would wait for the endless stream to end)."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
import uvicorn

from services.notifications.app import DEFINITION
from shared.contracts.funding import FUND_CREATED, FundCreated
from shared.devstack import free_port
from shared.events import new_event
from shared.service import Runtime, create_service_app
from tests.conftest import DatabaseFactory
from tests.helpers import bearer, eventually
from tests.service.test_notifications_me import role_granted

FUND = uuid.uuid4()
TREASURER = str(uuid.uuid4())
STREAM = {"Accept": "text/event-stream", **bearer(subject=TREASURER)}


@dataclass
class Served:
    url: str
    runtime: Runtime

    async def fund_news(self, *names: str) -> None:
        """FundCreated events the treasurer hears of, one per name, through the consumer."""
        for name in names:
            payload = FundCreated(fund_id=FUND, name=name, currency="EUR")
            await self.runtime.consumer.process(new_event(FUND_CREATED, FUND, payload))


@pytest.fixture
async def served(new_database: DatabaseFactory) -> AsyncIterator[Served]:
    settings = DEFINITION.settings(database_url=await new_database("notifications"))
    app = create_service_app(DEFINITION, settings, messaging=False)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())

    async def started() -> bool:
        return server.started

    await eventually(started, within=10, what="uvicorn listening")
    try:
        runtime = app.state.runtime
        await runtime.consumer.process(role_granted(TREASURER, "fund_admin", str(FUND)))
        yield Served(f"http://127.0.0.1:{port}", runtime)
    finally:
        server.should_exit = True
        await task


@dataclass(frozen=True)
class SentEvent:
    id: str
    event: str
    data: str


async def read_events(response: httpx.Response, count: int) -> list[SentEvent]:
    """The next `count` events of the stream (keep-alive comments skipped)."""
    events: list[SentEvent] = []
    fields: dict[str, str] = {}
    async for line in response.aiter_lines():
        if not line:
            if "data" in fields:
                events.append(SentEvent(fields["id"], fields["event"], fields["data"]))
                if len(events) == count:
                    return events
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
    raise AssertionError(f"the stream ended after {events}")


async def test_notifications_arrive_live_and_resume_after_the_last_event_id(
    served: Served,
) -> None:
    async with httpx.AsyncClient(base_url=served.url, timeout=10) as client:
        async with asyncio.timeout(20):
            async with client.stream("GET", "/me/notifications/stream", headers=STREAM) as live:
                assert live.status_code == 200
                assert live.headers["content-type"].startswith("text/event-stream")
                reading = asyncio.create_task(read_events(live, 2))
                await asyncio.sleep(0.2)  # connected and waiting, before anything happened
                await served.fund_news("Solidarity Fund", "Water Fund")
                first, second = await reading
            assert first.event == second.event == "notification"
            assert '"title":"Fund created: Solidarity Fund"' in first.data
            assert '"read":false' in first.data
            assert int(second.id) > int(first.id)

            # Away for a while: what happened meanwhile comes first on reconnection.
            await served.fund_news("Housing Fund", "Schools Fund")
            resumed = {**STREAM, "Last-Event-ID": first.id}
            async with client.stream("GET", "/me/notifications/stream", headers=resumed) as back:
                again = await read_events(back, 3)
        assert again[0].id == second.id
        assert all(
            name in event.data
            for name, event in zip(("Water", "Housing", "Schools"), again, strict=True)
        )


async def test_a_stream_starts_from_now_or_after_what_the_page_showed(served: Served) -> None:
    await served.fund_news("Old news")
    async with httpx.AsyncClient(base_url=served.url, timeout=10) as client:
        page = (await client.get("/me/notifications", headers=bearer(subject=TREASURER))).json()
        shown = page["items"][0]["seq"]
        async with asyncio.timeout(20):
            async with client.stream("GET", "/me/notifications/stream", headers=STREAM) as live:
                reading = asyncio.create_task(read_events(live, 1))
                await asyncio.sleep(0.2)
                await served.fund_news("Fresh news")
                [fresh] = await reading
            assert "Fresh news" in fresh.data
            after = f"/me/notifications/stream?after={shown - 1}"
            async with client.stream("GET", after, headers=STREAM) as replay:
                [old, new] = await read_events(replay, 2)
        assert "Old news" in old.data and new.id == fresh.id


async def test_a_plain_get_is_told_to_ask_for_an_event_stream(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.url, timeout=10) as client:
        plain = await client.get("/me/notifications/stream", headers=bearer(subject=TREASURER))
        assert plain.status_code == 406
        assert "Accept: text/event-stream" in plain.json()["detail"]
        anonymous = await client.get(
            "/me/notifications/stream", headers={"Accept": "text/event-stream"}
        )
        assert anonymous.status_code == 401
