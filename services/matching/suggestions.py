"""Ranked partner suggestions: which cities should work with this one, and why. Pure: it takes
profiles and open needs/offers, and gives the ranking with an explanation of every component.

The report's complaint is that a need meets a matching offer by chance, and that answers should be
judged by their quality, not their number. So a partner is suggested only when there is a fit in
at least one direction (its offers meet our needs, or ours meet its needs); a fit both ways ranks
first. The score is a weighted mean of components, each between 0 and 1, with the weights of
`Weights` (configuration, documented in README): the same inputs always give the same ranking."""

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from uuid import UUID

# UN M49 "developed regions", which the programme calls industrialised (the North); the rest is
# the South. Kept here as data: changing it changes which pairings count as North-South.
NORTH = frozenset(
    "AD AL AT AU BA BE BG BY CA CH CY CZ DE DK EE ES FI FR GB GR HR HU IE IS IT JP LI LT LU LV MC "
    "MD ME MK MT NL NO NZ PL PT RO RS RU SE SI SK SM UA US VA".split()
)


# Where distance matters (the report's cross-border cooperation), and only there.
DISTANCE_DOMAINS = frozenset({"cross-border-cooperation"})


@dataclass(frozen=True)
class Weights:
    domain_fit: float = 3.0  # the need meets an offer: what the programme is for
    language: float = 1.5  # a shared working language
    capacity: float = 1.0  # the offer can take what the need asks
    ldc_priority: float = 1.0  # a least developed country is helped first
    pairing: float = 0.5  # North-South or South-South, as the programme promotes both
    network_ties: float = 0.5  # cities already in a network together
    past_partnership: float = 0.5  # personal relationships are the key to success (2001)
    proximity: float = 0.5  # only where distance matters (cross-border cooperation)
    proximity_km: float = 500.0  # beyond this, proximity counts for nothing
    readiness: float = (
        1.0  # a helping city's stated readiness, when its partner is in a conflict zone
    )


@dataclass(frozen=True)
class Readiness:
    """A helping city's latest statement of readiness for city diplomacy. Stating it at all means
    giving a motivation and at least one result objective (the registry requires both)."""

    commits_beyond_conflict: bool
    has_formal_policy: bool


@dataclass(frozen=True)
class City:
    id: UUID
    name: str
    country_code: str
    is_ldc: bool
    languages: frozenset[str] = frozenset()
    latitude: float | None = None
    longitude: float | None = None
    networks: frozenset[UUID] = frozenset()
    partners: frozenset[UUID] = frozenset()  # cities it has had agreements with
    in_conflict_zone: bool = False  # a conflict zone or a zone of peace inside one
    readiness: Readiness | None = None  # None: never stated


@dataclass(frozen=True)
class Item:
    """An open need or offer."""

    id: UUID
    city_id: UUID
    domain: str
    title: str
    languages: frozenset[str] = frozenset()
    staff_days: int | None = None
    partners: int | None = None


@dataclass(frozen=True)
class Component:
    name: str
    score: float
    weight: float
    explanation: str


@dataclass(frozen=True)
class Fit:
    need: Item
    offer: Item


@dataclass(frozen=True)
class Suggestion:
    partner: City
    score: float
    components: tuple[Component, ...]
    they_help_us: tuple[Fit, ...] = field(default=())
    we_help_them: tuple[Fit, ...] = field(default=())


def _fits(needs: Sequence[Item], offers: Sequence[Item]) -> tuple[Fit, ...]:
    return tuple(
        Fit(need, offer) for need in needs for offer in offers if need.domain == offer.domain
    )


def distance_km(a: City, b: City) -> float | None:
    if None in (a.latitude, a.longitude, b.latitude, b.longitude):
        return None
    lat1, lon1, lat2, lon2 = map(math.radians, (a.latitude, a.longitude, b.latitude, b.longitude))  # type: ignore[arg-type]
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 6371.0 * 2 * math.asin(math.sqrt(h))


