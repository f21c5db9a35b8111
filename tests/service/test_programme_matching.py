"""Trinnings and global assignment runs over HTTP, from the events the registry really recorded."""

import uuid

from tests.helpers import ServiceUnderTest, bearer
from tests.service.test_suggestions import ADMIN, assess, city, join, network, publish


async def assess_zone(registry: ServiceUnderTest, city_id: str, *, hold: bool) -> None:
    """In a conflict zone after the conflict, with or without the rule of law."""
    met = {
        "disarmament_or_pacification": "yes",
        "competent_local_officials": "yes",
        "local_elections": "yes",
    }
    await assess(registry, city_id, "post_conflict", rule_of_law="yes" if hold else "no", **met)


async def state_readiness(registry: ServiceUnderTest, city_id: str) -> None:
    body = {
        "motivation": "Our council and citizens ask us to help rebuild local democracy.",
        "result_objectives": ["a mixed youth council within a year"],
        "commits_beyond_conflict": True,
        "has_formal_policy": True,
    }
    response = await registry.client.put(
        f"/cities/{city_id}/diplomacy-readiness",
        json=body,
        headers=bearer(f"city_officer:{city_id}"),
    )
    assert response.status_code == 200, response.text


async def test_a_city_of_a_conflict_zone_gets_trinnings_ranked_by_their_weakest_side(
    registry: ServiceUnderTest, matching: ServiceUnderTest
) -> None:
    knezevi, beli, vinkovci, vukovar = [
        await city(registry, name, "HR")
        for name in ("Kneževi Vinogradi", "Beli Manastir", "Vinkovci", "Vukovar")
    ]
    hague, geneve = await city(registry, "Den Haag", "NL"), await city(registry, "Genève", "CH")
    await assess_zone(registry, knezevi, hold=True)
    await assess_zone(registry, beli, hold=True)
    await assess_zone(registry, vinkovci, hold=True)
    await assess_zone(registry, vukovar, hold=False)
    await state_readiness(registry, hague)
    for zone_city in (knezevi, beli, vinkovci, vukovar):
        await publish(registry, zone_city, "needs", "inter-ethnic-dialogue")
    await publish(registry, knezevi, "needs", "drinking-water")
    await publish(registry, beli, "offers", "drinking-water")
    for helper in (hague, geneve):
        await publish(registry, helper, "offers", "inter-ethnic-dialogue")
    await matching.deliver(*await registry.events())

    url = f"/cities/{knezevi}/trilateral-suggestions"
    response = await matching.client.get(url, headers=bearer(f"city_officer:{knezevi}"))
    assert response.status_code == 200, response.text
    ranked = response.json()
    # Vukovar waits for its preconditions: it is in no trinning.
    assert [(t["partner"]["name"], t["helper"]["name"]) for t in ranked] == [
        ("Beli Manastir", "Den Haag"),
        ("Beli Manastir", "Genève"),
        ("Vinkovci", "Den Haag"),  # no exchange of their own between the zone cities
        ("Vinkovci", "Genève"),
    ]
    best = ranked[0]
    assert best["joint_domains"] == ["inter-ethnic-dialogue"]
    assert best["weakest_side"] == min(s["score"] for s in best["sides"])
    assert best["ranking"].startswith(f"weakest side {best['weakest_side']} (")
    between, with_us, _with_them = best["sides"]
    assert [c["name"] for c in between["cities"]] == ["Kneževi Vinogradi", "Beli Manastir"]
    assert [f["domain"] for f in between["second_helps_first"]] == ["drinking-water"]
    readiness = {c["name"]: c["explanation"] for c in with_us["components"]}["readiness"]
    assert readiness == (
        "Den Haag stated its motivation and result objectives, commits to stay beyond the "
        "conflict, has a formal city-diplomacy policy"
    )
    [no_exchange] = ranked[2]["sides"][0]["components"]
    assert no_exchange["explanation"] == "no need of one meets an offer of the other"
    assert ranked[2]["weakest_side"] == 0.0

    # Demand-driven: only the zone city's officers (or an administrator) ask; a helper cannot.
    assert (await matching.client.get(url, headers=ADMIN)).status_code == 200
    assert (
        await matching.client.get(url, headers=bearer(f"city_officer:{hague}"))
    ).status_code == 403
    outside = await matching.client.get(
        f"/cities/{hague}/trilateral-suggestions", headers=bearer(f"city_officer:{hague}")
    )
    assert outside.status_code == 409
    assert "Den Haag is not in a conflict zone" in outside.json()["detail"]
    waiting = await matching.client.get(
        f"/cities/{vukovar}/trilateral-suggestions", headers=bearer(f"city_officer:{vukovar}")
    )
    assert waiting.status_code == 409
    assert "missing: rule of law" in waiting.json()["detail"]
    unknown = uuid.uuid4()
    assert (
        await matching.client.get(f"/cities/{unknown}/trilateral-suggestions", headers=ADMIN)
    ).status_code == 404


