"""Capacity-aware global assignment: at a call for partnerships, which offer should answer which
need across the whole programme, so that the matches are as good as possible *together*. Pure:
cities, open needs and offers in, proposals and unmatched needs (each with why) out.

Objective: maximise the **sum of the scores** of the proposed (need, offer) pairs, where
- each need is answered by at most one offer;
- each offer answers at most its **capacity**: the partner cities it says it takes
  (`capacity_partners` in the registry), 1 when it does not say;
- the offers of one city answer at most `max_per_city` needs in the run, when set (the read
  model has no city-level capacity of its own; without the limit a city is bounded by its offers);
- a need meets only an offer of the same domain from another city; cities city diplomacy may
  not act for yet (a conflict zone whose preconditions do not hold) take no part either way.

A pair's score is the partner-suggestion score (`suggestions.explain`) of that single fit: the
same components, weights and reasons (language of the need and the offer, staff-days, LDC
priority, pairing, networks, past partnerships, proximity, helper's readiness).

Solver: a min-cost flow (OR-Tools): source -> need (capacity 1) -> offer (cost SCALE - score)
-> the offer's city (the offer's capacity) -> sink (the city's capacity), and need -> sink
(cost SCALE: left unmatched). Every unit of flow leaves a need, so the minimum cost is
SCALE x needs - the maximum total score: the optimum, not the greedy best-first answer, which
can take a need's best offer from another need that had no other (see `greedy`, the baseline).

Pruning: a need's candidate offers are all the compatible ones when there are at most
`candidates_per_need`; beyond, that many of them, those sharing a working language with the
need first, taken from a window that rotates with the need's rank in its domain, so that the
needs of a popular domain see different offers and the flow can spread them. Exact whenever no
need has more compatible offers than the limit."""

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain, islice
from uuid import UUID

import numpy as np
from ortools.graph.python.min_cost_flow import SimpleMinCostFlow

from services.matching.suggestions import City, Component, Fit, Item, Weights, explain

SCALE = 10_000  # scores have 4 decimals: integer costs lose nothing


@dataclass(frozen=True)
class Candidate:
    need: Item
    offer: Item
    score: float  # its components are recomputed for the proposals only (`reasons`): a run
    # scores a million candidates, and keeping each one's components costs more than scoring


@dataclass(frozen=True)
class Unmatched:
    need: Item
    reason: str


@dataclass(frozen=True)
class Problem:
    needs: tuple[Item, ...]  # the needs the run tries to meet
    candidates: tuple[Candidate, ...]
    offer_capacity: Mapping[UUID, int]
    city_capacity: Mapping[UUID, int]
    not_considered: tuple[Unmatched, ...] = ()  # needs of cities the run may not act for


@dataclass(frozen=True)
class Assignment:
    proposals: tuple[Candidate, ...]  # by need id
    unmatched: tuple[Unmatched, ...]  # by need id

    @property
    def total(self) -> float:
        return round(sum(p.score for p in self.proposals), 4)


def _rotated(items: Sequence[Item], start: int) -> Iterator[Item]:
    return (items[(start + i) % len(items)] for i in range(len(items)))


def _distinct(items: Iterator[Item]) -> Iterator[Item]:
    seen: set[UUID] = set()
    for item in items:
        if item.id not in seen:
            seen.add(item.id)
            yield item


def build(
    cities: Mapping[UUID, City],
    open_needs: Mapping[UUID, Sequence[Item]],
    open_offers: Mapping[UUID, Sequence[Item]],
    waiting: Mapping[UUID, str],
    weights: Weights = Weights(),
    *,
    max_per_city: int | None = None,
    candidates_per_need: int = 20,
) -> Problem:
    """The run's needs, their scored candidate offers and every capacity. `cities` are those
    city diplomacy may act for; `waiting` those it may not yet, with why."""
    offers = sorted(
        (o for city_id, items in open_offers.items() if city_id in cities for o in items),
        key=lambda o: str(o.id),
    )
    by_domain: defaultdict[str, list[Item]] = defaultdict(list)
    by_language: defaultdict[tuple[str, str], list[Item]] = defaultdict(list)
    for offer in offers:
        by_domain[offer.domain].append(offer)
        for language in sorted(offer.languages):
            by_language[offer.domain, language].append(offer)
    needs: list[Item] = []
    not_considered: list[Unmatched] = []
    candidates: list[Candidate] = []
    rank: defaultdict[str, int] = defaultdict(int)
    for need in sorted(
        (n for items in open_needs.values() for n in items), key=lambda n: str(n.id)
    ):
        if need.city_id not in cities:
            why = waiting.get(need.city_id, "matching does not know its city (yet)")
            not_considered.append(Unmatched(need, why))
            continue
        needs.append(need)
        start = rank[need.domain] * candidates_per_need
        rank[need.domain] += 1
        ordered = chain(
            *(_rotated(by_language[need.domain, lang], start) for lang in sorted(need.languages)),
            _rotated(by_domain[need.domain], start),
        )
        chosen = islice(
            _distinct(o for o in ordered if o.city_id != need.city_id), candidates_per_need
        )
        needer = cities[need.city_id]
        for offer in chosen:
            score, _ = explain(needer, cities[offer.city_id], (Fit(need, offer),), False, weights)
            candidates.append(Candidate(need, offer, score))
    city_offers: defaultdict[UUID, int] = defaultdict(int)
    offer_capacity = {}
    for offer in offers:
        offer_capacity[offer.id] = max(offer.partners or 1, 1)
        city_offers[offer.city_id] += offer_capacity[offer.id]
    city_capacity = {
        city_id: min(total, max_per_city) if max_per_city is not None else total
        for city_id, total in city_offers.items()
    }
    return Problem(
        tuple(needs), tuple(candidates), offer_capacity, city_capacity, tuple(not_considered)
    )


