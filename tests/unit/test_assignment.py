"""The programme-level assignment: the best total under capacities, and why a need is left."""

import uuid

import pytest

from services.matching.assignment import Candidate, Problem, build, greedy, reasons, solve
from services.matching.suggestions import City, Item

FR, NL = frozenset({"fr"}), frozenset({"nl"})
LOME = City(uuid.uuid4(), "Lomé", "TG", True, FR)
BAMAKO = City(uuid.uuid4(), "Bamako", "ML", True, FR)
LYON = City(uuid.uuid4(), "Lyon", "FR", False, FR)
OSTEND = City(uuid.uuid4(), "Ostende", "BE", False, NL)
GOMA = City(uuid.uuid4(), "Goma", "CD", True, FR, in_conflict_zone=True)
CITIES = {c.id: c for c in (LOME, BAMAKO, LYON, OSTEND)}
WAITING = {GOMA.id: "Goma is in a conflict zone where the preconditions ... do not all hold yet"}


def item(city: City, domain: str, languages: frozenset[str] = FR, partners: int = 1) -> Item:
    return Item(uuid.uuid4(), city.id, domain, f"{city.name}: {domain}", languages, None, partners)


def test_the_optimum_differs_from_greedy_best_first() -> None:
    # Lomé's need is met best by Lyon, and nearly as well by Ostende; Bamako's only by Lyon.
    # Best-first gives Lyon to Lomé and leaves Bamako with nothing; the optimum does not.
    lome, bamako = item(LOME, "waste-collection"), item(BAMAKO, "waste-collection")
    lyon, ostend = item(LYON, "waste-collection"), item(OSTEND, "waste-collection")
    problem = Problem(
        needs=(lome, bamako),
        candidates=(
            Candidate(lome, lyon, 0.9),
            Candidate(lome, ostend, 0.8),
            Candidate(bamako, lyon, 0.85),
        ),
        offer_capacity={lyon.id: 1, ostend.id: 1},
        city_capacity={LYON.id: 1, OSTEND.id: 1},
    )
    first = greedy(problem)
    assert [(p.need, p.offer) for p in first.proposals] == [(lome, lyon)]
    assert first.total == 0.9
    best = solve(problem)
    assert {(p.need, p.offer) for p in best.proposals} == {(lome, ostend), (bamako, lyon)}
    assert best.total == 1.65
    assert best.unmatched == ()
    [left] = first.unmatched
    assert left.need == bamako
    assert left.reason.startswith("capacity exhausted by better matches")


def test_capacities_and_every_unmatched_need_says_why() -> None:
    needs = {
        LOME.id: [item(LOME, "drinking-water"), item(LOME, "microcredit")],
        BAMAKO.id: [item(BAMAKO, "drinking-water")],
        GOMA.id: [item(GOMA, "drinking-water")],
    }
    # Lyon takes two partner cities with its offer; Ostende's offer is Ostende's only one.
    offers = {
        LYON.id: [item(LYON, "drinking-water", partners=2)],
        GOMA.id: [item(GOMA, "microcredit")],  # Goma takes no part while it waits
    }
    result = solve(build(CITIES, needs, offers, WAITING))
    assert sorted(p.need.city_id == LOME.id for p in result.proposals) == [False, True]
    assert all(p.offer.city_id == LYON.id for p in result.proposals)
    explained = reasons(result.proposals[0], CITIES)
    assert sum(c.score * c.weight for c in explained) / sum(c.weight for c in explained) == (
        pytest.approx(result.proposals[0].score, abs=1e-4)
    )
    why = {
        u.need.domain + "@" + CITIES.get(u.need.city_id, GOMA).name: u.reason
        for u in result.unmatched
    }
    assert why == {
        "microcredit@Lomé": "no open offer in microcredit from another city that may take part",
        "drinking-water@Goma": WAITING[GOMA.id],
    }
    # A limit of one need per city in the run leaves one of Lyon's two places unused.
    limited = solve(build(CITIES, needs, offers, WAITING, max_per_city=1))
    assert len(limited.proposals) == 1
    assert any(
        u.reason.endswith("reached their limit of needs in this run") for u in limited.unmatched
    )


def test_a_popular_domain_is_pruned_to_a_rotating_window_of_candidates() -> None:
    helpers = [City(uuid.uuid4(), f"Helper {i}", "FR", False, FR) for i in range(6)]
    cities = {**CITIES, **{h.id: h for h in helpers}}
    offers = {h.id: [item(h, "transport")] for h in helpers}
    needs = {LOME.id: [item(LOME, "transport")], BAMAKO.id: [item(BAMAKO, "transport")]}
    problem = build(cities, needs, offers, {}, candidates_per_need=3)
    by_need: dict[uuid.UUID, set[uuid.UUID]] = {}
    for c in problem.candidates:
        by_need.setdefault(c.need.id, set()).add(c.offer.id)
    first, second = by_need.values()
    assert len(first) == len(second) == 3 and not first & second
    assert len(solve(problem).proposals) == 2
