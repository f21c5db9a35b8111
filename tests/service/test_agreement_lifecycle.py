"""An agreement's life over HTTP, on a real database: proposal with its terms, acceptance by every
party, activation, suspension and resumption, conclusion or termination, rejection and expiry;
every illegal transition refused with the current state; who may act; harmless repeats. Events
are read back from matching's outbox."""

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from services.funding.grants.models import KnownAgreement
from services.matching.domain import FINAL, LIFECYCLE, RESULT, Action, AgreementStatus
from services.matching.expiry import expire_overdue, expire_regularly
from services.matching.models import Agreement
from shared.contracts import EventSpec
from shared.contracts.matching import (
    AGREEMENT_ACCEPTED,
    AGREEMENT_ACTIVATED,
    AGREEMENT_CONCLUDED,
    AGREEMENT_EXPIRED,
    AGREEMENT_PROPOSED,
    AGREEMENT_REJECTED,
    AGREEMENT_RESUMED,
    AGREEMENT_SUSPENDED,
    AGREEMENT_TERMINATED,
    AGREEMENT_WITHDRAWN,
)
from shared.contracts.registry import CITY_REGISTERED, CityRegistered
from shared.contracts.registry.conflict import CONFLICT_PROFILE_ASSESSED
from shared.contracts.registry.needs_offers import (
    NEED_PUBLISHED,
    NEED_WITHDRAWN,
    OFFER_PUBLISHED,
)
from shared.events import new_event
from shared.inbox import Outcome
from tests.helpers import ServiceUnderTest, bearer, eventually

ADMIN = bearer("platform_admin")
S = AgreementStatus

# The route of each action a party's officer takes, and the event it records.
ROUTES = {
    Action.ACTIVATE: "activation",
    Action.SUSPEND: "suspension",
    Action.RESUME: "resumption",
    Action.CONCLUDE: "conclusion",
    Action.TERMINATE: "termination",
    Action.REJECT: "rejection",
    Action.WITHDRAW: "withdrawal",
}
EVENTS: dict[Action, EventSpec] = {
    Action.ACTIVATE: AGREEMENT_ACTIVATED,
    Action.SUSPEND: AGREEMENT_SUSPENDED,
    Action.RESUME: AGREEMENT_RESUMED,
    Action.CONCLUDE: AGREEMENT_CONCLUDED,
    Action.TERMINATE: AGREEMENT_TERMINATED,
    Action.REJECT: AGREEMENT_REJECTED,
    Action.WITHDRAW: AGREEMENT_WITHDRAWN,
}


def officer(*cities: str) -> dict[str, str]:
    return bearer(*(f"city_officer:{city}" for city in cities))


async def known_cities(matching: ServiceUnderTest, *names: str) -> list[str]:
    events = []
    for name in names:
        payload = CityRegistered(city_id=uuid.uuid4(), name=name, country_code="FR")
        events.append(new_event(CITY_REGISTERED, payload.city_id, payload))
    assert await matching.deliver(*events) == [Outcome.APPLIED] * len(events)
    return [event.subject for event in events]


async def published(matching: ServiceUnderTest, spec: EventSpec, city: str, **changes: Any) -> str:
    """A need or offer of `city`, as the registry publishes it; returns its id."""
    item_id = uuid.uuid4()
    id_field = "need_id" if spec.type.startswith("Need") else "offer_id"
    payload = spec.example.model_copy(
        update={id_field: item_id, "city_id": uuid.UUID(city), **changes}
    )
    assert await matching.deliver(new_event(spec, item_id, payload)) == [Outcome.APPLIED]
    return str(item_id)


async def propose(matching: ServiceUnderTest, parties: list[str], **terms: Any) -> dict:
    """`parties[0]` proposes, through its officer."""
    body = {
        "title": "Lomé–Lyon: waste collection",
        "kind": "bilateral" if len(parties) == 2 else "trilateral",
        "party_city_ids": parties,
        "proposed_by_city_id": parties[0],
        **terms,
    }
    response = await matching.client.post("/agreements", json=body, headers=officer(parties[0]))
    assert response.status_code == 201, response.text
    return response.json()


