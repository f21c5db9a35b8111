"""Loading the inputs of partner suggestions, trinnings and assignment runs from matching's own
read model (never the registry's database), and the rule of city diplomacy that gates them."""

import uuid
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import ColumnElement, Row, Select, and_, case, func, or_, true
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


class Profile(Protocol):
    """What the score and the gate read of a city: a `KnownCity`, or a row of `_PROFILE_COLUMNS`."""

    id: uuid.UUID
    name: str
    country_code: str
    is_ldc: bool | None
    official_languages: list[str]
    latitude: float | None
    longitude: float | None
    conflict_zone: str | None
    preconditions_hold: bool | None
    commits_beyond_conflict: bool | None
    has_formal_policy: bool | None
    readiness_stated_at: datetime | None


class CityRow(Profile, Protocol):
    """And what the gate says when it refuses: a `KnownCity`, or a row of `_CITY_COLUMNS`."""

    missing_preconditions: list[str]


def in_conflict_zone(city: Profile) -> bool:
    return city.conflict_zone in CONFLICT_ZONES


def diplomacy_waits(city: CityRow) -> str | None:
    """Why city diplomacy cannot act for this city yet, or None when it can. It acts only where
    its preconditions hold (DOMAIN.md): a city in a conflict zone whose latest assessment says
    otherwise is neither suggested nor given suggestions, nor assigned in a programme run."""
    if may_take_part(city):
        return None
    missing = ", ".join(p.replace("_", " ") for p in city.missing_preconditions) or "see below"
    return (
        f"{city.name} is in a conflict zone where the preconditions of city diplomacy do not "
        f"all hold yet; missing: {missing} (the latest assessment in its conflict profile, in "
        "the registry)"
    )


def may_take_part(city: Profile) -> bool:
    return not in_conflict_zone(city) or bool(city.preconditions_hold)


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
_PROFILE_COLUMNS = tuple(getattr(KnownCity, name) for name in Profile.__annotations__)
_CITY_COLUMNS = (*_PROFILE_COLUMNS, KnownCity.missing_preconditions)
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
    city: Profile, networks: Collection[uuid.UUID], partners: Collection[uuid.UUID]
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


def _item(row: Row) -> suggestions.Item:
    id_, _kind, city_id, domain, title, languages, days, takes = row
    return suggestions.Item(id_, city_id, domain, title, frozenset(languages), days, takes)


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
) -> Market:
    """The open items matching `items`, and the cities matching `cities` with their networks."""
    open_items = (
        await session.exec(select(*_ITEM_COLUMNS).where(KnownNeedOffer.status == "open", items))
    ).all()
    rows = (await session.exec(select(*_CITY_COLUMNS).where(cities))).all()
    networks: defaultdict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
    memberships = select(KnownMembership).where(
        col(KnownMembership.current),
        col(KnownMembership.city_id).in_(select(KnownCity.id).where(cities)),
    )
    for m in (await session.exec(memberships)).all():
        networks[m.city_id].add(m.network_id)
    partners = await _past_partners(session, None)
    needs: defaultdict[uuid.UUID, list[suggestions.Item]] = defaultdict(list)
    offers: defaultdict[uuid.UUID, list[suggestions.Item]] = defaultdict(list)
    for row in sorted(open_items, key=lambda r: str(r.id)):
        (needs if row.kind == ItemKind.NEED else offers)[row.city_id].append(_item(row))
    waiting = {c.id: why for c in rows if (why := diplomacy_waits(c)) is not None}
    profiles = {
        c.id: _profile(c, networks[c.id], partners[c.id]) for c in rows if c.id not in waiting
    }
    return Market(profiles, dict(needs), dict(offers), waiting)


def _in_domains(domains: Collection[str] | None) -> ColumnElement[bool]:
    return true() if domains is None else col(KnownNeedOffer.domain).in_(sorted(domains))


async def load_market(
    session: AsyncSession,
    *,
    domains: Collection[str] = (),
    countries: Collection[str] = (),
) -> Market:
    """Every open need and offer (of `domains` and cities of `countries`, when given), with every
    city: for the runs that look at the whole programme (assignment runs)."""
    items: ColumnElement[bool] = true()
    cities: ColumnElement[bool] = true()
    if domains:
        items = and_(items, col(KnownNeedOffer.domain).in_(sorted(domains)))
    if countries:
        cities = col(KnownCity.country_code).in_(sorted(countries))
        items = and_(items, col(KnownNeedOffer.city_id).in_(select(KnownCity.id).where(cities)))
    return await _market(session, items, cities)


async def load_for_trinnings(
    session: AsyncSession, domains: Collection[str] | None = None
) -> Market:
    """What trinnings can be made of: the cities of conflict zones with all their open items,
    and the other cities' items that can fit one of theirs (offers in the domains they need,
    needs in the domains they offer), with those cities. Only items of `domains` when given
    (what a network's mandate covers)."""
    zone = col(KnownCity.conflict_zone).in_(sorted(CONFLICT_ZONES))
    zone_items = and_(
        KnownNeedOffer.status == "open",
        col(KnownNeedOffer.city_id).in_(select(KnownCity.id).where(zone)),
        _in_domains(domains),
    )

    def zone_domains(kind: ItemKind) -> Select[tuple[str]]:
        return select(KnownNeedOffer.domain).where(zone_items, KnownNeedOffer.kind == kind)

    items = or_(
        zone_items,
        and_(
            KnownNeedOffer.kind == ItemKind.OFFER,
            col(KnownNeedOffer.domain).in_(zone_domains(ItemKind.NEED)),
        ),
        and_(
            KnownNeedOffer.kind == ItemKind.NEED,
            col(KnownNeedOffer.domain).in_(zone_domains(ItemKind.OFFER)),
        ),
    )
    holders = select(KnownNeedOffer.city_id).where(KnownNeedOffer.status == "open", items)
    return await _market(session, items, or_(zone, col(KnownCity.id).in_(holders)))


