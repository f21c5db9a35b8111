"""Expressions of interest over HTTP, on a real database: a city asks another to partner on a
need, the other answers, the asker withdraws; only the two cities (and administrators) see it;
a mandated network speaks for a city of a conflict zone; an accepted one becomes an agreement.
Events are read back from matching's outbox."""

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from services.matching.expiry import expire_regularly, expire_unanswered
from services.matching.models import PartnershipInterest
from shared.contracts.matching import (
    AGREEMENT_PROPOSED,
    PARTNERSHIP_INTEREST_ANSWERED,
    PARTNERSHIP_INTEREST_EXPIRED,
    PARTNERSHIP_INTEREST_EXPRESSED,
    PARTNERSHIP_INTEREST_WITHDRAWN,
)
from shared.contracts.registry.conflict import CONFLICT_PROFILE_ASSESSED
from shared.contracts.registry.needs_offers import NEED_PUBLISHED, NEED_WITHDRAWN, OFFER_PUBLISHED
from shared.contracts.registry.networks import NETWORK_MEMBERSHIP_CHANGED, MembershipChange
from shared.events import new_event
from shared.inbox import Outcome
from tests.helpers import ServiceUnderTest, bearer, eventually
from tests.service.test_agreement_lifecycle import known_cities, officer, published

ADMIN = bearer("platform_admin")
INTEREST_EVENTS = (
    "PartnershipInterestExpressed",
    "PartnershipInterestAnswered",
    "PartnershipInterestWithdrawn",
    "PartnershipInterestClosed",
)


