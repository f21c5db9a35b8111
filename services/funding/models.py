"""Funding tables and API schemas: funds, cash pledges with their instalments and receipts,
in-kind pledges with their deliveries. Amounts are integer minor units in tables and Decimal in
the API; balances are never stored (see ledger.balances)."""

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import ConfigDict, StringConstraints, field_validator, model_validator
from sqlalchemy import JSON, BigInteger, Column, UniqueConstraint
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from services.funding import domain
from services.funding.domain import DonorKind, Earmark, FundStatus, FundVisibility, PledgeStatus
from services.funding.reference import DOMAIN_CODES
from shared import money
from shared.db import ExactDecimal, UTCDateTime, utcnow


class FundingTable(SQLModel, registry=registry()):
    """Base of the funding service's tables: its own metadata, i.e. its own database."""


def _currency(value: object) -> object:
    return money.currency_code(value) if isinstance(value, str) else value


def _json_list() -> object:
    # Lists are JSON columns, replaced whole (never changed in place, which SQLAlchemy would miss).
    return Field(default_factory=list, sa_column=Column(JSON, nullable=False))


def _shown(minor: int, currency: str) -> Decimal:
    return money.from_minor_units(minor, currency)


def _plain(value: Decimal | None) -> Decimal | None:
    """A rate as given ('0.01', '1.065'), without the trailing zeros of its column's scale."""
    if value is None:
        return None
    normal = value.normalize()
    return normal.quantize(Decimal(1)) if normal.as_tuple().exponent > 0 else normal  # type: ignore[operator]


# --- funds -------------------------------------------------------------------------------------


