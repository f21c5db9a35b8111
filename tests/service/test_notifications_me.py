"""Each person's own notifications and preferences, fed with the events the registry, matching
and funding really wrote (RoleGranted included: who is an officer comes from there)."""

import uuid

import pytest
from sqlalchemy.exc import IntegrityError

from services.notifications.models import Notification
from shared.contracts.funding import CONTRIBUTION_PLEDGED, TRANCHE_HELD
from shared.contracts.notifications import WEBHOOK_ENDPOINT_DISABLED
from shared.contracts.registry import ROLE_GRANTED, ROLE_REVOKED, RoleGranted
from shared.db import utcnow
from shared.events import Event, new_event
from shared.inbox import Outcome
from tests.helpers import ServiceUnderTest, bearer


async def register_city(
    registry: ServiceUnderTest,
    notifications: ServiceUnderTest,
    name: str,
    country: str,
    officer: str,
    languages: list[str] | None = None,
) -> str:
    """Registered by `officer`'s account, who thereby becomes its officer (RoleGranted)."""
    response = await registry.client.post(
        "/cities",
        json={"name": name, "country_code": country, "official_languages": languages or []},
        headers=bearer(subject=officer),
    )
    assert response.status_code == 201, response.text
    await notifications.deliver(*await registry.events())
    return response.json()["id"]


async def mine(notifications: ServiceUnderTest, subject: str, **params: object) -> dict:
    response = await notifications.client.get(
        "/me/notifications", params=params, headers=bearer(subject=subject)
    )
    assert response.status_code == 200, response.text
    return response.json()


async def propose(matching: ServiceUnderTest, by: tuple[str, str], to: str, title: str) -> None:
    city, officer = by
    response = await matching.client.post(
        "/agreements",
        json={"title": title, "party_city_ids": [city, to], "proposed_by_city_id": city},
        headers=bearer(f"city_officer:{city}", subject=officer),
    )
    assert response.status_code == 201, response.text


async def test_an_officer_hears_in_their_city_s_language_and_reads_them(
    registry: ServiceUnderTest, matching: ServiceUnderTest, notifications: ServiceUnderTest
) -> None:
    lome_officer, lyon_officer = str(uuid.uuid4()), str(uuid.uuid4())
    lome = await register_city(registry, notifications, "Lomé", "TG", lome_officer, ["fr", "ee"])
    lyon = await register_city(registry, notifications, "Lyon", "FR", lyon_officer, ["fr"])
    await matching.deliver(*await registry.events("CityRegistered"))
    for n in range(3):
        await propose(matching, (lome, lome_officer), lyon, f"Lomé–Lyon {n}")
    assert await notifications.deliver(*await matching.events()) == [Outcome.APPLIED] * 3

    page = await mine(notifications, lyon_officer, limit=2)
    # The welcome and three proposals.
    assert page["unread_count"] == 4
    assert [item["title"] for item in page["items"]] == [
        "Accord proposé : Lomé–Lyon 2",
        "Accord proposé : Lomé–Lyon 1",
    ]
    assert page["items"][0]["body"] == (
        "Lomé a proposé un accord (bilateral) ; votre ville est invitée à l'accepter."
    )
    older = await mine(notifications, lyon_officer, limit=2, before=page["next_before"])
    assert [i["event_type"] for i in older["items"]] == ["AgreementProposed", "CityRegistered"]
    assert older["items"][1]["title"] == "Bienvenue, Lyon"
    assert older["next_before"] is None

    headers = bearer(subject=lyon_officer)
    newest = page["items"][0]["seq"]
    one = await notifications.client.post(f"/me/notifications/{newest}/read", headers=headers)
    assert one.json() == {"marked": 1, "unread_count": 3}
    again = await notifications.client.post(f"/me/notifications/{newest}/read", headers=headers)
    assert again.json() == {"marked": 0, "unread_count": 3}
    unread = await mine(notifications, lyon_officer, unread_only=True)
    assert newest not in [item["seq"] for item in unread["items"]]
    # Read up to what the page showed: a notification arriving later stays unread.
    second = page["items"][1]["seq"]
    upto = await notifications.client.post(
        "/me/notifications/read", json={"up_to": second}, headers=headers
    )
    assert upto.json() == {"marked": 3, "unread_count": 0}
    count = await notifications.client.get("/me/notifications/unread-count", headers=headers)
    assert count.json() == {"unread_count": 0}

    # Others' notifications are not there to be marked, nor read.
    theirs = (await mine(notifications, lome_officer))["items"][0]["seq"]
    stolen = await notifications.client.post(f"/me/notifications/{theirs}/read", headers=headers)
    assert stolen.status_code == 404, stolen.text
    assert (await mine(notifications, lome_officer))["unread_count"] == 4  # welcome, proposals
    assert (await mine(notifications, str(uuid.uuid4()))) == {
        "items": [],
        "next_before": None,
        "unread_count": 0,
    }


