"""Partnership health over HTTP and through the consumer, on a real database: activity reports,
signs of life from the agreement's own steps and from funding events (through matching's
consumer), dormant agreements listed
and their parties reminded once per period of silence."""

import asyncio
import dataclasses
import uuid
from datetime import datetime, timedelta

import httpx

from services.matching.domain import Action, AgreementStatus
from services.matching.health import remind_dormant, remind_regularly
from services.matching.models import Agreement
from shared.contracts import EventSpec
from shared.contracts.funding import (
    APPLICATION_SUBMITTED,
    FUND_CREATED,
    MILESTONE_REPORTED,
    TRANCHE_DISBURSED,
)
from shared.contracts.matching import AGREEMENT_ACTIVITY_REPORTED, AGREEMENT_DORMANT
from shared.db import utcnow
from shared.events import Event, new_event
from shared.inbox import Outcome
from tests.helpers import ServiceUnderTest, bearer, eventually
from tests.service.test_agreement_lifecycle import agreement_in, officer, ok

ADMIN = bearer("platform_admin")
S = AgreementStatus


async def silent_for(matching: ServiceUnderTest, agreement: dict, days: int) -> datetime:
    """The agreement's last sign of life moved `days` ago, as if nothing happened since."""
    async with matching.runtime.sessions() as session:
        row = await session.get(Agreement, uuid.UUID(agreement["id"]))
        assert row is not None
        row.last_activity_at = utcnow() - timedelta(days=days)
        session.add(row)
        await session.commit()
        return row.last_activity_at


async def last_activity(matching: ServiceUnderTest, agreement: dict) -> datetime:
    read = await matching.client.get(f"/agreements/{agreement['id']}", headers=ADMIN)
    return datetime.fromisoformat(read.json()["last_activity_at"])


async def remind(matching: ServiceUnderTest, at: datetime) -> list[uuid.UUID]:
    async with matching.runtime.sessions() as session:
        reminded = await remind_dormant(session, at, matching.runtime.settings.dormant_after_days)
        await session.commit()
    return reminded


