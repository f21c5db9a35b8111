"""Agreements, expressions of interest and suggestions reacting to registry events, through
matching's consumer on a real database: a withdrawn need leaves the suggestions, blocks the
proposals linking it and closes the expressions of interest on it; an escalation to active
conflict suspends the city's active agreements and blocks the others, until it de-escalates.
Replays (a redelivery, a rebuild of the read model) change nothing a second time."""

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

from services.matching.domain import Action
from services.matching.read_model import clear_read_model
from shared.contracts.matching import (
    AGREEMENT_BLOCKED,
    AGREEMENT_SUSPENDED,
    PARTNERSHIP_INTEREST_CLOSED,
)
from shared.contracts.registry import CITY_REGISTERED, CityRegistered
from shared.contracts.registry.conflict import CONFLICT_PROFILE_ASSESSED
from shared.contracts.registry.needs_offers import NEED_PUBLISHED
from shared.events import Event, new_event
from shared.inbox import Outcome
from tests.helpers import ServiceUnderTest, bearer
from tests.service.test_agreement_lifecycle import act, officer, ok, propose
from tests.service.test_suggestions import city, publish

ADMIN = bearer("platform_admin")


async def test_a_withdrawn_need_leaves_suggestions_blocks_proposals_and_closes_interests(
    registry: ServiceUnderTest, matching: ServiceUnderTest
) -> None:
    lome, lyon = await city(registry, "Lomé", "TG"), await city(registry, "Lyon", "FR")
    await publish(registry, lome, "needs", "waste-collection", staff_days=60)
    await publish(registry, lome, "offers", "cultural-exchange")
    await publish(registry, lyon, "offers", "waste-collection", staff_days=80)
    await publish(registry, lyon, "needs", "cultural-exchange")
    await matching.deliver(*await registry.events())
    [need] = [
        str(p.need_id)
        for p in (e.payload(NEED_PUBLISHED) for e in await registry.events("NeedPublished"))
        if str(p.city_id) == lome
    ]

    async def fits_for_lome() -> list[str]:
        response = await matching.client.get(f"/cities/{lome}/suggestions", headers=officer(lome))
        assert response.status_code == 200, response.text
        return [f["need_id"] for s in response.json() for f in s["they_help_us"]]

    assert await fits_for_lome() == [need]
    proposal = await propose(matching, [lome, lyon], need_ids=[need])
    interest = await matching.client.post(
        "/interests",
        json={"from_city_id": lyon, "to_city_id": lome, "need_id": need, "message": "We can help."},
        headers=officer(lyon),
    )
    assert interest.status_code == 201, interest.text

    withdrawn = await registry.client.post(f"/needs/{need}/withdrawal", headers=officer(lome))
    assert withdrawn.status_code == 200, withdrawn.text
    delivered = await registry.events()
    outcomes = await matching.deliver(*delivered)
    assert outcomes.count(Outcome.APPLIED) == 1  # the withdrawal; the rest were applied before

    # Suggestions are computed from the read model's open needs: the withdrawn one is gone.
    assert await fits_for_lome() == []
    read = await matching.client.get(f"/agreements/{proposal['id']}", headers=officer(lyon))
    assert read.json()["status"] == "proposed"
    assert read.json()["blocks"] == [
        "linked need 'waste-collection (needs)' was withdrawn by its city"
    ]
    refused = await act(matching, proposal, Action.ACCEPT, lyon)
    assert refused.status_code == 409
    assert refused.json()["detail"].startswith("the agreement is proposed but blocked")
    # It can still be declined.
    assert (await ok(matching, proposal, Action.REJECT, lyon))["status"] == "rejected"
    closed = await matching.client.get(f"/interests/{interest.json()['id']}", headers=officer(lome))
    assert (closed.json()["status"], closed.json()["end_reason"]) == (
        "closed",
        "linked need 'waste-collection (needs)' was withdrawn by its city",
    )

    def reactions(events: list[Event]) -> list[str]:
        return [
            e.type for e in events if e.type in ("AgreementBlocked", "PartnershipInterestClosed")
        ]

    events = await matching.events()
    assert reactions(events) == ["AgreementBlocked", "PartnershipInterestClosed"]
    blocked = next(e for e in events if e.type == "AgreementBlocked").payload(AGREEMENT_BLOCKED)
    assert (blocked.cause, blocked.status) == (f"need:{need}", "proposed")
    told = next(e for e in events if e.type == "PartnershipInterestClosed")
    payload = told.payload(PARTNERSHIP_INTEREST_CLOSED)
    assert (payload.by_city_id, payload.by_subject, payload.status) == (None, None, "closed")

    # A rebuild of the read model replays every registry event: nothing reacts a second time.
    async with matching.runtime.sessions() as session:
        await clear_read_model(session)
        await session.commit()
    assert Outcome.DUPLICATE not in await matching.deliver(*delivered)  # all applied again
    assert reactions(await matching.events()) == reactions(events)
    assert await fits_for_lome() == []


def assessment(city_id: str, phase: str, at: datetime) -> Event:
    payload = CONFLICT_PROFILE_ASSESSED.example.model_copy(
        update={
            "assessment_id": uuid.uuid4(),
            "city_id": uuid.UUID(city_id),
            "zone": "conflict_zone",
            "phase": phase,
            "preconditions_hold": phase != "active",
            "missing_preconditions": ["rule_of_law"] if phase == "active" else [],
            "assessed_at": at,
        }
    )
    event = new_event(CONFLICT_PROFILE_ASSESSED, city_id, payload)
    return dataclasses.replace(event, time=at)


