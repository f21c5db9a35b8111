"""Grants over HTTP and a real database: applications with two reviews and a four-eyes decision,
amendments, comments, milestone reports, tranche releases (with a second approval above the
threshold), pauses, and the holds placed by matching's and the registry's events delivered
through funding's inbox."""

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from sqlmodel import col, select

from services.funding.grants.models import KnownAgreement, KnownCity
from services.funding.ledger import store as ledger
from services.funding.ledger.accounts import MovementKind
from services.funding.ledger.store import LedgerMovement
from services.funding.transparency.allocation import Allocation
from shared.contracts import EventSpec
from shared.contracts.funding import TRANCHE_DISBURSED, TRANCHE_HELD
from shared.contracts.matching import (
    AGREEMENT_ACTIVATED,
    AGREEMENT_PROPOSED,
    AGREEMENT_RESUMED,
    AGREEMENT_SUSPENDED,
    AGREEMENT_TERMINATED,
)
from shared.contracts.registry.cities import CITY_REGISTERED, CITY_UPDATED, CityUpdated
from shared.contracts.registry.conflict import CONFLICT_PROFILE_ASSESSED
from shared.events import Event, new_event
from shared.inbox import Outcome
from tests.helpers import ServiceUnderTest, bearer
from tests.service.test_funding import create_fund, fund_admin, key, pledge_as

T0 = datetime(2027, 4, 1, 9, 0, tzinfo=UTC)
LOME = uuid.UUID("5a1c0de0-0000-4000-8000-00000000070e")
LYON = uuid.UUID("5a1c0de0-0000-4000-8000-000000000001")


def at(minute: int, spec: EventSpec, subject: object, payload: BaseModel) -> Event:
    """An event as its producer would publish it, `minute` minutes after T0."""
    return dataclasses.replace(
        new_event(spec, subject, payload), time=T0 + timedelta(minutes=minute)
    )


def agreement_event(minute: int, spec: EventSpec, agreement_id: uuid.UUID, **extra: Any) -> Event:
    payload = spec.example.model_copy(
        update={"agreement_id": agreement_id, "party_city_ids": [LOME, LYON], **extra}
    )
    return at(minute, spec, agreement_id, payload)


def conflict_event(minute: int, city_id: uuid.UUID, zone: str, phase: str | None) -> Event:
    payload = CONFLICT_PROFILE_ASSESSED.example.model_copy(
        update={"city_id": city_id, "zone": zone, "phase": phase, "assessment_id": uuid.uuid4()}
    )
    return at(minute, CONFLICT_PROFILE_ASSESSED, city_id, payload)


def officer(city_id: uuid.UUID = LOME) -> dict[str, str]:
    return bearer(f"city_officer:{city_id}")


@dataclasses.dataclass
class Grant:
    """A fund with cash, an active Lomé-Lyon agreement funding knows of, and its admins."""

    fund_id: str
    agreement_id: uuid.UUID
    admins: list[dict[str, str]]

    def admin(self, n: int) -> dict[str, str]:
        return self.admins[n]


async def receive(funding: ServiceUnderTest, fund_id: str, amount: str) -> None:
    """Cash in the fund: a pledge and its receipt in full, recorded by an administrator."""
    admin = fund_admin(fund_id)
    pledge = await pledge_as(
        funding, fund_id, admin, amount=amount, currency="EUR", donor_name="Lyon"
    )
    received = await funding.client.post(
        f"/funds/{fund_id}/pledges/{pledge['id']}/receipts",
        json={"amount": amount},
        headers={**admin, **key()},
    )
    assert received.status_code == 201, received.text


async def known_agreement(funding: ServiceUnderTest, minute: int = 0) -> uuid.UUID:
    agreement_id = uuid.uuid4()
    outcomes = await funding.deliver(
        at(minute, CITY_REGISTERED, LOME, CITY_REGISTERED.example),
        at(
            minute,
            CITY_REGISTERED,
            LYON,
            CITY_REGISTERED.example.model_copy(
                update={"city_id": LYON, "name": "Lyon", "country_code": "FR", "region": None}
            ),
        ),
        agreement_event(minute, AGREEMENT_PROPOSED, agreement_id),
        agreement_event(minute + 1, AGREEMENT_ACTIVATED, agreement_id),
    )
    assert Outcome.DEAD_LETTERED not in outcomes
    return agreement_id


