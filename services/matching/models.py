"""Matching tables (its read model of cities, and agreements) and its API schemas."""

import uuid
from datetime import datetime

from pydantic import ConfigDict
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from services.matching.domain import AgreementKind, AgreementStatus
from shared.db import UTCDateTime, utcnow


class MatchingTable(SQLModel, registry=registry()):
    """Base of the matching service's tables: its own metadata, i.e. its own database."""


class KnownCity(MatchingTable, table=True):
    """A city as matching knows it, built only from registry events."""

    __tablename__ = "known_cities"

    id: uuid.UUID = Field(primary_key=True)
    name: str
    country_code: str
    known_since: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Agreement(MatchingTable, table=True):
    __tablename__ = "agreements"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    title: str
    kind: AgreementKind
    status: AgreementStatus = Field(default=AgreementStatus.PROPOSED, index=True)
    proposed_by_city_id: uuid.UUID
    proposed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class AgreementParty(MatchingTable, table=True):
    __tablename__ = "agreement_parties"

    agreement_id: uuid.UUID = Field(foreign_key="agreements.id", primary_key=True)
    city_id: uuid.UUID = Field(primary_key=True, index=True)
    accepted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class KnownCityPublic(SQLModel):
    id: uuid.UUID
    name: str
    country_code: str


class AgreementCreate(SQLModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=3, max_length=300)
    kind: AgreementKind = AgreementKind.BILATERAL
    party_city_ids: list[uuid.UUID] = Field(min_length=2, max_length=50)
    proposed_by_city_id: uuid.UUID


class AcceptanceCreate(SQLModel):
    model_config = ConfigDict(extra="forbid")

    city_id: uuid.UUID


class PartyPublic(SQLModel):
    city_id: uuid.UUID
    accepted_at: datetime | None


class AgreementPublic(SQLModel):
    id: uuid.UUID
    title: str
    kind: AgreementKind
    status: AgreementStatus
    proposed_by_city_id: uuid.UUID
    proposed_at: datetime
    parties: list[PartyPublic]
