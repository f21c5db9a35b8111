"""Matching tables (its read model of the registry, and agreements) and its API schemas.

The read model (`KnownCity`, `KnownNeedOffer`, `KnownNetwork`, `KnownMembership`, and the
`PendingEvent`s held for cities not known yet) is built only from registry events, by
`services.matching.read_model`, and can be rebuilt from scratch by replaying the topic. Each row
keeps `version`: the `time` of the last registry event applied to it; an older event never
overwrites a newer state. Lists are JSON columns, replaced whole, never changed in place (a JSON
column does not notice in-place changes)."""

import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import (
    AwareDatetime,
    ConfigDict,
    StringConstraints,
    field_validator,
    model_validator,
)
from sqlalchemy import JSON, BigInteger, Column, Index, Text
from sqlalchemy import Enum as SAEnum
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from services.matching.domain import (
    DEFAULT_ACCEPTANCE_DAYS,
    AgreementKind,
    AgreementStatus,
)
from services.matching.interests import Answer, InterestKind, InterestStatus
from shared.db import UTCDateTime, utcnow
from shared.money import currency_code, from_minor_units, minor_units


class MatchingTable(SQLModel, registry=registry()):
    """Base of the matching service's tables: its own metadata, i.e. its own database."""


class KnownCity(MatchingTable, table=True):
    """A city as matching knows it, built only from registry events: its profile
    (CityRegistered, then CityUpdated), verification, the latest conflict assessment and the
    latest statement of readiness for city diplomacy."""

    __tablename__ = "known_cities"

    id: uuid.UUID = Field(primary_key=True)
    name: str
    country_code: str = Field(max_length=2)
    region: str | None = None
    population: int | None = None
    latitude: float | None = None
    longitude: float | None = None
    official_languages: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    is_ldc: bool | None = Field(default=None, description="null: not said by the registry")
    external_id: str | None = None
    verified: bool = False
    verified_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The latest ConflictProfileAssessed (none: never assessed).
    conflict_zone: str | None = None
    conflict_phase: str | None = None
    preconditions_hold: bool | None = None
    missing_preconditions: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    conflict_assessment_id: uuid.UUID | None = None
    conflict_assessed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The latest DiplomacyReadinessStated (none: never stated).
    commits_beyond_conflict: bool | None = None
    has_formal_policy: bool | None = None
    readiness_stated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # When the city registered (the CityRegistered event's time, so a rebuild gives it again).
    known_since: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # The time of the last event applied to the row, and of the last one applied to each field
    # or group of fields ("verified", "conflict", "readiness"): CityUpdated carries only the
    # fields it changed, so an older update is still applied to a field no newer event set.
    version: datetime = Field(sa_type=UTCDateTime)
    field_versions: dict[str, str] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )


class ItemKind(StrEnum):
    NEED = "need"
    OFFER = "offer"


class KnownNeedOffer(MatchingTable, table=True):
    """A need or an offer of a city, as its latest registry event described it."""

    __tablename__ = "known_needs_offers"
    # Partner suggestions (partners.top_partners) read the open items of some domains of a kind,
    # by city: with city_id in the index, which cities offer or need in which domains is read
    # from the index alone (a covering index), and a batch's items are found by all four.
    __table_args__ = (
        Index(
            "ix_known_needs_offers_kind_status_domain_city_id",
            "kind",
            "status",
            "domain",
            "city_id",
        ),
    )

    id: uuid.UUID = Field(primary_key=True)
    kind: ItemKind = Field(
        sa_type=SAEnum(ItemKind, native_enum=False, values_callable=lambda e: [m.value for m in e])
    )
    city_id: uuid.UUID = Field(index=True)
    title: str
    domain: str
    languages: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    forms: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    capacity_staff_days: int | None = None
    capacity_partners: int | None = None
    period_start: date
    period_end: date
    status: str = Field(description="open, matched or withdrawn")
    withdrawn_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    version: datetime = Field(sa_type=UTCDateTime)


class KnownNetwork(MatchingTable, table=True):
    __tablename__ = "known_networks"

    id: uuid.UUID = Field(primary_key=True)
    name: str
    acronym: str | None = None
    scope: str
    version: datetime = Field(sa_type=UTCDateTime)


class KnownMembership(MatchingTable, table=True):
    """A city's membership of a network, and the mandate it gives the network. A city that
    left stays, with `current` false (and no mandate)."""

    __tablename__ = "known_memberships"

    network_id: uuid.UUID = Field(primary_key=True)
    city_id: uuid.UUID = Field(primary_key=True, index=True)
    current: bool
    mandate: bool
    mandate_domains: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    changed_at: datetime = Field(sa_type=UTCDateTime)
    version: datetime = Field(sa_type=UTCDateTime)


