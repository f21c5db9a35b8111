"""Events the matching service publishes: an agreement's life, one fact per transition.

Every event is keyed by the agreement id, so one agreement's events stay in order. Fields added
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


class AgreementTransition(Payload):
    """An agreement moved from one status to another."""

    agreement_id: UUID
    title: str
    party_city_ids: list[UUID]
    status: str = Field(description="the agreement's new status")
    previous_status: str
    by_city_id: UUID | None = Field(
        description="the party whose officer did it; null when the platform did (expiry)"
    )
    by_subject: str | None = Field(
        description="the account that did it; null for an expiry run with no caller"
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


class AgreementExpired(AgreementTransition):
    not_accepted_city_ids: list[UUID] = Field(description="the parties that had not accepted")
    accept_by: datetime


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

# The changes of status after the acceptances: they share one payload shape.
AGREEMENT_TRANSITIONS = [
    AGREEMENT_ACTIVATED,
    AGREEMENT_SUSPENDED,
    AGREEMENT_RESUMED,
    AGREEMENT_CONCLUDED,
    AGREEMENT_TERMINATED,
    AGREEMENT_REJECTED,
    AGREEMENT_EXPIRED,
]

EVENTS = [AGREEMENT_PROPOSED, AGREEMENT_ACCEPTED, *AGREEMENT_TRANSITIONS]