async def grant_setup(funding: ServiceUnderTest, cash: str = "50000.00") -> Grant:
    fund = await create_fund(funding)
    await receive(funding, fund["id"], cash)
    agreement_id = await known_agreement(funding)
    admins = [fund_admin(fund["id"], subject=f"admin-{n}") for n in range(4)]
    return Grant(fund["id"], agreement_id, admins)


def proposal(*tranches: str, **change: Any) -> dict[str, Any]:
    """A budget of two lines (staff and the rest), milestones paying `tranches`."""
    total = sum(Decimal(a) for a in tranches)
    return {
        "description": "Collection rounds redrawn with Lyon's engineers; 40 agents trained.",
        "currency": "EUR",
        "budget": [
            {"label": "municipal staff training", "amount": str(total - Decimal("1.00"))},
            {"label": "travel", "amount": "1.00"},
        ],
        "milestones": [
            {"title": f"milestone {n + 1}", "due_date": f"2027-{n % 12 + 1:02d}-28", "tranche": a}
            for n, a in enumerate(tranches)
        ],
        **change,
    }


async def submit(
    funding: ServiceUnderTest, grant: Grant, *tranches: str, **change: Any
) -> dict[str, Any]:
    body = {
        "agreement_id": str(grant.agreement_id),
        "applicant_city_id": str(LOME),
        "title": "Lomé–Lyon: waste collection rounds",
        **proposal(*(tranches or ("6000.00", "4000.00"))),
        **change,
    }
    response = await funding.client.post(
        f"/funds/{grant.fund_id}/applications", json=body, headers=officer()
    )
    assert response.status_code == 201, response.text
    return response.json()


async def post(
    funding: ServiceUnderTest, url: str, auth: dict[str, str], expect: int, **body: Any
) -> dict[str, Any]:
    response = await funding.client.post(url, json=body, headers={**auth, **key()})
    assert response.status_code == expect, response.text
    return response.json()


async def reviewed(funding: ServiceUnderTest, grant: Grant, application_id: str) -> None:
    url = f"/applications/{application_id}/reviews"
    for n, kind in ((0, "content"), (1, "budget")):
        await post(funding, url, grant.admin(n), 201, kind=kind, decision="approve", comment="fine")


async def approved(funding: ServiceUnderTest, grant: Grant, *tranches: str) -> dict[str, Any]:
    application = await submit(funding, grant, *tranches)
    await reviewed(funding, grant, application["id"])
    return await post(
        funding,
        f"/applications/{application['id']}/decision",
        grant.admin(2),
        200,
        decision="approve",
        comment="committee of 12 May",
    )


async def reported(funding: ServiceUnderTest, tranche_id: str) -> dict[str, Any]:
    return await post(
        funding,
        f"/tranches/{tranche_id}/milestone-report",
        officer(LYON),
        200,
        report="12 agents trained",
    )


async def reported_first_tranche(
    funding: ServiceUnderTest, grant: Grant, *tranches: str
) -> dict[str, Any]:
    """An approved application's first tranche, its milestone reported: ready to release."""
    tranche = (await approved(funding, grant, *tranches))["tranches"][0]
    await reported(funding, tranche["id"])
    return tranche


async def balances(funding: ServiceUnderTest, fund_id: str) -> ledger.Balances:
    async with funding.runtime.sessions() as session:
        return (await ledger.balances(session, uuid.UUID(fund_id)))["EUR"]


async def tranche_movements(funding: ServiceUnderTest) -> list[MovementKind]:
    async with funding.runtime.sessions() as session:
        return [
            m.kind
            for m in (
                await session.exec(
                    select(LedgerMovement)
                    .where(col(LedgerMovement.tranche_id).is_not(None))
                    .order_by(col(LedgerMovement.recorded_at))
                )
            ).all()
        ]


# --- Applications ----------------------------------------------------------------------------


