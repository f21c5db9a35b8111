"""Funding tables and API schemas."""

import uuid
from datetime import datetime
from decimal import Decimal

from pydantic import ConfigDict, field_validator, model_validator
from sqlalchemy import BigInteger
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from services.funding.domain import DonorKind
from shared import money
from shared.db import UTCDateTime, utcnow


class FundingTable(SQLModel, registry=registry()):
    """Base of the funding service's tables: its own metadata, i.e. its own database."""


def _currency(value: object) -> object:
    return money.currency_code(value) if isinstance(value, str) else value


class Fund(FundingTable, table=True):
    __tablename__ = "funds"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(unique=True)
    currency: str = Field(max_length=3)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Pledge(FundingTable, table=True):
    __tablename__ = "pledges"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    fund_id: uuid.UUID = Field(foreign_key="funds.id", index=True)
    # The donor account the pledge is in the name of (from the donor's token); None for an
    # offline donor whose pledge a fund administrator recorded.
    donor_id: uuid.UUID | None = Field(default=None, index=True)
    recorded_by: str = Field(max_length=100)  # the token subject that recorded it, for audit
    donor_name: str
    donor_kind: DonorKind
    amount_minor: int = Field(sa_type=BigInteger)
    currency: str = Field(max_length=3)
    pledged_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class FundCreate(SQLModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=3, max_length=200)
    currency: str = Field(description="ISO 4217, e.g. 'EUR'")

    _check_currency = field_validator("currency", mode="before")(_currency)


class FundPublic(SQLModel):
    id: uuid.UUID
    name: str
    currency: str
    created_at: datetime


class PledgeCreate(SQLModel):
    # Forbidding extra fields keeps donor_id, fund_id and status out of the caller's hands: a
    # client that sends them gets a 422 naming the field rather than a silently ignored value.
    model_config = ConfigDict(extra="forbid")

    donor_name: str = Field(min_length=1, max_length=200)
    donor_kind: DonorKind
    amount: Decimal = Field(description="a decimal string, e.g. '2500.00'", max_digits=18)
    currency: str = Field(description="ISO 4217; may differ from the fund's currency")

    _check_currency = field_validator("currency", mode="before")(_currency)

    @model_validator(mode="after")
    def _amount_fits_currency(self) -> "PledgeCreate":
        money.minor_units(self.amount, self.currency)
        return self


class PledgePublic(SQLModel):
    id: uuid.UUID
    fund_id: uuid.UUID
    donor_id: uuid.UUID | None = Field(description="None: an offline donor's pledge")
    donor_name: str
    donor_kind: DonorKind
    amount: Decimal
    currency: str
    pledged_at: datetime

    @classmethod
    def of(cls, pledge: Pledge) -> "PledgePublic":
        return cls.model_validate(
            pledge,
            update={"amount": money.from_minor_units(pledge.amount_minor, pledge.currency)},
        )
