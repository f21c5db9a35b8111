"""Loading the inputs of partner suggestions from matching's own read model (never the
registry's database), and the rule of city diplomacy that gates them."""

import uuid
from collections import defaultdict

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.matching import suggestions
from services.matching.models import (
    AgreementParty,
    ItemKind,
    KnownCity,
    KnownMembership,
    KnownNeedOffer,
)
from shared.errors import Conflict

CONFLICT_ZONES = {"conflict_zone", "zone_of_peace"}


def may_take_part(city: KnownCity) -> bool:
    """City diplomacy acts only where its preconditions hold (DOMAIN.md): a city in a conflict
    zone whose latest assessment says otherwise is neither suggested nor given suggestions."""
    return city.conflict_zone not in CONFLICT_ZONES or bool(city.preconditions_hold)


def check_may_ask(city: KnownCity) -> None:
    if not may_take_part(city):
        missing = ", ".join(p.replace("_", " ") for p in city.missing_preconditions) or "see below"
        raise Conflict(
            f"{city.name} is in a conflict zone where the preconditions of city diplomacy do not "
            f"all hold yet; missing: {missing} (the latest assessment in its conflict profile, in "
            "the registry)"
        )


async def load(
    session: AsyncSession, us: uuid.UUID
) -> tuple[
    suggestions.City,
    list[suggestions.City],
    dict[uuid.UUID, list[suggestions.Item]],
    dict[uuid.UUID, list[suggestions.Item]],
]:
    cities = [c for c in (await session.exec(select(KnownCity))).all() if may_take_part(c)]
    networks: defaultdict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
    for m in (
        await session.exec(select(KnownMembership).where(col(KnownMembership.current)))
    ).all():
        networks[m.city_id].add(m.network_id)
    our_agreements = select(AgreementParty.agreement_id).where(AgreementParty.city_id == us)
    partners = set(
        (
            await session.exec(
                select(AgreementParty.city_id).where(
                    col(AgreementParty.agreement_id).in_(our_agreements),
                    AgreementParty.city_id != us,
                )
            )
        ).all()
    )
    needs: defaultdict[uuid.UUID, list[suggestions.Item]] = defaultdict(list)
    offers: defaultdict[uuid.UUID, list[suggestions.Item]] = defaultdict(list)
    for item in (
        await session.exec(select(KnownNeedOffer).where(KnownNeedOffer.status == "open"))
    ).all():
        target = needs if item.kind == ItemKind.NEED else offers
        target[item.city_id].append(
            suggestions.Item(
                item.id,
                item.city_id,
                item.domain,
                item.title,
                frozenset(item.languages),
                item.capacity_staff_days,
                item.capacity_partners,
            )
        )
    profiles = {
        c.id: suggestions.City(
            c.id,
            c.name,
            c.country_code,
            bool(c.is_ldc),
            frozenset(c.official_languages),
            c.latitude,
            c.longitude,
            frozenset(networks[c.id]),
            frozenset(partners) if c.id == us else frozenset(),
        )
        for c in cities
    }
    return profiles[us], list(profiles.values()), needs, offers
