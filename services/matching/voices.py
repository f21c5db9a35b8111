"""Who speaks for a city, and in which domains, as the routes ask it: what `domain.voice_domains`
needs (is the city in a conflict zone, which networks it mandated) read from matching's read
model. Expressions of interest and suggestions ask here; agreements, which only a city's own
officers propose and act on, ask `domain.check_acts_for`."""

import uuid
from typing import Annotated

from fastapi import Depends
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.matching import domain, partners
from services.matching.models import KnownCity, KnownMembership
from shared.auth import Principal, Role, allow

# Those who may read a city's matters (its suggestions, its expressions of interest): its
# officers, the officers of a network it mandated (object-level: `check_oversees`), and
# platform administrators.
Reader = Annotated[
    Principal, Depends(allow(Role.CITY_OFFICER, Role.NETWORK_OFFICER, Role.PLATFORM_ADMIN))
]


async def _mandates(session: AsyncSession, city_id: uuid.UUID) -> list[domain.Mandate]:
    rows = (
        await session.exec(
            select(KnownMembership).where(
                KnownMembership.city_id == city_id,
                col(KnownMembership.current),
                col(KnownMembership.mandate),
            )
        )
    ).all()
    return [domain.Mandate(m.network_id, frozenset(m.mandate_domains)) for m in rows]


async def _voice(
    session: AsyncSession, principal: Principal, city_id: uuid.UUID
) -> tuple[bool, frozenset[str] | None]:
    """Whether the city is in a conflict zone, and the domains in which the caller speaks for
    it (`domain.voice_domains`)."""
    city = await session.get(KnownCity, city_id)
    in_zone = city is not None and partners.in_conflict_zone(city)
    mandates = [] if principal.acts_for_city(city_id) else await _mandates(session, city_id)
    return in_zone, domain.voice_domains(principal, city_id, in_zone, mandates)


async def speaks_for(
    session: AsyncSession, principal: Principal, city_id: uuid.UUID, domain_code: str
) -> bool:
    if principal.acts_for_city(city_id):
        return True  # no need to look anything up
    _, domains = await _voice(session, principal, city_id)
    return domain.covers(domains, domain_code)


async def check_speaks_for(
    session: AsyncSession, principal: Principal, city_id: uuid.UUID, domain_code: str | None
) -> frozenset[str] | None:
    """Refused (403, saying why) unless the caller speaks for the city on a matter of
    `domain_code` (None: in some domain); else the domains it speaks for it in (None: all)."""
    if principal.acts_for_city(city_id):
        return None
    in_zone, domains = await _voice(session, principal, city_id)
    domain.check_speaks_for(principal, city_id, in_zone, domains, domain_code)
    return domains


async def check_oversees(
    session: AsyncSession, principal: Principal, city_id: uuid.UUID
) -> frozenset[str] | None:
    """For reading the city's matters: the domains the caller may see (None: all, as for the
    city's officers and platform administrators), or refused saying why."""
    if principal.is_platform_admin:
        return None
    return await check_speaks_for(session, principal, city_id, None)
