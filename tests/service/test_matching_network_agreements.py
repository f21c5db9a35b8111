"""Demand-driven city diplomacy on agreements: for a city in a conflict zone, the officer of a
network it mandated proposes, accepts and acts on agreements in its name, within the mandate's
domains, and sees them while the mandate holds. The network and the mandate come from the
registry's real routes, and reach matching through its consumer."""

import uuid
from typing import Any

from shared.contracts.matching import (
    AGREEMENT_ACCEPTED,
    AGREEMENT_ACTIVATED,
    AGREEMENT_PROPOSED,
)
from shared.contracts.registry.needs_offers import NEED_PUBLISHED, OFFER_PUBLISHED
from tests.helpers import ServiceUnderTest, bearer
from tests.service.test_suggestions import (
    PRECONDITIONS_HOLD,
    assess,
    city,
    join,
    network,
    publish,
)

ALDA_OFFICER = "alda-officer-0001"


async def item_ids(registry: ServiceUnderTest) -> dict[tuple[str, str], str]:
    """(city id, domain) -> the id of the need or offer it published there."""
    ids = {}
    for event in await registry.events(NEED_PUBLISHED.type, OFFER_PUBLISHED.type):
        payload = event.data
        ids[(str(payload["city_id"]), payload["domain"])] = str(
            payload.get("need_id") or payload["offer_id"]
        )
    return ids


async def caught_up(registry: ServiceUnderTest, matching: ServiceUnderTest) -> None:
    """Matching's consumer takes in what the registry recorded (repeats are skipped)."""
    await matching.deliver(*await registry.events())


def proposal(proposer: str, other: str, domains: list[str], **links: list[str]) -> dict[str, Any]:
    return {
        "title": "Goma–Lyon: waste collection",
        "party_city_ids": [proposer, other],
        "proposed_by_city_id": proposer,
        "domains": domains,
        **links,
    }


