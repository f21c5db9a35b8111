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