async def registered(matching: ServiceUnderTest, *names: str) -> tuple[list[str], list[Event]]:
    events = []
    for name in names:
        payload = CityRegistered(city_id=uuid.uuid4(), name=name, country_code="XK")
        events.append(new_event(CITY_REGISTERED, payload.city_id, payload))
    assert await matching.deliver(*events) == [Outcome.APPLIED] * len(events)
    return [e.subject for e in events], events


async def test_an_escalation_to_active_conflict_suspends_and_blocks_until_it_de_escalates(
    matching: ServiceUnderTest,
) -> None:
    (mitrovica, geneve, lyon), history = await registered(matching, "Mitrovica", "Genève", "Lyon")
    active = await propose(matching, [mitrovica, geneve])
    await ok(matching, active, Action.ACCEPT, geneve)
    await ok(matching, active, Action.ACTIVATE, geneve)
    accepted = await propose(matching, [geneve, mitrovica])
    await ok(matching, accepted, Action.ACCEPT, mitrovica)
    proposed = await propose(matching, [lyon, mitrovica])
    elsewhere = await propose(matching, [geneve, lyon])
    await ok(matching, elsewhere, Action.ACCEPT, lyon)
    await ok(matching, elsewhere, Action.ACTIVATE, lyon)
    t0 = datetime.now(UTC)
    history.append(assessment(mitrovica, "post_conflict", t0))
    history.append(assessment(mitrovica, "active", t0 + timedelta(minutes=1)))
    assert await matching.deliver(*history[-2:]) == [Outcome.APPLIED] * 2

    async def status(agreement: dict) -> tuple[str, list[str]]:
        read = (await matching.client.get(f"/agreements/{agreement['id']}", headers=ADMIN)).json()
        return read["status"], read["blocks"]

    why = "Mitrovica is in the active phase of a conflict"
    suspended_status, _ = await status(active)
    assert suspended_status == "suspended"
    read = (await matching.client.get(f"/agreements/{active['id']}", headers=ADMIN)).json()
    last = read["history"][-1]
    assert (last["action"], last["by_city_id"], last["by_subject"]) == ("suspend", None, None)
    assert last["reason"].startswith(f"suspended by the platform: {why}")
    [suspension] = await matching.events("AgreementSuspended")
    told = suspension.payload(AGREEMENT_SUSPENDED)
    assert (told.by_city_id, told.by_subject, told.previous_status) == (None, None, "active")
    assert told.reason and why in told.reason

    for agreement, state in ((accepted, "accepted"), (proposed, "proposed")):
        current, blocks = await status(agreement)
        assert current == state and len(blocks) == 1 and blocks[0].startswith(why)
    assert await status(elsewhere) == ("active", [])
    refused = await act(matching, proposed, Action.ACCEPT, mitrovica)
    assert refused.status_code == 409 and why in refused.json()["detail"]
    refused = await act(matching, accepted, Action.ACTIVATE, geneve)
    assert refused.status_code == 409 and why in refused.json()["detail"]
    # No new proposal with a city whose preconditions do not hold: the answer says which.
    fresh = await matching.client.post(
        "/agreements",
        json={
            "title": "Genève–Mitrovica",
            "kind": "bilateral",
            "party_city_ids": [geneve, mitrovica],
            "proposed_by_city_id": geneve,
        },
        headers=officer(geneve),
    )
    assert fresh.status_code == 409 and "missing: rule of law" in fresh.json()["detail"]

    # A redelivery is skipped; the parties may resume deliberately, and a rebuild of the read
    # model (every registry event replayed) does not suspend the agreement a second time.
    assert await matching.deliver(history[-1]) == [Outcome.DUPLICATE]
    assert (await ok(matching, active, Action.RESUME, geneve))["status"] == "active"
    async with matching.runtime.sessions() as session:
        await clear_read_model(session)
        await session.commit()
    assert set(await matching.deliver(*history)) == {Outcome.APPLIED}
    assert await status(active) == ("active", [])
    assert len(await matching.events("AgreementSuspended")) == 1
    # The accepted and the proposed one.
    assert len(await matching.events("AgreementBlocked")) == 2

    # An older assessment arriving late changes nothing; a newer one out of the active phase
    # lifts the blocks (a suspended agreement would stay suspended: resuming is the parties').
    late = assessment(mitrovica, "post_conflict", t0 + timedelta(seconds=30))
    assert await matching.deliver(late) == [Outcome.APPLIED]
    assert (await status(proposed))[1] != []
    calmer = assessment(mitrovica, "post_conflict", t0 + timedelta(minutes=2))
    assert await matching.deliver(calmer) == [Outcome.APPLIED]
    for agreement in (accepted, proposed):
        assert (await status(agreement))[1] == []
    assert len(await matching.events("AgreementUnblocked")) == 2
    assert (await ok(matching, proposed, Action.ACCEPT, mitrovica))["status"] == "accepted"
    # Escalating again suspends again: a new assessment, a new escalation.
    again = assessment(mitrovica, "active", t0 + timedelta(minutes=3))
    assert await matching.deliver(again) == [Outcome.APPLIED]
    assert (await status(active))[0] == "suspended"
    assert len(await matching.events("AgreementSuspended")) == 2