async def act(
    matching: ServiceUnderTest,
    agreement: dict,
    action: Action,
    city: str,
    reason: str | None = "the council decided so",
    headers: dict[str, str] | None = None,
) -> Any:
    if action is Action.ACCEPT:
        url, body = f"/agreements/{agreement['id']}/acceptances", {"city_id": city}
    else:
        url = f"/agreements/{agreement['id']}/{ROUTES[action]}"
        body = {"city_id": city, **({"reason": reason} if reason else {})}
    return await matching.client.post(url, json=body, headers=headers or officer(city))


async def ok(matching: ServiceUnderTest, agreement: dict, action: Action, city: str) -> dict:
    response = await act(matching, agreement, action, city)
    assert response.status_code == 200, response.text
    return response.json()


async def expiry_run(matching: ServiceUnderTest, now: datetime) -> list[uuid.UUID]:
    """The expiry function, as a scheduler would run it at `now`."""
    async with matching.runtime.sessions() as session:
        expired = await expire_overdue(session, now)
        await session.commit()
    return expired


async def agreement_in(matching: ServiceUnderTest, status: AgreementStatus) -> tuple[dict, str]:
    """A new Lomé-Lyon agreement brought to `status` through the API; returns it and Lyon."""
    lome, lyon = await known_cities(matching, "Lomé", "Lyon")
    agreement = await propose(matching, [lome, lyon])
    paths = {
        S.PROPOSED: [],
        S.ACCEPTED: [Action.ACCEPT],
        S.ACTIVE: [Action.ACCEPT, Action.ACTIVATE],
        S.SUSPENDED: [Action.ACCEPT, Action.ACTIVATE, Action.SUSPEND],
        S.CONCLUDED: [Action.ACCEPT, Action.ACTIVATE, Action.CONCLUDE],
        S.TERMINATED: [Action.ACCEPT, Action.ACTIVATE, Action.TERMINATE],
        S.REJECTED: [Action.REJECT],
        S.WITHDRAWN: [Action.ACCEPT, Action.WITHDRAW],
        S.EXPIRED: [],
    }
    for action in paths[status]:
        agreement = await ok(matching, agreement, action, lyon)
    if status is S.EXPIRED:
        after = datetime.fromisoformat(agreement["accept_by"]) + timedelta(seconds=1)
        assert await expiry_run(matching, after) == [uuid.UUID(agreement["id"])]
    current = await matching.client.get(f"/agreements/{agreement['id']}", headers=officer(lyon))
    assert current.json()["status"] == status
    return current.json(), lyon


