"""Registry HTTP routes: thin, over the rules in `domain` and the tables in `models`."""

import uuid
from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import AfterValidator
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.registry import domain, events, search
from services.registry.conflict.domain import ConflictPhase
from services.registry.conflict.queries import cities_in_conflict_zone
from services.registry.data import LDC_LIST
from services.registry.identity.audit import audit
from services.registry.identity.grants import grant_role
from services.registry.models import City, CityCreate, CityPage, CityPublic, CityUpdate
from services.registry.needs_offers import domain as needs_offers_domain
from services.registry.search import CitySort
from shared.auth import Caller, Grant, Principal, Role, allow
from shared.contracts.registry.cities import (
    CITY_REGISTERED,
    CITY_UPDATED,
    CITY_VERIFIED,
    CityUpdated,
    CityVerified,
)
from shared.db import read_only, utcnow
from shared.errors import Conflict, DomainError, Forbidden, NotFound
from shared.idempotency import IdempotencyKeyHeader, idempotent
from shared.outbox import record_event
from shared.service import SessionDep

router = APIRouter(tags=["cities"])


def _public(city: City, *, contacts_visible: bool) -> CityPublic:
    return CityPublic.model_validate(
        city,
        update={
            "is_ldc": LDC_LIST.includes(city.country_code),
            "contacts": city.contacts if contacts_visible else None,
            "contacts_withheld": not contacts_visible,
        },
    )


async def _as_seen_by(
    session: AsyncSession, principal: Principal, cities: Sequence[City]
) -> list[CityPublic]:
    in_conflict = await cities_in_conflict_zone(session, [city.id for city in cities])
    return [
        _public(
            city,
            contacts_visible=domain.may_see_contacts(
                principal, city.id, in_conflict_zone=city.id in in_conflict
            ),
        )
        for city in cities
    ]


async def _city_with_external_id(session: AsyncSession, external_id: str | None) -> City | None:
    if external_id is None:
        return None
    return (await session.exec(select(City).where(City.external_id == external_id))).first()