async def test_a_mandated_network_acts_on_agreements_for_a_city_of_a_conflict_zone(
    registry: ServiceUnderTest, matching: ServiceUnderTest
) -> None:
    goma, lyon, ostend = [
        await city(registry, *c) for c in (("Goma", "CD"), ("Lyon", "FR"), ("Ostende", "BE"))
    ]
    await assess(registry, goma, "post_conflict", **PRECONDITIONS_HOLD)
    await publish(registry, goma, "needs", "waste-collection")
    await publish(registry, goma, "needs", "drinking-water")
    await publish(registry, lyon, "offers", "waste-collection")
    alda, eurocities = [await network(registry, n) for n in ("ALDA", "EUROCITIES")]
    await join(registry, alda, goma, "waste-collection")
    await join(registry, eurocities, goma)  # a member, without a mandate
    await join(registry, alda, ostend, None)  # every domain, but Ostend is in no conflict zone
    await caught_up(registry, matching)
    ids = await item_ids(registry)
    waste_need, water_need = ids[(goma, "waste-collection")], ids[(goma, "drinking-water")]
    lyon_offer = ids[(lyon, "waste-collection")]
    network_officer = bearer(f"network_officer:{alda}", subject=ALDA_OFFICER)
    lyon_officer = bearer(f"city_officer:{lyon}")

    async def post(path: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
        return await matching.client.post(path, json=body, headers=headers)

    # The network proposes in Goma's name, within its mandate: Goma's acceptance, on record.
    body = proposal(goma, lyon, ["waste-collection"], need_ids=[waste_need], offer_ids=[lyon_offer])
    proposed = await post("/agreements", body, network_officer)
    assert proposed.status_code == 201, proposed.text
    agreement = proposed.json()
    assert agreement["proposed_by_city_id"] == goma
    assert [(h["action"], h["by_city_id"], h["by_subject"]) for h in agreement["history"]] == [
        ("propose", goma, ALDA_OFFICER)
    ]
    [event] = await matching.events(AGREEMENT_PROPOSED.type)
    assert (event.data["by_network_id"], event.data["by_subject"]) == (alda, ALDA_OFFICER)

    # Lyon accepts; the network starts the work for Goma, recorded as Goma's, through ALDA.
    url = f"/agreements/{agreement['id']}"
    accepted = await post(f"{url}/acceptances", {"city_id": lyon}, lyon_officer)
    assert accepted.json()["status"] == "accepted", accepted.text
    activated = await post(f"{url}/activation", {"city_id": goma}, network_officer)
    assert activated.status_code == 200, activated.text
    assert activated.json()["history"][-1]["by_subject"] == ALDA_OFFICER
    [event] = await matching.events(AGREEMENT_ACTIVATED.type)
    assert (event.data["by_city_id"], event.data["by_network_id"]) == (goma, alda)

    # Lyon proposes to Goma; the network accepts in Goma's name.
    by_lyon = await post("/agreements", proposal(lyon, goma, ["waste-collection"]), lyon_officer)
    assert by_lyon.status_code == 201, by_lyon.text
    accepted = await post(
        f"/agreements/{by_lyon.json()['id']}/acceptances", {"city_id": goma}, network_officer
    )
    assert accepted.json()["status"] == "accepted", accepted.text
    [event] = [
        e for e in await matching.events(AGREEMENT_ACCEPTED.type) if e.data["city_id"] == goma
    ]
    assert (event.data["by_network_id"], event.data["by_subject"]) == (alda, ALDA_OFFICER)

    # Outside the mandate's domains: by the domains named, or by those of a linked need.
    for outside in (
        proposal(goma, lyon, ["waste-collection", "drinking-water"]),
        proposal(goma, lyon, ["waste-collection"], need_ids=[water_need]),
    ):
        refused = await post("/agreements", outside, network_officer)
        assert refused.status_code == 403, refused.text
        assert "covers waste-collection, not drinking-water" in refused.json()["detail"]
    # An agreement in no domain at all is not inside a mandate limited to some.
    refused = await post("/agreements", proposal(goma, lyon, []), network_officer)
    assert "not a matter in no domain" in refused.json()["detail"]

    # An agreement partly outside the mandate: the network sees it, and hears why it may not act.
    wider = proposal(lyon, goma, ["waste-collection", "drinking-water"])
    partly = (await post("/agreements", wider, lyon_officer)).json()
    assert (
        await matching.client.get(f"/agreements/{partly['id']}", headers=network_officer)
    ).status_code == 200
    refused = await post(
        f"/agreements/{partly['id']}/acceptances", {"city_id": goma}, network_officer
    )
    assert refused.status_code == 403
    assert "not drinking-water" in refused.json()["detail"]
    # One wholly outside it does not exist for the network.
    elsewhere = (await post("/agreements", proposal(lyon, goma, ["sports"]), lyon_officer)).json()
    assert (
        await matching.client.get(f"/agreements/{elsewhere['id']}", headers=network_officer)
    ).status_code == 404

    listed = await matching.client.get(
        "/agreements", params={"city_id": goma}, headers=network_officer
    )
    assert listed.status_code == 200, listed.text
    assert {a["id"] for a in listed.json()} == {
        agreement["id"],
        by_lyon.json()["id"],
        partly["id"],
    }

    # No mandate, or a city in no conflict zone: refused, saying why.
    unmandated = await post(
        "/agreements",
        proposal(goma, lyon, ["waste-collection"]),
        bearer(f"network_officer:{eurocities}"),
    )
    assert unmandated.status_code == 403
    assert "no network you are an officer of holds its mandate" in unmandated.json()["detail"]
    not_in_zone = await post(
        "/agreements", proposal(ostend, lyon, ["waste-collection"]), network_officer
    )
    assert not_in_zone.status_code == 403
    assert f"city {ostend} is not in a conflict zone" in not_in_zone.json()["detail"]

    # Goma withdraws the mandate in the registry: once matching hears of it, the network can
    # neither act for Goma nor see its agreements.
    withdrawn = await registry.client.put(
        f"/networks/{alda}/members/{goma}/mandate",
        json={"granted": False, "domains": []},
        headers=bearer(f"city_officer:{goma}"),
    )
    assert withdrawn.status_code == 200, withdrawn.text
    await caught_up(registry, matching)
    suspended = await post(f"{url}/suspension", {"city_id": goma}, network_officer)
    assert suspended.status_code == 403
    assert "holds its mandate" in suspended.json()["detail"]
    assert (await matching.client.get(url, headers=network_officer)).status_code == 404
    listed = await matching.client.get(
        "/agreements", params={"city_id": goma}, headers=network_officer
    )
    assert listed.status_code == 403
    # Goma's own officer still acts on it.
    goma_officer = bearer(f"city_officer:{goma}")
    assert (await post(f"{url}/suspension", {"city_id": goma}, goma_officer)).status_code == 200


async def test_a_stranger_s_refusal_says_nothing_of_whether_the_agreement_exists(
    registry: ServiceUnderTest, matching: ServiceUnderTest
) -> None:
    """A network's officer without a mandate is refused before the agreement is read: the
    same 403 for an agreement that exists and for one that does not."""
    goma, lyon = [await city(registry, *c) for c in (("Goma", "CD"), ("Lyon", "FR"))]
    await assess(registry, goma, "post_conflict", **PRECONDITIONS_HOLD)
    alda = await network(registry, "ALDA")
    await join(registry, alda, goma)  # a member, without a mandate
    await caught_up(registry, matching)
    body = proposal(lyon, goma, ["waste-collection"])
    lyon_officer = bearer(f"city_officer:{lyon}")
    existing = (await matching.client.post("/agreements", json=body, headers=lyon_officer)).json()
    answers = [
        await matching.client.post(
            f"/agreements/{agreement_id}/acceptances",
            json={"city_id": goma},
            headers=bearer(f"network_officer:{alda}"),
        )
        for agreement_id in (existing["id"], uuid.uuid4())
    ]
    assert [a.status_code for a in answers] == [403, 403]
    assert answers[0].json()["detail"] == answers[1].json()["detail"]
