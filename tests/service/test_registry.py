import uuid

from shared.contracts.registry import CITY_REGISTERED
from tests.helpers import ServiceUnderTest, bearer

LOME = {"name": "Lomé", "country_code": "tg", "region": "Maritime", "population": 837437}
USER = bearer()  # an authenticated account with no role yet


async def test_registering_a_city_stores_it_and_records_city_registered(
    registry: ServiceUnderTest,
) -> None:
    response = await registry.client.post("/cities", json=LOME, headers=USER)
    assert response.status_code == 201, response.text
    city = response.json()
    assert city["country_code"] == "TG"
    assert (await registry.client.get(f"/cities/{city['id']}", headers=USER)).json() == city

    [event] = await registry.events("CityRegistered")
    assert event.type == "CityRegistered"
    assert event.subject == city["id"]
    payload = event.payload(CITY_REGISTERED)
    assert (str(payload.city_id), payload.name, payload.population) == (city["id"], "Lomé", 837437)


async def test_the_same_city_twice_is_refused_with_a_pointer_to_the_first(
    registry: ServiceUnderTest,
) -> None:
    first = (await registry.client.post("/cities", json=LOME, headers=USER)).json()
    again = await registry.client.post("/cities", json={**LOME, "name": "  LOME "}, headers=USER)
    assert again.status_code == 409
    assert first["id"] in again.json()["detail"]
    assert len(await registry.events("CityRegistered")) == 1


async def test_an_idempotency_key_replays_the_first_answer(registry: ServiceUnderTest) -> None:
    headers = {**USER, "Idempotency-Key": str(uuid.uuid4())}
    first = await registry.client.post("/cities", json=LOME, headers=headers)
    retry = await registry.client.post("/cities", json=LOME, headers=headers)
    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.json() == first.json()
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert len(await registry.events("CityRegistered")) == 1

    reused = await registry.client.post("/cities", json={**LOME, "name": "Kara"}, headers=headers)
    assert reused.status_code == 409
    assert "different request" in reused.json()["detail"]


async def test_bad_input_gets_a_clear_4xx_and_writes_nothing(registry: ServiceUnderTest) -> None:
    cases = [
        ({"name": "X", "country_code": "XX"}, "ISO 3166-1"),
        ({"name": "X", "country_code": "FR", "population": -1}, "greater than or equal to 0"),
        ({"name": "   ", "country_code": "FR"}, "blank"),
        ({"name": "X", "country_code": "FR", "verified": True}, "Extra inputs"),
        ({"name": 5, "country_code": "FR"}, "valid string"),
        ({"country_code": "FR"}, "Field required"),
    ]
    for body, message in cases:
        response = await registry.client.post("/cities", json=body, headers=USER)
        assert response.status_code == 422, (body, response.text)
        assert message in response.text, (body, response.text)
    malformed = await registry.client.post(
        "/cities", content=b"{not json", headers={**USER, "content-type": "application/json"}
    )
    assert malformed.status_code == 422
    assert (await registry.client.get(f"/cities/{uuid.uuid4()}", headers=USER)).status_code == 404
    assert (await registry.client.get("/cities/not-a-uuid", headers=USER)).status_code == 422
    assert (await registry.client.get("/cities", headers=USER)).json()["total"] == 0
    assert await registry.events("CityRegistered") == []


async def test_cities_are_listed_by_page_with_a_total(registry: ServiceUnderTest) -> None:
    for name in ("Ouagadougou", "Bamako", "Dakar"):
        country = {"Ouagadougou": "BF", "Bamako": "ML", "Dakar": "SN"}[name]
        await registry.client.post(
            "/cities", json={"name": name, "country_code": country}, headers=USER
        )
    page = (await registry.client.get("/cities", params={"limit": 2}, headers=USER)).json()
    assert page["total"] == 3
    assert [c["name"] for c in page["items"]] == ["Bamako", "Dakar"]


async def test_health_and_readiness(registry: ServiceUnderTest) -> None:
    assert (await registry.client.get("/healthz")).json() == {"status": "ok"}
    ready = await registry.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == ["database"]
