"""`python -m bench.registry_search`: how fast the registry's search answers at 100k cities.

Seeds a fresh SQLite registry database (the registry's own metadata, so its tables, indexes and
triggers) with 100k cities and 200k needs and offers, plus networks, memberships and conflict
assessments, by bulk inserts rather than through HTTP. Then it times each search (every filter
alone and a few combinations, a first page of 50 with its total) through the real route code:
the registry app in this process, messaging off, called with httpx over ASGITransport, a signed
token on each request. Each search is timed twice in the same run: without the indexes added for
search (the database as the registry had it before search: its unique constraints, primary keys,
`ix_cities_name_key` and `ix_needs_offers_domain`), then with them, after building them. Both
must give the same answers; the runner checks it. Progress goes to stderr, the report to stdout."""

import argparse
import asyncio
import math
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pycountry
from sqlalchemy import Index, create_engine, event, insert, text
from sqlalchemy.engine import Engine

from bench.stats import percentile
from services.registry import domain as registry_domain
from services.registry.app import DEFINITION as REGISTRY
from services.registry.conflict.domain import ConflictPhase, ConflictZone
from services.registry.conflict.models import ConflictAssessment
from services.registry.identity.tokens import TokenIssuer
from services.registry.models import City, RegistryTable
from services.registry.needs_offers.domain import Form, Kind, Status
from services.registry.needs_offers.models import NeedOffer
from services.registry.needs_offers.taxonomy import TAXONOMY
from services.registry.networks.models import Network, NetworkMembership
from services.registry.settings import RegistrySettings
from shared.auth import Grant, Role
from shared.contracts.registry.networks import NetworkScope
from shared.service import create_service_app

# The indexes search added; the baseline runs without them. A name that is no longer in the
# registry's metadata stops the runner, so the list cannot silently go stale.
SEARCH_INDEXES = [
    "ix_cities_country_code_name_key_id",
    "ix_cities_name_key_id",
    "ix_cities_region_name_key",
    "ix_cities_population_id",
    "ix_cities_registered_at_id",
    "ix_needs_offers_kind_status_published",
    "ix_needs_offers_kind_status_period",
    "ix_needs_offers_kind_status_domain_published",
    "ix_needs_offers_domain_status_city",
    "ix_city_languages_language",
    "ix_need_offer_languages_language",
]
# What the registry had instead before search (index=True on City.name_key, NeedOffer.domain).
PREVIOUS_INDEXES = [
    "CREATE INDEX ix_cities_name_key ON cities (name_key)",
    "CREATE INDEX ix_needs_offers_domain ON needs_offers (domain)",
]

SYLLABLES = (
    "ka lo mé ba ko ou ga dou ki sha sa li ne vi lle san to ri mo na bé qué ge nè ve ly on da "
    "kar mbo ta zi ru pe di ho fa gu lu ya bu"
).split()
# Official languages, the common ones more often.
LANGUAGES = (
    ["fr"] * 6
    + ["en"] * 6
    + ["es"] * 4
    + ["ar"] * 3
    + ["pt"] * 2
    + ("de it nl ru zh sw ha yo ee ln mos wo bm rw am fa tr hi bn ur id ms vi th pl uk ro").split()
)
WORDS = (
    "training agents collection rounds vehicle upkeep water kiosks districts municipal staff "
    "network inspection teams exchange visits youth women participation budget planning "
    "registry civil status archives equipment pumps solar lighting markets transport buses "
    "schools health centres dialogue communities mediation elections councils waste compost"
).split()
RARE_WORD = "biogas"  # in about 1 % of descriptions, for the free-text searches


def _word(rng: random.Random, syllables: int) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(syllables)).capitalize()


def _progress(message: str) -> None:
    print(f"... {message}", file=sys.stderr, flush=True)


@dataclass
class Seeded:
    """What the queries need to know about the data."""

    cities: int = 0
    items: int = 0
    memberships: int = 0
    assessments: int = 0
    networks: list[uuid.UUID] = field(default_factory=list)
    a_city: uuid.UUID | None = None
    a_region: tuple[str, str] = ("", "")  # country, region
    a_name_part: str = ""
    seconds: dict[str, float] = field(default_factory=dict)


