"""Needs and offers over the registry's HTTP API: publication, change, withdrawal, history, and
their events read back from the outbox. Both kinds run the same tests, since they share one
implementation that must behave the same under /needs and /offers."""

import uuid
from typing import Any

import pytest

from shared.contracts.registry.needs_offers import (
    NEED_PUBLISHED,
    NEED_UPDATED,
    NEED_WITHDRAWN,
    OFFER_PUBLISHED,
    OFFER_UPDATED,
    OFFER_WITHDRAWN,
)
from tests.helpers import ServiceUnderTest, bearer

USER = bearer()
KINDS = ["need", "offer"]
SPECS = {
    "need": (NEED_PUBLISHED, NEED_UPDATED, NEED_WITHDRAWN),
    "offer": (OFFER_PUBLISHED, OFFER_UPDATED, OFFER_WITHDRAWN),
}

# Lomé asks for training in waste collection (the Lomé-Lyon partnership of the 2001 meeting).
TRAINING = {
    "title": "Training for waste collection teams",
    "description": "Training of 40 municipal agents in collection rounds and vehicle upkeep.",
    "domain": "waste-collection",
    "languages": ["FRA", "ee", "fr"],
    "forms": ["training", "exchange-visits"],
    "capacity": {"staff_days": 60},
    "period": {"start": "2027-02-01", "end": "2027-07-31"},
}


