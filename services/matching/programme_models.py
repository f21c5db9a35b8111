"""Tables and schemas of the programme-level matching (trinnings, assignment runs), kept apart
from `models` so that each part of matching has one owner."""

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import ConfigDict, StringConstraints
from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from services.matching.models import (
    ComponentPublic,
    DomainCode,
    FitPublic,
    KnownCityPublic,
    MatchingTable,
)
from shared.db import UTCDateTime, utcnow

CountryCode = Annotated[str, StringConstraints(to_upper=True, pattern=r"^[A-Za-z]{2}$")]


class AssignmentRun(MatchingTable, table=True):
    """One run of the global assignment, kept as it answered: a proposal for the programme's
    officers to review, not a decision (agreements are still proposed and accepted by cities)."""

    __tablename__ = "assignment_runs"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    ran_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    by_subject: str = Field(max_length=200)
    result: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class SidePublic(SQLModel):
    cities: list[KnownCityPublic] = Field(description="the two cities of this side")
    score: float = Field(description="0 to 1, as a partner suggestion; 0 without any fit")
    components: list[ComponentPublic]
    first_helps_second: list[FitPublic]
    second_helps_first: list[FitPublic]


class TrinningPublic(SQLModel):
    partner: KnownCityPublic = Field(description="the other city of the conflict zone")
    helper: KnownCityPublic = Field(description="the helping city outside it")
    weakest_side: float = Field(description="what trinnings are ranked by first")
    total: float = Field(description="the sum of the three sides' scores, the second key")
    ranking: str = Field(description="why it ranks where it does")
    joint_domains: list[str] = Field(
        description="what both cities of the zone need and the helper offers"
    )
    sides: list[SidePublic] = Field(
        description="the requesting city with its partner, with the helper, and the partner "
        "with the helper"
    )


class AssignmentRunCreate(SQLModel):
    model_config = ConfigDict(extra="forbid")

    domains: list[DomainCode] = Field(
        default_factory=list, max_length=50, description="only needs and offers of these domains"
    )
    countries: list[CountryCode] = Field(
        default_factory=list,
        max_length=250,
        description="only cities of these countries (ISO 3166-1 alpha-2)",
    )
    max_per_city: int | None = Field(
        default=None, ge=1, le=1000, description="at most this many needs answered per city"
    )
    candidates_per_need: int = Field(
        default=20,
        ge=1,
        le=200,
        description="offers scored per need (all of them when fewer are compatible)",
    )


class ProposalPublic(SQLModel):
    domain: str
    need_id: uuid.UUID
    need_title: str
    need_city: KnownCityPublic
    offer_id: uuid.UUID
    offer_title: str
    offer_city: KnownCityPublic
    score: float
    components: list[ComponentPublic]


class UnmatchedPublic(SQLModel):
    need_id: uuid.UUID
    need_title: str
    domain: str
    city_id: uuid.UUID
    reason: str


class AssignmentRunPublic(SQLModel):
    id: uuid.UUID
    ran_at: datetime
    criteria: AssignmentRunCreate
    objective: str
    needs: int = Field(description="the needs the run tried to meet")
    matched: int
    total_score: float
    proposals: list[ProposalPublic]
    unmatched: list[UnmatchedPublic]