def _chunks(rows: Iterator[dict[str, Any]], size: int = 10_000) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _insert(engine: Engine, table: Any, rows: Iterator[dict[str, Any]]) -> int:
    count = 0
    with engine.begin() as connection:
        for chunk in _chunks(rows):
            connection.execute(insert(table), chunk)
            count += len(chunk)
    return count


def seed(engine: Engine, cities: int, items: int, rng: random.Random) -> Seeded:
    seeded = Seeded()
    now = datetime.now(UTC)
    countries = sorted(country.alpha_2 for country in pycountry.countries)
    regions = {code: [_word(rng, rng.randint(2, 3)) for _ in range(12)] for code in countries}
    city_ids: list[uuid.UUID] = []
    city_countries: list[str] = []

    def city_rows() -> Iterator[dict[str, Any]]:
        taken: set[tuple[str, str]] = set()
        for n in range(cities):
            country = rng.choice(countries)
            name = _word(rng, rng.randint(2, 4))
            while (country, registry_domain.city_name_key(name)) in taken:
                name = f"{name} {rng.randint(2, 99)}"
            key = registry_domain.city_name_key(name)
            taken.add((country, key))
            city_id = uuid.uuid4()
            city_ids.append(city_id)
            city_countries.append(country)
            yield {
                "id": city_id,
                "name": name,
                "name_key": key,
                "country_code": country,
                "region": rng.choice(regions[country]) if rng.random() < 0.9 else None,
                "population": int(rng.lognormvariate(10.5, 1.5)) if rng.random() < 0.9 else None,
                "latitude": None,
                "longitude": None,
                "external_id": None,
                "official_languages": list(dict.fromkeys(rng.sample(LANGUAGES, rng.randint(1, 3)))),
                "contacts": [],
                "registered_at": now - timedelta(seconds=rng.randint(0, 5 * 365 * 86400)),
                "registered_by": "bench",
                "verified_at": None,
                "verified_by": None,
            }
            if n == 0:
                seeded.a_name_part = registry_domain.city_name_key(name)[1:4]

    started = time.perf_counter()
    seeded.cities = _insert(engine, City.__table__, city_rows())
    seeded.seconds["cities"] = time.perf_counter() - started
    seeded.a_city = city_ids[0]
    seeded.a_region = ("FR", regions["FR"][0])

    domains = TAXONOMY.codes
    forms = [form.value for form in Form]

    def item_rows() -> Iterator[dict[str, Any]]:
        for _ in range(items):
            domain = rng.choice(domains)
            start = date(2026, 1, 1) + timedelta(days=rng.randint(0, 3 * 365))
            words = rng.choices(WORDS, k=rng.randint(15, 45))
            if rng.random() < 0.01:
                words.insert(rng.randrange(len(words)), RARE_WORD)
            yield {
                "id": uuid.uuid4(),
                "kind": rng.choice([Kind.NEED, Kind.OFFER]),
                "city_id": rng.choice(city_ids),
                "status": rng.choices([Status.OPEN, Status.MATCHED, Status.WITHDRAWN], [8, 1, 1])[
                    0
                ],
                "title": f"{domain.replace('-', ' ').capitalize()}: {' '.join(words[:4])}",
                "description": " ".join(words).capitalize() + ".",
                "domain": domain,
                "languages": list(dict.fromkeys(rng.sample(LANGUAGES, rng.randint(1, 2)))),
                "forms": rng.sample(forms, rng.randint(1, 2)),
                "capacity_staff_days": rng.randint(5, 200),
                "capacity_partners": None,
                "period_start": start,
                "period_end": start + timedelta(days=rng.randint(30, 365)),
                "published_at": now - timedelta(seconds=rng.randint(0, 2 * 365 * 86400)),
                "updated_at": None,
                "withdrawn_at": None,
            }

    started = time.perf_counter()
    seeded.items = _insert(engine, NeedOffer.__table__, item_rows())
    seeded.seconds["needs and offers"] = time.perf_counter() - started

    started = time.perf_counter()
    seeded.networks = [uuid.uuid4() for _ in range(20)]
    _insert(
        engine,
        Network.__table__,
        (
            {
                "id": network_id,
                "name": f"Network {n}",
                "name_key": f"network {n}",
                "acronym": None,
                "scope": NetworkScope.GLOBAL,
                "country_code": None,
                "website": None,
                "registered_at": now,
                "registered_by": "bench",
            }
            for n, network_id in enumerate(seeded.networks)
        ),
    )

    def membership_rows() -> Iterator[dict[str, Any]]:
        for city_id in city_ids:
            for network_id in rng.sample(seeded.networks, rng.choice([0, 0, 1, 1, 2])):
                left = rng.random() < 0.1
                yield {
                    "id": uuid.uuid4(),
                    "network_id": network_id,
                    "city_id": city_id,
                    "joined_at": now - timedelta(days=400),
                    "joined_by": "bench",
                    "left_at": now - timedelta(days=10) if left else None,
                    "left_by": "bench" if left else None,
                    "mandate": False,
                    "mandate_domains": [],
                    "mandate_changed_at": None,
                    "mandate_changed_by": None,
                }

    seeded.memberships = _insert(engine, NetworkMembership.__table__, membership_rows())

    def assessment_rows() -> Iterator[dict[str, Any]]:
        for city_id in rng.sample(city_ids, cities // 33):  # about 3 % of the cities
            for _ in range(rng.randint(1, 3)):
                zone = rng.choice(list(ConflictZone))
                yield {
                    "id": uuid.uuid4(),
                    "city_id": city_id,
                    "zone": zone,
                    "phase": None if zone is ConflictZone.NONE else rng.choice(list(ConflictPhase)),
                    "assessed_by": "bench",
                    "assessed_at": now,
                }

    seeded.assessments = _insert(engine, ConflictAssessment.__table__, assessment_rows())
    seeded.seconds["networks, memberships, assessments"] = time.perf_counter() - started
    return seeded


@dataclass(frozen=True)
class Query:
    label: str
    path: str
    params: dict[str, Any]
    admin: bool = False


def queries(seeded: Seeded) -> list[Query]:
    _country, region = seeded.a_region
    network = str(seeded.networks[0])
    fr_de_tg = {"country": ["FR", "DE", "TG"]}
    return [
        Query("cities: no filter (by name)", "/cities", {}),
        Query("cities: country=FR", "/cities", {"country": "FR"}),
        Query("cities: country=FR,DE,TG", "/cities", fr_de_tg),
        Query("cities: region (one of FR)", "/cities", {"region": region}),
        Query("cities: ldc=true", "/cities", {"ldc": True}),
        Query("cities: ldc=false", "/cities", {"ldc": False}),
        Query("cities: language=fr (common)", "/cities", {"language": "fr"}),
        Query("cities: language=mos (rare)", "/cities", {"language": "mos"}),
        Query("cities: domain=drinking-water", "/cities", {"domain": "drinking-water"}),
        Query("cities: network", "/cities", {"network": network}),
        Query("cities: conflict_phase=active", "/cities", {"conflict_phase": "active"}, True),
        Query(f"cities: q={seeded.a_name_part}", "/cities", {"q": seeded.a_name_part}),
        Query("cities: sort=-population", "/cities", {"sort": "-population"}),
        Query("cities: sort=population", "/cities", {"sort": "population"}),
        Query("cities: sort=-registered_at", "/cities", {"sort": "-registered_at"}),
        Query("cities: offset=10000", "/cities", {"offset": 10_000}),
        Query(
            "cities: ldc+language=fr+domain, -pop",
            "/cities",
            {"ldc": True, "language": "fr", "domain": "drinking-water", "sort": "-population"},
        ),
        Query("cities: country=FR+q", "/cities", {"country": "FR", "q": seeded.a_name_part}),
        Query("cities: network+ldc=true", "/cities", {"network": network, "ldc": True}),
        Query(
            "cities: 3 countries+language=fr",
            "/cities",
            {**fr_de_tg, "language": "fr", "sort": "-registered_at"},
        ),
        Query("needs: open (newest first)", "/needs", {}),
        Query("needs: domain=waste-collection", "/needs", {"domain": "waste-collection"}),
        Query("needs: language=mos", "/needs", {"language": "mos"}),
        Query("needs: country=FR", "/needs", {"country": "FR"}),
        Query("needs: ldc=true", "/needs", {"ldc": True}),
        Query(f"needs: q={RARE_WORD}", "/needs", {"q": RARE_WORD}),
        Query("needs: sort=period_start", "/needs", {"sort": "period_start"}),
        Query("offers: city_id", "/offers", {"city_id": str(seeded.a_city)}),
        Query(
            "offers: domain+ldc+language=fr",
            "/offers",
            {"domain": "drinking-water", "ldc": True, "language": "fr"},
        ),
        Query(
            "offers: any status, country, period",
            "/offers",
            {"status": ["open", "matched", "withdrawn"], "country": "FR", "sort": "period_start"},
        ),
    ]


@dataclass
class Timing:
    seconds: list[float]
    answer: tuple[int, list[str]]  # total and the ids of the page

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def p95(self) -> float:
        return percentile(self.seconds, 95)


async def measure(
    database_url: str, qs: Sequence[Query], args: argparse.Namespace, label: str
) -> dict[str, Timing]:
    settings = RegistrySettings(database_url=database_url)
    app = create_service_app(REGISTRY, settings, messaging=False)
    issuer = TokenIssuer(settings)
    user = {"Authorization": f"Bearer {issuer.access_token('bench-user', 'user', [])}"}
    admin_token = issuer.access_token("bench-admin", "user", [Grant(Role.PLATFORM_ADMIN)])
    admin = {"Authorization": f"Bearer {admin_token}"}
    timings: dict[str, Timing] = {}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://registry") as client:
            for query in qs:
                _progress(f"{label}: {query.label}")
                headers = admin if query.admin else user
                seconds: list[float] = []
                answer: tuple[int, list[str]] = (0, [])
                spent, runs = 0.0, 0
                # Warm-up runs first; a query slower than the budget gets fewer runs (at least
                # one timed), so that a slow baseline cannot stretch the run out of bounds.
                while len(seconds) < args.repeat and not (seconds and spent >= args.budget):
                    timed = runs >= args.warmup or spent >= args.budget
                    started = time.perf_counter()
                    response = await client.get(query.path, params=query.params, headers=headers)
                    elapsed = time.perf_counter() - started
                    if response.status_code != 200:
                        raise RuntimeError(f"{query.label}: {response.status_code} {response.text}")
                    spent, runs = spent + elapsed, runs + 1
                    if timed:
                        seconds.append(elapsed)
                    body = response.json()
                    answer = (body["total"], [item["id"] for item in body["items"]])
                timings[query.label] = Timing(seconds, answer)
    return timings


def _count_scans(path: Path, repeat: int) -> dict[str, float]:
    """Plain SELECT count(*) of each big table, straight on sqlite3: the floor of a total."""
    figures = {}
    connection = sqlite3.connect(path)
    try:
        for table in ("cities", "needs_offers"):
            seconds = []
            for _ in range(repeat):
                started = time.perf_counter()
                connection.execute(f"SELECT count(*) FROM {table}").fetchone()
                seconds.append(time.perf_counter() - started)
            figures[table] = statistics.median(seconds)
    finally:
        connection.close()
    return figures


def _sync_engine(path: Path) -> Engine:
    engine = create_engine(f"sqlite:///{path}")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_connection.execute("PRAGMA journal_mode=WAL")
        dbapi_connection.execute("PRAGMA foreign_keys=ON")

    return engine


def _search_indexes() -> list[Index]:
    by_name = {
        index.name: index
        for table in RegistryTable.metadata.tables.values()
        for index in table.indexes
    }
    missing = [name for name in SEARCH_INDEXES if name not in by_name]
    if missing:
        raise SystemExit(f"bench/registry_search.py names indexes the registry lacks: {missing}")
    return [by_name[name] for name in SEARCH_INDEXES]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def report(
    args: argparse.Namespace,
    seeded: Seeded,
    path: Path,
    without: dict[str, Timing],
    with_: dict[str, Timing],
    index_seconds: float,
    counts: dict[str, float],
) -> str:
    lines = [
        "city-exchange benchmark: registry search, with and without the search indexes",
        f"machine  {os.cpu_count()} CPUs, {platform.platform()}, Python "
        f"{platform.python_version()}, SQLite {sqlite3.sqlite_version}",
        f"data     {seeded.cities} cities, {seeded.items} needs and offers, "
        f"{seeded.memberships} memberships of {len(seeded.networks)} networks, "
        f"{seeded.assessments} conflict assessments (seed {args.seed}); "
        f"{path.stat().st_size / 1e6:.0f} MB of SQLite",
        "seeding  "
        + ", ".join(f"{what} {seconds:.1f} s" for what, seconds in seeded.seconds.items())
        + f"; building the search indexes {index_seconds:.1f} s",
        "method   GET through the registry app in-process (httpx ASGITransport, messaging off), "
        f"first page of 50 with its total; ms over {args.repeat} timed runs after "
        f"{args.warmup} warm-up (fewer once a query has taken {args.budget:g} s)",
        f"floor    plain SELECT count(*): cities {_ms(counts['cities'])} ms, needs_offers "
        f"{_ms(counts['needs_offers'])} ms (sqlite3, no HTTP)",
        "",
        f"{'query':<40}{'total':>8}{'no index p50':>14}{'p95':>8}{'runs':>6}"
        f"{'indexed p50':>13}{'p95':>8}{'runs':>6}{'x faster':>10}",
    ]
    for label, timing in with_.items():
        before = without[label]
        speedup = before.median / timing.median if timing.median else math.inf
        lines.append(
            f"{label:<40}{timing.answer[0]:>8}{_ms(before.median):>14}{_ms(before.p95):>8}"
            f"{len(before.seconds):>6}{_ms(timing.median):>13}{_ms(timing.p95):>8}"
            f"{len(timing.seconds):>6}{speedup:>10.1f}"
        )
    return "\n".join(lines)


def _positive_int(text_: str) -> int:
    if (value := int(text_)) < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.registry_search", description=__doc__)
    parser.add_argument("--cities", type=_positive_int, default=100_000)
    parser.add_argument("--items", type=_positive_int, default=200_000, help="needs and offers")
    parser.add_argument("--repeat", type=_positive_int, default=15, help="timed runs per query")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs per query first")
    parser.add_argument(
        "--budget",
        type=float,
        default=5.0,
        help="seconds per query and phase after which a slow query stops repeating",
    )
    parser.add_argument("--seed", type=int, default=2026, help="of the random data")
    parser.add_argument(
        "--dir", type=Path, help="keep the SQLite file in this new folder (default: temporary)"
    )
    args = parser.parse_args()
    if args.dir and args.dir.exists() and any(args.dir.iterdir()):
        parser.error(f"--dir {args.dir} is not empty")
    return args


def run(args: argparse.Namespace, folder: Path) -> str:
    path = folder / "registry.db"
    engine = _sync_engine(path)
    search_indexes = _search_indexes()
    with engine.begin() as connection:
        RegistryTable.metadata.create_all(connection)
        # The database as it was before search: the search indexes out, the earlier ones in.
        for index in search_indexes:
            index.drop(connection)
        for statement in PREVIOUS_INDEXES:
            connection.execute(text(statement))
    _progress(f"seeding {args.cities} cities and {args.items} needs and offers into {path}")
    seeded = seed(engine, args.cities, args.items, random.Random(args.seed))
    qs = queries(seeded)
    url = f"sqlite+aiosqlite:///{path}"
    without = asyncio.run(measure(url, qs, args, "without search indexes"))

    _progress("building the search indexes")
    started = time.perf_counter()
    with engine.begin() as connection:
        for statement in PREVIOUS_INDEXES:
            connection.execute(text(f"DROP INDEX {statement.split()[2]}"))
        for index in search_indexes:
            index.create(connection)
    index_seconds = time.perf_counter() - started
    engine.dispose()
    with_ = asyncio.run(measure(url, qs, args, "with search indexes"))

    different = [label for label in with_ if with_[label].answer != without[label].answer]
    if different:
        raise SystemExit(f"the indexes changed the answers of: {', '.join(different)}")
    counts = _count_scans(path, args.repeat)
    return report(args, seeded, path, without, with_, index_seconds, counts)


def main() -> None:
    args = parse_args()
    with ExitStack() as cleanup:
        if args.dir:
            args.dir.mkdir(parents=True, exist_ok=True)
            folder = args.dir.resolve()
        else:
            folder = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="cx-search-")))
        print(run(args, folder))


if __name__ == "__main__":
    main()
