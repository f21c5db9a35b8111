"""Partner suggestions over HTTP, from the events the registry really recorded."""

import random
import uuid
from datetime import UTC, date, datetime

import pytest
from sqlmodel import SQLModel

from services.matching import partners, suggestions
from services.matching.models import ItemKind, KnownCity, KnownMembership, KnownNeedOffer
from services.matching.suggestions import Weights
from tests.helpers import ServiceUnderTest, bearer

PERIOD = {"start": "2027-01-01", "end": "2027-12-31"}
ADMIN = bearer("platform_admin")


async def city(registry: ServiceUnderTest, name: str, country: str) -> str:
    body = {"name": name, "country_code": country, "official_languages": ["fr"]}
    response = await registry.client.post("/cities", json=body, headers=bearer())
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def publish(
    registry: ServiceUnderTest, city_id: str, kind: str, domain: str, **capacity: int
) -> None:
    body = {
        "title": f"{domain} ({kind})",
        "description": "From the exchanges of the 2001 meeting.",
        "domain": domain,
        "languages": ["fr"],
        "forms": ["expertise"],
        "capacity": capacity or {"partners": 1},
        "period": PERIOD,
    }
    response = await registry.client.post(
        f"/cities/{city_id}/{kind}", json=body, headers=bearer(f"city_officer:{city_id}")
    )
    assert response.status_code == 201, response.text


async def assess(registry: ServiceUnderTest, city_id: str, phase: str, **met: str) -> None:
    """A conflict assessment of the city, each precondition met or not as `met` says, today."""
    today = datetime.now(UTC).date().isoformat()
    body = {
        "zone": "conflict_zone",
        "phase": phase,
        "preconditions": {p: {"met": m, "assessed_on": today} for p, m in met.items()},
    }
    response = await registry.client.post(
        f"/cities/{city_id}/conflict-assessments", json=body, headers=ADMIN
    )
    assert response.status_code == 201, response.text


async def test_a_city_gets_its_partners_ranked_with_reasons_and_only_it(
    registry: ServiceUnderTest, matching: ServiceUnderTest
) -> None:
    lome, lyon, quebec, ostend = [
        await city(registry, *c)
        for c in (("Lomé", "TG"), ("Lyon", "FR"), ("Québec", "CA"), ("Ostende", "BE"))
    ]
    await publish(registry, lome, "needs", "waste-collection", staff_days=60)
    await publish(registry, lome, "offers", "cultural-exchange")
    await publish(registry, lyon, "offers", "waste-collection", staff_days=80)
    await publish(registry, lyon, "needs", "cultural-exchange")
    await publish(registry, quebec, "offers", "waste-collection", staff_days=20)
    await publish(registry, ostend, "offers", "drinking-water", staff_days=20)
    await matching.deliver(*await registry.events())

    url = f"/cities/{lome}/suggestions"
    response = await matching.client.get(url, headers=bearer(f"city_officer:{lome}"))
    assert response.status_code == 200, response.text
    ranked = response.json()
    assert [s["partner"]["name"] for s in ranked] == ["Lyon", "Québec"]
    lyon_reasons = {c["name"]: c["explanation"] for c in ranked[0]["components"]}
    assert (
        lyon_reasons["domain_fit"]
        == "needs meet offers both ways in cultural-exchange, waste-collection"
    )
    assert [f["domain"] for f in ranked[0]["they_help_us"]] == ["waste-collection"]
    assert [f["domain"] for f in ranked[0]["we_help_them"]] == ["cultural-exchange"]

    assert (
        await matching.client.get(url, headers=bearer(f"city_officer:{lyon}"))
    ).status_code == 403
    assert (await matching.client.get(url, headers=ADMIN)).status_code == 200
    assert (await matching.client.get(url)).status_code == 401