async def test_an_application_is_reviewed_twice_approved_and_paid_against_its_milestones(
    funding: ServiceUnderTest,
) -> None:
    grant = await grant_setup(funding)
    application = await submit(funding, grant)
    assert (application["status"], application["version"]) == ("in_review", 1)
    assert application["versions"][0]["total"] == "10000.00"
    assert application["tranches"] == []

    await reviewed(funding, grant, application["id"])
    decided = await post(
        funding,
        f"/applications/{application['id']}/decision",
        grant.admin(2),
        200,
        decision="approve",
        comment="committee of 12 May",
    )
    assert decided["status"] == "approved"
    assert [(t["position"], t["amount"], t["status"]) for t in decided["tranches"]] == [
        (1, "6000.00", "pending"),
        (2, "4000.00", "pending"),
    ]
    # Approval commits nothing: money leaves `available` when a tranche is released.
    assert (await balances(funding, grant.fund_id)).committed == 0

    first = decided["tranches"][0]
    await reported(funding, first["id"])
    paid = await post(funding, f"/tranches/{first['id']}/release", grant.admin(3), 200)
    assert (paid["status"], paid["disbursed_by"]) == ("disbursed", "admin-3")

    after = await balances(funding, grant.fund_id)
    assert (after.available, after.committed, after.disbursed) == (4_400_000, 0, 600_000)
    assert await tranche_movements(funding) == [MovementKind.COMMITMENT, MovementKind.DISBURSEMENT]
    async with funding.runtime.sessions() as session:
        allocations = (await session.exec(select(Allocation))).all()
    assert [(str(a.tranche_id), a.amount_minor) for a in allocations] == [(first["id"], 600_000)]

    types = [e.type for e in await funding.events()]
    assert types[types.index("ApplicationSubmitted") :] == [
        "ApplicationSubmitted",
        "ApplicationReviewed",
        "ApplicationReviewed",
        "ApplicationApproved",
        "MilestoneReported",
        "TrancheDisbursed",
    ]
    disbursed = (await funding.events("TrancheDisbursed"))[0].payload(TRANCHE_DISBURSED)
    assert (disbursed.agreement_id, disbursed.amount, disbursed.currency) == (
        grant.agreement_id,
        Decimal("6000.00"),
        "EUR",
    )


async def test_reviews_are_independent_and_the_decider_reviewed_neither(
    funding: ServiceUnderTest,
) -> None:
    grant = await grant_setup(funding)
    application = await submit(funding, grant)
    reviews = f"/applications/{application['id']}/reviews"
    decision = f"/applications/{application['id']}/decision"
    review = {"decision": "approve", "comment": "ok"}

    await post(funding, reviews, grant.admin(0), 201, kind="content", **review)
    again = await post(funding, reviews, grant.admin(1), 409, kind="content", **review)
    assert "content review of version 1 is already done" in again["detail"]
    same = await post(funding, reviews, grant.admin(0), 403, kind="budget", **review)
    assert "two independent reviews" in same["detail"]
    early = await post(funding, decision, grant.admin(2), 409, decision="approve", comment="go")
    assert "both reviews" in early["detail"]

    await post(funding, reviews, grant.admin(1), 201, kind="budget", **review)
    for reviewer in (grant.admin(0), grant.admin(1)):
        refused = await post(funding, decision, reviewer, 403, decision="approve", comment="go")
        assert "four-eyes rule" in refused["detail"]
    other_fund = await create_fund(funding, "Another Fund")
    outsider = fund_admin(other_fund["id"])
    assert (
        "do not administer"
        in (await post(funding, decision, outsider, 403, decision="approve", comment="go"))[
            "detail"
        ]
    )
    await post(funding, decision, grant.admin(2), 200, decision="approve", comment="go")
    assert [e.type for e in await funding.events("ApplicationApproved")] == ["ApplicationApproved"]


async def test_a_rejecting_review_rejects_and_changes_requested_go_back_to_the_applicant(
    funding: ServiceUnderTest,
) -> None:
    grant = await grant_setup(funding)
    rejected = await submit(funding, grant)
    url = f"/applications/{rejected['id']}/reviews"
    await post(funding, url, grant.admin(0), 201, kind="content", decision="approve", comment="ok")
    done = await post(
        funding, url, grant.admin(1), 201, kind="budget", decision="reject", comment="too dear"
    )
    assert done["status"] == "rejected"
    assert (await funding.events("ApplicationRejected"))[0].data["comment"] == (
        "budget review: too dear"
    )
    amend = await post(
        funding,
        f"/applications/{rejected['id']}/amendments",
        officer(),
        409,
        **proposal("10000.00"),
        note="cheaper",
    )
    assert "rejected" in amend["detail"]

    sent_back = await submit(funding, grant)
    url = f"/applications/{sent_back['id']}/reviews"
    await post(
        funding, url, grant.admin(0), 201, kind="content", decision="request_changes", comment="?"
    )
    back = await post(
        funding, url, grant.admin(1), 201, kind="budget", decision="approve", comment="ok"
    )
    assert back["status"] == "changes_requested"
    amended = await post(
        funding,
        f"/applications/{sent_back['id']}/amendments",
        officer(LYON),
        201,
        **proposal("7000.00", "3000.00"),
        note="rebalanced",
    )
    assert (amended["status"], amended["version"], len(amended["versions"])) == ("in_review", 2, 2)
    # The reviews of version 1 stay in the history; version 2 needs its own two.
    assert [r["version"] for r in amended["reviews"]] == [1, 1]
    await post(funding, url, grant.admin(0), 201, kind="content", decision="approve", comment="ok")


