"""What the rest of the registry asks about a city's conflict profile."""

import uuid
from collections.abc import Collection

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.registry.conflict import domain
from services.registry.conflict.models import ConflictAssessment


async def cities_in_conflict_zone(
    session: AsyncSession, city_ids: Collection[uuid.UUID]
) -> set[uuid.UUID]:
    """Those of `city_ids` whose latest assessment places them in a conflict zone (or a zone of
    peace inside one): their contact officials are shown only to those who need them. One query
    for a whole page of cities."""
    latest = (
        select(ConflictAssessment.city_id, func.max(ConflictAssessment.seq).label("seq"))
        .where(col(ConflictAssessment.city_id).in_(list(city_ids)))
        .group_by(col(ConflictAssessment.city_id))
        .subquery()
    )
    rows = await session.exec(
        select(ConflictAssessment.city_id, ConflictAssessment.zone).join(
            latest, col(ConflictAssessment.seq) == latest.c.seq
        )
    )
    return {city_id for city_id, zone in rows if domain.places_in_conflict_zone(zone)}


async def in_conflict_zone(session: AsyncSession, city_id: uuid.UUID) -> bool:
    return city_id in await cities_in_conflict_zone(session, [city_id])
