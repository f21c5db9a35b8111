"""Exporting cities, needs and offers with the columns an import reads, so that an export imported
again imports nothing (every row is already present) and, into an empty registry, keeps the ids."""

from collections.abc import AsyncIterator
from typing import Any

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.registry.bulk.models import ImportRef
from services.registry.models import City
from services.registry.needs_offers.domain import Kind
from services.registry.needs_offers.models import NeedOffer

_STREAM = {"yield_per": 1000}


def header(what: str, include_contacts: bool = False) -> list[str]:
    if what == "cities":
        return [name for name in _CITY_ORDER if include_contacts or name != "contacts"]
    return list(_ITEM_ORDER)


# Every column an import reads, in the order a reader expects them.
_CITY_ORDER = (
    "id",
    "name",
    "country_code",
    "region",
    "population",
    "latitude",
    "longitude",
    "external_id",
    "official_languages",
    "contacts",
)
_ITEM_ORDER = (
    "id",
    "external_ref",
    "city_id",
    "country_code",
    "city_name",
    "status",
    "title",
    "description",
    "domain",
    "languages",
    "forms",
    "capacity_staff_days",
    "capacity_partners",
    "period_start",
    "period_end",
)


async def count(session: AsyncSession, what: str, country: str | None) -> int:
    if what == "cities":
        statement = select(func.count()).select_from(City)
    else:
        statement = (
            select(func.count())
            .select_from(NeedOffer)
            .join(City, col(City.id) == col(NeedOffer.city_id))
            .where(NeedOffer.kind == Kind(what[:-1]))
        )
    if country:
        statement = statement.where(City.country_code == country)
    return (await session.exec(statement)).one()


async def rows(
    session: AsyncSession, what: str, country: str | None
) -> AsyncIterator[dict[str, Any]]:
    """Every city, need or offer (of `country`), by country and city, as rows of the file."""
    if what == "cities":
        async for city in _cities(session, country):
            yield city
    else:
        async for item in _items(session, Kind(what[:-1]), country):
            yield item


async def _cities(session: AsyncSession, country: str | None) -> AsyncIterator[dict[str, Any]]:
    statement = select(City).order_by(col(City.country_code), col(City.name_key), col(City.id))
    if country:
        statement = statement.where(City.country_code == country)
    async for city in await session.stream_scalars(statement.execution_options(**_STREAM)):
        yield city.model_dump(include=set(_CITY_ORDER))


async def _items(
    session: AsyncSession, kind: Kind, country: str | None
) -> AsyncIterator[dict[str, Any]]:
    statement = (
        select(NeedOffer, City.country_code, City.name, ImportRef.external_ref)
        .join(City, col(City.id) == col(NeedOffer.city_id))
        .outerjoin(ImportRef, col(ImportRef.item_id) == col(NeedOffer.id))
        .where(NeedOffer.kind == kind)
        .order_by(col(City.country_code), col(City.name_key), col(NeedOffer.published_at))
        .order_by(col(NeedOffer.id))
    )
    if country:
        statement = statement.where(City.country_code == country)
    async for item, country_code, city_name, external_ref in await session.stream(
        statement.execution_options(**_STREAM)
    ):
        yield {
            **item.model_dump(),
            # An item published over HTTP has no importer's id: its own id serves as one.
            "external_ref": external_ref or str(item.id),
            "country_code": country_code,
            "city_name": city_name,
        }
