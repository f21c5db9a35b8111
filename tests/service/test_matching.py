import asyncio
import uuid

from services.matching.domain import AgreementStatus
from shared.contracts.matching import AGREEMENT_ACCEPTED, AGREEMENT_PROPOSED
from shared.contracts.registry import CITY_REGISTERED, CityRegistered
from shared.events import Event, new_event
from shared.inbox import Outcome
from tests.helpers import ServiceUnderTest, bearer

ADMIN = bearer("platform_admin")


def officer(*cities: str) -> dict[str, str]:
    """The Authorization header of an officer acting for `cities`."""
    return bearer(*(f"city_officer:{city}" for city in cities))


def city_registered(name: str, country: str) -> Event:
    payload = CityRegistered(city_id=uuid.uuid4(), name=name, country_code=country)
    return new_event(CITY_REGISTERED, payload.city_id, payload)


async def known_cities(matching: ServiceUnderTest, *events: Event) -> list[str]:
    assert await matching.deliver(*events) == [Outcome.APPLIED] * len(events)
    return [event.subject for event in events]


async def propose(matching: ServiceUnderTest, parties: list[str], **extra: object) -> dict:
    """`parties[0]` proposes, through its officer."""
    body = {
        "title": "Lomé–Lyon twinning",
        "party_city_ids": parties,
        "proposed_by_city_id": parties[0],
    }
    response = await matching.client.post(
        "/agreements", json={**body, **extra}, headers=officer(parties[0])
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_matching_learns_cities_only_from_registry_events(matching: ServiceUnderTest) -> None:
    event = city_registered("Ouagadougou", "BF")
    url, anyone = f"/cities/{event.subject}", bearer()
    assert (await matching.client.get(url, headers=anyone)).status_code == 404
    await known_cities(matching, event)
    city = (await matching.client.get(url, headers=anyone)).json()
    assert city == {"id": event.subject, "name": "Ouagadougou", "country_code": "BF"}


async def test_a_redelivered_event_has_one_effect(matching: ServiceUnderTest) -> None:
    event = city_registered("Québec", "CA")
    assert await matching.deliver(event, event) == [Outcome.APPLIED, Outcome.DUPLICATE]


async def test_proposal_and_acceptance_complete_an_agreement(matching: ServiceUnderTest) -> None:
    lome, lyon = await known_cities(
        matching, city_registered("Lomé", "TG"), city_registered("Lyon", "FR")
    )
    agreement = await propose(matching, [lome, lyon])
    assert agreement["status"] == "proposed"
    accepted_by = {p["city_id"]: p["accepted_at"] is not None for p in agreement["parties"]}
    assert accepted_by == {lome: True, lyon: False}

    response = await matching.client.post(
        f"/agreements/{agreement['id']}/acceptances", json={"city_id": lyon}, headers=officer(lyon)
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == AgreementStatus.ACCEPTED

    proposed, accepted = await matching.events()
    assert proposed.type == "AgreementProposed" and proposed.subject == agreement["id"]
    assert proposed.payload(AGREEMENT_PROPOSED).proposed_by_city_id == uuid.UUID(lome)
    assert accepted.payload(AGREEMENT_ACCEPTED).all_parties_accepted is True
    listed = await matching.client.get(
        "/agreements", params={"city_id": lyon}, headers=officer(lyon)
    )
    assert [a["id"] for a in listed.json()] == [agreement["id"]]


async def test_accepting_twice_raises_no_second_event(matching: ServiceUnderTest) -> None:
    lome, lyon = await known_cities(
        matching, city_registered("Lomé", "TG"), city_registered("Lyon", "FR")
    )
    agreement = await propose(matching, [lome, lyon])
    url = f"/agreements/{agreement['id']}/acceptances"
    for _ in range(2):
        response = await matching.client.post(url, json={"city_id": lyon}, headers=officer(lyon))
        assert response.status_code == 200
    assert [e.type for e in await matching.events()] == ["AgreementProposed", "AgreementAccepted"]


async def test_concurrent_acceptances_of_a_trilateral_complete_it_once(
    matching: ServiceUnderTest,
) -> None:
    cities = await known_cities(
        matching,
        city_registered("Mitrovica North", "XK"),
        city_registered("Mitrovica South", "XK"),
        city_registered("Genève", "CH"),
    )
    agreement = await propose(matching, cities, kind="trilateral")
    url = f"/agreements/{agreement['id']}/acceptances"
    responses = await asyncio.gather(
        *(
            matching.client.post(url, json={"city_id": city}, headers=officer(city))
            for city in cities[1:]
        )
    )
    assert [r.status_code for r in responses] == [200, 200]
    final = await matching.client.get(f"/agreements/{agreement['id']}", headers=officer(cities[0]))
    assert final.json()["status"] == "accepted"
    completions = [
        e.payload(AGREEMENT_ACCEPTED).all_parties_accepted
        for e in await matching.events()
        if e.type == "AgreementAccepted"
    ]
    assert sorted(completions) == [False, True]


async def test_bad_proposals_get_a_clear_4xx_and_write_nothing(matching: ServiceUnderTest) -> None:
    lome, lyon = await known_cities(
        matching, city_registered("Lomé", "TG"), city_registered("Lyon", "FR")
    )
    stranger = str(uuid.uuid4())
    # An officer of both Lomé and the stranger city gets past the access checks to the rules.
    both = officer(lome, stranger)
    cases = [
        ({"party_city_ids": [lome, stranger]}, 422, "not (yet) known"),
        ({"party_city_ids": [lome]}, 422, "at least 2"),
        ({"party_city_ids": [lome, lome]}, 422, "only once"),
        ({"party_city_ids": [lome, lyon], "proposed_by_city_id": stranger}, 422, "must be one of"),
        ({"party_city_ids": [lome, lyon], "kind": "pentalateral"}, 422, "bilateral"),
        ({"party_city_ids": [lome, lyon], "status": "accepted"}, 422, "Extra inputs"),
    ]
    for extra, status, message in cases:
        body = {"title": "Twinning", "proposed_by_city_id": lome, **extra}
        response = await matching.client.post("/agreements", json=body, headers=both)
        assert (response.status_code, message in response.text) == (status, True), response.text
    missing = await matching.client.post(
        f"/agreements/{uuid.uuid4()}/acceptances", json={"city_id": lyon}, headers=officer(lyon)
    )
    assert missing.status_code == 404
    agreement = await propose(matching, [lome, lyon])
    outsider = await matching.client.post(
        f"/agreements/{agreement['id']}/acceptances", json={"city_id": stranger}, headers=both
    )
    assert outsider.status_code == 422 and "not a party" in outsider.text
    assert [e.type for e in await matching.events()] == ["AgreementProposed"]


async def test_officers_act_and_see_only_for_their_own_cities(matching: ServiceUnderTest) -> None:
    lome, lyon, dakar = await known_cities(
        matching,
        city_registered("Lomé", "TG"),
        city_registered("Lyon", "FR"),
        city_registered("Dakar", "SN"),
    )
    agreement = await propose(matching, [lome, lyon])
    url = f"/agreements/{agreement['id']}"

    # Lyon's officer cannot speak for Lomé, neither to propose nor to accept.
    body = {"title": "Twinning", "party_city_ids": [lome, lyon], "proposed_by_city_id": lome}
    in_lomes_name = await matching.client.post("/agreements", json=body, headers=officer(lyon))
    assert in_lomes_name.status_code == 403
    assert in_lomes_name.json()["detail"].startswith(
        f"you act for city {lyon}, not for city {lome}"
    )
    for_lome = await matching.client.post(
        f"{url}/acceptances", json={"city_id": lome}, headers=officer(lyon)
    )
    assert for_lome.status_code == 403

    # To Dakar's officer the agreement does not exist: the same answer as for an unknown id.
    dakars = officer(dakar)
    unknown = f"/agreements/{uuid.uuid4()}"
    for path in (url, unknown):
        read = await matching.client.get(path, headers=dakars)
        accept = await matching.client.post(
            f"{path}/acceptances", json={"city_id": dakar}, headers=dakars
        )
        for response in (read, accept):
            assert response.status_code == 404, response.text
            assert response.json() == {"detail": f"no agreement with id {path.split('/')[-1]}"}
    lomes_list = await matching.client.get("/agreements", params={"city_id": lome}, headers=dakars)
    assert lomes_list.status_code == 403
    assert (await matching.client.get(url, headers=bearer())).status_code == 404

    # The parties' officers and platform administrators see it.
    for headers in (officer(lome), officer(lyon), ADMIN):
        seen = await matching.client.get(url, headers=headers)
        assert (seen.status_code, seen.json()["id"]) == (200, agreement["id"])
    listed = await matching.client.get("/agreements", params={"city_id": lome}, headers=ADMIN)
    assert [a["id"] for a in listed.json()] == [agreement["id"]]
    # Administering the platform is not acting for a city.
    as_admin = await matching.client.post(
        f"{url}/acceptances", json={"city_id": lyon}, headers=ADMIN
    )
    assert as_admin.status_code == 403

    assert [e.type for e in await matching.events()] == ["AgreementProposed"]


async def test_a_caller_without_a_valid_token_or_the_role_is_refused(
    matching: ServiceUnderTest,
) -> None:
    lome, lyon = await known_cities(
        matching, city_registered("Lomé", "TG"), city_registered("Lyon", "FR")
    )
    agreement = await propose(matching, [lome, lyon])
    body = {"title": "Twinning", "party_city_ids": [lome, lyon], "proposed_by_city_id": lome}
    requests = [
        ("GET", f"/cities/{lome}", None, None),
        ("POST", "/agreements", body, None),
        ("POST", f"/agreements/{agreement['id']}/acceptances", {"city_id": lyon}, None),
        ("GET", f"/agreements/{agreement['id']}", None, None),
        ("GET", "/agreements", None, {"city_id": lome}),
        ("POST", "/agreements/expiry-runs", None, None),
    ]
    for route in ("activation", "suspension", "resumption", "conclusion", "termination"):
        requests.append(("POST", f"/agreements/{agreement['id']}/{route}", {"city_id": lyon}, None))
    requests.append(
        (
            "POST",
            f"/agreements/{agreement['id']}/rejection",
            {"city_id": lyon, "reason": "not now"},
            None,
        )
    )
    for method, path, json, params in requests:
        for headers in ({}, {"Authorization": "Bearer not-a-token"}):
            response = await matching.client.request(
                method, path, json=json, params=params, headers=headers
            )
            assert response.status_code == 401, (method, path, response.text)
            assert response.headers["WWW-Authenticate"].startswith("Bearer"), (method, path)

    fund_admin = bearer(f"fund_admin:{uuid.uuid4()}")
    proposed = await matching.client.post("/agreements", json=body, headers=fund_admin)
    assert proposed.status_code == 403 and "city_officer" in proposed.text
    listed = await matching.client.get("/agreements", params={"city_id": lome}, headers=fund_admin)
    assert listed.status_code == 403
    activated = await matching.client.post(
        f"/agreements/{agreement['id']}/activation", json={"city_id": lyon}, headers=fund_admin
    )
    assert activated.status_code == 403 and "city_officer" in activated.text
    expiry = await matching.client.post("/agreements/expiry-runs", headers=officer(lome))
    assert expiry.status_code == 403 and "platform_admin" in expiry.text
    assert [e.type for e in await matching.events()] == ["AgreementProposed"]


async def test_an_idempotency_key_replays_only_to_the_proposing_city(
    matching: ServiceUnderTest,
) -> None:
    lome, lyon = await known_cities(
        matching, city_registered("Lomé", "TG"), city_registered("Lyon", "FR")
    )
    body = {"title": "Twinning", "party_city_ids": [lome, lyon], "proposed_by_city_id": lome}
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = await matching.client.post("/agreements", json=body, headers={**officer(lome), **key})
    assert first.status_code == 201, first.text
    replay = await matching.client.post("/agreements", json=body, headers={**officer(lyon), **key})
    assert replay.status_code == 403 and "Idempotent-Replayed" not in replay.headers
