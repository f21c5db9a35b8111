import json
import uuid
from datetime import UTC, datetime
from typing import Any

from shared.contracts.registry import CITY_REGISTERED
from shared.contracts.registry.cities import CITY_UPDATED
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


# --- The city record: profile, derived LDC status, updates, contact officials ----------------

MAYOR = {
    "name": "Yawa Kouigan",
    "role": "mayor",
    "email": "maire@lome.tg",
    "phone": "+228 22 21 00 00",
}
FOCAL_POINT = {"name": "Koffi Mensah", "role": "focal_point", "title": "Relations extérieures"}
LOME_PROFILE = {
    **LOME,
    "latitude": 6.1375,
    "longitude": 1.2123,
    "official_languages": ["FRA", "ee"],
    "external_id": "unlocode:tg lfw",
    "contacts": [MAYOR, FOCAL_POINT],
}
ADMIN = bearer("platform_admin")


def officer_of(city_id: str) -> dict[str, str]:
    return bearer(f"city_officer:{city_id}")


async def register(registry: ServiceUnderTest, body: dict[str, Any]) -> dict[str, Any]:
    response = await registry.client.post("/cities", json=body, headers=USER)
    assert response.status_code == 201, response.text
    return response.json()


async def test_the_profile_round_trips_normalised_and_contacts_stay_out_of_the_event(
    registry: ServiceUnderTest,
) -> None:
    city = await register(registry, LOME_PROFILE)
    assert city["official_languages"] == ["fr", "ee"]
    assert city["external_id"] == "unlocode:TGLFW"
    assert (city["latitude"], city["longitude"]) == (6.1375, 1.2123)
    assert city["is_ldc"] is True
    assert city["contacts"] == [
        {**MAYOR, "title": None},
        {**FOCAL_POINT, "email": None, "phone": None},
    ]
    assert city["contacts_withheld"] is False
    another_account = bearer()
    got = await registry.client.get(f"/cities/{city['id']}", headers=another_account)
    assert got.json() == city
    listed = await registry.client.get("/cities", headers=another_account)
    assert listed.json()["items"] == [city]

    [event] = await registry.events("CityRegistered")
    payload = event.payload(CITY_REGISTERED)
    assert payload.official_languages == ["fr", "ee"]
    assert (payload.latitude, payload.longitude) == (6.1375, 1.2123)
    assert (payload.is_ldc, payload.external_id) == (True, "unlocode:TGLFW")
    assert "contacts" not in event.data
    data = json.dumps(event.data)
    for personal in ("Kouigan", "Mensah", "maire@lome.tg", "+228"):
        assert personal not in data


async def test_a_city_is_an_ldc_when_its_country_is_on_the_un_list(
    registry: ServiceUnderTest,
) -> None:
    for name, country in [
        ("Lomé", "TG"),
        ("Ouagadougou", "BF"),
        ("Bamako", "ML"),
        ("Lyon", "FR"),
        ("Québec", "CA"),
    ]:
        await register(registry, {"name": name, "country_code": country})
    page = (await registry.client.get("/cities", headers=USER)).json()
    assert {c["name"]: c["is_ldc"] for c in page["items"]} == {
        "Lomé": True,
        "Ouagadougou": True,
        "Bamako": True,
        "Lyon": False,
        "Québec": False,
    }
    events = [e.payload(CITY_REGISTERED) for e in await registry.events("CityRegistered")]
    assert {p.name: p.is_ldc for p in events}["Ouagadougou"] is True


async def test_the_same_external_identifier_twice_is_refused_with_a_pointer_to_the_first(
    registry: ServiceUnderTest,
) -> None:
    lome = await register(registry, {**LOME, "external_id": "geonames:2365267"})
    again = await registry.client.post(
        "/cities",
        json={"name": "Lomé Commune", "country_code": "TG", "external_id": "GeoNames: 2365267"},
        headers=USER,
    )
    assert again.status_code == 409, again.text
    assert lome["id"] in again.json()["detail"] and "Lomé (TG)" in again.json()["detail"]

    kara = await register(registry, {"name": "Kara", "country_code": "TG"})
    taken = await registry.client.patch(
        f"/cities/{kara['id']}",
        json={"external_id": "geonames:2365267"},
        headers=officer_of(kara["id"]),
    )
    assert taken.status_code == 409, taken.text
    assert lome["id"] in taken.json()["detail"]
    # Keeping one's own identifier is no conflict.
    same = await registry.client.patch(
        f"/cities/{lome['id']}",
        json={"external_id": "geonames:2365267"},
        headers=officer_of(lome["id"]),
    )
    assert same.status_code == 200, same.text
    assert len(await registry.events("CityRegistered")) == 2
    assert await registry.events("CityUpdated") == []


