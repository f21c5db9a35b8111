"""Events the funding service publishes. Money is a decimal string plus an ISO 4217 code."""

from datetime import date, datetime
from decimal import Decimal
from uuid import UUID

from pydantic import Field

from shared.contracts import EventSpec, Payload

TOPIC = "funding.events"
SOURCE = "/city-exchange/funding"


class CommitteeMember(Payload):
    name: str
    role: str


class FundDescription(Payload):
    """What describes a fund (each field defaults so that events published before it decode)."""

    purpose: str = ""
    eligible_domains: list[str] = Field(
        default_factory=list, description="domain taxonomy codes; empty: any domain"
    )
    visibility: str = Field("public", description="public or restricted")
    admin_fee_rate: Decimal = Field(
        Decimal(0), description="the fraction retained at each deposit: '0.01' for 1%"
    )
    committee: list[CommitteeMember] = Field(
        default_factory=list, description="the governing committee"
    )


class FundCreated(FundDescription):
    fund_id: UUID
    name: str
    currency: str = Field(description="ISO 4217")


class FundUpdated(FundDescription):
    """The fund's description after the change; `changed` names the fields that changed."""

    fund_id: UUID
    name: str
    changed: list[str]


class FundClosed(Payload):
    fund_id: UUID
    closed_at: datetime
    reason: str


class InstalmentTerms(Payload):
    due_on: date
    amount: Decimal = Field(description="in the pledge's currency")


class Earmark(Payload):
    """What the money is restricted to: one of a domain, a country (and region), an agreement."""

    domain: str | None = Field(None, description="a domain taxonomy code")
    country_code: str | None = Field(None, description="ISO 3166-1 alpha-2")
    region: str | None = Field(None, description="a region of that country, by name")
    agreement_id: UUID | None = None


class ContributionPledged(Payload):
    pledge_id: UUID
    fund_id: UUID
    # Defaults to None so that events published before the field existed still decode.
    donor_id: UUID | None = Field(
        None, description="the donor account pledging; null for an offline donor's pledge"
    )
    donor_name: str
    donor_kind: str
    amount: Decimal = Field(description="in `currency`, as a decimal string")
    currency: str = Field(description="ISO 4217")
    instalments: list[InstalmentTerms] = Field(
        default_factory=list, description="oldest first; empty: paid in one go"
    )
    earmark: Earmark | None = None


class InstalmentPaid(Payload):
    number: int
    amount: Decimal


class ContributionReceived(Payload):
    """Money received against a pledge: as received, converted at the rate fixed at receipt,
    and net of the administration fee retained at deposit."""

    receipt_id: UUID
    pledge_id: UUID
    fund_id: UUID
    donor_id: UUID | None = Field(description="null for an offline donor's pledge")
    amount: Decimal = Field(description="as received, in `currency` (the pledge's)")
    currency: str
    exchange_rate: Decimal | None = Field(
        description="units of `fund_currency` for 1 of `currency`; null when they are the same"
    )
    rate_source: str
    converted_amount: Decimal = Field(description="in `fund_currency`")
    fund_currency: str
    fee: Decimal = Field(description="administration fee retained, in `fund_currency`")
    net_amount: Decimal = Field(description="made available, in `fund_currency`")
    received_on: date
    instalments_paid: list[InstalmentPaid] = Field(default_factory=list)
    outstanding: Decimal = Field(description="still outstanding on the pledge, in `currency`")


class InstalmentOverdue(Payload):
    """An instalment past its due date and not fully received (told once, for reminders)."""

    pledge_id: UUID
    fund_id: UUID
    donor_id: UUID | None
    donor_name: str
    number: int
    due_on: date
    amount: Decimal
    unpaid: Decimal
    currency: str


class PledgeCancelled(Payload):
    pledge_id: UUID
    fund_id: UUID
    donor_id: UUID | None
    written_off: Decimal = Field(description="what was outstanding and will not be received")
    currency: str
    reason: str


class InKindPledged(Payload):
    """Technical assistance pledged: staff-days of a profession, valued in the fund's currency."""

    in_kind_pledge_id: UUID
    fund_id: UUID
    donor_id: UUID | None
    donor_name: str
    donor_kind: str
    profession: str
    staff_days: Decimal
    daily_rate: Decimal
    currency: str = Field(description="the fund's")
    rate_source: str
    value: Decimal
    earmark: Earmark | None = None


class InKindDelivered(Payload):
    delivery_id: UUID
    in_kind_pledge_id: UUID
    fund_id: UUID
    agreement_id: UUID
    staff_days: Decimal
    value: Decimal
    currency: str
    delivered_on: date