class Fund(FundingTable, table=True):
    __tablename__ = "funds"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(unique=True)
    currency: str = Field(max_length=3)
    purpose: str = Field(default="", max_length=4000)
    eligible_domains: list[str] = _json_list()  # type: ignore[assignment]
    visibility: FundVisibility = FundVisibility.PUBLIC
    admin_fee_rate: Decimal = Field(default=Decimal(0), max_digits=7, decimal_places=6)
    # [{"name": ..., "role": ...}]: the governing committee, public by design.
    committee: list[dict[str, str]] = _json_list()  # type: ignore[assignment]
    # Token subjects the fund lists as its administrators. Access itself comes from the
    # registry's fund_admin:<fund> grants in the token; this list says who they are meant to be.
    administrators: list[str] = _json_list()  # type: ignore[assignment]
    status: FundStatus = FundStatus.OPEN
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closure_reason: str = Field(default="", max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


Subject = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class CommitteeMember(SQLModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    role: str = Field(min_length=1, max_length=200, description="e.g. 'chair', 'City of Lyon'")


def _fee_rate(value: Decimal | None) -> Decimal | None:
    return None if value is None else domain.check_fee_rate(value)


def _domains(value: list[str] | None) -> list[str] | None:
    return None if value is None else domain.check_domains(value, DOMAIN_CODES)


class _FundDescription(SQLModel):
    """What describes a fund, given at creation and changed by PATCH."""

    model_config = ConfigDict(extra="forbid")

    _check_fee_rate = field_validator("admin_fee_rate", check_fields=False)(_fee_rate)
    _check_domains = field_validator("eligible_domains", check_fields=False)(_domains)


class FundCreate(_FundDescription):
    name: str = Field(min_length=3, max_length=200)
    currency: str = Field(description="ISO 4217, e.g. 'EUR'")
    purpose: str = Field("", max_length=4000)
    eligible_domains: list[str] = Field(
        default_factory=list,
        max_length=100,
        description="codes of the registry's domain taxonomy (GET /domains); empty: any domain",
    )
    visibility: FundVisibility = FundVisibility.PUBLIC
    admin_fee_rate: Decimal = Field(
        Decimal(0), description="a fraction retained at each deposit: '0.01' for 1%"
    )
    committee: list[CommitteeMember] = Field(default_factory=list, max_length=50)
    administrators: list[Subject] = Field(
        default_factory=list, max_length=50, description="token subjects (account ids)"
    )

    _check_currency = field_validator("currency", mode="before")(_currency)


class FundUpdate(_FundDescription):
    """The fields to change; those left out stay. The currency never changes (the ledger is in
    it); a fund is closed with POST /funds/{id}/closure."""

    name: str | None = Field(None, min_length=3, max_length=200)
    purpose: str | None = Field(None, max_length=4000)
    eligible_domains: list[str] | None = Field(None, max_length=100)
    visibility: FundVisibility | None = None
    admin_fee_rate: Decimal | None = Field(None, description="applies to later receipts only")
    committee: list[CommitteeMember] | None = Field(None, max_length=50)
    administrators: list[Subject] | None = Field(None, max_length=50)

    @model_validator(mode="after")
    def _no_nulls(self) -> "FundUpdate":
        nulls = sorted(name for name in self.model_fields_set if getattr(self, name) is None)
        if nulls:
            raise ValueError(f"{', '.join(nulls)} cannot be null: leave a field out to keep it")
        return self


class FundClosure(SQLModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500)


class FundPublic(SQLModel):
    id: uuid.UUID
    name: str
    currency: str
    purpose: str
    eligible_domains: list[str]
    visibility: FundVisibility
    admin_fee_rate: Decimal
    committee: list[CommitteeMember]
    administrators: list[str]
    status: FundStatus
    closed_at: datetime | None
    closure_reason: str
    created_at: datetime
    updated_at: datetime

    _plain_rate = field_validator("admin_fee_rate")(_plain)


# --- earmarks ----------------------------------------------------------------------------------


class EarmarkColumns(FundingTable):
    """A pledge's earmark (see Earmark): at most one kind is set."""

    earmark_domain: str | None = Field(default=None, max_length=60)
    earmark_country: str | None = Field(default=None, max_length=2)
    earmark_region: str | None = Field(default=None, max_length=200)
    earmark_agreement_id: uuid.UUID | None = Field(default=None, index=True)

    @property
    def earmark(self) -> Earmark | None:
        found = Earmark(
            self.earmark_domain,
            self.earmark_country,
            self.earmark_region,
            self.earmark_agreement_id,
        )
        return None if found == Earmark() else found

    @staticmethod
    def columns_of(earmark: Earmark | None) -> dict[str, object]:
        found = earmark or Earmark()
        return {
            "earmark_domain": found.domain,
            "earmark_country": found.country_code,
            "earmark_region": found.region,
            "earmark_agreement_id": found.agreement_id,
        }


class EarmarkBody(SQLModel):
    """Exactly one of: a domain, a country (with an optional region), an agreement."""

    model_config = ConfigDict(extra="forbid")

    domain: str | None = Field(None, description="a code of the domain taxonomy")
    country_code: str | None = Field(None, description="ISO 3166-1 alpha-2, e.g. 'ML'")
    region: str | None = Field(
        None, min_length=1, max_length=200, description="a region of that country, by name"
    )
    agreement_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> "EarmarkBody":
        checked = domain.check_earmark(self.terms(), DOMAIN_CODES)
        self.country_code = checked.country_code
        return self

    def terms(self) -> Earmark:
        return Earmark(self.domain, self.country_code, self.region, self.agreement_id)

    @classmethod
    def of(cls, earmark: Earmark | None) -> "EarmarkBody | None":
        if earmark is None:
            return None
        return cls.model_construct(
            domain=earmark.domain,
            country_code=earmark.country_code,
            region=earmark.region,
            agreement_id=earmark.agreement_id,
        )


# --- cash pledges, instalments, receipts ---------------------------------------------------------


class Pledge(EarmarkColumns, table=True):
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
    # A cancellation writes off what was outstanding then (a ledger movement tells the same).
    cancelled_minor: int = Field(default=0, sa_type=BigInteger)
    cancelled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    cancellation_reason: str = Field(default="", max_length=500)


class Instalment(FundingTable, table=True):
    __tablename__ = "pledge_instalments"
    __table_args__ = (UniqueConstraint("pledge_id", "number"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    pledge_id: uuid.UUID = Field(foreign_key="pledges.id", index=True)
    number: int = Field(description="1 for the earliest due date")
    due_on: date = Field(index=True)
    amount_minor: int = Field(sa_type=BigInteger)
    # Set once, when the instalment was first found overdue (and InstalmentOverdue recorded).
    flagged_overdue_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Receipt(FundingTable, table=True):
    """Money received against a pledge, as received and as deposited in the fund's currency."""

    __tablename__ = "receipts"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    fund_id: uuid.UUID = Field(foreign_key="funds.id", index=True)
    pledge_id: uuid.UUID = Field(foreign_key="pledges.id", index=True)
    amount_minor: int = Field(sa_type=BigInteger, description="in the pledge's currency")
    currency: str = Field(max_length=3)
    fund_currency: str = Field(max_length=3)
    # Units of the fund's currency per unit received; None when the currencies are the same.
    exchange_rate: Decimal | None = Field(default=None, sa_type=ExactDecimal)
    rate_source: str = Field(default="", max_length=300)
    converted_minor: int = Field(sa_type=BigInteger, description="in the fund's currency")
    fee_rate: Decimal = Field(max_digits=7, decimal_places=6)
    fee_minor: int = Field(sa_type=BigInteger)
    received_on: date
    # [{"number": 1, "amount_minor": 100}]: the instalments this receipt paid, oldest first.
    instalments_paid: list[dict[str, int]] = _json_list()  # type: ignore[assignment]
    recorded_by: str = Field(max_length=100)
    recorded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class InstalmentBody(SQLModel):
    model_config = ConfigDict(extra="forbid")

    due_on: date
    amount: Decimal = Field(max_digits=18, description="in the pledge's currency")


class PledgeCreate(SQLModel):
    # Forbidding extra fields keeps donor_id, fund_id and status out of the caller's hands: a
    # client that sends them gets a 422 naming the field rather than a silently ignored value.
    model_config = ConfigDict(extra="forbid")

    donor_name: str = Field(min_length=1, max_length=200)
    donor_kind: DonorKind
    amount: Decimal = Field(description="a decimal string, e.g. '2500.00'", max_digits=18)
    currency: str = Field(description="ISO 4217; may differ from the fund's currency")
    instalments: list[InstalmentBody] = Field(
        default_factory=list,
        description="optional; they must add up to `amount`, on different due dates",
    )
    earmark: EarmarkBody | None = None

    _check_currency = field_validator("currency", mode="before")(_currency)

    @model_validator(mode="after")
    def _amounts_fit_currency(self) -> "PledgeCreate":
        domain.check_instalments(self.instalment_terms(), self.amount_minor(), self.currency)
        return self

    def amount_minor(self) -> int:
        return money.minor_units(self.amount, self.currency)

    def instalment_terms(self) -> list[domain.InstalmentTerms]:
        """Oldest first; validated by the model."""
        return sorted(
            (
                domain.InstalmentTerms(i.due_on, money.minor_units(i.amount, self.currency))
                for i in self.instalments
            ),
            key=lambda terms: terms.due_on,
        )


class InstalmentPublic(SQLModel):
    number: int
    due_on: date
    amount: Decimal
    received: Decimal
    outstanding: Decimal
    overdue: bool = Field(description="flagged as overdue (past due and not fully received)")


class PledgePublic(SQLModel):
    id: uuid.UUID
    fund_id: uuid.UUID
    donor_id: uuid.UUID | None = Field(description="None: an offline donor's pledge")
    donor_name: str
    donor_kind: DonorKind
    amount: Decimal
    currency: str
    pledged_at: datetime
    instalments: list[InstalmentPublic]
    earmark: EarmarkBody | None
    status: PledgeStatus
    received: Decimal = Field(description="in the pledge's currency")
    outstanding: Decimal = Field(description="in the pledge's currency; 0 once cancelled")
    cancelled: Decimal = Field(description="written off, in the pledge's currency")
    fund_currency: str
    received_in_fund_currency: Decimal = Field(description="as converted at each receipt")
    fees: Decimal = Field(description="administration fees retained, in the fund's currency")

    @classmethod
    def of(
        cls,
        pledge: Pledge,
        fund_currency: str,
        instalments: list[Instalment],
        receipts: list[Receipt],
    ) -> "PledgePublic":
        currency = pledge.currency
        received = sum(r.amount_minor for r in receipts)
        ordered = sorted(instalments, key=lambda i: i.due_on)
        allocated = domain.allocate_oldest_first([i.amount_minor for i in ordered], received)
        return cls.model_validate(
            pledge,
            update={
                "amount": _shown(pledge.amount_minor, currency),
                "instalments": [
                    InstalmentPublic(
                        number=i.number,
                        due_on=i.due_on,
                        amount=_shown(i.amount_minor, currency),
                        received=_shown(got, currency),
                        outstanding=_shown(
                            0 if pledge.cancelled_minor else i.amount_minor - got, currency
                        ),
                        overdue=i.flagged_overdue_at is not None,
                    )
                    for i, got in zip(ordered, allocated, strict=True)
                ],
                "earmark": EarmarkBody.of(pledge.earmark),
                "status": domain.pledge_status(
                    pledge.amount_minor, received, pledge.cancelled_minor
                ),
                "received": _shown(received, currency),
                "outstanding": _shown(
                    domain.outstanding_minor(pledge.amount_minor, received, pledge.cancelled_minor),
                    currency,
                ),
                "cancelled": _shown(pledge.cancelled_minor, currency),
                "fund_currency": fund_currency,
                "received_in_fund_currency": _shown(
                    sum(r.converted_minor for r in receipts), fund_currency
                ),
                "fees": _shown(sum(r.fee_minor for r in receipts), fund_currency),
            },
        )


class ReceiptCreate(SQLModel):
    model_config = ConfigDict(extra="forbid")

    amount: Decimal = Field(max_digits=18, description="in the pledge's currency, as received")
    received_on: date | None = Field(None, description="the value date; today if left out")
    exchange_rate: Decimal | None = Field(
        None,
        gt=0,
        max_digits=24,
        decimal_places=12,
        description="units of the fund's currency for 1 unit of the pledge's; required when "
        "they differ, fixed on the receipt and its ledger movement",
    )
    rate_source: str | None = Field(
        None,
        min_length=1,
        max_length=300,
        description="where the rate comes from, e.g. 'ECB reference rate 2026-11-20' or the "
        "bank's conversion advice; 'given by the fund administrator' if left out",
    )

    @field_validator("received_on")
    @classmethod
    def _not_in_the_future(cls, value: date | None) -> date | None:
        if value is not None and value > utcnow().date():
            raise ValueError(f"{value} is in the future: record money once it has arrived")
        return value


class InstalmentPaid(SQLModel):
    number: int
    amount: Decimal


class ReceiptPublic(SQLModel):
    id: uuid.UUID
    fund_id: uuid.UUID
    pledge_id: uuid.UUID
    amount: Decimal = Field(description="as received, in `currency` (the pledge's)")
    currency: str
    exchange_rate: Decimal | None
    rate_source: str
    converted_amount: Decimal = Field(description="in `fund_currency`, at `exchange_rate`")
    fund_currency: str
    fee_rate: Decimal
    fee: Decimal = Field(description="administration fee retained, in `fund_currency`")
    net_amount: Decimal = Field(description="made available to the fund, in `fund_currency`")
    received_on: date
    instalments_paid: list[InstalmentPaid]
    recorded_at: datetime

    _plain_rates = field_validator("exchange_rate", "fee_rate")(_plain)

    @classmethod
    def of(cls, receipt: Receipt) -> "ReceiptPublic":
        fund_currency = receipt.fund_currency
        return cls.model_validate(
            receipt,
            update={
                "amount": _shown(receipt.amount_minor, receipt.currency),
                "converted_amount": _shown(receipt.converted_minor, fund_currency),
                "fee": _shown(receipt.fee_minor, fund_currency),
                "net_amount": _shown(receipt.converted_minor - receipt.fee_minor, fund_currency),
                "instalments_paid": [
                    InstalmentPaid(
                        number=paid["number"],
                        amount=_shown(paid["amount_minor"], receipt.currency),
                    )
                    for paid in receipt.instalments_paid
                ],
            },
        )


class PledgeCancellation(SQLModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500)


class OverdueInstalmentPublic(SQLModel):
    pledge_id: uuid.UUID
    number: int
    due_on: date
    unpaid: Decimal
    currency: str


class OverdueRunPublic(SQLModel):
    ran_on: date
    flagged: list[OverdueInstalmentPublic]


# --- in-kind expertise -------------------------------------------------------------------------


class InKindPledge(EarmarkColumns, table=True):
    """Staff-days of a profession, valued in the fund's currency at a recorded daily rate."""

    __tablename__ = "in_kind_pledges"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    fund_id: uuid.UUID = Field(foreign_key="funds.id", index=True)
    donor_id: uuid.UUID | None = Field(default=None, index=True)
    recorded_by: str = Field(max_length=100)
    donor_name: str
    donor_kind: DonorKind
    profession: str = Field(max_length=60)
    description: str = Field(default="", max_length=2000)
    staff_days: Decimal = Field(max_digits=10, decimal_places=2)
    daily_rate_minor: int = Field(sa_type=BigInteger)
    currency: str = Field(max_length=3, description="the fund's")
    rate_source: str = Field(max_length=1000)
    value_minor: int = Field(sa_type=BigInteger)
    pledged_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class InKindDelivery(FundingTable, table=True):
    __tablename__ = "in_kind_deliveries"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    in_kind_pledge_id: uuid.UUID = Field(foreign_key="in_kind_pledges.id", index=True)
    fund_id: uuid.UUID = Field(foreign_key="funds.id", index=True)
    agreement_id: uuid.UUID = Field(index=True)
    staff_days: Decimal = Field(max_digits=10, decimal_places=2)
    value_minor: int = Field(sa_type=BigInteger)
    delivered_on: date
    note: str = Field(default="", max_length=2000)
    recorded_by: str = Field(max_length=100)
    recorded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


def _staff_days() -> Decimal:
    return Field(gt=0, le=100_000, max_digits=10, decimal_places=2, description="e.g. '12.5'")


class InKindPledgeCreate(SQLModel):
    model_config = ConfigDict(extra="forbid")

    donor_name: str = Field(min_length=1, max_length=200)
    donor_kind: DonorKind
    profession: Annotated[str, StringConstraints(pattern=r"^[a-z]+(-[a-z]+)*$")] = Field(
        max_length=60,
        description="a profession of the rate table (GET /in-kind-rates), or any with daily_rate, "
        "in lower case with hyphens (e.g. 'water-engineer')",
    )
    description: str = Field("", max_length=2000)
    staff_days: Decimal = _staff_days()
    daily_rate: Decimal | None = Field(
        None, max_digits=18, description="in the fund's currency; the rate table's if left out"
    )
    rate_source: str | None = Field(None, min_length=1, max_length=300)
    earmark: EarmarkBody | None = None


class InKindDeliveryPublic(SQLModel):
    id: uuid.UUID
    in_kind_pledge_id: uuid.UUID
    agreement_id: uuid.UUID
    staff_days: Decimal
    value: Decimal
    currency: str
    delivered_on: date
    note: str

    _plain_days = field_validator("staff_days")(_plain)

    @classmethod
    def of(cls, delivery: InKindDelivery, currency: str) -> "InKindDeliveryPublic":
        return cls.model_validate(
            delivery,
            update={"value": _shown(delivery.value_minor, currency), "currency": currency},
        )


class InKindPledgePublic(SQLModel):
    id: uuid.UUID
    fund_id: uuid.UUID
    donor_id: uuid.UUID | None
    donor_name: str
    donor_kind: DonorKind
    profession: str
    description: str
    staff_days: Decimal
    daily_rate: Decimal
    currency: str
    rate_source: str
    value: Decimal
    earmark: EarmarkBody | None
    staff_days_delivered: Decimal
    value_delivered: Decimal
    deliveries: list[InKindDeliveryPublic] = Field(description="to which partnerships, when")
    pledged_at: datetime

    _plain_days = field_validator("staff_days", "staff_days_delivered")(_plain)

    @classmethod
    def of(cls, pledge: InKindPledge, deliveries: list[InKindDelivery]) -> "InKindPledgePublic":
        currency = pledge.currency
        return cls.model_validate(
            pledge,
            update={
                "daily_rate": _shown(pledge.daily_rate_minor, currency),
                "value": _shown(pledge.value_minor, currency),
                "earmark": EarmarkBody.of(pledge.earmark),
                "staff_days_delivered": sum((d.staff_days for d in deliveries), Decimal(0)),
                "value_delivered": _shown(sum(d.value_minor for d in deliveries), currency),
                "deliveries": [InKindDeliveryPublic.of(d, currency) for d in deliveries],
            },
        )


class InKindDeliveryCreate(SQLModel):
    model_config = ConfigDict(extra="forbid")

    agreement_id: uuid.UUID = Field(description="the partnership the expertise went to")
    staff_days: Decimal = _staff_days()
    delivered_on: date
    note: str = Field("", max_length=2000)

    @field_validator("delivered_on")
    @classmethod
    def _not_in_the_future(cls, value: date) -> date:
        if value > utcnow().date():
            raise ValueError(f"{value} is in the future: report delivery once it happened")
        return value


class InKindRatePublic(SQLModel):
    profession: str
    label: str
    currency: str
    daily_rate: Decimal
    source: str


# --- balances ----------------------------------------------------------------------------------


class TechnicalAssistance(SQLModel):
    pledged: Decimal = Field(description="value of the staff-days pledged")
    delivered: Decimal
    to_deliver: Decimal


class CurrencyBalances(SQLModel):
    """One currency's balances. `pledged` and `outstanding` are in the currency donors pledged
    in; `received` and what follows from it are in the currency the money is held in."""

    currency: str
    pledged: Decimal
    outstanding: Decimal
    received: Decimal = Field(description="gross of fees: available + committed + disbursed + fees")
    admin_fees: Decimal
    available: Decimal
    committed: Decimal
    disbursed: Decimal
    technical_assistance: TechnicalAssistance = Field(
        description="in-kind expertise, valued; never part of the cash balances"
    )


class FundBalances(SQLModel):
    fund_id: uuid.UUID
    fund_currency: str
    balances: list[CurrencyBalances] = Field(description="per currency, derived from the ledger")
