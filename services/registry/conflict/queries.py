"""What the rest of the registry asks about a city's conflict profile."""

import uuid

from sqlmodel.ext.asyncio.session import AsyncSession


async def in_conflict_zone(session: AsyncSession, city_id: uuid.UUID) -> bool:
    """Whether the city's latest assessment places it in a conflict zone (or a zone of peace
    inside one): its contact officials are then shown only to those who need them."""
    return False  # no assessments are recorded yet