_FUND = UUID("f0d00000-0000-4000-8000-000000000001")

FUND_CREATED = EventSpec(
    "FundCreated",
    FundCreated,
    TOPIC,
    SOURCE,
    "A solidarity fund was set up.",
    FundCreated(
        fund_id=_FUND,
        name="International City Solidarity Fund",
        currency="EUR",
        purpose="Financial aid and transfer of technical skills between cities",
        eligible_domains=["drinking-water", "waste-collection"],
        admin_fee_rate=Decimal("0.01"),
        committee=[CommitteeMember(name="Ville de Genève", role="co-founder")],
    ),
)
CONTRIBUTION_PLEDGED = EventSpec(
    "ContributionPledged",
    ContributionPledged,
    TOPIC,
    SOURCE,
    "A donor pledged money to a fund.",
    ContributionPledged(
        pledge_id=UUID("9e000000-0000-4000-8000-000000000001"),
        fund_id=_FUND,
        donor_id=UUID("d0000000-0000-4000-8000-000000000001"),
        donor_name="Ville de Genève",
        donor_kind="city",
        amount=Decimal("25000.00"),
        currency="CHF",
        instalments=[
            InstalmentTerms(due_on=date(2027, 1, 31), amount=Decimal("10000.00")),
            InstalmentTerms(due_on=date(2027, 7, 31), amount=Decimal("15000.00")),
        ],
        earmark=Earmark(domain="drinking-water"),
    ),
)
_PLEDGE = UUID("9e000000-0000-4000-8000-000000000001")
_DONOR = UUID("d0000000-0000-4000-8000-000000000001")
FUND_UPDATED = EventSpec(
    "FundUpdated",
    FundUpdated,
    TOPIC,
    SOURCE,
    "A fund's description changed (purpose, domains, visibility, fee rate, committee...).",
    FundUpdated(
        fund_id=_FUND,
        name="International City Solidarity Fund",
        changed=["visibility"],
        visibility="restricted",
    ),
)
FUND_CLOSED = EventSpec(
    "FundClosed",
    FundClosed,
    TOPIC,
    SOURCE,
    "A fund was closed: it takes no new pledge.",
    FundClosed(fund_id=_FUND, closed_at=datetime(2027, 12, 31, 17), reason="programme ended"),
)
CONTRIBUTION_RECEIVED = EventSpec(
    "ContributionReceived",
    ContributionReceived,
    TOPIC,
    SOURCE,
    "Money was received against a pledge (converted at a fixed rate, net of the fee).",
    ContributionReceived(
        receipt_id=UUID("4ec00000-0000-4000-8000-000000000001"),
        pledge_id=_PLEDGE,
        fund_id=_FUND,
        donor_id=_DONOR,
        amount=Decimal("10000.00"),
        currency="CHF",
        exchange_rate=Decimal("1.0650"),
        rate_source="ECB reference rate of 2027-01-29",
        converted_amount=Decimal("10650.00"),
        fund_currency="EUR",
        fee=Decimal("106.50"),
        net_amount=Decimal("10543.50"),
        received_on=date(2027, 1, 29),
        instalments_paid=[InstalmentPaid(number=1, amount=Decimal("10000.00"))],
        outstanding=Decimal("15000.00"),
    ),
)
INSTALMENT_OVERDUE = EventSpec(
    "InstalmentOverdue",
    InstalmentOverdue,
    TOPIC,
    SOURCE,
    "A pledge's instalment is past its due date and not fully received.",
    InstalmentOverdue(
        pledge_id=_PLEDGE,
        fund_id=_FUND,
        donor_id=_DONOR,
        donor_name="Ville de Genève",
        number=2,
        due_on=date(2027, 7, 31),
        amount=Decimal("15000.00"),
        unpaid=Decimal("15000.00"),
        currency="CHF",
    ),
)
PLEDGE_CANCELLED = EventSpec(
    "PledgeCancelled",
    PledgeCancelled,
    TOPIC,
    SOURCE,
    "What was outstanding on a pledge was written off.",
    PledgeCancelled(
        pledge_id=_PLEDGE,
        fund_id=_FUND,
        donor_id=_DONOR,
        written_off=Decimal("15000.00"),
        currency="CHF",
        reason="the donor's budget was cut",
    ),
)
IN_KIND_PLEDGED = EventSpec(
    "InKindPledged",
    InKindPledged,
    TOPIC,
    SOURCE,
    "A donor pledged technical assistance: staff-days of a profession, valued.",
    InKindPledged(
        in_kind_pledge_id=UUID("1c000000-0000-4000-8000-000000000001"),
        fund_id=_FUND,
        donor_id=None,
        donor_name="Ville de Lyon",
        donor_kind="city",
        profession="water-engineer",
        staff_days=Decimal("20"),
        daily_rate=Decimal("400.00"),
        currency="EUR",
        rate_source="city-exchange programme reference rates (2026-01-01)",
        value=Decimal("8000.00"),
        earmark=Earmark(country_code="ML", region="Bamako"),
    ),
)
IN_KIND_DELIVERED = EventSpec(
    "InKindDelivered",
    InKindDelivered,
    TOPIC,
    SOURCE,
    "Staff-days of pledged technical assistance were delivered to a partnership.",
    InKindDelivered(
        delivery_id=UUID("1d000000-0000-4000-8000-000000000001"),
        in_kind_pledge_id=UUID("1c000000-0000-4000-8000-000000000001"),
        fund_id=_FUND,
        agreement_id=UUID("a0000000-0000-4000-8000-000000000001"),
        staff_days=Decimal("5"),
        value=Decimal("2000.00"),
        currency="EUR",
        delivered_on=date(2027, 3, 15),
    ),
)