async def test_a_mandated_network_gets_the_trinnings_of_its_mandate_s_domains(
    registry: ServiceUnderTest, matching: ServiceUnderTest
) -> None:
    knezevi, beli = (
        await city(registry, "Kneževi Vinogradi", "HR"),
        await city(registry, "Beli Manastir", "HR"),
    )
    hague, geneve = await city(registry, "Den Haag", "NL"), await city(registry, "Genève", "CH")
    for zone_city in (knezevi, beli):
        await assess_zone(registry, zone_city, hold=True)
        await publish(registry, zone_city, "needs", "inter-ethnic-dialogue")
        await publish(registry, zone_city, "needs", "drinking-water")
    await publish(registry, hague, "offers", "inter-ethnic-dialogue")
    await publish(registry, geneve, "offers", "drinking-water")
    alda, eurocities = await network(registry, "ALDA"), await network(registry, "EUROCITIES")
    await join(registry, alda, knezevi, "drinking-water")
    await join(registry, eurocities, knezevi)  # a member, without a mandate
    await matching.deliver(*await registry.events())

    url = f"/cities/{knezevi}/trilateral-suggestions"

    async def trinnings(headers: dict[str, str]) -> list[tuple[str, str, list[str]]]:
        response = await matching.client.get(url, headers=headers)
        assert response.status_code == 200, response.text
        ranked = response.json()
        for trinning in ranked:
            for side in trinning["sides"]:
                fits = side["first_helps_second"] + side["second_helps_first"]
                assert {f["domain"] for f in fits} <= set(trinning["joint_domains"])
        return [(t["partner"]["name"], t["helper"]["name"], t["joint_domains"]) for t in ranked]

    assert sorted(await trinnings(bearer(f"city_officer:{knezevi}"))) == [
        ("Beli Manastir", "Den Haag", ["inter-ethnic-dialogue"]),
        ("Beli Manastir", "Genève", ["drinking-water"]),
    ]
    # The network asks within its mandate's domains: drinking water only.
    assert await trinnings(bearer(f"network_officer:{alda}")) == [
        ("Beli Manastir", "Genève", ["drinking-water"])
    ]
    # Not a network Kneževi Vinogradi mandated; nor one that Beli Manastir did.
    for city_asked, officer in ((knezevi, eurocities), (beli, alda)):
        refused = await matching.client.get(
            f"/cities/{city_asked}/trilateral-suggestions",
            headers=bearer(f"network_officer:{officer}"),
        )
        assert refused.status_code == 403
        assert "no network you are an officer of holds its mandate" in refused.json()["detail"]


async def test_an_assignment_run_proposes_needs_to_offers_and_says_why_the_rest_wait(
    registry: ServiceUnderTest, matching: ServiceUnderTest
) -> None:
    lome, bamako = await city(registry, "Lomé", "TG"), await city(registry, "Bamako", "ML")
    lyon, goma = await city(registry, "Lyon", "FR"), await city(registry, "Goma", "CD")
    await assess_zone(registry, goma, hold=False)
    await publish(registry, lome, "needs", "waste-collection", staff_days=60)
    await publish(registry, bamako, "needs", "waste-collection", staff_days=30)
    await publish(registry, lome, "needs", "microcredit", staff_days=10)
    await publish(registry, goma, "needs", "waste-collection", staff_days=10)
    # One partner city: Bamako's 30 staff-days fit in its 40; Lomé's 60 do not.
    await publish(registry, lyon, "offers", "waste-collection", staff_days=40)
    await matching.deliver(*await registry.events())

    key = {"Idempotency-Key": str(uuid.uuid4())}
    response = await matching.client.post("/assignment-runs", json={}, headers=ADMIN | key)
    assert response.status_code == 201, response.text
    run = response.json()
    assert (run["needs"], run["matched"]) == (4, 1)
    [proposal] = run["proposals"]
    assert (proposal["need_city"]["name"], proposal["offer_city"]["name"]) == ("Bamako", "Lyon")
    assert proposal["score"] == run["total_score"] > 0
    assert {c["name"] for c in proposal["components"]} >= {"language", "capacity", "pairing"}
    names = {lome: "Lomé", bamako: "Bamako", goma: "Goma"}
    reasons = {(names[u["city_id"]], u["domain"]): u["reason"] for u in run["unmatched"]}
    assert reasons[("Lomé", "waste-collection")].startswith("capacity exhausted by better")
    assert reasons[("Lomé", "microcredit")].startswith("no open offer in microcredit")
    assert "missing: rule of law" in reasons[("Goma", "waste-collection")]

    # Kept, and a retry with the same key is answered the same without a second run.
    again = await matching.client.post("/assignment-runs", json={}, headers=ADMIN | key)
    assert again.status_code == 201 and again.json() == run
    kept = await matching.client.get(f"/assignment-runs/{run['id']}", headers=ADMIN)
    assert kept.status_code == 200 and kept.json() == run

    only = await matching.client.post(
        "/assignment-runs", json={"domains": ["microcredit"], "countries": ["tg"]}, headers=ADMIN
    )
    assert only.status_code == 201, only.text
    assert only.json()["criteria"]["countries"] == ["TG"]
    assert (only.json()["needs"], only.json()["matched"]) == (1, 0)

    bad = await matching.client.post(
        "/assignment-runs", json={"countries": ["France"], "status": "done"}, headers=ADMIN
    )
    assert bad.status_code == 422
    assert (
        await matching.client.get(f"/assignment-runs/{uuid.uuid4()}", headers=ADMIN)
    ).status_code == 404
