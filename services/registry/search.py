"""Search over cities, needs and offers: the filters, sort orders and pages of `GET /cities`,
`GET /needs` and `GET /offers`, built as SQL over indexed columns so that a page and its total
stay fast with 100k cities (`python -m bench.registry_search` measures them; the figures are in
docs/benchmarks.md).

Languages are JSON lists on their rows (`City.official_languages`, `NeedOffer.languages`), which
neither SQLite nor PostgreSQL can index in a way both share. Each list is mirrored in a side table
of (row, language) pairs indexed by language, and database triggers keep the mirrors: every insert
of a row and every update of its list rewrites that row's pairs in the same transaction, whatever
wrote it (the ORM, a Core bulk insert, an import, a fix by hand), so no write path can forget
them. When a mirror table is first created in a database that already has rows, it is filled from
them. The mirrors are read only here, never written by the application.

How a page is read (see `page`): SQLite's planner knows nothing of the data unless someone runs
ANALYZE, which the registry does not, so it cannot tell a filter that keeps ten rows from one that
keeps half the table, and it guessed badly for both in our measurements. The queries therefore
say what the planner cannot know: how many rows match (counted first), and, as likelihood()
hints, that a need's kind and status and a country's LDC status each keep a large share of the
rows. PostgreSQL keeps statistics and plans both forms alike; it gets the same SQL without the
hints."""

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

import pycountry
from sqlalchemy import DDL, Index, event, exists, literal, literal_column, or_
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlmodel import Field, col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.registry import domain
from services.registry.conflict.domain import ConflictPhase
from services.registry.conflict.models import ConflictAssessment
from services.registry.data import LDC_LIST
from services.registry.models import City, RegistryTable
from services.registry.needs_offers.domain import Kind, Status
from services.registry.needs_offers.models import NeedOffer
from services.registry.networks.models import Network, NetworkMembership
from shared.errors import DomainError

T = TypeVar("T")


class CityLanguage(RegistryTable, table=True):
    """One official language of one city: a mirror of `City.official_languages`."""

    __tablename__ = "city_languages"
    __table_args__ = (Index("ix_city_languages_language", "language", "city_id"),)

    city_id: uuid.UUID = Field(foreign_key="cities.id", primary_key=True, ondelete="CASCADE")
    language: str = Field(max_length=3, primary_key=True)


class NeedOfferLanguage(RegistryTable, table=True):
    """One working language of one need or offer: a mirror of `NeedOffer.languages`."""

    __tablename__ = "need_offer_languages"
    __table_args__ = (Index("ix_need_offer_languages_language", "language", "item_id"),)

    item_id: uuid.UUID = Field(foreign_key="needs_offers.id", primary_key=True, ondelete="CASCADE")
    language: str = Field(max_length=3, primary_key=True)


def _mirror(mirror: Any, key: str, source: str, column: str) -> None:
    """Triggers that keep `mirror` (key, language) equal to the JSON list `source.column`, created
    with the mirror table, followed by the filling of the mirror from the rows already there."""
    name = mirror.name
    sqlite_rows = f"SELECT DISTINCT NEW.id, value FROM json_each(NEW.{column}) WHERE type = 'text'"
    sqlite = [
        f"CREATE TRIGGER {name}_on_insert AFTER INSERT ON {source} BEGIN "
        f"INSERT INTO {name} ({key}, language) {sqlite_rows}; END",
        f"CREATE TRIGGER {name}_on_update AFTER UPDATE OF {column} ON {source} BEGIN "
        f"DELETE FROM {name} WHERE {key} = NEW.id; "
        f"INSERT INTO {name} ({key}, language) {sqlite_rows}; END",
        f"INSERT INTO {name} ({key}, language) SELECT DISTINCT s.id, j.value "
        f"FROM {source} AS s, json_each(s.{column}) AS j WHERE j.type = 'text'",
    ]
    postgresql = [
        f"CREATE OR REPLACE FUNCTION {name}_sync() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN "
        f"IF TG_OP = 'UPDATE' THEN DELETE FROM {name} WHERE {key} = NEW.id; END IF; "
        f"IF json_typeof(NEW.{column}) = 'array' THEN "
        f"INSERT INTO {name} ({key}, language) "
        f"SELECT DISTINCT NEW.id, value FROM json_array_elements_text(NEW.{column}) AS value; "
        f"END IF; "
        f"RETURN NULL; "
        f"END $$",
        f"CREATE TRIGGER {name}_sync AFTER INSERT OR UPDATE OF {column} ON {source} "
        f"FOR EACH ROW EXECUTE FUNCTION {name}_sync()",
        f"INSERT INTO {name} ({key}, language) SELECT DISTINCT s.id, j.value "
        f"FROM {source} AS s CROSS JOIN LATERAL json_array_elements_text(s.{column}) AS j(value) "
        f"WHERE json_typeof(s.{column}) = 'array'",
    ]
    for dialect, statements in (("sqlite", sqlite), ("postgresql", postgresql)):
        for statement in statements:
            event.listen(mirror, "after_create", DDL(statement).execute_if(dialect=dialect))


