"""`python -m bench.matching`: matching's programme-level work at scale, with baselines measured
in the same run. Synthetic data from a fixed seed (cities of North and South, LDCs, networks,
a few conflict zones, needs and offers over the registry's domain taxonomy), so two runs see the
same inputs.

1. The global assignment (services/matching/assignment.py) at doubling sizes up to 10k cities
   and 50k needs and 50k offers: scoring the candidate edges, then the min-cost flow, next to
   greedy best-first over the same edges (the baseline; its total score shows what the optimum
   gains).
2. The top-10 partner suggestions of one city among up to 100k offers (and as many needs), in
   a SQLite database of matching's own tables: the route's path (partners.top_partners: the
   domains that can fit through the index on kind, status and domain, an upper bound per city,
   items read for the best bounds only) next to the naive path (read every open item and city,
   then score every city). Both must give the same ranking; the runner checks it.

Each table shows how the time grows per doubling of the size (x2 data: ratio 2 is linear).
Progress goes to stderr, the report to stdout."""

import argparse
import asyncio
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TypeVar

from sqlalchemy import create_engine, insert
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from services.matching import assignment, partners, suggestions
from services.matching.models import (
    ItemKind,
    KnownCity,
    KnownMembership,
    KnownNeedOffer,
    MatchingTable,
)
from services.matching.suggestions import NORTH, City, Item, Readiness, Weights
from services.registry.needs_offers.taxonomy import TAXONOMY