async def test_the_partnership_withdraws_an_application_awaiting_a_decision(
    funding: ServiceUnderTest,
) -> None:
    grant = await grant_setup(funding)
    application = await submit(funding, grant)
    url = f"/applications/{application['id']}/withdrawal"
    outsider = await post(funding, url, officer(uuid.uuid4()), 404, reason="not ours")
    assert outsider["detail"] == "no such application"
    withdrawn = await post(funding, url, officer(LYON), 200, reason="we will apply again")
    assert withdrawn["status"] == "withdrawn"
    assert (await funding.events("ApplicationWithdrawn"))[0].data["reason"] == (
        "we will apply again"
    )
    review = await post(
        funding,
        f"/applications/{application['id']}/reviews",
        grant.admin(0),
        409,
        kind="content",
        decision="approve",
        comment="ok",
    )
    assert "withdrawn, not in review" in review["detail"]

    decided = await approved(funding, grant)
    late = await post(
        funding, f"/applications/{decided['id']}/withdrawal", officer(), 409, reason="late"
    )
    assert "only one awaiting a decision is withdrawn" in late["detail"]


async def test_an_approved_application_is_amended_keeping_what_was_paid(
    funding: ServiceUnderTest,
) -> None:
    grant = await grant_setup(funding)
    application = await approved(funding, grant, "6000.00", "4000.00")
    first, second = application["tranches"]
    await reported(funding, first["id"])
    await post(funding, f"/tranches/{first['id']}/release", grant.admin(0), 200)
    await reported(funding, second["id"])
    url = f"/applications/{application['id']}/amendments"

    changed_paid = await post(
        funding, url, officer(), 409, **proposal("5000.00", "5000.00"), note="x"
    )
    assert "milestone 1" in changed_paid["detail"] and "unchanged" in changed_paid["detail"]
    body = proposal("6000.00", "3000.00", "2500.00")
    amended = await post(funding, url, officer(), 201, **body, note="a third round")
    assert amended["status"] == "in_review"
    # Under review again: the remaining tranche waits for the new approval.
    refused = await post(funding, f"/tranches/{second['id']}/release", grant.admin(0), 409)
    assert "approved application" in refused["detail"]

    await reviewed(funding, grant, application["id"])
    again = await post(
        funding,
        f"/applications/{application['id']}/decision",
        grant.admin(3),
        200,
        decision="approve",
        comment="ok",
    )
    assert [(t["amount"], t["status"], t["report"] is not None) for t in again["tranches"]] == [
        ("6000.00", "disbursed", True),
        ("3000.00", "pending", False),  # changed: to be reported again
        ("2500.00", "pending", False),
    ]
    assert [v["total"] for v in again["versions"]] == ["10000.00", "11500.00"]


async def test_internal_comments_stay_with_the_fund(funding: ServiceUnderTest) -> None:
    grant = await grant_setup(funding)
    application = await submit(funding, grant)
    url = f"/applications/{application['id']}/comments"
    await post(funding, url, grant.admin(0), 201, text="budget looks padded", visibility="internal")
    await post(funding, url, grant.admin(0), 201, text="please detail line 2", visibility="shared")
    await post(funding, url, officer(LYON), 201, text="detailed in annex")
    refused = await post(funding, url, officer(), 403, text="sneak", visibility="internal")
    assert "internal comments" in refused["detail"]

    async def comments(auth: dict[str, str]) -> list[str]:
        response = await funding.client.get(f"/applications/{application['id']}", headers=auth)
        assert response.status_code == 200, response.text
        return [c["text"] for c in response.json()["comments"]]

    assert await comments(grant.admin(1)) == [
        "budget looks padded",
        "please detail line 2",
        "detailed in annex",
    ]
    assert await comments(officer()) == ["please detail line 2", "detailed in annex"]
    shared = await funding.events("ApplicationCommentShared")
    assert [e.data["text"] for e in shared] == ["please detail line 2", "detailed in annex"]
    # A city outside the partnership is not told the application exists.
    outsider = officer(uuid.uuid4())
    response = await funding.client.get(f"/applications/{application['id']}", headers=outsider)
    assert response.status_code == 404
    listed = await funding.client.get(f"/funds/{grant.fund_id}/applications", headers=outsider)
    assert listed.json() == []
    assert (
        len(
            (
                await funding.client.get(
                    f"/funds/{grant.fund_id}/applications", headers=officer(LYON)
                )
            ).json()
        )
        == 1
    )