async def test_an_agreement_lives_from_proposal_to_conclusion(matching: ServiceUnderTest) -> None:
    lome, lyon = await known_cities(matching, "Lomé", "Lyon")
    need = await published(matching, NEED_PUBLISHED, lome)
    offer = await published(matching, OFFER_PUBLISHED, lyon)
    terms = {
        "domains": ["waste-collection", "municipal-staff-training"],
        "need_ids": [need],
        "offer_ids": [offer],
        "objectives": ["40 agents trained in collection rounds", "two exchange visits a year"],
        "start_date": str(date.today() + timedelta(days=60)),
        "end_date": str(date.today() + timedelta(days=425)),
        "budget_request": {"amount": "48000.50", "currency": "eur"},
    }
    agreement = await propose(matching, [lome, lyon], **terms)
    assert agreement["status"] == "proposed"
    assert {k: agreement[k] for k in terms if k != "budget_request"} == {
        k: v for k, v in terms.items() if k != "budget_request"
    }
    assert agreement["budget_request"] == {"amount": "48000.50", "currency": "EUR"}
    accept_by = datetime.fromisoformat(agreement["accept_by"])
    # The default deadline: the service's acceptance_days from now.
    expected = datetime.now(UTC) + timedelta(days=matching.runtime.settings.acceptance_days)
    assert abs(accept_by - expected) < timedelta(minutes=1)

    assert (await ok(matching, agreement, Action.ACCEPT, lyon))["status"] == "accepted"
    assert (await ok(matching, agreement, Action.ACTIVATE, lome))["status"] == "active"
    suspended = await act(matching, agreement, Action.SUSPEND, lyon, reason="elections")
    assert suspended.json()["status"] == "suspended"
    assert (await ok(matching, agreement, Action.RESUME, lome))["status"] == "active"
    concluded = await ok(matching, agreement, Action.CONCLUDE, lyon)
    assert concluded["status"] == "concluded"

    read = await matching.client.get(f"/agreements/{agreement['id']}", headers=officer(lome))
    history = [
        (h["action"], h["from_status"], h["to_status"], h["by_city_id"], h["reason"])
        for h in read.json()["history"]
    ]
    assert history == [
        ("propose", None, "proposed", lome, None),
        ("accept", "proposed", "accepted", lyon, None),
        ("activate", "accepted", "active", lome, "the council decided so"),
        ("suspend", "active", "suspended", lyon, "elections"),
        ("resume", "suspended", "active", lome, "the council decided so"),
        ("conclude", "active", "concluded", lyon, "the council decided so"),
    ]
    assert all(h["by_subject"] and h["at"] for h in read.json()["history"])

    events = await matching.events()
    assert [e.type for e in events] == [
        "AgreementProposed",
        "AgreementAccepted",
        "AgreementActivated",
        "AgreementSuspended",
        "AgreementResumed",
        "AgreementConcluded",
    ]
    assert {e.subject for e in events} == {agreement["id"]}
    proposal = events[0].payload(AGREEMENT_PROPOSED)
    assert proposal.need_ids == [uuid.UUID(need)] and proposal.offer_ids == [uuid.UUID(offer)]
    assert (proposal.budget_amount, proposal.budget_currency) == (Decimal("48000.50"), "EUR")
    assert proposal.accept_by == accept_by and proposal.status == "proposed"
    accepted = events[1].payload(AGREEMENT_ACCEPTED)
    assert (accepted.all_parties_accepted, accepted.status) == (True, "accepted")
    activated = events[2].payload(AGREEMENT_ACTIVATED)
    assert (activated.budget_amount, str(activated.start_date)) == (
        Decimal("48000.50"),
        terms["start_date"],
    )
    parties = sorted(uuid.UUID(c) for c in (lome, lyon))
    for event, spec, (previous, status, by, reason) in zip(
        events[2:],
        [AGREEMENT_ACTIVATED, AGREEMENT_SUSPENDED, AGREEMENT_RESUMED, AGREEMENT_CONCLUDED],
        [
            ("accepted", "active", lome, "the council decided so"),
            ("active", "suspended", lyon, "elections"),
            ("suspended", "active", lome, "the council decided so"),
            ("active", "concluded", lyon, "the council decided so"),
        ],
        strict=True,
    ):
        payload = event.payload(spec)
        assert payload.agreement_id == uuid.UUID(agreement["id"])
        assert payload.party_city_ids == parties
        assert (payload.previous_status, payload.status) == (previous, status)
        assert (payload.by_city_id, payload.reason) == (uuid.UUID(by), reason)
        assert payload.by_subject


@pytest.mark.parametrize("source", [S.ACTIVE, S.SUSPENDED])
async def test_a_party_terminates_an_agreement_saying_why(
    matching: ServiceUnderTest, source: AgreementStatus
) -> None:
    agreement, lyon = await agreement_in(matching, source)
    without = await act(matching, agreement, Action.TERMINATE, lyon, reason=None)
    assert without.status_code == 422 and "reason" in without.text
    terminated = await act(matching, agreement, Action.TERMINATE, lyon, reason="council vote")
    assert terminated.status_code == 200, terminated.text
    assert terminated.json()["status"] == "terminated"
    event = (await matching.events("AgreementTerminated"))[0].payload(AGREEMENT_TERMINATED)
    assert (event.previous_status, event.reason) == (source, "council vote")


async def escalated(matching: ServiceUnderTest, city: str) -> None:
    """The registry's assessment that `city` is in the active phase of a conflict."""
    payload = CONFLICT_PROFILE_ASSESSED.example.model_copy(
        update={
            "assessment_id": uuid.uuid4(),
            "city_id": uuid.UUID(city),
            "zone": "conflict_zone",
            "phase": "active",
            "assessed_at": datetime.now(UTC),
        }
    )
    event = new_event(CONFLICT_PROFILE_ASSESSED, city, payload)
    assert await matching.deliver(event) == [Outcome.APPLIED]


