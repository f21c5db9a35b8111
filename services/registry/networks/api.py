"""Routes of networks and associations of cities, their member cities and the mandates those
cities give them; thin, over the rules in `domain`.

Networks are public by design (anyone may learn that UCLG or CITYNET exists); their rolls are for
signed-in callers. Platform administrators register networks; a city's officers or the network's
officers record a city joining or leaving; only the city's officers grant or withdraw the
network's mandate to act for it."""

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.registry.identity.audit import audit
from services.registry.models import City
from services.registry.networks import domain
from services.registry.networks.models import (
    MandateUpdate,
    MembershipCreate,
    MembershipPage,
    MembershipPublic,
    Network,
    NetworkCreate,
    NetworkMembership,
    NetworkPage,
    NetworkPublic,
)
from shared.auth import Caller, CityOfficer, PlatformAdmin, Principal, Public, Role, allow
from shared.contracts.registry.networks import (
    NETWORK_MEMBERSHIP_CHANGED,
    NETWORK_REGISTERED,
    MembershipChange,
    NetworkMembershipChanged,
    NetworkRegistered,
)
from shared.db import utcnow
from shared.errors import Conflict, NotFound
from shared.idempotency import IdempotencyKeyHeader, idempotent
from shared.outbox import record_event
from shared.service import SessionDep

router = APIRouter(tags=["networks"])

# The object check (this city, this network) is domain.check_may_change_membership's.
MembershipKeeper = Annotated[
    Principal, Depends(allow(Role.CITY_OFFICER, Role.NETWORK_OFFICER, Role.PLATFORM_ADMIN))
]


async def _network(session: AsyncSession, network_id: uuid.UUID) -> Network:
    network = await session.get(Network, network_id)
    if network is None:
        raise NotFound(f"no network with id {network_id}")
    return network


async def _city(session: AsyncSession, city_id: uuid.UUID) -> City:
    city = await session.get(City, city_id)
    if city is None:
        raise NotFound(f"no city with id {city_id}")
    return city


async def _latest_membership(
    session: AsyncSession, network: Network, city_id: uuid.UUID
) -> NetworkMembership:
    """The city's current membership, or its last one if it left; locked, since the caller is
    about to change it."""
    membership = (
        await session.exec(
            select(NetworkMembership)
            .where(NetworkMembership.network_id == network.id, NetworkMembership.city_id == city_id)
            .order_by(col(NetworkMembership.joined_at).desc())
            .limit(1)
            .with_for_update()
        )
    ).first()
    if membership is None:
        raise NotFound(f"city {city_id} is not, and never was, a member of {network.name}")
    return membership


async def _record_change(
    session: AsyncSession, membership: NetworkMembership, change: MembershipChange, at: datetime
) -> None:
    payload = NetworkMembershipChanged(
        network_id=membership.network_id,
        city_id=membership.city_id,
        change=change,
        mandate=membership.mandate,
        mandate_domains=membership.mandate_domains,
        at=at,
    )
    await record_event(session, NETWORK_MEMBERSHIP_CHANGED, membership.network_id, payload)


