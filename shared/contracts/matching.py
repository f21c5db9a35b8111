"""Events the matching service publishes: an agreement's life, one fact per transition; its
health (activity reports, dormancy reminders, blocks); and expressions of interest between cities.

Every agreement event is keyed by the agreement id, so one agreement's events stay in order;
every expression-of-interest event by the expression of interest's id. Fields added
after an event type was first published have defaults, so older events still decode. Money is a
decimal string plus an ISO 4217 code."""

from datetime import UTC, date, datetime
from decimal import Decimal
from uuid import UUID

from pydantic import Field

from shared.contracts import EventSpec, Payload

TOPIC = "matching.events"
SOURCE = "/city-exchange/matching"

_LOME = UUID("5a1c0de0-0000-4000-8000-00000000070e")
_LYON = UUID("5a1c0de0-0000-4000-8000-000000000001")
_EXAMPLE_AGREEMENT = UUID("a9ee0000-0000-4000-8000-000000000001")
_TITLE = "Lomé–Lyon: waste collection and municipal staff training"
_SUBJECT = "0ffc1a15-0000-4000-8000-000000000001"


class AgreementProposed(Payload):
    agreement_id: UUID
    title: str
    kind: str
    party_city_ids: list[UUID]
    proposed_by_city_id: UUID
    status: str = Field("proposed", description="the agreement's status: proposed")
    by_subject: str | None = Field(None, description="the account that proposed it")
    by_network_id: UUID | None = Field(
        None,
        description="when an officer of a network did it for the city, in a conflict zone, under "
        "the mandate the city gave it: the network",
    )
    domains: list[str] = Field(default_factory=list, description="domain taxonomy codes")
    need_ids: list[UUID] = Field(default_factory=list, description="the parties' linked needs")
    offer_ids: list[UUID] = Field(default_factory=list, description="the parties' linked offers")
    objectives: list[str] = Field(default_factory=list)
    start_date: date | None = None
    end_date: date | None = None
    budget_amount: Decimal | None = Field(
        None, description="the budget requested, in `budget_currency`, as a decimal string"
    )
    budget_currency: str | None = Field(None, description="ISO 4217")
    accept_by: datetime | None = Field(
        None, description="every party must accept by then, or the agreement expires"
    )
    interest_id: UUID | None = Field(
        None, description="the accepted expression of interest it grew from, if any"
    )
    blocks: list[str] = Field(
        default_factory=list,
        description="why it can be neither accepted nor activated yet (e.g. a party in active "
        "conflict); empty: nothing in the way",
    )


class AgreementAccepted(Payload):
    agreement_id: UUID
    title: str
    city_id: UUID
    party_city_ids: list[UUID]
    all_parties_accepted: bool
    status: str = Field(
        "proposed", description="the agreement's status after it: accepted when it was the last"
    )
    by_subject: str | None = Field(None, description="the officer's account")
    by_network_id: UUID | None = Field(
        None,
        description="when an officer of a network did it for the city, in a conflict zone, under "
        "the mandate the city gave it: the network",
    )


class AgreementTransition(Payload):
    """An agreement moved from one status to another."""

    agreement_id: UUID
    title: str
    party_city_ids: list[UUID]
    status: str = Field(description="the agreement's new status")
    previous_status: str
    by_city_id: UUID | None = Field(
        description="the party whose officer did it; null when the platform did (an expiry, a "
        "suspension on a party's escalation to active conflict)"
    )
    by_subject: str | None = Field(
        description="the account that did it; null when the platform did it on its own (a "
        "scheduled expiry run, a reaction to a registry event)"
    )
    by_network_id: UUID | None = Field(
        None,
        description="when an officer of a network did it for the city, in a conflict zone, under "
        "the mandate the city gave it: the network",
    )
    reason: str | None = None


class AgreementActivated(AgreementTransition):
    start_date: date | None = None
    end_date: date | None = None
    budget_amount: Decimal | None = Field(
        None, description="the budget requested, in `budget_currency`, as a decimal string"
    )
    budget_currency: str | None = Field(None, description="ISO 4217")


class AgreementSuspended(AgreementTransition):
    pass


class AgreementResumed(AgreementTransition):
    pass


class AgreementConcluded(AgreementTransition):
    pass


class AgreementTerminated(AgreementTransition):
    pass


class AgreementRejected(AgreementTransition):
    pass


class AgreementWithdrawn(AgreementTransition):
    pass


class AgreementExpired(AgreementTransition):
    not_accepted_city_ids: list[UUID] = Field(description="the parties that had not accepted")
    accept_by: datetime