async def report(
    matching: ServiceUnderTest, agreement: dict, city: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    return await matching.client.post(
        f"/agreements/{agreement['id']}/activity-reports",
        json={"city_id": city, "text": "First 12 agents trained; two rounds redrawn."},
        headers=headers or officer(city),
    )


async def test_every_step_of_an_agreement_is_a_sign_of_life(matching: ServiceUnderTest) -> None:
    agreement, _ = await agreement_in(matching, S.ACCEPTED)
    before = await silent_for(matching, agreement, 30)
    lome = agreement["proposed_by_city_id"]
    await ok(matching, agreement, Action.ACTIVATE, lome)
    assert await last_activity(matching, agreement) > before + timedelta(days=29)


async def test_a_party_reports_activity_and_the_other_parties_hear_of_it(
    matching: ServiceUnderTest,
) -> None:
    agreement, lyon = await agreement_in(matching, S.ACTIVE)
    before = await silent_for(matching, agreement, 100)
    headers = {**officer(lyon), "Idempotency-Key": str(uuid.uuid4())}
    first, second = await asyncio.gather(
        report(matching, agreement, lyon, headers), report(matching, agreement, lyon, headers)
    )
    assert first.status_code == second.status_code == 201, first.text
    assert first.json() == second.json()
    assert await last_activity(matching, agreement) > before + timedelta(days=99)

    [event] = await matching.events("AgreementActivityReported")
    told = event.payload(AGREEMENT_ACTIVITY_REPORTED)
    assert (told.agreement_id, told.city_id) == (uuid.UUID(agreement["id"]), uuid.UUID(lyon))
    assert told.text.startswith("First 12 agents") and len(told.party_city_ids) == 2

    listed = await matching.client.get(
        f"/agreements/{agreement['id']}/activity-reports", headers=officer(lyon)
    )
    assert [r["id"] for r in listed.json()] == [first.json()["id"]]


async def test_bad_activity_reports_get_a_clear_4xx(matching: ServiceUnderTest) -> None:
    agreement, lyon = await agreement_in(matching, S.PROPOSED)
    early = await report(matching, agreement, lyon)
    assert early.status_code == 409 and "is proposed" in early.json()["detail"]
    dakar = str(uuid.uuid4())
    stranger = await report(matching, agreement, dakar)
    assert stranger.status_code == 404
    impostor = await matching.client.post(
        f"/agreements/{agreement['id']}/activity-reports",
        json={"city_id": lyon, "text": "We did it all."},
        headers=officer(dakar),
    )
    assert impostor.status_code == 403
    short = await matching.client.post(
        f"/agreements/{agreement['id']}/activity-reports",
        json={"city_id": lyon, "text": " "},
        headers=officer(lyon),
    )
    assert short.status_code == 422
    assert await matching.events("AgreementActivityReported") == []


async def test_dormant_agreements_are_listed_and_reminded_once_per_period(
    matching: ServiceUnderTest,
) -> None:
    days = matching.runtime.settings.dormant_after_days
    dormant, lyon = await agreement_in(matching, S.ACTIVE)
    lively, _ = await agreement_in(matching, S.ACTIVE)
    suspended, _ = await agreement_in(matching, S.SUSPENDED)
    silent_since = await silent_for(matching, dormant, days + 2)
    await silent_for(matching, lively, days - 1)
    await silent_for(matching, suspended, days + 50)  # not active: not dormant, it is on hold

    listed = await matching.client.get("/agreements/dormant", headers=ADMIN)
    assert [(a["id"], a["days_since_activity"]) for a in listed.json()] == [
        (dormant["id"], days + 2)
    ]
    mine = await matching.client.get("/agreements/dormant", headers=officer(lyon))
    assert [a["id"] for a in mine.json()] == [dormant["id"]]
    other = officer(lively["proposed_by_city_id"])
    assert (await matching.client.get("/agreements/dormant", headers=other)).json() == []
    nosy = await matching.client.get("/agreements/dormant", params={"city_id": lyon}, headers=other)
    assert nosy.status_code == 403

    run = await matching.client.post("/agreements/dormancy-runs", headers=ADMIN)
    assert run.json()["reminded"] == [dormant["id"]]
    # Ended, the lively one never becomes dormant.
    await ok(matching, lively, Action.CONCLUDE, lively["proposed_by_city_id"])
    # The next runs in the same period remind no one again.
    assert (await matching.client.post("/agreements/dormancy-runs", headers=ADMIN)).json()[
        "reminded"
    ] == []
    assert await remind(matching, utcnow() + timedelta(days=days - 1)) == []
    # A whole period later, still silent: reminded a second time.
    assert await remind(matching, utcnow() + timedelta(days=days)) == [uuid.UUID(dormant["id"])]

    events = await matching.events("AgreementDormant")
    assert len(events) == 2
    first = events[0].payload(AGREEMENT_DORMANT)
    assert (first.days_since_activity, first.dormant_after_days) == (days + 2, days)
    assert first.last_activity_at == silent_since and len(first.party_city_ids) == 2

    # A sign of life: not dormant any more, and the count starts again.
    await report(matching, dormant, lyon)
    assert (await matching.client.get("/agreements/dormant", headers=ADMIN)).json() == []
    assert await remind(matching, utcnow() + timedelta(days=days - 1)) == []


def funding_event(spec: EventSpec, agreement_id: object, at: datetime) -> Event:
    """`spec`'s example, about `agreement_id`, recorded by funding at `at`."""
    payload = spec.example.model_copy(update={"agreement_id": agreement_id})
    return dataclasses.replace(new_event(spec, uuid.uuid4(), payload), time=at)


async def test_funding_events_about_an_agreement_are_signs_of_its_life(
    matching: ServiceUnderTest,
) -> None:
    agreement, _ = await agreement_in(matching, S.ACTIVE)
    await silent_for(matching, agreement, 200)
    agreement_id = uuid.UUID(agreement["id"])
    paid = utcnow() - timedelta(days=3)
    disbursed = funding_event(TRANCHE_DISBURSED, agreement_id, paid)
    assert await matching.deliver(disbursed) == [Outcome.APPLIED]
    assert await last_activity(matching, agreement) == paid
    # An older one arriving late changes nothing: the latest sign of life counts.
    reported = funding_event(MILESTONE_REPORTED, agreement_id, paid - timedelta(days=40))
    assert await matching.deliver(reported) == [Outcome.APPLIED]
    assert await last_activity(matching, agreement) == paid
    # One about an agreement matching never had is applied as nothing, without an error; a
    # funding event about no agreement is not matching's business.
    stray = funding_event(APPLICATION_SUBMITTED, uuid.uuid4(), utcnow())
    assert await matching.deliver(stray) == [Outcome.APPLIED]
    fund = new_event(FUND_CREATED, uuid.uuid4(), FUND_CREATED.example)
    assert await matching.deliver(fund) == [Outcome.IGNORED]
    assert await last_activity(matching, agreement) == paid


async def test_dormant_agreements_are_reminded_on_their_own(matching: ServiceUnderTest) -> None:
    agreement, _ = await agreement_in(matching, S.ACTIVE)
    await silent_for(matching, agreement, matching.runtime.settings.dormant_after_days + 1)
    loop = asyncio.create_task(remind_regularly(matching.runtime))
    try:
        await eventually(lambda: matching.events("AgreementDormant"), what="a reminder")
    finally:
        loop.cancel()