async def test_city_diplomacy_waits_for_its_preconditions(
    registry: ServiceUnderTest, matching: ServiceUnderTest
) -> None:
    goma, geneve = await city(registry, "Goma", "CD"), await city(registry, "Genève", "CH")
    await publish(registry, goma, "needs", "inter-ethnic-dialogue")
    await publish(registry, geneve, "offers", "inter-ethnic-dialogue")
    await assess(
        registry,
        goma,
        "active",
        disarmament_or_pacification="no",
        rule_of_law="unknown",
        competent_local_officials="yes",
        local_elections="no",
    )
    await matching.deliver(*await registry.events())

    officer = bearer(f"city_officer:{goma}")
    refused = await matching.client.get(f"/cities/{goma}/suggestions", headers=officer)
    assert refused.status_code == 409
    assert "missing: disarmament or pacification, rule of law (" in refused.json()["detail"]
    # Nor is Goma offered to others as a partner while they do not hold.
    helper = await matching.client.get(
        f"/cities/{geneve}/suggestions", headers=bearer(f"city_officer:{geneve}")
    )
    assert helper.json() == []


async def network(registry: ServiceUnderTest, acronym: str) -> str:
    body = {"name": f"{acronym} network of cities", "acronym": acronym, "scope": "global"}
    response = await registry.client.post("/networks", json=body, headers=ADMIN)
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def join(
    registry: ServiceUnderTest, network_id: str, city_id: str, *mandate_domains: str | None
) -> None:
    """The city joins the network and, when domains are given, mandates it in those domains
    (a single None: in every domain)."""
    officer = bearer(f"city_officer:{city_id}")
    members = f"/networks/{network_id}/members"
    joined = await registry.client.post(members, json={"city_id": city_id}, headers=officer)
    assert joined.status_code == 201, joined.text
    if mandate_domains:
        domains = [d for d in mandate_domains if d is not None]
        granted = await registry.client.put(
            f"{members}/{city_id}/mandate",
            json={"granted": True, "domains": domains},
            headers=officer,
        )
        assert granted.status_code == 200, granted.text


PRECONDITIONS_HOLD = {
    "disarmament_or_pacification": "yes",
    "rule_of_law": "yes",
    "competent_local_officials": "yes",
    "local_elections": "yes",
}


async def test_a_mandated_network_gets_the_suggestions_of_its_mandate_s_domains(
    registry: ServiceUnderTest, matching: ServiceUnderTest
) -> None:
    """Demand-driven city diplomacy: for a city in a conflict zone, suggestions are asked by the
    city or by a network it mandated, which sees only what fits in the mandate's domains."""
    goma, lyon, geneve, ostend = [
        await city(registry, *c)
        for c in (("Goma", "CD"), ("Lyon", "FR"), ("Genève", "CH"), ("Ostende", "BE"))
    ]
    await assess(registry, goma, "post_conflict", **PRECONDITIONS_HOLD)
    await publish(registry, goma, "needs", "waste-collection")
    await publish(registry, goma, "needs", "drinking-water")
    await publish(registry, goma, "offers", "cultural-exchange")
    await publish(registry, lyon, "offers", "waste-collection")
    await publish(registry, lyon, "needs", "cultural-exchange")
    await publish(registry, geneve, "offers", "drinking-water")
    await publish(registry, ostend, "needs", "drinking-water")
    alda, uclg, eurocities = [await network(registry, n) for n in ("ALDA", "UCLG", "EUROCITIES")]
    await join(registry, alda, goma, "waste-collection")
    await join(registry, uclg, goma, None)  # a mandate in every domain
    await join(registry, eurocities, goma)  # a member, without a mandate
    await join(registry, alda, ostend, None)  # Ostend is in no conflict zone
    await matching.deliver(*await registry.events())

    async def suggested(city_id: str, headers: dict[str, str]) -> list[tuple[str, list, list]]:
        response = await matching.client.get(f"/cities/{city_id}/suggestions", headers=headers)
        assert response.status_code == 200, response.text
        return [
            (
                s["partner"]["name"],
                [f["domain"] for f in s["they_help_us"]],
                [f["domain"] for f in s["we_help_them"]],
            )
            for s in response.json()
        ]

    everything = [
        ("Lyon", ["waste-collection"], ["cultural-exchange"]),
        ("Genève", ["drinking-water"], []),
    ]
    assert await suggested(goma, bearer(f"city_officer:{goma}")) == everything
    assert await suggested(goma, bearer(f"network_officer:{uclg}")) == everything
    # Within the mandate's domains only: Lyon for its waste collection, and nothing else.
    assert await suggested(goma, bearer(f"network_officer:{alda}")) == [
        ("Lyon", ["waste-collection"], [])
    ]

    async def refused(city_id: str, headers: dict[str, str]) -> str:
        response = await matching.client.get(f"/cities/{city_id}/suggestions", headers=headers)
        assert response.status_code == 403, response.text
        return response.json()["detail"]

    unmandated = await refused(goma, bearer(f"network_officer:{eurocities}"))
    assert "no network you are an officer of holds its mandate (a network acts only" in unmandated
    assert "holds its mandate" in await refused(goma, bearer(f"network_officer:{uuid.uuid4()}"))
    assert f"city {ostend} is not in a conflict zone" in await refused(
        ostend, bearer(f"network_officer:{alda}")
    )
    assert "ask that city's officer" in await refused(goma, bearer(f"city_officer:{lyon}"))
    # Asking is checked before the city is looked up: a refusal tells nothing of which exist.
    assert "holds its mandate" in await refused(
        str(uuid.uuid4()), bearer(f"network_officer:{alda}")
    )