async def express(
    matching: ServiceUnderTest,
    asker: str,
    asked: str,
    need: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Any:
    body = {
        "from_city_id": asker,
        "to_city_id": asked,
        "need_id": need,
        "message": "Your collection rounds are what our districts need; could we talk in May?",
        **extra,
    }
    return await matching.client.post("/interests", json=body, headers=headers or officer(asker))


async def expressed(
    matching: ServiceUnderTest, asker: str, asked: str, need: str, **extra: Any
) -> dict:
    response = await express(matching, asker, asked, need, **extra)
    assert response.status_code == 201, response.text
    return response.json()


async def answer(
    matching: ServiceUnderTest, interest: dict, city: str, given: str, message: str | None = None
) -> Any:
    body = {"city_id": city, "answer": given, **({"message": message} if message else {})}
    return await matching.client.post(
        f"/interests/{interest['id']}/answers", json=body, headers=officer(city)
    )


async def test_a_city_asks_another_which_accepts(matching: ServiceUnderTest) -> None:
    lome, lyon = await known_cities(matching, "Lomé", "Lyon")
    need = await published(matching, NEED_PUBLISHED, lome)
    offer = await published(matching, OFFER_PUBLISHED, lyon)

    interest = await expressed(matching, lome, lyon, need, offer_id=offer)
    assert (interest["kind"], interest["status"]) == ("request", "open")
    assert (interest["need_id"], interest["offer_id"]) == (need, offer)
    assert interest["domain"] == NEED_PUBLISHED.example.domain

    accepted = await answer(matching, interest, lyon, "accept", "Gladly: September suits us.")
    assert accepted.status_code == 200, accepted.text
    assert (accepted.json()["status"], accepted.json()["answer_message"]) == (
        "accepted",
        "Gladly: September suits us.",
    )
    # The same answer again changes nothing and tells no one twice; another one is refused.
    assert (await answer(matching, interest, lyon, "accept")).status_code == 200
    declined = await answer(matching, interest, lyon, "decline", "changed our mind")
    assert declined.status_code == 409
    assert "is accepted; it cannot be answered" in declined.json()["detail"]

    events = await matching.events(*INTEREST_EVENTS)
    assert [e.type for e in events] == [
        "PartnershipInterestExpressed",
        "PartnershipInterestAnswered",
    ]
    assert {e.subject for e in events} == {interest["id"]}
    told = events[0].payload(PARTNERSHIP_INTEREST_EXPRESSED)
    assert (told.from_city_id, told.to_city_id, told.by_city_id) == tuple(
        uuid.UUID(c) for c in (lome, lyon, lome)
    )
    assert told.message and told.need_title == NEED_PUBLISHED.example.title
    answered = events[1].payload(PARTNERSHIP_INTEREST_ANSWERED)
    assert (answered.status, answered.by_city_id) == ("accepted", uuid.UUID(lyon))


async def test_a_city_offers_help_and_is_declined_with_a_reason(matching: ServiceUnderTest) -> None:
    lome, lyon = await known_cities(matching, "Lomé", "Lyon")
    need = await published(matching, NEED_PUBLISHED, lome)
    interest = await expressed(matching, lyon, lome, need)
    assert interest["kind"] == "offer"
    # The city asked answers, not the asker; declining says why.
    wrong_side = await answer(matching, interest, lyon, "accept")
    assert wrong_side.status_code == 403 and "only the city asked" in wrong_side.json()["detail"]
    silent = await answer(matching, interest, lome, "decline")
    assert silent.status_code == 422 and "needs a message" in silent.json()["detail"]
    declined = await answer(matching, interest, lome, "decline", "We chose Ouagadougou's offer.")
    assert declined.json()["status"] == "declined"
    assert [e.type for e in await matching.events(*INTEREST_EVENTS)] == [
        "PartnershipInterestExpressed",
        "PartnershipInterestAnswered",
    ]


async def test_the_asker_withdraws_and_may_ask_again(matching: ServiceUnderTest) -> None:
    lome, lyon = await known_cities(matching, "Lomé", "Lyon")
    need = await published(matching, NEED_PUBLISHED, lome)
    interest = await expressed(matching, lome, lyon, need)
    again = await express(matching, lome, lyon, need)
    assert again.status_code == 409 and interest["id"] in again.json()["detail"]

    url = f"/interests/{interest['id']}/withdrawal"
    body = {"city_id": lome, "reason": "We found a partner in the region."}
    assert (
        await matching.client.post(url, json={"city_id": lyon}, headers=officer(lyon))
    ).status_code == 403
    for _ in range(2):  # withdrawing again is a harmless repeat
        withdrawn = await matching.client.post(url, json=body, headers=officer(lome))
        assert withdrawn.status_code == 200, withdrawn.text
        assert (withdrawn.json()["status"], withdrawn.json()["end_reason"]) == (
            "withdrawn",
            body["reason"],
        )
    late = await answer(matching, interest, lyon, "accept")
    assert late.status_code == 409 and "is withdrawn" in late.json()["detail"]
    events = await matching.events(*INTEREST_EVENTS)
    assert [e.type for e in events] == [
        "PartnershipInterestExpressed",
        "PartnershipInterestWithdrawn",
    ]
    assert events[1].payload(PARTNERSHIP_INTEREST_WITHDRAWN).message == body["reason"]
    assert (await express(matching, lome, lyon, need)).status_code == 201


async def test_only_the_two_cities_and_administrators_see_it(matching: ServiceUnderTest) -> None:
    lome, lyon, dakar = await known_cities(matching, "Lomé", "Lyon", "Dakar")
    need = await published(matching, NEED_PUBLISHED, lome)
    interest = await expressed(matching, lome, lyon, need)
    url = f"/interests/{interest['id']}"
    for headers in (officer(lome), officer(lyon), ADMIN):
        assert (await matching.client.get(url, headers=headers)).status_code == 200
    for headers in (officer(dakar), bearer(f"network_officer:{uuid.uuid4()}")):
        hidden = await matching.client.get(url, headers=headers)
        assert hidden.status_code == 404 and "no expression of interest" in hidden.json()["detail"]
        act = await matching.client.post(
            f"{url}/answers", json={"city_id": lyon, "answer": "accept"}, headers=headers
        )
        assert act.status_code == 404
    unknown = await matching.client.get(f"/interests/{uuid.uuid4()}", headers=ADMIN)
    assert unknown.status_code == 404

    async def listed(city: str, headers: dict[str, str], **query: str) -> Any:
        return await matching.client.get(
            "/interests", params={"city_id": city, **query}, headers=headers
        )

    assert [i["id"] for i in (await listed(lyon, officer(lyon))).json()] == [interest["id"]]
    assert (await listed(lyon, officer(lyon), direction="sent")).json() == []
    assert len((await listed(lome, ADMIN, direction="sent", status="open")).json()) == 1
    assert (await listed(lome, officer(dakar))).status_code == 403


async def test_bad_expressions_of_interest_get_a_clear_4xx_and_write_nothing(
    matching: ServiceUnderTest,
) -> None:
    lome, lyon, dakar = await known_cities(matching, "Lomé", "Lyon", "Dakar")
    need = await published(matching, NEED_PUBLISHED, lome)
    dakar_need = await published(matching, NEED_PUBLISHED, dakar)
    withdrawn = await published(matching, NEED_PUBLISHED, lome)
    await published(matching, NEED_WITHDRAWN, lome, need_id=uuid.UUID(withdrawn))
    nowhere = str(uuid.uuid4())
    cases = [
        ((lome, nowhere, need), {}, 422, "not known to matching"),
        ((nowhere, lome, need), {"headers": officer(nowhere)}, 422, "not known to matching"),
        ((lome, lome, need), {}, 422, "cannot express interest to itself"),
        ((lome, lyon, withdrawn), {}, 422, "is withdrawn, not open"),
        ((lyon, lome, dakar_need), {}, 422, "neither the asking city nor the city asked"),
        ((lome, lyon, str(uuid.uuid4())), {}, 422, "not known to matching"),
        ((lome, lyon, need), {"headers": officer(lyon)}, 403, f"not for city {lome}"),
        ((lome, lyon, need), {"message": "  "}, 422, ""),
    ]
    for (asker, asked, item), extra, status, message in cases:
        response = await express(matching, asker, asked, item, **extra)
        assert response.status_code == status, (asker, asked, item, response.text)
        assert message in str(response.json()["detail"])
    assert await matching.events(*INTEREST_EVENTS) == []


async def test_an_idempotency_key_expresses_interest_once(matching: ServiceUnderTest) -> None:
    lome, lyon = await known_cities(matching, "Lomé", "Lyon")
    need = await published(matching, NEED_PUBLISHED, lome)
    headers = {**officer(lome), "Idempotency-Key": str(uuid.uuid4())}
    first, second = await asyncio.gather(
        express(matching, lome, lyon, need, headers=headers),
        express(matching, lome, lyon, need, headers=headers),
    )
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert len(await matching.events("PartnershipInterestExpressed")) == 1


async def assessed(matching: ServiceUnderTest, city: str, phase: str, holds: bool) -> None:
    payload = CONFLICT_PROFILE_ASSESSED.example.model_copy(
        update={
            "assessment_id": uuid.uuid4(),
            "city_id": uuid.UUID(city),
            "zone": "conflict_zone",
            "phase": phase,
            "preconditions_hold": holds,
            "missing_preconditions": [] if holds else ["rule_of_law"],
            "assessed_at": datetime.now(UTC),
        }
    )
    event = new_event(CONFLICT_PROFILE_ASSESSED, city, payload)
    assert await matching.deliver(event) == [Outcome.APPLIED]


async def mandated(
    matching: ServiceUnderTest, city: str, network: uuid.UUID, *domains: str
) -> None:
    payload = NETWORK_MEMBERSHIP_CHANGED.example.model_copy(
        update={
            "network_id": network,
            "city_id": uuid.UUID(city),
            "change": MembershipChange.MANDATE_GRANTED,
            "mandate": True,
            "mandate_domains": list(domains),
            "at": datetime.now(UTC),
        }
    )
    event = new_event(NETWORK_MEMBERSHIP_CHANGED, network, payload)
    assert await matching.deliver(event) == [Outcome.APPLIED]


async def test_a_mandated_network_speaks_for_a_city_of_a_conflict_zone(
    matching: ServiceUnderTest,
) -> None:
    """Demand-driven city diplomacy: the request comes from the city or the network it mandated,
    once the preconditions hold."""
    mitrovica, geneve = await known_cities(matching, "Mitrovica", "Genève")
    alda = uuid.uuid4()
    need = await published(matching, NEED_PUBLISHED, mitrovica, domain="inter-ethnic-dialogue")
    other_need = await published(matching, NEED_PUBLISHED, mitrovica, domain="drinking-water")
    network = bearer(f"network_officer:{alda}")

    # Not in a conflict zone: a mandate does not make the network speak for the city.
    await mandated(matching, mitrovica, alda, "inter-ethnic-dialogue")
    refused = await express(matching, mitrovica, geneve, need, headers=network)
    assert refused.status_code == 403 and "holds its mandate" in refused.json()["detail"]

    await assessed(matching, mitrovica, "post_conflict", holds=False)
    waits = await express(matching, mitrovica, geneve, need, headers=network)
    assert waits.status_code == 409 and "missing: rule of law" in waits.json()["detail"]

    await assessed(matching, mitrovica, "post_conflict", holds=True)
    interest = (await express(matching, mitrovica, geneve, need, headers=network)).json()
    assert interest["status"] == "open", interest
    # Outside the mandate's domains, the network does not speak for the city.
    outside = await express(matching, mitrovica, geneve, other_need, headers=network)
    assert outside.status_code == 403
    # The network sees what it asked, and lists the city's within its mandate.
    assert (
        await matching.client.get(f"/interests/{interest['id']}", headers=network)
    ).status_code == 200
    listed = await matching.client.get("/interests", params={"city_id": mitrovica}, headers=network)
    assert [i["id"] for i in listed.json()] == [interest["id"]]
    accepted = await answer(matching, interest, geneve, "accept")
    assert accepted.json()["status"] == "accepted"
    # A helping city cannot ask a city whose preconditions do not hold (yet).
    await assessed(matching, mitrovica, "active", holds=False)
    geneve_need = await published(matching, NEED_PUBLISHED, geneve)
    imposed = await express(matching, geneve, mitrovica, geneve_need)
    assert (
        imposed.status_code == 409 and "Mitrovica is in a conflict zone" in imposed.json()["detail"]
    )


async def test_an_accepted_interest_becomes_a_proposed_agreement(
    matching: ServiceUnderTest,
) -> None:
    lome, lyon, dakar = await known_cities(matching, "Lomé", "Lyon", "Dakar")
    need = await published(matching, NEED_PUBLISHED, lome)
    offer = await published(matching, OFFER_PUBLISHED, lyon)
    interest = await expressed(matching, lyon, lome, need, offer_id=offer)

    def proposal(proposer: str, parties: list[str]) -> dict[str, Any]:
        return {
            "title": "Lomé–Lyon: waste collection",
            "party_city_ids": parties,
            "proposed_by_city_id": proposer,
            "interest_id": interest["id"],
            "end_date": str(date.today().replace(year=date.today().year + 1)),
        }

    async def propose(proposer: str, parties: list[str]) -> Any:
        return await matching.client.post(
            "/agreements", json=proposal(proposer, parties), headers=officer(proposer)
        )

    early = await propose(lome, [lome, lyon])
    assert early.status_code == 409 and "only an accepted one" in early.json()["detail"]
    await answer(matching, interest, lome, "accept")
    stranger = await propose(dakar, [dakar, lyon])
    assert stranger.status_code == 404
    missing = await propose(lome, [lome, dakar])
    assert missing.status_code == 422 and f"concerns city {lyon} too" in missing.json()["detail"]

    made = await propose(lome, [lome, lyon])
    assert made.status_code == 201, made.text
    agreement = made.json()
    # What the cities expressed interest in is linked to the agreement.
    assert (agreement["interest_id"], agreement["need_ids"], agreement["offer_ids"]) == (
        interest["id"],
        [need],
        [offer],
    )
    proposed = (await matching.events("AgreementProposed"))[0].payload(AGREEMENT_PROPOSED)
    assert proposed.interest_id == uuid.UUID(interest["id"])
    read = await matching.client.get(f"/interests/{interest['id']}", headers=officer(lyon))
    assert read.json()["agreement_id"] == agreement["id"]
    twice = await propose(lome, [lome, lyon])
    assert twice.status_code == 409 and "already became agreement" in twice.json()["detail"]
    withdraw = await matching.client.post(
        f"/interests/{interest['id']}/withdrawal", json={"city_id": lyon}, headers=officer(lyon)
    )
    assert withdraw.status_code == 409 and agreement["id"] in withdraw.json()["detail"]


async def expiry_run(matching: ServiceUnderTest, now: datetime, answer_days: int = 30) -> list[str]:
    """The interests' expiry, as the service's loop or a scheduler runs it at `now`."""
    async with matching.runtime.sessions() as session:
        expired = await expire_unanswered(session, now, answer_days)
        await session.commit()
    return [str(interest_id) for interest_id in expired]


async def test_an_unanswered_interest_expires_and_both_cities_hear_of_it(
    matching: ServiceUnderTest, notifications: ServiceUnderTest
) -> None:
    lome, lyon, dakar = await known_cities(matching, "Lomé", "Lyon", "Dakar")
    need = await published(matching, NEED_PUBLISHED, lome)
    unanswered = await expressed(matching, lome, lyon, need)
    answered = await expressed(matching, lome, dakar, need)
    assert (await answer(matching, answered, dakar, "accept")).status_code == 200
    expressed_at = datetime.fromisoformat(unanswered["expressed_at"])
    # The default: MATCHING_INTEREST_ANSWER_DAYS, 30 days to answer, shown while it is open.
    assert matching.runtime.settings.interest_answer_days == 30
    due = expressed_at + timedelta(days=30)
    assert datetime.fromisoformat(unanswered["answer_by"]) == due
    read = await matching.client.get(f"/interests/{answered['id']}", headers=officer(dakar))
    assert read.json()["answer_by"] is None  # answered: no deadline any more

    assert await expiry_run(matching, due - timedelta(seconds=1)) == []
    assert await expiry_run(matching, due) == [unanswered["id"]]  # not the accepted one
    assert await expiry_run(matching, due + timedelta(days=400)) == []  # once only

    read = await matching.client.get(f"/interests/{unanswered['id']}", headers=officer(lyon))
    assert (read.json()["status"], read.json()["answer_by"]) == ("expired", None)
    assert read.json()["end_reason"].startswith("not answered within 30 days")
    late = await answer(matching, unanswered, lyon, "accept")
    assert late.status_code == 409 and "is expired; it cannot be answered" in late.text
    (event,) = await matching.events("PartnershipInterestExpired")
    payload = event.payload(PARTNERSHIP_INTEREST_EXPIRED)
    assert (payload.status, payload.by_city_id, payload.by_subject) == ("expired", None, None)
    assert payload.message == read.json()["end_reason"]
    # The asker may ask anew.
    assert (await express(matching, lome, lyon, need)).status_code == 201

    assert await notifications.deliver(event) == [Outcome.APPLIED]
    for city in (lome, lyon):
        feed = await notifications.client.get(f"/feeds/city/{city}", headers=officer(city))
        (item,) = feed.json()["items"]
        assert item["event_type"] == "PartnershipInterestExpired"
        assert "expired unanswered" in item["body"], item


async def test_the_expiry_run_expires_interests_too(matching: ServiceUnderTest) -> None:
    """The administrators' route and the service's own loop: one run for proposals and
    expressions of interest, with the configured number of days."""
    lome, lyon, dakar = await known_cities(matching, "Lomé", "Lyon", "Dakar")
    need = await published(matching, NEED_PUBLISHED, lome)
    by_route = await expressed(matching, lome, lyon, need)
    by_loop = await expressed(matching, lome, dakar, need)

    async def days_ago(interest: dict, days: int) -> None:
        async with matching.runtime.sessions() as session:
            row = await session.get(PartnershipInterest, uuid.UUID(interest["id"]))
            assert row is not None
            row.expressed_at = datetime.now(UTC) - timedelta(days=days)
            session.add(row)
            await session.commit()

    await days_ago(by_route, 31)
    await days_ago(by_loop, 10)
    as_officer = await matching.client.post("/agreements/expiry-runs", headers=officer(lome))
    assert as_officer.status_code == 403
    admin = bearer("platform_admin", subject="ops-scheduler")
    run = await matching.client.post("/agreements/expiry-runs", headers=admin)
    assert run.status_code == 200, run.text
    assert (run.json()["expired"], run.json()["expired_interests"]) == ([], [by_route["id"]])
    (event,) = await matching.events("PartnershipInterestExpired")
    assert event.payload(PARTNERSHIP_INTEREST_EXPIRED).by_subject == "ops-scheduler"

    # A shorter period, as MATCHING_INTEREST_ANSWER_DAYS=7 sets it: the loop expires the other.
    settings = matching.runtime.settings
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(settings, "interest_answer_days", 7)
        loop = asyncio.create_task(expire_regularly(matching.runtime))
        try:

            async def expired() -> bool:
                read = await matching.client.get(
                    f"/interests/{by_loop['id']}", headers=officer(lome)
                )
                return read.json()["status"] == "expired"

            await eventually(expired, within=10, what="the unanswered interest to expire")
        finally:
            loop.cancel()
            await asyncio.gather(loop, return_exceptions=True)
    expired_events = await matching.events("PartnershipInterestExpired")
    assert [e.subject for e in expired_events] == [by_route["id"], by_loop["id"]]
    assert "within 7 days" in expired_events[1].data["message"]


async def test_a_network_officer_gets_full_pages_of_its_mandate_s_domains(
    matching: ServiceUnderTest,
) -> None:
    """Filtered in the query, not after the limit: the newest matters outside the mandate do
    not crowd out those inside it."""
    mitrovica, geneve = await known_cities(matching, "Mitrovica", "Genève")
    await assessed(matching, mitrovica, "post_conflict", holds=True)
    alda, uclg, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await mandated(matching, mitrovica, alda, "inter-ethnic-dialogue")
    await mandated(matching, mitrovica, uclg)  # every domain
    ids: dict[str, list[str]] = {"inter-ethnic-dialogue": [], "drinking-water": []}
    for domain_code in ("inter-ethnic-dialogue",) * 3 + ("drinking-water",) * 3:
        need = await published(matching, NEED_PUBLISHED, mitrovica, domain=domain_code)
        ids[domain_code].insert(0, (await expressed(matching, mitrovica, geneve, need))["id"])

    async def page(network: uuid.UUID, limit: int) -> Any:
        return await matching.client.get(
            "/interests",
            params={"city_id": mitrovica, "limit": limit},
            headers=bearer(f"network_officer:{network}"),
        )

    dialogue = ids["inter-ethnic-dialogue"]  # newest first
    assert [i["id"] for i in (await page(alda, 2)).json()] == dialogue[:2]
    assert [i["id"] for i in (await page(alda, 50)).json()] == dialogue
    everything = ids["drinking-water"] + dialogue
    assert [i["id"] for i in (await page(uclg, 4)).json()] == everything[:4]
    refused = await page(other, 50)
    assert refused.status_code == 403 and "holds its mandate" in refused.json()["detail"]