_mirror(CityLanguage.__table__, "city_id", "cities", "official_languages")
_mirror(NeedOfferLanguage.__table__, "item_id", "needs_offers", "languages")


# Sort keys as the API takes them: a field name, "-" in front for descending. Every order ends
# with the id, so that pages never overlap or skip rows that tie.
class CitySort(StrEnum):
    NAME = "name"
    NAME_DESC = "-name"
    POPULATION = "population"
    POPULATION_DESC = "-population"
    REGISTERED_AT = "registered_at"
    REGISTERED_AT_DESC = "-registered_at"


class NeedOfferSort(StrEnum):
    PUBLISHED_AT = "published_at"
    PUBLISHED_AT_DESC = "-published_at"
    PERIOD_START = "period_start"
    PERIOD_START_DESC = "-period_start"


_CITY_SORT_COLUMNS: Mapping[str, Any] = {
    "name": col(City.name_key),  # accents and case ignored, as the duplicate rule does
    "population": col(City.population),
    "registered_at": col(City.registered_at),
}
_NEED_OFFER_SORT_COLUMNS: Mapping[str, Any] = {
    "published_at": col(NeedOffer.published_at),
    "period_start": col(NeedOffer.period_start),
}


def _order(sort: str, columns: Mapping[str, Any], id_column: Any) -> list[Any]:
    """ORDER BY for `sort`; cities without a population come last in both directions."""
    descending = sort.startswith("-")
    column = columns[sort.removeprefix("-")]
    first = column.desc() if descending else column.asc()
    if sort.removeprefix("-") == "population":
        first = first.nulls_last()
    return [first, id_column.desc() if descending else id_column.asc()]


@dataclass(frozen=True)
class CityFilters:
    """What `GET /cities` filters on; each given filter narrows the result (AND)."""

    countries: Sequence[str] = ()  # any of them
    region: str | None = None
    ldc: bool | None = None
    language: str | None = None
    domain: str | None = None
    network_id: uuid.UUID | None = None
    conflict_phase: ConflictPhase | None = None
    q: str | None = None


@dataclass(frozen=True)
class NeedOfferFilters:
    """What `GET /needs` and `GET /offers` filter on; each given filter narrows the result."""

    statuses: Sequence[Status] = (Status.OPEN,)  # any of them
    domain: str | None = None
    language: str | None = None
    countries: Sequence[str] = ()  # of the publishing city, any of them
    ldc: bool | None = None
    city_id: uuid.UUID | None = None
    q: str | None = None


@dataclass(frozen=True)
class Condition:
    """One filter in two forms that select the same rows. `driving` (IN a subquery) lets the
    database start from the filter's own index: the way to find few rows, and to count many.
    `probing` (a correlated EXISTS) only checks a row found otherwise: the way to fill a page
    from many matching rows in the order of a sort index, stopping once the page is full."""

    driving: ColumnElement[bool]
    probing: ColumnElement[bool]


def _plain(condition: ColumnElement[bool]) -> Condition:
    return Condition(condition, condition)


def _among(column: Any, other: Any, *where: ColumnElement[bool]) -> Condition:
    """`column` is one of the values of `other` in the rows that meet `where`."""
    return Condition(
        driving=column.in_(select(other).where(*where)),
        probing=exists().where(other == column, *where),
    )


