"""Trilateral "trinnings": two cities of the same conflict zone and one helping city outside it
(DOMAIN.md), suggested to one of the two zone cities, which asks (demand-driven). Pure.

A stable three-sided matching may not exist, so this is an optimisation with a stated objective.
Each of the three sides is scored exactly as a partner suggestion (`suggestions.score_pair`: the
same components, weights and reasons, readiness of the helping city included), and trinnings are
ranked by, in this order:

1. the **weakest side**, highest first: a trinning is as strong as its weakest link, and this
   makes the helper serve both zone cities rather than one of them well;
2. then the **sum of the three sides**;
3. then the names and ids of the partner and the helper, so the same inputs give the same ranking.

Constraints: the partner is in the same conflict zone (both assessed in a conflict zone or a zone
of peace, and in the same country or nearer than `zone_km`, since conflicts cross borders); the
helper is outside any conflict zone; the helper has a fit (a need meeting an offer, either way)
with *each* zone city, otherwise it is two bilateral twinnings, not a trinning. The side between
the two zone cities may have no fit of its own: it then scores 0 and says so (the joint project
with the helper, `joint_domains`, is what brings them together), so such trinnings rank after
every one whose zone cities also exchange with each other.

Search: exhaustive over a pruned candidate set. For each zone city, its `helpers_per_city` best
helpers by its own side's score; for a pair of zone cities, the union of both lists. It is exact
whenever no zone city has more helpers with a fit than that; beyond, a helper outside both
lists has each side no better than the last helper kept on that side."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from uuid import UUID

from services.matching.suggestions import (
    City,
    Item,
    Suggestion,
    Weights,
    best_first,
    distance_km,
    score_pair,
)


@dataclass(frozen=True)
class Side:
    """One side of a trinning, seen from `of`: `suggestion` scores its partner (None when no need
    of one meets an offer of the other)."""

    of: City
    to: City
    suggestion: Suggestion | None

    @property
    def score(self) -> float:
        return self.suggestion.score if self.suggestion else 0.0


@dataclass(frozen=True)
class Trinning:
    partner: City  # the other city of the zone
    helper: City  # the helping city outside it
    sides: tuple[Side, Side, Side]  # us-partner, us-helper, partner-helper
    joint_domains: tuple[str, ...]  # what both zone cities need and the helper offers

    @property
    def weakest(self) -> Side:
        return min(self.sides, key=lambda s: s.score)

    @property
    def total(self) -> float:
        return round(sum(s.score for s in self.sides), 4)


def same_zone(a: City, b: City, zone_km: float) -> bool:
    if not (a.in_conflict_zone and b.in_conflict_zone) or a.id == b.id:
        return False
    if a.country_code == b.country_code:
        return True
    km = distance_km(a, b)
    return km is not None and km <= zone_km


def _rank(t: Trinning) -> tuple[float, float, str, str, str, str]:
    return (
        -t.weakest.score,
        -t.total,
        t.partner.name,
        t.helper.name,
        str(t.partner.id),
        str(t.helper.id),
    )


def suggest_trinnings(
    us: City,
    cities: Sequence[City],
    open_needs: Mapping[UUID, Sequence[Item]],
    open_offers: Mapping[UUID, Sequence[Item]],
    weights: Weights = Weights(),
    *,
    limit: int = 10,
    helpers_per_city: int = 20,
    zone_km: float = 300.0,
) -> list[Trinning]:
    """The best trinnings for `us`, a city in a conflict zone, among `cities` (those city
    diplomacy may act for), best first by the module's objective."""
    partners = [c for c in cities if same_zone(us, c, zone_km)]
    helpers = [c for c in cities if not c.in_conflict_zone]

    def best_helpers(zone_city: City) -> dict[UUID, Suggestion]:
        scored = (score_pair(zone_city, h, open_needs, open_offers, weights) for h in helpers)
        ranked = sorted((s for s in scored if s is not None), key=best_first)
        return {s.partner.id: s for s in ranked[:helpers_per_city]}

    def side(of: City, to: City) -> Side:
        return Side(of, to, score_pair(of, to, open_needs, open_offers, weights))

    ours = best_helpers(us)
    found = []
    for partner in partners:
        theirs = best_helpers(partner)
        between = side(us, partner)
        for helper in {s.partner for s in (*ours.values(), *theirs.values())}:
            with_us, with_them = side(us, helper), side(partner, helper)
            if with_us.suggestion is None or with_them.suggestion is None:
                continue
            found.append(
                Trinning(
                    partner,
                    helper,
                    (between, with_us, with_them),
                    _joint_domains(us, partner, helper, open_needs, open_offers),
                )
            )
    return sorted(found, key=_rank)[:limit]


def _joint_domains(
    a: City,
    b: City,
    helper: City,
    open_needs: Mapping[UUID, Sequence[Item]],
    open_offers: Mapping[UUID, Sequence[Item]],
) -> tuple[str, ...]:
    def needs(city: City) -> set[str]:
        return {n.domain for n in open_needs.get(city.id, ())}

    offered = {o.domain for o in open_offers.get(helper.id, ())}
    return tuple(sorted(needs(a) & needs(b) & offered))
