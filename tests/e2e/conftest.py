"""End-to-end: the real broker and the four services as separate processes, driven only over
HTTP, waiting with deadlines."""

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from services.registry.settings import DEV_ADMIN_PASSWORD, DEV_ADMIN_USERNAME
from shared.devstack import SERVICE_PORTS, Stack, free_port
from tests.helpers import eventually

PASSWORD = "a long enough password"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    ports = {name: free_port() for name in SERVICE_PORTS}
    stack = Stack(
        data_dir=tmp_path_factory.mktemp("stack"),
        broker_port=free_port(),
        ports=ports,
        # The SMTP sink of `make run`, and senders that look often: email and webhooks arrive
        # within the tests' deadlines.
        mail_port=free_port(),
        extra_env={
            "NOTIFICATIONS_SENDER_POLL_SECONDS": "0.2",
            "NOTIFICATIONS_WEBHOOK_POLL_SECONDS": "0.2",
        },
    )
    with stack.running():
        yield stack


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


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
        assert response.status_code in (200, 201, 202), response.text
        return response.json()

    async def get(self, service: str, path: str, token: str | None = None) -> Any:
        response = await self.call("GET", service, path, token)
        assert response.status_code == 200, response.text
        return response.json()

    async def put(self, service: str, path: str, token: str, body: dict) -> dict:
        response = await self.call("PUT", service, path, token, json=body)
        assert response.status_code == 200, response.text
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

    async def new_officer(self, city: str, country: str, **profile: Any) -> tuple[str, str]:
        """An official signs up, registers the city and refreshes to act for it."""
        account = await self.new_account(f"Maire de {city}", f"{country.lower()}.example.org")
        tokens = await self.sign_in(account["username"])
        body = {"name": city, "country_code": country, **profile}
        registered = await self.post("registry", "/cities", tokens["access_token"], body)
        return registered["id"], await self.refresh(tokens)

    async def new_account(self, display_name: str, domain: str = "example.org") -> dict:
        """A person signs up; the answer carries the account's id (the tokens' subject)."""
        username = f"{uuid.uuid4().hex[:8]}@{domain}"
        body = {"username": username, "display_name": display_name, "password": PASSWORD}
        return await self.post("registry", "/accounts", "", body)

    async def new_fund_admin(self, fund_id: str, admin: str, name: str = "Trésorier") -> str:
        """An account a platform administrator grants the fund's administration; its token."""
        account = await self.new_account(name, "fund.example.org")
        grant = {"subject": account["id"], "role": "fund_admin", "scope": fund_id}
        await self.post("registry", "/grants", admin, grant)
        return (await self.sign_in(account["username"]))["access_token"]

    async def new_donor(self, admin: str, name: str) -> tuple[str, str]:
        """A donor system's client, registered by a platform administrator: the donor's id (its
        grant's scope) and a token from its client credentials."""
        client = await self.post("registry", "/clients", admin, {"name": name})
        [grant] = client["grants"]
        return grant.removeprefix("donor:"), await self.client_token(client)

    async def agree(self, title: str, proposer: tuple[str, str], partner: tuple[str, str]) -> dict:
        """`proposer` (a city id and its officer's token) proposes an agreement to `partner`,
        which accepts it: the accepted agreement."""
        (proposer_city, proposer_token), (partner_city, partner_token) = proposer, partner
        agreement = await self.post(
            "matching",
            "/agreements",
            proposer_token,
            {
                "title": title,
                "party_city_ids": [proposer_city, partner_city],
                "proposed_by_city_id": proposer_city,
            },
        )
        return await self.post(
            "matching",
            f"/agreements/{agreement['id']}/acceptances",
            partner_token,
            {"city_id": partner_city},
        )

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