def _components(
    us: City, them: City, fits: tuple[Fit, ...], both_ways: bool, w: Weights
) -> list[Component]:
    domains = sorted({fit.need.domain for fit in fits})
    out = [
        Component(
            "domain_fit",
            1.0 if both_ways else 0.5,
            w.domain_fit,
            ("needs meet offers both ways" if both_ways else "needs meet offers one way")
            + f" in {', '.join(domains)}",
        )
    ]
    shared = sorted(set.union(*(set(f.need.languages & f.offer.languages) for f in fits)))
    official = sorted(us.languages & them.languages)
    if shared:
        out.append(
            Component(
                "language", 1.0, w.language, f"working language in common: {', '.join(shared)}"
            )
        )
    elif official:
        out.append(
            Component(
                "language", 0.5, w.language, f"official language in common: {', '.join(official)}"
            )
        )
    else:
        out.append(Component("language", 0.0, w.language, "no language in common"))
    asked = sum(f.need.staff_days or 0 for f in fits)
    offered = sum(f.offer.staff_days or 0 for f in fits)
    if asked and offered:
        ratio = min(offered / asked, 1.0)
        out.append(
            Component(
                "capacity", ratio, w.capacity, f"{offered} staff-days offered for {asked} asked"
            )
        )
    else:
        takes = any((f.offer.partners or 0) >= 1 for f in fits)
        out.append(
            Component(
                "capacity",
                1.0 if takes else 0.5,
                w.capacity,
                "the offer takes partner cities" if takes else "capacity not stated in days",
            )
        )
    ldc = [c.name for c in (us, them) if c.is_ldc and any(f.need.city_id == c.id for f in fits)]
    out.append(
        Component(
            "ldc_priority",
            1.0 if ldc else 0.0,
            w.ldc_priority,
            f"{' and '.join(ldc)} in a least developed country"
            if ldc
            else "no least developed country's need",
        )
    )
    north = (us.country_code in NORTH, them.country_code in NORTH)
    pairing = {
        (True, False): "North-South",
        (False, True): "North-South",
        (False, False): "South-South",
    }
    kind = pairing.get(north)
    out.append(
        Component(
            "pairing",
            1.0 if kind else 0.0,
            w.pairing,
            f"{kind} pairing" if kind else "North-North pairing",
        )
    )
    ties = us.networks & them.networks
    out.append(
        Component(
            "network_ties",
            1.0 if ties else 0.0,
            w.network_ties,
            f"{len(ties)} network(s) in common" if ties else "no network in common",
        )
    )
    known = them.id in us.partners
    out.append(
        Component(
            "past_partnership",
            1.0 if known else 0.0,
            w.past_partnership,
            "worked together before" if known else "no agreement together yet",
        )
    )
    if DISTANCE_DOMAINS & set(domains) and (km := distance_km(us, them)) is not None:
        out.append(
            Component(
                "proximity", max(0.0, 1 - km / w.proximity_km), w.proximity, f"{km:.0f} km apart"
            )
        )
    if us.in_conflict_zone != them.in_conflict_zone:
        out.append(_readiness(them if us.in_conflict_zone else us, w))
    return out


def _readiness(helper: City, w: Weights) -> Component:
    """Only between a city in a conflict zone and one outside: what the report asks of the helping
    city (clear motivation and result objectives, a commitment beyond the conflict, ideally a
    formal policy). The first two weigh most, since the registry states them together."""
    stated = helper.readiness
    if stated is None:
        return Component(
            "readiness",
            0.0,
            w.readiness,
            f"{helper.name} has not stated its readiness for city diplomacy",
        )
    reasons = [f"{helper.name} stated its motivation and result objectives"]
    score = 0.5
    if stated.commits_beyond_conflict:
        score += 0.3
        reasons.append("commits to stay beyond the conflict")
    else:
        reasons.append("no commitment beyond the conflict")
    if stated.has_formal_policy:
        score += 0.2
        reasons.append("has a formal city-diplomacy policy")
    return Component("readiness", round(score, 4), w.readiness, ", ".join(reasons))


def explain(
    us: City, them: City, fits: tuple[Fit, ...], both_ways: bool, weights: Weights
) -> tuple[float, tuple[Component, ...]]:
    """The score of `fits` between two cities (0 to 1: the weighted mean of the components) and
    every component with its reason. `fits` must not be empty."""
    components = tuple(_components(us, them, fits, both_ways, weights))
    total = sum(c.weight for c in components)
    return round(sum(c.score * c.weight for c in components) / total, 4), components


def score_pair(
    us: City,
    them: City,
    open_needs: Mapping[UUID, Sequence[Item]],
    open_offers: Mapping[UUID, Sequence[Item]],
    weights: Weights = Weights(),
) -> Suggestion | None:
    """`them` as a partner of `us`, scored on every fit both ways; None without any fit."""
    they_help_us = _fits(open_needs.get(us.id, ()), open_offers.get(them.id, ()))
    we_help_them = _fits(open_needs.get(them.id, ()), open_offers.get(us.id, ()))
    fits = they_help_us + we_help_them
    if not fits:
        return None
    score, components = explain(us, them, fits, bool(they_help_us and we_help_them), weights)
    return Suggestion(them, score, components, they_help_us, we_help_them)


_UNSTATED = UUID(int=0)