async def test_a_party_withdraws_an_agreement_blocked_for_good(
    matching: ServiceUnderTest, funding: ServiceUnderTest, notifications: ServiceUnderTest
) -> None:
    """An accepted agreement blocked by a party's conflict that does not de-escalate can be
    neither activated nor terminated; a party withdraws it, and funding and notifications (fed
    matching's real events through their consumers) hear of it."""
    registered = [
        new_event(CITY_REGISTERED, payload.city_id, payload)
        for payload in (
            CityRegistered(city_id=uuid.uuid4(), name="Lomé", country_code="TG"),
            CityRegistered(city_id=uuid.uuid4(), name="Lyon", country_code="FR"),
        )
    ]
    await matching.deliver(*registered)
    await notifications.deliver(*registered)
    lome, lyon = (event.subject for event in registered)
    agreement = await propose(matching, [lome, lyon])
    await ok(matching, agreement, Action.ACCEPT, lyon)
    await escalated(matching, lome)

    blocked = await act(matching, agreement, Action.ACTIVATE, lyon)
    assert blocked.status_code == 409 and "blocked" in blocked.text, blocked.text
    not_active = await act(matching, agreement, Action.TERMINATE, lyon)
    assert not_active.status_code == 409 and "withdraw (a party's officer" in not_active.text
    without = await act(matching, agreement, Action.WITHDRAW, lyon, reason=None)
    assert without.status_code == 422 and "reason" in without.text
    reason = "blocked for a year by the conflict; we will propose anew when it ends"
    withdrawn = await act(matching, agreement, Action.WITHDRAW, lyon, reason=reason)
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["status"] == "withdrawn"
    entry = withdrawn.json()["history"][-1]
    assert (entry["action"], entry["from_status"], entry["by_city_id"], entry["reason"]) == (
        "withdraw",
        "accepted",
        lyon,
        reason,
    )
    # A retry, or the other party at the same moment: the same answer, no second event.
    again = await act(matching, agreement, Action.WITHDRAW, lome, reason="us too")
    assert again.json() == withdrawn.json()
    (event,) = await matching.events("AgreementWithdrawn")
    payload = event.payload(AGREEMENT_WITHDRAWN)
    assert (payload.previous_status, payload.status, payload.by_city_id, payload.reason) == (
        "accepted",
        "withdrawn",
        uuid.UUID(lyon),
        reason,
    )

    # Funding's read model takes the new status (its tranches could never be released now).
    assert await funding.deliver(*await matching.events()) == [Outcome.APPLIED] * 2 + [
        Outcome.IGNORED,  # AgreementBlocked: nothing for funding
        Outcome.APPLIED,
    ]
    async with funding.runtime.sessions() as session:
        known = await session.get(KnownAgreement, uuid.UUID(agreement["id"]))
        assert known is not None and known.status == "withdrawn"
    # Every party is told, with who did it and why.
    assert await notifications.deliver(event) == [Outcome.APPLIED]
    for city in (lome, lyon):
        items = (
            await notifications.client.get(f"/feeds/city/{city}", headers=officer(city))
        ).json()["items"]
        assert (items[0]["event_type"], items[0]["body"]) == (
            "AgreementWithdrawn",
            f"Lyon withdrew it before the work started: {reason}",
        )


async def test_the_proposer_withdraws_its_proposal_an_invited_party_rejects(
    matching: ServiceUnderTest,
) -> None:
    cities = await known_cities(matching, "Mitrovica North", "Mitrovica South", "Genève")
    agreement = await propose(matching, cities)
    invited = await act(matching, agreement, Action.WITHDRAW, cities[2])
    assert invited.status_code == 409 and "reject it, saying why" in invited.text
    withdrawn = await act(matching, agreement, Action.WITHDRAW, cities[0], reason="a new plan")
    assert (withdrawn.status_code, withdrawn.json()["status"]) == (200, "withdrawn")
    late = await act(matching, agreement, Action.ACCEPT, cities[2])
    assert late.status_code == 409 and "the agreement is withdrawn" in late.text
    assert [e.type for e in await matching.events()] == ["AgreementProposed", "AgreementWithdrawn"]


# Every (state, action) a party's route can be refused on: not in the table, not a repeat.
ILLEGAL = [
    (status, action)
    for status in S
    for action in [Action.ACCEPT, *ROUTES]
    if (status, action) not in LIFECYCLE
    and status is not RESULT[action]
    and action is not Action.ACCEPT  # accepting again, per party, is a harmless repeat
]