EVENTS = [
    FUND_CREATED,
    FUND_UPDATED,
    FUND_CLOSED,
    CONTRIBUTION_PLEDGED,
    CONTRIBUTION_RECEIVED,
    INSTALMENT_OVERDUE,
    PLEDGE_CANCELLED,
    IN_KIND_PLEDGED,
    IN_KIND_DELIVERED,
]


# --- Grants: applications, milestones, tranches (services/funding/grants) --------------------
# Every event is keyed by the fund, so one fund's grant events stay in order with its pledges.


class ApplicationChange(Payload):
    """An application for funding by a partnership (an agreement's parties), after the step."""

    application_id: UUID
    fund_id: UUID
    agreement_id: UUID
    applicant_city_id: UUID
    party_city_ids: list[UUID] = Field(description="the partnership: who should hear of it")
    title: str
    status: str = Field(
        description="in_review, changes_requested, reviewed, approved or rejected, after the step"
    )
    version: int = Field(description="the application's version the step concerns")
    by_subject: str = Field(description="the account that did it")


class ApplicationSubmitted(ApplicationChange):
    total: Decimal = Field(description="the budget, in `currency`, as a decimal string")
    currency: str = Field(description="ISO 4217, the fund's currency")


class ApplicationReviewed(ApplicationChange):
    kind: str = Field(description="content or budget")
    decision: str = Field(description="approve, request_changes or reject")
    comment: str = Field(description="the review's comment, shared with the applicant")


class ApplicationApproved(ApplicationChange):
    total: Decimal = Field(description="the approved budget; no money is committed yet")
    currency: str = Field(description="ISO 4217")
    comment: str


class ApplicationRejected(ApplicationChange):
    comment: str = Field(description="why: the reviewers' or the deciding administrator's words")


class ApplicationAmended(ApplicationChange):
    total: Decimal = Field(description="the amended budget")
    currency: str = Field(description="ISO 4217")
    note: str = Field(description="what the amendment changes")


class ApplicationCommentShared(ApplicationChange):
    """A comment shared with the applicant (internal comments are never published)."""

    text: str


class TrancheChange(Payload):
    """A tranche (the money paid against one milestone of an approved application), after the
    step."""

    tranche_id: UUID
    application_id: UUID
    fund_id: UUID
    agreement_id: UUID
    party_city_ids: list[UUID]
    position: int = Field(description="the milestone's position in the application, from 1")
    milestone_title: str
    amount: Decimal = Field(description="in `currency`, as a decimal string")
    currency: str = Field(description="ISO 4217, the fund's currency")
    status: str = Field(description="pending, release_requested, disbursed or cancelled")
    holds: dict[str, str] = Field(
        default_factory=dict,
        description="what holds it afterwards, by cause ('paused', 'agreement', "
        "'conflict:<city id>'); empty: nothing",
    )
    by_subject: str | None = Field(
        description="the account that did it; null when the platform did (an automatic hold)"
    )
    note: str = ""


class MilestoneReported(TrancheChange):
    pass


class TrancheReleaseRequested(TrancheChange):
    """Above the threshold: the money is committed and waits for a second administrator."""


class TrancheDisbursed(TrancheChange):
    requested_by: str | None = Field(
        None, description="the first administrator, when the release needed a second one"
    )


class TrancheReleaseCancelled(TrancheChange):
    """A requested release was withdrawn or refused: its commitment went back to available."""