class PendingEvent(MatchingTable, table=True):
    """An event about a city matching does not know yet (e.g. NeedPublished overtaking
    CityRegistered: they have different keys, so different partitions), held here and applied in
    the transaction that applies the city's CityRegistered."""

    __tablename__ = "pending_events"

    event_id: str = Field(primary_key=True, max_length=36)
    event_type: str = Field(max_length=100)
    city_id: uuid.UUID = Field(index=True)
    event_time: datetime = Field(sa_type=UTCDateTime)
    envelope: str = Field(sa_type=Text, description="the CloudEvent as received (JSON)")
    held_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


READ_MODEL_TABLES = (KnownCity, KnownNeedOffer, KnownNetwork, KnownMembership, PendingEvent)


def _str_enum(enum: type[StrEnum]) -> SAEnum:
    """Stored as its values in a plain column: a new value needs no ALTER TYPE on PostgreSQL."""
    return SAEnum(
        enum, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e]
    )


def _acceptance_deadline() -> datetime:
    return utcnow() + timedelta(days=DEFAULT_ACCEPTANCE_DAYS)


class Agreement(MatchingTable, table=True):
    __tablename__ = "agreements"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    title: str
    kind: AgreementKind = Field(sa_type=_str_enum(AgreementKind))
    status: AgreementStatus = Field(
        default=AgreementStatus.PROPOSED, sa_type=_str_enum(AgreementStatus), index=True
    )
    proposed_by_city_id: uuid.UUID
    proposed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    status_changed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # Every party must accept by then; past it, the expiry run moves a proposed agreement on.
    accept_by: datetime = Field(
        default_factory=_acceptance_deadline, sa_type=UTCDateTime, index=True
    )
    # Lists are JSON columns, replaced whole (ids as strings: JSON has no UUID).
    domains: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    need_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    offer_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    objectives: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    start_date: date | None = None
    end_date: date | None = None
    # The optional budget request, in integer minor units of its currency (never a float).
    budget_amount_minor: int | None = Field(default=None, sa_type=BigInteger)
    budget_currency: str | None = Field(default=None, max_length=3)
    # The accepted expression of interest it grew from, if any.
    interest_id: uuid.UUID | None = Field(default=None, index=True)
    # Partnership health: the time of the latest sign of life (its own steps, a party's
    # activity report, a funding event about it), and of the latest reminder that it is dormant.
    last_activity_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    dormancy_reminded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # What stands in the way of accepting or activating it, by cause (e.g. "need:<id>",
    # "conflict:<city id>") -> why, for people; set and cleared by `services.matching.reactions`.
    blocks: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))

    @property
    def budget_amount(self) -> Decimal | None:
        if self.budget_amount_minor is None or self.budget_currency is None:
            return None
        return from_minor_units(self.budget_amount_minor, self.budget_currency)