async def test_bad_applications_get_a_clear_4xx_and_nothing_is_written(
    funding: ServiceUnderTest,
) -> None:
    grant = await grant_setup(funding)
    url = f"/funds/{grant.fund_id}/applications"
    base = {
        "agreement_id": str(grant.agreement_id),
        "applicant_city_id": str(LOME),
        "title": "Lomé–Lyon",
        **proposal("6000.00", "4000.00"),
    }

    def milestones(tranche: str) -> list[dict[str, str]]:
        return [{"title": "all", "due_date": "2027-06-30", "tranche": tranche}]

    cases = [
        ({"budget": [{"label": "x", "amount": "-5"}]}, 422, "positive"),
        ({"budget": [{"label": "x", "amount": "0"}]}, 422, "positive"),
        ({"milestones": milestones("10000.001")}, 422, "2 decimal places"),
        ({"currency": "EURO"}, 422, "ISO 4217"),
        ({"currency": "USD"}, 422, "this fund pays in EUR"),
        ({"milestones": milestones("9000.00")}, 422, "must add up to the budget"),
        ({"milestones": []}, 422, "at least 1"),
        ({"status": "approved"}, 422, "Extra inputs"),
        ({"applicant_city_id": str(uuid.uuid4())}, 422, "not a party of this agreement"),
        ({"agreement_id": str(uuid.uuid4())}, 409, "has not heard of agreement"),
    ]
    for change, status, message in cases:
        response = await funding.client.post(url, json={**base, **change}, headers=officer())
        assert response.status_code == status, (change, response.text)
        assert message in response.text, (change, response.text)
    lyon_for_lome = await funding.client.post(url, json=base, headers=officer(LYON))
    assert lyon_for_lome.status_code == 403 and "not an officer" in lyon_for_lome.text

    fund_url = f"/funds/{grant.fund_id}"
    water_only = {"eligible_domains": ["drinking-water"]}
    assert (
        await funding.client.patch(fund_url, json=water_only, headers=grant.admin(0))
    ).is_success
    ineligible = await funding.client.post(url, json=base, headers=officer())
    assert ineligible.status_code == 409
    assert "funds work in drinking-water; the agreement's domains are" in ineligible.text

    await funding.deliver(agreement_event(5, AGREEMENT_SUSPENDED, grant.agreement_id))
    suspended = await funding.client.post(url, json=base, headers=officer())
    assert suspended.status_code == 409
    assert "applies with an active agreement" in suspended.json()["detail"]
    listed = await funding.client.get(url, headers=grant.admin(0))
    assert listed.json() == []
    assert await funding.events("ApplicationSubmitted") == []


# --- Tranches --------------------------------------------------------------------------------


async def test_a_tranche_is_released_only_once_its_milestone_is_reported(
    funding: ServiceUnderTest,
) -> None:
    grant = await grant_setup(funding)
    tranche = (await approved(funding, grant))["tranches"][0]
    url = f"/tranches/{tranche['id']}/release"
    refused = await post(funding, url, grant.admin(0), 409)
    assert "only when its milestone is reported" in refused["detail"]
    assert await tranche_movements(funding) == []

    no_key = await funding.client.post(url, json={}, headers=grant.admin(0))
    assert no_key.status_code == 400 and "Idempotency-Key" in no_key.text
    outsider = await funding.client.post(
        f"/tranches/{tranche['id']}/milestone-report",
        json={"report": "done"},
        headers=officer(uuid.uuid4()),
    )
    assert outsider.status_code == 404

    await reported(funding, tranche["id"])
    headers = {**grant.admin(0), **key()}
    first = await funding.client.post(url, json={"note": "first"}, headers=headers)
    retry = await funding.client.post(url, json={"note": "first"}, headers=headers)
    assert (first.status_code, retry.status_code) == (200, 200)
    assert retry.headers["Idempotent-Replayed"] == "true" and retry.json() == first.json()
    assert (await funding.client.post(url, json={"note": "x"}, headers=headers)).status_code == 409
    twice = await post(funding, url, grant.admin(1), 409)
    assert "disbursed" in twice["detail"]
    assert await tranche_movements(funding) == [MovementKind.COMMITMENT, MovementKind.DISBURSEMENT]
    closed = await post(
        funding, f"/tranches/{tranche['id']}/milestone-report", officer(), 409, report="again"
    )
    assert "report is closed" in closed["detail"]


