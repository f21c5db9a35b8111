"""Webhooks end to end within the notifications service: endpoints registered over its HTTP API,
deliveries queued in the consumer's transaction, and the real background sender POSTing to a
real HTTP receiver (Starlette under uvicorn, on a free port) that verifies every signature with
the Standard Webhooks library. The retry schedule runs in fractions of a second."""

import asyncio
import dataclasses
import itertools
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import uvicorn
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy import text
from standardwebhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.notifications.app import DEFINITION
from services.notifications.domain import Audience, RecipientKind
from services.notifications.keys import DEV_SECRET_KEY
from services.notifications.models import NotificationsTable
from services.notifications.settings import NotificationsSettings
from services.notifications.webhooks import domain
from services.notifications.webhooks.api import dns_resolver
from services.notifications.webhooks.dispatch import enqueue
from services.notifications.webhooks.models import WebhookEndpoint
from services.notifications.webhooks.network import Destination, post, system_resolver
from services.notifications.webhooks.sealing import SecretBox, reseal_all
from services.notifications.webhooks.sender import WebhookSender, send_webhooks
from shared.contracts.catalogue import CATALOGUE
from shared.contracts.funding import CONTRIBUTION_PLEDGED, FUND_CREATED, FundCreated
from shared.contracts.registry.conflict import CONFLICT_PROFILE_ASSESSED
from shared.db import PLUMBING_METADATA
from shared.devstack import free_port
from shared.events import Event, new_event
from tests.conftest import DatabaseFactory
from tests.helpers import ServiceUnderTest, bearer, eventually, serve