def best_case(
    us: City,
    them: City,
    they_offer: Iterable[str],
    they_need: Iterable[str],
    open_needs: Mapping[UUID, Sequence[Item]],
    open_offers: Mapping[UUID, Sequence[Item]],
    weights: Weights = Weights(),
) -> float:
    """An upper bound of `score_pair(us, them)` knowing only the domains in which `them` offers
    and needs, not its items: the same components computed the same way, on stand-in items that
    speak our items' languages (so language is exact or above), with capacity taken at 1 (it
    depends on their staff-days). Every other component is exact. 0: no fit."""
    stand_in_offers = [
        Item(_UNSTATED, them.id, d, "", _languages(open_needs, us, d))
        for d in sorted(set(they_offer))
    ]
    stand_in_needs = [
        Item(_UNSTATED, them.id, d, "", _languages(open_offers, us, d))
        for d in sorted(set(they_need))
    ]
    needs = {us.id: open_needs.get(us.id, ()), them.id: stand_in_needs}
    offers = {us.id: open_offers.get(us.id, ()), them.id: stand_in_offers}
    bound = score_pair(us, them, needs, offers, weights)
    if bound is None:
        return 0.0
    weighed = sum(
        c.weight if c.name == "capacity" else c.score * c.weight for c in bound.components
    )
    return weighed / sum(c.weight for c in bound.components)


def _languages(items: Mapping[UUID, Sequence[Item]], city: City, domain: str) -> frozenset[str]:
    return frozenset().union(*(i.languages for i in items.get(city.id, ()) if i.domain == domain))


class Bounds:
    """`best_case` for the many candidates of one city, computed once per distinct profile.
    The score reads a city's domains only through the directions of the fits, the languages of
    our items in them and whether one weighs distance; and the city itself not through its name,
    its id (unless a past partner), networks or languages it does not share with us. Distance,
    where it counts, is taken at its best (none). Cities alike in all the rest share one bound,
    so tens of thousands of cities are bounded in the time of a few hundred scores."""

    def __init__(
        self,
        us: City,
        open_needs: Mapping[UUID, Sequence[Item]],
        open_offers: Mapping[UUID, Sequence[Item]],
        weights: Weights,
    ) -> None:
        self._us, self._needs, self._offers, self._weights = us, open_needs, open_offers, weights
        self._known: dict[tuple[object, ...], float] = {}

        def languages(items: Mapping[UUID, Sequence[Item]]) -> dict[str, frozenset[str]]:
            by_domain: dict[str, frozenset[str]] = {}
            for item in items.get(us.id, ()):
                by_domain[item.domain] = by_domain.get(item.domain, frozenset()) | item.languages
            return by_domain

        self._need_languages, self._offer_languages = languages(open_needs), languages(open_offers)

    def of(self, them: City, they_offer: Iterable[str], they_need: Iterable[str]) -> float:
        us = self._us
        offered = frozenset(they_offer) & self._need_languages.keys()  # the domains that fit
        needed = frozenset(they_need) & self._offer_languages.keys()
        located = bool(DISTANCE_DOMAINS & (offered | needed)) and distance_km(us, them) is not None
        none: frozenset[str] = frozenset()
        # Every field of `City` the score reads (a new one belongs here too), and the domains'
        # part in it.
        key = (
            them.id if them.id in us.partners else _UNSTATED,
            them.country_code,
            them.is_ldc,
            them.languages & us.languages,
            them.networks & us.networks,
            them.in_conflict_zone,
            them.readiness,
            located,
            bool(offered),
            bool(needed),
            none.union(*(self._need_languages[d] for d in offered)),
            none.union(*(self._offer_languages[d] for d in needed)),
        )
        if key not in self._known:
            profile = replace(
                them,
                id=key[0],
                name="",
                languages=key[3],
                networks=key[4],
                partners=frozenset(),
                # Where distance counts, at its best (none): an upper bound still.
                latitude=us.latitude if located else None,
                longitude=us.longitude if located else None,
            )
            self._known[key] = best_case(
                us, profile, offered, needed, self._needs, self._offers, self._weights
            )
        return self._known[key]


def best_first(suggestion: Suggestion) -> tuple[float, str, str]:
    """The order of suggestions: by score, then by name and id, so ties never depend on input order."""
    return (-suggestion.score, suggestion.partner.name, str(suggestion.partner.id))


def suggest(
    us: City,
    candidates: Iterable[City],
    open_needs: Mapping[UUID, Sequence[Item]],
    open_offers: Mapping[UUID, Sequence[Item]],
    weights: Weights = Weights(),
    limit: int = 10,
) -> list[Suggestion]:
    """The best partners for `us`, best first; only cities with a fit in at least one direction."""
    scored = (
        score_pair(us, them, open_needs, open_offers, weights)
        for them in candidates
        if them.id != us.id
    )
    return sorted((s for s in scored if s is not None), key=best_first)[:limit]