MANDATE = frozenset({"waste-collection", "transport"})


async def test_the_bounded_search_ranks_as_a_full_scan_of_the_read_model(
    matching: ServiceUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """top_partners reads only what can enter the list; it must give the full scan's answer."""
    monkeypatch.setattr(partners, "_BATCH", 4)  # many batches, so the search stops early
    rng = random.Random(11)
    now = datetime.now(UTC)
    domains = ["waste-collection", "drinking-water", "transport", "microcredit", "sports"]
    networks = [uuid.uuid4() for _ in range(3)]
    cities = [
        KnownCity(
            id=uuid.uuid4(),
            name=f"City {n:02}",
            country_code=rng.choice(["TG", "FR", "ML", "BE", "CA"]),
            is_ldc=rng.random() < 0.4,
            official_languages=rng.choice([["fr"], ["en"], ["fr", "en"]]),
            conflict_zone="conflict_zone" if rng.random() < 0.1 else None,
            preconditions_hold=True,
            version=now,
        )
        for n in range(80)
    ]
    rows: list[SQLModel] = [*cities]
    for city_row in cities:
        for kind in (ItemKind.NEED, ItemKind.OFFER):
            for _ in range(rng.randint(0, 3)):
                rows.append(
                    KnownNeedOffer(
                        id=uuid.uuid4(),
                        kind=kind,
                        city_id=city_row.id,
                        title=f"{kind} of {city_row.name}",
                        domain=rng.choice(domains),
                        languages=rng.choice([["fr"], ["en"], []]),
                        capacity_staff_days=rng.choice([None, 10, 40]),
                        capacity_partners=rng.choice([None, 1, 2]),
                        period_start=date(2027, 1, 1),
                        period_end=date(2027, 12, 31),
                        status=rng.choice(["open", "open", "open", "withdrawn"]),
                        version=now,
                    )
                )
        if rng.random() < 0.3:
            rows.append(
                KnownMembership(
                    network_id=rng.choice(networks),
                    city_id=city_row.id,
                    current=True,
                    mandate=False,
                    changed_at=now,
                    version=now,
                )
            )
    weights = Weights()
    async with matching.runtime.sessions() as session:
        session.add_all(rows)
        await session.commit()
        market = await partners.load_market(session)
        compared = 0
        for us in cities[:20]:
            for limit in (1, 3, 10):
                everyone = list(market.cities.values())
                full = suggestions.suggest(
                    market.cities[us.id], everyone, market.needs, market.offers, weights, limit
                )
                bounded = await partners.top_partners(session, us.id, weights, limit)
                assert [(s.partner.id, s.score) for s in bounded] == [
                    (s.partner.id, s.score) for s in full
                ]
                compared += len(full)
            # A mandated network's view: our needs and offers of its domains only.
            needs, offers = (
                {**items, us.id: [i for i in items.get(us.id, ()) if i.domain in MANDATE]}
                for items in (market.needs, market.offers)
            )
            full = suggestions.suggest(market.cities[us.id], everyone, needs, offers, weights)
            bounded = await partners.top_partners(session, us.id, weights, 10, MANDATE)
            assert [(s.partner.id, s.score) for s in bounded] == [
                (s.partner.id, s.score) for s in full
            ]
            assert all(
                f.need.domain in MANDATE for s in bounded for f in s.they_help_us + s.we_help_them
            )
            compared += len(full)
    assert compared > 100