async def test_an_officer_updates_the_profile_and_city_updated_names_only_what_changed(
    registry: ServiceUnderTest,
) -> None:
    city = await register(registry, {**LOME, "contacts": [MAYOR]})
    new_contacts = [{**MAYOR, "phone": "+228 90 00 00 01"}, FOCAL_POINT]
    response = await registry.client.patch(
        f"/cities/{city['id']}",
        json={
            "population": 871200,
            "region": "Maritime",  # unchanged: not an update
            "latitude": 6.13,
            "longitude": 1.22,
            "official_languages": ["fr", "ewe"],
            "contacts": new_contacts,
        },
        headers=officer_of(city["id"]),
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert (updated["name"], updated["country_code"]) == ("Lomé", "TG")
    assert updated["population"] == 871200
    assert updated["official_languages"] == ["fr", "ee"]
    assert [c["phone"] for c in updated["contacts"]] == ["+228 90 00 00 01", None]
    assert (await registry.client.get(f"/cities/{city['id']}", headers=USER)).json() == updated

    [event] = await registry.events("CityUpdated")
    assert event.subject == city["id"]
    payload = event.payload(CITY_UPDATED)
    assert payload.changed == [
        "contacts",
        "latitude",
        "longitude",
        "official_languages",
        "population",
    ]
    assert (payload.population, payload.latitude, payload.longitude) == (871200, 6.13, 1.22)
    assert payload.official_languages == ["fr", "ee"]
    assert payload.contacts_changed is True
    data = json.dumps(event.data)
    for personal in ("Kouigan", "Mensah", "maire@lome.tg", "+228"):
        assert personal not in data

    # The same request again changes nothing, so records nothing.
    again = await registry.client.patch(
        f"/cities/{city['id']}", json={"population": 871200}, headers=officer_of(city["id"])
    )
    assert again.status_code == 200
    assert len(await registry.events("CityUpdated")) == 1


async def test_null_clears_a_field_and_the_event_says_it_was_cleared(
    registry: ServiceUnderTest,
) -> None:
    city = await register(registry, {**LOME, "latitude": 6.1, "longitude": 1.2})
    response = await registry.client.patch(
        f"/cities/{city['id']}",
        json={"region": None, "latitude": None, "longitude": None},
        headers=ADMIN,
    )
    assert response.status_code == 200, response.text
    assert (response.json()["region"], response.json()["latitude"]) == (None, None)
    [event] = await registry.events("CityUpdated")
    payload = event.payload(CITY_UPDATED)
    assert payload.changed == ["latitude", "longitude", "region"]
    assert (payload.region, payload.latitude, payload.contacts_changed) == (None, None, False)


async def test_only_the_city_s_officers_and_platform_admins_update_it(
    registry: ServiceUnderTest,
) -> None:
    lome = await register(registry, LOME)
    lyon = await register(registry, {"name": "Lyon", "country_code": "FR"})
    url = f"/cities/{lome['id']}"
    body = {"population": 900000}

    other_officer = await registry.client.patch(url, json=body, headers=officer_of(lyon["id"]))
    assert other_officer.status_code == 403, other_officer.text
    assert lome["id"] in other_officer.json()["detail"]
    no_role = await registry.client.patch(url, json=body, headers=USER)
    assert no_role.status_code == 403
    assert (await registry.client.patch(url, json=body)).status_code == 401
    assert (await registry.client.get(url, headers=USER)).json()["population"] == 837437
    assert await registry.events("CityUpdated") == []

    by_admin = await registry.client.patch(url, json=body, headers=ADMIN)
    assert by_admin.status_code == 200, by_admin.text
    assert by_admin.json()["population"] == 900000
    missing = await registry.client.patch(f"/cities/{uuid.uuid4()}", json=body, headers=ADMIN)
    assert missing.status_code == 404


async def test_verification_identity_and_derived_fields_are_not_writable_by_update(
    registry: ServiceUnderTest,
) -> None:
    city = await register(registry, LOME)
    url = f"/cities/{city['id']}"
    for field, value in [
        ("verified_at", "2026-11-22T09:30:00Z"),
        ("verified_by", "someone"),
        ("is_ldc", False),
        ("contacts_withheld", False),
        ("name", "Lomé II"),
        ("country_code", "FR"),
        ("id", str(uuid.uuid4())),
    ]:
        response = await registry.client.patch(
            url, json={field: value}, headers=officer_of(city["id"])
        )
        assert response.status_code == 422, (field, response.text)
        assert "Extra inputs" in response.text, field
    after = (await registry.client.get(url, headers=USER)).json()
    assert after == city
    assert await registry.events("CityUpdated") == []


async def test_bad_profile_input_gets_a_clear_4xx_on_registration_and_update(
    registry: ServiceUnderTest,
) -> None:
    city = await register(registry, LOME)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"official_languages": ["fr", "zz"]}, "'zz' is not an ISO 639 language code"),
        ({"official_languages": ["und"]}, "is not an ISO 639 language code"),
        ({"latitude": 91, "longitude": 1}, "less than or equal to 90"),
        ({"latitude": 6, "longitude": -181}, "greater than or equal to -180"),
        ({"latitude": 6.1}, "latitude and longitude together"),
        ({"population": -1}, "greater than or equal to 0"),
        ({"contacts": [{**MAYOR, "email": "maire-at-lome"}]}, "not an e-mail address"),
        ({"contacts": [{**MAYOR, "phone": "call me"}]}, "not a phone number"),
        ({"contacts": [{**MAYOR, "role": "king"}]}, "'mayor', 'focal_point' or 'other'"),
        ({"contacts": [{**MAYOR, "name": " "}]}, "cannot be blank"),
        ({"contacts": [{**MAYOR, "age": 50}]}, "Extra inputs"),
        ({"external_id": "2365267"}, "is not an external identifier"),
        ({"external_id": "unlocode:FR LYS"}, "UN/LOCODE FRLYS is a place in FR, not in TG"),
    ]
    for fields, message in cases:
        created = await registry.client.post(
            "/cities", json={"name": "Sokodé", "country_code": "TG", **fields}, headers=USER
        )
        updated = await registry.client.patch(
            f"/cities/{city['id']}", json=fields, headers=officer_of(city["id"])
        )
        for response in (created, updated):
            assert response.status_code == 422, (fields, response.text)
            assert message in response.text, (fields, response.text)
    assert len(await registry.events("CityRegistered")) == 1
    assert await registry.events("CityUpdated") == []


