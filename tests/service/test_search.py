"""Search: GET /cities with its filters, sort orders and pages, and GET /needs and GET /offers;
the language mirrors the searches rest on (kept by triggers, filled when first created)."""

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import insert, select

from services.registry import search
from services.registry.models import City, RegistryTable
from services.registry.search import CityLanguage
from shared.db import create_engine, create_schema
from tests.conftest import DatabaseFactory
from tests.helpers import ServiceUnderTest, bearer

USER = bearer()  # an authenticated account with no role
ADMIN = bearer("platform_admin")

# name, country, region, population, official languages; registered in this order.
CITIES = [
    ("Lomé", "TG", "Maritime", 1_800_000, ["fr", "ee"]),
    ("Kara", "TG", "Kara", 100_000, ["fr"]),
    ("Lyon", "FR", "Auvergne-Rhône-Alpes", 520_000, ["fr"]),
    ("Ouagadougou", "BF", "Centre", 2_400_000, ["fr", "mos"]),
    ("Genève", "CH", "Genève", 200_000, ["fr"]),
    ("Ostende", "BE", "Flandre-Occidentale", None, ["nl"]),
    ("Kinshasa", "CD", "Kinshasa", 15_000_000, ["fr", "ln"]),
    ("Québec", "CA", "Québec", 550_000, ["fr"]),
]
BY_NAME = ["Genève", "Kara", "Kinshasa", "Lomé", "Lyon", "Ostende", "Ouagadougou", "Québec"]
CONTACT = {"name": "Jeanne Mukendi", "role": "focal_point", "email": "relations@kinshasa.cd"}