@pytest.mark.parametrize("status", sorted({s for s, _ in ILLEGAL}))
async def test_every_illegal_transition_is_refused_with_the_current_state(
    matching: ServiceUnderTest, status: AgreementStatus
) -> None:
    agreement, lyon = await agreement_in(matching, status)
    before = await matching.events()
    for action in [a for s, a in ILLEGAL if s is status]:
        response = await act(matching, agreement, action, lyon)
        assert response.status_code == 409, (status, action, response.text)
        detail = response.json()["detail"]
        assert detail.startswith(f"the agreement is {status}; it cannot be "), detail
        assert ("is final" if status in FINAL else "allowed now: ") in detail, detail
    assert len(await matching.events()) == len(before)


async def test_an_acceptance_after_the_end_is_refused_with_the_state(
    matching: ServiceUnderTest,
) -> None:
    cities = await known_cities(matching, "Mitrovica North", "Mitrovica South", "Genève")
    agreement = await propose(matching, cities)
    await ok(matching, agreement, Action.REJECT, cities[2])
    late = await act(matching, agreement, Action.ACCEPT, cities[1])
    assert late.status_code == 409
    assert late.json()["detail"].startswith("the agreement is rejected; it cannot be accepted")


async def test_an_invited_party_rejects_a_proposal(matching: ServiceUnderTest) -> None:
    cities = await known_cities(matching, "Mitrovica North", "Mitrovica South", "Genève")
    agreement = await propose(matching, cities)
    await ok(matching, agreement, Action.ACCEPT, cities[1])
    # The proposer and a party that accepted cannot reject; a reason is needed.
    for city in cities[:2]:
        refused = await act(matching, agreement, Action.REJECT, city)
        assert refused.status_code == 409 and f"city {city} has accepted it" in refused.text
    without = await act(matching, agreement, Action.REJECT, cities[2], reason=None)
    assert without.status_code == 422
    rejected = await act(matching, agreement, Action.REJECT, cities[2], reason="not this year")
    assert rejected.json()["status"] == "rejected"
    assert rejected.json()["history"][-1]["reason"] == "not this year"
    event = (await matching.events("AgreementRejected"))[0].payload(AGREEMENT_REJECTED)
    assert (event.by_city_id, event.status, event.reason) == (
        uuid.UUID(cities[2]),
        "rejected",
        "not this year",
    )


async def test_a_proposal_not_accepted_in_time_expires(matching: ServiceUnderTest) -> None:
    lome, lyon, dakar = await known_cities(matching, "Lomé", "Lyon", "Dakar")
    soon = await propose(
        matching, [lome, dakar], accept_by=(datetime.now(UTC) + timedelta(days=3)).isoformat()
    )
    default = await propose(matching, [lome, lyon])
    completed = await propose(matching, [lyon, dakar])
    await ok(matching, completed, Action.ACCEPT, dakar)

    # Not yet overdue: the route (for administrators and schedulers) expires nothing.
    run = await matching.client.post("/agreements/expiry-runs", headers=ADMIN)
    assert (run.status_code, run.json()["expired"]) == (200, [])
    as_officer = await matching.client.post("/agreements/expiry-runs", headers=officer(lome))
    assert as_officer.status_code == 403

    # Just after each deadline, that proposal expires, once; the accepted agreement never does.
    for agreement in (soon, default):
        after = datetime.fromisoformat(agreement["accept_by"]) + timedelta(seconds=1)
        assert await expiry_run(matching, after) == [uuid.UUID(agreement["id"])]
        assert await expiry_run(matching, after) == []
    assert await expiry_run(matching, datetime.now(UTC) + timedelta(days=400)) == []

    read = await matching.client.get(f"/agreements/{soon['id']}", headers=officer(dakar))
    assert read.json()["status"] == "expired"
    entry = read.json()["history"][-1]
    assert (entry["from_status"], entry["to_status"], entry["by_city_id"]) == (
        "proposed",
        "expired",
        None,
    )
    assert "not accepted by every party" in entry["reason"]
    expired = [e.payload(AGREEMENT_EXPIRED) for e in await matching.events("AgreementExpired")]
    assert [e.agreement_id for e in expired] == [uuid.UUID(soon["id"]), uuid.UUID(default["id"])]
    assert expired[0].not_accepted_city_ids == [uuid.UUID(dakar)]
    assert expired[0].accept_by == datetime.fromisoformat(soon["accept_by"])
    assert (expired[0].status, expired[0].previous_status) == ("expired", "proposed")
    too_late = await act(matching, soon, Action.ACCEPT, dakar)
    assert too_late.status_code == 409 and "the agreement is expired" in too_late.text
    listed = await matching.client.get(
        "/agreements", params={"city_id": lome, "status": "expired"}, headers=officer(lome)
    )
    assert sorted(a["id"] for a in listed.json()) == sorted([soon["id"], default["id"]])


