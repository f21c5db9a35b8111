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
    donor_name: str
    donor_kind: str
    amount: Decimal = Field(description="in `currency`, as a decimal string")
    currency: str = Field(description="ISO 4217")


FUND_CREATED = EventSpec("FundCreated", FundCreated, TOPIC, SOURCE, "A solidarity fund was set up.")
CONTRIBUTION_PLEDGED = EventSpec(
    "ContributionPledged", ContributionPledged, TOPIC, SOURCE, "A donor pledged money to a fund."
)

EVENTS = [FUND_CREATED, CONTRIBUTION_PLEDGED]