async def test_platform_admins_hear_of_new_cities_once_however_often_it_is_delivered(
    registry: ServiceUnderTest, notifications: ServiceUnderTest
) -> None:
    await register_city(registry, notifications, "Banjul", "GM", str(uuid.uuid4()))
    assert set(await notifications.deliver(*await registry.events())) == {Outcome.DUPLICATE}
    # The registry's first administrator, granted at its start-up.
    [admin] = [
        e.data["subject"]
        for e in await registry.events(ROLE_GRANTED.type)
        if e.data["role"] == "platform_admin"
    ]
    page = await mine(notifications, admin)
    assert [item["title"] for item in page["items"]] == ["New city to verify: Banjul"]
    assert page["items"][0]["body"] == "Banjul (GM) registered and awaits verification."


async def test_a_revoked_officer_hears_nothing_more_even_if_the_revocation_came_first(
    registry: ServiceUnderTest, matching: ServiceUnderTest, notifications: ServiceUnderTest
) -> None:
    officer, partner = str(uuid.uuid4()), str(uuid.uuid4())
    banjul = await register_city(registry, notifications, "Banjul", "GM", partner)
    response = await registry.client.post(
        "/cities", json={"name": "Ostende", "country_code": "BE"}, headers=bearer(subject=officer)
    )
    ostend = response.json()["id"]
    await matching.deliver(*await registry.events("CityRegistered"))
    await notifications.deliver(*await registry.events("CityRegistered"))
    grant = next(
        g for g in await registry.events(ROLE_GRANTED.type) if g.data["subject"] == officer
    )
    revoked = await registry.client.post(
        f"/grants/{grant.data['grant_id']}/revocation", headers=bearer("platform_admin")
    )
    assert revoked.status_code == 200, revoked.text
    [revocation] = await registry.events(ROLE_REVOKED.type)
    # The revocation arrives before the grant (another partition): the grant must not win.
    await notifications.deliver(revocation, grant)
    await propose(matching, (banjul, partner), ostend, "Banjul–Ostende")
    await notifications.deliver(*await matching.events())
    # Not even Ostende's welcome, which awaited its first officer.
    assert (await mine(notifications, officer))["items"] == []
    assert (await mine(notifications, partner))["unread_count"] == 2  # welcome, proposal


async def test_preferences_default_then_chosen_and_bad_ones_refused(
    registry: ServiceUnderTest, notifications: ServiceUnderTest
) -> None:
    officer = str(uuid.uuid4())
    await register_city(registry, notifications, "Bogotá", "CO", officer, ["es"])
    headers = bearer(subject=officer)
    defaults = (await notifications.client.get("/me/preferences", headers=headers)).json()
    assert defaults["language"] == "es" and defaults["language_chosen"] is False
    assert defaults["email"] is None and defaults["digest"] == "immediate"
    assert defaults["subscriptions"]["AgreementProposed"] == {"in_app": True, "email": True}
    assert defaults["subscriptions"]["NeedPublished"] == {"in_app": True, "email": False}

    chosen = {
        "email": "alcaldia@bogota.example.org",
        "language": "en",
        "digest": "weekly",
        "subscriptions": {"AgreementProposed": {"email": False}, "NeedPublished": {"email": True}},
    }
    for _ in range(2):  # a PUT: the same twice is the same state
        put = await notifications.client.put("/me/preferences", json=chosen, headers=headers)
        assert put.status_code == 200, put.text
    body = put.json()
    assert body["language"] == "en" and body["language_chosen"] is True
    assert body["subscriptions"]["AgreementProposed"] == {"in_app": True, "email": False}
    assert body["subscriptions"]["NeedPublished"] == {"in_app": True, "email": True}
    assert (await notifications.client.get("/me/preferences", headers=headers)).json() == body

    types = await notifications.client.get("/event-types", headers=headers)
    known = {t["type"]: t for t in types.json()}
    assert known["ContributionPledged"]["audiences"] == ["donor", "fund"]
    unknown = await notifications.client.put(
        "/me/preferences", json={"subscriptions": {"AgreementSigned": {}}}, headers=headers
    )
    assert unknown.status_code == 422, unknown.text
    assert "AgreementSigned" in unknown.json()["detail"]
    assert "AgreementProposed" in unknown.json()["detail"]
    for bad in (
        {"email": "not an address"},
        {"language": "ee"},
        {"digest": "hourly"},
        {"subscriptions": {"AgreementProposed": {"webhook": True}}},
        {"status": "vip"},
    ):
        refused = await notifications.client.put("/me/preferences", json=bad, headers=headers)
        assert refused.status_code == 422, (bad, refused.text)
    # Nothing half-written: the refusals left the last good choice in place.
    assert (await notifications.client.get("/me/preferences", headers=headers)).json() == body


