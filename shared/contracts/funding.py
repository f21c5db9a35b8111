"""Events the funding service publishes. Money is a decimal string plus an ISO 4217 code."""

from decimal import Decimal
from uuid import UUID

from pydantic import Field

from shared.contracts import EventSpec, Payload

TOPIC = "funding.events"
SOURCE = "/city-exchange/funding"


class FundCreated(Payload):
    fund_id: UUID
    name: str
    currency: str = Field(description="ISO 4217")


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


_FUND = UUID("f0d00000-0000-4000-8000-000000000001")

FUND_CREATED = EventSpec(
    "FundCreated",
    FundCreated,
    TOPIC,
    SOURCE,
    "A solidarity fund was set up.",
    FundCreated(fund_id=_FUND, name="International City Solidarity Fund", currency="EUR"),
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
    ),
)

EVENTS = [FUND_CREATED, CONTRIBUTION_PLEDGED]


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