async def test_only_a_party_s_officer_acts_for_that_party(matching: ServiceUnderTest) -> None:
    agreement, lyon = await agreement_in(matching, S.ACCEPTED)
    lome = agreement["proposed_by_city_id"]
    (dakar,) = await known_cities(matching, "Dakar")
    for action in ROUTES:
        # An officer of a non-party: no such agreement, the same answer as for an unknown id.
        for path in (agreement["id"], str(uuid.uuid4())):
            outsider = await act(matching, {"id": path}, action, dakar)
            assert outsider.status_code == 404, outsider.text
            assert outsider.json() == {"detail": f"no agreement with id {path}"}
        # A party's officer speaking for the other party: forbidden, named.
        wrong_city = await act(matching, agreement, action, lome, headers=officer(lyon))
        assert wrong_city.status_code == 403
        assert wrong_city.json()["detail"].startswith(
            f"you act for city {lyon}, not for city {lome}"
        )
        # Administering the platform is not acting for a city.
        assert (await act(matching, agreement, action, lyon, headers=ADMIN)).status_code == 403
    # An officer of a party and of an outsider, naming the outsider: not a party.
    both = await act(matching, agreement, Action.ACTIVATE, dakar, headers=officer(lyon, dakar))
    assert both.status_code == 422 and "not a party" in both.text
    assert [e.type for e in await matching.events()][-1] == "AgreementAccepted"


async def test_repeating_a_transition_returns_the_agreement_without_a_second_event(
    matching: ServiceUnderTest,
) -> None:
    agreement, lyon = await agreement_in(matching, S.ACCEPTED)
    lome = agreement["proposed_by_city_id"]
    for action in (Action.ACTIVATE, Action.SUSPEND, Action.RESUME, Action.TERMINATE):
        first = await ok(matching, agreement, action, lyon)
        again = await ok(matching, agreement, action, lome)  # the other party, or a retry
        assert first == again
    assert [e.type for e in await matching.events()][2:] == [
        "AgreementActivated",
        "AgreementSuspended",
        "AgreementResumed",
        "AgreementTerminated",
    ]


async def test_concurrent_transitions_are_applied_one_after_the_other(
    matching: ServiceUnderTest,
) -> None:
    agreement, lyon = await agreement_in(matching, S.ACTIVE)
    lome = agreement["proposed_by_city_id"]
    responses = await asyncio.gather(
        act(matching, agreement, Action.SUSPEND, lyon),
        act(matching, agreement, Action.SUSPEND, lome),
        act(matching, agreement, Action.SUSPEND, lyon),
    )
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert len(await matching.events("AgreementSuspended")) == 1
    read = await matching.client.get(f"/agreements/{agreement['id']}", headers=officer(lyon))
    assert [h["action"] for h in read.json()["history"]].count("suspend") == 1


