"""Loading the inputs of partner suggestions, trinnings and assignment runs from matching's own
read model (never the registry's database), and the rule of city diplomacy that gates them."""

import uuid
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, or_, true
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


def in_conflict_zone(city: KnownCity) -> bool:
    return city.conflict_zone in CONFLICT_ZONES


def diplomacy_waits(city: KnownCity) -> str | None:
    """Why city diplomacy cannot act for this city yet, or None when it can. It acts only where
    its preconditions hold (DOMAIN.md): a city in a conflict zone whose latest assessment says
    otherwise is neither suggested nor given suggestions, nor assigned in a programme run."""
    if not in_conflict_zone(city) or city.preconditions_hold:
        return None
    missing = ", ".join(p.replace("_", " ") for p in city.missing_preconditions) or "see below"
    return (
        f"{city.name} is in a conflict zone where the preconditions of city diplomacy do not "
        f"all hold yet; missing: {missing} (the latest assessment in its conflict profile, in "
        "the registry)"
    )


def may_take_part(city: KnownCity) -> bool:
    return diplomacy_waits(city) is None


def check_may_ask(city: KnownCity) -> None:
    if (why := diplomacy_waits(city)) is not None:
        raise Conflict(why)


def check_may_ask_for_trinnings(city: KnownCity) -> None:
    """A trinning is asked by one of the two cities of the conflict zone (demand-driven)."""
    check_may_ask(city)
    if not in_conflict_zone(city):
        raise Conflict(
            f"{city.name} is not in a conflict zone: a trinning pairs two cities of a conflict "
            "zone with a helping city, and is asked by one of the two; its partner suggestions "
            f"are at /cities/{city.id}/suggestions"
        )


@dataclass(frozen=True)
class Market:
    """Open needs and offers with their cities, as the pure matching functions take them."""

    cities: dict[uuid.UUID, suggestions.City]  # the cities city diplomacy may act for
    needs: dict[uuid.UUID, list[suggestions.Item]]  # by city, for every city loaded
    offers: dict[uuid.UUID, list[suggestions.Item]]
    waiting: dict[uuid.UUID, str]  # cities it may not act for yet, with why


# Only the columns the score reads, as plain rows: building an ORM object per row would cost
# more than the scoring itself at the read model's size (bench/matching.py).
_ITEM_COLUMNS = (
    KnownNeedOffer.id,
    KnownNeedOffer.kind,
    KnownNeedOffer.city_id,
    KnownNeedOffer.domain,
    KnownNeedOffer.title,
    KnownNeedOffer.languages,
    KnownNeedOffer.capacity_staff_days,
    KnownNeedOffer.capacity_partners,
)


def _profile(
    city: KnownCity, networks: Collection[uuid.UUID], partners: Collection[uuid.UUID]
) -> suggestions.City:
    readiness = (
        suggestions.Readiness(bool(city.commits_beyond_conflict), bool(city.has_formal_policy))
        if city.readiness_stated_at is not None
        else None
    )
    return suggestions.City(
        city.id,
        city.name,
        city.country_code,
        bool(city.is_ldc),
        frozenset(city.official_languages),
        city.latitude,
        city.longitude,
        frozenset(networks),
        frozenset(partners),
        in_conflict_zone(city),
        readiness,
    )


async def _past_partners(
    session: AsyncSession, of: uuid.UUID | None
) -> defaultdict[uuid.UUID, set[uuid.UUID]]:
    """The cities each city has had an agreement with (of one city only when `of` is given)."""
    query = select(AgreementParty.agreement_id, AgreementParty.city_id)
    if of is not None:
        ours = select(AgreementParty.agreement_id).where(AgreementParty.city_id == of)
        query = query.where(col(AgreementParty.agreement_id).in_(ours))
    parties: defaultdict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
    for agreement_id, city_id in (await session.exec(query)).all():
        parties[agreement_id].add(city_id)
    partners: defaultdict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
    for cities in parties.values():
        for city_id in cities:
            partners[city_id] |= cities - {city_id}
    return partners


