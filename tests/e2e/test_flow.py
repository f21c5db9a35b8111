import uuid

import pytest

from shared.devstack import free_port
from tests.e2e.conftest import System
from tests.helpers import eventually

pytestmark = pytest.mark.e2e


async def test_cities_agree_a_fund_takes_a_pledge_and_everyone_is_told(system: System) -> None:
    lome, lome_officer = await system.new_officer(f"Lomé {uuid.uuid4().hex[:4]}", "TG")
    lyon, lyon_officer = await system.new_officer(f"Lyon {uuid.uuid4().hex[:4]}", "FR")
    await system.known_to_matching(lome, lome_officer)
    await system.known_to_matching(lyon, lyon_officer)

    accepted = await system.agree(
        "Lomé–Lyon: waste collection", (lome, lome_officer), (lyon, lyon_officer)
    )
    assert accepted["status"] == "accepted"

    admin = await system.admin()
    fund = await system.post(
        "funding",
        "/funds",
        admin,
        {"name": f"Solidarity Fund {uuid.uuid4().hex[:6]}", "currency": "EUR"},
    )
    _, donor_token = await system.new_donor(admin, "Ville de Genève")
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
    fund_admin = await system.new_fund_admin(fund["id"], admin)

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