async def test_bad_proposals_get_a_clear_4xx_and_write_nothing(matching: ServiceUnderTest) -> None:
    lome, lyon, dakar = await known_cities(matching, "Lomé", "Lyon", "Dakar")
    withdrawn = await published(matching, NEED_PUBLISHED, lome)
    await matching.deliver(
        new_event(
            NEED_WITHDRAWN,
            withdrawn,
            NEED_WITHDRAWN.example.model_copy(
                update={"need_id": uuid.UUID(withdrawn), "city_id": uuid.UUID(lome)}
            ),
        )
    )
    dakars_need = await published(matching, NEED_PUBLISHED, dakar)
    lyons_offer = await published(matching, OFFER_PUBLISHED, lyon)
    unknown = str(uuid.uuid4())
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"need_ids": [withdrawn]}, 422, f"need {withdrawn} ('Training for waste collection"),
        ({"need_ids": [withdrawn]}, 422, "is withdrawn, not open"),
        ({"need_ids": [dakars_need]}, 422, f"belongs to city {dakar}, which is not a party"),
        ({"need_ids": [unknown]}, 422, f"need {unknown} is not known to matching"),
        ({"need_ids": [lyons_offer]}, 422, "is an offer, not a need"),
        ({"offer_ids": [lyons_offer, lyons_offer]}, 422, "linked twice"),
        ({"budget_request": {"amount": "100.005", "currency": "EUR"}}, 422, "2 decimal places"),
        ({"budget_request": {"amount": "1000.5", "currency": "XOF"}}, 422, "0 decimal places"),
        ({"budget_request": {"amount": "-1", "currency": "EUR"}}, 422, "must be positive"),
        ({"budget_request": {"amount": "10", "currency": "EURO"}}, 422, "not an ISO 4217"),
        ({"start_date": "2028-01-01", "end_date": "2027-06-01"}, 422, "must be after start_date"),
        ({"domains": ["Waste Collection"]}, 422, "not a domain code"),
        ({"accept_by": past}, 422, "must be in the future"),
        ({"accept_by": "2027-06-01T10:00:00"}, 422, "timezone"),
        ({"objectives": ["ok"]}, 422, "at least 3 characters"),
        ({"party_city_ids": [lome]}, 422, "at least 2"),
        ({"party_city_ids": [lome, lome]}, 422, "only once"),
        ({"party_city_ids": [lome, unknown]}, 422, "not (yet) known"),
    ]
    for terms, status, message in cases:
        body = {
            "title": "Twinning",
            "party_city_ids": [lome, lyon],
            "proposed_by_city_id": lome,
            **terms,
        }
        response = await matching.client.post("/agreements", json=body, headers=officer(lome))
        assert (response.status_code, message in response.text) == (status, True), (
            terms,
            response.text,
        )
    in_lomes_name = {
        "title": "Twinning",
        "party_city_ids": [lome, lyon],
        "proposed_by_city_id": lome,
    }
    refused = await matching.client.post("/agreements", json=in_lomes_name, headers=officer(lyon))
    assert refused.status_code == 403
    assert await matching.events() == []
    listed = await matching.client.get("/agreements", params={"city_id": lome}, headers=ADMIN)
    assert listed.json() == []


async def test_overdue_proposals_expire_on_their_own(matching: ServiceUnderTest) -> None:
    """The background loop the service runs (not only the operator's route) expires them."""
    lome, lyon = await known_cities(matching, "Lomé", "Lyon")
    agreement = await propose(matching, [lome, lyon])
    async with matching.runtime.sessions() as session:
        row = await session.get(Agreement, uuid.UUID(agreement["id"]))
        assert row is not None
        row.accept_by = datetime.now(UTC) - timedelta(minutes=1)  # as if the deadline passed
        session.add(row)
        await session.commit()

    loop = asyncio.create_task(expire_regularly(matching.runtime))
    try:

        async def expired() -> bool:
            response = await matching.client.get(
                f"/agreements/{agreement['id']}", headers=officer(lome)
            )
            return response.json()["status"] == "expired"

        await eventually(expired, within=10, what="the overdue proposal to expire")
    finally:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)
    assert [e.type for e in await matching.events("AgreementExpired")] == ["AgreementExpired"]


async def test_no_agreement_with_a_city_whose_preconditions_do_not_hold(
    matching: ServiceUnderTest,
) -> None:
    """Demand-driven city diplomacy: an agreement with a city of a conflict zone waits for its
    preconditions; the refusal names what is missing, whoever proposes, and writes nothing."""
    goma, lyon = await known_cities(matching, "Goma", "Lyon")
    payload = CONFLICT_PROFILE_ASSESSED.example.model_copy(
        update={
            "assessment_id": uuid.uuid4(),
            "city_id": uuid.UUID(goma),
            "zone": "conflict_zone",
            "phase": "post_conflict",
            "rule_of_law_met": "no",
            "preconditions_hold": False,
            "missing_preconditions": ["rule_of_law"],
            "assessed_at": datetime.now(UTC),
        }
    )
    assert await matching.deliver(new_event(CONFLICT_PROFILE_ASSESSED, goma, payload)) == [
        Outcome.APPLIED
    ]
    for proposer, other in ((lyon, goma), (goma, lyon)):
        body = {
            "title": "Goma–Lyon: water",
            "kind": "bilateral",
            "party_city_ids": [proposer, other],
            "proposed_by_city_id": proposer,
        }
        response = await matching.client.post("/agreements", json=body, headers=officer(proposer))
        assert response.status_code == 409, response.text
        assert "Goma is in a conflict zone" in response.text
        assert "missing: rule of law" in response.text
    assert await matching.events("AgreementProposed") == []