class TrancheHeld(TrancheChange):
    """Held by the platform: the agreement was suspended or terminated, or a party escalated to
    the active phase of a conflict. The fund and its donors should hear of it."""

    cause: str = Field(description="'agreement' or 'conflict:<city id>'")
    reason: str


class TrancheHoldLifted(TrancheChange):
    cause: str = Field(description="'agreement' (it resumed) or 'conflict:<city id>'")
    reason: str = Field(description="why the hold had been placed")


class TranchePaused(TrancheChange):
    pass


class TrancheResumed(TrancheChange):
    lifted: list[str] = Field(description="the causes of the holds lifted (pause, conflict)")


_APPLICATION = {
    "application_id": UUID("a9911000-0000-4000-8000-000000000001"),
    "fund_id": _FUND,
    "agreement_id": UUID("a9ee0000-0000-4000-8000-000000000001"),
    "applicant_city_id": UUID("5a1c0de0-0000-4000-8000-00000000070e"),
    "party_city_ids": [
        UUID("5a1c0de0-0000-4000-8000-00000000070e"),
        UUID("5a1c0de0-0000-4000-8000-000000000001"),
    ],
    "title": "Lomé–Lyon: waste collection rounds",
    "version": 1,
}
_OFFICER = "0ffc1a15-0000-4000-8000-000000000001"
_ADMIN_1 = "ad000000-0000-4000-8000-000000000001"
_ADMIN_2 = "ad000000-0000-4000-8000-000000000002"