class AgreementActivityReported(Payload):
    agreement_id: UUID
    title: str
    party_city_ids: list[UUID]
    report_id: UUID
    city_id: UUID = Field(description="the party that reported")
    text: str
    by_subject: str
    at: datetime
    by_network_id: UUID | None = Field(
        None,
        description="when an officer of a network did it for the city, in a conflict zone, under "
        "the mandate the city gave it: the network",
    )


class AgreementDormant(Payload):
    """A reminder to the parties: no sign of life for the service's dormancy period."""

    agreement_id: UUID
    title: str
    party_city_ids: list[UUID]
    last_activity_at: datetime
    days_since_activity: int
    dormant_after_days: int = Field(description="the platform's dormancy period")


class AgreementBlockChanged(Payload):
    """Something came to stand (or stopped standing) in the way of accepting or activating an
    agreement. Set and cleared by the platform on registry events, never by a person."""

    agreement_id: UUID
    title: str
    party_city_ids: list[UUID]
    status: str = Field(description="the agreement's status (unchanged by a block)")
    cause: str = Field(description="what it is about: 'need:<id>', 'offer:<id>', 'conflict:<city>'")
    reason: str
    blocks: list[str] = Field(description="every reason standing in the way afterwards")


class AgreementBlocked(AgreementBlockChanged):
    pass


class AgreementUnblocked(AgreementBlockChanged):
    pass


class PartnershipInterestChange(Payload):
    """An expression of interest between two cities, as it stands after the change."""

    interest_id: UUID
    kind: str = Field(description="request: the asker's need; offer: help with the other's need")
    status: str = Field(description="open, accepted, declined, withdrawn, closed or expired")
    from_city_id: UUID = Field(description="the asking city")
    to_city_id: UUID = Field(description="the city asked")
    need_id: UUID
    need_title: str
    offer_id: UUID | None = None
    domain: str
    by_city_id: UUID | None = Field(
        description="the city whose officer (or mandated network) did it; null: the platform"
    )
    by_subject: str | None = Field(description="the account; null when the platform did it")
    message: str | None = Field(
        None,
        description="the asker's message, the answer's, or why it was withdrawn, closed or expired",
    )


class PartnershipInterestExpressed(PartnershipInterestChange):
    pass


class PartnershipInterestAnswered(PartnershipInterestChange):
    pass


class PartnershipInterestWithdrawn(PartnershipInterestChange):
    pass


class PartnershipInterestClosed(PartnershipInterestChange):
    pass


class PartnershipInterestExpired(PartnershipInterestChange):
    pass


def _transition(status: str, previous: str, by: UUID | None = _LYON, **extra: object) -> dict:
    return {
        "agreement_id": _EXAMPLE_AGREEMENT,
        "title": _TITLE,
        "party_city_ids": [_LOME, _LYON],
        "status": status,
        "previous_status": previous,
        "by_city_id": by,
        "by_subject": _SUBJECT if by else None,
        **extra,
    }