async def test_above_the_threshold_a_second_administrator_approves_the_release(
    funding: ServiceUnderTest,
) -> None:
    grant = await grant_setup(funding)
    big = await reported_first_tranche(funding, grant, "12000.00", "3000.00")
    base = f"/tranches/{big['id']}"

    requested = await post(funding, f"{base}/release", grant.admin(0), 200)
    assert (requested["status"], requested["requested_by"]) == ("release_requested", "admin-0")
    held_back = await balances(funding, grant.fund_id)
    assert (held_back.available, held_back.committed) == (3_800_000, 1_200_000)

    queue = await funding.client.get(
        f"/funds/{grant.fund_id}/tranches",
        params={"status": "release_requested"},
        headers=grant.admin(1),
    )
    assert [t["id"] for t in queue.json()] == [big["id"]]
    other_fund = await create_fund(funding, "Another Fund")
    outsider = await funding.client.get(
        f"/funds/{grant.fund_id}/tranches", headers=fund_admin(other_fund["id"])
    )
    assert outsider.status_code == 403

    own = await post(funding, f"{base}/release-approval", grant.admin(0), 403)
    assert "four-eyes rule" in own["detail"]
    # A refusal returns the commitment; the tranche can be requested again.
    await post(funding, f"{base}/release-cancellation", grant.admin(1), 200, note="photos?")
    assert (await balances(funding, grant.fund_id)).available == 5_000_000
    await post(funding, f"{base}/release", grant.admin(0), 200)
    paid = await post(funding, f"{base}/release-approval", grant.admin(1), 200)
    assert (paid["status"], paid["disbursed_by"]) == ("disbursed", "admin-1")
    after = await balances(funding, grant.fund_id)
    assert (after.available, after.committed, after.disbursed) == (3_800_000, 0, 1_200_000)
    assert await tranche_movements(funding) == [
        MovementKind.COMMITMENT,
        MovementKind.COMMITMENT_RELEASE,
        MovementKind.COMMITMENT,
        MovementKind.DISBURSEMENT,
    ]
    disbursed = (await funding.events("TrancheDisbursed"))[0].payload(TRANCHE_DISBURSED)
    assert (disbursed.requested_by, disbursed.by_subject) == ("admin-0", "admin-1")
    types = [e.type for e in await funding.events() if e.type.startswith("Tranche")]
    assert types == [
        "TrancheReleaseRequested",
        "TrancheReleaseCancelled",
        "TrancheReleaseRequested",
        "TrancheDisbursed",
    ]


async def test_a_release_the_fund_cannot_pay_is_refused_without_a_ledger_entry(
    funding: ServiceUnderTest,
) -> None:
    grant = await grant_setup(funding, cash="5000.00")
    tranche = await reported_first_tranche(funding, grant, "6000.00", "4000.00")
    refused = await post(funding, f"/tranches/{tranche['id']}/release", grant.admin(0), 409)
    assert "5000.00 EUR available, less than the 6000.00 EUR asked" in refused["detail"]
    assert await tranche_movements(funding) == []