APPLICATION_SUBMITTED = EventSpec(
    "ApplicationSubmitted",
    ApplicationSubmitted,
    TOPIC,
    SOURCE,
    "A partnership with an active agreement applied to a fund with a budget and milestones.",
    ApplicationSubmitted(
        **_APPLICATION,
        status="in_review",
        by_subject=_OFFICER,
        total=Decimal("48000.00"),
        currency="EUR",
    ),
)
APPLICATION_REVIEWED = EventSpec(
    "ApplicationReviewed",
    ApplicationReviewed,
    TOPIC,
    SOURCE,
    "A fund administrator gave the content or the budget review of an application's version.",
    ApplicationReviewed(
        **_APPLICATION,
        status="in_review",
        by_subject=_ADMIN_1,
        kind="budget",
        decision="approve",
        comment="Unit costs in line with the fund's references.",
    ),
)
APPLICATION_APPROVED = EventSpec(
    "ApplicationApproved",
    ApplicationApproved,
    TOPIC,
    SOURCE,
    "A fund administrator who reviewed neither review approved the application (four eyes).",
    ApplicationApproved(
        **_APPLICATION,
        status="approved",
        by_subject=_ADMIN_2,
        total=Decimal("48000.00"),
        currency="EUR",
        comment="Approved by the governing committee of 12 May.",
    ),
)
APPLICATION_REJECTED = EventSpec(
    "ApplicationRejected",
    ApplicationRejected,
    TOPIC,
    SOURCE,
    "An application was rejected, by a review or by the decision.",
    ApplicationRejected(
        **_APPLICATION,
        status="rejected",
        by_subject=_ADMIN_2,
        comment="Outside the fund's eligible domains.",
    ),
)
APPLICATION_AMENDED = EventSpec(
    "ApplicationAmended",
    ApplicationAmended,
    TOPIC,
    SOURCE,
    "The partnership amended its application (a new version): it goes back to review.",
    ApplicationAmended(
        **{**_APPLICATION, "version": 2},
        status="in_review",
        by_subject=_OFFICER,
        total=Decimal("52000.00"),
        currency="EUR",
        note="A third collection round added, with its tranche.",
    ),
)
APPLICATION_COMMENT_SHARED = EventSpec(
    "ApplicationCommentShared",
    ApplicationCommentShared,
    TOPIC,
    SOURCE,
    "A comment on an application was shared with the applicant partnership.",
    ApplicationCommentShared(
        **_APPLICATION,
        status="in_review",
        by_subject=_ADMIN_1,
        text="Could you detail the vehicle upkeep line?",
    ),
)
_TRANCHE = {
    "tranche_id": UUID("7a9c0000-0000-4000-8000-000000000001"),
    "application_id": _APPLICATION["application_id"],
    "fund_id": _FUND,
    "agreement_id": _APPLICATION["agreement_id"],
    "party_city_ids": _APPLICATION["party_city_ids"],
    "position": 1,
    "milestone_title": "40 agents trained in collection rounds",
    "amount": Decimal("16000.00"),
    "currency": "EUR",
}
MILESTONE_REPORTED = EventSpec(
    "MilestoneReported",
    MilestoneReported,
    TOPIC,
    SOURCE,
    "The partnership reported a milestone done: its tranche may now be released.",
    MilestoneReported(**_TRANCHE, status="pending", by_subject=_OFFICER),
)
TRANCHE_RELEASE_REQUESTED = EventSpec(
    "TrancheReleaseRequested",
    TrancheReleaseRequested,
    TOPIC,
    SOURCE,
    "An administrator released a tranche above the threshold: committed, it waits for a second "
    "administrator's approval.",
    TrancheReleaseRequested(**_TRANCHE, status="release_requested", by_subject=_ADMIN_1),
)
TRANCHE_DISBURSED = EventSpec(
    "TrancheDisbursed",
    TrancheDisbursed,
    TOPIC,
    SOURCE,
    "A tranche was paid to the partnership of an agreement.",
    TrancheDisbursed(**_TRANCHE, status="disbursed", by_subject=_ADMIN_2, requested_by=_ADMIN_1),
)
TRANCHE_RELEASE_CANCELLED = EventSpec(
    "TrancheReleaseCancelled",
    TrancheReleaseCancelled,
    TOPIC,
    SOURCE,
    "A requested release was withdrawn or refused; its commitment went back to available.",
    TrancheReleaseCancelled(
        **_TRANCHE, status="pending", by_subject=_ADMIN_2, note="the report needs photos"
    ),
)
TRANCHE_HELD = EventSpec(
    "TrancheHeld",
    TrancheHeld,
    TOPIC,
    SOURCE,
    "The platform held a tranche still to be paid: its agreement was suspended or terminated, or "
    "a party escalated to the active phase of a conflict.",
    TrancheHeld(
        **_TRANCHE,
        status="pending",
        holds={"agreement": "agreement a9ee0000-0000-4000-8000-000000000001 is suspended"},
        by_subject=None,
        cause="agreement",
        reason="agreement a9ee0000-0000-4000-8000-000000000001 is suspended",
    ),
)
TRANCHE_HOLD_LIFTED = EventSpec(
    "TrancheHoldLifted",
    TrancheHoldLifted,
    TOPIC,
    SOURCE,
    "A hold the platform placed was lifted: the agreement resumed.",
    TrancheHoldLifted(
        **_TRANCHE,
        status="pending",
        by_subject=None,
        cause="agreement",
        reason="agreement a9ee0000-0000-4000-8000-000000000001 is suspended",
    ),
)
TRANCHE_PAUSED = EventSpec(
    "TranchePaused",
    TranchePaused,
    TOPIC,
    SOURCE,
    "A fund administrator paused a tranche still to be paid.",
    TranchePaused(
        **_TRANCHE,
        status="pending",
        holds={"paused": "audit of the first tranche's receipts"},
        by_subject=_ADMIN_1,
        note="audit of the first tranche's receipts",
    ),
)
TRANCHE_RESUMED = EventSpec(
    "TrancheResumed",
    TrancheResumed,
    TOPIC,
    SOURCE,
    "A fund administrator lifted a pause, or a conflict hold once the phase de-escalated.",
    TrancheResumed(**_TRANCHE, status="pending", by_subject=_ADMIN_1, lifted=["paused"]),
)

GRANT_EVENTS = [
    APPLICATION_SUBMITTED,
    APPLICATION_REVIEWED,
    APPLICATION_APPROVED,
    APPLICATION_REJECTED,
    APPLICATION_AMENDED,
    APPLICATION_COMMENT_SHARED,
    MILESTONE_REPORTED,
    TRANCHE_RELEASE_REQUESTED,
    TRANCHE_DISBURSED,
    TRANCHE_RELEASE_CANCELLED,
    TRANCHE_HELD,
    TRANCHE_HOLD_LIFTED,
    TRANCHE_PAUSED,
    TRANCHE_RESUMED,
]
EVENTS += GRANT_EVENTS


class ApplicationWithdrawn(ApplicationChange):
    """The partnership withdrew its application before a decision: it will not be funded."""

    reason: str


APPLICATION_WITHDRAWN = EventSpec(
    "ApplicationWithdrawn",
    ApplicationWithdrawn,
    TOPIC,
    SOURCE,
    "The partnership withdrew its application before the fund decided on it.",
    ApplicationWithdrawn(
        **_APPLICATION,
        status="withdrawn",
        by_subject=_OFFICER,
        reason="Lyon's engineers cannot travel this year; we will apply again.",
    ),
)
GRANT_EVENTS.append(APPLICATION_WITHDRAWN)
EVENTS.append(APPLICATION_WITHDRAWN)