AGREEMENT_PROPOSED = EventSpec(
    "AgreementProposed",
    AgreementProposed,
    TOPIC,
    SOURCE,
    "A city proposed an agreement to one or more partner cities; the proposer counts as accepting.",
    AgreementProposed(
        agreement_id=_EXAMPLE_AGREEMENT,
        title=_TITLE,
        kind="bilateral",
        party_city_ids=[_LOME, _LYON],
        proposed_by_city_id=_LOME,
        by_subject=_SUBJECT,
        domains=["waste-collection", "municipal-staff-training"],
        need_ids=[UUID("0eed0000-0000-4000-8000-000000000001")],
        offer_ids=[UUID("0ffe0000-0000-4000-8000-000000000001")],
        objectives=["40 municipal agents trained in collection rounds and vehicle upkeep"],
        start_date=date(2027, 4, 1),
        end_date=date(2028, 3, 31),
        budget_amount=Decimal("48000.00"),
        budget_currency="EUR",
        accept_by=datetime(2027, 3, 31, 10, 0, tzinfo=UTC),
    ),
)
AGREEMENT_ACCEPTED = EventSpec(
    "AgreementAccepted",
    AgreementAccepted,
    TOPIC,
    SOURCE,
    "One party accepted an agreement; `all_parties_accepted` tells whether it was the last.",
    AgreementAccepted(
        agreement_id=_EXAMPLE_AGREEMENT,
        title=_TITLE,
        city_id=_LYON,
        party_city_ids=[_LOME, _LYON],
        all_parties_accepted=True,
        status="accepted",
        by_subject=_SUBJECT,
    ),
)
AGREEMENT_ACTIVATED = EventSpec(
    "AgreementActivated",
    AgreementActivated,
    TOPIC,
    SOURCE,
    "A party's officer started an accepted agreement: the work begins (and its budget request "
    "may be funded).",
    AgreementActivated(
        **_transition("active", "accepted"),
        start_date=date(2027, 4, 1),
        end_date=date(2028, 3, 31),
        budget_amount=Decimal("48000.00"),
        budget_currency="EUR",
    ),
)
AGREEMENT_SUSPENDED = EventSpec(
    "AgreementSuspended",
    AgreementSuspended,
    TOPIC,
    SOURCE,
    "A party's officer suspended an active agreement (e.g. violence flared up again).",
    AgreementSuspended(
        **_transition("suspended", "active", reason="exchange visits unsafe until the curfew ends")
    ),
)
AGREEMENT_RESUMED = EventSpec(
    "AgreementResumed",
    AgreementResumed,
    TOPIC,
    SOURCE,
    "A party's officer resumed a suspended agreement.",
    AgreementResumed(**_transition("active", "suspended")),
)
AGREEMENT_CONCLUDED = EventSpec(
    "AgreementConcluded",
    AgreementConcluded,
    TOPIC,
    SOURCE,
    "An agreement was completed as planned.",
    AgreementConcluded(**_transition("concluded", "active", reason="every objective met")),
)
AGREEMENT_TERMINATED = EventSpec(
    "AgreementTerminated",
    AgreementTerminated,
    TOPIC,
    SOURCE,
    "A party ended an active or suspended agreement early (a council can end a twinning).",
    AgreementTerminated(
        **_transition("terminated", "suspended", reason="the city council voted to end it")
    ),
)
AGREEMENT_REJECTED = EventSpec(
    "AgreementRejected",
    AgreementRejected,
    TOPIC,
    SOURCE,
    "An invited party declined a proposed agreement; it will not come to be.",
    AgreementRejected(
        **_transition("rejected", "proposed", reason="our staff cannot take it on this year")
    ),
)
AGREEMENT_WITHDRAWN = EventSpec(
    "AgreementWithdrawn",
    AgreementWithdrawn,
    TOPIC,
    SOURCE,
    "A party that had accepted called off a proposed or accepted agreement before its work "
    "started (e.g. it stayed blocked by a conflict that did not de-escalate); it will not come to "
    "be.",
    AgreementWithdrawn(
        **_transition(
            "withdrawn",
            "accepted",
            reason="blocked for a year by the conflict; we will propose anew when it ends",
        )
    ),
)
AGREEMENT_EXPIRED = EventSpec(
    "AgreementExpired",
    AgreementExpired,
    TOPIC,
    SOURCE,
    "Not every party accepted a proposed agreement by its deadline.",
    AgreementExpired(
        **_transition(
            "expired",
            "proposed",
            by=None,
            reason="not accepted by every party by 2027-03-31T10:00:00+00:00",
        ),
        not_accepted_city_ids=[_LYON],
        accept_by=datetime(2027, 3, 31, 10, 0, tzinfo=UTC),
    ),
)

AGREEMENT_ACTIVITY_REPORTED = EventSpec(
    "AgreementActivityReported",
    AgreementActivityReported,
    TOPIC,
    SOURCE,
    "A party reported on the partnership's work (a sign of life: it resets dormancy).",
    AgreementActivityReported(
        agreement_id=_EXAMPLE_AGREEMENT,
        title=_TITLE,
        party_city_ids=[_LOME, _LYON],
        report_id=UUID("4e9047e0-0000-4000-8000-000000000001"),
        city_id=_LOME,
        text="First 12 agents trained; two collection rounds redrawn with Lyon's engineers.",
        by_subject=_SUBJECT,
        at=datetime(2027, 6, 30, 16, 0, tzinfo=UTC),
    ),
)
AGREEMENT_DORMANT = EventSpec(
    "AgreementDormant",
    AgreementDormant,
    TOPIC,
    SOURCE,
    "An active agreement showed no sign of life (no step, no report, no funding event) for the "
    "dormancy period: its parties are reminded, once per period of silence.",
    AgreementDormant(
        agreement_id=_EXAMPLE_AGREEMENT,
        title=_TITLE,
        party_city_ids=[_LOME, _LYON],
        last_activity_at=datetime(2027, 6, 30, 16, 0, tzinfo=UTC),
        days_since_activity=92,
        dormant_after_days=90,
    ),
)
_BLOCK = {
    "agreement_id": _EXAMPLE_AGREEMENT,
    "title": _TITLE,
    "party_city_ids": [_LOME, _LYON],
    "status": "proposed",
    "cause": f"need:{UUID('0eed0000-0000-4000-8000-000000000001')}",
    "reason": "linked need 'Waste collection rounds' was withdrawn by its city",
}
AGREEMENT_BLOCKED = EventSpec(
    "AgreementBlocked",
    AgreementBlocked,
    TOPIC,
    SOURCE,
    "The platform blocked a proposed or accepted agreement (a linked need or offer withdrawn, a "
    "party escalated to active conflict): it can be neither accepted nor activated meanwhile.",
    AgreementBlocked(**_BLOCK, blocks=[_BLOCK["reason"]]),
)
AGREEMENT_UNBLOCKED = EventSpec(
    "AgreementUnblocked",
    AgreementUnblocked,
    TOPIC,
    SOURCE,
    "A block on an agreement was lifted (e.g. a party's conflict phase de-escalated).",
    AgreementUnblocked(
        **{
            **_BLOCK,
            "cause": f"conflict:{_LOME}",
            "reason": "Lomé's conflict phase is post_conflict again",
        },
        blocks=[],
    ),
)

