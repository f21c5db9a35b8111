"""Who speaks for a city, and in which domains, as the routes ask it: what `domain.voice_domains`
needs (is the city in a conflict zone, which networks it mandated) read from matching's read
model. Expressions of interest, suggestions and agreements ask here."""

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
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
# Those who may speak for a city (ask, answer, propose and act on agreements): its officers, and
# the officers of a network it mandated (object-level: `check_speaks_for`).
Speaker = Annotated[Principal, Depends(allow(Role.CITY_OFFICER, Role.NETWORK_OFFICER))]
Reader = Annotated[
    Principal, Depends(allow(Role.CITY_OFFICER, Role.NETWORK_OFFICER, Role.PLATFORM_ADMIN))
]


async def _mandates(
    session: AsyncSession, city_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[domain.Mandate]]:
    """The current mandates each city gave, in one query whatever their number."""
    found: dict[uuid.UUID, list[domain.Mandate]] = {city_id: [] for city_id in city_ids}
    if found:
        for m in (
            await session.exec(
                select(KnownMembership).where(
                    col(KnownMembership.city_id).in_(list(found)),
                    col(KnownMembership.current),
                    col(KnownMembership.mandate),
                )
            )
        ).all():
            found[m.city_id].append(domain.Mandate(m.network_id, frozenset(m.mandate_domains)))
    return found


@dataclass(frozen=True)
class _Voice:
    in_conflict_zone: bool
    mandates: list[domain.Mandate]  # the city's (none looked up for its own officers)
    domains: frozenset[str] | None  # where the caller speaks for it (`domain.voice_domains`)


def _voice_of(
    principal: Principal,
    city_id: uuid.UUID,
    city: KnownCity | None,
    mandates: list[domain.Mandate],
) -> _Voice:
    in_zone = city is not None and partners.in_conflict_zone(city)
    return _Voice(in_zone, mandates, domain.voice_domains(principal, city_id, in_zone, mandates))


async def _voice(session: AsyncSession, principal: Principal, city_id: uuid.UUID) -> _Voice:
    # `session.get`: a route often asks twice about the city it acts for (before and after
    # reading the agreement), and the second time the city is already in the session.
    city = await session.get(KnownCity, city_id)
    others = [] if principal.acts_for_city(city_id) else [city_id]
    mandates = (await _mandates(session, others)).get(city_id, [])
    return _voice_of(principal, city_id, city, mandates)


async def _voices(
    session: AsyncSession, principal: Principal, city_ids: Sequence[uuid.UUID]
) -> list[_Voice]:
    """Each city's voice (an agreement's up to 50 parties), in two queries whatever their
    number."""
    cities = {
        city.id: city
        for city in (
            await session.exec(select(KnownCity).where(col(KnownCity.id).in_(list(city_ids))))
        ).all()
    }
    mandates = await _mandates(session, [c for c in city_ids if not principal.acts_for_city(c)])
    return [_voice_of(principal, c, cities.get(c), mandates.get(c, [])) for c in city_ids]


async def speaks_for_any(
    session: AsyncSession,
    principal: Principal,
    city_ids: Sequence[uuid.UUID],
    matter: domain.Matter,
) -> bool:
    """Whether the caller speaks for at least one of the cities on the matter."""
    if any(principal.acts_for_city(city_id) for city_id in city_ids):
        return True  # no need to look anything up
    voices = await _voices(session, principal, city_ids)
    return any(domain.covers(voice.domains, matter) for voice in voices)


async def _checked_voice(
    session: AsyncSession, principal: Principal, city_id: uuid.UUID, matter: domain.Matter
) -> _Voice | None:
    """Refused (403, saying why) unless the caller speaks for the city on the matter; else its
    voice (None: the city's own officer, for whom nothing is looked up)."""
    if principal.acts_for_city(city_id):
        return None
    voice = await _voice(session, principal, city_id)
    domain.check_speaks_for(principal, city_id, voice.in_conflict_zone, voice.domains, matter)
    return voice


async def check_speaks_for(
    session: AsyncSession, principal: Principal, city_id: uuid.UUID, matter: domain.Matter
) -> frozenset[str] | None:
    """Refused (403, saying why) unless the caller speaks for the city on the matter (None: in
    some domain); else the domains it speaks for it in (None: all)."""
    voice = await _checked_voice(session, principal, city_id, matter)
    return None if voice is None else voice.domains


# The domains of an agreement (`agreements.matter`), read only when a network's officer acts.
AgreementMatter = Callable[[], Awaitable[frozenset[str]]]


async def check_speaks_on_agreement(
    session: AsyncSession, principal: Principal, city_id: uuid.UUID, matter: AgreementMatter
) -> uuid.UUID | None:
    """Refused (403, naming the domains outside the mandate) unless the caller speaks for the
    city on every domain of an agreement; else the network it speaks through, for the record
    (None: the city's own officer)."""
    if principal.acts_for_city(city_id):
        return None
    domains = await matter()
    voice = await _checked_voice(session, principal, city_id, domains)
    assert voice is not None, "the city's own officer answered above"
    return domain.speaking_network(principal, voice.mandates, domains)


async def may_see_agreement(
    session: AsyncSession,
    principal: Principal,
    party_ids: list[uuid.UUID],
    matter: AgreementMatter,
) -> bool:
    """A party's officer or an administrator (`domain.may_see`); or the officer of a network a
    party mandated whose mandate reaches at least one of the agreement's domains, while it holds
    (`matter` is read only then)."""
    if domain.may_see(principal, party_ids):
        return True
    if not principal.scopes(Role.NETWORK_OFFICER):
        return False
    domains = await matter()
    voices = await _voices(session, principal, party_ids)
    return any(domain.touches(voice.domains, domains) for voice in voices)


async def check_oversees(
    session: AsyncSession, principal: Principal, city_id: uuid.UUID
) -> frozenset[str] | None:
    """For reading the city's matters: the domains the caller may see (None: all, as for the
    city's officers and platform administrators), or refused saying why."""
    if principal.is_platform_admin:
        return None
    return await check_speaks_for(session, principal, city_id, None)