async def test_contacts_are_visible_to_signed_in_callers_outside_conflict_zones(
    registry: ServiceUnderTest,
) -> None:
    city = await register(registry, LOME_PROFILE)
    for headers in (USER, bearer(), ADMIN, officer_of(str(uuid.uuid4()))):
        seen = (await registry.client.get(f"/cities/{city['id']}", headers=headers)).json()
        assert (len(seen["contacts"]), seen["contacts_withheld"]) == (2, False)


async def test_contacts_of_a_conflict_zone_city_are_withheld_from_all_but_its_officers_and_admins(
    registry: ServiceUnderTest,
) -> None:
    with_contacts = {"contacts": [MAYOR, FOCAL_POINT]}
    goma = await register(registry, {**with_contacts, "name": "Goma", "country_code": "CD"})
    lyon = await register(registry, {**with_contacts, "name": "Lyon", "country_code": "FR"})
    today = datetime.now(UTC).date().isoformat()
    assessed = await registry.client.post(
        f"/cities/{goma['id']}/conflict-assessments",
        json={
            "zone": "conflict_zone",
            "phase": "active",
            "preconditions": {
                name: {"met": "unknown", "assessed_on": today}
                for name in (
                    "disarmament_or_pacification",
                    "rule_of_law",
                    "competent_local_officials",
                    "local_elections",
                )
            },
        },
        headers=ADMIN,
    )
    assert assessed.status_code == 201, assessed.text
    for headers in (USER, officer_of(lyon["id"])):
        seen = (await registry.client.get(f"/cities/{goma['id']}", headers=headers)).json()
        assert (seen["contacts"], seen["contacts_withheld"]) == (None, True)
        listed = (await registry.client.get("/cities", headers=headers)).json()["items"]
        assert [(c["name"], c["contacts_withheld"]) for c in listed] == [
            ("Goma", True),
            ("Lyon", False),
        ]
        assert listed[0]["contacts"] is None and len(listed[1]["contacts"]) == 2
    for headers in (officer_of(goma["id"]), ADMIN):
        seen = (await registry.client.get(f"/cities/{goma['id']}", headers=headers)).json()
        assert (len(seen["contacts"]), seen["contacts_withheld"]) == (2, False)
