"""Grants tables and API schemas.

The read model (`KnownAgreement`, `KnownCity`) is built only from matching's and the registry's
events by `services.funding.grants.read_model`; the transparency reports read it too (agreement
id, parties, domains, status; city id, name, country, region, in a conflict zone). Each row keeps
the envelope `time` of the last event applied to each part it holds, so an older event never
overwrites a newer state. Lists and holds are JSON columns, replaced whole, never changed in
place (a JSON column does not notice in-place changes)."""

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import ConfigDict, field_validator, model_validator
from sqlalchemy import JSON, BigInteger, Column, Text, UniqueConstraint
from sqlalchemy import Enum as SAEnum
from sqlmodel import Field, SQLModel

from services.funding.grants.domain import (
    CONFLICT_ZONES,
    ApplicationStatus,
    BudgetLine,
    Decision,
    Milestone,
    ReviewDecision,
    ReviewKind,
    TrancheStatus,
    Visibility,
)
from services.funding.models import FundingTable
from shared import money
from shared.db import UTCDateTime, utcnow


def _str_enum(enum: type[StrEnum]) -> SAEnum:
    """Stored as its values in a plain column: a new value needs no ALTER TYPE on PostgreSQL."""
    return SAEnum(
        enum, native_enum=False, length=30, values_callable=lambda e: [m.value for m in e]
    )


# --- The read model --------------------------------------------------------------------------


class KnownAgreement(FundingTable, table=True):
    """An agreement as funding knows it from matching's events: who the parties are, its domains
    and its status. A transition heard before the proposal creates the row (title and parties
    travel with every agreement event); the domains come with the proposal."""

    __tablename__ = "known_agreements"

    id: uuid.UUID = Field(primary_key=True)
    title: str
    party_city_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    domains: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    status: str = Field(max_length=30)
    status_version: datetime = Field(sa_type=UTCDateTime)
    proposal_version: datetime | None = Field(default=None, sa_type=UTCDateTime)


class KnownCity(FundingTable, table=True):
    """A city as funding knows it from registry events: name, country and region
    (CityRegistered, the region also CityUpdated) and its latest conflict assessment
    (ConflictProfileAssessed). An update or an assessment heard before the registration creates
    the row, name and country unknown until then."""

    __tablename__ = "known_cities"

    id: uuid.UUID = Field(primary_key=True)
    name: str | None = None
    country_code: str | None = Field(default=None, max_length=2)
    region: str | None = None
    conflict_zone: str | None = Field(default=None, max_length=20)
    conflict_phase: str | None = Field(default=None, max_length=20)
    in_conflict_zone: bool = Field(
        default=False, description="in a conflict zone or a zone of peace inside one"
    )
    conflict_assessed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Name and country never change (CityRegistered sets them); the region may (CityUpdated).
    region_version: datetime | None = Field(default=None, sa_type=UTCDateTime)
    conflict_version: datetime | None = Field(default=None, sa_type=UTCDateTime)

    def assess(self, zone: str, phase: str | None, assessed_at: datetime) -> None:
        self.conflict_zone, self.conflict_phase = zone, phase
        self.in_conflict_zone = zone in CONFLICT_ZONES
        self.conflict_assessed_at = assessed_at


# --- Applications ----------------------------------------------------------------------------