async def _market(
    session: AsyncSession,
    items: ColumnElement[bool],
    cities: ColumnElement[bool],
    partners_of: uuid.UUID | None,
) -> Market:
    """The open items matching `items`, and the cities matching `cities` with their networks."""
    open_items = (
        await session.exec(select(*_ITEM_COLUMNS).where(KnownNeedOffer.status == "open", items))
    ).all()
    rows = (await session.exec(select(KnownCity).where(cities))).all()
    networks: defaultdict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
    memberships = select(KnownMembership).where(
        col(KnownMembership.current),
        col(KnownMembership.city_id).in_(select(KnownCity.id).where(cities)),
    )
    for m in (await session.exec(memberships)).all():
        networks[m.city_id].add(m.network_id)
    partners = await _past_partners(session, partners_of)
    needs: defaultdict[uuid.UUID, list[suggestions.Item]] = defaultdict(list)
    offers: defaultdict[uuid.UUID, list[suggestions.Item]] = defaultdict(list)
    for id_, kind, city_id, domain, title, languages, days, takes in sorted(
        open_items, key=lambda r: str(r.id)
    ):
        item = suggestions.Item(id_, city_id, domain, title, frozenset(languages), days, takes)
        (needs if kind == ItemKind.NEED else offers)[city_id].append(item)
    waiting = {c.id: why for c in rows if (why := diplomacy_waits(c)) is not None}
    profiles = {
        c.id: _profile(c, networks[c.id], partners[c.id]) for c in rows if c.id not in waiting
    }
    return Market(profiles, dict(needs), dict(offers), waiting)


async def load_market(
    session: AsyncSession,
    *,
    domains: Collection[str] = (),
    countries: Collection[str] = (),
) -> Market:
    """Every open need and offer (of `domains` and cities of `countries`, when given), with every
    city: for the runs that look at the whole programme (trinnings, assignment runs)."""
    items: ColumnElement[bool] = true()
    cities: ColumnElement[bool] = true()
    if domains:
        items = and_(items, col(KnownNeedOffer.domain).in_(sorted(domains)))
    if countries:
        cities = col(KnownCity.country_code).in_(sorted(countries))
        items = and_(items, col(KnownNeedOffer.city_id).in_(select(KnownCity.id).where(cities)))
    return await _market(session, items, cities, None)


async def load(
    session: AsyncSession, us: uuid.UUID
) -> tuple[
    suggestions.City,
    list[suggestions.City],
    dict[uuid.UUID, list[suggestions.Item]],
    dict[uuid.UUID, list[suggestions.Item]],
]:
    """The inputs of `us`'s partner suggestions, and only them: the open items of other cities
    in the domains of our needs (their offers) or of our offers (their needs), found through the
    index on (kind, status, domain), and the cities that hold them. Items in other domains
    cannot fit, so the ranking is the same as over the whole read model, for far fewer rows."""
    ours = (
        await session.exec(
            select(KnownNeedOffer).where(
                KnownNeedOffer.city_id == us, KnownNeedOffer.status == "open"
            )
        )
    ).all()
    need_domains = sorted({i.domain for i in ours if i.kind == ItemKind.NEED})
    offer_domains = sorted({i.domain for i in ours if i.kind == ItemKind.OFFER})
    theirs = and_(
        KnownNeedOffer.city_id != us,
        or_(
            and_(
                KnownNeedOffer.kind == ItemKind.OFFER, col(KnownNeedOffer.domain).in_(need_domains)
            ),
            and_(
                KnownNeedOffer.kind == ItemKind.NEED, col(KnownNeedOffer.domain).in_(offer_domains)
            ),
        ),
    )
    relevant = or_(KnownNeedOffer.city_id == us, theirs)
    holders = select(KnownNeedOffer.city_id).where(KnownNeedOffer.status == "open", theirs)
    cities = or_(KnownCity.id == us, col(KnownCity.id).in_(holders))
    market = await _market(session, relevant, cities, us)
    return market.cities[us], list(market.cities.values()), market.needs, market.offers
