"""Tables of networks and their memberships, and the schemas of their API."""

import uuid
from datetime import datetime
from typing import Annotated, Self

from pydantic import ConfigDict, HttpUrl, StringConstraints, field_validator, model_validator
from sqlalchemy import JSON, Column, Index, text
from sqlmodel import Field, SQLModel

from services.registry import domain as registry_domain
from services.registry.models import RegistryTable
from services.registry.networks import domain
from shared.contracts.registry.networks import NetworkScope
from shared.db import UTCDateTime, utcnow


class Network(RegistryTable, table=True):
    """A network or association of cities (UCLG, CITYNET, AIMF, a national association...)."""

    __tablename__ = "networks"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(max_length=200)
    name_key: str = Field(max_length=200, unique=True)
    acronym: str | None = Field(default=None, max_length=20)
    scope: NetworkScope
    country_code: str | None = Field(default=None, max_length=2)
    website: str | None = Field(default=None, max_length=2083)
    registered_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    registered_by: str = Field(max_length=100)


class NetworkMembership(RegistryTable, table=True):
    """One period of a city's membership of a network. A departure closes the row (left_at) and a
    later return opens a new one, so the history stays; at most one row per city and network is
    open, which the partial unique index holds even against concurrent joins."""

    __tablename__ = "network_memberships"
    __table_args__ = (
        Index(
            "uq_network_memberships_current",
            "network_id",
            "city_id",
            unique=True,
            sqlite_where=text("left_at IS NULL"),
            postgresql_where=text("left_at IS NULL"),
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    network_id: uuid.UUID = Field(foreign_key="networks.id", index=True)
    city_id: uuid.UUID = Field(foreign_key="cities.id", index=True)
    joined_at: datetime = Field(sa_type=UTCDateTime)
    joined_by: str = Field(max_length=100)
    left_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    left_by: str | None = Field(default=None, max_length=100)
    mandate: bool = False
    # Replaced whole, never changed in place: a JSON column does not notice in-place changes.
    mandate_domains: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    mandate_changed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    mandate_changed_by: str | None = Field(default=None, max_length=100)


class NetworkCreate(SQLModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    acronym: str | None = Field(default=None, min_length=1, max_length=20)
    scope: NetworkScope
    country_code: str | None = Field(
        default=None,
        min_length=2,
        max_length=2,
        description="ISO 3166-1 alpha-2, e.g. 'BE'; required for national networks, else absent",
    )
    website: HttpUrl | None = None

    @field_validator("name")
    @classmethod
    def _name_has_text(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a network name cannot be blank")
        return " ".join(value.split())

    @field_validator("country_code", mode="before")
    @classmethod
    def _known_country(cls, value: object) -> object:
        return registry_domain.country_code(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _country_iff_national(self) -> Self:
        domain.national_country(self.scope, self.country_code)
        return self


class NetworkPublic(SQLModel):
    id: uuid.UUID
    name: str
    acronym: str | None
    scope: NetworkScope
    country_code: str | None
    website: str | None
    registered_at: datetime


class NetworkPage(SQLModel):
    items: list[NetworkPublic]
    total: int
    limit: int
    offset: int


class MembershipCreate(SQLModel):
    model_config = ConfigDict(extra="forbid")

    city_id: uuid.UUID


DomainCode = Annotated[str, StringConstraints(max_length=100)]


class MandateUpdate(SQLModel):
    model_config = ConfigDict(extra="forbid")

    granted: bool
    domains: list[DomainCode] = Field(
        default_factory=list,
        max_length=50,
        description="domain codes the mandate is limited to; none: every domain",
    )

    @model_validator(mode="after")
    def _tidy_domains(self) -> Self:
        self.domains = domain.mandate_domains(self.granted, self.domains)
        return self


class MembershipPublic(SQLModel):
    id: uuid.UUID
    network_id: uuid.UUID
    city_id: uuid.UUID
    joined_at: datetime
    left_at: datetime | None
    mandate: bool
    mandate_domains: list[str]
    mandate_changed_at: datetime | None


class MembershipPage(SQLModel):
    items: list[MembershipPublic]
    total: int
    limit: int
    offset: int
