"""Registry HTTP routes: thin, over the rules in `domain` and the tables in `models`."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from sqlmodel import col, func, select

from services.registry import domain
from services.registry.identity.audit import audit
from services.registry.identity.grants import grant_role
from services.registry.models import City, CityCreate, CityPage, CityPublic
from shared.auth import Caller, Grant, Principal, Role, allow
from shared.contracts.registry import CITY_REGISTERED, CITY_VERIFIED, CityRegistered, CityVerified
from shared.db import utcnow
from shared.errors import Conflict, NotFound
from shared.idempotency import IdempotencyKeyHeader, idempotent
from shared.outbox import record_event
from shared.service import SessionDep

router = APIRouter(tags=["cities"])


@router.post(
    "/cities",
    status_code=201,
    response_model=CityPublic,
    responses={409: {"description": "the city is already registered; the message names it"}},
)
async def register_city(
    body: CityCreate,
    session: SessionDep,
    request: Request,
    principal: Caller,
    idempotency_key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    """The registering account becomes the city's officer (refresh its token to act for it);
    the city stays unverified until a platform administrator verifies it."""

    async def register() -> CityPublic:
        name_key = domain.city_name_key(body.name)
        existing = (
            await session.exec(
                select(City).where(
                    City.country_code == body.country_code, City.name_key == name_key
                )
            )
        ).first()
        if existing:
            raise Conflict(
                f"{existing.name} ({existing.country_code}) is already registered as city "
                f"{existing.id}; update that record instead of registering it again"
            )
        city = City.model_validate(
            body, update={"name_key": name_key, "registered_by": principal.subject}
        )
        session.add(city)
        await session.flush()
        payload = CityRegistered(
            city_id=city.id,
            name=city.name,
            country_code=city.country_code,
            region=city.region,
            population=city.population,
        )
        await record_event(session, CITY_REGISTERED, city.id, payload)
        if principal.kind == "user" and not principal.is_platform_admin:
            grant = Grant(Role.CITY_OFFICER, str(city.id))
            await grant_role(session, principal.subject, grant, granted_by=principal.subject)
        return CityPublic.model_validate(city)

    return await idempotent(session, request, idempotency_key, body, register)


@router.post("/cities/{city_id}/verification", response_model=CityPublic)
async def verify_city(
    city_id: uuid.UUID,
    session: SessionDep,
    admin: Annotated[Principal, Depends(allow(Role.PLATFORM_ADMIN))],
) -> City:
    """Idempotent: verifying a verified city changes nothing."""
    city = await session.get(City, city_id, with_for_update=True)
    if city is None:
        raise NotFound(f"no city with id {city_id}")
    if city.verified_at is None:
        city.verified_at, city.verified_by = utcnow(), admin.subject
        session.add(city)
        audit(session, admin.subject, "city.verified", str(city_id))
        await record_event(
            session,
            CITY_VERIFIED,
            city.id,
            CityVerified(city_id=city.id, verified_by=admin.subject),
        )
        await session.commit()
    return city


@router.get("/cities/{city_id}", response_model=CityPublic)
async def get_city(city_id: uuid.UUID, session: SessionDep, _caller: Caller) -> City:
    city = await session.get(City, city_id)
    if city is None:
        raise NotFound(f"no city with id {city_id}")
    return city


@router.get("/cities", response_model=CityPage)
async def list_cities(
    session: SessionDep,
    _caller: Caller,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> CityPage:
    total = (await session.exec(select(func.count()).select_from(City))).one()
    cities = (
        await session.exec(
            select(City).order_by(col(City.name_key), col(City.id)).limit(limit).offset(offset)
        )
    ).all()
    return CityPage(
        items=[CityPublic.model_validate(c) for c in cities],
        total=total,
        limit=limit,
        offset=offset,
    )
