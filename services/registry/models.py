"""Registry tables and the request/response schemas of its API."""

import uuid
from datetime import datetime

from pydantic import ConfigDict, field_validator
from sqlalchemy import UniqueConstraint
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from services.registry import domain
from shared.db import UTCDateTime, utcnow


class RegistryTable(SQLModel, registry=registry()):
    """Base of the registry's tables: their own metadata, i.e. the registry's own database."""


class CityBase(SQLModel):
    name: str = Field(min_length=1, max_length=200)
    country_code: str = Field(
        min_length=2, max_length=2, description="ISO 3166-1 alpha-2, e.g. 'FR'"
    )
    region: str | None = Field(default=None, max_length=200)
    population: int | None = Field(default=None, ge=0, le=100_000_000)


class CityCreate(CityBase):
    model_config = ConfigDict(extra="forbid")

    @field_validator("country_code", mode="before")
    @classmethod
    def _known_country(cls, value: object) -> object:
        return domain.country_code(value) if isinstance(value, str) else value

    @field_validator("name")
    @classmethod
    def _name_has_text(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a city name cannot be blank")
        return " ".join(value.split())


class City(CityBase, RegistryTable, table=True):
    __tablename__ = "cities"
    __table_args__ = (UniqueConstraint("country_code", "name_key", name="uq_cities_country_name"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name_key: str = Field(max_length=200, index=True)
    registered_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    registered_by: str = Field(max_length=100)
    verified_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    verified_by: str | None = Field(default=None, max_length=100)


class CityPublic(CityBase):
    id: uuid.UUID
    registered_at: datetime
    verified_at: datetime | None


class CityPage(SQLModel):
    items: list[CityPublic]
    total: int
    limit: int
    offset: int