async def test_pause_and_resume(funding: ServiceUnderTest) -> None:
    grant = await grant_setup(funding)
    tranche = await reported_first_tranche(funding, grant)
    base = f"/tranches/{tranche['id']}"
    paused = await post(funding, f"{base}/pause", grant.admin(0), 200, note="audit")
    assert paused["holds"] == {"paused": "audit"}
    await post(funding, f"{base}/pause", grant.admin(1), 200, note="again")  # no second pause
    refused = await post(funding, f"{base}/release", grant.admin(1), 409)
    assert "held: audit" in refused["detail"]
    resumed = await post(funding, f"{base}/resumption", grant.admin(1), 200)
    assert resumed["holds"] == {}
    await post(funding, f"{base}/release", grant.admin(1), 200)
    assert [e.type for e in await funding.events("TranchePaused", "TrancheResumed")] == [
        "TranchePaused",
        "TrancheResumed",
    ]
    done = await post(funding, f"{base}/pause", grant.admin(0), 409)
    assert "still to be paid" in done["detail"]


# --- Holds from matching's and the registry's events ----------------------------------------


async def test_a_suspended_agreement_holds_its_tranches_until_it_resumes(
    funding: ServiceUnderTest,
) -> None:
    grant = await grant_setup(funding)
    tranche = await reported_first_tranche(funding, grant)
    suspended = agreement_event(10, AGREEMENT_SUSPENDED, grant.agreement_id)
    assert await funding.deliver(suspended, suspended) == [Outcome.APPLIED, Outcome.DUPLICATE]

    held = await funding.events("TrancheHeld")
    assert len(held) == 2  # both tranches, once each
    listed = await funding.client.get(
        f"/funds/{grant.fund_id}/tranches", params={"held": True}, headers=grant.admin(1)
    )
    assert [t["holds"] for t in listed.json()] == [
        {"agreement": f"agreement {grant.agreement_id} is suspended"}
    ] * 2
    payload = held[0].payload(TRANCHE_HELD)
    assert (payload.cause, payload.reason, held[0].subject) == (
        "agreement",
        f"agreement {grant.agreement_id} is suspended",
        grant.fund_id,
    )
    refused = await post(funding, f"/tranches/{tranche['id']}/release", grant.admin(0), 409)
    assert "while its agreement is active" in refused["detail"]
    assert "is suspended" in refused["detail"]
    # An administrator cannot lift the agreement's hold: only the agreement resuming does.
    kept = await post(funding, f"/tranches/{tranche['id']}/resumption", grant.admin(0), 200)
    assert list(kept["holds"]) == ["agreement"]

    # An older event delivered late changes nothing.
    await funding.deliver(agreement_event(5, AGREEMENT_ACTIVATED, grant.agreement_id))
    assert await funding.events("TrancheHoldLifted") == []
    await funding.deliver(agreement_event(20, AGREEMENT_RESUMED, grant.agreement_id))
    assert len(await funding.events("TrancheHoldLifted")) == 2
    paid = await post(funding, f"/tranches/{tranche['id']}/release", grant.admin(0), 200)
    assert paid["status"] == "disbursed"


async def test_a_suspension_holds_the_agreements_tranches_in_every_fund(
    funding: ServiceUnderTest,
) -> None:
    grant = await grant_setup(funding)
    undp = await create_fund(funding, "UNDP Trust Fund for Democratic Governance")
    await receive(funding, undp["id"], "20000.00")
    admins = [fund_admin(undp["id"], subject=f"undp-{n}") for n in range(4)]
    other = Grant(undp["id"], grant.agreement_id, admins)
    await approved(funding, grant)
    await approved(funding, other, "5000.00")

    await funding.deliver(agreement_event(10, AGREEMENT_SUSPENDED, grant.agreement_id))
    held = await funding.events("TrancheHeld")
    assert sorted(e.subject for e in held) == sorted([grant.fund_id] * 2 + [undp["id"]])


async def test_no_disbursement_to_a_terminated_agreement(funding: ServiceUnderTest) -> None:
    grant = await grant_setup(funding)
    big, small = (await approved(funding, grant, "12000.00", "3000.00"))["tranches"]
    for tranche in (big, small):
        await reported(funding, tranche["id"])
    await post(funding, f"/tranches/{big['id']}/release", grant.admin(0), 200)
    await funding.deliver(
        agreement_event(30, AGREEMENT_TERMINATED, grant.agreement_id, previous_status="active")
    )
    for tranche, step in ((big, "release-approval"), (small, "release")):
        refused = await post(funding, f"/tranches/{tranche['id']}/{step}", grant.admin(2), 409)
        assert f"agreement {grant.agreement_id} is terminated" in refused["detail"]
    assert await tranche_movements(funding) == [MovementKind.COMMITMENT]  # the request's only
    # The commitment goes back to the fund.
    await post(funding, f"/tranches/{big['id']}/release-cancellation", grant.admin(1), 200)
    assert (await balances(funding, grant.fund_id)).available == 5_000_000


