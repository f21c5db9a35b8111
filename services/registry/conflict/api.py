"""Conflict profiles of cities, and helping cities' readiness for city diplomacy.

Both are dated histories, appended and never changed: what was believed about a city on a date
stays readable when a later assessment contradicts it. A conflict profile is read only by
platform administrators and the city's own officers; a readiness statement is public to members,
since a helping city states it for partners to read."""

import uuid
from collections import defaultdict
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.registry.conflict import domain
from services.registry.conflict.models import (
    AssessmentCreate,
    AssessmentPublic,
    ConflictAssessment,
    ConflictProfilePublic,
    DiplomacyReadinessPublic,
    DiplomacyReadinessStatement,
    DiplomacyReadinessStatementPublic,
    DiplomacyReadinessUpdate,
    PreconditionAssessment,
    PreconditionAssessmentPublic,
    PreconditionsPublic,
)
from services.registry.models import City
from shared.auth import Caller, CityOfficer, PlatformAdmin, Principal, Role, allow
from shared.contracts.registry.conflict import (
    CONFLICT_PROFILE_ASSESSED,
    DIPLOMACY_READINESS_STATED,
    ConflictProfileAssessed,
    DiplomacyReadinessStated,
)
from shared.errors import NotFound
from shared.idempotency import IdempotencyKeyHeader, idempotent
from shared.outbox import record_event
from shared.service import SessionDep

router = APIRouter(tags=["conflict profiles"])

ProfileReader = Annotated[Principal, Depends(allow(Role.PLATFORM_ADMIN, Role.CITY_OFFICER))]

_UNKNOWN_CITY = {404: {"description": "no such city"}}


async def _require_city(session: AsyncSession, city_id: uuid.UUID, *, lock: bool = False) -> None:
    if await session.get(City, city_id, with_for_update=lock) is None:
        raise NotFound(f"no city with id {city_id}")


def _assessment_public(
    assessment: ConflictAssessment, preconditions: list[PreconditionAssessment]
) -> AssessmentPublic:
    verdict = domain.preconditions_hold({p.precondition: p.met for p in preconditions})
    return AssessmentPublic.model_validate(
        assessment,
        update={
            "preconditions": PreconditionsPublic.model_validate(
                {
                    p.precondition: PreconditionAssessmentPublic.model_validate(p)
                    for p in preconditions
                }
            ),
            "preconditions_hold": verdict.hold,
            "missing_preconditions": verdict.missing,
        },
    )


def _assessed_event(assessment: AssessmentPublic) -> ConflictProfileAssessed:
    # Only each precondition's state and date: the notes stay here (see the contract).
    states: dict[str, object] = {}
    for name, given in assessment.preconditions:
        states[f"{name}_met"] = given.met
        states[f"{name}_assessed_on"] = given.assessed_on
    return ConflictProfileAssessed(
        assessment_id=assessment.id,
        city_id=assessment.city_id,
        zone=assessment.zone,
        phase=assessment.phase,
        preconditions_hold=assessment.preconditions_hold,
        missing_preconditions=[str(p) for p in assessment.missing_preconditions],
        assessed_at=assessment.assessed_at,
        **states,
    )