class Application(FundingTable, table=True):
    __tablename__ = "grant_applications"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    fund_id: uuid.UUID = Field(foreign_key="funds.id", index=True)
    agreement_id: uuid.UUID = Field(index=True)
    applicant_city_id: uuid.UUID
    # The agreement's parties when it applied: who may act for the partnership on it.
    party_city_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    title: str = Field(max_length=200)
    currency: str = Field(max_length=3)
    status: ApplicationStatus = Field(sa_type=_str_enum(ApplicationStatus))
    version: int = Field(default=1, description="the current version's number")
    submitted_by: str = Field(max_length=100)
    submitted_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    decided_by: str | None = Field(default=None, max_length=100)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ApplicationVersion(FundingTable, table=True):
    """What was asked, version by version: the first submission and each amendment."""

    __tablename__ = "grant_application_versions"
    __table_args__ = (UniqueConstraint("application_id", "number"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    application_id: uuid.UUID = Field(foreign_key="grant_applications.id", index=True)
    number: int
    description: str = Field(sa_column=Column(Text, nullable=False))
    budget_lines: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    milestones: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    total_minor: int = Field(sa_type=BigInteger)
    note: str | None = Field(
        default=None, max_length=1000, description="what the amendment changes"
    )
    submitted_by: str = Field(max_length=100)
    submitted_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    def milestone_specs(self) -> list[Milestone]:
        return [
            Milestone(m["title"], date.fromisoformat(m["due_date"]), m["amount_minor"])
            for m in self.milestones
        ]


class Review(FundingTable, table=True):
    __tablename__ = "grant_reviews"
    # One review of each kind per version: a retry or a race cannot add a second.
    __table_args__ = (UniqueConstraint("application_id", "version", "kind"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    application_id: uuid.UUID = Field(foreign_key="grant_applications.id", index=True)
    version: int
    kind: ReviewKind = Field(sa_type=_str_enum(ReviewKind))
    reviewer: str = Field(max_length=100)
    decision: ReviewDecision = Field(sa_type=_str_enum(ReviewDecision))
    comment: str = Field(sa_column=Column(Text, nullable=False))
    reviewed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ApplicationComment(FundingTable, table=True):
    __tablename__ = "grant_comments"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    application_id: uuid.UUID = Field(foreign_key="grant_applications.id", index=True)
    version: int
    author: str = Field(max_length=100)
    visibility: Visibility = Field(sa_type=_str_enum(Visibility))
    text: str = Field(sa_column=Column(Text, nullable=False))
    written_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Tranche(FundingTable, table=True):
    """A milestone of an approved application and the money paid when it is reported."""

    __tablename__ = "grant_tranches"
    __table_args__ = (UniqueConstraint("application_id", "position"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    fund_id: uuid.UUID = Field(foreign_key="funds.id", index=True)
    application_id: uuid.UUID = Field(foreign_key="grant_applications.id", index=True)
    agreement_id: uuid.UUID = Field(index=True)
    position: int = Field(description="the milestone's position in the application, from 1")
    title: str = Field(max_length=200)
    due_date: date
    amount_minor: int = Field(sa_type=BigInteger)
    currency: str = Field(max_length=3)
    status: TrancheStatus = Field(sa_type=_str_enum(TrancheStatus))
    # Why it may not be paid now, by cause ("paused", "agreement", "conflict:<city id>").
    holds: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    report: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    reported_by: str | None = Field(default=None, max_length=100)
    reported_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    requested_by: str | None = Field(default=None, max_length=100)
    requested_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    disbursed_by: str | None = Field(default=None, max_length=100)
    disbursed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    def milestone(self) -> Milestone:
        return Milestone(self.title, self.due_date, self.amount_minor)


# --- API schemas -----------------------------------------------------------------------------


class _Body(SQLModel):
    # Unknown fields are refused: no caller sets a status, a fund, an amount's owner or an id.
    model_config = ConfigDict(extra="forbid")


class BudgetLineIn(_Body):
    label: str = Field(min_length=1, max_length=200)
    amount: Decimal = Field(description="a decimal string in the application's currency")


class MilestoneIn(_Body):
    title: str = Field(min_length=1, max_length=200)
    due_date: date
    tranche: Decimal = Field(description="paid when the milestone is reported; a decimal string")


class Proposal(_Body):
    """What an application asks for: the budget and the milestones paying it."""

    description: str = Field(min_length=1, max_length=20000)
    currency: str = Field(description="ISO 4217: the fund's currency")
    budget: list[BudgetLineIn] = Field(min_length=1, max_length=100)
    milestones: list[MilestoneIn] = Field(min_length=1, max_length=250)

    @field_validator("currency", mode="before")
    @classmethod
    def _iso(cls, value: object) -> object:
        return money.currency_code(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _amounts_fit_currency(self) -> "Proposal":
        self.budget_lines()
        self.milestone_specs()
        return self

    def budget_lines(self) -> list[BudgetLine]:
        return [
            BudgetLine(line.label, money.minor_units(line.amount, self.currency))
            for line in self.budget
        ]

    def milestone_specs(self) -> list[Milestone]:
        return [
            Milestone(m.title, m.due_date, money.minor_units(m.tranche, self.currency))
            for m in self.milestones
        ]


class ApplicationCreate(Proposal):
    agreement_id: uuid.UUID
    applicant_city_id: uuid.UUID = Field(description="the party applying; the caller's city")
    title: str = Field(min_length=3, max_length=200)


class ApplicationAmend(Proposal):
    note: str = Field(min_length=1, max_length=1000, description="what the amendment changes")


class Withdrawal(_Body):
    reason: str = Field(min_length=1, max_length=2000)


class ReviewCreate(_Body):
    kind: ReviewKind
    decision: ReviewDecision
    comment: str = Field(min_length=1, max_length=10000, description="shared with the applicant")


class DecisionCreate(_Body):
    decision: Decision
    comment: str = Field(min_length=1, max_length=10000, description="shared with the applicant")


class CommentCreate(_Body):
    text: str = Field(min_length=1, max_length=10000)
    visibility: Visibility = Visibility.SHARED


class MilestoneReport(_Body):
    report: str = Field(min_length=1, max_length=20000)


class TrancheNote(_Body):
    """A release, its approval or cancellation, a pause or a resumption, and why."""

    note: str = Field(default="", max_length=500)


class BudgetLinePublic(SQLModel):
    label: str
    amount: Decimal


class MilestonePublic(SQLModel):
    title: str
    due_date: date
    tranche: Decimal


class VersionPublic(SQLModel):
    number: int
    description: str
    budget: list[BudgetLinePublic]
    milestones: list[MilestonePublic]
    total: Decimal
    note: str | None
    submitted_by: str
    submitted_at: datetime

    @classmethod
    def of(cls, version: ApplicationVersion, currency: str) -> "VersionPublic":
        show = money.from_minor_units
        return cls(
            number=version.number,
            description=version.description,
            budget=[
                BudgetLinePublic(label=line["label"], amount=show(line["amount_minor"], currency))
                for line in version.budget_lines
            ],
            milestones=[
                MilestonePublic(
                    title=m.title, due_date=m.due_date, tranche=show(m.amount_minor, currency)
                )
                for m in version.milestone_specs()
            ],
            total=show(version.total_minor, currency),
            note=version.note,
            submitted_by=version.submitted_by,
            submitted_at=version.submitted_at,
        )


class ReviewPublic(SQLModel):
    version: int
    kind: ReviewKind
    reviewer: str
    decision: ReviewDecision
    comment: str
    reviewed_at: datetime


class CommentPublic(SQLModel):
    version: int
    author: str
    visibility: Visibility
    text: str
    written_at: datetime


class TranchePublic(SQLModel):
    id: uuid.UUID
    application_id: uuid.UUID
    agreement_id: uuid.UUID
    position: int
    title: str
    due_date: date
    amount: Decimal
    currency: str
    status: TrancheStatus
    holds: dict[str, str]
    report: str | None
    reported_at: datetime | None
    requested_by: str | None
    requested_at: datetime | None
    disbursed_by: str | None
    disbursed_at: datetime | None

    @classmethod
    def of(cls, tranche: Tranche) -> "TranchePublic":
        return cls.model_validate(
            tranche,
            update={"amount": money.from_minor_units(tranche.amount_minor, tranche.currency)},
        )


class ApplicationPublic(SQLModel):
    id: uuid.UUID
    fund_id: uuid.UUID
    agreement_id: uuid.UUID
    applicant_city_id: uuid.UUID
    party_city_ids: list[str]
    title: str
    currency: str
    status: ApplicationStatus
    version: int
    submitted_by: str
    submitted_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    versions: list[VersionPublic] = Field(description="every version, the current one last")
    reviews: list[ReviewPublic]
    comments: list[CommentPublic] = Field(description="internal ones for administrators only")
    tranches: list[TranchePublic] = Field(description="once approved: one per milestone")


class ApplicationSummary(SQLModel):
    id: uuid.UUID
    agreement_id: uuid.UUID
    applicant_city_id: uuid.UUID
    title: str
    status: ApplicationStatus
    version: int
    submitted_at: datetime