@pytest.fixture(autouse=True, params=["few", "many"])
def page_strategy(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A page is filled in one of two ways (search.page): sorted from the matching rows when
    few match, read in the order of a sort index when many do. Every test runs both."""
    if request.param == "many":
        monkeypatch.setattr(search, "FEW", 0)


@dataclass
class World:
    registry: ServiceUnderTest
    ids: dict[str, str]

    async def get(self, path: str, headers: dict[str, str] = USER, **params: Any) -> Any:
        response = await self.registry.client.get(path, params=params, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    async def names(self, headers: dict[str, str] = USER, **params: Any) -> list[str]:
        page = await self.get("/cities", headers, **params)
        return [item["name"] for item in page["items"]]

    async def total(self, **params: Any) -> int:
        return int((await self.get("/cities", **params))["total"])

    async def refused(
        self, path: str, expected: int, headers: dict[str, str] = USER, **params: Any
    ) -> str:
        response = await self.registry.client.get(path, params=params, headers=headers)
        assert response.status_code == expected, response.text
        return response.text


@pytest.fixture
async def world(registry: ServiceUnderTest) -> World:
    ids = {}
    for name, country, region, population, languages in CITIES:
        body = {
            "name": name,
            "country_code": country,
            "region": region,
            "population": population,
            "official_languages": languages,
            "contacts": [CONTACT] if name == "Kinshasa" else [],
        }
        response = await registry.client.post("/cities", json=body, headers=USER)
        assert response.status_code == 201, response.text
        ids[name] = response.json()["id"]
    return World(registry, ids)


def officer(city_id: str) -> dict[str, str]:
    return bearer(f"city_officer:{city_id}")


async def test_without_filters_every_city_is_listed_by_name_a_page_at_a_time(world: World) -> None:
    assert await world.names() == BY_NAME
    assert await world.names(sort="-name") == BY_NAME[::-1]
    page = await world.get("/cities", limit=3, offset=3)
    assert [item["name"] for item in page["items"]] == BY_NAME[3:6]
    assert (page["total"], page["limit"], page["offset"]) == (8, 3, 3)
    # Walking the pages gives every city once.
    walked = [
        name for offset in range(0, 8, 3) for name in await world.names(limit=3, offset=offset)
    ]
    assert walked == BY_NAME
    beyond = await world.get("/cities", offset=50)
    assert (beyond["items"], beyond["total"]) == ([], 8)


async def test_country_region_and_ldc_filters(world: World) -> None:
    assert await world.names(country="TG") == ["Kara", "Lomé"]
    assert await world.names(country=["tg", "FR"]) == ["Kara", "Lomé", "Lyon"]
    assert await world.names(region="Maritime") == ["Lomé"]
    assert await world.names(region="maritime") == []  # exactly as the profiles write it
    # LDC status comes from the country (TG, BF and CD are on the UN list).
    assert await world.names(ldc=True) == ["Kara", "Kinshasa", "Lomé", "Ouagadougou"]
    assert await world.names(ldc=False) == ["Genève", "Lyon", "Ostende", "Québec"]
    assert all(item["is_ldc"] for item in (await world.get("/cities", ldc=True))["items"])
    assert await world.total(ldc=True, country="FR") == 0
    assert await world.names(ldc=False, country=["FR", "TG", "BE"]) == ["Lyon", "Ostende"]


async def test_language_filter_follows_the_official_languages(world: World) -> None:
    assert await world.names(language="mos") == ["Ouagadougou"]
    assert await world.total(language="fra") == 7  # normalised to 'fr', as the profiles store it
    assert await world.names(language="nl") == ["Ostende"]
    ostende = world.ids["Ostende"]
    patched = await world.registry.client.patch(
        f"/cities/{ostende}",
        json={"official_languages": ["fr", "nl"]},
        headers=officer(ostende),
    )
    assert patched.status_code == 200, patched.text
    assert await world.total(language="fr") == 8
    await world.registry.client.patch(
        f"/cities/{ostende}", json={"official_languages": ["de"]}, headers=officer(ostende)
    )
    assert (await world.total(language="nl"), await world.total(language="fr")) == (0, 7)
    assert await world.names(language="de") == ["Ostende"]
    # A PATCH that leaves the languages out leaves them as they were.
    await world.registry.client.patch(
        f"/cities/{ostende}", json={"population": 71_000}, headers=officer(ostende)
    )
    assert await world.names(language="de") == ["Ostende"]


NEED = {
    "title": "Training for waste collection teams",
    "description": "Training of 40 municipal agents in collection rounds and vehicle upkeep.",
    "domain": "waste-collection",
    "languages": ["fr"],
    "forms": ["training"],
    "capacity": {"staff_days": 60},
    "period": {"start": "2027-02-01", "end": "2027-07-31"},
}


async def _publish(
    registry: ServiceUnderTest, kind: str, city_id: str, **changes: Any
) -> dict[str, Any]:
    response = await registry.client.post(
        f"/cities/{city_id}/{kind}s", json={**NEED, **changes}, headers=officer(city_id)
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _withdraw(registry: ServiceUnderTest, kind: str, item: dict[str, Any]) -> None:
    response = await registry.client.post(
        f"/{kind}s/{item['id']}/withdrawal", headers=officer(item["city_id"])
    )
    assert response.status_code == 200, response.text


async def test_domain_filter_finds_cities_with_an_open_need_or_offer_in_it(world: World) -> None:
    registry, ids = world.registry, world.ids
    await _publish(registry, "need", ids["Lomé"])
    await _publish(registry, "offer", ids["Lyon"])
    await _withdraw(registry, "need", await _publish(registry, "need", ids["Kara"]))
    await _publish(registry, "offer", ids["Genève"], domain="drinking-water")
    assert await world.names(domain="waste-collection") == ["Lomé", "Lyon"]
    assert await world.names(domain=" Drinking-Water ") == ["Genève"]
    assert await world.total(domain="microcredit") == 0
    # Two open ones of one city count the city once.
    await _publish(registry, "offer", ids["Lomé"])
    assert await world.total(domain="waste-collection") == 2


async def test_network_filter_finds_current_members(world: World) -> None:
    registry, ids = world.registry, world.ids
    created = await registry.client.post(
        "/networks",
        json={"name": "Association internationale des maires francophones", "scope": "global"},
        headers=ADMIN,
    )
    network = created.json()["id"]
    for name in ("Lomé", "Lyon", "Québec"):
        joined = await registry.client.post(
            f"/networks/{network}/members", json={"city_id": ids[name]}, headers=ADMIN
        )
        assert joined.status_code == 201, joined.text
    left = await registry.client.post(
        f"/networks/{network}/members/{ids['Lyon']}/departure", headers=ADMIN
    )
    assert left.status_code == 200, left.text
    assert await world.names(network=network) == ["Lomé", "Québec"]
    # A city that left and came back is listed once.
    await registry.client.post(
        f"/networks/{network}/members", json={"city_id": ids["Lyon"]}, headers=ADMIN
    )
    assert await world.names(network=network) == ["Lomé", "Lyon", "Québec"]
    unknown = str(uuid.uuid4())
    assert "no network with id" in await world.refused("/cities", 422, network=unknown)
    await world.refused("/cities", 422, network="not-a-uuid")


def _assessment(zone: str, phase: str | None) -> dict[str, Any]:
    met = {"met": "unknown", "assessed_on": "2024-05-02"}
    preconditions = (
        "disarmament_or_pacification",
        "rule_of_law",
        "competent_local_officials",
        "local_elections",
    )
    return {
        "zone": zone,
        "phase": phase,
        "preconditions": dict.fromkeys(preconditions, met),
    }


async def test_conflict_phase_follows_the_latest_assessment_for_platform_admins_only(
    world: World,
) -> None:
    registry, ids = world.registry, world.ids

    async def assess(name: str, zone: str, phase: str | None) -> None:
        response = await registry.client.post(
            f"/cities/{ids[name]}/conflict-assessments",
            json=_assessment(zone, phase),
            headers=ADMIN,
        )
        assert response.status_code == 201, response.text

    await assess("Kinshasa", "conflict_zone", "active")
    await assess("Kinshasa", "zone_of_peace", "post_conflict")
    await assess("Ouagadougou", "conflict_zone", "active")
    await assess("Lomé", "conflict_zone", "pre_conflict")
    await assess("Lomé", "none", None)
    assert await world.names(ADMIN, conflict_phase="active") == ["Ouagadougou"]
    assert await world.names(ADMIN, conflict_phase="post_conflict") == ["Kinshasa"]
    assert await world.names(ADMIN, conflict_phase="pre_conflict") == []
    assert await world.names(ADMIN, conflict_phase="active", ldc=False) == []
    for headers in (USER, officer(ids["Kinshasa"]), bearer("network_officer:x")):
        detail = await world.refused("/cities", 403, headers, conflict_phase="post_conflict")
        assert "only platform administrators" in detail
    assert "post_conflict" in await world.refused("/cities", 422, ADMIN, conflict_phase="war")


async def test_contacts_stay_withheld_in_a_filtered_search(world: World) -> None:
    registry, kinshasa = world.registry, world.ids["Kinshasa"]
    response = await registry.client.post(
        f"/cities/{kinshasa}/conflict-assessments",
        json=_assessment("conflict_zone", "active"),
        headers=ADMIN,
    )
    assert response.status_code == 201, response.text
    for headers, withheld in ((USER, True), (officer(kinshasa), False), (ADMIN, False)):
        [city] = (await world.get("/cities", headers, country="CD", language="ln"))["items"]
        assert (city["contacts_withheld"], city["contacts"] is None) == (withheld, withheld)


async def test_free_text_searches_names_without_accents_or_case_and_regions(world: World) -> None:
    assert await world.names(q="QUEBEC") == ["Québec"]
    assert await world.names(q="  québ ") == ["Québec"]
    assert await world.names(q="genev") == ["Genève"]
    assert await world.names(q="occidentale") == ["Ostende"]  # its region
    assert await world.names(q="auvergne") == ["Lyon"]
    assert await world.names(q="K") == ["Kara", "Kinshasa"]
    assert await world.total(q="%") == 0  # LIKE wildcards are searched for, not obeyed
    assert await world.total(q="_") == 0
    assert await world.total(q="   ") == 8  # blank: no filter


async def test_sort_orders(world: World) -> None:
    by_population = ["Kara", "Genève", "Lyon", "Québec", "Lomé", "Ouagadougou", "Kinshasa"]
    # A city without a population comes last in both orders.
    assert await world.names(sort="population") == [*by_population, "Ostende"]
    assert await world.names(sort="-population") == [*by_population[::-1], "Ostende"]
    registered = [name for name, *_ in CITIES]
    assert await world.names(sort="registered_at") == registered
    assert await world.names(sort="-registered_at") == registered[::-1]
    page = await world.get("/cities", sort="-population", limit=2, offset=1, ldc=True)
    assert ([item["name"] for item in page["items"]], page["total"]) == (
        ["Ouagadougou", "Lomé"],
        4,
    )


async def test_filters_combine(world: World) -> None:
    await _publish(world.registry, "need", world.ids["Ouagadougou"])
    await _publish(world.registry, "need", world.ids["Lomé"])
    await _publish(world.registry, "need", world.ids["Lyon"])
    query = {"ldc": True, "language": "fr", "domain": "waste-collection"}
    assert await world.names(**query) == ["Lomé", "Ouagadougou"]
    assert await world.names(**query, country="BF") == ["Ouagadougou"]
    assert await world.names(**query, q="lo") == ["Lomé"]
    assert await world.names(**query, sort="-population") == ["Ouagadougou", "Lomé"]
    page = await world.get("/cities", **query, limit=1, offset=1)
    assert ([item["name"] for item in page["items"]], page["total"]) == (["Ouagadougou"], 2)
    assert await world.total(country=["TG", "BF", "CD"], language="fr", region="Centre") == 1


async def test_bad_filters_and_sorts_are_422_naming_the_problem(world: World) -> None:
    assert "'name'" in await world.refused("/cities", 422, sort="size")
    assert "ISO 3166-1" in await world.refused("/cities", 422, country=["TG", "XX"])
    assert "ISO 639" in await world.refused("/cities", 422, language="zz")
    assert "unknown domain" in await world.refused("/cities", 422, domain="gardening")
    assert "bool" in await world.refused("/cities", 422, ldc="perhaps")
    await world.refused("/cities", 422, limit=201)
    await world.refused("/cities", 422, offset=-1)
    await world.refused("/cities", 422, q="x" * 201)
    assert (await world.registry.client.get("/cities")).status_code == 401


# Needs and offers


@pytest.fixture
async def market(world: World) -> World:
    """Needs and offers of several cities, published one after the other (oldest first)."""
    registry, ids = world.registry, world.ids
    await _publish(registry, "need", ids["Lomé"], languages=["fr", "ee"])  # 0
    await _publish(
        registry,
        "need",
        ids["Ouagadougou"],
        title="Drinking water kiosks",
        description="Twelve KIOSKS in the outer districts",
        domain="drinking-water",
        languages=["fr", "mos"],
        period={"start": "2026-09-01", "end": "2027-03-31"},
    )  # 1
    await _publish(
        registry,
        "need",
        ids["Kinshasa"],
        title="Dialogue between communities",
        domain="inter-ethnic-dialogue",
        period={"start": "2028-01-01", "end": "2028-12-31"},
    )  # 2
    await _publish(
        registry,
        "need",
        ids["Lyon"],
        title="Youth exchange",
        domain="cultural-exchange",
        languages=["en"],
        period={"start": "2027-06-01", "end": "2027-09-30"},
    )  # 3
    await _withdraw(registry, "need", await _publish(registry, "need", ids["Kara"]))  # 4
    await _publish(registry, "offer", ids["Lyon"], title="Collection rounds know-how")
    await _publish(registry, "offer", ids["Genève"], domain="drinking-water")
    return world


async def _titles(world: World, kind: str = "need", **params: Any) -> list[str]:
    page = await world.get(f"/{kind}s", **params)
    return [f"{item['title']} ({_city_name(world, item['city_id'])})" for item in page["items"]]


def _city_name(world: World, city_id: str) -> str:
    return next(name for name, id_ in world.ids.items() if id_ == city_id)


TRAINING = "Training for waste collection teams"


async def test_needs_are_searched_open_and_newest_first_by_default(market: World) -> None:
    page = await market.get("/needs")
    assert page["total"] == 4
    assert {item["status"] for item in page["items"]} == {"open"}
    assert await _titles(market) == [
        "Youth exchange (Lyon)",
        "Dialogue between communities (Kinshasa)",
        "Drinking water kiosks (Ouagadougou)",
        f"{TRAINING} (Lomé)",
    ]
    assert await _titles(market, status="withdrawn") == [f"{TRAINING} (Kara)"]
    both = await market.get("/needs", status=["open", "withdrawn"])
    assert both["total"] == 5
    # Offers are another list.
    assert await _titles(market, "offer") == [
        f"{TRAINING} (Genève)",
        "Collection rounds know-how (Lyon)",
    ]
    assert (await market.get("/offers", domain="waste-collection"))["total"] == 1


async def test_needs_filters(market: World) -> None:
    ids = market.ids
    assert await _titles(market, domain="drinking-water") == ["Drinking water kiosks (Ouagadougou)"]
    assert await _titles(market, language="mos") == ["Drinking water kiosks (Ouagadougou)"]
    assert await _titles(market, language="eng") == ["Youth exchange (Lyon)"]
    assert await _titles(market, country=["TG", "cd"]) == [
        "Dialogue between communities (Kinshasa)",
        f"{TRAINING} (Lomé)",
    ]
    assert await _titles(market, ldc=False) == ["Youth exchange (Lyon)"]
    assert (await market.get("/needs", ldc=True))["total"] == 3
    assert await _titles(market, city_id=ids["Lomé"]) == [f"{TRAINING} (Lomé)"]
    assert await _titles(market, q="kiosks") == ["Drinking water kiosks (Ouagadougou)"]
    assert await _titles(market, q="outer DISTRICTS") == ["Drinking water kiosks (Ouagadougou)"]
    assert (await market.get("/needs", q="100%"))["total"] == 0
    # Combined, with the withdrawn one brought back by its status.
    assert await _titles(
        market, domain="waste-collection", ldc=True, language="fr", status=["open", "withdrawn"]
    ) == [f"{TRAINING} (Kara)", f"{TRAINING} (Lomé)"]


async def test_needs_language_filter_follows_changes(market: World) -> None:
    [need] = (await market.get("/needs", language="ee"))["items"]
    changed = await market.registry.client.patch(
        f"/needs/{need['id']}", json={"languages": ["en"]}, headers=officer(need["city_id"])
    )
    assert changed.status_code == 200, changed.text
    assert (await market.get("/needs", language="ee"))["total"] == 0
    assert (await market.get("/needs", language="en"))["total"] == 2


async def test_needs_sort_orders_and_pages(market: World) -> None:
    newest_first = await _titles(market)
    assert await _titles(market, sort="published_at") == newest_first[::-1]
    assert await _titles(market, sort="period_start") == [
        "Drinking water kiosks (Ouagadougou)",
        f"{TRAINING} (Lomé)",
        "Youth exchange (Lyon)",
        "Dialogue between communities (Kinshasa)",
    ]
    assert (await _titles(market, sort="-period_start"))[0] == (
        "Dialogue between communities (Kinshasa)"
    )
    page = await market.get("/needs", limit=2, offset=1)
    assert ([item["title"] for item in page["items"]], page["total"]) == (
        ["Dialogue between communities", "Drinking water kiosks"],
        4,
    )
    assert (await market.get("/needs", offset=10))["items"] == []


async def test_bad_needs_filters_are_422_naming_the_problem(market: World) -> None:
    for kind in ("needs", "offers"):
        assert "unknown domain" in await market.refused(f"/{kind}", 422, domain="gardening")
        assert "'published_at'" in await market.refused(f"/{kind}", 422, sort="title")
        assert "'open'" in await market.refused(f"/{kind}", 422, status="closed")
        assert "ISO 3166-1" in await market.refused(f"/{kind}", 422, country="XX")
        assert "ISO 639" in await market.refused(f"/{kind}", 422, language="zz")
        await market.refused(f"/{kind}", 422, city_id="Lomé")
        await market.refused(f"/{kind}", 422, limit=0)
        assert (await market.registry.client.get(f"/{kind}")).status_code == 401


# The mirrors under the language filters


async def test_a_mirror_is_filled_from_existing_rows_and_kept_by_any_write(
    new_database: DatabaseFactory,
) -> None:
    """An existing database gains city_languages filled from its cities; a city written without
    the ORM (a Core insert, as a bulk import might) is mirrored too."""
    engine = create_engine(await new_database("registry"))
    tables = RegistryTable.metadata.sorted_tables
    try:
        async with engine.begin() as connection:
            # The database as it was before search: every table but the mirrors.
            without = [
                t for t in tables if t.name not in {"city_languages", "need_offer_languages"}
            ]
            await connection.run_sync(RegistryTable.metadata.create_all, tables=without)
            await connection.execute(
                insert(City),
                [
                    {"name": "Lomé", "name_key": "lome", "country_code": "TG",
                     "official_languages": ["fr", "ee"], "contacts": [], "registered_by": "t"},
                    {"name": "Kara", "name_key": "kara", "country_code": "TG",
                     "official_languages": [], "contacts": [], "registered_by": "t"},
                ],
            )  # fmt: skip
        await create_schema(engine, RegistryTable.metadata)
        async with engine.begin() as connection:
            await connection.execute(
                insert(City).values(
                    name="Bamako",
                    name_key="bamako",
                    country_code="ML",
                    official_languages=["fr", "bm"],
                    contacts=[],
                    registered_by="t",
                )
            )
            rows = await connection.execute(
                select(City.name, CityLanguage.language)
                .join(CityLanguage, CityLanguage.city_id == City.id)
                .order_by(City.name, CityLanguage.language)
            )
            assert [tuple(row) for row in rows] == [
                ("Bamako", "bm"),
                ("Bamako", "fr"),
                ("Lomé", "ee"),
                ("Lomé", "fr"),
            ]
    finally:
        await engine.dispose()