class AgreementParty(MatchingTable, table=True):
    __tablename__ = "agreement_parties"

    agreement_id: uuid.UUID = Field(foreign_key="agreements.id", primary_key=True)
    city_id: uuid.UUID = Field(primary_key=True, index=True)
    accepted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class AgreementHistoryEntry(MatchingTable, table=True):
    """One step of an agreement's life, dated: its proposal, each acceptance, each transition.
    Written in the transaction that makes the change, with its event; never changed."""

    __tablename__ = "agreement_events"

    id: int | None = Field(default=None, primary_key=True)
    agreement_id: uuid.UUID = Field(foreign_key="agreements.id", index=True)
    action: str = Field(max_length=20, description="propose, or an action of the lifecycle")
    from_status: AgreementStatus | None = Field(
        default=None, sa_type=_str_enum(AgreementStatus), nullable=True
    )
    to_status: AgreementStatus = Field(sa_type=_str_enum(AgreementStatus))
    by_city_id: uuid.UUID | None = None
    by_subject: str | None = Field(default=None, max_length=200)
    reason: str | None = Field(default=None, sa_type=Text)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class AgreementActivityReport(MatchingTable, table=True):
    """A party's short report of the partnership's work: a sign of life, kept and dated."""

    __tablename__ = "agreement_activity_reports"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    agreement_id: uuid.UUID = Field(foreign_key="agreements.id", index=True)
    city_id: uuid.UUID
    text: str = Field(sa_type=Text)
    by_subject: str = Field(max_length=200)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ConflictReaction(MatchingTable, table=True):
    """A conflict assessment agreements were made to react to (an escalation or the end of one).
    Kept out of the read model, so that rebuilding it by replaying the registry's topic does not
    suspend an agreement a second time (its parties may have resumed it since)."""

    __tablename__ = "conflict_reactions"

    assessment_id: uuid.UUID = Field(primary_key=True)
    city_id: uuid.UUID = Field(index=True)
    escalated: bool = Field(description="true: into active conflict; false: out of it")
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PartnershipInterest(MatchingTable, table=True):
    """An expression of interest from one city to another on a need (see
    `services.matching.interests`), seen only by the two cities and platform administrators."""

    __tablename__ = "partnership_interests"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    kind: InterestKind = Field(sa_type=_str_enum(InterestKind))
    status: InterestStatus = Field(
        default=InterestStatus.OPEN, sa_type=_str_enum(InterestStatus), index=True
    )
    from_city_id: uuid.UUID = Field(index=True)
    to_city_id: uuid.UUID = Field(index=True)
    need_id: uuid.UUID = Field(index=True)
    offer_id: uuid.UUID | None = Field(default=None, index=True)
    # The need's, when it was expressed: what a network's mandate is checked against.
    domain: str = Field(max_length=60)
    need_title: str
    message: str = Field(sa_type=Text)
    expressed_by_subject: str = Field(max_length=200)
    expressed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    answer_message: str | None = Field(default=None, sa_type=Text)
    answered_by_subject: str | None = Field(default=None, max_length=200)
    answered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Why it was withdrawn (the asker's words) or closed (the platform's).
    end_reason: str | None = Field(default=None, sa_type=Text)
    status_changed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    agreement_id: uuid.UUID | None = Field(default=None, description="the agreement it became")


class KnownCityPublic(SQLModel):
    id: uuid.UUID
    name: str
    country_code: str


DomainCode = Annotated[str, StringConstraints(min_length=2, max_length=60)]
Objective = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=500)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=2000)]


class BudgetRequest(SQLModel):
    model_config = ConfigDict(extra="forbid")

    amount: Decimal = Field(description="a decimal string, e.g. '48000.00'", max_digits=18)
    currency: str = Field(description="ISO 4217, e.g. 'EUR', 'XOF'")

    @field_validator("currency", mode="before")
    @classmethod
    def _check_currency(cls, value: object) -> object:
        return currency_code(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _amount_fits_currency(self) -> "BudgetRequest":
        minor_units(self.amount, self.currency)
        return self


class AgreementCreate(SQLModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=3, max_length=300)
    kind: AgreementKind = AgreementKind.BILATERAL
    party_city_ids: list[uuid.UUID] = Field(min_length=2, max_length=50)
    proposed_by_city_id: uuid.UUID
    domains: list[DomainCode] = Field(
        default_factory=list,
        max_length=16,
        description="codes of the domain taxonomy (the registry's GET /domains)",
    )
    need_ids: list[uuid.UUID] = Field(
        default_factory=list, max_length=50, description="open needs of the parties it answers"
    )
    offer_ids: list[uuid.UUID] = Field(
        default_factory=list, max_length=50, description="open offers of the parties it takes up"
    )
    objectives: list[Objective] = Field(default_factory=list, max_length=20)
    start_date: date | None = None
    end_date: date | None = Field(default=None, description="after start_date")
    budget_request: BudgetRequest | None = None
    accept_by: AwareDatetime | None = Field(
        default=None,
        description="every party must accept by then, or the agreement expires; default: "
        "the service's MATCHING_ACCEPTANCE_DAYS from now",
    )
    interest_id: uuid.UUID | None = Field(
        default=None,
        description="the accepted expression of interest it grows from; its need (and offer) "
        "are linked to the agreement",
    )


class AcceptanceCreate(SQLModel):
    model_config = ConfigDict(extra="forbid")

    city_id: uuid.UUID


class TransitionCreate(SQLModel):
    model_config = ConfigDict(extra="forbid")

    city_id: uuid.UUID = Field(description="the party the caller acts for")
    reason: Reason | None = None


class ReasonedTransitionCreate(SQLModel):
    model_config = ConfigDict(extra="forbid")

    city_id: uuid.UUID = Field(description="the party the caller acts for")
    reason: Reason


class PartyPublic(SQLModel):
    city_id: uuid.UUID
    accepted_at: datetime | None


class BudgetPublic(SQLModel):
    amount: Decimal
    currency: str


class HistoryEntryPublic(SQLModel):
    action: str
    from_status: AgreementStatus | None
    to_status: AgreementStatus
    by_city_id: uuid.UUID | None
    by_subject: str | None
    reason: str | None
    at: datetime


class AgreementPublic(SQLModel):
    id: uuid.UUID
    title: str
    kind: AgreementKind
    status: AgreementStatus
    proposed_by_city_id: uuid.UUID
    proposed_at: datetime
    status_changed_at: datetime
    accept_by: datetime
    parties: list[PartyPublic]
    domains: list[str]
    need_ids: list[uuid.UUID]
    offer_ids: list[uuid.UUID]
    objectives: list[str]
    start_date: date | None
    end_date: date | None
    budget_request: BudgetPublic | None
    interest_id: uuid.UUID | None
    last_activity_at: datetime = Field(description="its latest sign of life")
    blocks: list[str] = Field(
        description="why it can be neither accepted nor activated now (empty: nothing in the way)"
    )
    history: list[HistoryEntryPublic] = Field(description="every step of its life, oldest first")


class ExpiryRunPublic(SQLModel):
    ran_at: datetime
    expired: list[uuid.UUID] = Field(description="the agreements this run expired")
    expired_interests: list[uuid.UUID] = Field(
        description="the expressions of interest this run expired"
    )


class ActivityReportCreate(SQLModel):
    model_config = ConfigDict(extra="forbid")

    city_id: uuid.UUID = Field(description="the party the caller acts for")
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=4000)]


