"""Notifications fed with the events the other services really wrote to their outboxes."""

import uuid
from datetime import UTC, datetime

import pytest

from shared.contracts.registry import CITY_REGISTERED
from shared.inbox import Outcome
from tests.helpers import ServiceUnderTest, bearer


def officer_of(city_id: object) -> dict[str, str]:
    return bearer(f"city_officer:{city_id}")


def admin_of(fund_id: object) -> dict[str, str]:
    return bearer(f"fund_admin:{fund_id}")


async def feed(
    notifications: ServiceUnderTest,
    kind: str,
    recipient: str,
    headers: dict[str, str] | None = None,
    **params: object,
) -> dict:
    if headers is None:
        headers = officer_of(recipient) if kind == "city" else admin_of(recipient)
    response = await notifications.client.get(
        f"/feeds/{kind}/{recipient}", params=params, headers=headers
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_each_event_becomes_news_for_the_cities_and_fund_concerned(
    registry: ServiceUnderTest,
    matching: ServiceUnderTest,
    funding: ServiceUnderTest,
    notifications: ServiceUnderTest,
) -> None:
    cities = []
    for name, country in (("Lomé", "TG"), ("Lyon", "FR")):
        response = await registry.client.post(
            "/cities", json={"name": name, "country_code": country}, headers=bearer()
        )
        assert response.status_code == 201, response.text
        cities.append(response.json())
    lome, lyon = cities
    city_events = await registry.events()
    await matching.deliver(*city_events)
    await notifications.deliver(*city_events)

    proposed = await matching.client.post(
        "/agreements",
        json={
            "title": "Lomé–Lyon",
            "party_city_ids": [lome["id"], lyon["id"]],
            "proposed_by_city_id": lome["id"],
        },
        headers=officer_of(lome["id"]),
    )
    assert proposed.status_code == 201, proposed.text
    accepted = await matching.client.post(
        f"/agreements/{proposed.json()['id']}/acceptances",
        json={"city_id": lyon["id"]},
        headers=officer_of(lyon["id"]),
    )
    assert accepted.status_code == 200, accepted.text
    created = await funding.client.post(
        "/funds", json={"name": "ICSF", "currency": "EUR"}, headers=bearer("platform_admin")
    )
    assert created.status_code == 201, created.text
    fund = created.json()
    pledged = await funding.client.post(
        f"/funds/{fund['id']}/pledges",
        json={"donor_name": "Lyon", "donor_kind": "city", "amount": "1000", "currency": "EUR"},
        headers={"Idempotency-Key": "pledge-1", **admin_of(fund["id"])},
    )
    assert pledged.status_code == 201, pledged.text
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
    registered = await registry.client.post(
        "/cities", json={"name": "Banjul", "country_code": "GM"}, headers=bearer()
    )
    assert registered.status_code == 201, registered.text
    city = registered.json()
    [event] = [e for e in await registry.events() if e.type == CITY_REGISTERED.type]
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
    some_city = str(uuid.uuid4())
    planet = await notifications.client.get(
        f"/feeds/planet/{some_city}", headers=officer_of(some_city)
    )
    assert planet.status_code == 422
    lyon = await notifications.client.get("/feeds/city/lyon", headers=officer_of("lyon"))
    assert lyon.status_code == 422
    empty = await feed(notifications, "city", some_city)
    assert empty == {"items": [], "next_before": None}


async def test_a_feed_needs_a_token(notifications: ServiceUnderTest) -> None:
    response = await notifications.client.get(f"/feeds/city/{uuid.uuid4()}")
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    forged = await notifications.client.get(
        f"/feeds/city/{uuid.uuid4()}", headers={"Authorization": "Bearer not-a-token"}
    )
    assert forged.status_code == 401, forged.text
    assert 'error="invalid_token"' in forged.headers["WWW-Authenticate"]


async def test_an_officer_reads_only_the_feed_of_their_own_city(
    notifications: ServiceUnderTest,
) -> None:
    city_a, city_b = uuid.uuid4(), uuid.uuid4()
    response = await notifications.client.get(f"/feeds/city/{city_a}", headers=officer_of(city_b))
    assert response.status_code == 403, response.text
    assert str(city_a) in response.json()["detail"]
    # An officer of several cities reads each of them.
    both = bearer(f"city_officer:{city_a}", f"city_officer:{city_b}")
    for city in (city_a, city_b):
        await feed(notifications, "city", str(city), headers=both)


async def test_an_administrator_reads_only_the_feed_of_their_own_fund(
    notifications: ServiceUnderTest,
) -> None:
    fund_1, fund_2 = uuid.uuid4(), uuid.uuid4()
    response = await notifications.client.get(f"/feeds/fund/{fund_1}", headers=admin_of(fund_2))
    assert response.status_code == 403, response.text
    assert str(fund_1) in response.json()["detail"]
    await feed(notifications, "fund", str(fund_2), headers=admin_of(fund_2))


async def test_city_and_fund_scopes_do_not_cross(notifications: ServiceUnderTest) -> None:
    shared_id = uuid.uuid4()  # the same id, whatever it names, gives no access across kinds
    as_officer = await notifications.client.get(
        f"/feeds/fund/{shared_id}", headers=officer_of(shared_id)
    )
    assert as_officer.status_code == 403, as_officer.text
    as_admin = await notifications.client.get(
        f"/feeds/city/{shared_id}", headers=admin_of(shared_id)
    )
    assert as_admin.status_code == 403, as_admin.text


@pytest.mark.parametrize(
    "grants, kind",
    [
        pytest.param(("donor:{id}",), "client", id="donor"),
        pytest.param(("platform_admin",), "user", id="platform admin"),
        pytest.param((), "user", id="no role"),
    ],
)
async def test_other_roles_read_no_feed(
    notifications: ServiceUnderTest, grants: tuple[str, ...], kind: str
) -> None:
    recipient = uuid.uuid4()
    headers = bearer(*(g.format(id=recipient) for g in grants), kind=kind)
    for feed_kind in ("city", "fund"):
        response = await notifications.client.get(
            f"/feeds/{feed_kind}/{recipient}", headers=headers
        )
        assert response.status_code == 403, response.text


async def test_a_city_hears_of_its_registry_life(
    registry: ServiceUnderTest, notifications: ServiceUnderTest
) -> None:
    """Verification, a need published then withdrawn, a network joined and mandated, and a
    conflict assessment: each, as the registry really recorded it, becomes news for the city."""
    admin = bearer("platform_admin")
    city = (
        await registry.client.post(
            "/cities", json={"name": "Kutaisi", "country_code": "GE"}, headers=bearer()
        )
    ).json()
    officer = bearer(f"city_officer:{city['id']}")
    await registry.client.post(f"/cities/{city['id']}/verification", headers=admin)
    need = (
        await registry.client.post(
            f"/cities/{city['id']}/needs",
            json={
                "title": "Cross-border dialogue between youth councils",
                "description": "Youth councils on both sides of the line meet twice a year.",
                "domain": "cross-border-cooperation",
                "languages": ["ka"],
                "forms": ["exchange-visits"],
                "capacity": {"partners": 2},
                "period": {"start": "2027-01-01", "end": "2027-12-31"},
            },
            headers=officer,
        )
    ).json()
    await registry.client.post(f"/needs/{need['id']}/withdrawal", headers=officer)
    network = (
        await registry.client.post(
            "/networks",
            json={
                "name": "Association of Local Democracy Agencies",
                "acronym": "ALDA",
                "scope": "regional",
            },
            headers=admin,
        )
    ).json()
    await registry.client.post(
        f"/networks/{network['id']}/members", json={"city_id": city["id"]}, headers=officer
    )
    await registry.client.put(
        f"/networks/{network['id']}/members/{city['id']}/mandate",
        json={"granted": True, "domains": []},
        headers=officer,
    )
    today = datetime.now(UTC).date().isoformat()
    assessed = await registry.client.post(
        f"/cities/{city['id']}/conflict-assessments",
        json={
            "zone": "conflict_zone",
            "phase": "pre_conflict",
            "preconditions": {
                name: {"met": "yes", "assessed_on": today}
                for name in (
                    "disarmament_or_pacification",
                    "rule_of_law",
                    "competent_local_officials",
                    "local_elections",
                )
            },
        },
        headers=admin,
    )
    assert assessed.status_code == 201, assessed.text

    await notifications.deliver(*await registry.events())
    items = (await feed(notifications, "city", city["id"], headers=officer))["items"]
    assert [(item["event_type"], item["body"]) for item in reversed(items)] == [
        ("CityRegistered", "Kutaisi (GE) is registered with the city-to-city exchange programme."),
        ("CityVerified", "A platform administrator verified your city's registration."),
        (
            "NeedPublished",
            "Your city published a need in cross-border-cooperation, open until 2027-12-31.",
        ),
        ("NeedWithdrawn", "Your city withdrew this need."),
        ("NetworkMembershipChanged", "Kutaisi joined ALDA."),
        ("NetworkMembershipChanged", "Kutaisi mandated ALDA to act for it."),
        (
            "ConflictProfileAssessed",
            "Phase: low violence before a conflict; the preconditions for city diplomacy hold.",
        ),
    ]


async def test_every_party_hears_of_an_agreement_s_changes_with_who_and_why(
    registry: ServiceUnderTest, matching: ServiceUnderTest, notifications: ServiceUnderTest
) -> None:
    banjul = (
        await registry.client.post(
            "/cities", json={"name": "Banjul", "country_code": "GM"}, headers=bearer()
        )
    ).json()["id"]
    ostend = (
        await registry.client.post(
            "/cities", json={"name": "Ostende", "country_code": "BE"}, headers=bearer()
        )
    ).json()["id"]
    city_events = await registry.events("CityRegistered")
    await matching.deliver(*city_events)
    await notifications.deliver(*city_events)
    banjul_officer, ostend_officer = officer_of(banjul), officer_of(ostend)
    agreement = (
        await matching.client.post(
            "/agreements",
            json={
                "title": "Banjul–Ostende: drinking water",
                "party_city_ids": [banjul, ostend],
                "proposed_by_city_id": banjul,
            },
            headers=banjul_officer,
        )
    ).json()
    url = f"/agreements/{agreement['id']}"
    steps = [
        (f"{url}/acceptances", ostend_officer, {"city_id": ostend}),
        (f"{url}/activation", banjul_officer, {"city_id": banjul}),
        (
            f"{url}/suspension",
            ostend_officer,
            {"city_id": ostend, "reason": "the council's budget is frozen"},
        ),
    ]
    for path, headers, body in steps:
        response = await matching.client.post(path, json=body, headers=headers)
        assert response.status_code == 200, response.text

    await notifications.deliver(*await matching.events())
    for city_id in (banjul, ostend):
        items = (await feed(notifications, "city", city_id))["items"]
        assert [item["body"] for item in items[:2]] == [
            "Ostende suspended the agreement: the council's budget is frozen",
            "Banjul activated the agreement: the work can start.",
        ]