@router.post(
    "/cities/{city_id}/conflict-assessments",
    status_code=201,
    response_model=AssessmentPublic,
    responses=_UNKNOWN_CITY,
)
async def assess_conflict_profile(
    city_id: uuid.UUID,
    body: AssessmentCreate,
    session: SessionDep,
    request: Request,
    assessor: PlatformAdmin,
    idempotency_key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    """Add a dated assessment of the city's zone, phase and the report's preconditions; earlier
    assessments stay as they were. The assessor is the caller. Platform administrators assess
    for now; intermediaries on the ground (UNDP offices, UN civil-affairs units) are to get an
    assessor role of their own later."""

    async def assess() -> AssessmentPublic:
        await _require_city(session, city_id)
        assessment = ConflictAssessment(
            city_id=city_id, zone=body.zone, phase=body.phase, assessed_by=assessor.subject
        )
        preconditions = [
            PreconditionAssessment(
                assessment_id=assessment.id, precondition=precondition, **given.model_dump()
            )
            for precondition, given in body.preconditions.by_precondition().items()
        ]
        session.add(assessment)
        session.add_all(preconditions)
        await session.flush()
        public = _assessment_public(assessment, preconditions)
        await record_event(session, CONFLICT_PROFILE_ASSESSED, city_id, _assessed_event(public))
        return public

    return await idempotent(session, request, idempotency_key, body, assess)


@router.get(
    "/cities/{city_id}/conflict-profile",
    response_model=ConflictProfilePublic,
    responses={404: {"description": "no such city, or not one whose profile you may read"}},
)
async def get_conflict_profile(
    city_id: uuid.UUID, session: SessionDep, reader: ProfileReader
) -> ConflictProfilePublic:
    """The latest assessment and the whole history, newest first, each with whether the
    preconditions hold. Platform administrators and the city's officers only."""
    # Before the city is read, and the same answer whether or not it has a profile: whether a
    # city is assessed as being in a conflict zone is itself what must not leak.
    if not domain.may_read_profile(reader, city_id):
        raise NotFound(f"no conflict profile for city {city_id}")
    await _require_city(session, city_id)
    # A handful of assessments a year per city at most: the history is not paged.
    assessments = (
        await session.exec(
            select(ConflictAssessment)
            .where(ConflictAssessment.city_id == city_id)
            .order_by(col(ConflictAssessment.seq).desc())
        )
    ).all()
    rows = (
        await session.exec(
            select(PreconditionAssessment).where(
                col(PreconditionAssessment.assessment_id).in_([a.id for a in assessments])
            )
        )
    ).all()
    by_assessment: dict[uuid.UUID, list[PreconditionAssessment]] = defaultdict(list)
    for row in rows:
        by_assessment[row.assessment_id].append(row)
    history = [_assessment_public(a, by_assessment[a.id]) for a in assessments]
    latest = history[0] if history else None
    return ConflictProfilePublic(
        city_id=city_id,
        in_conflict_zone=latest is not None and domain.places_in_conflict_zone(latest.zone),
        latest=latest,
        history=history,
    )


async def _readiness_history(
    session: AsyncSession, city_id: uuid.UUID
) -> list[DiplomacyReadinessStatement]:
    return list(
        (
            await session.exec(
                select(DiplomacyReadinessStatement)
                .where(DiplomacyReadinessStatement.city_id == city_id)
                .order_by(col(DiplomacyReadinessStatement.seq).desc())
            )
        ).all()
    )


def _readiness_public(
    city_id: uuid.UUID, history: list[DiplomacyReadinessStatement]
) -> DiplomacyReadinessPublic:
    statements = [DiplomacyReadinessStatementPublic.model_validate(s) for s in history]
    return DiplomacyReadinessPublic(
        city_id=city_id, latest=statements[0] if statements else None, history=statements
    )


@router.put(
    "/cities/{city_id}/diplomacy-readiness",
    response_model=DiplomacyReadinessPublic,
    responses={403: {"description": "you do not act for this city"}, **_UNKNOWN_CITY},
)
async def state_diplomacy_readiness(
    city_id: uuid.UUID, body: DiplomacyReadinessUpdate, session: SessionDep, officer: CityOfficer
) -> DiplomacyReadinessPublic:
    """The city's officer states its readiness to help cities in conflict zones. A changed
    statement becomes the latest and the earlier ones stay in the history; sending the current
    statement again changes nothing, so a retried PUT adds no entry and no event."""
    # Before the city is read, so a 403 says nothing about whether it exists.
    domain.check_states_readiness_for(officer, city_id)
    # Locked so that two statements of one city are compared and appended one after the other.
    await _require_city(session, city_id, lock=True)
    history = await _readiness_history(session, city_id)
    stated = body.model_dump()
    if not history or history[0].model_dump(include=set(stated)) != stated:
        statement = DiplomacyReadinessStatement(
            city_id=city_id, stated_by=officer.subject, **stated
        )
        session.add(statement)
        await session.flush()
        await record_event(
            session,
            DIPLOMACY_READINESS_STATED,
            city_id,
            DiplomacyReadinessStated.model_validate(statement, from_attributes=True),
        )
        await session.commit()
        history.insert(0, statement)
    return _readiness_public(city_id, history)


@router.get(
    "/cities/{city_id}/diplomacy-readiness",
    response_model=DiplomacyReadinessPublic,
    responses=_UNKNOWN_CITY,
)
async def get_diplomacy_readiness(
    city_id: uuid.UUID, session: SessionDep, _caller: Caller
) -> DiplomacyReadinessPublic:
    """What the city states publicly about its readiness, latest first."""
    await _require_city(session, city_id)
    return _readiness_public(city_id, await _readiness_history(session, city_id))