def _check_external_id_country(external_id: str | None, country_code: str) -> None:
    if reason := domain.external_id_country_mismatch(external_id, country_code):
        raise DomainError(reason)


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
    the city stays unverified until a platform administrator verifies it. The same name in the
    same country, or the same external identifier, is a 409 naming the city already registered."""

    async def register() -> CityPublic:
        _check_external_id_country(body.external_id, body.country_code)
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
        if existing := await _city_with_external_id(session, body.external_id):
            raise Conflict(
                f"{body.external_id} already identifies {existing.name} "
                f"({existing.country_code}), registered as city {existing.id}; update that "
                "record instead of registering it again"
            )
        city = City.model_validate(
            body.model_dump(mode="json"),
            update={"name_key": name_key, "registered_by": principal.subject},
        )
        session.add(city)
        await session.flush()
        await record_event(session, CITY_REGISTERED, city.id, events.city_registered(city))
        if principal.kind == "user" and not principal.is_platform_admin:
            grant = Grant(Role.CITY_OFFICER, str(city.id))
            await grant_role(session, principal.subject, grant, granted_by=principal.subject)
        # The registrant gave the contacts; a city that did not exist has no conflict profile.
        return _public(city, contacts_visible=True)

    return await idempotent(session, request, idempotency_key, body, register)


@router.patch(
    "/cities/{city_id}",
    response_model=CityPublic,
    responses={
        403: {"description": "the caller is not an officer of this city"},
        409: {
            "description": "the external identifier belongs to another city; the message names it"
        },
    },
)
async def update_city(
    city_id: uuid.UUID,
    body: CityUpdate,
    session: SessionDep,
    principal: Annotated[Principal, Depends(allow(Role.CITY_OFFICER, Role.PLATFORM_ADMIN))],
) -> CityPublic:
    """Change the city's profile: region, population, coordinates, official languages, contact
    officials, external identifier. Name and country stay as registered; verification is not
    set here. Records CityUpdated with the fields that changed (contacts only as a flag); an
    update that changes nothing records nothing."""
    if not domain.may_edit_city(principal, city_id):
        raise Forbidden(
            f"only officers of city {city_id} or a platform administrator may update it"
        )
    city = await session.get(City, city_id, with_for_update=True)
    if city is None:
        raise NotFound(f"no city with id {city_id}")
    changed = domain.changes(city.model_dump(mode="json"), body.requested())
    if "external_id" in changed:
        _check_external_id_country(changed["external_id"], city.country_code)
        other = await _city_with_external_id(session, changed["external_id"])
        if other is not None:
            raise Conflict(
                f"{changed['external_id']} already identifies {other.name} "
                f"({other.country_code}), city {other.id}; one identifier names one city"
            )
    if changed:
        for field, value in changed.items():
            setattr(city, field, value)
        session.add(city)
        described = {field: value for field, value in changed.items() if field != "contacts"}
        payload = CityUpdated(
            city_id=city.id,
            changed=sorted(changed),
            contacts_changed="contacts" in changed,
            **described,
        )
        await record_event(session, CITY_UPDATED, city.id, payload)
        await session.commit()
    return _public(city, contacts_visible=True)


@router.post("/cities/{city_id}/verification", response_model=CityPublic)
async def verify_city(
    city_id: uuid.UUID,
    session: SessionDep,
    admin: Annotated[Principal, Depends(allow(Role.PLATFORM_ADMIN))],
) -> CityPublic:
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
    return _public(city, contacts_visible=True)


@router.get("/cities/{city_id}", response_model=CityPublic)
async def get_city(city_id: uuid.UUID, session: SessionDep, caller: Caller) -> CityPublic:
    """Contact officials of a city in a conflict zone are withheld from all but its officers and
    platform administrators (`contacts_withheld`)."""
    city = await session.get(City, city_id)
    if city is None:
        raise NotFound(f"no city with id {city_id}")
    [seen] = await _as_seen_by(session, caller, [city])
    return seen


CountryCode = Annotated[str, AfterValidator(domain.country_code)]
LanguageCode = Annotated[str, AfterValidator(domain.language_code)]
DomainCode = Annotated[str, AfterValidator(needs_offers_domain.domain_code)]


@router.get(
    "/cities",
    response_model=CityPage,
    responses={
        403: {"description": "conflict_phase was given by someone not a platform administrator"},
        422: {"description": "a filter or the sort is not understood; the message says which"},
    },
)
async def list_cities(
    session: SessionDep,
    caller: Caller,
    country: Annotated[
        list[CountryCode] | None,
        Query(description="ISO 3166-1 alpha-2; repeat it for any of several countries"),
    ] = None,
    region: Annotated[
        str | None, Query(max_length=200, description="exactly as the cities' profiles write it")
    ] = None,
    ldc: Annotated[
        bool | None,
        Query(description="true: cities of least developed countries; false: the others"),
    ] = None,
    language: Annotated[
        LanguageCode | None, Query(description="an official language, ISO 639 (e.g. 'fr', 'mos')")
    ] = None,
    domain_: Annotated[
        DomainCode | None,
        Query(
            alias="domain",
            description="cities with an open need or offer in this domain (GET /domains)",
        ),
    ] = None,
    network: Annotated[
        uuid.UUID | None, Query(description="current member cities of this network")
    ] = None,
    conflict_phase: Annotated[
        ConflictPhase | None,
        Query(
            description="the phase of the city's latest conflict assessment; platform "
            "administrators only, since conflict profiles are restricted"
        ),
    ] = None,
    q: Annotated[
        str | None,
        Query(
            max_length=200,
            description="free text found in the name (accents and case ignored) or the region",
        ),
    ] = None,
    sort: Annotated[CitySort, Query(description="'-' in front: descending")] = CitySort.NAME,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> CityPage:
    """Cities that meet every filter given, a page at a time, with how many meet them in all.
    Cities without a population come last in both population orders. Contact officials are
    withheld city by city, as for one city."""
    if conflict_phase is not None and not caller.is_platform_admin:
        raise Forbidden(
            "conflict_phase filters on conflict profiles, which only platform administrators "
            "may search; leave it out"
        )
    await read_only(session)  # a search must not take, or queue for, the write lock
    await search.check_network(session, network)
    filters = search.CityFilters(
        countries=country or (),
        region=region,
        ldc=ldc,
        language=language,
        domain=domain_,
        network_id=network,
        conflict_phase=conflict_phase,
        q=q,
    )
    cities, total = await search.page(
        session, City, search.city_conditions(filters), search.city_order(sort), limit, offset
    )
    return CityPage(
        items=await _as_seen_by(session, caller, cities),
        total=total,
        limit=limit,
        offset=offset,
    )