# Cities whose items are read and scored at a time, best bound first.
_BATCH = 64


async def top_partners(
    session: AsyncSession,
    us: uuid.UUID,
    weights: suggestions.Weights,
    limit: int,
    domains: Collection[str] | None = None,
) -> list[suggestions.Suggestion]:
    """`suggestions.suggest` for `us` over the whole read model, without reading all of it; with
    `domains` (what a network's mandate covers), for our needs and offers of those domains only.

    Only items in the domains of our needs (their offers) or of our offers (their needs) can
    fit, so only those are read, through the index on (kind, status, domain, city_id). First,
    only in which of those domains each other city offers or needs (from the index alone, no item
    read whole); that gives each city an upper bound of its score (`suggestions.best_case`).
    Then cities are scored exactly, best bound first, a batch at a time, until the last
    suggestion kept scores more than the next city's bound: no city left can enter the list.
    Same ranking as a full scan."""
    ours = (
        await session.exec(
            select(*_ITEM_COLUMNS)
            .where(
                KnownNeedOffer.city_id == us, KnownNeedOffer.status == "open", _in_domains(domains)
            )
            .order_by(KnownNeedOffer.id)
        )
    ).all()
    our_needs = {us: [_item(r) for r in ours if r.kind == ItemKind.NEED]}
    our_offers = {us: [_item(r) for r in ours if r.kind == ItemKind.OFFER]}
    theirs = and_(
        KnownNeedOffer.status == "open",
        KnownNeedOffer.city_id != us,
        or_(
            and_(
                KnownNeedOffer.kind == ItemKind.OFFER,
                col(KnownNeedOffer.domain).in_(sorted({i.domain for i in our_needs[us]})),
            ),
            and_(
                KnownNeedOffer.kind == ItemKind.NEED,
                col(KnownNeedOffer.domain).in_(sorted({i.domain for i in our_offers[us]})),
            ),
        ),
    )

    def domains_of(kind: ItemKind) -> ColumnElement[str | None]:
        in_kind = case((KnownNeedOffer.kind == kind, KnownNeedOffer.domain))
        return func.aggregate_strings(in_kind, ",")  # NULLs (the other kind) are left out

    # One row per city, not per item: the domains in which it offers what we need, and needs
    # what we offer (codes have no commas).
    they_offer: dict[uuid.UUID, list[str]] = {}
    they_need: dict[uuid.UUID, list[str]] = {}
    for city_id, offered, needed in (
        await session.exec(
            select(
                KnownNeedOffer.city_id,
                domains_of(ItemKind.OFFER),
                domains_of(ItemKind.NEED),
            )
            .where(theirs)
            .group_by(KnownNeedOffer.city_id)
        )
    ).all():
        they_offer[city_id] = offered.split(",") if offered else []
        they_need[city_id] = needed.split(",") if needed else []
    holders = select(KnownNeedOffer.city_id).where(theirs)
    rows = (
        await session.exec(
            select(*_PROFILE_COLUMNS).where(or_(KnownCity.id == us, col(KnownCity.id).in_(holders)))
        )
    ).all()
    our_networks = select(KnownMembership.network_id).where(
        KnownMembership.city_id == us, col(KnownMembership.current)
    )
    networks: defaultdict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
    for city_id, network_id in (
        await session.exec(
            select(KnownMembership.city_id, KnownMembership.network_id).where(
                col(KnownMembership.current), col(KnownMembership.network_id).in_(our_networks)
            )
        )
    ).all():
        networks[city_id].add(network_id)  # networks in common with us are all that count
    partners = await _past_partners(session, us)
    cities = {r.id: _profile(r, networks[r.id], partners[r.id]) for r in rows if may_take_part(r)}
    me = cities.pop(us)
    bound = suggestions.Bounds(me, our_needs, our_offers, weights)
    bounds = sorted(
        (-bound.of(them, they_offer[them.id], they_need[them.id]), them.name, str(them.id), them)
        for them in cities.values()
    )
    kept: list[suggestions.Suggestion] = []
    for start in range(0, len(bounds), _BATCH):
        batch = bounds[start : start + _BATCH]
        # Scores are rounded to 4 places, and rounding keeps the order of bound and score.
        if len(kept) == limit and kept[-1].score > round(-batch[0][0], 4):
            break
        ids = [b[3].id for b in batch]
        needs: defaultdict[uuid.UUID, list[suggestions.Item]] = defaultdict(list, our_needs)
        offers: defaultdict[uuid.UUID, list[suggestions.Item]] = defaultdict(list, our_offers)
        for row in (
            await session.exec(
                select(*_ITEM_COLUMNS)
                .where(theirs, col(KnownNeedOffer.city_id).in_(ids))
                .order_by(KnownNeedOffer.id)
            )
        ).all():
            (needs if row.kind == ItemKind.NEED else offers)[row.city_id].append(_item(row))
        found = suggestions.suggest(me, [b[3] for b in batch], needs, offers, weights, limit)
        kept = sorted([*kept, *found], key=suggestions.best_first)[:limit]
    return kept