FAST_SCHEDULE = [0, 0.3, 0.6]


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float
    verified_by: list[str]  # which of the receiver's secrets verified it

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A donor's system: checks the signature, answers 204, or 503 while told to fail."""

    url: str = ""
    secrets: list[str] = field(default_factory=list)
    fail_next: int = 0
    delay_next: float = 0  # seconds the next answer takes
    got: list[Received] = field(default_factory=list)

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        headers = dict(request.headers)
        verified_by = []
        for secret in self.secrets:
            try:
                Webhook(secret).verify(body, headers)
                verified_by.append(secret)
            except WebhookVerificationError:
                pass
        self.got.append(Received(headers, body, time.monotonic(), verified_by))
        if self.delay_next:
            delay, self.delay_next = self.delay_next, 0
            await asyncio.sleep(delay)
        if not verified_by:
            return Response(status_code=401)
        if self.fail_next:
            self.fail_next -= 1
            return Response(status_code=503)
        return Response(status_code=204)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    port = free_port()
    hooks = Receiver(url=f"http://127.0.0.1:{port}/hooks")
    app = Starlette(routes=[Route("/hooks", hooks.handle, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    await eventually(lambda: asyncio.sleep(0, server.started), what="receiver started")
    try:
        yield hooks
    finally:
        server.should_exit = True
        await task


async def _enqueue_for_fund(session: Any, event: Event, payload: FundCreated) -> None:
    # What the notifications consumer does once it knows an event's audiences.
    await enqueue(session, event, [Audience(RecipientKind.FUND, payload.fund_id)])


def _settings(database_url: str, **overrides: Any) -> NotificationsSettings:
    fast: dict[str, Any] = {
        "webhook_retry_schedule_seconds": FAST_SCHEDULE,
        "webhook_poll_seconds": 0.05,
        "webhook_timeout_seconds": 2,
        "webhook_lease_seconds": 5,
    }
    return NotificationsSettings(database_url=database_url, **{**fast, **overrides})


@dataclass
class Webhooks:
    service: ServiceUnderTest
    fund_id: uuid.UUID

    @property
    def client(self) -> httpx.AsyncClient:
        return self.service.client

    def headers(self) -> dict[str, str]:
        return bearer(f"fund_admin:{self.fund_id}")

    async def register(self, url: str, **fields: Any) -> dict[str, Any]:
        response = await self.client.post(
            "/webhook-endpoints",
            json={"owner_kind": "fund", "owner_id": str(self.fund_id), "url": url, **fields},
            headers=self.headers(),
        )
        assert response.status_code == 201, response.text
        return response.json()

    async def fund_created(self) -> Event:
        """A FundCreated event, handed to the consumer as the broker would."""
        event = new_event(
            FUND_CREATED,
            self.fund_id,
            FundCreated(fund_id=self.fund_id, name="ICSF", currency="EUR"),
        )
        await self.service.deliver(event)
        return event

    async def deliveries(self, endpoint: dict[str, Any], **params: Any) -> list[dict[str, Any]]:
        response = await self.client.get(
            f"/webhook-endpoints/{endpoint['id']}/deliveries", params=params, headers=self.headers()
        )
        assert response.status_code == 200, response.text
        return response.json()["items"]

    async def delivery(self, endpoint: dict[str, Any], delivery_id: str) -> dict[str, Any]:
        response = await self.client.get(
            f"/webhook-endpoints/{endpoint['id']}/deliveries/{delivery_id}", headers=self.headers()
        )
        assert response.status_code == 200, response.text
        return response.json()

    async def endpoint(self, endpoint: dict[str, Any]) -> dict[str, Any]:
        response = await self.client.get(
            f"/webhook-endpoints/{endpoint['id']}", headers=self.headers()
        )
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
async def webhooks(
    new_database: DatabaseFactory, request: pytest.FixtureRequest
) -> AsyncIterator[Webhooks]:
    """The notifications service with a consumer that queues FundCreated for the fund's
    endpoints, and its webhook sender running."""
    overrides = dict(getattr(request, "param", {}))
    run_sender = overrides.pop("run_sender", True)
    real_handlers = overrides.pop("real_handlers", False)
    settings = _settings(await new_database("notifications"), **overrides)
    definition = (
        DEFINITION
        if real_handlers
        else dataclasses.replace(DEFINITION, handlers={FUND_CREATED: _enqueue_for_fund})
    )
    async with serve(definition, settings) as service:
        senders = [asyncio.create_task(send_webhooks(service.runtime))] if run_sender else []
        try:
            yield Webhooks(service, uuid.uuid4())
        finally:
            for sender in senders:
                sender.cancel()
            await asyncio.gather(*senders, return_exceptions=True)


async def test_an_event_is_delivered_signed_as_its_cloudevent(
    webhooks: Webhooks, receiver: Receiver
) -> None:
    endpoint = await webhooks.register(receiver.url, description="treasury system")
    assert endpoint["secret"].startswith("whsec_")
    receiver.secrets = [endpoint["secret"]]
    event = await webhooks.fund_created()

    [got] = await eventually(lambda: asyncio.sleep(0, receiver.got), what="a delivery")
    assert got.verified_by == [endpoint["secret"]]
    envelope = got.json()
    assert (envelope["id"], envelope["type"], envelope["specversion"]) == (
        event.id,
        "FundCreated",
        "1.0",
    )
    assert envelope["data"] == FundCreated.model_validate(event.data).model_dump(mode="json")
    assert envelope["data"]["fund_id"] == str(webhooks.fund_id)
    assert got.headers["content-type"] == "application/cloudevents+json"

    [logged] = await eventually(
        lambda: _when(webhooks.deliveries(endpoint), lambda d: d and d[0]["status"] == "delivered")
    )
    assert logged["id"] == got.webhook_id
    assert (logged["attempts"], logged["last_response_code"]) == (1, 204)
    assert logged["last_latency_ms"] is not None and logged["event_id"] == event.id
    # The secret is shown at creation only.
    assert "secret" not in await webhooks.endpoint(endpoint)


async def _when(probe: Any, check: Any) -> Any:
    value = await probe
    return value if check(value) else None


async def test_failures_are_retried_on_the_schedule_under_one_webhook_id(
    webhooks: Webhooks, receiver: Receiver
) -> None:
    endpoint = await webhooks.register(receiver.url)
    receiver.secrets = [endpoint["secret"]]
    receiver.fail_next = 2
    await webhooks.fund_created()

    [logged] = await eventually(
        lambda: _when(webhooks.deliveries(endpoint), lambda d: d and d[0]["status"] == "delivered")
    )
    assert len(receiver.got) == 3
    assert {got.webhook_id for got in receiver.got} == {logged["id"]}
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(receiver.got)]
    assert gaps[0] >= FAST_SCHEDULE[1] and gaps[1] >= FAST_SCHEDULE[2], gaps
    detail = await webhooks.delivery(endpoint, logged["id"])
    assert [(a["number"], a["succeeded"], a["response_code"]) for a in detail["attempts_log"]] == [
        (1, False, 503),
        (2, False, 503),
        (3, True, 204),
    ]
    assert detail["attempts_log"][0]["error"] == "HTTP 503"


async def test_a_delivery_fails_once_the_schedule_is_spent_and_a_receiver_down_is_logged(
    webhooks: Webhooks, receiver: Receiver
) -> None:
    endpoint = await webhooks.register(receiver.url)
    receiver.secrets = [endpoint["secret"]]
    receiver.fail_next = 99
    down = await webhooks.register(f"http://127.0.0.1:{free_port()}/nobody-listens")
    await webhooks.fund_created()

    [failed] = await eventually(
        lambda: _when(webhooks.deliveries(endpoint), lambda d: d and d[0]["status"] == "failed"),
        within=10,
    )
    assert failed["attempts"] == len(FAST_SCHEDULE) == len(receiver.got)
    assert failed["next_attempt_at"] is None
    [unreachable] = await eventually(
        lambda: _when(webhooks.deliveries(down), lambda d: d and d[0]["status"] == "failed")
    )
    assert unreachable["last_response_code"] is None
    assert "ConnectError" in unreachable["last_error"]
    assert await webhooks.deliveries(down, status="delivered") == []


async def test_a_duplicated_event_is_delivered_once(webhooks: Webhooks, receiver: Receiver) -> None:
    endpoint = await webhooks.register(receiver.url)
    receiver.secrets = [endpoint["secret"]]
    event = await webhooks.fund_created()
    await webhooks.service.deliver(event)  # the broker redelivers it: the inbox skips it
    async with webhooks.service.runtime.sessions() as session:  # a replayed consumer
        await _enqueue_for_fund(session, event, FundCreated.model_validate(event.data))
        await session.commit()

    await eventually(
        lambda: _when(webhooks.deliveries(endpoint), lambda d: d and d[0]["status"] == "delivered")
    )
    await asyncio.sleep(0.3)  # time for a wrongful second delivery to arrive
    assert len(await webhooks.deliveries(endpoint)) == 1
    assert len(receiver.got) == 1


async def test_a_filter_and_a_disabled_endpoint_receive_nothing(
    webhooks: Webhooks, receiver: Receiver
) -> None:
    wants_pledges = await webhooks.register(receiver.url, event_types=["ContributionPledged"])
    paused = await webhooks.register(receiver.url)
    response = await webhooks.client.patch(
        f"/webhook-endpoints/{paused['id']}", json={"enabled": False}, headers=webhooks.headers()
    )
    assert response.status_code == 200 and response.json()["enabled"] is False
    everything = await webhooks.register(receiver.url)
    receiver.secrets = [everything["secret"]]
    await webhooks.fund_created()

    await eventually(lambda: asyncio.sleep(0, receiver.got))
    assert await webhooks.deliveries(wants_pledges) == []
    assert await webhooks.deliveries(paused) == []


async def test_replays_send_again_under_the_same_webhook_id(
    webhooks: Webhooks, receiver: Receiver
) -> None:
    endpoint = await webhooks.register(receiver.url)
    receiver.secrets = [endpoint["secret"]]
    before = datetime.now(UTC)
    await webhooks.fund_created()
    await webhooks.fund_created()
    delivered = await eventually(
        lambda: _when(webhooks.deliveries(endpoint, status="delivered"), lambda d: len(d) == 2)
    )

    first = delivered[-1]["id"]
    caller = {"Idempotency-Key": "replay-1", **webhooks.headers()}
    replayed = await webhooks.client.post(
        f"/webhook-endpoints/{endpoint['id']}/deliveries/{first}/replays", headers=caller
    )
    assert replayed.status_code == 202, replayed.text
    again = await webhooks.client.post(  # a retry of the same request replays nothing more
        f"/webhook-endpoints/{endpoint['id']}/deliveries/{first}/replays", headers=caller
    )
    assert again.headers.get("Idempotent-Replayed") == "true"
    await eventually(lambda: asyncio.sleep(0, len(receiver.got) == 3))
    assert receiver.got[2].webhook_id == first
    # The sender records the attempt once the receiver has answered.
    await eventually(
        lambda: _when(webhooks.delivery(endpoint, first), lambda d: d["attempts"] == 2)
    )

    in_range = await webhooks.client.post(
        f"/webhook-endpoints/{endpoint['id']}/replays",
        json={"since": before.isoformat(), "until": datetime.now(UTC).isoformat()},
        headers=webhooks.headers(),
    )
    assert in_range.status_code == 202, in_range.text
    await eventually(lambda: asyncio.sleep(0, len(receiver.got) == 5))
    assert {got.webhook_id for got in receiver.got[3:]} == {d["id"] for d in delivered}
    assert all(got.verified_by for got in receiver.got)


@pytest.mark.parametrize(
    "webhooks",
    [{"webhook_disable_after_seconds": 0.5, "webhook_retry_schedule_seconds": [0] + [0.15] * 9}],
    indirect=True,
)
async def test_an_endpoint_failing_for_the_whole_period_is_disabled_and_its_owner_told(
    webhooks: Webhooks, receiver: Receiver
) -> None:
    endpoint = await webhooks.register(receiver.url)
    receiver.secrets = [endpoint["secret"]]
    receiver.fail_next = 1000
    await webhooks.fund_created()

    disabled = await eventually(
        lambda: _when(webhooks.endpoint(endpoint), lambda e: not e["enabled"]), within=10
    )
    assert "every delivery attempt failed for 0.5 s (last: HTTP 503)" in disabled["disabled_reason"]
    [told] = await webhooks.service.events("WebhookEndpointDisabled")
    assert told.subject == endpoint["id"]
    assert (told.data["owner_kind"], told.data["owner_id"]) == ("fund", str(webhooks.fund_id))
    attempts = len(receiver.got)
    await asyncio.sleep(0.4)
    assert len(receiver.got) == attempts  # nothing more is sent to a disabled endpoint
    [pending] = await webhooks.deliveries(endpoint)
    assert pending["status"] == "pending"

    refused = await webhooks.client.post(
        f"/webhook-endpoints/{endpoint['id']}/deliveries/{pending['id']}/replays",
        headers=webhooks.headers(),
    )
    assert refused.status_code == 409 and "re-enable" in refused.json()["detail"]
    receiver.fail_next = 0
    response = await webhooks.client.patch(
        f"/webhook-endpoints/{endpoint['id']}", json={"enabled": True}, headers=webhooks.headers()
    )
    assert response.json()["failing_since"] is None and response.json()["disabled_reason"] is None
    await eventually(  # the delivery resumes where it stood
        lambda: _when(webhooks.deliveries(endpoint), lambda d: d[0]["status"] == "delivered")
    )


async def test_after_a_rotation_both_secrets_verify_until_the_grace_ends(
    webhooks: Webhooks, receiver: Receiver
) -> None:
    endpoint = await webhooks.register(receiver.url)
    old = endpoint["secret"]
    rotated = await webhooks.client.post(
        f"/webhook-endpoints/{endpoint['id']}/secret-rotations", headers=webhooks.headers()
    )
    assert rotated.status_code == 201, rotated.text
    new = rotated.json()["secret"]
    assert new != old and rotated.json()["previous_secret_expires_at"]
    receiver.secrets = [old, new]
    await webhooks.fund_created()

    [got] = await eventually(lambda: asyncio.sleep(0, receiver.got))
    assert got.verified_by == [old, new]  # each verifies on its own
    assert len(got.headers["webhook-signature"].split(" ")) == 2

    # Once the grace is over only the new secret signs.
    webhooks.service.runtime.settings.webhook_secret_grace_seconds = 0  # type: ignore[attr-defined]
    rotated_again = await webhooks.client.post(
        f"/webhook-endpoints/{endpoint['id']}/secret-rotations", headers=webhooks.headers()
    )
    newest = rotated_again.json()["secret"]
    receiver.secrets = [old, new, newest]
    await webhooks.fund_created()
    await eventually(lambda: asyncio.sleep(0, len(receiver.got) == 2))
    assert receiver.got[1].verified_by == [newest]


async def test_bad_requests_are_refused_with_a_reason_and_write_nothing(
    webhooks: Webhooks,
) -> None:
    post = webhooks.client.post
    owner = {"owner_kind": "fund", "owner_id": str(webhooks.fund_id)}
    response = await post(
        "/webhook-endpoints",
        json={**owner, "url": "https://x.example.org/", "event_types": ["FundCreatd"]},
        headers=webhooks.headers(),
    )
    assert response.status_code == 422
    assert "FundCreatd" in response.json()["detail"] and "FundCreated" in response.json()["detail"]
    response = await post(
        "/webhook-endpoints",
        json={"owner_kind": "fund", "owner_id": str(uuid.uuid4()), "url": "https://x.example.org/"},
        headers=webhooks.headers(),
    )
    assert response.status_code == 403 and "does not act for" in response.json()["detail"]
    response = await post(
        "/webhook-endpoints",
        json={"owner_kind": "platform", "owner_id": str(uuid.UUID(int=0)), "url": "https://x.org"},
        headers=bearer("platform_admin", "fund_admin:" + str(webhooks.fund_id)),
    )
    assert response.status_code == 422 and "city, fund, donor, network" in response.text
    response = await post(
        "/webhook-endpoints", json={**owner, "url": "not a url"}, headers=webhooks.headers()
    )
    assert response.status_code == 422

    # Outside development: https only, public addresses only, as DNS says at this moment.
    app = webhooks.service.client._transport.app  # type: ignore[attr-defined]
    dns = {"hooks.example.net": ["10.0.0.7"], "donor.example.org": ["93.184.216.34"]}

    async def fake_dns(host: str, port: int) -> list[str]:
        return dns[host]

    app.dependency_overrides[dns_resolver] = lambda: fake_dns
    webhooks.service.runtime.settings.environment = "production"
    try:
        for url, says in [
            ("http://donor.example.org/in", "must use https"),
            ("https://hooks.example.net/in", "10.0.0.7, a private"),
            ("https://127.0.0.1/in", "non-public"),
            ("https://[::1]/in", "non-public"),
        ]:
            response = await post(
                "/webhook-endpoints", json={**owner, "url": url}, headers=webhooks.headers()
            )
            assert response.status_code == 422 and says in response.json()["detail"], response.text
        created = await webhooks.register("https://donor.example.org/in")
        response = await webhooks.client.patch(
            f"/webhook-endpoints/{created['id']}",
            json={"url": "https://hooks.example.net/in"},
            headers=webhooks.headers(),
        )
        assert response.status_code == 422
        assert (await webhooks.endpoint(created))["url"] == "https://donor.example.org/in"
    finally:
        webhooks.service.runtime.settings.environment = "development"
        app.dependency_overrides.clear()
    response = await webhooks.client.get("/webhook-endpoints", headers=webhooks.headers())
    assert [e["url"] for e in response.json()] == ["https://donor.example.org/in"]

    response = await post(
        f"/webhook-endpoints/{created['id']}/replays",
        json={"since": "2026-03-02T00:00:00Z", "until": "2026-03-01T00:00:00Z"},
        headers=webhooks.headers(),
    )
    assert response.status_code == 422 and "since must be before until" in response.text


async def test_only_the_owner_sees_an_endpoint(webhooks: Webhooks) -> None:
    donor = uuid.uuid4()
    as_donor = bearer(f"donor:{donor}", kind="client")
    response = await webhooks.client.post(
        "/webhook-endpoints",
        json={"owner_kind": "donor", "owner_id": str(donor), "url": "http://localhost:9/in"},
        headers={"Idempotency-Key": "create-1", **as_donor},
    )
    assert response.status_code == 201, response.text
    created = response.json()
    retried = await webhooks.client.post(
        "/webhook-endpoints",
        json={"owner_kind": "donor", "owner_id": str(donor), "url": "http://localhost:9/in"},
        headers={"Idempotency-Key": "create-1", **as_donor},
    )
    # A retried creation makes no second endpoint, and does not show the secret again.
    assert retried.json() == created | {"secret": None}

    other = bearer(f"donor:{uuid.uuid4()}", kind="client")
    for method, path in [
        ("GET", ""),
        ("PATCH", ""),
        ("DELETE", ""),
        ("POST", "/secret-rotations"),
        ("GET", "/deliveries"),
    ]:
        response = await webhooks.client.request(
            method, f"/webhook-endpoints/{created['id']}{path}", headers=other, json={}
        )
        assert response.status_code == 404, (method, path, response.text)
    assert (await webhooks.client.get("/webhook-endpoints", headers=other)).json() == []
    mine = (await webhooks.client.get("/webhook-endpoints", headers=as_donor)).json()
    assert [e["id"] for e in mine] == [created["id"]]

    response = await webhooks.client.delete(f"/webhook-endpoints/{created['id']}", headers=as_donor)
    assert response.status_code == 204
    assert (await webhooks.client.get("/webhook-endpoints", headers=as_donor)).json() == []


@pytest.mark.parametrize("webhooks", [{"run_sender": False}], indirect=True)
async def test_a_name_rebound_to_a_private_address_is_not_sent_to(
    webhooks: Webhooks, receiver: Receiver
) -> None:
    """The sender checks the addresses again at each attempt (DNS rebinding)."""
    dns = {"donor.example.org": ["93.184.216.34"]}

    async def fake_dns(host: str, port: int) -> list[str]:
        return dns[host]

    app = webhooks.service.client._transport.app  # type: ignore[attr-defined]
    app.dependency_overrides[dns_resolver] = lambda: fake_dns
    settings = webhooks.service.runtime.settings
    settings.environment = "production"
    try:
        endpoint = await webhooks.register("https://donor.example.org/in")
    finally:
        settings.environment = "development"
        app.dependency_overrides.clear()
    dns["donor.example.org"] = ["127.0.0.1"]  # re-pointed at the receiver on loopback
    event = new_event(CONTRIBUTION_PLEDGED, webhooks.fund_id, CONTRIBUTION_PLEDGED.example)
    async with webhooks.service.runtime.sessions() as session:
        await enqueue(session, event, [Audience(RecipientKind.FUND, webhooks.fund_id)])
        await session.commit()
    # The sender as production runs it, with the DNS above.
    production = settings.model_copy(update={"environment": "production"})
    async with httpx.AsyncClient(timeout=2) as client:
        sender = WebhookSender(webhooks.service.runtime.sessions, production, client, fake_dns)  # type: ignore[arg-type]
        await sender.send_due()
    [logged] = await webhooks.deliveries(endpoint)
    assert logged["attempts"] >= 1 and "127.0.0.1" in logged["last_error"]
    assert receiver.got == []
    assert logged["status"] == "pending"  # retried on schedule, in case DNS is put right


@pytest.mark.parametrize(
    "webhooks",
    [{"run_sender": False, "webhook_timeout_seconds": 0.5, "webhook_lease_seconds": 0.8}],
    indirect=True,
)
async def test_a_crash_between_sending_and_recording_repeats_only_that_delivery(
    webhooks: Webhooks, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = await webhooks.register(receiver.url)
    receiver.secrets = [endpoint["secret"]]
    settings = webhooks.service.runtime.settings
    sessions = webhooks.service.runtime.sessions
    async with httpx.AsyncClient(timeout=0.5) as client:
        await webhooks.fund_created()
        recorded = WebhookSender(sessions, settings, client, system_resolver)  # type: ignore[arg-type]
        assert await recorded.send_due() == 1  # delivered and recorded

        in_flight = await webhooks.fund_created()
        crashing = WebhookSender(sessions, settings, client, system_resolver)  # type: ignore[arg-type]

        async def crash(*_args: object) -> None:
            raise ConnectionResetError("the process died before recording")

        monkeypatch.setattr(crashing, "_record", crash)
        assert await crashing.send_due() == 1  # sent, but the outcome is lost
        assert len(receiver.got) == 2
        # Another sender leaves it alone while the lease holds, then takes it over.
        assert await recorded.send_due() == 0
        await asyncio.sleep(settings.webhook_lease_seconds)  # type: ignore[attr-defined]
        assert await recorded.send_due() == 1
        assert await recorded.send_due() == 0

    first, crashed, repeated = receiver.got
    assert crashed.webhook_id == repeated.webhook_id != first.webhook_id
    assert repeated.json()["id"] == in_flight.id
    statuses = {d["event_id"]: d for d in await webhooks.deliveries(endpoint)}
    assert statuses[in_flight.id]["status"] == "delivered"
    assert statuses[in_flight.id]["attempts"] == 1  # the lost attempt left no record


@pytest.mark.parametrize("webhooks", [{"real_handlers": True}], indirect=True)
async def test_the_consumer_sends_each_event_only_to_the_endpoints_of_its_audiences(
    webhooks: Webhooks, receiver: Receiver
) -> None:
    """Through notifications' own handlers: a pledge reaches its fund and its donor, not another
    donor; a conflict profile reaches its city only."""
    pledge = CONTRIBUTION_PLEDGED.example
    donor, other_donor = pledge.donor_id, uuid.uuid4()  # type: ignore[attr-defined]
    city = CONFLICT_PROFILE_ASSESSED.example.city_id  # type: ignore[attr-defined]
    owners = {
        "fund": (pledge.fund_id, bearer(f"fund_admin:{pledge.fund_id}")),  # type: ignore[attr-defined]
        "donor": (donor, bearer(f"donor:{donor}", kind="client")),
        "other donor": (other_donor, bearer(f"donor:{other_donor}", kind="client")),
        "city": (city, bearer(f"city_officer:{city}")),
    }
    endpoints = {}
    for name, (owner_id, headers) in owners.items():
        kind = name.split(" ")[-1]
        response = await webhooks.client.post(
            "/webhook-endpoints",
            json={"owner_kind": kind, "owner_id": str(owner_id), "url": f"{receiver.url}?{name}"},
            headers=headers,
        )
        assert response.status_code == 201, response.text
        endpoints[name] = response.json()
    receiver.secrets = [endpoint["secret"] for endpoint in endpoints.values()]

    pledged = new_event(CONTRIBUTION_PLEDGED, pledge.fund_id, pledge)  # type: ignore[attr-defined]
    assessed = new_event(CONFLICT_PROFILE_ASSESSED, city, CONFLICT_PROFILE_ASSESSED.example)
    outcomes = await webhooks.service.deliver(pledged, assessed)
    assert all(outcome.value == "applied" for outcome in outcomes), outcomes

    await eventually(lambda: asyncio.sleep(0, len(receiver.got) == 3))
    await asyncio.sleep(0.3)  # time for a wrongful fourth
    got = sorted((r.headers["webhook-id"], r.json()["type"]) for r in receiver.got)
    expected = []
    for name, event_type in [
        ("fund", "ContributionPledged"),
        ("donor", "ContributionPledged"),
        ("city", "ConflictProfileAssessed"),
    ]:
        [delivery] = [
            (d["id"], d["event_type"])
            for d in (
                await webhooks.client.get(
                    f"/webhook-endpoints/{endpoints[name]['id']}/deliveries",
                    headers=owners[name][1],
                )
            ).json()["items"]
        ]
        assert delivery[1] == event_type
        expected.append(delivery)
    assert got == sorted(expected)
    assert all(r.verified_by for r in receiver.got)
    for received in receiver.got:  # only what the event's contract publishes
        envelope = received.json()
        assert set(envelope["data"]) <= set(CATALOGUE[envelope["type"]].payload.model_fields)


async def test_a_checked_address_is_connected_to_under_the_urls_host_name(
    receiver: Receiver,
) -> None:
    """What the sender does outside development: connect to the address it checked (the next
    one if that refuses), never to what the name resolves to later."""
    port = int(receiver.url.rsplit(":", 1)[1].split("/")[0])
    url = f"http://hooks.example.test:{port}/hooks"  # a name no resolver knows
    receiver.secrets = [domain.new_secret()]
    destination = Destination(domain.parse_url(url, development=True), ["::1", "127.0.0.1"])
    body, at = '{"type":"FundCreated"}', datetime.now(UTC)
    headers = {
        "webhook-id": "wh-pinned",
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": domain.signature_header(receiver.secrets, "wh-pinned", at, body),
    }
    async with httpx.AsyncClient(timeout=2, trust_env=False) as client:
        assert await post(client, url, destination, body.encode(), headers) == 204
    [got] = receiver.got
    assert got.headers["host"] == f"hooks.example.test:{port}"
    assert got.verified_by == receiver.secrets


@pytest.mark.parametrize(
    "webhooks", [{"webhook_timeout_seconds": 0.3, "webhook_lease_seconds": 1}], indirect=True
)
async def test_a_receiver_too_slow_to_answer_is_a_failed_attempt_retried_later(
    webhooks: Webhooks, receiver: Receiver
) -> None:
    endpoint = await webhooks.register(receiver.url)
    receiver.secrets = [endpoint["secret"]]
    receiver.delay_next = 1.0
    await webhooks.fund_created()

    [logged] = await eventually(
        lambda: _when(webhooks.deliveries(endpoint), lambda d: d and d[0]["status"] == "delivered")
    )
    detail = await webhooks.delivery(endpoint, logged["id"])
    first, second = detail["attempts_log"]
    assert (first["error"], first["response_code"]) == ("no answer within 0.3 s", None)
    assert second["succeeded"] and len(receiver.got) == 2


async def _every_stored_text(service: ServiceUnderTest) -> list[str]:
    """Every row of every table of the service's database (its plumbing included: the outbox,
    the inbox, the idempotency keys), as the database holds it."""
    tables = [*NotificationsTable.metadata.sorted_tables, *PLUMBING_METADATA.sorted_tables]
    async with service.runtime.engine.connect() as connection:
        return [
            repr(tuple(row))
            for table in tables
            for row in (await connection.execute(text(f'SELECT * FROM "{table.name}"'))).all()
        ]


async def test_no_table_holds_a_secret_in_the_clear(webhooks: Webhooks) -> None:
    body = {"owner_kind": "fund", "owner_id": str(webhooks.fund_id), "url": "http://localhost:9/"}
    create = {"Idempotency-Key": "create-with-secret", **webhooks.headers()}
    created = await webhooks.client.post("/webhook-endpoints", json=body, headers=create)
    assert created.status_code == 201 and created.json()["secret"].startswith("whsec_")
    endpoint = created.json()
    rotations = f"/webhook-endpoints/{endpoint['id']}/secret-rotations"
    rotate = {"Idempotency-Key": "rotate-secret", **webhooks.headers()}
    rotated = await webhooks.client.post(rotations, headers=rotate)
    assert rotated.status_code == 201 and rotated.json()["secret"].startswith("whsec_")
    issued = [endpoint["secret"], rotated.json()["secret"]]

    # Retries with the same keys answer the same endpoint, without the secret, saying why.
    for path, headers, first in [
        ("/webhook-endpoints", create, endpoint),
        (rotations, rotate, rotated.json()),
    ]:
        again = await webhooks.client.post(
            path, json=body if headers is create else None, headers=headers
        )
        assert again.headers.get("Idempotent-Replayed") == "true"
        assert again.json() == first | {"secret": None}
        assert "secret-rotations" in again.json()["secret_notice"]

    stored = await _every_stored_text(webhooks.service)
    assert any(endpoint["id"].replace("-", "") in row.replace("-", "") for row in stored)
    for secret in issued:
        key_material = secret.removeprefix("whsec_")
        assert not [row for row in stored if key_material in row]
    # What is stored opens, with the configured key, to the secrets shown (old one in grace).
    async with webhooks.service.runtime.sessions() as session:
        row = await session.get(WebhookEndpoint, uuid.UUID(endpoint["id"]))
        assert row is not None
        box = SecretBox(webhooks.service.runtime.settings.webhook_secret_keys)  # type: ignore[attr-defined]
        assert box.signing_secrets(row, datetime.now(UTC)) == issued[::-1]


@pytest.mark.parametrize("webhooks", [{"run_sender": False}], indirect=True)
async def test_secrets_move_to_a_new_key_and_the_old_key_can_go(
    webhooks: Webhooks, receiver: Receiver
) -> None:
    endpoint = await webhooks.register(receiver.url)
    sessions = webhooks.service.runtime.sessions
    new_key = Fernet.generate_key().decode()
    assert await reseal_all(sessions, SecretBox(SecretStr(f"{new_key},{DEV_SECRET_KEY}"))) == 1

    async with sessions() as session:
        row = await session.get(WebhookEndpoint, uuid.UUID(endpoint["id"]))
    assert row is not None
    assert SecretBox(SecretStr(new_key)).open(row.sealed_secret) == endpoint["secret"]
    with pytest.raises(RuntimeError, match="put that key back"):
        SecretBox(SecretStr(DEV_SECRET_KEY)).open(row.sealed_secret)

    # A sender holding only the new key signs with the same secret as before.
    settings = webhooks.service.runtime.settings.model_copy(
        update={"webhook_secret_keys": SecretStr(new_key)}
    )
    receiver.secrets = [endpoint["secret"]]
    await webhooks.fund_created()
    async with httpx.AsyncClient() as client:
        # A sender missing the key says so, and leaves the delivery free for one that has it.
        old_settings = webhooks.service.runtime.settings
        missing = WebhookSender(sessions, old_settings, client, system_resolver)  # type: ignore[arg-type]
        with pytest.raises(RuntimeError, match="put that key back"):
            await missing.send_due()
        sender = WebhookSender(sessions, settings, client, system_resolver)  # type: ignore[arg-type]
        assert await sender.send_due() == 1
    [got] = receiver.got
    assert got.verified_by == [endpoint["secret"]]


@pytest.mark.parametrize("webhooks", [{"webhook_poll_seconds": 3600}], indirect=True)
async def test_a_queued_delivery_wakes_the_sender_long_before_its_poll(
    webhooks: Webhooks, receiver: Receiver
) -> None:
    # The sender started with the fixture, found nothing, and now sleeps for up to an hour.
    await asyncio.sleep(0.2)
    endpoint = await webhooks.register(receiver.url)
    receiver.secrets = [endpoint["secret"]]
    event = await webhooks.fund_created()
    [got] = await eventually(
        lambda: asyncio.sleep(0, receiver.got), within=10, what="a delivery woken by the commit"
    )
    assert got.json()["id"] == event.id
