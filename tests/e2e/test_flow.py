import uuid

import httpx
import pytest

from shared.devstack import Stack, free_port
from tests.helpers import eventually

pytestmark = pytest.mark.e2e


class System:
    """The HTTP calls of the flow, one per step, against a running stack."""

    def __init__(self, stack: Stack, http: httpx.AsyncClient) -> None:
        self.stack = stack
        self.http = http

    async def post(self, service: str, path: str, body: dict, **headers: str) -> dict:
        response = await self.http.post(
            f"{self.stack.url(service)}{path}", json=body, headers=headers
        )
        assert response.status_code in (200, 201), response.text
        return response.json()

    async def get(self, service: str, path: str) -> httpx.Response:
        return await self.http.get(f"{self.stack.url(service)}{path}")

    async def register_city(self, name: str, country: str) -> str:
        return (await self.post("registry", "/cities", {"name": name, "country_code": country}))[
            "id"
        ]

    async def known_to_matching(self, city_id: str) -> None:
        async def known() -> bool:
            return (await self.get("matching", f"/cities/{city_id}")).status_code == 200

        await eventually(known, what=f"matching knows city {city_id}")

    async def feed_types(self, kind: str, recipient: str) -> list[str]:
        response = await self.get("notifications", f"/feeds/{kind}/{recipient}")
        return [item["event_type"] for item in response.json()["items"]]

    async def wait_for_feed(self, kind: str, recipient: str, expected: list[str]) -> None:
        async def arrived() -> list[str] | None:
            types = await self.feed_types(kind, recipient)
            return types if sorted(types) == sorted(expected) else None

        await eventually(arrived, what=f"{kind} {recipient}'s feed to hold {expected}")


@pytest.fixture
def system(stack: Stack, http: httpx.AsyncClient) -> System:
    return System(stack, http)


async def test_cities_agree_a_fund_takes_a_pledge_and_everyone_is_told(system: System) -> None:
    lome = await system.register_city("Lomé", "TG")
    lyon = await system.register_city("Lyon", "FR")
    await system.known_to_matching(lome)
    await system.known_to_matching(lyon)

    agreement = await system.post(
        "matching",
        "/agreements",
        {
            "title": "Lomé–Lyon: waste collection",
            "party_city_ids": [lome, lyon],
            "proposed_by_city_id": lome,
        },
    )
    accepted = await system.post(
        "matching", f"/agreements/{agreement['id']}/acceptances", {"city_id": lyon}
    )
    assert accepted["status"] == "accepted"

    fund = await system.post(
        "funding", "/funds", {"name": "International City Solidarity Fund", "currency": "EUR"}
    )
    pledge = {
        "donor_name": "Ville de Genève",
        "donor_kind": "city",
        "amount": "25000",
        "currency": "CHF",
    }
    await system.post(
        "funding", f"/funds/{fund['id']}/pledges", pledge, **{"Idempotency-Key": str(uuid.uuid4())}
    )

    flow = ["CityRegistered", "AgreementProposed", "AgreementAccepted"]
    await system.wait_for_feed("city", lome, flow)
    await system.wait_for_feed("city", lyon, flow)
    await system.wait_for_feed("fund", fund["id"], ["FundCreated", "ContributionPledged"])


async def test_an_event_published_while_a_consumer_is_down_is_processed_when_it_returns(
    system: System,
) -> None:
    system.stack.stop_service("notifications")
    banjul = await system.register_city("Banjul", "GM")  # published while notifications is down
    await system.known_to_matching(banjul)
    system.stack.start_service("notifications")
    await system.wait_for_feed("city", banjul, ["CityRegistered"])


async def test_two_instances_of_a_service_split_the_partitions(system: System) -> None:
    async def partitions(instance: str) -> list[str]:
        response = await system.get(instance, "/readyz")
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
            f"{topic}.events/{p}" for topic in ("registry", "matching", "funding") for p in range(3)
        }
        assert first | second == every

        cities = [await system.register_city(f"Ville {n}", "BE") for n in range(6)]
        for city in cities:
            await system.wait_for_feed("city", city, ["CityRegistered"])
    finally:
        system.stack.stop_service("notifications-2")
