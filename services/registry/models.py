"""Registry tables and the request/response schemas of its API."""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import AfterValidator, ConfigDict, field_validator, model_validator
from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from services.registry import domain
from shared.db import UTCDateTime, utcnow


class RegistryTable(SQLModel, registry=registry()):
    """Base of the registry's tables: their own metadata, i.e. the registry's own database."""


# Optional fields checked by a domain rule when present (the rule never sees a null).
Email = Annotated[str, AfterValidator(domain.email_address)]
Phone = Annotated[str, AfterValidator(domain.phone_number)]
ExternalId = Annotated[str, AfterValidator(domain.external_id)]


class ContactRole(StrEnum):
    MAYOR = "mayor"
    FOCAL_POINT = "focal_point"  # the official in charge of the city's partnerships
    OTHER = "other"


class ContactOfficial(SQLModel):
    """Someone to reach at the city. Personal data: never carried by events, and shown only to
    the city's officers and platform administrators while the city is in a conflict zone."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    role: ContactRole
    title: str | None = Field(
        default=None, max_length=200, description="e.g. 'Deputy mayor for external relations'"
    )
    email: Email | None = Field(default=None, max_length=254)
    phone: Phone | None = Field(default=None, max_length=40, description="e.g. '+228 22 21 00 00'")

    @field_validator("name")
    @classmethod
    def _name_has_text(cls, value: str) -> str:
        return domain.text(value, "contact's name")


class CityIdentity(SQLModel):
    """How the city registered and is known: fixed from then on (see CityUpdate)."""

    name: str = Field(min_length=1, max_length=200)
    country_code: str = Field(
        min_length=2, max_length=2, description="ISO 3166-1 alpha-2, e.g. 'FR'"
    )


class CityProfile(SQLModel):
    """What describes the city beyond its identity, kept up to date by its officers."""

    region: str | None = Field(default=None, max_length=200)
    population: int | None = Field(default=None, ge=0, le=100_000_000)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    external_id: ExternalId | None = Field(
        default=None,
        max_length=100,
        description="'geonames:<id>' or 'unlocode:<UN/LOCODE>'; one city per identifier",
    )


class CityLists(SQLModel):
    """The profile's lists as requests give them (the table keeps them as JSON)."""

    official_languages: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="ISO 639 codes, e.g. ['fr', 'ee']; stored as ISO 639-1 where one exists",
    )
    contacts: list[ContactOfficial] = Field(
        default_factory=list, max_length=20, description="the contact officials, as one list"
    )

    _languages = field_validator("official_languages")(domain.language_codes)


# Bases are listed last-first so that fields read in a natural order: identity, profile, lists.
class CityBase(CityProfile, CityIdentity):
    pass


class CityCreate(CityLists, CityBase):
    model_config = ConfigDict(extra="forbid")

    @field_validator("country_code", mode="before")
    @classmethod
    def _known_country(cls, value: object) -> object:
        return domain.country_code(value) if isinstance(value, str) else value

    @field_validator("name")
    @classmethod
    def _name_has_text(cls, value: str) -> str:
        return domain.text(value, "city name")

    @model_validator(mode="after")
    def _position(self) -> Self:
        domain.coordinates(self.latitude, self.longitude)
        return self


class CityUpdate(CityLists, CityProfile):
    """A field left out stays as it is; null clears it; a list sent replaces the list.
    Name and country cannot change: they are how the city registered and is known (the
    duplicate rule, other services' read models and officers' grants rest on them), and a city
    does not move to another country. Verification is a platform administrator's own act."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="after")
    def _position(self) -> Self:
        # Sent together even to clear them: one alone would leave half a position behind.
        if ("latitude" in self.model_fields_set) != ("longitude" in self.model_fields_set):
            raise ValueError("give latitude and longitude together, or neither")
        domain.coordinates(self.latitude, self.longitude)
        return self

    def requested(self) -> dict[str, Any]:
        """The fields sent, in the form the table stores them."""
        # Top-level fields only: a contact sent without a phone is stored with phone null.
        return self.model_dump(mode="json", include=self.model_fields_set)


class City(CityBase, RegistryTable, table=True):
    __tablename__ = "cities"
    __table_args__ = (
        UniqueConstraint("country_code", "name_key", name="uq_cities_country_name"),
        UniqueConstraint("external_id", name="uq_cities_external_id"),
        # Search (services/registry/search.py): each filter and each sort order has its index.
        # Every sort ends with the id, so the sort indexes do too. The country one carries the
        # id as well, so that the ids of some countries' cities (the needs of a country) come
        # from the index alone; with the name before the id, a query on both a country and a
        # list of ids cannot be planned as every country times every id.
        Index("ix_cities_country_code_name_key_id", "country_code", "name_key", "id"),
        Index("ix_cities_name_key_id", "name_key", "id"),
        Index("ix_cities_region_name_key", "region", "name_key"),
        Index("ix_cities_population_id", "population", "id"),
        Index("ix_cities_registered_at_id", "registered_at", "id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name_key: str = Field(max_length=200)
    official_languages: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    # ContactOfficial objects as JSON: they are always read and replaced as one list.
    contacts: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    registered_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    registered_by: str = Field(max_length=100)
    verified_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    verified_by: str | None = Field(default=None, max_length=100)


# Cities without a population come last in both orders. SQLite walks ix_cities_population_id for
# both; PostgreSQL walks it for the ascending order only, and needs this one for the descending.
Index(
    "ix_cities_population_desc_id",
    City.__table__.c.population.desc().nulls_last(),
    City.__table__.c.id.desc(),
).ddl_if(dialect="postgresql")


class CityPublic(CityBase):
    id: uuid.UUID
    official_languages: list[str]
    is_ldc: bool = Field(
        description="the country is on the UN list of least developed countries "
        "(services/registry/data/ldc.json): derived from the country, never set"
    )
    contacts: list[ContactOfficial] | None = Field(
        description="null when withheld (see contacts_withheld)"
    )
    contacts_withheld: bool = Field(
        description="the city is in a conflict zone: only its officers and platform "
        "administrators see its contact officials"
    )
    registered_at: datetime
    verified_at: datetime | None


class CityPage(SQLModel):
    items: list[CityPublic]
    total: int
    limit: int
    offset: int