T = TypeVar("T")
SEED = 2026
DOMAINS = sorted(TAXONOMY.codes)
SOUTH = ["TG", "ML", "BF", "SN", "BJ", "CD", "HT", "MG", "GM", "RW", "BR", "IN", "VN", "PE"]
LDC = {"TG", "ML", "BF", "SN", "BJ", "CD", "HT", "MG", "GM", "RW"}
COUNTRIES = sorted(NORTH)[:20] + SOUTH
LANGUAGES = ["fr"] * 5 + ["en"] * 5 + ["es"] * 2 + ["pt", "ar", "nl", "de"]
NETWORKS = [uuid.UUID(int=n + 1) for n in range(40)]


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _timed(run: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    result = run()
    return result, time.perf_counter() - start


class Synthetic:
    """Cities, needs and offers drawn from one seeded generator: the same at every run."""

    def __init__(self, cities: int, needs: int, offers: int, seed: int = SEED) -> None:
        rng = random.Random(seed)
        self.cities: dict[uuid.UUID, City] = {}
        self.waiting: dict[uuid.UUID, str] = {}
        for n in range(cities):
            country = rng.choice(COUNTRIES)
            zone = rng.random() < 0.02
            city = City(
                uuid.UUID(int=rng.getrandbits(128)),
                f"City {n}",
                country,
                country in LDC,
                frozenset(rng.sample(LANGUAGES, 2)),
                rng.uniform(-35, 60),
                rng.uniform(-120, 140),
                frozenset(rng.sample(NETWORKS, rng.choice((0, 1, 1, 2)))),
                frozenset(),
                zone,
                Readiness(rng.random() < 0.5, rng.random() < 0.3) if rng.random() < 0.1 else None,
            )
            if zone and rng.random() < 0.5:
                self.waiting[city.id] = f"{city.name}: preconditions do not hold"
            else:
                self.cities[city.id] = city
        everyone = [*self.cities.values()]
        everyone += [
            City(c, f"waiting {i}", "CD", True) for i, c in enumerate(sorted(self.waiting))
        ]
        self.everyone = everyone
        # Needs come more from the South, offers more from the North, as in the programme.
        south = [c for c in everyone if c.country_code not in NORTH] or everyone
        north = [c for c in everyone if c.country_code in NORTH] or everyone

        def items(count: int, likely: list[City]) -> dict[uuid.UUID, list[Item]]:
            by_city: dict[uuid.UUID, list[Item]] = {}
            for n in range(count):
                city = rng.choice(likely if rng.random() < 0.7 else everyone)
                domain = DOMAINS[min(int(rng.expovariate(0.25)), len(DOMAINS) - 1)]
                item = Item(
                    uuid.UUID(int=rng.getrandbits(128)),
                    city.id,
                    domain,
                    f"{domain} #{n}",
                    frozenset({rng.choice(LANGUAGES)}),
                    rng.choice((None, 10, 20, 40, 60, 100)),
                    rng.choice((None, 1, 1, 2, 3)),
                )
                by_city.setdefault(city.id, []).append(item)
            return by_city

        self.needs = items(needs, south)
        self.offers = items(offers, north)


def _ratio(times: list[float], i: int) -> str:
    return f"x{times[i] / times[i - 1]:.2f}" if i and times[i - 1] > 0 else "-"


def bench_assignment(sizes: list[tuple[int, int]], candidates: int) -> list[str]:
    lines = [
        "",
        f"1. Global assignment: candidate edges scored (up to {candidates} offers per need), "
        "then min-cost flow (OR-Tools) vs greedy best-first on the same edges",
        f"{'cities':>7} {'needs':>6} {'offers':>6} {'edges':>8} | {'score s':>8} {'flow s':>7} "
        f"{'greedy s':>8} | {'flow total':>10} {'matched':>7} | {'greedy total':>12} "
        f"{'matched':>7} | {'score+flow':>10} {'greedy':>7}",
    ]
    totals: list[float] = []
    greedies: list[float] = []
    for i, (cities, needs) in enumerate(sizes):
        _log(f"assignment: {cities} cities, {needs} needs and offers: generating")
        data = Synthetic(cities, needs, needs)
        _log("  scoring candidate edges")
        problem, scoring = _timed(
            lambda d=data: assignment.build(  # type: ignore[misc]
                d.cities, d.needs, d.offers, d.waiting, Weights(), candidates_per_need=candidates
            )
        )
        _log("  min-cost flow")
        optimum, flow = _timed(lambda p=problem: assignment.solve(p))  # type: ignore[misc]
        _log("  greedy")
        best_first, greedy = _timed(lambda p=problem: assignment.greedy(p))  # type: ignore[misc]
        assert optimum.total >= best_first.total - 1e-6, "the optimum cannot lose to greedy"
        totals.append(scoring + flow)
        greedies.append(scoring + greedy)
        lines.append(
            f"{cities:>7} {needs:>6} {needs:>6} {len(problem.candidates):>8} | {scoring:>8.2f} "
            f"{flow:>7.2f} {greedy:>8.2f} | {optimum.total:>10.1f} {len(optimum.proposals):>7} | "
            f"{best_first.total:>12.1f} {len(best_first.proposals):>7} | "
            f"{_ratio(totals, i):>10} {_ratio(greedies, i):>7}"
        )
    return lines


def _rows(data: Synthetic) -> tuple[list[dict], list[dict], list[dict]]:
    now = datetime.now(UTC)
    cities = [
        {
            "id": c.id,
            "name": c.name,
            "country_code": c.country_code,
            "official_languages": sorted(c.languages),
            "is_ldc": c.is_ldc,
            "latitude": c.latitude,
            "longitude": c.longitude,
            "verified": True,
            "conflict_zone": "conflict_zone" if c.in_conflict_zone else "none",
            "preconditions_hold": c.id not in data.waiting,
            "missing_preconditions": [] if c.id not in data.waiting else ["rule_of_law"],
            "known_since": now,
            "version": now,
            "field_versions": {},
        }
        for c in data.everyone
    ]
    items = [
        {
            "id": item.id,
            "kind": kind,
            "city_id": item.city_id,
            "title": item.title,
            "domain": item.domain,
            "languages": sorted(item.languages),
            "forms": ["expertise"],
            "capacity_staff_days": item.staff_days,
            "capacity_partners": item.partners,
            "period_start": date(2027, 1, 1),
            "period_end": date(2027, 12, 31),
            "status": "open",
            "version": now,
        }
        for kind, by_city in ((ItemKind.NEED, data.needs), (ItemKind.OFFER, data.offers))
        for listed in by_city.values()
        for item in listed
    ]
    memberships = [
        {
            "network_id": network,
            "city_id": c.id,
            "current": True,
            "mandate": False,
            "mandate_domains": [],
            "changed_at": now,
            "version": now,
        }
        for c in data.everyone
        for network in c.networks
    ]
    return cities, items, memberships


async def _naive(session: AsyncSession, us: uuid.UUID) -> list[suggestions.Suggestion]:
    """What the route did before: every open item and every city read, every city scored."""
    market = await partners.load_market(session)
    everyone = list(market.cities.values())
    mine = market.cities[us]
    return suggestions.suggest(mine, everyone, market.needs, market.offers, Weights(), 10)


async def _bounded(session: AsyncSession, us: uuid.UUID) -> list[suggestions.Suggestion]:
    return await partners.top_partners(session, us, Weights(), 10)


async def _query_times(url: str, askers: list[uuid.UUID]) -> tuple[float, float, int]:
    engine = create_async_engine(url)
    naive_times, bounded_times, found = [], [], 0
    try:
        for us in askers:
            async with AsyncSession(engine, expire_on_commit=False) as session:
                start = time.perf_counter()
                slow = await _naive(session, us)
                naive_times.append(time.perf_counter() - start)
            async with AsyncSession(engine, expire_on_commit=False) as session:
                start = time.perf_counter()
                fast = await _bounded(session, us)
                bounded_times.append(time.perf_counter() - start)
            same = [(s.partner.id, s.score) for s in slow] == [
                (s.partner.id, s.score) for s in fast
            ]
            assert same, f"the two paths ranked {us}'s partners differently"
            found += len(fast)
    finally:
        await engine.dispose()
    return statistics.median(naive_times), statistics.median(bounded_times), found


def bench_suggestions(sizes: list[int], queries: int, directory: Path) -> list[str]:
    lines = [
        "",
        f"2. Top-10 partner suggestions of one city (median of {queries} cities), SQLite read "
        "model: naive full scan vs the route's bounded path (same ranking checked)",
        f"{'offers':>7} {'needs':>6} {'cities':>6} | {'naive ms':>9} {'bounded ms':>10} "
        f"{'speed-up':>8} | {'naive':>6} {'bounded':>7}",
    ]
    naive_all: list[float] = []
    bounded_all: list[float] = []
    for i, offers in enumerate(sizes):
        cities = offers // 5
        _log(f"suggestions: {offers} offers and needs, {cities} cities: seeding SQLite")
        data = Synthetic(cities, offers, offers, seed=SEED + i)
        path = directory / f"matching-{offers}.db"
        engine = create_engine(f"sqlite:///{path}")
        MatchingTable.metadata.create_all(engine)
        city_rows, item_rows, membership_rows = _rows(data)
        with engine.begin() as connection:
            connection.execute(insert(KnownCity.__table__), city_rows)  # type: ignore[attr-defined]
            connection.execute(insert(KnownNeedOffer.__table__), item_rows)  # type: ignore[attr-defined]
            connection.execute(insert(KnownMembership.__table__), membership_rows)  # type: ignore[attr-defined]
        engine.dispose()
        askers = sorted(c for c in data.cities if c in data.needs and c in data.offers)[:queries]
        _log("  querying")
        naive, bounded, found = asyncio.run(_query_times(f"sqlite+aiosqlite:///{path}", askers))
        naive_all.append(naive)
        bounded_all.append(bounded)
        assert found, "the synthetic cities should have partners"
        lines.append(
            f"{offers:>7} {offers:>6} {cities:>6} | {naive * 1000:>9.1f} {bounded * 1000:>10.1f} "
            f"{naive / bounded:>7.1f}x | {_ratio(naive_all, i):>6} {_ratio(bounded_all, i):>7}"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--candidates", type=int, default=20, help="offers scored per need")
    parser.add_argument("--queries", type=int, default=3, help="cities asking, per size")
    parser.add_argument("--part", choices=("all", "assignment", "suggestions"), default="all")
    args = parser.parse_args()
    started = time.perf_counter()
    steps = 2 if args.quick else 4
    top_cities, top_needs, top_offers = (
        (2500, 12500, 25000) if args.quick else (10000, 50000, 100000)
    )
    assignment_sizes = [(top_cities >> k, top_needs >> k) for k in reversed(range(steps))]
    suggestion_sizes = [top_offers >> k for k in reversed(range(steps))]
    print(
        "city-exchange matching benchmark (synthetic, seed "
        f"{SEED}): {os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()}"
    )
    load = os.getloadavg()[0]
    print(
        f"domains {len(DOMAINS)}, countries {len(COUNTRIES)}, ~2% of cities in conflict zones; "
        f"load average at start {load:.1f} (other work on the machine slows every figure alike)"
    )
    if args.part in ("all", "assignment"):
        for line in bench_assignment(assignment_sizes, args.candidates):
            print(line, flush=True)
    if args.part in ("all", "suggestions"):
        with tempfile.TemporaryDirectory() as directory:
            for line in bench_suggestions(suggestion_sizes, args.queries, Path(directory)):
                print(line, flush=True)
    print(f"\nwhole run: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
