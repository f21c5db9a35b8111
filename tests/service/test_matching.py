import asyncio
import uuid

from services.matching.domain import AgreementStatus
from shared.contracts.matching import AGREEMENT_ACCEPTED, AGREEMENT_PROPOSED
from shared.contracts.registry import CITY_REGISTERED, CityRegistered
from shared.events import Event, new_event
from shared.inbox import Outcome
from tests.helpers import ServiceUnderTest


def city_registered(name: str, country: str) -> Event:
    payload = CityRegistered(city_id=uuid.uuid4(), name=name, country_code=country)
    return new_event(CITY_REGISTERED, payload.city_id, payload)


async def known_cities(matching: ServiceUnderTest, *events: Event) -> list[str]:
    assert await matching.deliver(*events) == [Outcome.APPLIED] * len(events)
    return [event.subject for event in events]


async def propose(matching: ServiceUnderTest, parties: list[str], **extra: object) -> dict:
    body = {
        "title": "Lomé–Lyon twinning",
        "party_city_ids": parties,
        "proposed_by_city_id": parties[0],
    }
    response = await matching.client.post("/agreements", json={**body, **extra})
    assert response.status_code == 201, response.text
    return response.json()


async def test_matching_learns_cities_only_from_registry_events(matching: ServiceUnderTest) -> None:
    event = city_registered("Ouagadougou", "BF")
    assert (await matching.client.get(f"/cities/{event.subject}")).status_code == 404
    await known_cities(matching, event)
    city = (await matching.client.get(f"/cities/{event.subject}")).json()
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
        f"/agreements/{agreement['id']}/acceptances", json={"city_id": lyon}
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == AgreementStatus.ACCEPTED

    proposed, accepted = await matching.events()
    assert proposed.type == "AgreementProposed" and proposed.subject == agreement["id"]
    assert proposed.payload(AGREEMENT_PROPOSED).proposed_by_city_id == uuid.UUID(lome)
    assert accepted.payload(AGREEMENT_ACCEPTED).all_parties_accepted is True
    listed = (await matching.client.get("/agreements", params={"city_id": lyon})).json()
    assert [a["id"] for a in listed] == [agreement["id"]]


async def test_accepting_twice_raises_no_second_event(matching: ServiceUnderTest) -> None:
    lome, lyon = await known_cities(
        matching, city_registered("Lomé", "TG"), city_registered("Lyon", "FR")
    )
    agreement = await propose(matching, [lome, lyon])
    url = f"/agreements/{agreement['id']}/acceptances"
    for _ in range(2):
        assert (await matching.client.post(url, json={"city_id": lyon})).status_code == 200
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
        *(matching.client.post(url, json={"city_id": city}) for city in cities[1:])
    )
    assert [r.status_code for r in responses] == [200, 200]
    final = (await matching.client.get(f"/agreements/{agreement['id']}")).json()
    assert final["status"] == "accepted"
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
        response = await matching.client.post("/agreements", json=body)
        assert (response.status_code, message in response.text) == (status, True), response.text
    missing = await matching.client.post(
        f"/agreements/{uuid.uuid4()}/acceptances", json={"city_id": lyon}
    )
    assert missing.status_code == 404
    agreement = await propose(matching, [lome, lyon])
    outsider = await matching.client.post(
        f"/agreements/{agreement['id']}/acceptances", json={"city_id": stranger}
    )
    assert outsider.status_code == 422 and "not a party" in outsider.text
    assert [e.type for e in await matching.events()] == ["AgreementProposed"]