class Likelihood(FunctionElement[Any]):
    """A condition with the share of rows it is expected to hold for: SQLite's likelihood()
    (https://sqlite.org/lang_corefunc.html#likelihood), a hint to its planner that changes no
    result. Elsewhere the condition alone."""

    name = "likelihood"
    inherit_cache = True


@compiles(Likelihood)
def _condition_alone(element: Likelihood, compiler: Any, **kw: Any) -> str:
    condition, _share = element.clauses
    return f"({compiler.process(condition, **kw)})"


@compiles(Likelihood, "sqlite")
def _likelihood(element: Likelihood, compiler: Any, **kw: Any) -> str:
    return str(compiler.visit_function(element, **kw))


def _likely(condition: ColumnElement[bool], share: float) -> Any:
    # A constant in the SQL text, as SQLite requires (and so part of the statement's cache key).
    return Likelihood(condition, literal_column(repr(share)))


class ContainsIgnoringCase(FunctionElement[Any]):
    """`column` contains `pattern` (a LIKE pattern escaped with '/'), case ignored."""

    name = "contains_ignoring_case"
    inherit_cache = True


@compiles(ContainsIgnoringCase)
def _lower_like(element: ContainsIgnoringCase, compiler: Any, **kw: Any) -> str:
    column, pattern = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"(lower({column}) LIKE lower({pattern}) ESCAPE '/')"


@compiles(ContainsIgnoringCase, "postgresql")
def _ilike(element: ContainsIgnoringCase, compiler: Any, **kw: Any) -> str:
    column, pattern = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"({column} ILIKE {pattern} ESCAPE '/')"


@compiles(ContainsIgnoringCase, "sqlite")
def _like(element: ContainsIgnoringCase, compiler: Any, **kw: Any) -> str:
    # SQLite's LIKE already ignores the case of ASCII letters, as its lower() does (neither
    # knows the cases of other letters), and costs less than lower() on every row.
    column, pattern = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"({column} LIKE {pattern} ESCAPE '/')"


def _contains(column: Any, text: str) -> Any:
    escaped = text.replace("/", "//").replace("%", "/%").replace("_", "/_")
    return ContainsIgnoringCase(column, literal(f"%{escaped}%"))


# Countries a city can be registered in (services.registry.domain.country_code), split by the
# LDC list. Both halves are IN lists: an index answers them (NOT IN would read every row).
_ALL_COUNTRIES = frozenset(country.alpha_2 for country in pycountry.countries)
_LDC = sorted(LDC_LIST.countries)
_NOT_LDC = sorted(_ALL_COUNTRIES - LDC_LIST.countries)


def _country_conditions(countries: Sequence[str], ldc: bool | None) -> list[ColumnElement[bool]]:
    """Conditions on City: any of `countries`, and an LDC status derived from the country."""
    conditions = []
    if countries:
        conditions.append(col(City.country_code).in_(sorted(set(countries))))
    if ldc is not None:
        # A large share either way (about a fifth of the cities are in LDCs, in our data).
        in_ldc = col(City.country_code).in_(_LDC if ldc else _NOT_LDC)
        conditions.append(_likely(in_ldc, 0.2 if ldc else 0.8))
    return conditions


def _latest_phase_is(phase: ConflictPhase) -> Condition:
    """The city's latest assessment (highest seq) has `phase`."""
    later = aliased(ConflictAssessment)
    latest_seq = (
        select(func.max(later.seq))
        .where(later.city_id == ConflictAssessment.city_id)
        .scalar_subquery()
    )
    return _among(
        col(City.id),
        col(ConflictAssessment.city_id),
        ConflictAssessment.phase == phase,
        col(ConflictAssessment.seq) == latest_seq,
    )