async def test_an_escalation_to_active_conflict_holds_until_an_admin_lifts_it(
    funding: ServiceUnderTest,
) -> None:
    grant = await grant_setup(funding)
    tranche = await reported_first_tranche(funding, grant)
    base = f"/tranches/{tranche['id']}"

    await funding.deliver(conflict_event(10, LOME, "conflict_zone", "post_conflict"))
    assert await funding.events("TrancheHeld") == []
    escalation = conflict_event(20, LOME, "conflict_zone", "active")
    await funding.deliver(escalation, escalation)
    held = await funding.events("TrancheHeld")
    assert [e.payload(TRANCHE_HELD).cause for e in held] == [f"conflict:{LOME}"] * 2
    assert "Lomé escalated to the active phase" in held[0].data["reason"]

    refused = await post(funding, f"{base}/release", grant.admin(0), 409)
    assert "active phase of a conflict: Lomé" in refused["detail"]
    early = await post(funding, f"{base}/resumption", grant.admin(0), 409)
    assert "still in the active phase: Lomé" in early["detail"]

    # An older assessment arriving late is not applied; the newer one de-escalates...
    await funding.deliver(conflict_event(15, LOME, "conflict_zone", "post_conflict"))
    refused = await post(funding, f"{base}/release", grant.admin(0), 409)
    assert "active phase" in refused["detail"]
    await funding.deliver(conflict_event(30, LOME, "conflict_zone", "post_conflict"))
    # ...but the hold stays until an administrator lifts it.
    still = await post(funding, f"{base}/release", grant.admin(0), 409)
    assert "escalated to the active phase" in still["detail"]
    resumed = await post(funding, f"{base}/resumption", grant.admin(0), 200)
    assert resumed["holds"] == {}
    paid = await post(funding, f"{base}/release", grant.admin(0), 200)
    assert paid["status"] == "disbursed"


async def test_events_about_unknown_agreements_and_cities_are_kept(
    funding: ServiceUnderTest,
) -> None:
    agreement_id = uuid.uuid4()
    stranger = uuid.uuid4()
    # Activated heard before the proposal; an update and an assessment before the registration.
    await funding.deliver(
        agreement_event(5, AGREEMENT_ACTIVATED, agreement_id),
        conflict_event(1, stranger, "zone_of_peace", "post_conflict"),
        agreement_event(0, AGREEMENT_PROPOSED, agreement_id),
        at(
            3,
            CITY_UPDATED,
            stranger,
            CityUpdated(city_id=stranger, changed=["region"], region="Acholi"),
        ),
        at(
            0,
            CITY_REGISTERED,
            stranger,
            CITY_REGISTERED.example.model_copy(
                update={"city_id": stranger, "name": "Gulu", "country_code": "UG"}
            ),
        ),
    )
    async with funding.runtime.sessions() as session:
        agreement = await session.get(KnownAgreement, agreement_id)
        city = await session.get(KnownCity, stranger)
    assert agreement is not None and city is not None
    assert (agreement.status, agreement.domains) == (
        "active",
        ["waste-collection", "municipal-staff-training"],
    )
    assert agreement.party_city_ids == [str(LOME), str(LYON)]
    # The registration came last but is older: the region stays the update's.
    assert (city.name, city.country_code, city.region, city.in_conflict_zone) == (
        "Gulu",
        "UG",
        "Acholi",
        True,
    )


async def test_a_closed_fund_takes_no_application_but_pays_what_it_approved(
    funding: ServiceUnderTest,
) -> None:
    grant = await grant_setup(funding)
    tranche = await reported_first_tranche(funding, grant)
    closure = f"/funds/{grant.fund_id}/closure"
    await post(funding, closure, grant.admin(0), 200, reason="programme ended")
    refused = await funding.client.post(
        f"/funds/{grant.fund_id}/applications",
        json={
            "agreement_id": str(grant.agreement_id),
            "applicant_city_id": str(LOME),
            "title": "Another round",
            **proposal("100.00"),
        },
        headers=officer(),
    )
    assert refused.status_code == 409 and "closed: it takes no new application" in refused.text
    paid = await post(funding, f"/tranches/{tranche['id']}/release", grant.admin(1), 200)
    assert paid["status"] == "disbursed"
