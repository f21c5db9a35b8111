"""A city's registrant is welcomed whichever of CityRegistered (keyed by the city) and their
RoleGranted (keyed by the account) the consumer gets first: the two are on different Kafka keys,
so no order between them is promised."""

import uuid

import pytest
from sqlmodel import select

from services.notifications.models import AwaitingOfficer, Delivery
from shared.contracts.registry import CITY_REGISTERED, ROLE_GRANTED
from shared.inbox import Outcome
from tests.helpers import ServiceUnderTest, bearer
from tests.service.test_notifications_me import mine, role_granted


@pytest.mark.parametrize("city_first", [True, False], ids=["city first", "grant first"])
async def test_the_registrant_is_welcomed_whichever_event_arrives_first(
    registry: ServiceUnderTest, notifications: ServiceUnderTest, city_first: bool
) -> None:
    officer = str(uuid.uuid4())
    chose = await notifications.client.put(
        "/me/preferences",
        json={"email": "mairie@lyon.example.org"},
        headers=bearer(subject=officer),
    )
    assert chose.status_code == 200, chose.text
    registered = await registry.client.post(
        "/cities",
        json={"name": "Lyon", "country_code": "FR", "official_languages": ["fr"]},
        headers=bearer(subject=officer),
    )
    assert registered.status_code == 201, registered.text
    [city] = await registry.events(CITY_REGISTERED.type)
    [grant] = [g for g in await registry.events(ROLE_GRANTED.type) if g.data["subject"] == officer]
    arrival = [city, grant] if city_first else [grant, city]

    assert await notifications.deliver(*arrival) == [Outcome.APPLIED] * 2
    assert await notifications.deliver(*arrival) == [Outcome.DUPLICATE] * 2

    [welcome] = (await mine(notifications, officer))["items"]
    assert (welcome["event_type"], welcome["title"]) == ("CityRegistered", "Bienvenue, Lyon")
    assert welcome["body"] == "Lyon (FR) est inscrite au programme d'échanges entre villes."
    async with notifications.runtime.sessions() as session:
        [email] = (await session.exec(select(Delivery))).all()
        assert (email.recipient, email.event_id) == (officer, city.id)
        assert (await session.exec(select(AwaitingOfficer))).all() == []

    # Officers appointed later are not welcomed to a city registered long before.
    later = str(uuid.uuid4())
    await notifications.deliver(role_granted(later, "city_officer", registered.json()["id"]))
    assert (await mine(notifications, later))["items"] == []


async def test_a_city_registered_for_others_welcomes_its_first_officer(
    registry: ServiceUnderTest, notifications: ServiceUnderTest
) -> None:
    # A platform administrator registers the city: no one is granted with it.
    registered = await registry.client.post(
        "/cities", json={"name": "Kigali", "country_code": "RW"}, headers=bearer("platform_admin")
    )
    assert registered.status_code == 201, registered.text
    await notifications.deliver(*await registry.events())
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    city_id = registered.json()["id"]
    await notifications.deliver(role_granted(first, "city_officer", city_id))
    await notifications.deliver(role_granted(second, "city_officer", city_id))

    assert [i["title"] for i in (await mine(notifications, first))["items"]] == ["Welcome, Kigali"]
    assert (await mine(notifications, second))["items"] == []