class ActivityReportPublic(SQLModel):
    id: uuid.UUID
    agreement_id: uuid.UUID
    city_id: uuid.UUID
    text: str
    by_subject: str
    at: datetime


class DormantAgreementPublic(SQLModel):
    id: uuid.UUID
    title: str
    party_city_ids: list[uuid.UUID]
    last_activity_at: datetime
    days_since_activity: int
    dormancy_reminded_at: datetime | None = Field(description="the latest reminder, if any")


class DormancyRunPublic(SQLModel):
    ran_at: datetime
    reminded: list[uuid.UUID] = Field(
        description="the dormant agreements whose parties it reminded"
    )


class InterestCreate(SQLModel):
    model_config = ConfigDict(extra="forbid")

    from_city_id: uuid.UUID = Field(description="the asking city, which the caller speaks for")
    to_city_id: uuid.UUID = Field(description="the city asked")
    need_id: uuid.UUID = Field(
        description="an open need of the asking city (a request) or of the city asked (an offer "
        "to help)"
    )
    offer_id: uuid.UUID | None = Field(
        default=None, description="an open offer of the city that would help with the need"
    )
    message: Reason


class InterestAnswerCreate(SQLModel):
    model_config = ConfigDict(extra="forbid")

    city_id: uuid.UUID = Field(description="the city asked, which the caller speaks for")
    answer: Answer
    message: Reason | None = Field(default=None, description="required to decline")


class InterestWithdrawalCreate(SQLModel):
    model_config = ConfigDict(extra="forbid")

    city_id: uuid.UUID = Field(description="the asking city, which the caller speaks for")
    reason: Reason | None = None


class InterestPublic(SQLModel):
    id: uuid.UUID
    kind: InterestKind
    status: InterestStatus
    from_city_id: uuid.UUID
    to_city_id: uuid.UUID
    need_id: uuid.UUID
    need_title: str
    offer_id: uuid.UUID | None
    domain: str
    message: str
    expressed_by_subject: str
    expressed_at: datetime
    answer_by: datetime | None = Field(
        description="while it is open: the city asked answers by then, or it expires "
        "(MATCHING_INTEREST_ANSWER_DAYS after it was expressed)"
    )
    answer_message: str | None
    answered_by_subject: str | None
    answered_at: datetime | None
    end_reason: str | None
    status_changed_at: datetime
    agreement_id: uuid.UUID | None


class ComponentPublic(SQLModel):
    name: str
    score: float
    weight: float
    explanation: str


class FitPublic(SQLModel):
    domain: str
    need_id: uuid.UUID
    need_title: str
    offer_id: uuid.UUID
    offer_title: str


class SuggestionPublic(SQLModel):
    partner: KnownCityPublic
    score: float = Field(description="0 to 1: the weighted mean of the components")
    components: list[ComponentPublic]
    they_help_us: list[FitPublic] = Field(description="their offers that meet our needs")
    we_help_them: list[FitPublic] = Field(description="our offers that meet their needs")