def reasons(
    candidate: Candidate, cities: Mapping[UUID, City], weights: Weights = Weights()
) -> tuple[Component, ...]:
    """The components of a pair's score, each with its reason (as `build` scored it)."""
    fit = (Fit(candidate.need, candidate.offer),)
    needer, helper = cities[candidate.need.city_id], cities[candidate.offer.city_id]
    return explain(needer, helper, fit, False, weights)[1]


def _outcome(problem: Problem, chosen: Sequence[Candidate]) -> Assignment:
    """The proposals, and why each other need is left unmatched."""
    taken = {c.need.id for c in chosen}
    offer_load: defaultdict[UUID, int] = defaultdict(int)
    for c in chosen:
        offer_load[c.offer.id] += 1
    options: defaultdict[UUID, list[Candidate]] = defaultdict(list)
    for c in problem.candidates:
        options[c.need.id].append(c)
    unmatched = list(problem.not_considered)
    for need in problem.needs:
        if need.id in taken:
            continue
        mine = options[need.id]
        if not mine:
            reason = f"no open offer in {need.domain} from another city that may take part"
        elif all(offer_load[c.offer.id] >= problem.offer_capacity[c.offer.id] for c in mine):
            reason = (
                f"capacity exhausted by better matches: the {len(mine)} offer(s) that fit it "
                "answer other needs, where the total score is higher"
            )
        else:
            reason = (
                "capacity exhausted by better matches: the cities whose offers fit it reached "
                "their limit of needs in this run"
            )
        unmatched.append(Unmatched(need, reason))
    return Assignment(
        tuple(sorted(chosen, key=lambda c: str(c.need.id))),
        tuple(sorted(unmatched, key=lambda u: str(u.need.id))),
    )


def solve(problem: Problem) -> Assignment:
    """The assignment of greatest total score (a min-cost flow; see the module's docstring)."""
    if not problem.needs:
        return _outcome(problem, [])
    needs = {n.id: 2 + i for i, n in enumerate(problem.needs)}
    offers = {o: 2 + len(needs) + i for i, o in enumerate(problem.offer_capacity)}
    cities = {c: 2 + len(needs) + len(offers) + i for i, c in enumerate(problem.city_capacity)}
    source, sink = 0, 1
    arcs: list[tuple[int, int, int, int]] = []  # tail, head, capacity, unit cost
    arcs += [(source, node, 1, 0) for node in needs.values()]
    arcs += [(node, sink, 1, SCALE) for node in needs.values()]  # left unmatched
    first_candidate = len(arcs)
    arcs += [
        (needs[c.need.id], offers[c.offer.id], 1, SCALE - round(c.score * SCALE))
        for c in problem.candidates
    ]
    city_of = {c.offer.id: c.offer.city_id for c in problem.candidates}
    arcs += [
        (offers[o], cities[city_of[o]], capacity, 0)
        for o, capacity in problem.offer_capacity.items()
        if o in city_of
    ]
    arcs += [(cities[c], sink, capacity, 0) for c, capacity in problem.city_capacity.items()]
    flow = SimpleMinCostFlow()
    tails, heads, capacities, costs = (
        np.array(column, dtype=np.int64) for column in zip(*arcs, strict=True)
    )
    flow.add_arcs_with_capacity_and_unit_cost(tails, heads, capacities, costs)
    supplies = np.zeros(2 + len(needs) + len(offers) + len(cities), dtype=np.int64)
    supplies[source], supplies[sink] = len(needs), -len(needs)
    flow.set_nodes_supplies(np.arange(len(supplies), dtype=np.int32), supplies)
    status = flow.solve()
    if status != flow.OPTIMAL:  # the network is feasible by construction (need -> sink)
        raise RuntimeError(f"the assignment's min-cost flow ended with status {status}")
    used = flow.flows(np.arange(first_candidate, first_candidate + len(problem.candidates)))
    return _outcome(problem, [c for c, f in zip(problem.candidates, used, strict=True) if f > 0])


def greedy(problem: Problem) -> Assignment:
    """The baseline: best pair first while capacity lasts. Fast, but it can give a need its best
    offer when another need had no other, and so lose total score."""
    offer_left = dict(problem.offer_capacity)
    city_left = dict(problem.city_capacity)
    taken: set[UUID] = set()
    chosen = []
    for c in sorted(problem.candidates, key=lambda c: (-c.score, str(c.need.id), str(c.offer.id))):
        city = c.offer.city_id
        if c.need.id in taken or not offer_left[c.offer.id] or not city_left[city]:
            continue
        taken.add(c.need.id)
        offer_left[c.offer.id] -= 1
        city_left[city] -= 1
        chosen.append(c)
    return _outcome(problem, chosen)