def city_conditions(filters: CityFilters) -> list[Condition]:
    conditions = [_plain(c) for c in _country_conditions(filters.countries, filters.ldc)]
    if filters.region is not None:
        conditions.append(_plain(col(City.region) == filters.region))
    if filters.language is not None:
        conditions.append(
            _among(
                col(City.id),
                col(CityLanguage.city_id),
                CityLanguage.language == filters.language,
            )
        )
    if filters.domain is not None:
        conditions.append(
            _among(
                col(City.id),
                col(NeedOffer.city_id),
                NeedOffer.domain == filters.domain,
                NeedOffer.status == Status.OPEN,
            )
        )
    if filters.network_id is not None:
        conditions.append(
            _among(
                col(City.id),
                col(NetworkMembership.city_id),
                NetworkMembership.network_id == filters.network_id,
                col(NetworkMembership.left_at).is_(None),
            )
        )
    if filters.conflict_phase is not None:
        conditions.append(_latest_phase_is(filters.conflict_phase))
    if filters.q is not None and (key := domain.city_name_key(filters.q)):
        conditions.append(
            _plain(
                or_(
                    col(City.name_key).contains(key, autoescape=True),
                    _contains(col(City.region), " ".join(filters.q.split())),
                )
            )
        )
    return conditions


def need_offer_conditions(kind: Kind, filters: NeedOfferFilters) -> list[Condition]:
    conditions = [
        # Two kinds, and most are open: neither narrows much, whatever the planner assumes.
        _plain(_likely(col(NeedOffer.kind) == kind, 0.5)),
        _plain(_likely(col(NeedOffer.status).in_(sorted(set(filters.statuses))), 0.5)),
    ]
    if filters.domain is not None:
        conditions.append(_plain(col(NeedOffer.domain) == filters.domain))
    if filters.city_id is not None:
        conditions.append(_plain(col(NeedOffer.city_id) == filters.city_id))
    if of_city := _country_conditions(filters.countries, filters.ldc):
        conditions.append(_among(col(NeedOffer.city_id), col(City.id), *of_city))
    if filters.language is not None:
        conditions.append(
            _among(
                col(NeedOffer.id),
                col(NeedOfferLanguage.item_id),
                NeedOfferLanguage.language == filters.language,
            )
        )
    if filters.q is not None and (words := " ".join(filters.q.split())):
        conditions.append(
            _plain(
                or_(_contains(col(NeedOffer.title), words), _contains(NeedOffer.description, words))
            )
        )
    return conditions


async def check_network(session: AsyncSession, network_id: uuid.UUID | None) -> None:
    if network_id is not None and await session.get(Network, network_id) is None:
        raise DomainError(f"network: no network with id {network_id} (see GET /networks)")


# Up to this many matching rows, a page is sorted from the rows themselves; beyond, it is read in
# the order of the sort's index, which fills a page after about (offset + limit) x rows in the
# table / matching rows: a few thousand rows at 100k cities.
FEW = 1000


async def page(
    session: AsyncSession,
    model: type[T],
    conditions: Sequence[Condition],
    order_by: Sequence[Any],
    limit: int,
    offset: int,
) -> tuple[Sequence[T], int]:
    """One page of the rows that meet every condition, and how many meet them in all.

    First the ids of up to FEW + 1 matching rows, found from the filters' own indexes. If that is
    all of them, they are the total, and the page is sorted from them. If not, they are counted
    the same way, and the page is read in the order of the sort's index, each row checked against
    the conditions, until it is full: many rows match, so that comes soon."""
    id_column = col(model.id)  # type: ignore[attr-defined]
    driving = [condition.driving for condition in conditions]
    few = (await session.exec(select(id_column).where(*driving).limit(FEW + 1))).all()
    if len(few) <= FEW:
        total, where = len(few), [id_column.in_(few)]
    else:
        count = select(func.count()).select_from(model).where(*driving)
        total = (await session.exec(count)).one()
        where = [condition.probing for condition in conditions]
    if offset >= total:
        return [], total
    rows = await session.exec(
        select(model).where(*where).order_by(*order_by).limit(limit).offset(offset)
    )
    return rows.all(), total


def city_order(sort: CitySort) -> list[Any]:
    return _order(sort, _CITY_SORT_COLUMNS, col(City.id))


def need_offer_order(sort: NeedOfferSort) -> list[Any]:
    return _order(sort, _NEED_OFFER_SORT_COLUMNS, col(NeedOffer.id))
