import uuid
from typing import Any

import httpx
import pytest

from services.registry.settings import DEV_ADMIN_PASSWORD, DEV_ADMIN_USERNAME
from shared.devstack import Stack, free_port
from tests.helpers import eventually

pytestmark = pytest.mark.e2e
PASSWORD = "a long enough password"


class System:
    """The HTTP calls of the flow, one per step, against a running stack, with real tokens from
    the registry's token endpoint."""

    def __init__(self, stack: Stack, http: httpx.AsyncClient) -> None:
        self.stack = stack
        self.http = http

    async def call(
        self, method: str, service: str, path: str, token: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        url = f"{self.stack.url(service)}{path}"
        return await self.http.request(method, url, headers=headers, **kwargs)

    async def post(self, service: str, path: str, token: str, body: dict, **headers: str) -> dict:
        response = await self.call("POST", service, path, token, json=body, headers=headers)
        assert response.status_code in (200, 201), response.text
        return response.json()

    async def sign_in(self, username: str, password: str = PASSWORD) -> dict:
        response = await self.call(
            "POST",
            "registry",
            "/oauth/token",
            data={"grant_type": "password", "username": username, "password": password},
        )
        assert response.status_code == 200, response.text
        return response.json()

    async def refresh(self, tokens: dict) -> str:
        data = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
        response = await self.call("POST", "registry", "/oauth/token", data=data)
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    async def client_token(self, client: dict) -> str:
        """A donor system's token, from its client credentials (HTTP Basic)."""
        response = await self.call(
            "POST",
            "registry",
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(client["client_id"], client["client_secret"]),
        )
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    async def admin(self) -> str:
        return (await self.sign_in(DEV_ADMIN_USERNAME, DEV_ADMIN_PASSWORD))["access_token"]

    async def new_officer(self, city: str, country: str) -> tuple[str, str]:
        """An official signs up, registers the city and refreshes to act for it."""
        username = f"{uuid.uuid4().hex[:8]}@{country.lower()}.example.org"
        body = {"username": username, "display_name": f"Maire de {city}", "password": PASSWORD}
        assert (await self.call("POST", "registry", "/accounts", json=body)).status_code == 201
        tokens = await self.sign_in(username)
        registered = await self.post(
            "registry", "/cities", tokens["access_token"], {"name": city, "country_code": country}
        )
        return registered["id"], await self.refresh(tokens)

    async def known_to_matching(self, city_id: str, token: str) -> None:
        async def known() -> bool:
            response = await self.call("GET", "matching", f"/cities/{city_id}", token)
            return response.status_code == 200

        await eventually(known, what=f"matching knows city {city_id}")

    async def wait_for_feed(
        self, kind: str, recipient: str, token: str, expected: list[str]
    ) -> None:
        async def arrived() -> list[str] | None:
            response = await self.call("GET", "notifications", f"/feeds/{kind}/{recipient}", token)
            assert response.status_code == 200, response.text
            types = [item["event_type"] for item in response.json()["items"]]
            return types if sorted(types) == sorted(expected) else None

        await eventually(arrived, what=f"{kind} {recipient}'s feed to hold {expected}")


@pytest.fixture
def system(stack: Stack, http: httpx.AsyncClient) -> System:
    return System(stack, http)


async def test_cities_agree_a_fund_takes_a_pledge_and_everyone_is_told(system: System) -> None:
    lome, lome_officer = await system.new_officer(f"Lomé {uuid.uuid4().hex[:4]}", "TG")
    lyon, lyon_officer = await system.new_officer(f"Lyon {uuid.uuid4().hex[:4]}", "FR")
    await system.known_to_matching(lome, lome_officer)
    await system.known_to_matching(lyon, lyon_officer)

    agreement = await system.post(
        "matching",
        "/agreements",
        lome_officer,
        {
            "title": "Lomé–Lyon: waste collection",
            "party_city_ids": [lome, lyon],
            "proposed_by_city_id": lome,
        },
    )
    accepted = await system.post(
        "matching", f"/agreements/{agreement['id']}/acceptances", lyon_officer, {"city_id": lyon}
    )
    assert accepted["status"] == "accepted"

    admin = await system.admin()
    fund = await system.post(
        "funding",
        "/funds",
        admin,
        {"name": f"Solidarity Fund {uuid.uuid4().hex[:6]}", "currency": "EUR"},
    )
    client = await system.post("registry", "/clients", admin, {"name": "Ville de Genève"})
    donor_token = await system.client_token(client)
    pledge = {
        "donor_name": "Ville de Genève",
        "donor_kind": "city",
        "amount": "25000",
        "currency": "CHF",
    }
    await system.post(
        "funding",
        f"/funds/{fund['id']}/pledges",
        donor_token,
        pledge,
        **{"Idempotency-Key": str(uuid.uuid4())},
    )

    # A fund administrator is an account granted the role by a platform administrator.
    treasurer = f"{uuid.uuid4().hex[:8]}@fund.example.org"
    account = await system.post(
        "registry",
        "/accounts",
        "",
        {"username": treasurer, "display_name": "Trésorier", "password": PASSWORD},
    )
    await system.post(
        "registry",
        "/grants",
        admin,
        {"subject": account["id"], "role": "fund_admin", "scope": fund["id"]},
    )
    fund_admin = (await system.sign_in(treasurer))["access_token"]

    flow = ["CityRegistered", "AgreementProposed", "AgreementAccepted"]
    await system.wait_for_feed("city", lome, lome_officer, flow)
    await system.wait_for_feed("city", lyon, lyon_officer, flow)
    await system.wait_for_feed(
        "fund", fund["id"], fund_admin, ["FundCreated", "ContributionPledged"]
    )
    other_city = await system.call("GET", "notifications", f"/feeds/city/{lome}", lyon_officer)
    assert other_city.status_code == 403


async def test_a_revoked_donor_system_is_refused_by_every_service(system: System) -> None:
    admin = await system.admin()
    fund = await system.post(
        "funding", "/funds", admin, {"name": f"Fund {uuid.uuid4().hex[:6]}", "currency": "EUR"}
    )
    client = await system.post("registry", "/clients", admin, {"name": "Fondation leaked"})
    donor_token = await system.client_token(client)
    pledges = f"/funds/{fund['id']}/pledges"
    assert (await system.call("GET", "funding", pledges, donor_token)).status_code == 200

    revoked = await system.call(
        "POST",
        "registry",
        f"/clients/{client['client_id']}/revocation",
        admin,
        json={"reason": "secret leaked"},
    )
    assert revoked.status_code == 204

    async def refused_by_funding() -> bool:
        return (await system.call("GET", "funding", pledges, donor_token)).status_code == 401

    await eventually(refused_by_funding, what="funding to refuse the revoked client's token")


async def test_an_event_published_while_a_consumer_is_down_is_processed_when_it_returns(
    system: System,
) -> None:
    system.stack.stop_service("notifications")
    banjul, officer = await system.new_officer("Banjul", "GM")  # published while it is down
    await system.known_to_matching(banjul, officer)
    system.stack.start_service("notifications")
    await system.wait_for_feed("city", banjul, officer, ["CityRegistered"])


async def test_two_instances_of_a_service_split_the_partitions(system: System) -> None:
    async def partitions(instance: str) -> list[str]:
        response = await system.call("GET", instance, "/readyz")
        return response.json().get("consumer_partitions", []) if response.status_code == 200 else []

    system.stack.start_service("notifications", instance="notifications-2", port=free_port())
    try:

        async def split() -> tuple[set[str], set[str]] | None:
            first, second = (
                set(await partitions("notifications")),
                set(await partitions("notifications-2")),
            )
            return (first, second) if first and second and not first & second else None

        first, second = await eventually(
            split, within=60, what="the partitions split between instances"
        )
        every = {
            f"{topic}.events/{p}"
            # notifications hears its own events too (a webhook endpoint disabled)
            for topic in ("registry", "matching", "funding", "notifications")
            for p in range(3)
        }
        assert first | second == every

        for n in range(6):
            city, officer = await system.new_officer(f"Ville {n}", "BE")
            await system.wait_for_feed("city", city, officer, ["CityRegistered"])
    finally:
        system.stack.stop_service("notifications-2")