_INTEREST = {
    "interest_id": UUID("1e7e0000-0000-4000-8000-000000000001"),
    "kind": "request",
    "from_city_id": _LOME,
    "to_city_id": _LYON,
    "need_id": UUID("0eed0000-0000-4000-8000-000000000001"),
    "need_title": "Waste collection rounds",
    "offer_id": UUID("0ffe0000-0000-4000-8000-000000000001"),
    "domain": "waste-collection",
}
PARTNERSHIP_INTEREST_EXPRESSED = EventSpec(
    "PartnershipInterestExpressed",
    PartnershipInterestExpressed,
    TOPIC,
    SOURCE,
    "A city asked another to partner on a need (its own, or the other's with its offer); the "
    "city asked should hear of it.",
    PartnershipInterestExpressed(
        **_INTEREST,
        status="open",
        by_city_id=_LOME,
        by_subject=_SUBJECT,
        message="Your collection rounds are what our districts need; could we talk in May?",
    ),
)
PARTNERSHIP_INTEREST_ANSWERED = EventSpec(
    "PartnershipInterestAnswered",
    PartnershipInterestAnswered,
    TOPIC,
    SOURCE,
    "The city asked accepted or declined an expression of interest; the asker should hear of it.",
    PartnershipInterestAnswered(
        **_INTEREST,
        status="accepted",
        by_city_id=_LYON,
        by_subject=_SUBJECT,
        message="Gladly: our engineers can come in September.",
    ),
)
PARTNERSHIP_INTEREST_WITHDRAWN = EventSpec(
    "PartnershipInterestWithdrawn",
    PartnershipInterestWithdrawn,
    TOPIC,
    SOURCE,
    "The asking city withdrew its expression of interest; the city asked should hear of it.",
    PartnershipInterestWithdrawn(
        **_INTEREST,
        status="withdrawn",
        by_city_id=_LOME,
        by_subject=_SUBJECT,
        message="We found a partner in the region.",
    ),
)
PARTNERSHIP_INTEREST_CLOSED = EventSpec(
    "PartnershipInterestClosed",
    PartnershipInterestClosed,
    TOPIC,
    SOURCE,
    "The platform closed an expression of interest whose need or offer was withdrawn; both "
    "cities should hear of it.",
    PartnershipInterestClosed(
        **_INTEREST,
        status="closed",
        by_city_id=None,
        by_subject=None,
        message="need 'Waste collection rounds' was withdrawn by its city",
    ),
)
PARTNERSHIP_INTEREST_EXPIRED = EventSpec(
    "PartnershipInterestExpired",
    PartnershipInterestExpired,
    TOPIC,
    SOURCE,
    "The platform expired an expression of interest the city asked did not answer in time "
    "(MATCHING_INTEREST_ANSWER_DAYS); both cities should hear of it, and the asker may ask anew.",
    PartnershipInterestExpired(
        **_INTEREST,
        status="expired",
        by_city_id=None,
        by_subject=None,
        message="not answered within 30 days",
    ),
)

# The changes of status after the acceptances: they share one payload shape.
AGREEMENT_TRANSITIONS = [
    AGREEMENT_ACTIVATED,
    AGREEMENT_SUSPENDED,
    AGREEMENT_RESUMED,
    AGREEMENT_CONCLUDED,
    AGREEMENT_TERMINATED,
    AGREEMENT_REJECTED,
    AGREEMENT_WITHDRAWN,
    AGREEMENT_EXPIRED,
]

INTEREST_EVENTS = [
    PARTNERSHIP_INTEREST_EXPRESSED,
    PARTNERSHIP_INTEREST_ANSWERED,
    PARTNERSHIP_INTEREST_WITHDRAWN,
    PARTNERSHIP_INTEREST_CLOSED,
    PARTNERSHIP_INTEREST_EXPIRED,
]

EVENTS = [
    AGREEMENT_PROPOSED,
    AGREEMENT_ACCEPTED,
    *AGREEMENT_TRANSITIONS,
    AGREEMENT_ACTIVITY_REPORTED,
    AGREEMENT_DORMANT,
    AGREEMENT_BLOCKED,
    AGREEMENT_UNBLOCKED,
    *INTEREST_EVENTS,
]