async def test_switching_the_app_off_for_a_type_stops_its_notifications(
    registry: ServiceUnderTest, matching: ServiceUnderTest, notifications: ServiceUnderTest
) -> None:
    lome_officer, lyon_officer = str(uuid.uuid4()), str(uuid.uuid4())
    lome = await register_city(registry, notifications, "Lomé", "TG", lome_officer)
    lyon = await register_city(registry, notifications, "Lyon", "FR", lyon_officer)
    await matching.deliver(*await registry.events("CityRegistered"))
    off = {"subscriptions": {"AgreementProposed": {"in_app": False}}}
    put = await notifications.client.put(
        "/me/preferences", json=off, headers=bearer(subject=lyon_officer)
    )
    assert put.status_code == 200, put.text
    await propose(matching, (lome, lome_officer), lyon, "Lomé–Lyon")
    await notifications.deliver(*await matching.events())
    types = [i["event_type"] for i in (await mine(notifications, lyon_officer))["items"]]
    assert types == ["CityRegistered"]  # the welcome, not the proposal
    # The city's shared feed still has it: it is the city's record, not a person's choice.
    feed = await notifications.client.get(
        f"/feeds/city/{lyon}", headers=bearer(f"city_officer:{lyon}")
    )
    assert feed.json()["items"][0]["event_type"] == "AgreementProposed"


async def test_donors_and_fund_admins_hear_of_pledges(notifications: ServiceUnderTest) -> None:
    fund, donor = uuid.uuid4(), uuid.uuid4()
    treasurer, donor_client, other_donor = (str(uuid.uuid4()) for _ in range(3))
    pledge = CONTRIBUTION_PLEDGED.example.model_copy(update={"fund_id": fund, "donor_id": donor})
    await notifications.deliver(
        role_granted(treasurer, "fund_admin", str(fund)),
        role_granted(donor_client, "donor", str(donor)),
        role_granted(other_donor, "donor", str(uuid.uuid4())),
        new_event(CONTRIBUTION_PLEDGED, pledge.pledge_id, pledge),
    )
    for subject in (treasurer, donor_client):
        [item] = (await mine(notifications, subject))["items"]
        assert item["title"] == "New pledge from Ville de Genève", subject
        assert item["body"] == "Ville de Genève (city) pledged 25000.00 CHF."
    assert (await mine(notifications, other_donor))["items"] == []


def role_granted(subject: str, role: str, scope: str) -> Event:
    payload = RoleGranted(
        grant_id=uuid.uuid4(), subject=subject, role=role, scope=scope, granted_by="admin"
    )
    return new_event(ROLE_GRANTED, subject, payload)


async def test_stored_rows_are_one_per_recipient_and_event(notifications: ServiceUnderTest) -> None:
    """The unique key, not only the inbox, holds the line (a replay under a new consumer name)."""
    async with notifications.runtime.sessions() as session:
        for _ in range(2):
            session.add(
                Notification(
                    subject="s",
                    event_id="e",
                    event_type="FundCreated",
                    title="t",
                    body="b",
                    occurred_at=utcnow(),
                )
            )
        with pytest.raises(IntegrityError):
            await session.commit()


async def test_a_fund_s_donors_and_partnership_hear_where_its_money_goes(
    notifications: ServiceUnderTest,
) -> None:
    fund, donor, elsewhere = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    held = TRANCHE_HELD.example.model_copy(update={"fund_id": fund})
    party = held.party_city_ids[0]
    treasurer, donor_client, other_client, officer = (str(uuid.uuid4()) for _ in range(4))
    pledges = [
        CONTRIBUTION_PLEDGED.example.model_copy(
            update={"pledge_id": uuid.uuid4(), "fund_id": to, "donor_id": by}
        )
        for to, by in ((fund, donor), (uuid.uuid4(), elsewhere))
    ]
    await notifications.deliver(
        role_granted(treasurer, "fund_admin", str(fund)),
        role_granted(donor_client, "donor", str(donor)),
        role_granted(other_client, "donor", str(elsewhere)),
        role_granted(officer, "city_officer", str(party)),
        *(new_event(CONTRIBUTION_PLEDGED, p.pledge_id, p) for p in pledges),
        new_event(TRANCHE_HELD, fund, held),
    )
    for subject in (treasurer, donor_client, officer):
        newest = (await mine(notifications, subject))["items"][0]
        assert newest["title"] == "Tranche held: 40 agents trained in collection rounds", subject
        assert newest["body"] == (
            "16000.00 EUR will not be paid while this holds: "
            "agreement a9ee0000-0000-4000-8000-000000000001 is suspended."
        )
    other = (await mine(notifications, other_client))["items"]
    assert [item["event_type"] for item in other] == ["ContributionPledged"]


async def test_a_disabled_webhook_endpoint_is_told_to_its_owner(
    notifications: ServiceUnderTest,
) -> None:
    disabled = WEBHOOK_ENDPOINT_DISABLED.example
    owner, stranger = str(uuid.uuid4()), str(uuid.uuid4())
    await notifications.deliver(
        role_granted(owner, "donor", str(disabled.owner_id)),
        role_granted(stranger, "donor", str(uuid.uuid4())),
        new_event(WEBHOOK_ENDPOINT_DISABLED, disabled.endpoint_id, disabled),
    )
    [item] = (await mine(notifications, owner))["items"]
    assert item["title"] == f"Webhook endpoint disabled: {disabled.url}"
    assert disabled.reason in item["body"] and "2026-03-01" in item["body"]
    assert (await mine(notifications, stranger))["items"] == []
