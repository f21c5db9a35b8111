"""Needs and offers: one table for both kinds (a `kind` column), the revisions that keep their
history, and the API schemas. The API groups capacity and period into objects, so that a PATCH
replaces each as a whole and its rule (at least one capacity, end after start) is checked on the
request alone; the table keeps them as plain columns."""

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Self

import sqlalchemy as sa
from pydantic import AfterValidator, ConfigDict, model_validator
from sqlmodel import Field, SQLModel

from services.registry.models import RegistryTable
from services.registry.needs_offers import domain
from services.registry.needs_offers.domain import Action, Form, Kind, Status
from shared.db import UTCDateTime, utcnow


def _enum(enum: type[StrEnum]) -> sa.Enum:
    # Stored as its value ('need', not 'NEED') in a plain string column: readable in the
    # database, and a new value needs no ALTER TYPE on PostgreSQL.
    return sa.Enum(enum, native_enum=False, values_callable=lambda e: [m.value for m in e])


class NeedOffer(RegistryTable, table=True):
    """A need or an offer of one city. Never deleted: withdrawing sets the status."""

    __tablename__ = "needs_offers"
    __table_args__ = (
        sa.Index("ix_needs_offers_city_kind_status", "city_id", "kind", "status"),
        # Search (services/registry/search.py): GET /needs and /offers filter on kind and status
        # always, on the domain often, and sort by publication or start of the period; GET
        # /cities?domain= asks which cities have an open one in a domain.
        sa.Index("ix_needs_offers_kind_status_published", "kind", "status", "published_at", "id"),
        sa.Index("ix_needs_offers_kind_status_period", "kind", "status", "period_start", "id"),
        sa.Index(
            "ix_needs_offers_kind_status_domain_published",
            "kind",
            "status",
            "domain",
            "published_at",
            "id",
        ),
        sa.Index("ix_needs_offers_domain_status_city", "domain", "status", "city_id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    kind: Kind = Field(sa_type=_enum(Kind))
    city_id: uuid.UUID = Field(foreign_key="cities.id")
    status: Status = Field(default=Status.OPEN, sa_type=_enum(Status))
    title: str = Field(max_length=domain.MAX_TITLE)
    description: str = Field(max_length=domain.MAX_DESCRIPTION)
    domain: str = Field(max_length=60)
    languages: list[str] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    forms: list[str] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    capacity_staff_days: int | None = None
    capacity_partners: int | None = None
    period_start: date
    period_end: date
    published_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    withdrawn_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    def fields(self) -> "NeedOfferFields":
        return NeedOfferFields(
            title=self.title,
            description=self.description,
            domain=self.domain,
            languages=self.languages,
            forms=[Form(form) for form in self.forms],
            capacity=Capacity(staff_days=self.capacity_staff_days, partners=self.capacity_partners),
            period=Period(start=self.period_start, end=self.period_end),
        )

    def set_fields(self, fields: "NeedOfferFields") -> None:
        self.title, self.description, self.domain = fields.title, fields.description, fields.domain
        # New lists, so that the JSON columns are seen as changed.
        self.languages = list(fields.languages)
        self.forms = [form.value for form in fields.forms]
        self.capacity_staff_days = fields.capacity.staff_days
        self.capacity_partners = fields.capacity.partners
        self.period_start, self.period_end = fields.period.start, fields.period.end


class NeedOfferRevision(RegistryTable, table=True):
    """One change of a need or an offer: what changed, who changed it, when. Only appended."""

    __tablename__ = "need_offer_revisions"

    seq: int | None = Field(
        default=None, primary_key=True, sa_type=sa.BigInteger().with_variant(sa.Integer, "sqlite")
    )
    item_id: uuid.UUID = Field(foreign_key="needs_offers.id", index=True)
    action: Action = Field(sa_type=_enum(Action))
    actor: str = Field(max_length=100, description="the token subject that made the change")
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    changes: dict[str, Any] = Field(sa_column=sa.Column(sa.JSON, nullable=False))


# Field types of the request schemas, each with its rule, shared by publication and update.
Title = Annotated[
    str, Field(min_length=1, max_length=domain.MAX_TITLE), AfterValidator(domain.one_line)
]
Description = Annotated[
    str, Field(min_length=1, max_length=domain.MAX_DESCRIPTION), AfterValidator(domain.paragraphs)
]
DomainCode = Annotated[
    str,
    Field(max_length=60, description="a code from GET /domains, e.g. 'waste-collection'"),
    AfterValidator(domain.domain_code),
]
Languages = Annotated[
    list[Annotated[str, Field(max_length=3)]],
    Field(min_length=1, max_length=20, description="ISO 639 codes, e.g. ['fr', 'ee']"),
    AfterValidator(domain.language_codes),
]
Forms = Annotated[
    list[Form], Field(min_length=1, max_length=len(Form)), AfterValidator(domain.unique)
]


class Capacity(SQLModel):
    model_config = ConfigDict(extra="forbid")

    # Upper bounds keep the numbers inside a database integer and catch slips (2000 for 20).
    staff_days: int | None = Field(
        default=None, ge=1, le=10_000, description="staff-days of work asked for or offered"
    )
    partners: int | None = Field(
        default=None, ge=1, le=100, description="how many partner cities it can take on"
    )

    @model_validator(mode="after")
    def _at_least_one(self) -> Self:
        domain.check_capacity(self.staff_days, self.partners)
        return self


class Period(SQLModel):
    model_config = ConfigDict(extra="forbid")

    start: date
    end: date

    @model_validator(mode="after")
    def _ends_after_start(self) -> Self:
        domain.check_period(self.start, self.end)
        return self


class NeedOfferFields(SQLModel):
    """What the publishing city says about a need or an offer, as it is stored: its editable
    fields. Not validated again on the way out, so a record stays readable whatever happens to
    the taxonomy's labels."""

    title: str
    description: str
    domain: str
    languages: list[str]
    forms: list[Form]
    capacity: Capacity
    period: Period


class NeedOfferCreate(NeedOfferFields):
    model_config = ConfigDict(extra="forbid")  # no status, id or city from the body

    title: Title
    description: Description
    domain: DomainCode
    languages: Languages
    forms: Forms


class NeedOfferUpdate(SQLModel):
    """The fields a PATCH may change; the status only changes through its own routes."""

    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    description: Description | None = None
    domain: DomainCode | None = None
    languages: Languages | None = None
    forms: Forms | None = None
    capacity: Capacity | None = Field(default=None, description="replaces the capacity whole")
    period: Period | None = Field(default=None, description="replaces the period whole")

    @model_validator(mode="after")
    def _no_nulls(self) -> Self:
        # Every field is required on a need or an offer: leaving it out keeps it, null cannot.
        nulls = sorted(name for name in self.model_fields_set if getattr(self, name) is None)
        if nulls:
            raise ValueError(f"{', '.join(nulls)} cannot be null; leave a field out to keep it")
        return self


class NeedOfferPublic(NeedOfferFields):
    id: uuid.UUID
    kind: Kind
    city_id: uuid.UUID
    status: Status
    published_at: datetime
    updated_at: datetime | None
    withdrawn_at: datetime | None

    @classmethod
    def of(cls, item: NeedOffer) -> "NeedOfferPublic":
        return cls(
            **item.fields().model_dump(),
            id=item.id,
            kind=item.kind,
            city_id=item.city_id,
            status=item.status,
            published_at=item.published_at,
            updated_at=item.updated_at,
            withdrawn_at=item.withdrawn_at,
        )


class NeedOfferPage(SQLModel):
    items: list[NeedOfferPublic]
    total: int
    limit: int
    offset: int


class FieldChange(SQLModel):
    before: Any
    after: Any


class RevisionPublic(SQLModel):
    at: datetime
    actor: str
    action: Action
    changes: dict[str, FieldChange]


class DomainPublic(SQLModel):
    code: str
    labels: dict[str, str]