async def _city(registry: ServiceUnderTest, name: str, country: str) -> str:
    response = await registry.client.post(
        "/cities", json={"name": name, "country_code": country}, headers=USER
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


@pytest.fixture
async def lome(registry: ServiceUnderTest) -> str:
    return await _city(registry, "Lomé", "TG")


@pytest.fixture
async def lyon(registry: ServiceUnderTest) -> str:
    return await _city(registry, "Lyon", "FR")


def officer_of(city_id: str) -> str:
    """The subject (account id) of the city's officer, stable so that revisions can name it."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"officer/{city_id}"))


def officer(city_id: str) -> dict[str, str]:
    return bearer(f"city_officer:{city_id}", subject=officer_of(city_id))


async def _publish(
    registry: ServiceUnderTest, kind: str, city_id: str, **changes: Any
) -> dict[str, Any]:
    response = await registry.client.post(
        f"/cities/{city_id}/{kind}s", json={**TRAINING, **changes}, headers=officer(city_id)
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _nothing_written(registry: ServiceUnderTest, kind: str, city_id: str) -> None:
    page = (await registry.client.get(f"/cities/{city_id}/{kind}s", headers=USER)).json()
    assert page["total"] == 0
    assert await registry.events(*(spec.type for spec in SPECS[kind])) == []


@pytest.mark.parametrize("kind", KINDS)
async def test_publishing_stores_it_normalised_and_records_its_event(
    registry: ServiceUnderTest, lome: str, kind: str
) -> None:
    item = await _publish(registry, kind, lome, domain=" Waste-Collection ")
    assert (item["kind"], item["city_id"], item["status"]) == (kind, lome, "open")
    assert item["domain"] == "waste-collection"
    assert item["languages"] == ["fr", "ee"]  # ISO 639 alpha-2, each once
    assert item["capacity"] == {"staff_days": 60, "partners": None}
    assert item["withdrawn_at"] is None
    fetched = await registry.client.get(f"/{kind}s/{item['id']}", headers=USER)
    assert fetched.json() == item

    published = SPECS[kind][0]
    [event] = await registry.events(published.type)
    assert event.subject == item["id"]
    payload = event.payload(published).model_dump(mode="json")
    assert payload[f"{kind}_id"] == item["id"]
    assert {key: payload[key] for key in ("city_id", "domain", "languages", "forms", "status")} == {
        "city_id": lome,
        "domain": "waste-collection",
        "languages": ["fr", "ee"],
        "forms": ["training", "exchange-visits"],
        "status": "open",
    }
    assert (payload["capacity_staff_days"], payload["capacity_partners"]) == (60, None)
    assert (payload["period_start"], payload["period_end"]) == ("2027-02-01", "2027-07-31")


async def test_a_need_is_not_an_offer(registry: ServiceUnderTest, lome: str) -> None:
    need = await _publish(registry, "need", lome)
    assert (await registry.client.get(f"/offers/{need['id']}", headers=USER)).status_code == 404
    assert (
        await registry.client.patch(
            f"/offers/{need['id']}", json={"title": "x"}, headers=officer(lome)
        )
    ).status_code == 404
    page = (await registry.client.get(f"/cities/{lome}/offers", headers=USER)).json()
    assert page["total"] == 0


@pytest.mark.parametrize("kind", KINDS)
async def test_an_update_changes_only_what_was_sent_and_keeps_the_history(
    registry: ServiceUnderTest, lome: str, kind: str
) -> None:
    item = await _publish(registry, kind, lome)
    url = f"/{kind}s/{item['id']}"
    change = {"capacity": {"staff_days": 80, "partners": 2}, "title": "  Waste   training "}
    response = await registry.client.patch(url, json=change, headers=officer(lome))
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["capacity"] == {"staff_days": 80, "partners": 2}
    assert updated["title"] == "Waste training"
    assert updated["period"] == item["period"] and updated["languages"] == item["languages"]
    assert updated["updated_at"] is not None

    # The same values again are no change: no event, no revision.
    again = await registry.client.patch(url, json=change, headers=officer(lome))
    assert again.status_code == 200
    [event] = await registry.events(SPECS[kind][1].type)
    payload = event.payload(SPECS[kind][1])
    assert payload.changed == ["capacity", "title"]
    assert (payload.capacity_staff_days, payload.capacity_partners) == (80, 2)

    history = (await registry.client.get(f"{url}/history", headers=USER)).json()
    assert [revision["action"] for revision in history] == ["published", "updated"]
    assert history[0]["changes"]["domain"] == {"before": None, "after": "waste-collection"}
    assert history[1]["changes"] == {
        "capacity": {
            "before": {"staff_days": 60, "partners": None},
            "after": {"staff_days": 80, "partners": 2},
        },
        "title": {"before": TRAINING["title"], "after": "Waste training"},
    }
    assert [revision["actor"] for revision in history] == [officer_of(lome)] * 2


@pytest.mark.parametrize("kind", KINDS)
async def test_withdrawing_keeps_the_record_and_is_idempotent(
    registry: ServiceUnderTest, lome: str, kind: str
) -> None:
    item = await _publish(registry, kind, lome)
    url = f"/{kind}s/{item['id']}"
    first = await registry.client.post(f"{url}/withdrawal", headers=officer(lome))
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "withdrawn" and first.json()["withdrawn_at"]
    again = await registry.client.post(f"{url}/withdrawal", headers=officer(lome))
    assert again.json() == first.json()

    withdrawn = SPECS[kind][2]
    [event] = await registry.events(withdrawn.type)
    assert (event.subject, event.payload(withdrawn).status) == (item["id"], "withdrawn")
    assert (await registry.client.get(url, headers=USER)).json()["status"] == "withdrawn"
    history = (await registry.client.get(f"{url}/history", headers=USER)).json()
    assert [revision["action"] for revision in history] == ["published", "withdrawn"]
    assert history[1]["changes"] == {"status": {"before": "open", "after": "withdrawn"}}

    refused = await registry.client.patch(url, json={"title": "Again"}, headers=officer(lome))
    assert refused.status_code == 409
    assert f"this {kind} is withdrawn" in refused.json()["detail"]
    assert await registry.events(SPECS[kind][1].type) == []


@pytest.mark.parametrize("kind", KINDS)
async def test_a_city_lists_its_own_items_by_status(
    registry: ServiceUnderTest, lome: str, lyon: str, kind: str
) -> None:
    first = await _publish(registry, kind, lome)
    second = await _publish(registry, kind, lome, domain="drinking-water")
    await _publish(registry, kind, lyon)
    await registry.client.post(f"/{kind}s/{first['id']}/withdrawal", headers=officer(lome))

    url = f"/cities/{lome}/{kind}s"
    everything = (await registry.client.get(url, headers=USER)).json()
    assert everything["total"] == 2
    assert [i["id"] for i in everything["items"]] == [second["id"], first["id"]]
    open_ = (await registry.client.get(url, params={"status": "open"}, headers=USER)).json()
    assert [i["id"] for i in open_["items"]] == [second["id"]]
    bad = await registry.client.get(url, params={"status": "closed"}, headers=USER)
    assert bad.status_code == 422
    missing = await registry.client.get(f"/cities/{uuid.uuid4()}/{kind}s", headers=USER)
    assert missing.status_code == 404


@pytest.mark.parametrize("kind", KINDS)
async def test_an_idempotency_key_replays_the_first_publication(
    registry: ServiceUnderTest, lome: str, kind: str
) -> None:
    headers = {**officer(lome), "Idempotency-Key": str(uuid.uuid4())}
    url = f"/cities/{lome}/{kind}s"
    first = await registry.client.post(url, json=TRAINING, headers=headers)
    retry = await registry.client.post(url, json=TRAINING, headers=headers)
    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.json() == first.json()
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert len(await registry.events(SPECS[kind][0].type)) == 1

    other = await registry.client.post(url, json={**TRAINING, "title": "Other"}, headers=headers)
    assert other.status_code == 409
    assert "different request" in other.json()["detail"]


@pytest.mark.parametrize("kind", KINDS)
async def test_an_officer_of_another_city_cannot_act_for_it(
    registry: ServiceUnderTest, lome: str, lyon: str, kind: str
) -> None:
    item = await _publish(registry, kind, lome)
    url = f"/{kind}s/{item['id']}"
    intruder = officer(lyon)
    attempts = [
        registry.client.post(f"/cities/{lome}/{kind}s", json=TRAINING, headers=intruder),
        registry.client.patch(url, json={"title": "Taken"}, headers=intruder),
        registry.client.post(f"{url}/withdrawal", headers=intruder),
    ]
    for attempt in attempts:
        response = await attempt
        assert response.status_code == 403, response.text
        assert f"not for city {lome}" in response.json()["detail"]
    assert (await registry.client.get(url, headers=USER)).json() == item
    assert len(await registry.events(*(spec.type for spec in SPECS[kind]))) == 1
    history = (await registry.client.get(f"{url}/history", headers=USER)).json()
    assert len(history) == 1


async def test_publishing_for_a_city_that_does_not_exist_is_a_404(
    registry: ServiceUnderTest,
) -> None:
    ghost = str(uuid.uuid4())
    response = await registry.client.post(
        f"/cities/{ghost}/needs", json=TRAINING, headers=officer(ghost)
    )
    assert response.status_code == 404
    assert ghost in response.json()["detail"]


BAD_PUBLICATIONS = [
    ({"domain": "football"}, "GET /domains (technology-transfer, "),
    ({"languages": ["fr", "xx"]}, "'xx' is not an ISO 639 language code"),
    ({"languages": []}, "at least 1 item"),
    ({"description": "x" * 4001}, "at most 4000 characters"),
    ({"title": "x" * 201}, "at most 200 characters"),
    ({"title": "   "}, "cannot be blank"),
    ({"period": {"start": "2027-07-31", "end": "2027-02-01"}}, "must end after it starts"),
    ({"period": {"start": "2027-02-01", "end": "2027-02-01"}}, "must end after it starts"),
    ({"capacity": {}}, "give the capacity as staff_days, partners or both"),
    ({"capacity": {"staff_days": 0}}, "greater than or equal to 1"),
    ({"capacity": {"partners": 10**12}}, "less than or equal to 100"),
    ({"forms": ["loans"]}, "'expertise', 'training'"),
    ({"status": "matched"}, "Extra inputs are not permitted"),
    ({"city_id": str(uuid.uuid4())}, "Extra inputs are not permitted"),
    ({"id": str(uuid.uuid4())}, "Extra inputs are not permitted"),
]


@pytest.mark.parametrize("kind", KINDS)
async def test_bad_publications_get_a_clear_422_and_write_nothing(
    registry: ServiceUnderTest, lome: str, kind: str
) -> None:
    for change, message in BAD_PUBLICATIONS:
        response = await registry.client.post(
            f"/cities/{lome}/{kind}s", json={**TRAINING, **change}, headers=officer(lome)
        )
        assert response.status_code == 422, (change, response.text)
        assert message in response.text, (change, response.text)
    without_period = {key: value for key, value in TRAINING.items() if key != "period"}
    response = await registry.client.post(
        f"/cities/{lome}/{kind}s", json=without_period, headers=officer(lome)
    )
    assert response.status_code == 422 and "Field required" in response.text
    await _nothing_written(registry, kind, lome)


BAD_UPDATES = [
    ({"status": "withdrawn"}, "Extra inputs are not permitted"),
    ({"city_id": str(uuid.uuid4())}, "Extra inputs are not permitted"),
    ({"withdrawn_at": "2027-01-01T00:00:00Z"}, "Extra inputs are not permitted"),
    ({"title": None}, "title cannot be null"),
    ({"domain": "peace"}, "unknown domain 'peace'"),
    ({"languages": ["klingon"]}, "at most 3 characters"),
    ({"languages": ["zz"]}, "not an ISO 639 language code"),
    ({"description": "y" * 4001}, "at most 4000 characters"),
    ({"period": {"start": "2027-02-01"}}, "Field required"),
    ({"period": {"start": "2027-03-01", "end": "2027-01-01"}}, "must end after it starts"),
    ({"capacity": {"staff_days": None}}, "give the capacity as staff_days, partners or both"),
]


@pytest.mark.parametrize("kind", KINDS)
async def test_bad_updates_get_a_clear_422_and_change_nothing(
    registry: ServiceUnderTest, lome: str, kind: str
) -> None:
    item = await _publish(registry, kind, lome)
    url = f"/{kind}s/{item['id']}"
    for body, message in BAD_UPDATES:
        response = await registry.client.patch(url, json=body, headers=officer(lome))
        assert response.status_code == 422, (body, response.text)
        assert message in response.text, (body, response.text)
    assert (await registry.client.get(url, headers=USER)).json() == item
    assert await registry.events(SPECS[kind][1].type) == []
    assert len((await registry.client.get(f"{url}/history", headers=USER)).json()) == 1


async def test_the_domain_taxonomy_is_public_in_three_languages(
    registry: ServiceUnderTest,
) -> None:
    domains = (await registry.client.get("/domains")).json()
    by_code = {entry["code"]: entry["labels"] for entry in domains}
    assert by_code["waste-collection"] == {
        "en": "Waste collection",
        "fr": "Enlèvement des ordures",
        "es": "Recogida de residuos",
    }
    in_french = (await registry.client.get("/domains", params={"lang": "fr"})).json()
    assert {"code": "drinking-water", "labels": {"fr": "Eau potable"}} in in_french
    assert len(in_french) == len(domains)
    assert (await registry.client.get("/domains", params={"lang": "de"})).status_code == 422
