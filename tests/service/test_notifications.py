"""Notifications fed with the events the other services really wrote to their outboxes."""

import uuid

from shared.inbox import Outcome
from tests.helpers import ServiceUnderTest


async def feed(
    notifications: ServiceUnderTest, kind: str, recipient: str, **params: object
) -> dict:
    response = await notifications.client.get(f"/feeds/{kind}/{recipient}", params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_each_event_becomes_news_for_the_cities_and_fund_concerned(
    registry: ServiceUnderTest,
    matching: ServiceUnderTest,
    funding: ServiceUnderTest,
    notifications: ServiceUnderTest,
) -> None:
    lome = (
        await registry.client.post("/cities", json={"name": "Lomé", "country_code": "TG"})
    ).json()
    lyon = (
        await registry.client.post("/cities", json={"name": "Lyon", "country_code": "FR"})
    ).json()
    city_events = await registry.events()
    await matching.deliver(*city_events)
    await notifications.deliver(*city_events)

    agreement = (
        await matching.client.post(
            "/agreements",
            json={
                "title": "Lomé–Lyon",
                "party_city_ids": [lome["id"], lyon["id"]],
                "proposed_by_city_id": lome["id"],
            },
        )
    ).json()
    await matching.client.post(
        f"/agreements/{agreement['id']}/acceptances", json={"city_id": lyon["id"]}
    )
    fund = (await funding.client.post("/funds", json={"name": "ICSF", "currency": "EUR"})).json()
    await funding.client.post(
        f"/funds/{fund['id']}/pledges",
        json={"donor_name": "Lyon", "donor_kind": "city", "amount": "1000", "currency": "EUR"},
        headers={"Idempotency-Key": "pledge-1"},
    )
    later = [*await matching.events(), *await funding.events()]
    assert await notifications.deliver(*later) == [Outcome.APPLIED] * 4
    assert await notifications.deliver(*later) == [Outcome.DUPLICATE] * 4

    lyon_feed = await feed(notifications, "city", lyon["id"])
    assert [item["event_type"] for item in lyon_feed["items"]] == [
        "AgreementAccepted",
        "AgreementProposed",
        "CityRegistered",
    ]
    assert lyon_feed["items"][1]["body"] == (
        "Lomé proposed a bilateral agreement; your city is invited to accept it."
    )
    fund_feed = await feed(notifications, "fund", fund["id"])
    assert [item["title"] for item in fund_feed["items"]] == [
        "New pledge from Lyon",
        "Fund created: ICSF",
    ]


async def test_feeds_page_backwards_from_the_newest(
    registry: ServiceUnderTest, notifications: ServiceUnderTest
) -> None:
    city = (
        await registry.client.post("/cities", json={"name": "Banjul", "country_code": "GM"})
    ).json()
    [event] = await registry.events()
    # Three distinct events for one city: the same fact redelivered under new ids.
    copies = [event.__class__(**{**event.__dict__, "id": str(uuid.uuid4())}) for _ in range(3)]
    await notifications.deliver(*copies)
    first = await feed(notifications, "city", city["id"], limit=2)
    assert len(first["items"]) == 2 and first["next_before"]
    rest = await feed(notifications, "city", city["id"], limit=2, before=first["next_before"])
    assert len(rest["items"]) == 1 and rest["next_before"] is None
    seqs = [i["seq"] for i in first["items"] + rest["items"]]
    assert seqs == sorted(seqs, reverse=True)


async def test_feed_requests_are_checked(notifications: ServiceUnderTest) -> None:
    assert (await notifications.client.get(f"/feeds/planet/{uuid.uuid4()}")).status_code == 422
    assert (await notifications.client.get("/feeds/city/lyon")).status_code == 422
    empty = await feed(notifications, "city", str(uuid.uuid4()))
    assert empty == {"items": [], "next_before": None}
