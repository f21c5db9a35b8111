import uuid
from typing import Any

from services.registry.networks.queries import mandated_cities
from shared.contracts.registry.networks import NETWORK_MEMBERSHIP_CHANGED, NETWORK_REGISTERED
from tests.helpers import ServiceUnderTest, bearer

ADMIN = bearer("platform_admin")
USER = bearer()  # an authenticated account with no role
ALDA = {
    "name": "Association of Local Democracy Agencies",
    "acronym": "ALDA",
    "scope": "regional",
    "website": "http://www.alda-europe.eu",
}
BELGIAN = {
    "name": "Union des villes et communes belges",
    "scope": "national",
    "country_code": "be",
}


def officer_of_city(city_id: str) -> dict[str, str]:
    return bearer(f"city_officer:{city_id}")


def officer_of_network(network_id: str) -> dict[str, str]:
    return bearer(f"network_officer:{network_id}")


async def register_city(registry: ServiceUnderTest, name: str, country_code: str) -> str:
    response = await registry.client.post(
        "/cities", json={"name": name, "country_code": country_code}, headers=USER
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def register_network(registry: ServiceUnderTest, body: dict[str, Any]) -> str:
    response = await registry.client.post("/networks", json=body, headers=ADMIN)
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def changes(registry: ServiceUnderTest) -> list[tuple[str, str, str, bool, list[str]]]:
    """(network, city, change, mandate, domains) of every NetworkMembershipChanged, in order."""
    result = []
    for event in await registry.events("NetworkMembershipChanged"):
        payload = event.payload(NETWORK_MEMBERSHIP_CHANGED)
        assert event.subject == str(payload.network_id)
        result.append(
            (
                str(payload.network_id),
                str(payload.city_id),
                str(payload.change),
                payload.mandate,
                payload.mandate_domains,
            )
        )
    return result


async def test_a_platform_admin_registers_a_network_that_anyone_may_read(
    registry: ServiceUnderTest,
) -> None:
    for headers, status in [({}, 401), (USER, 403), (officer_of_network(str(uuid.uuid4())), 403)]:
        refused = await registry.client.post("/networks", json=ALDA, headers=headers)
        assert refused.status_code == status, refused.text

    created = await registry.client.post("/networks", json=ALDA, headers=ADMIN)
    assert created.status_code == 201, created.text
    network = created.json()
    assert (network["scope"], network["country_code"]) == ("regional", None)
    assert network["website"] == "http://www.alda-europe.eu/"
    belgian = (await registry.client.post("/networks", json=BELGIAN, headers=ADMIN)).json()
    assert belgian["country_code"] == "BE"

    # Networks are public: no token needed to read them.
    assert (await registry.client.get(f"/networks/{network['id']}")).json() == network
    page = (await registry.client.get("/networks", params={"limit": 1})).json()
    assert (page["total"], [n["acronym"] for n in page["items"]]) == (2, ["ALDA"])

    [event, _] = await registry.events("NetworkRegistered")
    assert event.subject == network["id"]
    payload = event.payload(NETWORK_REGISTERED)
    assert (payload.name, payload.acronym, payload.scope) == (ALDA["name"], "ALDA", "regional")


async def test_bad_networks_get_a_clear_4xx_and_write_nothing(registry: ServiceUnderTest) -> None:
    first = await register_network(registry, ALDA)
    cases = [
        ({**BELGIAN, "country_code": "XX"}, 422, "ISO 3166-1"),
        ({"name": "VNG", "scope": "national"}, 422, "needs its country_code"),
        ({**ALDA, "name": "CITYNET", "country_code": "JP"}, 422, "only a national network"),
        ({"name": "UCLG", "scope": "worldwide"}, 422, "'global', 'regional' or 'national'"),
        ({"name": "UCLG", "scope": "global", "website": "not a url"}, 422, "URL"),
        ({"name": "   ", "scope": "global"}, 422, "blank"),
        ({"name": "UCLG", "scope": "global", "members": []}, 422, "Extra inputs"),
        ({**ALDA, "name": " association of local  DEMOCRACY agencies"}, 409, first),
    ]
    for body, status, message in cases:
        response = await registry.client.post("/networks", json=body, headers=ADMIN)
        assert response.status_code == status, (body, response.text)
        assert message in response.text, (body, response.text)
    assert (await registry.client.get(f"/networks/{uuid.uuid4()}")).status_code == 404
    assert (await registry.client.get("/networks")).json()["total"] == 1
    assert len(await registry.events("NetworkRegistered")) == 1


async def test_an_idempotency_key_replays_the_registration(registry: ServiceUnderTest) -> None:
    headers = {**ADMIN, "Idempotency-Key": str(uuid.uuid4())}
    first = await registry.client.post("/networks", json=ALDA, headers=headers)
    retry = await registry.client.post("/networks", json=ALDA, headers=headers)
    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.json() == first.json()
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert len(await registry.events("NetworkRegistered")) == 1


async def test_a_city_officer_joins_their_city_to_a_network(registry: ServiceUnderTest) -> None:
    network = await register_network(registry, BELGIAN)
    ostend = await register_city(registry, "Ostende", "BE")

    joined = await registry.client.post(
        f"/networks/{network}/members", json={"city_id": ostend}, headers=officer_of_city(ostend)
    )
    assert joined.status_code == 201, joined.text
    membership = joined.json()
    assert (membership["city_id"], membership["mandate"], membership["left_at"]) == (
        ostend,
        False,
        None,
    )
    members = await registry.client.get(f"/networks/{network}/members", headers=USER)
    assert members.json()["items"] == [membership]
    assert (await registry.client.get(f"/networks/{network}/members")).status_code == 401
    assert await changes(registry) == [(network, ostend, "joined", False, [])]

    again = await registry.client.post(
        f"/networks/{network}/members", json={"city_id": ostend}, headers=ADMIN
    )
    assert again.status_code == 409
    assert membership["id"] in again.json()["detail"]
    assert len(await changes(registry)) == 1


async def test_a_network_officer_enrols_a_city_in_their_own_network(
    registry: ServiceUnderTest,
) -> None:
    network = await register_network(registry, ALDA)
    kutaisi = await register_city(registry, "Kutaisi", "GE")
    joined = await registry.client.post(
        f"/networks/{network}/members",
        json={"city_id": kutaisi},
        headers=officer_of_network(network),
    )
    assert joined.status_code == 201, joined.text
    # Being enrolled gives the network no mandate: only the city grants that.
    assert joined.json()["mandate"] is False
    assert await changes(registry) == [(network, kutaisi, "joined", False, [])]


async def test_officers_of_other_cities_or_networks_may_not_change_a_membership(
    registry: ServiceUnderTest,
) -> None:
    network = await register_network(registry, ALDA)
    other_network = await register_network(registry, BELGIAN)
    kutaisi = await register_city(registry, "Kutaisi", "GE")
    andenne = await register_city(registry, "Andenne", "BE")
    outsiders = [
        officer_of_city(andenne),
        officer_of_network(other_network),
        bearer(f"city_officer:{andenne}", f"network_officer:{other_network}"),
    ]
    for headers in outsiders:
        refused = await registry.client.post(
            f"/networks/{network}/members", json={"city_id": kutaisi}, headers=headers
        )
        assert refused.status_code == 403, refused.text
        assert "act neither for city" in refused.json()["detail"]

    await registry.client.post(
        f"/networks/{network}/members", json={"city_id": kutaisi}, headers=ADMIN
    )
    for headers in outsiders:
        refused = await registry.client.post(
            f"/networks/{network}/members/{kutaisi}/departure", headers=headers
        )
        assert refused.status_code == 403, refused.text
    assert [c[2] for c in await changes(registry)] == ["joined"]


async def test_only_the_city_grants_or_withdraws_the_mandate(registry: ServiceUnderTest) -> None:
    network = await register_network(registry, ALDA)
    kutaisi = await register_city(registry, "Kutaisi", "GE")
    andenne = await register_city(registry, "Andenne", "BE")
    await registry.client.post(
        f"/networks/{network}/members",
        json={"city_id": kutaisi},
        headers=officer_of_network(network),
    )
    url = f"/networks/{network}/members/{kutaisi}/mandate"
    grant = {"granted": True, "domains": ["inter_ethnic_dialogue", " cross_border_cooperation "]}

    # A network can never mandate itself, whatever else its officer holds; nor can an admin.
    for headers in [
        officer_of_network(network),
        ADMIN,
        bearer(f"network_officer:{network}", f"city_officer:{andenne}"),
        officer_of_city(andenne),
    ]:
        refused = await registry.client.put(url, json=grant, headers=headers)
        assert refused.status_code == 403, refused.text

    async def mandated() -> set[str]:
        async with registry.runtime.sessions() as session:
            return {str(city) for city in await mandated_cities(session, uuid.UUID(network))}

    assert await mandated() == set()
    city = officer_of_city(kutaisi)
    granted = await registry.client.put(url, json=grant, headers=city)
    assert granted.status_code == 200, granted.text
    domains = ["cross_border_cooperation", "inter_ethnic_dialogue"]
    assert (granted.json()["mandate"], granted.json()["mandate_domains"]) == (True, domains)
    assert await mandated() == {kutaisi}
    # The same decision again changes nothing and records nothing.
    assert (await registry.client.put(url, json=grant, headers=city)).json() == granted.json()

    everything = await registry.client.put(url, json={"granted": True}, headers=city)
    assert everything.json()["mandate_domains"] == []
    withdrawn = await registry.client.put(url, json={"granted": False}, headers=city)
    assert withdrawn.json()["mandate"] is False
    await registry.client.put(url, json={"granted": False}, headers=city)
    assert await mandated() == set()

    assert [c[2:] for c in await changes(registry)] == [
        ("joined", False, []),
        ("mandate_granted", True, domains),
        ("mandate_granted", True, []),
        ("mandate_withdrawn", False, []),
    ]


async def test_bad_mandates_get_a_clear_4xx(registry: ServiceUnderTest) -> None:
    network = await register_network(registry, ALDA)
    kutaisi = await register_city(registry, "Kutaisi", "GE")
    url = f"/networks/{network}/members/{kutaisi}/mandate"
    city = officer_of_city(kutaisi)
    not_member = await registry.client.put(url, json={"granted": True}, headers=city)
    assert not_member.status_code == 404
    assert "never was, a member" in not_member.text

    await registry.client.post(
        f"/networks/{network}/members", json={"city_id": kutaisi}, headers=city
    )
    cases = [
        ({"granted": False, "domains": ["drinking_water"]}, "ends the whole mandate"),
        ({"granted": True, "domains": ["  "]}, "cannot be blank"),
        ({"granted": True, "network_id": network}, "Extra inputs"),
        ({"domains": []}, "Field required"),
    ]
    for body, message in cases:
        response = await registry.client.put(url, json=body, headers=city)
        assert response.status_code == 422, (body, response.text)
        assert message in response.text, (body, response.text)
    unknown = f"/networks/{uuid.uuid4()}/members/{kutaisi}/mandate"
    assert (
        await registry.client.put(unknown, json={"granted": True}, headers=city)
    ).status_code == 404
    assert [c[2] for c in await changes(registry)] == ["joined"]


async def test_leaving_keeps_the_history_ends_the_mandate_and_is_idempotent(
    registry: ServiceUnderTest,
) -> None:
    network = await register_network(registry, BELGIAN)
    evere = await register_city(registry, "Evere", "BE")
    city = officer_of_city(evere)
    members = f"/networks/{network}/members"
    first = (await registry.client.post(members, json={"city_id": evere}, headers=city)).json()
    await registry.client.put(f"{members}/{evere}/mandate", json={"granted": True}, headers=city)

    departure = f"{members}/{evere}/departure"
    left = await registry.client.post(departure, headers=officer_of_network(network))
    assert left.status_code == 200, left.text
    assert (left.json()["id"], left.json()["mandate"]) == (first["id"], False)
    assert left.json()["left_at"] is not None
    again = await registry.client.post(departure, headers=city)
    assert (again.status_code, again.json()) == (200, left.json())

    current = (await registry.client.get(members, headers=USER)).json()
    assert (current["total"], current["items"]) == (0, [])
    history = await registry.client.get(members, params={"include_former": True}, headers=USER)
    assert history.json()["items"] == [left.json()]
    late = await registry.client.put(
        f"{members}/{evere}/mandate", json={"granted": True}, headers=city
    )
    assert late.status_code == 409
    assert "join" in late.json()["detail"]

    # A city may come back: a new membership, the old one kept.
    back = await registry.client.post(members, json={"city_id": evere}, headers=city)
    assert back.status_code == 201, back.text
    history = await registry.client.get(members, params={"include_former": True}, headers=USER)
    assert [m["id"] for m in history.json()["items"]] == [first["id"], back.json()["id"]]
    assert [c[2:4] for c in await changes(registry)] == [
        ("joined", False),
        ("mandate_granted", True),
        ("left", False),
        ("joined", False),
    ]


async def test_unknown_networks_and_cities_are_404(registry: ServiceUnderTest) -> None:
    network = await register_network(registry, ALDA)
    kutaisi = await register_city(registry, "Kutaisi", "GE")
    nowhere, nobody = str(uuid.uuid4()), str(uuid.uuid4())
    cases = [
        ("POST", f"/networks/{network}/members", {"city_id": nobody}, "no city"),
        ("POST", f"/networks/{nowhere}/members", {"city_id": kutaisi}, "no network"),
        ("POST", f"/networks/{network}/members/{kutaisi}/departure", None, "never was"),
        ("POST", f"/networks/{nowhere}/members/{kutaisi}/departure", None, "no network"),
        ("GET", f"/networks/{nowhere}/members", None, "no network"),
    ]
    for method, url, body, message in cases:
        response = await registry.client.request(method, url, json=body, headers=ADMIN)
        assert response.status_code == 404, (url, response.text)
        assert message in response.text, (url, response.text)
    bad_body = await registry.client.post(
        f"/networks/{network}/members", json={"city_id": kutaisi, "mandate": True}, headers=ADMIN
    )
    assert bad_body.status_code == 422
    assert await changes(registry) == []