@router.post(
    "/networks",
    status_code=201,
    response_model=NetworkPublic,
    responses={409: {"description": "a network of that name exists; the message names it"}},
)
async def register_network(
    body: NetworkCreate,
    session: SessionDep,
    request: Request,
    admin: PlatformAdmin,
    idempotency_key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    async def register() -> NetworkPublic:
        name_key = domain.network_name_key(body.name)
        existing = (await session.exec(select(Network).where(Network.name_key == name_key))).first()
        if existing:
            raise Conflict(
                f"{existing.name} is already registered as network {existing.id}; "
                "use that record instead of registering it again"
            )
        network = Network(
            name=body.name,
            name_key=name_key,
            acronym=body.acronym,
            scope=body.scope,
            country_code=body.country_code,
            website=str(body.website) if body.website else None,
            registered_by=admin.subject,
        )
        session.add(network)
        await session.flush()
        payload = NetworkRegistered(
            network_id=network.id,
            name=network.name,
            acronym=network.acronym,
            scope=network.scope,
            country_code=network.country_code,
            website=network.website,
        )
        await record_event(session, NETWORK_REGISTERED, network.id, payload)
        return NetworkPublic.model_validate(network)

    return await idempotent(session, request, idempotency_key, body, register)


@router.get("/networks", response_model=NetworkPage)
async def list_networks(
    session: SessionDep,
    _public: Public,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> NetworkPage:
    total = (await session.exec(select(func.count()).select_from(Network))).one()
    networks = (
        await session.exec(
            select(Network)
            .order_by(col(Network.name_key), col(Network.id))
            .limit(limit)
            .offset(offset)
        )
    ).all()
    return NetworkPage(
        items=[NetworkPublic.model_validate(n) for n in networks],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get("/networks/{network_id}", response_model=NetworkPublic)
async def get_network(network_id: uuid.UUID, session: SessionDep, _public: Public) -> Network:
    return await _network(session, network_id)


@router.get("/networks/{network_id}/members", response_model=MembershipPage)
async def list_members(
    network_id: uuid.UUID,
    session: SessionDep,
    _caller: Caller,
    include_former: Annotated[
        bool, Query(description="also the memberships of cities that left")
    ] = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> MembershipPage:
    await _network(session, network_id)
    where = [NetworkMembership.network_id == network_id]
    if not include_former:
        where.append(col(NetworkMembership.left_at).is_(None))
    total = (
        await session.exec(select(func.count()).select_from(NetworkMembership).where(*where))
    ).one()
    memberships = (
        await session.exec(
            select(NetworkMembership)
            .where(*where)
            .order_by(col(NetworkMembership.joined_at), col(NetworkMembership.id))
            .limit(limit)
            .offset(offset)
        )
    ).all()
    return MembershipPage(
        items=[MembershipPublic.model_validate(m) for m in memberships],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.post(
    "/networks/{network_id}/members",
    status_code=201,
    response_model=MembershipPublic,
    responses={409: {"description": "the city is already a member; the message names it"}},
)
async def join_network(
    network_id: uuid.UUID,
    body: MembershipCreate,
    session: SessionDep,
    request: Request,
    principal: MembershipKeeper,
    idempotency_key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    """A city joins without giving the network any mandate: only the city grants that, later."""

    async def join() -> MembershipPublic:
        network = await _network(session, network_id)
        domain.check_may_change_membership(principal, network_id, body.city_id)
        city = await _city(session, body.city_id)
        active = (
            await session.exec(
                select(NetworkMembership).where(
                    NetworkMembership.network_id == network_id,
                    NetworkMembership.city_id == city.id,
                    col(NetworkMembership.left_at).is_(None),
                )
            )
        ).first()
        domain.check_not_a_member(active, city.name, network.name)
        membership = NetworkMembership(
            network_id=network_id,
            city_id=city.id,
            joined_at=utcnow(),
            joined_by=principal.subject,
        )
        session.add(membership)
        await session.flush()
        await _record_change(session, membership, MembershipChange.JOINED, membership.joined_at)
        return MembershipPublic.model_validate(membership)

    return await idempotent(session, request, idempotency_key, body, join)


@router.post("/networks/{network_id}/members/{city_id}/departure", response_model=MembershipPublic)
async def leave_network(
    network_id: uuid.UUID, city_id: uuid.UUID, session: SessionDep, principal: MembershipKeeper
) -> NetworkMembership:
    """Idempotent: recording a departure again changes nothing. The membership stays, closed, as
    history; the mandate ends with it."""
    network = await _network(session, network_id)
    domain.check_may_change_membership(principal, network_id, city_id)
    membership = await _latest_membership(session, network, city_id)
    if change := domain.departure(membership):
        now = utcnow()
        membership.left_at, membership.left_by = now, principal.subject
        membership.mandate, membership.mandate_domains = False, []
        session.add(membership)
        await _record_change(session, membership, change, now)
        await session.commit()
    return membership


@router.put("/networks/{network_id}/members/{city_id}/mandate", response_model=MembershipPublic)
async def set_mandate(
    network_id: uuid.UUID,
    city_id: uuid.UUID,
    body: MandateUpdate,
    session: SessionDep,
    officer: CityOfficer,
) -> NetworkMembership:
    """The city grants (or withdraws) the network's mandate to act for it, optionally limited to
    some domains. Only the city's officers may: city diplomacy is demand-driven, so a network
    never mandates itself (see domain.check_may_mandate). Sending the same decision again
    changes nothing."""
    network = await _network(session, network_id)
    domain.check_may_mandate(officer, city_id)
    membership = await _latest_membership(session, network, city_id)
    if change := domain.mandate_change(membership, body.granted, body.domains):
        membership.mandate, membership.mandate_domains = body.granted, body.domains
        now = utcnow()
        membership.mandate_changed_at, membership.mandate_changed_by = now, officer.subject
        session.add(membership)
        # A mandate lets the network act for the city: an authorization decision, so audited.
        audit(
            session,
            officer.subject,
            f"network.{change}",
            str(city_id),
            network_id=str(network_id),
            domains=body.domains,
        )
        await _record_change(session, membership, change, now)
        await session.commit()
    return membership
