"""Conflict-profile tables (dated assessments, helping cities' readiness statements; both
append-only) and the schemas of their API."""

import uuid
from datetime import date, datetime
from typing import Annotated

from pydantic import ConfigDict, StringConstraints, field_validator, model_validator
from sqlalchemy import JSON, BigInteger, Column, Index, Integer
from sqlmodel import Field, SQLModel

from services.registry.conflict import domain
from services.registry.conflict.domain import (
    ConflictPhase,
    ConflictZone,
    Precondition,
    PreconditionMet,
)
from services.registry.models import RegistryTable
from shared.db import UTCDateTime, utcnow

# Ordered by insertion, not by clock: two assessments in the same microsecond, or a clock set
# back, must not change which one is the latest.
_SEQ = BigInteger().with_variant(Integer, "sqlite")


class ConflictAssessment(RegistryTable, table=True):
    """One dated assessment of a city; never updated: a new view is a new row."""

    __tablename__ = "conflict_assessments"
    __table_args__ = (Index("ix_conflict_assessments_city_seq", "city_id", "seq"),)

    seq: int | None = Field(default=None, primary_key=True, sa_type=_SEQ)
    id: uuid.UUID = Field(default_factory=uuid.uuid4, unique=True)
    city_id: uuid.UUID = Field(foreign_key="cities.id")
    zone: ConflictZone
    phase: ConflictPhase | None = None
    assessed_by: str = Field(max_length=100)  # the token subject of the assessor
    assessed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PreconditionAssessment(RegistryTable, table=True):
    __tablename__ = "conflict_precondition_assessments"

    assessment_id: uuid.UUID = Field(foreign_key="conflict_assessments.id", primary_key=True)
    precondition: Precondition = Field(primary_key=True)
    met: PreconditionMet
    assessed_on: date
    note: str | None = Field(default=None, max_length=domain.MAX_NOTE_LENGTH)


class DiplomacyReadinessStatement(RegistryTable, table=True):
    """What a helping city states about its readiness; a new statement supersedes, never
    overwrites, the previous one."""

    __tablename__ = "diplomacy_readiness_statements"
    __table_args__ = (Index("ix_diplomacy_readiness_city_seq", "city_id", "seq"),)

    seq: int | None = Field(default=None, primary_key=True, sa_type=_SEQ)
    city_id: uuid.UUID = Field(foreign_key="cities.id")
    motivation: str = Field(max_length=2000)
    result_objectives: list[str] = Field(sa_column=Column(JSON, nullable=False))
    commits_beyond_conflict: bool
    has_formal_policy: bool
    stated_by: str = Field(max_length=100)  # the token subject of the officer, for audit
    stated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PreconditionAssessmentBase(SQLModel):
    met: PreconditionMet
    assessed_on: date = Field(description="the day it was assessed; not in the future")
    note: str | None = Field(
        default=None,
        max_length=domain.MAX_NOTE_LENGTH,
        description="kept in the registry for those who may read the profile; never published",
    )


class PreconditionAssessmentCreate(PreconditionAssessmentBase):
    model_config = ConfigDict(extra="forbid")

    @field_validator("assessed_on")
    @classmethod
    def _not_in_the_future(cls, value: date) -> date:
        return domain.check_assessed_on(value, utcnow())

    @field_validator("note")
    @classmethod
    def _blank_is_no_note(cls, value: str | None) -> str | None:
        return (value.strip() or None) if value is not None else None


class PreconditionAssessmentPublic(PreconditionAssessmentBase):
    pass


class PreconditionsCreate(SQLModel):
    """The report's four preconditions, each assessed (met may be 'unknown')."""

    model_config = ConfigDict(extra="forbid")

    disarmament_or_pacification: PreconditionAssessmentCreate
    rule_of_law: PreconditionAssessmentCreate
    competent_local_officials: PreconditionAssessmentCreate
    local_elections: PreconditionAssessmentCreate = Field(description="helpful, not required")

    def by_precondition(self) -> dict[Precondition, PreconditionAssessmentCreate]:
        return {precondition: getattr(self, precondition) for precondition in Precondition}


class PreconditionsPublic(SQLModel):
    disarmament_or_pacification: PreconditionAssessmentPublic
    rule_of_law: PreconditionAssessmentPublic
    competent_local_officials: PreconditionAssessmentPublic
    local_elections: PreconditionAssessmentPublic


class AssessmentCreate(SQLModel):
    # No assessor, city or date of record here: they come from the token, the path and the
    # clock, and an extra field is a 422 rather than silently ignored.
    model_config = ConfigDict(extra="forbid")

    zone: ConflictZone
    phase: ConflictPhase | None = Field(
        default=None, description="required in a conflict zone or a zone of peace; else absent"
    )
    preconditions: PreconditionsCreate

    @model_validator(mode="after")
    def _phase_fits_zone(self) -> "AssessmentCreate":
        domain.check_phase(self.zone, self.phase)
        return self


class AssessmentPublic(SQLModel):
    id: uuid.UUID
    city_id: uuid.UUID
    zone: ConflictZone
    phase: ConflictPhase | None
    preconditions: PreconditionsPublic
    preconditions_hold: bool = Field(description="every required precondition is met")
    missing_preconditions: list[Precondition] = Field(
        description="required preconditions not (known to be) met"
    )
    assessed_by: str
    assessed_at: datetime


class ConflictProfilePublic(SQLModel):
    city_id: uuid.UUID
    in_conflict_zone: bool = Field(description="the latest assessment's zone is not 'none'")
    latest: AssessmentPublic | None = Field(description="null until a first assessment")
    history: list[AssessmentPublic] = Field(description="every assessment, newest first")


_Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
_Objective = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]


class DiplomacyReadinessBase(SQLModel):
    motivation: _Text = Field(description="why the city would help (its council and citizens ask)")
    result_objectives: list[_Objective] = Field(
        min_length=1, max_length=20, description="clear, even modest, results it aims for"
    )
    commits_beyond_conflict: bool = Field(description="it will stay engaged after the conflict")
    has_formal_policy: bool = Field(description="it has a formal city-diplomacy policy")


class DiplomacyReadinessUpdate(DiplomacyReadinessBase):
    model_config = ConfigDict(extra="forbid")


class DiplomacyReadinessStatementPublic(DiplomacyReadinessBase):
    stated_at: datetime


class DiplomacyReadinessPublic(SQLModel):
    city_id: uuid.UUID
    latest: DiplomacyReadinessStatementPublic | None = Field(description="null until stated")
    history: list[DiplomacyReadinessStatementPublic] = Field(
        description="every statement, newest first"
    )
